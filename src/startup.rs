//! Builds the running gateway from its settings, as a list of steps: bind both listeners
//! (port 0 in tests, with the chosen ports reported), open the store, start the embedded
//! sandbox, the api and notify listeners (one builder for both), the scheduler and the
//! pruner; and their shutdown. It must not hold request
//! logic; `main.rs` and the tests both start the gateway through here.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::http::KeepAlive;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};

use crate::clock::Clock;
use crate::config::{ListenerSettings, ProviderMode, Settings};
use crate::flows::{watch, Gateway};
use crate::http::client_addr::TrustedProxies;
use crate::http::limits::{self, BodyTimeout};
use crate::http::{self, Listener};
use crate::metrics::Metrics;
use crate::provider::{ProviderClient, ProviderShared};
use crate::reconcile::scheduler::{Scheduler, StopPasses};
use crate::reconcile::Reconciler;
use crate::store::{Db, StoreError};
use crate::webhooks::Webhooks;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The store could not be opened or migrated.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A listener could not bind.
    #[error("cannot listen on {addr} (configuration key `{key}`): {source}")]
    Bind {
        /// The configuration key of the address.
        key: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The embedded sandbox could not start.
    #[error("embedded sandbox (configuration `sandbox`): {0}")]
    Sandbox(io::Error),
    /// The reconciliation scheduler could not start.
    #[error("scheduler: {0}")]
    Scheduler(#[from] tokio_cron_scheduler::JobSchedulerError),
    /// Anything else from the OS.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Time a client gets to close its side after the answer before the connection is dropped.
const CLIENT_DISCONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// A built gateway: listeners bound, not yet serving.
pub struct Application {
    api: Server,
    notify: Server,
    api_addr: SocketAddr,
    notify_addr: SocketAddr,
    db: Db,
    reconciler: Reconciler,
    scheduler: Option<Scheduler>,
    webhooks: Webhooks,
    /// The webhook loop: its stop signal and its task.
    webhook_loop: (
        tokio::sync::oneshot::Sender<()>,
        actix_web::rt::task::JoinHandle<()>,
    ),
    /// The scheduled prune (`retention.prune_tick`).
    pruner: Option<tokio_cron_scheduler::JobScheduler>,
    /// The long-poll's look at other instances' commits (`flows::watch::follow`).
    follower: actix_web::rt::task::JoinHandle<()>,
    sandbox: Option<(Server, String)>,
    clock: Clock,
}

/// Stops a running gateway.
#[derive(Clone)]
pub struct AppHandle {
    api: ServerHandle,
    notify: ServerHandle,
    passes: Option<StopPasses>,
}

impl AppHandle {
    /// Starts no new reconcile pass, then stops both listeners; `graceful` lets requests in
    /// flight finish (for up to `shutdown.grace`). The pass in flight and the embedded
    /// sandbox are finished by [`Application::run_until_stopped`].
    pub async fn stop(&self, graceful: bool) {
        if let Some(p) = &self.passes {
            p.stop();
        }
        futures_util::future::join(self.api.stop(graceful), self.notify.stop(graceful)).await;
    }
}

fn bind(key: &'static str, addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartupError> {
    let listener =
        TcpListener::bind(addr).map_err(|source| StartupError::Bind { key, addr, source })?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Both listeners' sockets, bound before anything else starts (a taken port fails fast).
struct Sockets {
    api: (TcpListener, SocketAddr),
    notify: (TcpListener, SocketAddr),
}

impl Application {
    /// Opens the store (running migrations) and binds both listeners, on the system clock.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, Clock::system()).await
    }

    /// As [`Application::build`], on `clock` (tests move it forward instead of sleeping;
    /// the embedded sandbox shares it).
    pub async fn build_with_clock(
        mut settings: Settings,
        clock: Clock,
    ) -> Result<Self, StartupError> {
        let sockets = bind_listeners(&mut settings)?;
        let caps = connection_caps(&settings);
        let settings = Arc::new(settings);
        let db = open_store(&settings).await?;
        let sandbox = start_sandbox(&settings, &clock).await?;
        let metrics = Arc::new(Metrics::new());
        let provider = provider_client(&settings, sandbox.as_ref(), &db, &metrics, &clock);
        let gateway = Arc::new(Gateway::new(
            db.clone(),
            settings.clone(),
            metrics,
            clock.clone(),
        ));
        let reconciler = Reconciler::new(gateway.clone(), provider.clone());
        let follower = actix_web::rt::spawn(watch::follow(Arc::downgrade(&gateway)));
        let webhooks = Webhooks::new(
            db.clone(),
            &settings.webhooks,
            clock.clone(),
            &gateway.metrics,
            gateway.outbox.clone(),
        );
        let webhook_loop = webhooks.start();
        let state = web::Data::from(gateway);
        let (api_socket, api_addr) = sockets.api;
        let api = start_api(&settings, api_socket, caps.api, &state, provider)?;
        let (notify_socket, notify_addr) = sockets.notify;
        let notify = start_notify(&settings, notify_socket, caps.notify, &state)?;
        let scheduler = start_scheduler(&settings, &reconciler).await?;
        let pruner = start_pruner(&settings, &db, &clock).await?;
        Ok(Application {
            pruner,
            follower,
            api,
            notify,
            api_addr,
            notify_addr,
            db,
            reconciler,
            scheduler,
            webhooks,
            webhook_loop,
            sandbox,
            clock,
        })
    }

    /// The port the api listener got.
    pub fn api_port(&self) -> u16 {
        self.api_addr.port()
    }

    /// The port the notify listener got.
    pub fn notify_port(&self) -> u16 {
        self.notify_addr.port()
    }

    /// The database (tests inspect it directly).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The reconciler (tests run passes directly).
    pub fn reconciler(&self) -> &Reconciler {
        &self.reconciler
    }

    /// The webhook worker (tests run passes directly).
    pub fn webhooks(&self) -> &Webhooks {
        &self.webhooks
    }

    /// The clock the gateway (and its embedded sandbox) runs on.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The embedded sandbox's base URL, in sandbox mode.
    pub fn sandbox_url(&self) -> Option<&str> {
        self.sandbox.as_ref().map(|(_, url)| url.as_str())
    }

    /// A handle that stops the gateway.
    pub fn handle(&self) -> AppHandle {
        AppHandle {
            api: self.api.handle(),
            notify: self.notify.handle(),
            passes: self.scheduler.as_ref().map(Scheduler::stopper),
        }
    }

    /// Serves until both listeners are stopped (through an [`AppHandle`]), then stops the
    /// scheduler, letting a pass in flight finish, and last the embedded sandbox (which
    /// that pass may still be calling); it returns once the store's last write has ended.
    pub async fn run_until_stopped(self) -> io::Result<()> {
        let sandbox = self.sandbox.map(|(server, _)| {
            let handle = server.handle();
            actix_web::rt::spawn(server);
            handle
        });
        let (a, n) = futures_util::future::join(self.api, self.notify).await;
        if let Some(s) = self.scheduler {
            s.shutdown().await;
        }
        let (stop, worker) = self.webhook_loop;
        let _ = stop.send(());
        let _ = worker.await;
        // No request waits any more: the look for other instances' commits has no one to wake.
        self.follower.abort();
        if let Some(mut p) = self.pruner {
            if let Err(e) = p.shutdown().await {
                log::warn!("prune scheduler shutdown: {e}");
            }
        }
        if let Some(sandbox) = sandbox {
            sandbox.stop(true).await;
        }
        // A loop stopped mid-pass may have left a write running in the blocking pool.
        self.db.settle().await;
        a.and(n)
    }

    /// Serves until SIGINT or SIGTERM, then stops gracefully.
    pub async fn serve(self) -> io::Result<()> {
        log::info!(
            "serving: api on http://{}, notify on http://{}{}",
            self.api_addr,
            self.notify_addr,
            self.sandbox_url()
                .map(|u| format!(", embedded provider sandbox on {u}"))
                .unwrap_or_default()
        );
        let handle = self.handle();
        let signalled = Arc::new(std::sync::OnceLock::new());
        let at = signalled.clone();
        actix_web::rt::spawn(async move {
            shutdown_signal().await;
            at.get_or_init(std::time::Instant::now);
            log::info!("shutting down: no new reconcile pass; finishing requests in flight");
            handle.stop(true).await;
        });
        let result = self.run_until_stopped().await;
        let drained = signalled
            .get()
            .map(std::time::Instant::elapsed)
            .unwrap_or_default();
        log::info!(
            drain_ms = u64::try_from(drained.as_millis()).unwrap_or(u64::MAX);
            "stopped: the gateway has shut down (drain took {:.1} s)",
            drained.as_secs_f64()
        );
        result
    }
}

/// Binds both listeners; a `notify.public_url` on port 0 means "wherever the notify
/// listener landed" (tests, demo).
fn bind_listeners(settings: &mut Settings) -> Result<Sockets, StartupError> {
    let api = bind("api.bind", settings.api.listener.bind)?;
    let notify = bind("notify.bind", settings.notify.listener.bind)?;
    if let Some(base) = settings.notify.public_url.strip_suffix(":0") {
        settings.notify.public_url = format!("{base}:{}", notify.1.port());
    }
    Ok(Sockets { api, notify })
}

/// Raises the open-files limit and sizes both listeners' connection caps below it.
fn connection_caps(settings: &Settings) -> limits::Caps {
    let caps = limits::caps(settings, limits::raise_nofile());
    log::info!(
        "connection caps: api {}, notify {} ({} descriptors kept for the store and outbound calls)",
        caps.api,
        caps.notify,
        caps.reserve
    );
    caps
}

/// Opens the store (running migrations) off the executor.
async fn open_store(settings: &Settings) -> Result<Db, StartupError> {
    let store_settings = settings.store.clone();
    let db = tokio::task::spawn_blocking(move || Db::open(&store_settings))
        .await
        .map_err(|e| StoreError::Blocking(e.to_string()))??;
    Ok(db)
}

/// Sandbox mode: the provider is the embedded sandbox, on its own loopback listener (its
/// server and base URL).
async fn start_sandbox(
    settings: &Settings,
    clock: &Clock,
) -> Result<Option<(Server, String)>, StartupError> {
    match settings.provider.mode {
        ProviderMode::Sandbox => {
            let running = crate::sandbox::start(
                settings.sandbox.clone(),
                settings.sandbox_credentials(),
                clock.clone(),
            )
            .await
            .map_err(StartupError::Sandbox)?;
            let url = running.url();
            Ok(Some((running.into_server(), url)))
        }
        ProviderMode::Remote => Ok(None),
    }
}

/// The provider client's shared state, calling the embedded sandbox when there is one.
fn provider_client(
    settings: &Settings,
    sandbox: Option<&(Server, String)>,
    db: &Db,
    metrics: &Arc<Metrics>,
    clock: &Clock,
) -> Arc<ProviderShared> {
    let base_url = sandbox.map_or_else(
        || settings.provider.base_url.clone(),
        |(_, url)| url.clone(),
    );
    ProviderShared::new(
        settings.provider.clone(),
        base_url,
        db.clone(),
        metrics.clone(),
        clock.clone(),
    )
}

/// The api listener: the backend's and operators' routes and the console.
fn start_api(
    settings: &Settings,
    socket: TcpListener,
    cap: usize,
    state: &web::Data<Gateway>,
    provider: Arc<ProviderShared>,
) -> io::Result<Server> {
    let state = state.clone();
    // One console state for every worker: a session opened on one is valid on all.
    let console = web::Data::new(crate::console::Console::new(&settings.admin));
    let routes = move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(state.clone())
            // awc is not Send: each worker gets its own client over the shared state.
            .app_data(web::Data::new(ProviderClient::new(provider.clone())))
            // Before the api routes: its scope is inside `/admin`, whose bearer guard it
            // must not pass through.
            .configure(crate::console::routes(console.clone()))
            .configure(http::api_routes);
    };
    serve_listener("api", &settings.api.listener, socket, cap, settings, routes)
}

/// The notify listener: the provider's notifications and nothing else.
fn start_notify(
    settings: &Settings,
    socket: TcpListener,
    cap: usize,
    state: &web::Data<Gateway>,
) -> io::Result<Server> {
    let state = state.clone();
    let budget = web::Data::new(crate::flows::intake::RefusalBudgets::new(
        settings.notify.rejected_budget,
        settings.notify.rejected_window,
    ));
    let routes = move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(state.clone())
            .app_data(budget.clone())
            .configure(http::notify_routes);
    };
    serve_listener(
        "notify",
        &settings.notify.listener,
        socket,
        cap,
        settings,
        routes,
    )
}

/// One listener, either of them: `routes` (its app data and routes) behind the middleware
/// both share, bounded by its [`ListenerSettings`], `cap` connections in all, draining for
/// `shutdown.grace`.
fn serve_listener<F>(
    name: &'static str,
    listener: &ListenerSettings,
    socket: TcpListener,
    cap: usize,
    settings: &Settings,
    routes: F,
) -> io::Result<Server>
where
    F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    let body_timeout = BodyTimeout(listener.body_timeout);
    let trusted = TrustedProxies(Arc::new(listener.trusted_proxies.clone()));
    // Whole seconds (actix's unit), rounded up so as never to cut below the setting.
    let grace = settings.shutdown.grace;
    let grace = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(Listener(name))
            .app_data(body_timeout)
            .app_data(trusted.clone())
            .wrap(from_fn(http::count_requests))
            .wrap(from_fn(http::request_id))
            .wrap(http::access_log(trusted.clone()))
            .configure(routes.clone())
    })
    .workers(listener.workers)
    .client_request_timeout(listener.header_timeout)
    .client_disconnect_timeout(CLIENT_DISCONNECT_TIMEOUT)
    .keep_alive(KeepAlive::Timeout(listener.keep_alive))
    .max_connections(limits::per_worker(cap, listener.workers))
    .shutdown_timeout(grace)
    .disable_signals()
    .listen(socket)?
    .run())
}

/// The reconciliation scheduler, when `reconcile.enabled`.
async fn start_scheduler(
    settings: &Settings,
    reconciler: &Reconciler,
) -> Result<Option<Scheduler>, StartupError> {
    if !settings.reconcile.enabled {
        return Ok(None);
    }
    Ok(Some(
        Scheduler::start(reconciler.clone(), &settings.reconcile.tick).await?,
    ))
}

/// The scheduled prune, when `retention.prune_tick` is set.
async fn start_pruner(
    settings: &Settings,
    db: &Db,
    clock: &Clock,
) -> Result<Option<tokio_cron_scheduler::JobScheduler>, StartupError> {
    let Some(tick) = &settings.retention.prune_tick else {
        return Ok(None);
    };
    Ok(Some(
        crate::retention::schedule(db.clone(), settings.retention.max_age, tick, clock.clone())
            .await?,
    ))
}

/// Waits for SIGINT or SIGTERM (Ctrl-C only where there are no Unix signals).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
