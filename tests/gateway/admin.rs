//! The admin scope's guard.

use awc::http::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, ADMIN_TOKEN};

#[actix_web::test]
async fn admin_routes_answer_403_when_no_token_is_configured() {
    let app = TestApp::spawn_with(json!({"admin": {"token": null, "tokens": []}})).await;

    let (status, err) = app
        .get_authorized(
            "/admin/notifications",
            Some(&format!("Bearer {ADMIN_TOKEN}")),
        )
        .await;

    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(err["code"], "forbidden");
}

#[actix_web::test]
async fn admin_routes_need_the_right_bearer_token() {
    let app = TestApp::spawn().await;

    let (none, e1) = app.get_authorized("/admin/notifications", None).await;
    let (wrong, e2) = app
        .get_authorized("/admin/notifications", Some("Bearer not-the-token-at-all"))
        .await;
    let (prefix, _) = app
        .get_authorized(
            "/admin/notifications",
            Some(&format!("Bearer {}", &ADMIN_TOKEN[..10])),
        )
        .await;
    let (scheme, _) = app
        .get_authorized(
            "/admin/notifications",
            Some(&format!("Basic {ADMIN_TOKEN}")),
        )
        .await;
    let (right, body) = app
        .get_authorized(
            "/admin/notifications",
            Some(&format!("Bearer {ADMIN_TOKEN}")),
        )
        .await;

    assert_eq!(none, StatusCode::UNAUTHORIZED);
    assert_eq!(e1["code"], "unauthorized");
    assert_eq!(wrong, StatusCode::UNAUTHORIZED);
    assert!(
        !e2.to_string().contains("not-the-token"),
        "the presented token is not echoed"
    );
    assert_eq!(prefix, StatusCode::UNAUTHORIZED);
    assert_eq!(scheme, StatusCode::UNAUTHORIZED);
    assert_eq!(right, StatusCode::OK);
    assert!(body["notifications"].is_array());
}
