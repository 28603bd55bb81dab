//! What the backend is told: the outbox's events in the feed (`GET /events`), the
//! long-poll on an order, and signed webhooks.

use awc::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{bound_bill, delivered, eventually, TestApp};

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
