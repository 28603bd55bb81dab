//! The provider sandbox: a faithful stand-in for ChinaUMS that a gateway (or any backend
//! integration) can be tested against, in the same binary (`umsgate sandbox`, and embedded
//! in sandbox mode). Owns the provider's side of every exchange: the auth layer, the token
//! endpoint, the four operations (update-qrcode, mini-pre-query, bills/query, preauthed)
//! with the seed pages' validation, its own truth of every order, signed notifications with
//! resends, contract notices, fault injection, and the `/_sandbox/*` control routes that
//! let a person or a test act as the buyer. It depends only on `chinaums`, `domain`, `clock` and `secret`, never on the gateway's
//! store, handlers, provider client or notification intake, and it never logs a key,
//! token, signature, body or a buyer's personal field.
//!
//! Provider routes (`Content-Type: application/json`, `Authorization` as docs/protocol.md §2–3):
//! `POST /v1/token/access`, `POST /v1/netpay/bills/update-qrcode`,
//! `POST /v1/netpay/wx/mini-pre-query`, `POST /v1/netpay/bills/query`,
//! `POST /v1/netpay/preauthed`. Auth failures answer
//! 401 (400 for a malformed token request) with a numeric `errCode`, 1000–1007, tabled in
//! `auth.rs`; business answers are HTTP 200 with `errCode` `SUCCESS` or a business code
//! (`BAD_REQUEST` naming the field, `NO_ORDER`, `NO_MERCHANT`, `DUP_ORDER`,
//! `OPERATION_NOT_ALLOWED`, `SYSTEM_BUSY`/`INTERNAL_ERROR` under the error fault).
//!
//! Assumptions where the provider's record is thin (each one errs on the side that makes
//! a client prove more, never less):
//! - a bill whose `billNo` equals its QR code's current bill, or that another order
//!   already has, is refused with `DUP_ORDER` (seed 002 forbids the first); so a client
//!   that retries update-qrcode after a timeout must query to learn whether the first call
//!   took effect;
//! - an unpaid order past its expiry is closed lazily (whoever looks next sees
//!   `TRADE_CLOSED`) and silently: expiry sends no notification;
//! - refunds accumulate; a refund notification's `refundAmount` is the running total
//!   refunded so far, and its `totalAmount` is the payment's amount; a query reports a
//!   partly refunded order `TRADE_REFUND` and a fully refunded one `TRADE_CLOSED` (the
//!   provider's vocabulary: "closed: … fully refunded");
//! - the 11th token of an appId expires its oldest live one (at most `max_tokens_per_app`
//!   live tokens);
//! - a pre-authorised payment reports `TRADE_SUCCESS` with the authorised amount and an
//!   `authIdRespCd`; its completion sends no notification (preauthed answers
//!   synchronously);
//! - a bill and its payment have different ids: the payment attempt's `merOrderId` is the
//!   bill number plus a numeric suffix; the bill query (`bills/query`, `billNo` and
//!   `billDate`) finds a bill only by its own number and date (`NO_BILL` otherwise); how
//!   mini-pre-query treats a bill is the `mini_pre_query_bills` setting (`finds-bill`,
//!   `attempt-id-only`, `down`), since the provider's pages do not say.

mod auth;
mod book;
mod calls;
mod config;
mod control;
mod notify;
mod operations;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::Logger;
use actix_web::{web, App, HttpResponse, HttpServer};
use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::domain::ids::MsgSrcId;

use auth::{AuthState, Policy};
use book::{About, Book, Event, NoticeFault, NoticeLog, NoticeState, Order};
use calls::CallLog;
pub use config::{
    BillLookup, Faults, FaultsPatch, InvalidSetting, SandboxConfig, SandboxCredentials,
};
use notify::{Ack, Delivery, Progress};

/// Seconds a stopping sandbox gives requests in flight (a held query may be among them).
const SHUTDOWN_GRACE_SECS: u64 = 1;
/// Largest request body accepted on any route. The provider's requests are a few KB.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Everything the sandbox's handlers and delivery tasks share.
pub(crate) struct Shared {
    config: SandboxConfig,
    creds: SandboxCredentials,
    msg_src: MsgSrcId,
    policy: Policy,
    faults: RwLock<Faults>,
    book: Mutex<Book>,
    auth: Mutex<AuthState>,
    calls: Mutex<CallLog>,
    /// The provider's "now" (the embedded sandbox shares the gateway's clock, so that a
    /// test moving time forward moves both).
    clock: Clock,
}

/// Locks a mutex; a panic elsewhere while it was held does not make it unusable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn book(&self) -> MutexGuard<'_, Book> {
        lock(&self.book)
    }

    fn auth(&self) -> MutexGuard<'_, AuthState> {
        lock(&self.auth)
    }

    fn calls(&self) -> MutexGuard<'_, CallLog> {
        lock(&self.calls)
    }

    fn faults(&self) -> Faults {
        self.faults
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_faults(&self, faults: Faults) {
        *self.faults.write().unwrap_or_else(PoisonError::into_inner) = faults;
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Journals and sends the notification of `event` on `order` (as it stands after the
    /// event), applying the notification faults in force. `lost` loses it on purpose (the
    /// `notify: false` of `/pay`). Must run on the actix runtime.
    fn announce(self: &Arc<Self>, order: &Order, event: Event, lost: bool) {
        let faults = self.faults();
        let notify_id = book::ids::notify_id();
        let mut given = Vec::new();
        let mut hold = Duration::from_millis(faults.notification_delay_ms);
        let state = match &order.notify_url {
            _ if lost => {
                given.push(NoticeFault::Lost);
                NoticeState::Dropped
            }
            None => NoticeState::NoUrl,
            Some(_) if roll(faults.drop_notifications) => {
                given.push(NoticeFault::Dropped);
                NoticeState::Dropped
            }
            Some(_) => {
                if roll(faults.reorder_notifications) {
                    given.push(NoticeFault::Reordered);
                    let most = faults.reorder_hold_ms;
                    hold = hold
                        .saturating_add(Duration::from_millis(rand::random_range(most / 2..=most)));
                }
                if roll(faults.duplicate_notifications) {
                    given.push(NoticeFault::Duplicated);
                }
                NoticeState::Pending
            }
        };
        let duplicate = given.contains(&NoticeFault::Duplicated);
        let about = About::Order(order.id.clone());
        self.book().add_notice(
            &about,
            NoticeLog::new(notify_id.clone(), event.as_str(), given, state),
        );
        let (NoticeState::Pending, Some(url)) = (state, &order.notify_url) else {
            log::info!(
                "sandbox: {} notification {notify_id} for {about} not sent ({})",
                event.as_str(),
                state.as_str()
            );
            return;
        };
        let sign_type = self.config.notify_sign_type;
        let notification =
            notify::payment_notification(order, event, &notify_id, &self.creds, sign_type);
        let body = notify::signed_body(
            notification.to_fields(),
            self.creds.notify_key.expose(),
            sign_type,
        );
        self.dispatch(
            about,
            notify_id,
            Delivery {
                url: url.clone(),
                body,
                gaps: self.config.notify_backoff.clone(),
                hold,
                duplicate,
                ack: Ack::BodySuccess,
                timeout: self.config.notify_timeout,
            },
        );
    }

    /// Delivers journaled notice `id` in the background, recording each attempt in the
    /// book. Must run on the actix runtime.
    fn dispatch(self: &Arc<Self>, about: About, id: String, delivery: Delivery) {
        let shared = Arc::clone(self);
        actix_web::rt::spawn(async move {
            notify::deliver(delivery, |progress| {
                let mut book = shared.book();
                match progress {
                    Progress::Attempted { acknowledged } => {
                        book.note_attempt(&about, &id, acknowledged)
                    }
                    Progress::GaveUp => {
                        log::warn!(
                            "sandbox: notice {id} for {about} was never acknowledged; gave up"
                        );
                        book.note_gave_up(&about, &id)
                    }
                }
            })
            .await
        });
    }
}

/// Whether an event of probability `rate` happens this time (never for 0, always for 1).
fn roll(rate: f64) -> bool {
    rate > 0.0 && rand::random::<f64>() < rate
}

/// A started sandbox: listening, served once its [`Server`] is awaited or spawned.
pub struct RunningSandbox {
    server: Server,
    addr: SocketAddr,
}

impl RunningSandbox {
    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Its base URL, `http://127.0.0.1:<port>`: what a client uses as the provider's base
    /// URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    /// A handle that stops it.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// The server, to spawn (`actix_web::rt::spawn`) or await.
    pub fn into_server(self) -> Server {
        self.server
    }
}

/// Binds the sandbox (port 0 picks a free port) with `config`, playing the provider for
/// the merchant in `creds`. Refuses an invalid configuration or source id with
/// `InvalidInput`. The returned server must be spawned or awaited to serve.
pub async fn start(
    config: SandboxConfig,
    creds: SandboxCredentials,
    clock: Clock,
) -> io::Result<RunningSandbox> {
    let invalid = |reason: String| io::Error::new(io::ErrorKind::InvalidInput, reason);
    config
        .validate()
        .map_err(|e| invalid(format!("sandbox.{e}")))?;
    let msg_src = MsgSrcId::parse(&creds.msg_src_id)
        .map_err(|e| invalid(format!("sandbox credentials: msg_src_id {e}")))?;
    let to_chrono = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    let policy = Policy {
        clock_skew: to_chrono(config.clock_skew),
        token_ttl: to_chrono(config.token_ttl),
        max_tokens: config.max_tokens_per_app,
    };
    let listener = TcpListener::bind(config.bind)?;
    let addr = listener.local_addr()?;
    let workers = config.workers;
    let shared = Arc::new(Shared {
        faults: RwLock::new(config.faults.clone()),
        config,
        creds,
        msg_src,
        policy,
        book: Mutex::new(Book::new()),
        auth: Mutex::new(AuthState::new()),
        calls: Mutex::new(CallLog::new()),
        clock,
    });
    let data = web::Data::from(shared);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .wrap(access_log())
            .configure(routes)
    })
    .workers(workers)
    .shutdown_timeout(SHUTDOWN_GRACE_SECS)
    .disable_signals()
    .listen(listener)?
    .run();
    log::info!("sandbox: provider stand-in listening on http://{addr}");
    Ok(RunningSandbox { server, addr })
}

/// Every route of the sandbox listener.
fn routes(cfg: &mut web::ServiceConfig) {
    use crate::chinaums::Operation;
    cfg.route(Operation::Token.path(), web::post().to(operations::token))
        .route(
            Operation::UpdateQrcode.path(),
            web::post().to(operations::update_qrcode),
        )
        .route(
            Operation::MiniPreQuery.path(),
            web::post().to(operations::mini_pre_query),
        )
        .route(
            Operation::BillQuery.path(),
            web::post().to(operations::bill_query),
        )
        .route(
            Operation::Preauthed.path(),
            web::post().to(operations::preauthed),
        )
        .configure(control::routes)
        .default_service(web::to(not_found));
}

async fn not_found() -> HttpResponse {
    control::ControlError::NotFound("no such route".into()).response()
}

/// One line per request: method and path only (no headers, so no Authorization; no query
/// string; no body).
fn access_log() -> Logger {
    Logger::new("sandbox %a \"%{request}xi\" %s %b %Dms")
        .custom_request_replace("request", |req| format!("{} {}", req.method(), req.path()))
}
