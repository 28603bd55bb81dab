//! Several real gateway processes on one PostgreSQL database, with one sandbox as their
//! provider: lost payments resolved with about one query each while one process is killed
//! -9, every event delivered once and in each order's version order, the feed read during
//! the run equal to the final table, and a long-poll on one process woken by a payment
//! notified to the other. Ignored in `cargo test`: run with
//! `UMSGATE_TEST_DATABASE_URL=postgres://… cargo test --test gateway multi:: -- --ignored`,
//! which fails (never skips) when no server is given.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use awc::http::StatusCode;
use serde_json::{json, Value};
use umsgate::store::TEST_DATABASE_URL;

use crate::helpers::{
    eventually, paid_notice, receive, start_peer, umsgate, ChildGateway, Receiver, TestDatabase,
    TestSandbox, ADMIN_TOKEN, SECRET,
};

/// The scratch PostgreSQL database these tests need, or a failure saying how to give one.
fn postgres() -> TestDatabase {
    let given = std::env::var(TEST_DATABASE_URL).unwrap_or_default();
    assert!(
        given.starts_with("postgres"),
        "the multi-instance tests need PostgreSQL: set {TEST_DATABASE_URL}=postgres://… \
         (README, \"Run it, test it\")"
    );
    TestDatabase::new()
}

/// `umsgate serve` on `db` with `provider` as its provider: reconciler on every second, new
/// orders first checked after 8 s (so that the bills of a test come due together, and a
/// payment made at once is found by the first query), at most 20 queries a second (a pass
/// over them lasts long enough for the two processes' passes to overlap),
/// short provider deadlines so that a killed process's claims run out in under a minute
/// (`reconcile::claim_lease`: 1 s of pace, 8 × 1 s of deadlines, 30 s), webhooks to `hook`.
async fn gateway(db: &TestDatabase, provider: &str, hook: &str, name: &str) -> ChildGateway {
    let mut command = umsgate(db.path());
    command
        .env("UMSGATE__API__BIND", "127.0.0.1:0")
        .env("UMSGATE__NOTIFY__BIND", "127.0.0.1:0")
        .env(
            "UMSGATE__STORE__URL",
            db.url().expect("a PostgreSQL database"),
        )
        .env("UMSGATE__PROVIDER__MODE", "remote")
        .env("UMSGATE__PROVIDER__BASE_URL", provider)
        .env("UMSGATE__PROVIDER__TIMEOUT_MS", "1000")
        .env("UMSGATE__ADMIN__TOKEN", ADMIN_TOKEN)
        .env("UMSGATE__RECONCILE__ENABLED", "true")
        .env("UMSGATE__RECONCILE__TICK", "* * * * * *")
        .env("UMSGATE__RECONCILE__FIRST_CHECK_AFTER", "8s")
        .env(
            "UMSGATE__RECONCILE__BACKOFF",
            r#"["2s","2s","2s","2s","2s","2s","2s","2s"]"#,
        )
        .env("UMSGATE__RECONCILE__CONCURRENCY", "4")
        .env("UMSGATE__RECONCILE__MAX_QPS", "20")
        .env(
            "UMSGATE__WEBHOOKS__ENDPOINTS",
            format!(r#"[{{url="{hook}/hook",secret="{SECRET}"}}]"#),
        )
        .env(
            "UMSGATE__WEBHOOKS__BACKOFF",
            r#"["100ms","500ms","1s","1s","1s","1s"]"#,
        )
        .env("UMSGATE__WEBHOOKS__TIMEOUT", "2s")
        .env("UMSGATE__WEBHOOKS__TICK", "50ms")
        .arg("serve");
    ChildGateway::spawn(command, db.path().join(format!("{name}.log")))
        .await
        .unwrap_or_else(|e| panic!("gateway {name}: {e}"))
}

/// GETs `url` as JSON (a client of its own with a long timeout, for long-polls).
async fn get_json(url: &str) -> (StatusCode, Value) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(90))
        .finish();
    let mut res = client.get(url).send().await.expect("request sent");
    let body = res
        .json::<Value>()
        .limit(16 * 1024 * 1024)
        .await
        .unwrap_or(Value::Null);
    (res.status(), body)
}

/// Every event of `api`'s feed after `after`, page by page; the last cursor.
async fn feed_after(api: &str, mut after: String) -> (Vec<Value>, String) {
    let mut events = Vec::new();
    loop {
        let (status, page) = get_json(&format!("{api}/events?after={after}&limit=1000")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let got = page["events"].as_array().unwrap().clone();
        after = page["next"].as_str().unwrap().to_owned();
        if got.is_empty() {
            return (events, after);
        }
        events.extend(got);
    }
}

#[actix_web::test]
#[ignore = "needs PostgreSQL and the real binary: run with UMSGATE_TEST_DATABASE_URL (README, \"Run it, test it\")"]
async fn two_gateways_resolve_every_lost_payment_about_once_each_with_one_killed_mid_stream() {
    // Arrange: two processes on one database; every notification lost at the provider, and
    // each query answered after 300 ms, so that both processes' passes are in flight at once.
    let db = postgres();
    let sandbox = TestSandbox::spawn().await;
    let faults = json!({"dropNotifications": 1.0, "queryDelayMs": 300})
        .to_string()
        .into_bytes();
    sandbox.post("/_sandbox/faults", faults, None).await;
    let receiver = std::sync::Arc::new(Receiver::default());
    let hook = start_peer(receiver.clone(), receive);
    let mut a = gateway(&db, &sandbox.url, &hook, "a").await;
    let b = gateway(&db, &sandbox.url, &hook, "b").await;
    let client = awc::Client::default();
    let ids: Vec<String> = (0..40).map(|i| format!("1017MULTI{i:05}")).collect();
    // A reader of the feed through the run, on the instance that stays.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (api, stop) = (b.api.clone(), stop.clone());
        actix_web::rt::spawn(async move {
            let mut seen = Vec::new();
            let mut cursor = "0".to_owned();
            loop {
                let last = stop.load(std::sync::atomic::Ordering::SeqCst);
                let (got, next) = feed_after(&api, cursor).await;
                seen.extend(got);
                cursor = next;
                if last {
                    return seen;
                }
                actix_web::rt::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    // Act: bills created on either process and paid at once, all due together; A killed
    // -9 as soon as the passes have begun resolving them.
    for (i, id) in ids.iter().enumerate() {
        let api = if i % 2 == 0 { &a.api } else { &b.api };
        let res = client
            .post(format!("{api}/orders"))
            .send_json(&json!({"merOrderId": id, "amount": 100, "qrCodeId": format!("QR{id}")}))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "{id}");
        let (status, body) = sandbox
            .post(&format!("/_sandbox/orders/{id}/pay"), b"{}".to_vec(), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    eventually("the passes have begun", || async {
        let (_, calls) = sandbox
            .get("/_sandbox/calls?path=/v1/netpay/bills/query")
            .await;
        calls["calls"].as_array().is_some_and(|c| c.len() >= 4)
    })
    .await;
    a.kill();

    // Assert: every bill PAID through the process that stayed.
    let paid = || async {
        let mut all = true;
        for id in &ids {
            let (_, order) = get_json(&format!("{}/orders/{id}", b.api)).await;
            all &= order["status"] == "PAID";
        }
        all
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !paid().await {
        assert!(
            std::time::Instant::now() < deadline,
            "not every bill was resolved:\n{}",
            b.log_tail()
        );
        actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    }
    let (_, calls) = sandbox
        .get("/_sandbox/calls?path=/v1/netpay/bills/query")
        .await;
    let queries = calls["calls"].as_array().unwrap().len();
    println!("{queries} bill queries for {} bills", ids.len());
    assert!(queries >= ids.len(), "{queries} queries");
    assert!(
        queries * 4 <= ids.len() * 5,
        "{queries} queries for {} bills: more than 1.25 each",
        ids.len()
    );

    // Assert: the feed read during the run is the final table, and every event reached the
    // receiver under one id, each order's in version order.
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let during = reader.await.unwrap();
    let (final_feed, _) = feed_after(&b.api, "0".to_owned()).await;
    assert_eq!(
        during.len(),
        final_feed.len(),
        "the follower missed or repeated events"
    );
    assert_eq!(during, final_feed);
    eventually("every event reached the receiver", || async {
        let got: HashSet<String> = receiver
            .got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| g.answered == 204)
            .map(|g| g.id.clone())
            .collect();
        final_feed
            .iter()
            .all(|e| got.contains(e["id"].as_str().unwrap()))
    })
    .await;
    let got = receiver.got.lock().unwrap().clone();
    let mut bodies: HashMap<String, Value> = HashMap::new();
    let mut versions: HashMap<String, Vec<i64>> = HashMap::new();
    for g in got.iter().filter(|g| g.answered == 204) {
        assert!(g.verified, "{}", g.id);
        if let Some(before) = bodies.insert(g.id.clone(), g.body.clone()) {
            assert_eq!(before, g.body, "one body per webhook-id: {}", g.id);
            continue;
        }
        let order = g.body["data"]["merOrderId"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        versions
            .entry(order)
            .or_default()
            .push(g.body["data"]["version"].as_i64().unwrap());
    }
    for (order, v) in &versions {
        assert!(v.windows(2).all(|w| w[0] < w[1]), "{order}: {v:?}");
    }
}

#[actix_web::test]
#[ignore = "needs PostgreSQL and the real binary: run with UMSGATE_TEST_DATABASE_URL (README, \"Run it, test it\")"]
async fn a_long_poll_on_one_gateway_is_woken_by_a_payment_notified_to_the_other() {
    // Arrange
    let db = postgres();
    let sandbox = TestSandbox::spawn().await;
    let receiver = std::sync::Arc::new(Receiver::default());
    let hook = start_peer(receiver.clone(), receive);
    let a = gateway(&db, &sandbox.url, &hook, "a").await;
    let b = gateway(&db, &sandbox.url, &hook, "b").await;
    let id = "1017MPOLL00001";
    let client = awc::Client::default();
    let res = client
        .post(format!("{}/orders", a.api))
        .send_json(&json!({"merOrderId": id, "amount": 100}))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let (_, order) = get_json(&format!("{}/orders/{id}", a.api)).await;
    let before = order["version"].as_i64().unwrap();

    // Act: a poll on A with a long wait; the notice goes to B.
    let url = format!("{}/orders/{id}?wait=60&after={before}", a.api);
    let poll = get_json(&url);
    let notify = async {
        actix_web::rt::time::sleep(Duration::from_millis(500)).await;
        let mut res = client
            .post(format!("{}/notify/payment", b.notify))
            .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
            .send_body(paid_notice(id, 100, "N1017MPOLL00001"))
            .await
            .unwrap();
        assert_eq!(res.body().await.unwrap(), "SUCCESS");
    };
    let ((status, order), ()) = actix_web::rt::time::timeout(
        Duration::from_secs(30),
        futures_util::future::join(poll, notify),
    )
    .await
    .expect("the poll was woken by the other process's commit, not the end of its wait");

    // Assert
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["status"], "PAID");
    assert!(order["version"].as_i64().unwrap() > before);
}
