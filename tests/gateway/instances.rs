//! Several gateway instances on one database: the reconciler's claims (each due order asked
//! about by one instance at a time, a dead instance's claims running out) and the webhook
//! workers' (each event delivered once, in each order's version order), and a long-poll
//! woken by a change another instance committed. In-process apps on
//! one database, against one sandbox as their provider.

use awc::http::StatusCode;
use serde_json::json;
use umsgate::store::{orders, provider_calls};

use crate::helpers::{
    bound_bill, delivered, delivered_to, eventually, eventually_busy, feed, long_poll,
    with_receiver, Receiver, TestApp, TestSandbox, WOKEN_WITHIN,
};

/// Reconciler settings: every new order due at once, claims of four, no rate cap in the way.
fn due_at_once() -> serde_json::Value {
    json!({"reconcile": {
        "first_check_after": "0s",
        "max_qps": 10000,
        "batch": 500,
        "concurrency": 4,
        "backoff": ["1h"],
    }})
}

/// Two gateways on one database and one provider: the second is started on the first's
/// settings and database directory.
async fn two_instances(sandbox: &TestSandbox) -> (TestApp, TestApp) {
    let first = TestApp::on_remote(&sandbox.url, due_at_once()).await;
    let second = TestApp::start(first.settings.clone(), first.dir.clone()).await;
    (first, second)
}

/// Creates `n` bills bound at the sandbox through `app` and pays each there; their
/// notifications are lost.
async fn paid_bills(app: &TestApp, sandbox: &TestSandbox, prefix: &str, n: usize) -> Vec<String> {
    sandbox
        .post(
            "/_sandbox/faults",
            json!({"dropNotifications": 1.0}).to_string().into_bytes(),
            None,
        )
        .await;
    let mut ids = Vec::new();
    for i in 0..n {
        let id = format!("1017{prefix}{i:04}");
        let (status, body) = app
            .post_json(
                "/orders",
                &json!({"merOrderId": id, "amount": 100, "qrCodeId": format!("QR{prefix}{i:04}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = sandbox
            .post(&format!("/_sandbox/orders/{id}/pay"), b"{}".to_vec(), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        ids.push(id);
    }
    ids
}

/// The provider queries recorded for `id` (by whichever instance made them).
fn queries(app: &TestApp, id: &str) -> usize {
    provider_calls::list(&mut app.db.conn().unwrap(), Some(id))
        .unwrap()
        .iter()
        .filter(|c| c.operation == "bill-query" || c.operation == "mini-pre-query")
        .count()
}

#[actix_web::test]
async fn two_instances_passing_at_once_ask_the_provider_once_for_each_lost_payment() {
    // Arrange
    let sandbox = TestSandbox::spawn().await;
    let (first, second) = two_instances(&sandbox).await;
    let ids = paid_bills(&first, &sandbox, "TWIN", 40).await;

    // Act: both instances' passes run at the same time, claim after claim.
    let (a, b) = tokio::join!(first.reconcile(), second.reconcile());

    // Assert
    assert_eq!(a.checked + b.checked, 40, "{a:?} {b:?}");
    for id in &ids {
        assert_eq!(first.order(id).await["status"], "PAID", "{id}");
        assert_eq!(queries(&first, id), 1, "{id} was asked about once");
    }
}

#[actix_web::test]
async fn a_dead_instances_claims_run_out_and_another_instance_takes_them() {
    // Arrange: the first instance claims every due order and dies before asking.
    let sandbox = TestSandbox::spawn().await;
    let (first, second) = two_instances(&sandbox).await;
    let ids = paid_bills(&first, &sandbox, "DEAD", 6).await;
    let r = &first.settings.reconcile;
    let lease = umsgate::reconcile::claim_lease(
        r.concurrency,
        r.max_qps,
        first.settings.provider.timeout(),
    );
    let now = first.clock.now();
    let claimed = orders::claim_due(&mut first.db.conn().unwrap(), now, now + lease, 100)
        .unwrap()
        .orders;
    assert_eq!(claimed.len(), 6);
    first.stop().await;

    // Act: a pass within the lease, then one after it.
    let within = second.reconcile().await;
    second.advance_ms(u64::try_from(lease.num_milliseconds()).unwrap() + 1);
    let after = second.reconcile().await;

    // Assert
    assert_eq!(
        within.checked, 0,
        "claimed orders are left to their claimer: {within:?}"
    );
    assert_eq!(after.checked, 6, "{after:?}");
    for id in &ids {
        assert_eq!(second.order(id).await["status"], "PAID", "{id}");
        assert_eq!(queries(&second, id), 1, "{id}");
    }
}

#[actix_web::test]
async fn two_instances_deliver_each_event_once_and_each_orders_events_in_order() {
    // Arrange: both instances' webhook workers tick every 20 ms on one database.
    let receiver = std::sync::Arc::new(Receiver::default());
    let first = with_receiver(&receiver, &["10ms", "10ms"]).await;
    let second = TestApp::start(first.settings.clone(), first.dir.clone()).await;
    let ids: Vec<String> = (0..12).map(|i| format!("1017HTWN{i:04}")).collect();

    // Act: each bill created through the first, paid and notified.
    for id in &ids {
        bound_bill(&first, id, 100).await;
        let (status, body) = first
            .sandbox_post(&format!("/_sandbox/orders/{id}/pay"), &json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for id in &ids {
        delivered(&first, id).await;
    }
    let expected = feed(&first, "", 1000).await.len();
    eventually("every event reached the receiver", || async {
        delivered_to(&receiver).len() >= expected && feed(&second, "", 1000).await.len() == expected
    })
    .await;

    // Assert
    let got = delivered_to(&receiver);
    let mut ids_seen: Vec<&str> = got.iter().map(|g| g.id.as_str()).collect();
    ids_seen.sort_unstable();
    ids_seen.dedup();
    assert_eq!(ids_seen.len(), got.len(), "one body per webhook-id");
    assert_eq!(got.len(), expected);
    for id in &ids {
        let versions: Vec<i64> = got
            .iter()
            .filter(|g| g.body["data"]["merOrderId"] == id.as_str())
            .map(|g| g.body["data"]["version"].as_i64().unwrap())
            .collect();
        assert!(!versions.is_empty(), "{id}");
        assert!(
            versions.windows(2).all(|w| w[0] < w[1]),
            "{id}: {versions:?}"
        );
    }
    first.stop().await;
    second.stop().await;
}

#[actix_web::test]
async fn a_long_poll_on_one_instance_is_woken_by_a_payment_the_other_instance_applied() {
    // Arrange: the second instance has room for one waiter, so that a refused second poll
    // tells us the first is waiting; the payment's notification reaches the first.
    let first = TestApp::spawn().await;
    let mut settings = first.settings.clone();
    settings.api.long_poll_waiters = 1;
    let second = TestApp::start(settings, first.dir.clone()).await;
    bound_bill(&first, "1017XPOL0001", 100).await;
    let before = second.order("1017XPOL0001").await["version"]
        .as_i64()
        .unwrap();

    // Act
    let query = format!("wait=60&after={before}");
    let poll = long_poll(&second, "1017XPOL0001", &query);
    let pay = async {
        eventually_busy(&second, "1017XPOL0001").await;
        first
            .sandbox_post("/_sandbox/orders/1017XPOL0001/pay", &json!({}))
            .await;
    };
    let ((status, _, order), ()) =
        actix_web::rt::time::timeout(WOKEN_WITHIN, futures_util::future::join(poll, pay))
            .await
            .expect("the long-poll was woken by the other instance's commit, not its wait's end");

    // Assert
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["status"], "PAID");
    assert!(order["version"].as_i64().unwrap() > before);
}
