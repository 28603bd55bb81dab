//! The provider client against the sandbox over real HTTP: binding, auth modes, the token
//! cache, configuration errors, unknown outcomes, pre-authorisation completion, and that
//! no secret reaches a log line.

use std::net::TcpListener;

use awc::http::StatusCode;
use serde_json::{json, Value};
use umsgate::chinaums::sign::new_nonce;
use umsgate::chinaums::time;
use umsgate::chinaums::wire::TokenRequest;
use umsgate::domain::order::Source;
use umsgate::store::provider_calls;

use crate::helpers::{capture_logs, eventually, TestApp, TestSandbox, NOTIFY_KEY};

const APP_ID: &str = "10037e6f6823b20801682b6a5e5a0006";
const APP_KEY: &str = "1c4e3b16066244ae9b236a09e5b312e8";

fn bill(id: &str, qr: &str, amount: i64) -> Value {
    json!({"merOrderId": id, "amount": amount, "qrCodeId": qr, "description": "tea"})
}

/// The sandbox's journal of provider calls, for one path.
async fn calls(app: &TestApp, path: &str) -> Vec<Value> {
    let (_, body) = app
        .sandbox_get(&format!("/_sandbox/calls?path={path}"))
        .await;
    body["calls"].as_array().cloned().unwrap_or_default()
}

fn call_log(app: &TestApp, order: &str) -> Vec<provider_calls::Call> {
    provider_calls::list(&mut app.db.conn().unwrap(), Some(order)).unwrap()
}

#[actix_web::test]
async fn binding_a_bill_stores_its_qr_code_and_every_call_verifies_at_the_provider() {
    let app = TestApp::spawn().await;

    let (status, order) = app
        .post_json("/orders", &bill("1017BIND0001", "QRBIND01", 100))
        .await;

    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["binding"], "bound");
    assert!(order["billQRCode"].as_str().unwrap().contains("QRBIND01"));
    assert_eq!(order["billNo"], "1017BIND0001");
    let (_, truth) = app.sandbox_get("/_sandbox/orders/1017BIND0001").await;
    assert_eq!(truth["totalAmount"], 100);
    assert_eq!(truth["notifyUrl"], format!("{}/notify/payment", app.notify));
    let made = calls(&app, "/v1/netpay/bills/update-qrcode").await;
    assert_eq!(made.len(), 1);
    assert!(made
        .iter()
        .all(|c| c["authVerified"] == true && c["authScheme"] == "body-sig"));
    let log = call_log(&app, "1017BIND0001");
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].operation.as_str(), log[0].outcome.as_str()),
        ("update-qrcode", "ok")
    );
    assert_eq!(log[0].err_code.as_deref(), Some("SUCCESS"));
}

#[actix_web::test]
async fn a_provider_refusal_is_a_422_and_leaves_an_order_marked_not_bound() {
    let app = TestApp::spawn().await;
    app.post_json("/orders", &bill("1017REFU0001", "QRREFU01", 100))
        .await;

    // The same bill number on the same code again is refused by the provider: a new
    // order whose id the sandbox already holds.
    app.sandbox_post(
        "/_sandbox/orders",
        &json!({"merOrderId": "1017REFU0002", "totalAmount": 5}),
    )
    .await;
    let (status, err) = app
        .post_json("/orders", &bill("1017REFU0002", "QRREFU01", 100))
        .await;

    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["code"], "provider_refused");
    assert_eq!(err["errCode"], "DUP_ORDER");
    let order = app.order("1017REFU0002").await;
    assert_eq!(order["binding"], "refused");
    assert!(order["bindingError"]
        .as_str()
        .unwrap()
        .starts_with("DUP_ORDER"));
    assert_eq!(order["status"], "PENDING");
}

#[actix_web::test]
async fn bind_fields_are_validated_before_anything_is_stored_or_sent() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!({"amount": 1, "memberId": "m1"}), "memberId"),
        (
            json!({"amount": 1, "qrCodeId": "Q1", "memberId": "m".repeat(33)}),
            "memberId",
        ),
        (
            json!({"amount": 1, "qrCodeId": "Q1", "walletOption": "BOTH"}),
            "walletOption",
        ),
        // The sandbox reads the seed example's 10; the gateway sends only 3, 6 or 12.
        (
            json!({"amount": 1, "qrCodeId": "Q1", "installmentNumber": 10}),
            "installmentNumber",
        ),
        (
            json!({"amount": 1, "qrCodeId": "Q1", "buyer": {"mobile": "1".repeat(20)}}),
            "buyer.mobile",
        ),
        (
            json!({"amount": 1, "qrCodeId": "Q1", "buyer": {"nickname": "x"}}),
            "buyer.nickname",
        ),
        (
            json!({"amount": 1, "qrCodeId": "Q1", "goods": [{"price": 3}]}),
            "goods[0].price",
        ),
    ];

    for (body, field) in cases {
        let (status, err) = app.post_json("/orders", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {err}");
        assert_eq!(err["field"], field, "{body}: {err}");
        assert!(
            !err.to_string().contains("11111111111111111111"),
            "a buyer field is not echoed"
        );
    }
    assert_eq!(app.order_count(), 0);
    assert!(calls(&app, "/v1/netpay/bills/update-qrcode")
        .await
        .is_empty());
}

#[actix_web::test]
async fn token_mode_makes_one_token_request_for_fifty_concurrent_calls() {
    let app = TestApp::spawn_with(json!({"provider": {"auth": "token"}})).await;

    let bodies: Vec<Value> = (0..50)
        .map(|i| bill(&format!("1017TOKN{i:04}"), &format!("QRTOKN{i:02}"), 10))
        .collect();
    let results =
        futures_util::future::join_all(bodies.iter().map(|b| app.post_json("/orders", b))).await;

    assert!(
        results.iter().all(|(s, _)| *s == StatusCode::CREATED),
        "{results:?}"
    );
    assert_eq!(calls(&app, "/v1/token/access").await.len(), 1);
    let binds = calls(&app, "/v1/netpay/bills/update-qrcode").await;
    assert_eq!(binds.len(), 50);
    assert!(binds
        .iter()
        .all(|c| c["authScheme"] == "token" && c["authVerified"] == true));
}

#[actix_web::test]
async fn a_token_the_provider_expired_is_refreshed_once_and_the_call_succeeds() {
    // The provider keeps one live token per appId here: taking a token ourselves expires
    // the gateway's.
    let app = TestApp::spawn_with(
        json!({"provider": {"auth": "token"}, "sandbox": {"max_tokens_per_app": 1}}),
    )
    .await;
    app.post_json("/orders", &bill("1017TEXP0001", "QRTEXP01", 10))
        .await;
    let req = TokenRequest::new(
        APP_ID,
        APP_KEY,
        &time::format_compact(umsgate::clock::Clock::system().now()),
        &new_nonce(),
    );
    let (status, _) = app
        .sandbox_post("/v1/token/access", &serde_json::to_value(&req).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, order) = app
        .post_json("/orders", &bill("1017TEXP0002", "QRTEXP02", 10))
        .await;

    assert_eq!(status, StatusCode::CREATED, "{order}");
    let binds = calls(&app, "/v1/netpay/bills/update-qrcode").await;
    let refused: Vec<_> = binds
        .iter()
        .filter(|c| c["authVerified"] == false)
        .collect();
    assert_eq!(
        refused.len(),
        1,
        "the stale token was refused once: {binds:?}"
    );
    assert_eq!(refused[0]["errCode"], "1005");
    // Ours twice (first call, refresh after the refusal) and the test's own.
    assert_eq!(calls(&app, "/v1/token/access").await.len(), 3);
}

#[actix_web::test]
async fn a_wrong_app_key_is_a_clear_configuration_error_with_a_call_log_row() {
    let sandbox = TestSandbox::spawn().await;
    let app = TestApp::on_remote(
        &sandbox.url,
        json!({"provider": {"app_key": "00000000000000000000000000000000"}}),
    )
    .await;

    let (status, err) = app
        .post_json("/orders", &bill("1017WKEY0001", "QRWKEY01", 100))
        .await;

    assert_eq!(status, StatusCode::BAD_GATEWAY, "{err}");
    assert_eq!(err["code"], "provider_misconfigured");
    assert!(err["message"].as_str().unwrap().contains("credentials"));
    let log = call_log(&app, "1017WKEY0001");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, "config");
    assert_eq!(log[0].http_status, Some(401));
    assert_eq!(app.order("1017WKEY0001").await["binding"], "refused");
}

#[actix_web::test]
async fn a_query_that_times_out_is_reported_as_unknown_not_as_failure() {
    let sandbox = TestSandbox::spawn_with(json!({"faults": {"query_timeout_rate": 1.0}})).await;
    let app = TestApp::on_remote(&sandbox.url, json!({"provider": {"timeout_ms": 200}})).await;
    app.post_json(
        "/orders",
        &json!({"merOrderId": "1017TOUT0001", "amount": 5}),
    )
    .await;

    let (status, check) = app
        .admin_post("/admin/orders/1017TOUT0001/resync", &json!({}))
        .await;

    assert_eq!(status, StatusCode::OK, "{check}");
    assert_eq!(check["outcome"], "unknown");
    assert_eq!(check["after"]["status"], "PENDING");
    let log = call_log(&app, "1017TOUT0001");
    assert!(!log.is_empty());
    assert!(
        log.iter()
            .all(|c| c.outcome == "unknown" && c.http_status.is_none()),
        "{log:?}"
    );
}

#[actix_web::test]
async fn a_bind_with_no_answer_keeps_the_order_pending_with_its_binding_unknown() {
    // A peer that accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let app = TestApp::on_remote(&url, json!({"provider": {"timeout_ms": 200}})).await;

    let (status, order) = app
        .post_json("/orders", &bill("1017SLNT0001", "QRSLNT01", 100))
        .await;

    assert_eq!(status, StatusCode::ACCEPTED, "{order}");
    assert_eq!(order["binding"], "unknown");
    assert_eq!(order["status"], "PENDING");
    assert!(
        order["reconcile"]["nextCheckAt"].is_string(),
        "due for a check"
    );
    let log = call_log(&app, "1017SLNT0001");
    assert_eq!(log.len(), 1, "never repeated blindly");
    assert_eq!(log[0].outcome, "unknown");
    drop(silent);
}

/// Pays `id` at the sandbox as a pre-authorisation and waits for the gateway to see it.
async fn authorised(app: &TestApp, id: &str, qr: &str, amount: i64) {
    let mut body = bill(id, qr, amount);
    body["preauth"] = json!(true);
    let (status, created) = app.post_json("/orders", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, paid) = app
        .sandbox_post(
            &format!("/_sandbox/orders/{id}/pay"),
            &json!({"preauth": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    eventually("the order is AUTHORIZED", || async {
        app.order(id).await["status"] == "AUTHORIZED"
    })
    .await;
}

#[actix_web::test]
async fn a_preauthorised_payment_is_completed_through_the_gateway_and_becomes_paid() {
    let app = TestApp::spawn().await;
    authorised(&app, "1017PREA0001", "QRPREA01", 100).await;

    let (status, order) = app
        .post_json(
            "/orders/1017PREA0001/preauth-completion",
            &json!({"amount": 60}),
        )
        .await;

    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["status"], "PAID");
    assert_eq!(order["paidAmount"], 60);
    let completion = order["completionOrderId"].as_str().unwrap().to_owned();
    let (_, truth) = app
        .sandbox_get(&format!("/_sandbox/orders/{completion}"))
        .await;
    assert_eq!(truth["completion"]["amount"], 60, "{truth}");
    let (_, events) = app.get("/orders/1017PREA0001/events").await;
    let last = events["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["from"].as_str(), last["to"].as_str()),
        (Some("AUTHORIZED"), Some("PAID"))
    );
    assert_eq!(last["source"], Source::Preauth.as_str());
    assert!(last["evidence"].as_str().unwrap().starts_with("call:"));
}

#[actix_web::test]
async fn concurrent_completions_of_one_order_send_one_completion_to_the_provider() {
    // Arrange
    let app = TestApp::spawn().await;
    authorised(&app, "1017PREC0001", "QRPREC01", 100).await;

    // Act: ten requests at once.
    let empty = json!({});
    let answers = futures_util::future::join_all(
        (0..10).map(|_| app.post_json("/orders/1017PREC0001/preauth-completion", &empty)),
    )
    .await;

    // Assert: one completed it; the others were told to retry (or saw it done), and the
    // provider was asked once.
    let ok: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .map(|(_, body)| body)
        .collect();
    assert!(!ok.is_empty(), "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(s, _)| *s == StatusCode::OK || *s == StatusCode::CONFLICT),
        "{answers:?}"
    );
    assert_eq!(calls(&app, "/v1/netpay/preauthed").await.len(), 1);
    let order = app.order("1017PREC0001").await;
    assert_eq!(order["status"], "PAID");
    assert!(ok
        .iter()
        .all(|o| o["completionOrderId"] == order["completionOrderId"]));
}

#[actix_web::test]
async fn completion_is_refused_without_calling_out_unless_the_order_is_authorised() {
    let app = TestApp::spawn().await;
    app.post_json("/orders", &bill("1017PREB0001", "QRPREB01", 100))
        .await;
    authorised(&app, "1017PREB0002", "QRPREB02", 100).await;

    let (pending, err) = app
        .post_json("/orders/1017PREB0001/preauth-completion", &json!({}))
        .await;
    let (too_much, err2) = app
        .post_json(
            "/orders/1017PREB0002/preauth-completion",
            &json!({"amount": 101}),
        )
        .await;
    let (unknown, _) = app
        .post_json("/orders/1017NOSUCH01/preauth-completion", &json!({}))
        .await;

    assert_eq!(pending, StatusCode::CONFLICT, "{err}");
    assert_eq!(too_much, StatusCode::BAD_REQUEST, "{err2}");
    assert_eq!(err2["field"], "amount");
    assert_eq!(unknown, StatusCode::NOT_FOUND);
    assert!(calls(&app, "/v1/netpay/preauthed").await.is_empty());
}

#[actix_web::test]
async fn no_log_line_of_a_full_cycle_carries_a_secret_or_a_buyers_field() {
    // Arrange: capture every log line, at every level, from here on.
    let logs = capture_logs();
    let app = TestApp::spawn_with(json!({"provider": {"auth": "token"}})).await;
    let buyer = json!({"name": "张三丰", "mobile": "13912345678", "certType": "IDENTITY_CARD", "certNo": "110101199003077777"});
    let mut body = bill("1017LOGS0001", "QRLOGS01", 100);
    body["preauth"] = json!(true);
    body["buyer"] = buyer;

    // Act: bind (token fetched), pay with pre-auth (notification), query, complete.
    let (status, _) = app.post_json("/orders", &body).await;
    assert_eq!(status, StatusCode::CREATED);
    app.sandbox_post(
        "/_sandbox/orders/1017LOGS0001/pay",
        &json!({"preauth": true}),
    )
    .await;
    eventually("authorised", || async {
        app.order("1017LOGS0001").await["status"] == "AUTHORIZED"
    })
    .await;
    let (status, _) = app
        .admin_post("/admin/orders/1017LOGS0001/resync", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, done) = app
        .post_json("/orders/1017LOGS0001/preauth-completion", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");

    // Assert
    let text = logs.lock().unwrap().clone();
    assert!(
        text.contains("provider update-qrcode order=1017LOGS0001"),
        "the cycle was captured"
    );
    assert!(
        text.contains("provider token"),
        "the token fetch was captured"
    );
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for secret in [
        APP_KEY.to_owned(),
        NOTIFY_KEY.to_owned(),
        "张三丰".to_owned(),
        b64("张三丰"),
        "13912345678".to_owned(),
        b64("13912345678"),
        "110101199003077777".to_owned(),
        b64("110101199003077777"),
        "Signature=".to_owned(),
        "AccessToken=".to_owned(),
        "sign=".to_owned(),
    ] {
        assert!(!text.contains(&secret), "a log line carries {secret:?}");
    }
}

#[actix_web::test]
async fn a_completion_whose_answer_was_lost_is_resolved_by_querying_its_own_id_never_by_repeating_it(
) {
    let app = TestApp::spawn_with(json!({
        "provider": {"timeout_ms": 150},
        "sandbox": {"query_timeout_hold": "1s"},
        "reconcile": {"first_check_after": "0s", "max_qps": 1000},
    }))
    .await;
    authorised(&app, "1017PREL0001", "QRPREL01", 100).await;
    authorised(&app, "1017PREL0002", "QRPREL02", 100).await;
    app.sandbox_post("/_sandbox/faults", &json!({"answerLossRate": 1.0}))
        .await;

    let (s1, first) = app
        .post_json("/orders/1017PREL0001/preauth-completion", &json!({}))
        .await;
    let (s2, second) = app
        .post_json("/orders/1017PREL0002/preauth-completion", &json!({}))
        .await;
    app.sandbox_post("/_sandbox/faults", &json!({"answerLossRate": 0.0}))
        .await;
    // One is found by the caller asking again, the other by the reconciler.
    let (again, retried) = app
        .post_json("/orders/1017PREL0002/preauth-completion", &json!({}))
        .await;
    app.reconcile().await;
    let (repeat, repeated) = app
        .post_json("/orders/1017PREL0001/preauth-completion", &json!({}))
        .await;

    assert_eq!(
        (s1, first["status"].as_str()),
        (StatusCode::ACCEPTED, Some("AUTHORIZED")),
        "{first}"
    );
    assert_eq!(
        (s2, second["status"].as_str()),
        (StatusCode::ACCEPTED, Some("AUTHORIZED")),
        "{second}"
    );
    assert!(first["completionOrderId"].is_string());
    assert_eq!(app.order("1017PREL0001").await["status"], "PAID");
    assert_eq!(again, StatusCode::OK, "{retried}");
    assert_eq!(retried["status"], "PAID");
    assert_eq!(
        retried["completionOrderId"], second["completionOrderId"],
        "the same completion, not a second one"
    );
    assert_eq!(
        (repeat, repeated["status"].as_str()),
        (StatusCode::OK, Some("PAID")),
        "asking again after completion"
    );
    assert_eq!(
        calls(&app, "/v1/netpay/preauthed").await.len(),
        2,
        "one completion call per order"
    );
}
