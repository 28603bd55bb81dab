//! Builds the running gateway from its settings: the store, both listeners (port 0 in
//! tests, with the chosen ports reported), and their shutdown. It must not hold request
//! logic; `main.rs` and the tests both start the gateway through here.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::http::KeepAlive;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};

use crate::clock::Clock;
use crate::config::{ProviderMode, Settings};
use crate::flows::Gateway;
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
        let (api_listener, api_addr) = bind("api.bind", settings.api.bind)?;
        let (notify_listener, notify_addr) = bind("notify.bind", settings.notify.bind)?;
        // A public URL on port 0 means "wherever the notify listener landed" (tests, demo).
        if let Some(base) = settings.notify.public_url.strip_suffix(":0") {
            settings.notify.public_url = format!("{base}:{}", notify_addr.port());
        }
        let caps = limits::caps(&settings, limits::raise_nofile());
        log::info!(
            "connection caps: api {}, notify {} ({} descriptors kept for the store and outbound calls)",
            caps.api,
            caps.notify,
            caps.reserve
        );
        let settings = Arc::new(settings);
        let store_settings = settings.store.clone();
        // Whole seconds (actix's unit), rounded up so as never to cut below the setting.
        let grace = settings.shutdown.grace.as_secs()
            + u64::from(settings.shutdown.grace.subsec_nanos() > 0);
        let db = tokio::task::spawn_blocking(move || Db::open(&store_settings))
            .await
            .map_err(|e| StoreError::Blocking(e.to_string()))??;
        let metrics = Arc::new(Metrics::new());
        // Sandbox mode: the provider is the embedded sandbox, on its own loopback listener.
        let sandbox = match settings.provider.mode {
            ProviderMode::Sandbox => {
                let running = crate::sandbox::start(
                    settings.sandbox.clone(),
                    settings.sandbox_credentials(),
                    clock.clone(),
                )
                .await
                .map_err(StartupError::Sandbox)?;
                let url = running.url();
                Some((running.into_server(), url))
            }
            ProviderMode::Remote => None,
        };
        let base_url = sandbox.as_ref().map_or_else(
            || settings.provider.base_url.clone(),
            |(_, url)| url.clone(),
        );
        let provider = ProviderShared::new(
            settings.provider.clone(),
            base_url,
            db.clone(),
            metrics.clone(),
            clock.clone(),
        );
        let gateway = Arc::new(Gateway::new(
            db.clone(),
            settings.clone(),
            metrics,
            clock.clone(),
        ));
        let reconciler = Reconciler::new(gateway.clone(), provider.clone());
        let webhooks = Webhooks::new(
            db.clone(),
            &settings.webhooks,
            clock.clone(),
            &gateway.metrics,
            gateway.outbox.clone(),
        );
        let webhook_loop = webhooks.start();
        let state = web::Data::from(gateway);
        let reconciler_data = web::Data::new(reconciler.clone());

        let api_state = state.clone();
        let api_provider = provider.clone();
        let api_limits = settings.api.limits();
        let api_trusted = TrustedProxies(Arc::new(api_limits.trusted_proxies.clone()));
        // One console state for every worker: a session opened on one is valid on all.
        let console = web::Data::new(crate::console::Console::new(settings.admin.session_ttl));
        let api = HttpServer::new(move || {
            App::new()
                .app_data(api_state.clone())
                .app_data(reconciler_data.clone())
                // awc is not Send: each worker gets its own client over the shared state.
                .app_data(web::Data::new(ProviderClient::new(api_provider.clone())))
                .app_data(Listener("api"))
                .app_data(BodyTimeout(api_limits.body_timeout))
                .app_data(api_trusted.clone())
                .wrap(from_fn(http::count_requests))
                .wrap(from_fn(http::request_id))
                .wrap(http::access_log(api_trusted.clone()))
                // Before the api routes: its scope is inside `/admin`, whose bearer guard
                // it must not pass through.
                .configure(crate::console::routes(console.clone()))
                .configure(http::api_routes)
        })
        .workers(settings.api.workers)
        .client_request_timeout(settings.api.header_timeout)
        .client_disconnect_timeout(CLIENT_DISCONNECT_TIMEOUT)
        .keep_alive(KeepAlive::Timeout(settings.api.keep_alive))
        .max_connections(limits::per_worker(caps.api, settings.api.workers))
        .shutdown_timeout(grace)
        .disable_signals()
        .listen(api_listener)?
        .run();

        let notify_state = state.clone();
        let notify_limits = settings.notify.limits();
        let notify_trusted = TrustedProxies(Arc::new(notify_limits.trusted_proxies.clone()));
        let budget = web::Data::new(crate::notify::refused::Budget::new(
            settings.notify.rejected_budget,
            settings.notify.rejected_window,
        ));
        let notify = HttpServer::new(move || {
            App::new()
                .app_data(notify_state.clone())
                .app_data(budget.clone())
                .app_data(Listener("notify"))
                .app_data(BodyTimeout(notify_limits.body_timeout))
                .app_data(notify_trusted.clone())
                .wrap(from_fn(http::count_requests))
                .wrap(from_fn(http::request_id))
                .wrap(http::access_log(notify_trusted.clone()))
                .configure(http::notify_routes)
        })
        .workers(settings.notify.workers)
        .client_request_timeout(settings.notify.header_timeout)
        .client_disconnect_timeout(CLIENT_DISCONNECT_TIMEOUT)
        .keep_alive(KeepAlive::Timeout(settings.notify.keep_alive))
        .max_connections(limits::per_worker(caps.notify, settings.notify.workers))
        .shutdown_timeout(grace)
        .disable_signals()
        .listen(notify_listener)?
        .run();

        let scheduler = if settings.reconcile.enabled {
            Some(Scheduler::start(reconciler.clone(), &settings.reconcile.tick).await?)
        } else {
            None
        };

        let pruner = match &settings.retention.prune_tick {
            Some(tick) => Some(
                crate::retention::schedule(
                    db.clone(),
                    settings.retention.max_age,
                    tick,
                    clock.clone(),
                )
                .await?,
            ),
            None => None,
        };

        Ok(Application {
            pruner,
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
