//! Liveness, readiness, metrics, and the notify listener's surface.

use awc::http::StatusCode;
use diesel::connection::SimpleConnection;
use serde_json::json;

use crate::helpers::{bound_bill, paid_notice, TestApp};

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

#[actix_web::test]
async fn readiness_is_503_while_writes_fail_and_200_again_once_one_succeeds() {
    // Arrange: a bill, and a journal that refuses every insert as a full disk would,
    // while an empty transaction still commits.
    let app = TestApp::spawn().await;
    let id = "1017HLTHDISK01";
    bound_bill(&app, id, 100).await;
    let (ready_before, _) = app.get("/readyz").await;
    let sql = |s: &str| app.db.conn().unwrap().batch_execute(s).unwrap();
    let on_postgres = app.settings.store.url.is_some();
    if on_postgres {
        sql(
            "CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             RAISE EXCEPTION 'could not extend file: No space left on device' \
             USING ERRCODE = 'disk_full'; END $$; \
             CREATE TRIGGER disk_full BEFORE INSERT ON notifications \
             FOR EACH ROW EXECUTE FUNCTION disk_full();",
        );
    } else {
        sql("CREATE TRIGGER disk_full BEFORE INSERT ON notifications \
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;");
    }
    let notice = || paid_notice(id, 100, "N1017HLTHDISK01");
    let form = Some("application/x-www-form-urlencoded");

    // Act: a notice fails; the disk recovers and the provider's resend is taken.
    let (failed, _) = app.post_notify("/notify/payment", notice(), form).await;
    let (while_failing, refusal) = app.get("/readyz").await;
    sql(if on_postgres {
        "DROP TRIGGER disk_full ON notifications;"
    } else {
        "DROP TRIGGER disk_full;"
    });
    let (resent, reply) = app.post_notify("/notify/payment", notice(), form).await;
    let (after, _) = app.get("/readyz").await;

    // Assert
    assert_eq!(ready_before, StatusCode::OK);
    assert_eq!(failed, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(while_failing, StatusCode::SERVICE_UNAVAILABLE, "{refusal}");
    assert_eq!(refusal["code"], "unavailable");
    assert_eq!((resent, reply.as_str()), (StatusCode::OK, "SUCCESS"));
    assert_eq!(after, StatusCode::OK);
}
