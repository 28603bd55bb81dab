//! The running gateway of a test (`TestApp`): start and stop it, call both its listeners
//! and its embedded sandbox, read its orders, feed and store. It must not build a
//! provider's message itself (that is `notices`) nor start another process (`child`).

use awc::http::StatusCode;
use serde_json::{json, Value};
use umsgate::clock::Clock;
use umsgate::config::Settings;
use umsgate::reconcile::{PassReport, Reconciler};
use umsgate::startup::{AppHandle, Application};
use umsgate::store::Db;

use super::database::TestDatabase;
use super::http::{json_answer, text_answer};
use super::json::merged;
use super::notices::paid_notice;
use super::settings::{test_settings, ADMIN_TOKEN};
use super::wait::eventually;

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
    /// Keeps the database (and its directory) alive; shared with a restarted app.
    pub dir: std::rc::Rc<TestDatabase>,
}

impl TestApp {
    /// A gateway with the test settings.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(json!({})).await
    }

    /// A gateway with the test settings plus `overrides`.
    pub async fn spawn_with(overrides: Value) -> TestApp {
        Self::spawn_on(TestDatabase::new(), overrides).await
    }

    /// A gateway with the test settings plus `overrides` on `db` (e.g.
    /// [`TestDatabase::sqlite`] for a test about SQLite's file).
    pub async fn spawn_on(db: TestDatabase, overrides: Value) -> TestApp {
        let db = std::rc::Rc::new(db);
        Self::start(test_settings(&db, overrides), db).await
    }

    /// A gateway in remote mode whose provider is at `provider_url` (a separate sandbox, a
    /// [`TestProvider`](super::TestProvider), or a test's own peer), with the test settings
    /// plus `overrides`.
    pub async fn on_remote(provider_url: &str, overrides: Value) -> TestApp {
        let remote = json!({"provider": {"mode": "remote", "base_url": provider_url}});
        Self::spawn_with(merged(remote, overrides)).await
    }

    /// Starts a gateway on `settings`, keeping `dir` alive.
    pub async fn start(settings: Settings, dir: std::rc::Rc<TestDatabase>) -> TestApp {
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
        let request = self
            .client
            .post(format!("{base}{path}"))
            .insert_header(("Content-Type", content_type));
        json_answer(request.send_body(body)).await
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
        text_answer(req.send_body(body)).await
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
        json_answer(req.send()).await
    }

    /// GETs raw text from `base` + `path`.
    pub async fn get_text(&self, base: &str, path: &str) -> (StatusCode, String) {
        text_answer(self.client.get(format!("{base}{path}")).send()).await
    }

    /// POSTs JSON to the api listener with the admin token.
    pub async fn admin_post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.post_as(ADMIN_TOKEN, path, body).await
    }

    /// POSTs JSON to the api listener with the bearer `token` (an operator's).
    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        let request = self
            .client
            .post(format!("{}{path}", self.api))
            .insert_header(("Authorization", format!("Bearer {token}")));
        json_answer(request.send_json(body)).await
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
        json_answer(self.client.get(format!("{base}{path}")).send()).await
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
