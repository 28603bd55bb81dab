//! Named operators and the review workflow over real HTTP: who may act, what an
//! acknowledgement and an operator's resync leave in the history, and what they never do
//! (move money state by hand).

use awc::http::StatusCode;
use serde_json::{json, Value};

use crate::bills::paid_silently;
use crate::helpers::{paid_notice, TestApp, OPERATOR_TOKEN, VIEWER_TOKEN};

fn review_path(id: &str) -> String {
    format!("/admin/orders/{id}/review")
}

/// An acknowledgement of order `order` (as the API showed it) with `note`.
fn ack(order: &Value, note: &str) -> Value {
    json!({"action": "acknowledge", "note": note, "version": order["version"]})
}

/// Flags again the 100-fen bill `id` that [`TestApp::flag_by_amount_mismatch`] flagged for
/// 1 fen: a second notice reports 99 fen. Answers the order after.
pub(crate) async fn flag_again_for_99_fen(app: &TestApp, id: &str) -> Value {
    let (status, reply) = app
        .post_notify(
            "/notify/payment",
            paid_notice(id, 99, &format!("N{id}-2")),
            Some("application/x-www-form-urlencoded"),
        )
        .await;
    assert_eq!((status, reply.as_str()), (StatusCode::OK, "SUCCESS"));
    let order = app.order(id).await;
    assert_eq!(
        order["reviewReason"], "amount mismatch: order is 100 fen, provider reports 99 fen",
        "{order}"
    );
    order
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
            &ack(&flagged, "  paid 1 fen by mistake; refunded by the shop  "),
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
    let flagged = app.flag_by_amount_mismatch(id).await;

    // Act
    let (status, _) = app
        .post_as(OPERATOR_TOKEN, &review_path(id), &ack(&flagged, "checked"))
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
    let flagged = app.flag_by_amount_mismatch(id).await;
    let version = flagged["version"].clone();

    // Act
    let mut answers = Vec::new();
    for body in [
        json!({"action": "acknowledge", "version": version}),
        json!({"action": "acknowledge", "note": "   ", "version": version}),
        json!({"action": "acknowledge", "note": "x".repeat(501), "version": version}),
        json!({"action": "approve", "note": "x"}),
        json!({"action": "acknowledge", "note": "x", "version": version, "status": "PAID"}),
        json!({"action": "acknowledge", "note": "x"}),
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
            (StatusCode::BAD_REQUEST, json!("version")),
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
    let flagged = app.flag_by_amount_mismatch(id).await;
    let ack = ack(&flagged, "checked");
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
    let flagged = app.flag_by_amount_mismatch(id).await;

    // Act
    let (status, body) = app
        .admin_post(&review_path(id), &ack(&flagged, "legacy token"))
        .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        events_from(&app, id, "operator").await[0]["operator"],
        "admin"
    );
}

#[actix_web::test]
async fn an_acknowledgement_of_a_flag_raised_again_since_it_was_read_is_a_409_with_the_new_reason_and_clears_nothing(
) {
    // Arrange: flagged for 1 fen and read by the operator; then a new notice flags it
    // again for 99 fen.
    let app = TestApp::spawn().await;
    let id = "1017REVRACE001";
    let seen = app.flag_by_amount_mismatch(id).await;
    let now = flag_again_for_99_fen(&app, id).await;
    assert!(now["version"].as_i64() > seen["version"].as_i64(), "{now}");

    // Act: the acknowledgement written for the flag seen, then one for the flag now.
    let (stale, refused) = app
        .post_as(
            OPERATOR_TOKEN,
            &review_path(id),
            &ack(&seen, "refunded the 99 fen"),
        )
        .await;
    let between = app.order(id).await;
    let (fresh, cleared) = app
        .post_as(
            OPERATOR_TOKEN,
            &review_path(id),
            &ack(&now, "refunded the 1 fen"),
        )
        .await;

    // Assert
    assert_eq!(stale, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["code"], "review_changed");
    assert_eq!(refused["version"], now["version"]);
    assert_eq!(refused["reviewReason"], now["reviewReason"]);
    assert_eq!(between, now, "the stale acknowledgement changed nothing");
    assert_eq!(fresh, StatusCode::OK, "{cleared}");
    assert_eq!(app.order(id).await["needsReview"], false);
    let events = events_from(&app, id, "operator").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["note"], "refunded the 1 fen");
    assert!(
        events[0]["reason"]
            .as_str()
            .unwrap()
            .ends_with("provider reports 99 fen"),
        "{events:?}"
    );
}

#[actix_web::test]
async fn a_note_with_an_invisible_format_character_is_refused_naming_the_note_and_changes_nothing()
{
    // Arrange
    let app = TestApp::spawn().await;
    let id = "1017REVSPOOF01";
    let flagged = app.flag_by_amount_mismatch(id).await;
    let before = app.events(id).await.len();

    // Act: a right-to-left override, zero-width characters, a word joiner, a byte-order
    // mark and a bidi isolate, in an acknowledgement and in a resync.
    let mut answers = Vec::new();
    for c in [
        '\u{202E}', '\u{200B}', '\u{200D}', '\u{2060}', '\u{FEFF}', '\u{2066}',
    ] {
        let note = format!("refunded{c} by hand");
        for body in [
            ack(&flagged, &note),
            json!({"action": "resync", "note": note}),
        ] {
            let (status, answer) = app.post_as(OPERATOR_TOKEN, &review_path(id), &body).await;
            answers.push((c, status, answer));
        }
    }

    // Assert
    for (c, status, answer) in &answers {
        assert_eq!(
            (*status, &answer["field"]),
            (StatusCode::BAD_REQUEST, &json!("note")),
            "U+{:04X}: {answer}",
            u32::from(*c)
        );
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .contains(&format!("U+{:04X}", u32::from(*c))),
            "{answer}"
        );
    }
    assert_eq!(app.order(id).await["needsReview"], true);
    assert_eq!(app.events(id).await.len(), before);
}
