//! The reconciler against the sandbox: lost notifications recovered by queries, query
//! faults, expiry, the due-order selection at scale, the schedule's end, configuration
//! errors, and the admin resync routes.

use std::collections::HashMap;

use awc::http::StatusCode;
use serde_json::{json, Value};
use umsgate::domain::schedule::scheduled_checks;
use umsgate::store::provider_calls;

use crate::helpers::{eventually, merged, never_backwards, TestApp, TestSandbox};

/// Reconciler settings for tests: every new order due at once, no rate cap in the way.
fn fast(backoff: &[&str]) -> Value {
    json!({"reconcile": {
        "first_check_after": "0s",
        "max_qps": 10000,
        "batch": 500,
        "backoff": backoff,
        "expiry_grace": "0s",
    }})
}

/// Creates `n` bound bills of 100 fen and pays each at the sandbox.
async fn paid_bills(app: &TestApp, prefix: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = format!("1017{prefix}{i:05}");
        let (status, body) = app
            .post_json(
                "/orders",
                &json!({"merOrderId": id, "amount": 100, "qrCodeId": format!("QR{prefix}{i:05}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = app
            .sandbox_post(&format!("/_sandbox/orders/{id}/pay"), &json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        ids.push(id);
    }
    ids
}

/// Runs passes until `done` holds or `max` passes ran, moving the clock between them so
/// that compressed back-off gaps pass.
async fn passes_until(
    app: &TestApp,
    max: usize,
    done: impl Fn(&HashMap<String, String>) -> bool,
    ids: &[String],
) -> usize {
    for pass in 1..=max {
        app.reconcile().await;
        let statuses = statuses(app, ids).await;
        if done(&statuses) {
            return pass;
        }
        app.advance_ms(30);
    }
    max
}

async fn statuses(app: &TestApp, ids: &[String]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for id in ids {
        out.insert(
            id.clone(),
            app.order(id).await["status"].as_str().unwrap().to_owned(),
        );
    }
    out
}

/// Queries made for each order (a bill's bill query, or mini-pre-query).
fn queries(app: &TestApp, id: &str) -> usize {
    provider_calls::list(&mut app.db.conn().unwrap(), Some(id))
        .unwrap()
        .iter()
        .filter(|c| c.operation == "mini-pre-query" || c.operation == "bill-query")
        .count()
}

#[actix_web::test]
async fn with_every_notification_lost_two_hundred_paid_orders_reach_paid_through_queries_alone() {
    // Arrange
    let app = TestApp::spawn_with(fast(&["30s"])).await;
    app.sandbox_post("/_sandbox/faults", &json!({"dropNotifications": 1.0}))
        .await;
    let ids = paid_bills(&app, "LOST", 200).await;
    assert!(
        statuses(&app, &ids).await.values().all(|s| s == "PENDING"),
        "no notification arrived"
    );

    // Act
    let passes = passes_until(&app, 5, |s| s.values().all(|v| v == "PAID"), &ids).await;

    // Assert
    let final_statuses = statuses(&app, &ids).await;
    assert!(
        final_statuses.values().all(|s| s == "PAID"),
        "after {passes} passes: {final_statuses:?}"
    );
    for id in &ids {
        assert_eq!(queries(&app, id), 1, "{id} was queried once");
        let (_, body) = app.get(&format!("/orders/{id}/events")).await;
        let last = body["events"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (last["to"].as_str(), last["source"].as_str()),
            (Some("PAID"), Some("query"))
        );
    }
    let order = app.order(&ids[0]).await;
    assert_eq!(order["provider"]["targetSys"], "WXPay");
    // Settled: checked again after `settled_backoff[0]` (1 h by default) for lost refunds.
    let next =
        chrono::DateTime::parse_from_rfc3339(order["reconcile"]["nextCheckAt"].as_str().unwrap())
            .unwrap();
    let wait = next.with_timezone(&chrono::Utc) - umsgate::clock::Clock::system().now();
    assert!(
        wait > chrono::Duration::minutes(50) && wait < chrono::Duration::minutes(70),
        "{wait}"
    );
    assert_eq!(order["reconcile"]["attempts"], 0);
}

#[actix_web::test]
async fn a_refund_whose_notification_was_lost_is_found_by_the_checks_after_settlement() {
    let app = TestApp::spawn_with(merged(
        fast(&["30s"]),
        json!({"reconcile": {"settled_backoff": ["10ms", "10ms"]}}),
    ))
    .await;
    let ids = paid_bills(&app, "SETL", 2).await;
    crate::helpers::eventually("both paid by notification", || async {
        statuses(&app, &ids).await.values().all(|s| s == "PAID")
    })
    .await;
    app.sandbox_post("/_sandbox/faults", &json!({"dropNotifications": 1.0}))
        .await;
    app.sandbox_post(
        &format!("/_sandbox/orders/{}/refund", ids[0]),
        &json!({"amount": 30}),
    )
    .await;
    app.sandbox_post(
        &format!("/_sandbox/orders/{}/refund", ids[1]),
        &json!({"amount": 100}),
    )
    .await;
    app.advance_ms(20);

    for _ in 0..3 {
        app.reconcile().await;
        app.advance_ms(20);
    }

    // A partial refund: the query says TRADE_REFUND without the amount.
    let partial = app.order(&ids[0]).await;
    assert_eq!(partial["status"], "REFUNDED");
    assert_eq!(partial["needsReview"], true);
    assert!(
        partial["reviewReason"]
            .as_str()
            .unwrap()
            .contains("without its amount"),
        "{partial}"
    );
    // A full refund: the bill query says REFUND (an order query would say "closed"):
    // REFUNDED, and a person checks the total it does not carry.
    let full = app.order(&ids[1]).await;
    assert_eq!(full["status"], "REFUNDED");
    assert_eq!(full["needsReview"], true);
    assert!(
        full["reviewReason"]
            .as_str()
            .unwrap()
            .contains("without its amount"),
        "{full}"
    );
    // Two settled checks each, then no more.
    for id in &ids {
        assert_eq!(queries(&app, id), 2, "{id}");
        assert_eq!(app.order(id).await["reconcile"]["nextCheckAt"], Value::Null);
    }
}

#[actix_web::test]
async fn with_failing_and_hanging_queries_every_order_still_converges_and_none_moves_backwards() {
    let app = TestApp::spawn_with(merged(
        fast(&["20ms"; 12]),
        json!({"provider": {"timeout_ms": 150}, "sandbox": {"query_timeout_hold": "1s"}}),
    ))
    .await;
    app.sandbox_post("/_sandbox/faults", &json!({"dropNotifications": 1.0}))
        .await;
    let ids = paid_bills(&app, "FLTY", 40).await;
    app.sandbox_post(
        "/_sandbox/faults",
        &json!({"queryErrorRate": 0.3, "queryTimeoutRate": 0.1}),
    )
    .await;

    let passes = passes_until(&app, 60, |s| s.values().all(|v| v == "PAID"), &ids).await;

    let final_statuses = statuses(&app, &ids).await;
    assert!(
        final_statuses.values().all(|s| s == "PAID"),
        "after {passes} passes: {final_statuses:?}"
    );
    never_backwards(&app);
    let limit = usize::try_from(scheduled_checks(&app.reconciler_backoff())).unwrap();
    for id in &ids {
        let n = queries(&app, id);
        assert!(
            n <= limit,
            "{id} was queried {n} times, more than the schedule's {limit}"
        );
    }
}

#[actix_web::test]
async fn unpaid_orders_past_their_expiry_are_closed() {
    // Three seconds: the provider's expireTime has whole seconds, so a bill of one second
    // could expire at the provider before the first check.
    let app = TestApp::spawn_with(fast(&["30s"])).await;
    let (tracked, body) = app
        .post_json(
            "/orders",
            &json!({"merOrderId": "1017EXPT0001", "amount": 5, "expiresInSeconds": 3}),
        )
        .await;
    assert_eq!(tracked, StatusCode::CREATED, "{body}");
    let (bill, body) = app
        .post_json(
            "/orders",
            &json!({"merOrderId": "1017EXPB0001", "amount": 5, "expiresInSeconds": 3, "qrCodeId": "QREXPB01"}),
        )
        .await;
    assert_eq!(bill, StatusCode::CREATED, "{body}");
    let ids = ["1017EXPT0001".to_owned(), "1017EXPB0001".to_owned()];

    let early = app.reconcile().await;
    let before = statuses(&app, &ids).await;
    app.advance_ms(3100);
    // The first check rescheduled them 30 s out; an operator's resync asks now.
    let (status, body) = app.admin_post("/admin/resync", &json!({})).await;

    assert_eq!(early.checked, 2);
    assert!(
        before.values().all(|s| s == "PENDING"),
        "not closed before expiry: {before:?}"
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let after = statuses(&app, &ids).await;
    assert!(after.values().all(|s| s == "CLOSED"), "{after:?}");
    // The tracked order was never at the provider: closed locally for expiry. The bill was
    // closed by the provider itself.
    let reason = |id: &str| {
        let app = &app;
        let id = id.to_owned();
        async move {
            let (_, body) = app.get(&format!("/orders/{id}/events")).await;
            body["events"].as_array().unwrap().last().unwrap()["reason"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    assert_eq!(reason("1017EXPT0001").await, "expired");
    assert_eq!(reason("1017EXPB0001").await, "provider");
}

#[actix_web::test]
async fn a_pass_over_a_hundred_thousand_settled_orders_selects_only_the_hundred_due() {
    use umsgate::domain::order::OrderStatus;
    use umsgate::store::synthetic::{insert_orders, NextCheck};
    let app = TestApp::spawn_with(fast(&["30s"])).await;
    let now = umsgate::clock::Clock::system().now();
    let far = now + chrono::Duration::days(1);
    let mut conn = app.db.conn().unwrap();
    insert_orders(
        &mut conn,
        OrderStatus::Paid,
        "1017S",
        100_000,
        far,
        NextCheck::Never,
    )
    .unwrap();
    let due_now = NextCheck::CountingDownFrom(now);
    insert_orders(&mut conn, OrderStatus::Pending, "1017D", 100, far, due_now).unwrap();
    let not_yet = NextCheck::CountingUpFrom(far);
    insert_orders(&mut conn, OrderStatus::Pending, "1017L", 50, far, not_yet).unwrap();
    drop(conn);

    let report = app.reconcile().await;

    assert_eq!((report.selected, report.checked), (100, 100));
    let all = provider_calls::list(&mut app.db.conn().unwrap(), None).unwrap();
    assert_eq!(all.len(), 100);
    assert!(all
        .iter()
        .all(|c| c.mer_order_id.as_deref().unwrap().starts_with("1017D")));
}

#[actix_web::test]
async fn an_order_that_exhausts_its_schedule_is_flagged_for_review_and_still_checked() {
    let app = TestApp::spawn_with(fast(&["10ms", "10ms"])).await;
    app.sandbox_post("/_sandbox/faults", &json!({"queryErrorRate": 1.0}))
        .await;
    app.post_json(
        "/orders",
        &json!({"merOrderId": "1017EXHS0001", "amount": 5}),
    )
    .await;

    for _ in 0..4 {
        app.reconcile().await;
        app.advance_ms(20);
    }

    let order = app.order("1017EXHS0001").await;
    assert_eq!(order["status"], "PENDING");
    assert_eq!(order["needsReview"], true);
    assert!(
        order["reviewReason"]
            .as_str()
            .unwrap()
            .contains("after 3 checks"),
        "{order}"
    );
    assert_eq!(
        order["reconcile"]["attempts"], 4,
        "still checked after the flag"
    );
    let (_, events) = app.get("/orders/1017EXHS0001/events").await;
    let reviews = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"].as_str().unwrap_or("").starts_with("review"))
        .count();
    assert_eq!(reviews, 1);
    never_backwards(&app);
}

#[actix_web::test]
async fn a_configuration_error_stops_the_pass_and_pauses_the_next() {
    let sandbox = TestSandbox::spawn().await;
    let app = TestApp::on_remote(
        &sandbox.url,
        merged(
            fast(&["30s"]),
            json!({
                "provider": {"app_key": "00000000000000000000000000000000"},
                "reconcile": {"concurrency": 1},
            }),
        ),
    )
    .await;
    for i in 0..5 {
        app.post_json(
            "/orders",
            &json!({"merOrderId": format!("1017CNFG{i:04}"), "amount": 5}),
        )
        .await;
    }

    let first = app.reconcile().await;
    let second = app.reconcile().await;

    assert!(first.stopped_for_config);
    // Claimed a concurrency's worth at a time: the pass stopped before it claimed (and
    // leased) the other four, which stay due for the pass after the pause.
    assert_eq!((first.selected, first.checked), (1, 1));
    assert!(second.paused);
    assert_eq!(second.checked, 0);
}

#[actix_web::test]
async fn a_bill_whose_bind_answer_was_lost_is_found_bound_by_the_next_query() {
    let app = TestApp::spawn_with(merged(
        fast(&["30s"]),
        json!({"provider": {"timeout_ms": 150}, "sandbox": {"query_timeout_hold": "1s"}}),
    ))
    .await;
    app.sandbox_post("/_sandbox/faults", &json!({"answerLossRate": 1.0}))
        .await;
    let (status, order) = app
        .post_json(
            "/orders",
            &json!({"merOrderId": "1017LOSB0001", "amount": 5, "qrCodeId": "QRLOSB01"}),
        )
        .await;
    assert_eq!(
        (status, order["binding"].as_str()),
        (StatusCode::ACCEPTED, Some("unknown"))
    );
    app.sandbox_post("/_sandbox/faults", &json!({"answerLossRate": 0.0}))
        .await;

    app.reconcile().await;

    let order = app.order("1017LOSB0001").await;
    assert_eq!(order["binding"], "bound");
    assert_eq!(order["status"], "PENDING");
}

#[actix_web::test]
async fn an_operator_resyncs_one_order_and_sees_it_before_and_after() {
    let app = TestApp::spawn().await;
    app.sandbox_post("/_sandbox/faults", &json!({"dropNotifications": 1.0}))
        .await;
    paid_bills(&app, "ADM1", 1).await;

    let (unauth, _) = app
        .post_json("/admin/orders/1017ADM100000/resync", &json!({}))
        .await;
    let (status, check) = app
        .admin_post("/admin/orders/1017ADM100000/resync", &json!({}))
        .await;
    let (missing, _) = app
        .admin_post("/admin/orders/1017NOSUCH01/resync", &json!({}))
        .await;

    assert_eq!(unauth, StatusCode::UNAUTHORIZED);
    assert_eq!(status, StatusCode::OK, "{check}");
    assert_eq!(check["before"]["status"], "PENDING");
    assert_eq!(check["after"]["status"], "PAID");
    assert_eq!(check["outcome"], "moved");
    assert_eq!(missing, StatusCode::NOT_FOUND);
    let (_, events) = app.get("/orders/1017ADM100000/events").await;
    assert_eq!(
        events["events"].as_array().unwrap().last().unwrap()["source"],
        "admin"
    );
}

#[actix_web::test]
async fn an_operator_resyncs_many_orders_or_lists_them_in_a_dry_run() {
    let app = TestApp::spawn().await;
    app.sandbox_post("/_sandbox/faults", &json!({"dropNotifications": 1.0}))
        .await;
    let ids = paid_bills(&app, "ADMN", 3).await;
    app.post_json(
        "/orders",
        &json!({"merOrderId": "1017ADMNTRK1", "amount": 5}),
    )
    .await;

    let (unauth, _) = app
        .post_json("/admin/resync", &json!({"dryRun": true}))
        .await;
    let (_, dry) = app
        .admin_post("/admin/resync", &json!({"dryRun": true, "limit": 10}))
        .await;
    let dry_statuses = statuses(&app, &ids).await;
    let (bad, err) = app
        .admin_post("/admin/resync", &json!({"status": ["SHIPPED"]}))
        .await;
    let (status, run) = app
        .admin_post(
            "/admin/resync",
            &json!({"status": ["PENDING"], "limit": 10}),
        )
        .await;

    assert_eq!(unauth, StatusCode::UNAUTHORIZED);
    assert_eq!(dry["wouldQuery"].as_array().unwrap().len(), 4, "{dry}");
    assert!(
        dry_statuses.values().all(|s| s == "PENDING"),
        "a dry run changes nothing"
    );
    assert_eq!(
        (bad, err["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("status"))
    );
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(
        (run["checked"].as_u64(), run["moved"].as_u64()),
        (Some(4), Some(3))
    );
    assert!(statuses(&app, &ids).await.values().all(|s| s == "PAID"));
}

#[actix_web::test]
async fn stopping_the_gateway_waits_for_the_scheduled_pass_in_flight_to_commit() {
    // Arrange: the scheduler on, ticking every second; a provider that loses every
    // notification and holds every query answer 1.5 s.
    let sandbox = TestSandbox::spawn().await;
    let app = TestApp::on_remote(
        &sandbox.url,
        merged(
            fast(&["1h"]),
            json!({"reconcile": {"enabled": true, "tick": "* * * * * *"}}),
        ),
    )
    .await;
    let faults = json!({"dropNotifications": 1.0, "queryDelayMs": 1500});
    sandbox
        .post("/_sandbox/faults", faults.to_string().into_bytes(), None)
        .await;
    let id = "1017STOP0001";
    let (status, body) = app
        .post_json(
            "/orders",
            &json!({"merOrderId": id, "amount": 100, "qrCodeId": "QRSTOP0001"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = sandbox
        .post(&format!("/_sandbox/orders/{id}/pay"), b"{}".to_vec(), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually("the scheduled pass has sent its query", || async {
        let (_, calls) = sandbox
            .get("/_sandbox/calls?path=/v1/netpay/bills/query")
            .await;
        calls["calls"].as_array().is_some_and(|c| !c.is_empty())
    })
    .await;

    // Act: stop while the query's answer is still held.
    app.stop().await;

    // Assert: the pass finished and committed before the gateway ended.
    use diesel::prelude::*;
    use umsgate::store::schema::orders;
    let status: String = orders::table
        .find(id)
        .select(orders::status)
        .first(&mut app.db.conn().unwrap())
        .unwrap();
    assert_eq!(status, "PAID");
    let calls = provider_calls::list(&mut app.db.conn().unwrap(), Some(id)).unwrap();
    assert_eq!(
        calls
            .iter()
            .map(|c| c.operation.as_str())
            .collect::<Vec<_>>(),
        ["update-qrcode", "bill-query"]
    );
}
