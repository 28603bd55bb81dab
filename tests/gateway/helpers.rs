//! Shared test helpers: start the gateway (or the provider sandbox alone), call it,
//! inspect its store.

use std::path::Path;

use awc::http::StatusCode;
use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde_json::{json, Value};
use tempfile::TempDir;
use umsgate::chinaums::notify_sign;
use umsgate::clock::Clock;
use umsgate::config::{Environment, Settings};
use umsgate::reconcile::{PassReport, Reconciler};
use umsgate::sandbox::{self, SandboxConfig, SandboxCredentials};
use umsgate::startup::{AppHandle, Application};
use umsgate::store::Db;

/// The admin token the test apps are configured with.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
/// The token of `alice`, a named operator (role `operator`) of every test app.
pub const OPERATOR_TOKEN: &str = "test-alice-token-0123456789";
/// The token of `victor`, a named operator with role `viewer` (reads, cannot act).
pub const VIEWER_TOKEN: &str = "test-victor-token-0123456789";
/// The notification key of `config/default.toml` (the provider's published test key).
pub const NOTIFY_KEY: &str = "impARTxrQcfwmRijpDNCw6hPxaWCddKEpYxjaKXDhCaTCXJ6";
/// The contract notice path token of `config/default.toml`.
pub const CONTRACT_TOKEN: &str = "sandbox-contract-token-change-me";

/// A running gateway.
pub struct TestApp {
    /// `http://127.0.0.1:<api port>`.
    pub api: String,
    /// `http://127.0.0.1:<notify port>`.
    pub notify: String,
    /// Its database.
    pub db: Db,
    /// The embedded sandbox's base URL (sandbox mode).
    pub sandbox: Option<String>,
    /// Its reconciler, for running passes directly.
    pub reconciler: Reconciler,
    /// Its webhook worker, for running passes directly.
    pub webhooks: umsgate::webhooks::Webhooks,
    /// Its settings.
    pub settings: Settings,
    /// The clock it (and its embedded sandbox) runs on: tests move it instead of sleeping.
    pub clock: Clock,
    handle: AppHandle,
    /// The running application, until `stop` has awaited its end.
    running: std::cell::RefCell<Option<actix_web::rt::task::JoinHandle<std::io::Result<()>>>>,
    client: awc::Client,
    /// Keeps the database directory alive; shared with a restarted app.
    pub dir: std::rc::Rc<TempDir>,
}

/// Settings for tests: the shipped defaults, ports 0, a database in `dir`, one worker per
/// listener, an admin token, then `overrides` (a JSON object shaped like the TOML).
pub fn test_settings(dir: &Path, overrides: Value) -> Settings {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
    let base = json!({
        "api": {"bind": "127.0.0.1:0", "workers": 1},
        "notify": {"bind": "127.0.0.1:0", "workers": 1, "public_url": "http://127.0.0.1:0"},
        // The embedded sandbox resends notifications within milliseconds, not minutes.
        "sandbox": {
            "bind": "127.0.0.1:0",
            "notify_backoff": ["0s", "50ms", "100ms", "200ms", "400ms"],
            "contract_backoff": ["0s", "50ms", "100ms", "200ms", "400ms"],
        },
        "store": {"path": dir.join("gateway.db")},
        "admin": {
            "token": ADMIN_TOKEN,
            "tokens": [
                {"name": "alice", "token": OPERATOR_TOKEN, "role": "operator"},
                {"name": "victor", "token": VIEWER_TOKEN, "role": "viewer"},
            ],
        },
        "reconcile": {"enabled": false},
    });
    let figment = Figment::new()
        .merge(Toml::file_exact(config))
        .merge(Serialized::defaults(base))
        .merge(Serialized::defaults(overrides));
    Settings::from_figment(figment, Environment::Sandbox).expect("test settings are valid")
}

impl TestApp {
    /// A gateway with the test settings.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(json!({})).await
    }

    /// A gateway with the test settings plus `overrides`.
    pub async fn spawn_with(overrides: Value) -> TestApp {
        let dir = std::rc::Rc::new(tempfile::tempdir().expect("temp dir"));
        Self::start(test_settings(dir.path(), overrides), dir).await
    }

    /// A gateway in remote mode whose provider is at `provider_url` (a separate sandbox, or
    /// a test's own peer), with the test settings plus `overrides`.
    pub async fn on_remote(provider_url: &str, overrides: Value) -> TestApp {
        let remote = json!({"provider": {"mode": "remote", "base_url": provider_url}});
        Self::spawn_with(merged(remote, overrides)).await
    }

    /// Starts a gateway on `settings`, keeping `dir` alive.
    pub async fn start(settings: Settings, dir: std::rc::Rc<TempDir>) -> TestApp {
        let kept = settings.clone();
        let clock = Clock::system();
        let app = Application::build_with_clock(settings, clock.clone())
            .await
            .expect("gateway starts");
        let api = format!("http://127.0.0.1:{}", app.api_port());
        let notify = format!("http://127.0.0.1:{}", app.notify_port());
        let db = app.db().clone();
        let handle = app.handle();
        let sandbox = app.sandbox_url().map(str::to_owned);
        let reconciler = app.reconciler().clone();
        let webhooks = app.webhooks().clone();
        let running = actix_web::rt::spawn(app.run_until_stopped());
        TestApp {
            api,
            notify,
            db,
            sandbox,
            reconciler,
            webhooks,
            settings: kept,
            clock,
            handle,
            running: Some(running).into(),
            client: awc::Client::default(),
            dir,
        }
    }

    /// Stops it, letting requests and a reconcile pass in flight finish, and returns when
    /// it has ended.
    pub async fn stop(&self) {
        self.handle.stop(true).await;
        let running = self.running.borrow_mut().take();
        if let Some(running) = running {
            running
                .await
                .expect("the gateway task ends")
                .expect("the gateway ends cleanly");
        }
    }

    /// POSTs JSON to the api listener.
    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.post_raw(
            &self.api,
            path,
            body.to_string().into_bytes(),
            "application/json",
        )
        .await
    }

    /// POSTs raw bytes to `base` + `path`.
    pub async fn post_raw(
        &self,
        base: &str,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> (StatusCode, Value) {
        let mut res = self
            .client
            .post(format!("{base}{path}"))
            .insert_header(("Content-Type", content_type))
            .send_body(body)
            .await
            .expect("request sent");
        let bytes = res.body().limit(16 * 1024 * 1024).await.expect("body read");
        (res.status(), parse(&bytes))
    }

    /// POSTs raw bytes to the notify listener, with `content_type` if given; the answer as
    /// text.
    pub async fn post_notify(
        &self,
        path: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
    ) -> (StatusCode, String) {
        let mut req = self.client.post(format!("{}{path}", self.notify));
        if let Some(ct) = content_type {
            req = req.insert_header(("Content-Type", ct));
        }
        let mut res = req.send_body(body).await.expect("request sent");
        let bytes = res.body().limit(16 * 1024 * 1024).await.expect("body read");
        (res.status(), String::from_utf8_lossy(&bytes).into_owned())
    }

    /// GETs from the api listener with the admin token.
    pub async fn admin_get(&self, path: &str) -> (StatusCode, Value) {
        self.get_authorized(path, Some(&format!("Bearer {ADMIN_TOKEN}")))
            .await
    }

    /// GETs from the api listener.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.get_authorized(path, None).await
    }

    /// GETs from the api listener with an optional `Authorization` header value.
    pub async fn get_authorized(
        &self,
        path: &str,
        authorization: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.get(format!("{}{path}", self.api));
        if let Some(a) = authorization {
            req = req.insert_header(("Authorization", a));
        }
        let mut res = req.send().await.expect("request sent");
        let bytes = res.body().limit(16 * 1024 * 1024).await.expect("body read");
        (res.status(), parse(&bytes))
    }

    /// GETs raw text from `base` + `path`.
    pub async fn get_text(&self, base: &str, path: &str) -> (StatusCode, String) {
        let mut res = self
            .client
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("request sent");
        let bytes = res.body().limit(16 * 1024 * 1024).await.expect("body read");
        (res.status(), String::from_utf8_lossy(&bytes).into_owned())
    }

    /// POSTs JSON to the api listener with the admin token.
    pub async fn admin_post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.post_as(ADMIN_TOKEN, path, body).await
    }

    /// POSTs JSON to the api listener with the bearer `token` (an operator's).
    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        let mut res = self
            .client
            .post(format!("{}{path}", self.api))
            .insert_header(("Authorization", format!("Bearer {token}")))
            .send_json(body)
            .await
            .expect("request sent");
        let bytes = res.body().limit(16 * 1024 * 1024).await.expect("body read");
        (res.status(), parse(&bytes))
    }

    /// POSTs JSON to the embedded sandbox (acting as the buyer or injecting faults).
    pub async fn sandbox_post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let base = self
            .sandbox
            .clone()
            .expect("the app runs an embedded sandbox");
        self.post_raw(
            &base,
            path,
            body.to_string().into_bytes(),
            "application/json",
        )
        .await
    }

    /// GETs from the embedded sandbox.
    pub async fn sandbox_get(&self, path: &str) -> (StatusCode, Value) {
        let base = self
            .sandbox
            .clone()
            .expect("the app runs an embedded sandbox");
        let (status, text) = self.get_text(&base, path).await;
        (status, parse(text.as_bytes()))
    }

    /// The order's history as the API shows it.
    pub async fn events(&self, id: &str) -> Vec<Value> {
        let (_, body) = self.get(&format!("/orders/{id}/events")).await;
        body["events"].as_array().cloned().unwrap_or_default()
    }

    /// Creates a bound 100-fen bill `id` and flags it for review the way the provider would:
    /// a verified bill notification saying it was paid 1 fen. Returns the order as flagged.
    pub async fn flag_by_amount_mismatch(&self, id: &str) -> Value {
        bound_bill(self, id, 100).await;
        let (status, reply) = self
            .post_notify(
                "/notify/payment",
                paid_notice(id, 1, &format!("N{id}")),
                Some("application/x-www-form-urlencoded"),
            )
            .await;
        assert_eq!((status, reply.as_str()), (StatusCode::OK, "SUCCESS"));
        let order = self.order(id).await;
        assert_eq!(order["needsReview"], true, "{order}");
        order
    }

    /// The order as the API shows it (panics if it is not there).
    pub async fn order(&self, id: &str) -> Value {
        let (status, body) = self.get(&format!("/orders/{id}")).await;
        assert_eq!(status, StatusCode::OK, "order {id}: {body}");
        body
    }

    /// One reconciliation pass, with a provider client of this thread.
    pub async fn reconcile(&self) -> PassReport {
        let client = self.reconciler.client();
        self.reconciler.run_once(&client).await.expect("pass runs")
    }

    /// Moves the gateway's clock (and its embedded sandbox's) forward by `ms` milliseconds:
    /// what a test would otherwise sleep for (an expiry, a back-off gap).
    pub fn advance_ms(&self, ms: u64) {
        self.clock.advance(std::time::Duration::from_millis(ms));
    }

    /// The reconciler's back-off list.
    pub fn reconciler_backoff(&self) -> Vec<std::time::Duration> {
        self.settings.reconcile.backoff.clone()
    }

    /// How many orders the store holds.
    pub fn order_count(&self) -> i64 {
        let mut conn = self.db.conn().expect("connection");
        umsgate::store::orders::count_by_status(&mut conn)
            .expect("count")
            .iter()
            .map(|(_, n)| n)
            .sum()
    }
}

/// Asserts that no event in the store moved an order backwards: every `from → to` is an
/// edge of docs/architecture.md §4 (plus PENDING → REFUNDED, and X → X for refund totals and review
/// flags). Reads the whole `order_events` table once.
pub fn never_backwards(app: &TestApp) {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Edge {
        #[diesel(sql_type = diesel::sql_types::Text)]
        mer_order_id: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        from_status: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        to_status: String,
    }
    const FORWARD: [(&str, &str); 8] = [
        ("PENDING", "AUTHORIZED"),
        ("PENDING", "PAID"),
        ("PENDING", "REFUNDED"),
        ("PENDING", "CLOSED"),
        ("AUTHORIZED", "PAID"),
        ("AUTHORIZED", "CLOSED"),
        ("PAID", "REFUNDED"),
        ("REFUNDED", "REFUNDED"),
    ];
    let edges: Vec<Edge> = diesel::sql_query(
        "SELECT mer_order_id, from_status, to_status FROM order_events WHERE from_status IS NOT NULL",
    )
    .load(&mut app.db.conn().expect("connection"))
    .expect("events");
    for e in edges {
        let ok = e.from_status == e.to_status
            || FORWARD.contains(&(e.from_status.as_str(), e.to_status.as_str()));
        assert!(
            ok,
            "{} moved {} → {}",
            e.mer_order_id, e.from_status, e.to_status
        );
    }
}

/// Polls `check` every 20 ms until it answers `Some`, for at most 20 s, and returns what it
/// found; panics naming `what`. For conditions that another task makes true (a
/// notification arriving), not timing.
pub async fn eventually_some<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..1000 {
        if let Some(found) = check().await {
            return found;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("gave up waiting for: {what}");
}

/// [`eventually_some`] for a condition that holds or not.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually_some(what, || {
        let holds = check();
        async move { holds.await.then_some(()) }
    })
    .await
}

/// Creates a bound bill of `amount` fen with id `id` (answered 201).
pub async fn bound_bill(app: &TestApp, id: &str, amount: i64) {
    let (status, body) = app
        .post_json(
            "/orders",
            &json!({"merOrderId": id, "amount": amount, "qrCodeId": format!("QR{id}")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Waits until the sandbox has no notification left to deliver for `id`.
pub async fn delivered(app: &TestApp, id: &str) {
    eventually(
        &format!("the sandbox delivered every notification for {id}"),
        || async {
            let (_, truth) = app.sandbox_get(&format!("/_sandbox/orders/{id}")).await;
            truth["notifications"]["pending"] == 0
        },
    )
    .await;
}

/// `b` merged into `a`, objects key by key at every depth (test settings, JSON bodies).
pub fn merged(mut a: Value, b: Value) -> Value {
    match (&mut a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in y {
                let slot = x.remove(&k).unwrap_or(Value::Null);
                x.insert(k, merged(slot, v));
            }
            a
        }
        (_, b) => b,
    }
}

/// Every log line any test in this binary has written since [`capture_logs`] was first
/// called: a process-wide logger at trace level, so that a secret reaching any line, at
/// any level, from any test, is caught.
pub fn capture_logs() -> &'static std::sync::Mutex<String> {
    use std::sync::{Mutex, OnceLock};
    static LINES: OnceLock<&'static Mutex<String>> = OnceLock::new();
    LINES.get_or_init(|| {
        struct Capture(&'static Mutex<String>);
        impl log::Log for Capture {
            fn enabled(&self, _: &log::Metadata<'_>) -> bool {
                true
            }
            fn log(&self, record: &log::Record<'_>) {
                let line = format!(
                    "{} {}: {}\n",
                    record.level(),
                    record.target(),
                    record.args()
                );
                self.0
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&line);
            }
            fn flush(&self) {}
        }
        let lines: &'static Mutex<String> = Box::leak(Box::new(Mutex::new(String::new())));
        if log::set_boxed_logger(Box::new(Capture(lines))).is_ok() {
            log::set_max_level(log::LevelFilter::Trace);
        }
        lines
    })
}

/// JSON if the body is JSON, else the text as a JSON string.
fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// The provider sandbox alone, on port 0, playing the provider for the public test
/// credentials.
pub struct TestSandbox {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// What it plays the provider for.
    pub creds: SandboxCredentials,
    handle: actix_web::dev::ServerHandle,
    client: awc::Client,
}

impl TestSandbox {
    /// A sandbox with compressed time scales: notifications and contract notices are
    /// resent every 50 ms, five attempts in all; a held query answers after 3 s.
    pub async fn spawn() -> TestSandbox {
        Self::spawn_with(json!({})).await
    }

    /// The compressed sandbox with `overrides` (a JSON object shaped like `[sandbox]`).
    pub async fn spawn_with(overrides: Value) -> TestSandbox {
        let mut config = json!({
            "bind": "127.0.0.1:0",
            "notify_backoff": ["0s", "50ms", "50ms", "50ms", "50ms"],
            "contract_backoff": ["0s", "50ms", "50ms", "50ms", "50ms"],
            "notify_timeout": "2s",
            "query_timeout_hold": "3s",
        });
        if let (Some(base), Value::Object(extra)) = (config.as_object_mut(), overrides) {
            base.extend(extra);
        }
        let config: SandboxConfig = serde_json::from_value(config).expect("sandbox config");
        let creds = SandboxCredentials::public_test();
        let running = sandbox::start(config, creds.clone(), Clock::system())
            .await
            .expect("sandbox starts");
        let url = running.url();
        let handle = running.handle();
        actix_web::rt::spawn(running.into_server());
        TestSandbox {
            url,
            creds,
            handle,
            client: awc::Client::default(),
        }
    }

    /// POSTs `body` to `path` with an optional `Authorization` header.
    pub async fn post(
        &self,
        path: &str,
        body: Vec<u8>,
        authorization: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .post(format!("{}{path}", self.url))
            .insert_header(("Content-Type", "application/json"));
        if let Some(a) = authorization {
            req = req.insert_header(("Authorization", a));
        }
        let mut res = req.send_body(body).await.expect("request sent");
        let bytes = res.body().limit(16 * 1024 * 1024).await.expect("body read");
        (res.status(), parse(&bytes))
    }

    /// GETs `path`.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let mut res = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("request sent");
        let bytes = res.body().limit(16 * 1024 * 1024).await.expect("body read");
        (res.status(), parse(&bytes))
    }

    /// Stops it.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

/// An OPEN-BODY-SIG header for `body`, signed now with the test credentials.
pub fn body_sig(sandbox: &TestSandbox, body: &[u8]) -> String {
    use umsgate::chinaums::sign::{new_nonce, BodySig};
    let c = &sandbox.creds;
    BodySig::sign(
        &c.app_id,
        c.app_key.expose(),
        &umsgate::chinaums::time::format_compact(umsgate::clock::Clock::system().now()),
        &new_nonce(),
        body,
    )
    .header()
}

/// POSTs `body` to a provider route of `sandbox`, signed with OPEN-BODY-SIG; the answer,
/// which must be a 200.
pub async fn call(sandbox: &TestSandbox, path: &str, body: &Value) -> Value {
    let bytes = body.to_string().into_bytes();
    let header = body_sig(sandbox, &bytes);
    let (status, answer) = sandbox.post(path, bytes, Some(&header)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

/// Starts a small independent peer on `127.0.0.1:0` (one worker) that answers every request
/// with `handler`, `state` as its app data; its base URL.
pub fn start_peer<T, F, Args>(state: T, handler: F) -> String
where
    T: Send + Sync + 'static,
    F: actix_web::Handler<Args> + Clone + Send + 'static,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    use actix_web::{web, App, HttpServer};
    let state = web::Data::new(state);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .default_service(web::to(handler.clone()))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    actix_web::rt::spawn(server);
    format!("http://127.0.0.1:{port}")
}

/// A payment notification body as the provider sends it: `fields` plus the random field
/// `extra` (name, value), signed with the configured key (MD5, `signType` absent), then
/// form-encoded with `sign` last.
pub fn signed_notice(fields: &[(&str, &str)], extra: (&str, &str)) -> Vec<u8> {
    let pairs: Vec<(&str, &str)> = fields.iter().copied().chain([extra]).collect();
    notify_sign::signed_form(&pairs, NOTIFY_KEY, notify_sign::SignType::Md5).into_bytes()
}

/// One payment notification of a stream and the order it pays.
pub struct Notice {
    /// The order (bill) it pays.
    pub order: String,
    /// Fen.
    pub amount: i64,
    /// Its `notifyId`.
    pub notify_id: String,
    /// The signed form body.
    pub body: Vec<u8>,
}

/// `count` orders and one distinct, correctly signed `PAID` bill notification for each,
/// every random part drawn from `rng`.
pub fn paid_notices(rng: &mut rand::rngs::StdRng, seed: u64, count: usize) -> Vec<Notice> {
    use rand::distr::{Alphanumeric, SampleString};
    use rand::Rng;
    (0..count)
        .map(|i| {
            let order = format!("1017CRASH{i:06}");
            let amount = rng.random_range(1..=1_000_000i64);
            let notify_id = format!("crash-{seed:016x}-{i:06}");
            let payment = json!({
                "merOrderId": format!("{order}1"),
                "paySeqId": format!("P{i:08}"),
                "totalAmount": amount,
                "payTime": "2026-11-21 12:01:02",
                "settleDate": "2026-11-21",
                "status": "TRADE_SUCCESS",
                "targetOrderId": format!("T{i:08}"),
                "targetSys": "WXPay",
            })
            .to_string();
            let amount_text = amount.to_string();
            // The provider's random extra field: an upper-case first letter never collides.
            let extra_name = format!("Q{}", Alphanumeric.sample_string(rng, 2));
            let extra_value = Alphanumeric.sample_string(rng, 6);
            let body = signed_notice(
                &[
                    ("notifyId", &notify_id),
                    ("billNo", &order),
                    ("billDate", "2026-11-21"),
                    ("billStatus", "PAID"),
                    ("totalAmount", &amount_text),
                    ("mid", "898340149000005"),
                    ("tid", "88880001"),
                    ("instMid", "QRPAYDEFAULT"),
                    ("billPayment", &payment),
                ],
                (&extra_name, &extra_value),
            );
            Notice {
                order,
                amount,
                notify_id,
                body,
            }
        })
        .collect()
}

/// The real `umsgate` binary, run in `cwd` with none of the caller's `UMSGATE…` variables
/// and `RUST_LOG=info`; the caller adds its own arguments and settings.
pub fn umsgate(cwd: &Path) -> std::process::Command {
    umsgate_with_nofile(cwd, None)
}

/// [`umsgate`], with its open-files limit (soft and hard) set to `nofile` when given (run
/// through `bash -c 'ulimit -n …; exec …'`).
pub fn umsgate_with_nofile(cwd: &Path, nofile: Option<u32>) -> std::process::Command {
    let bin = env!("CARGO_BIN_EXE_umsgate");
    let mut command = match nofile {
        None => std::process::Command::new(bin),
        Some(n) => {
            let mut c = std::process::Command::new("bash");
            c.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$@\""))
                .arg("umsgate")
                .arg(bin);
            c
        }
    };
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("UMSGATE") {
            command.env_remove(name);
        }
    }
    command
        .current_dir(cwd)
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null());
    command
}

/// A child gateway's settings on `dir/gateway.db`: ports 0, no reconciler, the admin token,
/// and a remote provider on the discard port, where nothing listens: no call can leave this
/// machine (and tracked orders make none anyway).
pub fn child_gateway_env<'c>(
    command: &'c mut std::process::Command,
    dir: &Path,
) -> &'c mut std::process::Command {
    command
        .env("UMSGATE__API__BIND", "127.0.0.1:0")
        .env("UMSGATE__NOTIFY__BIND", "127.0.0.1:0")
        .env("UMSGATE__SANDBOX__BIND", "127.0.0.1:0")
        .env("UMSGATE__STORE__PATH", dir.join("gateway.db"))
        .env("UMSGATE__RECONCILE__ENABLED", "false")
        .env("UMSGATE__PROVIDER__MODE", "remote")
        .env("UMSGATE__PROVIDER__BASE_URL", "http://127.0.0.1:9")
        .env("UMSGATE__ADMIN__TOKEN", ADMIN_TOKEN)
}

/// A running `umsgate serve` child process. Dropping it kills it, so that a failing test
/// leaves no gateway behind.
pub struct ChildGateway {
    child: std::process::Child,
    /// `http://127.0.0.1:<api port>`.
    pub api: String,
    /// `http://127.0.0.1:<notify port>`.
    pub notify: String,
    log: std::path::PathBuf,
}

/// How long a child may take to start serving, or to stop after SIGTERM.
const CHILD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl ChildGateway {
    /// Spawns `command` (a `serve`) with its stderr in `log` and waits (bounded) for the
    /// line naming the bound ports; the log's tail if it exits first.
    pub async fn spawn(
        mut command: std::process::Command,
        log: std::path::PathBuf,
    ) -> Result<ChildGateway, String> {
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = command
            .stdout(std::process::Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("the gateway binary starts");
        let mut gateway = ChildGateway {
            child,
            api: String::new(),
            notify: String::new(),
            log,
        };
        let deadline = std::time::Instant::now() + CHILD_TIMEOUT;
        loop {
            if let Some((api, notify)) = serving_line(&gateway.log_text()) {
                gateway.api = api;
                gateway.notify = notify;
                return Ok(gateway);
            }
            if let Ok(Some(status)) = gateway.child.try_wait() {
                return Err(format!("exited ({status}):\n{}", gateway.log_tail()));
            }
            if std::time::Instant::now() > deadline {
                return Err(format!(
                    "no \"serving:\" line in time:\n{}",
                    gateway.log_tail()
                ));
            }
            actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (through `kill -TERM`), then waits (bounded) for it to exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -TERM");
        let deadline = std::time::Instant::now() + CHILD_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still running {CHILD_TIMEOUT:?} after SIGTERM:\n{}",
                self.log_tail()
            );
            actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its whole log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines of its log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for ChildGateway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `(api, notify)` base URLs from `serving: api on http://…, notify on http://…`.
fn serving_line(log: &str) -> Option<(String, String)> {
    let line = log.lines().find(|l| l.contains("serving: api on "))?;
    let rest = line.split("serving: api on ").nth(1)?;
    let (api, notify) = rest.split_once(", notify on ")?;
    let notify = notify.split(',').next()?;
    Some((api.trim().to_owned(), notify.trim().to_owned()))
}

/// An answer read off the wire by [`raw_http`].
#[derive(Debug)]
pub struct RawResponse {
    /// The status code of the status line.
    pub status: u16,
    /// The body (de-chunked if it was sent chunked).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Sends `request` (bytes exactly as given, nothing added or checked) to `base`
/// (`http://host:port`) over a fresh connection and reads the answer until the server
/// closes or the first response is complete; a connection closed with no answer is
/// status 0. Lets tests send what no well-behaved client
/// would. Runs on the blocking pool; every wait is bounded.
pub async fn raw_http(base: &str, request: Vec<u8>) -> RawResponse {
    let addr = base
        .strip_prefix("http://")
        .expect("base is http://host:port")
        .to_owned();
    tokio::task::spawn_blocking(move || raw_exchange(&addr, &request))
        .await
        .expect("raw exchange task")
}

fn raw_exchange(addr: &str, request: &[u8]) -> RawResponse {
    use std::io::{Read, Write};
    use std::time::Duration;

    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .expect("write timeout");
    // The server may answer (and close) before it has read everything, e.g. a 413 or a
    // 431: a write error then is part of the exchange, not a test failure.
    let _ = stream.write_all(request);
    let _ = stream.flush();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(res) = complete_response(&buf) {
            return res;
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // A reset after the answer was sent: what was read is the answer.
            Err(_) => break,
        }
    }
    // Closed without a (complete) answer: status 0, and whatever came.
    complete_response(&buf)
        .or_else(|| closed_response(&buf))
        .unwrap_or(RawResponse {
            status: 0,
            body: buf,
        })
}

/// The first response in `buf`, if it is all there (sized by Content-Length, chunked, or
/// neither: then only a closed connection completes it, which the caller handles).
fn complete_response(buf: &[u8]) -> Option<RawResponse> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    let header = |name: &str| {
        head.lines().find_map(|l| {
            l.strip_prefix(&format!("{name}:"))
                .map(|v| v.trim().to_owned())
        })
    };
    let rest = &buf[head_end..];
    if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        return (rest.len() >= len).then(|| RawResponse {
            status,
            body: rest[..len].to_vec(),
        });
    }
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        let mut body = Vec::new();
        let mut at = 0;
        loop {
            let line_end = rest[at..].windows(2).position(|w| w == b"\r\n")? + at;
            let size_text = String::from_utf8_lossy(&rest[at..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            let data = line_end + 2;
            if size == 0 {
                return Some(RawResponse { status, body });
            }
            body.extend_from_slice(rest.get(data..data + size)?);
            at = data + size + 2;
        }
    }
    // No framing: complete only when the connection closes.
    None
}

/// The response in `buf` once the server has closed: the body is whatever followed the head.
fn closed_response(buf: &[u8]) -> Option<RawResponse> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    Some(RawResponse {
        status,
        body: buf[head_end..].to_vec(),
    })
}

/// A correctly signed bill notification that pays `order` (`amount` fen), as the provider
/// sends it.
pub fn paid_notice(order: &str, amount: i64, notify_id: &str) -> Vec<u8> {
    let payment = json!({
        "merOrderId": format!("{order}1"),
        "paySeqId": "P00000001",
        "totalAmount": amount,
        "payTime": "2026-11-21 12:01:02",
        "settleDate": "2026-11-21",
        "status": "TRADE_SUCCESS",
        "targetOrderId": "T00000001",
        "targetSys": "WXPay",
    })
    .to_string();
    signed_notice(
        &[
            ("notifyId", notify_id),
            ("billNo", order),
            ("billDate", "2026-11-21"),
            ("billStatus", "PAID"),
            ("totalAmount", &amount.to_string()),
            ("mid", "898340149000005"),
            ("tid", "88880001"),
            ("instMid", "QRPAYDEFAULT"),
            ("billPayment", &payment),
        ],
        ("Qx", "AbCd"),
    )
}

/// What a [`TestProvider`] answers: for a provider path and the request's JSON, the raw
/// answer body (HTTP 200), written by hand in the test.
pub type Script = dyn Fn(&str, &Value) -> String + Send + Sync;

/// A small independent provider for shapes the sandbox cannot produce: it answers every
/// POST with the test's hand-written JSON, checks nothing, and keeps every request.
pub struct TestProvider {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>,
}

impl TestProvider {
    /// Starts one answering with `script`.
    pub fn start(script: impl Fn(&str, &Value) -> String + Send + Sync + 'static) -> TestProvider {
        use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
        type State = (
            std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>,
            std::sync::Arc<Script>,
        );
        async fn answer(
            req: HttpRequest,
            body: web::Bytes,
            state: web::Data<State>,
        ) -> HttpResponse {
            let path = req.path().to_owned();
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let text = (state.1)(&path, &request);
            state.0.lock().expect("lock").push((path, request));
            HttpResponse::Ok()
                .content_type("application/json")
                .body(text)
        }
        let requests = std::sync::Arc::default();
        let script: std::sync::Arc<Script> = std::sync::Arc::new(script);
        let state = web::Data::new((std::sync::Arc::clone(&requests), script));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .default_service(web::to(answer))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        actix_web::rt::spawn(server);
        TestProvider {
            url: format!("http://127.0.0.1:{port}"),
            requests,
        }
    }

    /// Every request received on `path`, oldest first.
    pub fn requests(&self, path: &str) -> Vec<Value> {
        self.requests
            .lock()
            .expect("lock")
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// A gateway in remote mode against this provider, with `overrides` merged into the
    /// test settings.
    pub async fn gateway(&self, overrides: Value) -> TestApp {
        let dir = std::rc::Rc::new(tempfile::tempdir().expect("temp dir"));
        let mut settings =
            json!({"provider": {"mode": "remote", "base_url": self.url, "timeout_ms": 2000}});
        merge(&mut settings, overrides);
        TestApp::start(test_settings(dir.path(), settings), dir).await
    }
}

/// Merges `from` into `into`, object by object.
fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Every event of the feed matching `query`, walked page by page with `next`.
pub async fn feed(app: &TestApp, query: &str, limit: usize) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let (status, page) = app
            .get(&format!("/events?limit={limit}&after={after}{query}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let events = page["events"].as_array().unwrap().clone();
        let next = page["next"].as_str().unwrap().to_owned();
        if events.is_empty() {
            assert_eq!(
                next,
                after.as_str().max("0"),
                "an empty page keeps the cursor"
            );
            return all;
        }
        all.extend(events);
        after = next;
    }
}

/// A gateway with one webhook endpoint (the receiver), quick retries and a quick tick.
pub async fn with_receiver(receiver: &std::sync::Arc<Receiver>, backoff: &[&str]) -> TestApp {
    let url = start_peer(receiver.clone(), receive);
    TestApp::spawn_with(json!({"webhooks": {
        "endpoints": [{"url": format!("{url}/hook"), "secret": SECRET}],
        "backoff": backoff,
        "tick": "20ms",
    }}))
    .await
}

/// The webhook receiver's secret (`whsec_` + base64 of 24 bytes).
pub const SECRET: &str = "whsec_dW1zZ2F0ZS13ZWJob29rLXRlc3Qta2V5";

/// The receiver's own Standard Webhooks check: the `v1` signatures of `webhook-signature`
/// that match HMAC-SHA256 over "{id}.{timestamp}.{body}" with the decoded secret.
pub fn verifies(secret: &str, id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    use base64::Engine;
    use hmac::{Mac, SimpleHmac};
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.trim_start_matches("whsec_")).unwrap();
    let mut mac = SimpleHmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = format!("v1,{}", b64.encode(mac.finalize().into_bytes()));
    header.split(' ').any(|s| s == expected)
}

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Got {
    /// Its `webhook-id`.
    pub id: String,
    /// Whether its content type and signature checked out.
    pub verified: bool,
    /// The status the receiver answered.
    pub answered: u16,
    /// Its body as JSON (`null` if it was not).
    pub body: Value,
}

/// A webhook receiver (start it with `start_peer(receiver, receive)`): records every
/// request, checks its signature with its own code, and answers 500 to the first
/// `fail_first` requests, to every `fail_every`-th one (0: none) and to all while `down`;
/// 204 otherwise.
#[derive(Default)]
pub struct Receiver {
    /// Every request, in arrival order.
    pub got: std::sync::Mutex<Vec<Got>>,
    /// How many of the first requests to refuse.
    pub fail_first: std::sync::atomic::AtomicUsize,
    /// Refuse every n-th request (0: none).
    pub fail_every: std::sync::atomic::AtomicUsize,
    /// Refuse every request.
    pub down: std::sync::atomic::AtomicBool,
}

/// The receiver's handler.
pub async fn receive(
    state: actix_web::web::Data<std::sync::Arc<Receiver>>,
    req: actix_web::HttpRequest,
    body: actix_web::web::Bytes,
) -> actix_web::HttpResponse {
    use std::sync::atomic::Ordering::SeqCst;
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = header("webhook-id");
    let verified = header("content-type") == "application/json"
        && verifies(
            SECRET,
            &id,
            &header("webhook-timestamp"),
            &body,
            &header("webhook-signature"),
        );
    let every = state.fail_every.load(SeqCst);
    let mut got = state.got.lock().unwrap();
    let fail = state.down.load(SeqCst)
        || (every > 0 && (got.len() + 1).is_multiple_of(every))
        || state
            .fail_first
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok();
    let answered = if fail { 500 } else { 204 };
    got.push(Got {
        id,
        verified,
        answered,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    actix_web::HttpResponse::build(actix_web::http::StatusCode::from_u16(answered).unwrap())
        .body(if fail { "receiver busy" } else { "" })
}

/// What the receiver answered 2xx to, in arrival order.
pub fn delivered_to(receiver: &Receiver) -> Vec<Got> {
    let got = receiver.got.lock().unwrap();
    got.iter().filter(|g| g.answered == 204).cloned().collect()
}
