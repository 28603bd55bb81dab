//! Whole flows through the gateway and the embedded sandbox, with the sandbox's faults:
//! what the provider really sends (duplicated, reordered), refunds, closures, contracts.

use awc::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{bound_bill, delivered, eventually, TestApp, CONTRACT_TOKEN};

#[actix_web::test]
async fn a_payment_notified_twice_by_the_provider_moves_the_order_once() {
    let app = TestApp::spawn().await;
    app.sandbox_post("/_sandbox/faults", &json!({"duplicateNotifications": 1.0}))
        .await;
    bound_bill(&app, "1017DUPL0001", 100).await;

    app.sandbox_post("/_sandbox/orders/1017DUPL0001/pay", &json!({}))
        .await;
    eventually("two deliveries", || async {
        let (_, rows) = app
            .admin_get("/admin/notifications?order=1017DUPL0001")
            .await;
        rows["notifications"].as_array().map_or(0, Vec::len) >= 2
    })
    .await;
    delivered(&app, "1017DUPL0001").await;

    assert_eq!(app.order("1017DUPL0001").await["status"], "PAID");
    let moves: Vec<_> = app
        .events("1017DUPL0001")
        .await
        .into_iter()
        .filter(|e| e["from"].is_string())
        .collect();
    assert_eq!(moves.len(), 1, "{moves:?}");
    let (_, rows) = app
        .admin_get("/admin/notifications?order=1017DUPL0001")
        .await;
    let outcomes: Vec<&str> = rows["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["applied", "duplicate"]);
}

#[actix_web::test]
async fn payment_and_refunds_reordered_by_the_provider_end_refunded_with_the_full_total() {
    let app = TestApp::spawn_with(json!({"sandbox": {"faults": {"reorder_hold_ms": 300}}})).await;
    bound_bill(&app, "1017REOR0001", 100).await;
    app.sandbox_post("/_sandbox/faults", &json!({"reorderNotifications": 1.0}))
        .await;

    app.sandbox_post("/_sandbox/orders/1017REOR0001/pay", &json!({}))
        .await;
    app.sandbox_post(
        "/_sandbox/orders/1017REOR0001/refund",
        &json!({"amount": 30}),
    )
    .await;
    app.sandbox_post(
        "/_sandbox/orders/1017REOR0001/refund",
        &json!({"amount": 20}),
    )
    .await;
    delivered(&app, "1017REOR0001").await;

    let order = app.order("1017REOR0001").await;
    assert_eq!(order["status"], "REFUNDED");
    assert_eq!(
        order["refundedAmount"], 50,
        "the larger running total, whatever arrived last"
    );
    // Reordered, the smaller total arrives last: refunds are counted, not guessed, so the
    // order is flagged with both readings rather than silently kept at 50.
    assert!(
        order["needsReview"] == false
            || order["reviewReason"]
                .as_str()
                .unwrap()
                .contains("read as a running total 50 fen"),
        "{order}"
    );
    for e in app
        .events("1017REOR0001")
        .await
        .iter()
        .filter(|e| e["from"].is_string())
    {
        assert_ne!(e["to"], "PENDING", "never back to pending: {e}");
    }
}

#[actix_web::test]
async fn an_order_closed_at_the_provider_is_closed_here() {
    let app = TestApp::spawn().await;
    bound_bill(&app, "1017CLOS0001", 100).await;

    let (status, _) = app
        .sandbox_post("/_sandbox/orders/1017CLOS0001/close", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    delivered(&app, "1017CLOS0001").await;

    assert_eq!(app.order("1017CLOS0001").await["status"], "CLOSED");
}

#[actix_web::test]
async fn a_payment_of_another_amount_is_flagged_for_review_and_not_marked_paid() {
    let app = TestApp::spawn().await;
    bound_bill(&app, "1017MISM0001", 100).await;

    app.sandbox_post("/_sandbox/orders/1017MISM0001/pay", &json!({"amount": 1}))
        .await;
    delivered(&app, "1017MISM0001").await;

    let order = app.order("1017MISM0001").await;
    assert_eq!(order["status"], "PENDING");
    assert_eq!(order["needsReview"], true);
    assert!(order["reviewReason"]
        .as_str()
        .unwrap()
        .contains("amount mismatch"));
}

#[actix_web::test]
async fn contract_notices_sent_by_the_provider_are_stored_and_an_older_one_is_ignored() {
    let app = TestApp::spawn().await;
    let url = format!("{}/notify/contract/{CONTRACT_TOKEN}", app.notify);
    let notice = |state: &str, at: &str| json!({"contractState": state, "notifyUrl": url, "requestTimestamp": at, "contractId": "abc=", "planId": "P1"});

    app.sandbox_post(
        "/_sandbox/contracts/CN20261121001/notify",
        &notice("SIGNED", "2026-11-21 10:00:00"),
    )
    .await;
    eventually("the first notice is stored", || async {
        app.get("/contracts/CN20261121001").await.0 == StatusCode::OK
    })
    .await;
    app.sandbox_post(
        "/_sandbox/contracts/CN20261121001/notify",
        &notice("RESCISSION", "2026-11-21 12:00:00"),
    )
    .await;
    eventually("the newer notice is stored", || async {
        app.get("/contracts/CN20261121001").await.1["contractState"] == "RESCISSION"
    })
    .await;
    app.sandbox_post(
        "/_sandbox/contracts/CN20261121001/notify",
        &notice("SIGNED", "2026-11-21 11:00:00"),
    )
    .await;
    eventually("the older notice is journaled", || async {
        let (_, rows) = app.admin_get("/admin/notifications?kind=contract").await;
        rows["notifications"].as_array().map_or(0, Vec::len) == 3
    })
    .await;

    let (_, contract) = app.get("/contracts/CN20261121001").await;
    assert_eq!(contract["contractState"], "RESCISSION");
    let (_, rows) = app.admin_get("/admin/notifications?kind=contract").await;
    let outcomes: Vec<&str> = rows["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["applied", "applied", "stale"]);
}

#[actix_web::test]
async fn one_observation_raises_an_orders_version_by_exactly_one() {
    // Arrange: a bill paid with its notification lost, and one left unpaid.
    let app = TestApp::spawn_with(json!({"reconcile": {"first_check_after": "0s"}})).await;
    app.sandbox_post("/_sandbox/faults", &json!({"dropNotifications": 1.0}))
        .await;
    bound_bill(&app, "1017VERS0001", 100).await;
    bound_bill(&app, "1017VERS0002", 100).await;
    app.sandbox_post("/_sandbox/orders/1017VERS0001/pay", &json!({}))
        .await;
    let version = |o: &Value| o["version"].as_i64().unwrap();
    let (paid_before, unpaid_before) = (
        version(&app.order("1017VERS0001").await),
        version(&app.order("1017VERS0002").await),
    );

    // Act: one pass checks both (the query's answer and the check's bookkeeping).
    let report = app.reconcile().await;

    // Assert
    assert_eq!(report.checked, 2);
    let paid = app.order("1017VERS0001").await;
    let unpaid = app.order("1017VERS0002").await;
    assert_eq!(paid["status"], "PAID");
    assert_eq!(version(&paid), paid_before + 1, "{paid}");
    assert_eq!(unpaid["status"], "PENDING");
    assert_eq!(version(&unpaid), unpaid_before + 1, "{unpaid}");
    assert_eq!(unpaid["reconcile"]["attempts"], 1);
}

#[actix_web::test]
async fn a_payment_resolved_by_its_notification_is_timed_in_the_resolution_histogram() {
    let app = TestApp::spawn().await;
    bound_bill(&app, "1017RSLV0001", 100).await;

    app.sandbox_post("/_sandbox/orders/1017RSLV0001/pay", &json!({}))
        .await;
    eventually("the notification is applied", || async {
        app.order("1017RSLV0001").await["status"] == "PAID"
    })
    .await;

    let (_, metrics) = app.get_text(&app.api, "/metrics").await;
    assert!(
        metrics.contains("umsgate_payment_resolution_seconds_count{source=\"notify\"} 1"),
        "{metrics}"
    );
}
