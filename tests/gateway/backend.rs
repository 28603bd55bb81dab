//! What the backend is told: the outbox's events in the feed (`GET /events`), the
//! long-poll on an order, and signed webhooks.

use awc::http::StatusCode;
use serde_json::{json, Value};

use std::time::Duration;

use futures_util::future::join;

use crate::helpers::{bound_bill, delivered, eventually, TestApp};

/// Longest a test waits for a long-poll that should be woken: half of the `wait` it asks
/// for, so that a poll that was not woken (and answered only at its end) fails the test.
const WOKEN_WITHIN: Duration = Duration::from_secs(30);

/// `GET /orders/{id}?<query>` as a long-poll (its own client: awc's default timeout is
/// 5 s): the status, the `Retry-After` header and the body.
async fn long_poll(app: &TestApp, id: &str, query: &str) -> (StatusCode, Option<String>, Value) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(90))
        .finish();
    let mut res = client
        .get(format!("{}/orders/{id}?{query}", app.api))
        .send()
        .await
        .expect("request sent");
    let retry_after = res
        .headers()
        .get("Retry-After")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = res.json::<Value>().await.expect("JSON body");
    (res.status(), retry_after, body)
}

/// Every event of the feed matching `query`, walked page by page with `next`.
async fn feed(app: &TestApp, query: &str, limit: usize) -> Vec<Value> {
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
        let (status, retry_after) = eventually_some_busy(&app, "1017POLL0001").await;
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

/// Waits until a second long-poll on `id` is refused for want of room (so the first one
/// is waiting); its status and `Retry-After`.
async fn eventually_some_busy(app: &TestApp, id: &str) -> (StatusCode, Option<String>) {
    crate::helpers::eventually_some("the first long-poll is waiting", || async {
        let (status, retry_after, _) = long_poll(app, id, "wait=0").await;
        (status == StatusCode::SERVICE_UNAVAILABLE).then_some((status, retry_after))
    })
    .await
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
        eventually_some_busy(&app, "1017POLL0002").await;
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
