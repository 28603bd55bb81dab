//! What the backend is told: the outbox's events in the feed (`GET /events`), the
//! long-poll on an order, and signed webhooks.

use awc::http::StatusCode;
use serde_json::{json, Value};

use futures_util::future::join;

use crate::helpers::{
    bound_bill, child_gateway_env, delivered, delivered_to, eventually, eventually_busy, feed,
    long_poll, paid_notices, receive, start_peer, umsgate, verifies, with_receiver, ChildGateway,
    Receiver, TestApp, TestDatabase, SECRET, WOKEN_WITHIN,
};

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[actix_web::test]
async fn a_payment_notified_twice_is_one_paid_event_in_the_feed_carrying_the_order() {
    // Arrange
    let app = TestApp::spawn().await;
    app.sandbox_post("/_sandbox/faults", &json!({"duplicateNotifications": 1.0}))
        .await;
    bound_bill(&app, "1017FEED0001", 100).await;

    // Act
    app.sandbox_post("/_sandbox/orders/1017FEED0001/pay", &json!({}))
        .await;
    eventually("the order is paid", || async {
        app.order("1017FEED0001").await["status"] == "PAID"
    })
    .await;
    delivered(&app, "1017FEED0001").await;

    // Assert: one event per change, in version order, each showing the order after it.
    let events = feed(&app, "&merOrderId=1017FEED0001", 1).await;
    assert_eq!(
        kinds(&events),
        ["order.created", "order.bound", "order.paid"]
    );
    let versions: Vec<i64> = events
        .iter()
        .map(|e| e["data"]["version"].as_i64().unwrap())
        .collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    let order = app.order("1017FEED0001").await;
    assert_eq!(
        events[2]["data"], order,
        "the event carries GET /orders/{{id}}"
    );
    assert!(events[2]["id"].as_str().unwrap().starts_with("evt_"));
    let paid = feed(&app, "&type=order.paid", 100).await;
    assert_eq!(paid, events[2..]);
}

#[actix_web::test]
async fn the_feed_refuses_an_unknown_type_a_bad_cursor_and_a_page_too_large() {
    let app = TestApp::spawn().await;

    for (query, field) in [
        ("type=order.eaten", "type"),
        ("after=-1", "after"),
        ("after=abc", "after"),
        ("limit=1001", "limit"),
    ] {
        let (status, body) = app.get(&format!("/events?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(body.to_string().contains(field), "{query}: {body}");
    }
}

#[actix_web::test]
async fn a_long_poll_waiting_on_an_order_is_answered_when_its_payment_notification_is_applied() {
    // Arrange: room for one waiter, so that a second one tells us the first is waiting.
    let app = TestApp::spawn_with(json!({"api": {"long_poll_waiters": 1}})).await;
    bound_bill(&app, "1017POLL0001", 100).await;
    let before = app.order("1017POLL0001").await["version"].as_i64().unwrap();

    // Act
    let query = format!("wait=60&after={before}");
    let poll = long_poll(&app, "1017POLL0001", &query);
    let pay = async {
        let (status, retry_after) = eventually_busy(&app, "1017POLL0001").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry_after.as_deref(), Some("1"));
        app.sandbox_post("/_sandbox/orders/1017POLL0001/pay", &json!({}))
            .await;
    };
    let ((status, _, order), ()) = actix_web::rt::time::timeout(WOKEN_WITHIN, join(poll, pay))
        .await
        .expect("the long-poll was woken by the payment, not by the end of its wait");

    // Assert
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["status"], "PAID");
    assert!(order["version"].as_i64().unwrap() > before);
}

#[actix_web::test]
async fn a_long_poll_is_woken_by_the_reconcilers_query_too() {
    // Arrange: the provider's notification is lost; only a query finds the payment.
    let app = TestApp::spawn_with(json!({"api": {"long_poll_waiters": 1}})).await;
    app.sandbox_post("/_sandbox/faults", &json!({"dropNotifications": 1.0}))
        .await;
    bound_bill(&app, "1017POLL0002", 100).await;
    app.sandbox_post("/_sandbox/orders/1017POLL0002/pay", &json!({}))
        .await;
    let before = app.order("1017POLL0002").await["version"].as_i64().unwrap();

    // Act: without `after`, the poll waits for a final status.
    let poll = long_poll(&app, "1017POLL0002", "wait=60");
    let check = async {
        eventually_busy(&app, "1017POLL0002").await;
        app.advance_ms(3_600_000);
        app.reconcile().await;
    };
    let ((status, _, order), ()) = actix_web::rt::time::timeout(WOKEN_WITHIN, join(poll, check))
        .await
        .expect("the long-poll was woken by the query, not by the end of its wait");

    // Assert
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["status"], "PAID");
    assert!(order["version"].as_i64().unwrap() > before);
}

#[actix_web::test]
async fn a_long_poll_on_an_unchanged_order_answers_it_as_it_is_at_the_end_of_the_wait() {
    let app = TestApp::spawn().await;
    bound_bill(&app, "1017POLL0003", 100).await;
    let order = app.order("1017POLL0003").await;
    let version = order["version"].as_i64().unwrap();

    let (status, _, polled) =
        long_poll(&app, "1017POLL0003", &format!("wait=1&after={version}")).await;
    let (at_once, _, earlier) = long_poll(
        &app,
        "1017POLL0003",
        &format!("wait=60&after={}", version - 1),
    )
    .await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(polled, order);
    assert_eq!(at_once, StatusCode::OK);
    assert_eq!(
        earlier, order,
        "a version above `after` is answered at once"
    );
}

#[actix_web::test]
async fn a_long_poll_refuses_a_wait_over_a_minute_and_after_without_wait() {
    let app = TestApp::spawn().await;
    bound_bill(&app, "1017POLL0004", 100).await;

    for (query, field) in [
        ("wait=61", "wait"),
        ("after=1", "after"),
        ("wait=x", "wait"),
    ] {
        let (status, _, body) = long_poll(&app, "1017POLL0004", query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["field"], field, "{query}: {body}");
    }
    let (status, _, _) = long_poll(&app, "1017POLL9999", "wait=1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[test]
fn the_receivers_own_check_accepts_the_standard_webhooks_test_vector() {
    let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    let (secret, id, ts, body) = (
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        br#"{"test": 2432232314}"#,
    );

    assert!(verifies(secret, id, ts, body, good));
    assert!(verifies(secret, id, ts, body, &format!("v1,other {good}")));
    assert!(!verifies(secret, id, "1614265331", body, good));
}

#[actix_web::test]
async fn a_receiver_answering_500_first_gets_the_same_webhook_id_again_and_the_event_is_delivered()
{
    // Arrange
    let receiver = std::sync::Arc::new(Receiver::default());
    receiver
        .fail_first
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let app = with_receiver(&receiver, &["10ms", "10ms", "10ms"]).await;

    // Act
    bound_bill(&app, "1017HOOK0001", 100).await;
    app.sandbox_post("/_sandbox/orders/1017HOOK0001/pay", &json!({}))
        .await;
    eventually("the paid event reaches the receiver", || async {
        delivered_to(&receiver)
            .iter()
            .any(|g| g.body["type"] == "order.paid")
    })
    .await;

    // Assert: the refused first attempt was retried under the same id.
    let got = receiver.got.lock().unwrap().clone();
    assert!(got.iter().all(|g| g.verified), "{got:?}");
    assert_eq!(got[0].answered, 500);
    let retried: Vec<_> = got.iter().filter(|g| g.id == got[0].id).collect();
    assert_eq!(retried.len(), 2, "{got:?}");
    assert_eq!(retried[1].answered, 204);
    // The feed and the deliveries agree: same ids, same bodies, in version order.
    let feed = feed(&app, "&merOrderId=1017HOOK0001", 100).await;
    let delivered = delivered_to(&receiver);
    assert_eq!(
        delivered.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
        feed.iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        delivered.iter().map(|g| g.body.clone()).collect::<Vec<_>>(),
        feed
    );
    let (status, list) = app
        .admin_get("/admin/webhooks/deliveries?status=delivered")
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let first = list["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["eventId"] == got[0].id.as_str())
        .unwrap();
    assert_eq!(first["attempts"], 2);
    assert_eq!(first["history"][0]["statusCode"], 500);
    assert_eq!(first["history"][0]["excerpt"], "receiver busy");
    assert_eq!(first["history"][1]["outcome"], "delivered");
    let before = receiver.got.lock().unwrap().len();
    let again = app.webhooks.run_once(&app.webhooks.client()).await.unwrap();
    assert_eq!(again.attempted, 0, "a pass sends nothing twice");
    assert_eq!(receiver.got.lock().unwrap().len(), before);
}

#[actix_web::test]
async fn a_receiver_down_for_the_whole_back_off_ends_failed_and_redelivery_delivers() {
    // Arrange: down through three attempts of each event.
    let receiver = std::sync::Arc::new(Receiver::default());
    receiver
        .down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let app = with_receiver(&receiver, &["10ms", "10ms"]).await;
    bound_bill(&app, "1017HOOK0002", 100).await;
    eventually("both events failed", || async {
        let (_, list) = app
            .admin_get("/admin/webhooks/deliveries?status=failed")
            .await;
        list["deliveries"].as_array().map_or(0, Vec::len) == 2
    })
    .await;
    let (_, failed) = app
        .admin_get("/admin/webhooks/deliveries?status=failed")
        .await;
    assert!(failed["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["attempts"] == 3));
    let (_, metrics) = app.get_text(&app.api, "/metrics").await;
    assert!(
        metrics.contains("umsgate_webhook_undelivered{endpoint="),
        "{metrics}"
    );
    assert!(metrics.contains("outcome=\"refused\"} 6"), "{metrics}");

    // Act: the receiver is back; an operator redelivers one event, then the rest.
    receiver
        .down
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let events = feed(&app, "&merOrderId=1017HOOK0002", 100).await;
    let first = events[0]["id"].as_str().unwrap();
    let (status, one) = app
        .admin_post("/admin/webhooks/redeliver", &json!({"eventId": first}))
        .await;
    assert_eq!(
        (status, one["redelivered"].as_i64()),
        (StatusCode::OK, Some(1))
    );
    eventually("the first event is delivered", || async {
        delivered_to(&receiver).iter().any(|g| g.id == first)
    })
    .await;
    let (status, rest) = app
        .admin_post(
            "/admin/webhooks/redeliver",
            &json!({"since": "2000-01-01T00:00:00Z", "status": "failed"}),
        )
        .await;
    assert_eq!(
        (status, rest["redelivered"].as_i64()),
        (StatusCode::OK, Some(1))
    );

    // Assert
    eventually("every event is delivered, in order", || async {
        delivered_to(&receiver).len() == 2
    })
    .await;
    let ids: Vec<_> = delivered_to(&receiver).into_iter().map(|g| g.id).collect();
    assert_eq!(
        ids,
        events
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    );
    let (_, pending) = app
        .admin_get("/admin/webhooks/deliveries?status=failed")
        .await;
    assert_eq!(pending["deliveries"], json!([]));
}

/// Runs `umsgate check-config` with only `env` among the UMSGATE variables: its exit
/// status and its output (stdout then stderr).
fn check_config(env: &[(&str, &str)]) -> (bool, String) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut command = umsgate(root);
    let out = command
        .arg("--config-dir")
        .arg(root.join("config"))
        .arg("check-config")
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn webhook_endpoints_are_set_from_the_environment_and_a_bad_one_is_refused_by_key() {
    let (ok, out) = check_config(&[(
        "UMSGATE__WEBHOOKS__ENDPOINTS",
        &format!(r#"[{{url="http://127.0.0.1:9000/hook",secret="{SECRET}"}}]"#),
    )]);
    assert!(ok, "{out}");
    assert!(
        out.contains("webhooks.endpoints = \"[redacted]\"  # env UMSGATE__WEBHOOKS__ENDPOINTS"),
        "{out}"
    );
    assert!(!out.contains("dW1zZ2F0"), "the secret is not shown: {out}");

    let (ok, out) = check_config(&[(
        "UMSGATE__WEBHOOKS__ENDPOINTS",
        r#"[{url="http://127.0.0.1:9000/hook",secret="whsec_"}]"#,
    )]);
    assert!(!ok, "{out}");
    assert!(out.contains("webhooks.endpoints[0].secrets"), "{out}");
}

#[actix_web::test]
async fn after_a_kill_9_right_after_payments_were_acknowledged_every_event_is_delivered_under_one_id(
) {
    use rand::SeedableRng;
    // Arrange: the real binary with the receiver as its endpoint, twenty tracked orders.
    let receiver = std::sync::Arc::new(Receiver::default());
    let url = start_peer(receiver.clone(), receive);
    let dir = TestDatabase::new();
    let start = |life: usize| {
        let mut command = umsgate(dir.path());
        child_gateway_env(&mut command, &dir)
            .env(
                "UMSGATE__WEBHOOKS__ENDPOINTS",
                format!(r#"[{{url="{url}/hook",secret="{SECRET}"}}]"#),
            )
            // Deliveries cut by the kill are leased for two timeouts: a short timeout brings
            // them back soon after the restart, and a longer back-off list keeps a busy
            // machine's slow answers from failing them for good.
            .env(
                "UMSGATE__WEBHOOKS__BACKOFF",
                r#"["10ms","100ms","500ms","1s","1s","1s"]"#,
            )
            .env("UMSGATE__WEBHOOKS__TIMEOUT", "2s")
            .env("UMSGATE__WEBHOOKS__TICK", "20ms")
            .arg("serve");
        ChildGateway::spawn(command, dir.path().join(format!("gateway-{life}.log")))
    };
    let mut gateway = start(0).await.unwrap();
    let client = awc::Client::default();
    let notices = paid_notices(&mut rand::rngs::StdRng::seed_from_u64(15), 15, 20);
    for n in &notices {
        let res = client
            .post(format!("{}/orders", gateway.api))
            .send_json(&json!({"merOrderId": n.order, "amount": n.amount}))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }

    // Act: every payment acknowledged, then SIGKILL at once; restart on the same file.
    for n in &notices {
        let mut res = client
            .post(format!("{}/notify/payment", gateway.notify))
            .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
            .send_body(n.body.clone())
            .await
            .unwrap();
        assert_eq!(res.body().await.unwrap(), "SUCCESS");
    }
    gateway.kill();
    let gateway = start(1).await.unwrap();

    // Assert: every event of the feed reaches the receiver; no id it does not hold, and
    // one id per change of an order.
    let mut res = client
        .get(format!("{}/events?limit=1000", gateway.api))
        .send()
        .await
        .unwrap();
    let feed: Value = res.json().limit(16 * 1024 * 1024).await.unwrap();
    let feed = feed["events"].as_array().unwrap().clone();
    assert_eq!(
        feed.len(),
        2 * notices.len(),
        "created and paid, for each order"
    );
    let ids: std::collections::HashSet<&str> =
        feed.iter().map(|e| e["id"].as_str().unwrap()).collect();
    eventually("every event of the feed is delivered", || async {
        let got: std::collections::HashSet<String> =
            delivered_to(&receiver).into_iter().map(|g| g.id).collect();
        ids.iter().all(|id| got.contains(*id))
    })
    .await;
    let got = receiver.got.lock().unwrap().clone();
    assert!(got
        .iter()
        .all(|g| g.verified && ids.contains(g.id.as_str())));
    let mut per_change: std::collections::HashMap<
        (String, i64),
        std::collections::HashSet<String>,
    > = std::collections::HashMap::new();
    for g in &got {
        let key = (
            g.body["data"]["merOrderId"].as_str().unwrap().to_owned(),
            g.body["data"]["version"].as_i64().unwrap(),
        );
        per_change.entry(key).or_default().insert(g.id.clone());
    }
    assert_eq!(per_change.len(), feed.len());
    assert!(
        per_change.values().all(|ids| ids.len() == 1),
        "{per_change:?}"
    );
}
