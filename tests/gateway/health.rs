//! Liveness, readiness, metrics, and the notify listener's surface.

use awc::http::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

#[actix_web::test]
async fn the_gateway_is_live_and_ready_on_a_fresh_database() {
    let app = TestApp::spawn().await;

    let (live, _) = app.get("/healthz").await;
    let (ready, body) = app.get("/readyz").await;

    assert_eq!(live, StatusCode::OK);
    assert_eq!(ready, StatusCode::OK);
    assert_eq!(body["status"], "ready");
}

#[actix_web::test]
async fn metrics_count_requests_and_orders_by_status() {
    let app = TestApp::spawn().await;
    app.post_json("/orders", &json!({"amount": 1})).await;
    app.post_json("/orders", &json!({"amount": 0})).await;

    let (status, text) = app.get_text(&app.api, "/metrics").await;

    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains(r#"umsgate_orders{status="PENDING"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"umsgate_orders{status="PAID"} 0"#),
        "{text}"
    );
    assert!(
        text.contains(r#"umsgate_http_requests_total{listener="api",method="POST",route="/orders",status="201"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"umsgate_http_requests_total{listener="api",method="POST",route="/orders",status="400"} 1"#),
        "{text}"
    );
}

#[actix_web::test]
async fn the_notify_listener_serves_no_api_routes() {
    let app = TestApp::spawn().await;

    let (orders, _) = app.get_text(&app.notify, "/orders").await;
    let (metrics, _) = app.get_text(&app.notify, "/metrics").await;
    let (admin, _) = app.get_text(&app.notify, "/admin/notifications").await;

    assert_eq!(orders, StatusCode::NOT_FOUND);
    assert_eq!(metrics, StatusCode::NOT_FOUND);
    assert_eq!(admin, StatusCode::NOT_FOUND);
}
