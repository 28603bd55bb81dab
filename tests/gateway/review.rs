//! Named operators and the review workflow over real HTTP: who may act, what an
//! acknowledgement and an operator's resync leave in the history, and what they never do
//! (move money state by hand).

use awc::http::StatusCode;
use serde_json::{json, Value};

use crate::bills::paid_silently;
use crate::helpers::{TestApp, OPERATOR_TOKEN, VIEWER_TOKEN};

fn review_path(id: &str) -> String {
    format!("/admin/orders/{id}/review")
}

/// The order's events from `source`.
async fn events_from(app: &TestApp, id: &str, source: &str) -> Vec<Value> {
    app.events(id)
        .await
        .into_iter()
        .filter(|e| e["source"] == source)
        .collect()
}

#[actix_web::test]
async fn an_operator_acknowledges_a_review_and_the_event_names_them_with_the_note() {
    // Arrange
    let app = TestApp::spawn().await;
    let id = "1017REVACK0001";
    let flagged = app.flag_by_amount_mismatch(id).await;
    assert!(flagged["reviewFlaggedAt"].is_string(), "{flagged}");

    // Act
    let (status, body) = app
        .post_as(
            OPERATOR_TOKEN,
            &review_path(id),
            &json!({"action": "acknowledge", "note": "  paid 1 fen by mistake; refunded by the shop  "}),
        )
        .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["operator"], "alice");
    let order = app.order(id).await;
    assert_eq!(order["needsReview"], false);
    assert_eq!(order["reviewReason"], Value::Null);
    assert_eq!(order["reviewFlaggedAt"], Value::Null);
    assert_eq!(
        order["status"], flagged["status"],
        "money state is untouched"
    );
    let events = events_from(&app, id, "operator").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["operator"], "alice");
    assert_eq!(
        events[0]["note"],
        "paid 1 fen by mistake; refunded by the shop"
    );
    assert!(events[0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("review acknowledged: amount mismatch"));
    let (_, queue) = app.admin_get("/orders?needsReview=true").await;
    assert_eq!(queue["orders"], json!([]), "{queue}");
}

#[actix_web::test]
async fn the_backend_is_told_when_a_review_is_resolved() {
    // Arrange
    let app = TestApp::spawn().await;
    let id = "1017REVFEED001";
    app.flag_by_amount_mismatch(id).await;

    // Act
    let (status, _) = app
        .post_as(
            OPERATOR_TOKEN,
            &review_path(id),
            &json!({"action": "acknowledge", "note": "checked"}),
        )
        .await;

    // Assert
    assert_eq!(status, StatusCode::OK);
    let (_, feed) = app.get("/events?limit=100").await;
    let types: Vec<&str> = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["merOrderId"] == id)
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.last(), Some(&"order.review_resolved"), "{types:?}");
}

#[actix_web::test]
async fn a_viewer_may_read_but_every_action_is_refused_with_403_and_changes_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    let id = "1017REVVIEW001";
    app.flag_by_amount_mismatch(id).await;
    let before = app.events(id).await.len();

    // Act
    let (read, _) = app
        .get_authorized(
            "/admin/notifications",
            Some(&format!("Bearer {VIEWER_TOKEN}")),
        )
        .await;
    let mut refused = Vec::new();
    for (path, body) in [
        (
            review_path(id),
            json!({"action": "acknowledge", "note": "x"}),
        ),
        (review_path(id), json!({"action": "resync", "note": "x"})),
        (format!("/admin/orders/{id}/resync"), json!({})),
        ("/admin/resync".to_owned(), json!({"dryRun": true})),
        (
            "/admin/webhooks/redeliver".to_owned(),
            json!({"status": "failed"}),
        ),
    ] {
        let (status, answer) = app.post_as(VIEWER_TOKEN, &path, &body).await;
        refused.push((path, status, answer["code"].clone()));
    }

    // Assert
    assert_eq!(read, StatusCode::OK);
    for (path, status, code) in refused {
        assert_eq!(
            (status, code),
            (StatusCode::FORBIDDEN, json!("forbidden")),
            "{path}"
        );
    }
    assert_eq!(app.order(id).await["needsReview"], true);
    assert_eq!(app.events(id).await.len(), before);
}

#[actix_web::test]
async fn a_review_action_without_a_note_or_with_an_unknown_action_is_refused_naming_the_field() {
    // Arrange
    let app = TestApp::spawn().await;
    let id = "1017REVNOTE001";
    app.flag_by_amount_mismatch(id).await;

    // Act
    let mut answers = Vec::new();
    for body in [
        json!({"action": "acknowledge"}),
        json!({"action": "acknowledge", "note": "   "}),
        json!({"action": "acknowledge", "note": "x".repeat(501)}),
        json!({"action": "approve", "note": "x"}),
        json!({"action": "acknowledge", "note": "x", "status": "PAID"}),
    ] {
        answers.push(app.post_as(OPERATOR_TOKEN, &review_path(id), &body).await);
    }

    // Assert
    let fields: Vec<(StatusCode, Value)> = answers
        .iter()
        .map(|(s, b)| (*s, b["field"].clone()))
        .collect();
    assert_eq!(
        fields,
        vec![
            (StatusCode::BAD_REQUEST, json!("note")),
            (StatusCode::BAD_REQUEST, json!("note")),
            (StatusCode::BAD_REQUEST, json!("note")),
            (StatusCode::BAD_REQUEST, json!("action")),
            (StatusCode::BAD_REQUEST, json!("status")),
        ],
        "{answers:?}"
    );
    assert_eq!(app.order(id).await["needsReview"], true);
}

#[actix_web::test]
async fn acknowledging_an_order_that_is_not_flagged_is_a_conflict_and_an_unknown_order_a_404() {
    // Arrange
    let app = TestApp::spawn().await;
    let id = "1017REVNONE001";
    app.flag_by_amount_mismatch(id).await;
    let ack = json!({"action": "acknowledge", "note": "checked"});
    let (first, _) = app.post_as(OPERATOR_TOKEN, &review_path(id), &ack).await;

    // Act
    let (again, body) = app.post_as(OPERATOR_TOKEN, &review_path(id), &ack).await;
    let (missing, _) = app
        .post_as(OPERATOR_TOKEN, &review_path("1017REVNOSUCH1"), &ack)
        .await;

    // Assert
    assert_eq!(first, StatusCode::OK);
    assert_eq!(again, StatusCode::CONFLICT, "{body}");
    assert_eq!(missing, StatusCode::NOT_FOUND);
    assert_eq!(events_from(&app, id, "operator").await.len(), 1);
}

#[actix_web::test]
async fn an_operators_resync_asks_the_provider_and_leaves_their_name_and_note_in_the_history() {
    // Arrange: a bill the buyer paid at the sandbox, whose notification was lost.
    let app = TestApp::spawn().await;
    let id = "1017REVSYNC001";
    paid_silently(&app, id, "QRREVSYNC001", 100).await;

    // Act
    let (status, body) = app
        .post_as(
            OPERATOR_TOKEN,
            &review_path(id),
            &json!({"action": "resync", "note": "customer says they paid"}),
        )
        .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["check"]["after"]["status"], "PAID", "{body}");
    let events = events_from(&app, id, "operator").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["to"], "PAID");
    assert_eq!(events[0]["operator"], "alice");
    assert_eq!(events[0]["note"], "customer says they paid");
}

#[actix_web::test]
async fn the_admin_token_acts_as_the_operator_named_admin() {
    // Arrange
    let app = TestApp::spawn().await;
    let id = "1017REVADMIN01";
    app.flag_by_amount_mismatch(id).await;

    // Act
    let (status, body) = app
        .admin_post(
            &review_path(id),
            &json!({"action": "acknowledge", "note": "legacy token"}),
        )
        .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        events_from(&app, id, "operator").await[0]["operator"],
        "admin"
    );
}
