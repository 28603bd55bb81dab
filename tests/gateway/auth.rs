//! The API's bearer authentication on the running gateway (`api.tokens`,
//! `api.metrics_token`): who is refused and how, who is admitted, what stays open, and what
//! the access log says about it. Owns nothing else; production's refusals to start without
//! it are in `startup`.

use awc::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{capture_logs, json_answer, TestApp, ADMIN_TOKEN};

/// The token of the backend `pos` of these tests.
const POS_TOKEN: &str = "pos-backend-token-7Hq2Lz9Wm4";
/// The token of the backend `erp`.
const ERP_TOKEN: &str = "erp-backend-token-3Tn6Vb8Xr1";
/// The scraper's token for `/metrics`.
const METRICS_TOKEN: &str = "metrics-token-5Kp9Rs2Jc7Ya";

/// A gateway whose API takes the backends `pos` and `erp` and the scraper's token.
async fn authenticated_app() -> TestApp {
    TestApp::spawn_with(json!({"api": {
        "tokens": [
            {"name": "pos", "token": POS_TOKEN},
            {"name": "erp", "token": ERP_TOKEN},
        ],
        "metrics_token": METRICS_TOKEN,
    }}))
    .await
}

/// `method path` on the api listener with `Authorization: <authorization>` when given and
/// the request id `id`: its status, `WWW-Authenticate` and JSON body (`null` if none).
async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    id: &str,
) -> (StatusCode, Option<String>, Value) {
    let client = awc::Client::default();
    let method = awc::http::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut req = client
        .request(method, format!("{}{path}", app.api))
        .insert_header(("x-request-id", id));
    if let Some(a) = authorization {
        req = req.insert_header(("Authorization", a));
    }
    let mut res = req.send().await.expect("an answer");
    let challenge = res
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = res.body().await.expect("a body");
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (res.status(), challenge, json)
}

/// The access log's line for the request `id` (`id=<id> ` is unique to it).
fn access_line(logs: &std::sync::Mutex<String>, id: &str) -> String {
    let text = logs.lock().unwrap_or_else(|e| e.into_inner()).clone();
    text.lines()
        .find(|l| l.contains(&format!("id={id} ")))
        .unwrap_or_else(|| panic!("no access log line for {id}"))
        .to_owned()
}

#[actix_web::test]
async fn every_backend_route_answers_401_with_a_bearer_challenge_without_a_token_or_with_a_wrong_one(
) {
    // Arrange
    let app = authenticated_app().await;
    let wrong: Vec<Option<String>> = vec![
        None,
        Some("Bearer not-a-token-of-anyone".into()),
        Some(format!("Bearer {POS_TOKEN}x")),
        Some(format!("Basic {POS_TOKEN}")),
        // An operator's token is not a backend's.
        Some(format!("Bearer {ADMIN_TOKEN}")),
    ];
    let routes = [
        ("GET", "/orders"),
        ("POST", "/orders"),
        ("GET", "/orders/10170000000001"),
        ("GET", "/orders/10170000000001/events"),
        ("POST", "/orders/10170000000001/preauth-completion"),
        ("GET", "/contracts/C1"),
        ("GET", "/events"),
        ("GET", "/metrics"),
        // An unknown route does not tell that it is unknown.
        ("GET", "/no-such-route"),
    ];

    for (method, path) in routes {
        for authorization in &wrong {
            // Act
            let (status, challenge, body) =
                call(&app, method, path, authorization.as_deref(), "refused").await;

            // Assert
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} {authorization:?}"
            );
            assert_eq!(challenge.as_deref(), Some("Bearer"), "{method} {path}");
            assert_eq!(body["code"], "unauthorized", "{method} {path}: {body}");
        }
    }
    assert_eq!(app.order_count(), 0, "nothing was created");
}

#[actix_web::test]
async fn a_backends_token_is_admitted_and_the_access_log_names_the_backend_and_never_the_token() {
    // Arrange
    let logs = capture_logs();
    let app = authenticated_app().await;
    let id = format!("auth-{}", uuid::Uuid::new_v4().simple());

    // Act
    let (created, _) = json_answer(
        awc::Client::default()
            .post(format!("{}/orders", app.api))
            .insert_header(("Authorization", format!("Bearer {ERP_TOKEN}")))
            .insert_header(("x-request-id", format!("{id}-create")))
            .send_json(&json!({"amount": 100})),
    )
    .await;
    let bearer = format!("bearer {POS_TOKEN}");
    let (listed, _, body) = call(&app, "GET", "/orders", Some(&bearer), &id).await;
    let (unknown, _, _) = call(&app, "GET", "/no-such-route", Some(&bearer), "unknown").await;

    // Assert
    assert_eq!(created, StatusCode::CREATED);
    assert_eq!(listed, StatusCode::OK);
    assert_eq!(body["orders"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(unknown, StatusCode::NOT_FOUND);
    let line = access_line(logs, &id);
    assert!(
        line.contains("\"GET /orders\" 200") && line.ends_with("backend=pos"),
        "{line}"
    );
    let line = access_line(logs, &format!("{id}-create"));
    assert!(line.ends_with("backend=erp"), "{line}");
    let all = logs.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for token in [POS_TOKEN, ERP_TOKEN, METRICS_TOKEN] {
        assert!(!all.contains(token), "a token reached the log");
    }
}

#[actix_web::test]
async fn healthz_and_readyz_stay_open_and_metrics_takes_its_own_token_or_a_backends() {
    // Arrange
    let logs = capture_logs();
    let app = authenticated_app().await;
    let id = format!("scrape-{}", uuid::Uuid::new_v4().simple());

    // Act
    let (healthz, _, _) = call(&app, "GET", "/healthz", None, "open").await;
    let (readyz, _, _) = call(&app, "GET", "/readyz", None, "open").await;
    let scraper = format!("Bearer {METRICS_TOKEN}");
    let (scraped, _, _) = call(&app, "GET", "/metrics", Some(&scraper), &id).await;
    let backend = format!("Bearer {POS_TOKEN}");
    let (by_backend, _, _) = call(&app, "GET", "/metrics", Some(&backend), "by-pos").await;
    // The scraper's token opens /metrics only.
    let (orders, _, _) = call(&app, "GET", "/orders", Some(&scraper), "scraper-orders").await;

    // Assert
    assert_eq!(healthz, StatusCode::OK);
    assert_eq!(readyz, StatusCode::OK);
    assert_eq!(scraped, StatusCode::OK);
    assert_eq!(by_backend, StatusCode::OK);
    assert_eq!(orders, StatusCode::UNAUTHORIZED);
    assert!(access_line(logs, &id).ends_with("backend=metrics"));
}

#[actix_web::test]
async fn the_operators_routes_take_the_operators_tokens_and_not_the_backends() {
    // Arrange
    let app = authenticated_app().await;

    // Act
    let (by_backend, _) = app
        .get_authorized("/admin/notifications", Some(&format!("Bearer {POS_TOKEN}")))
        .await;
    let (by_operator, _) = app.admin_get("/admin/notifications").await;

    // Assert
    assert_eq!(by_backend, StatusCode::UNAUTHORIZED);
    assert_eq!(by_operator, StatusCode::OK);
}

#[actix_web::test]
async fn a_loopback_api_without_tokens_stays_open_and_logs_no_backend() {
    // Arrange
    let logs = capture_logs();
    let app = TestApp::spawn().await;
    let id = format!("open-{}", uuid::Uuid::new_v4().simple());

    // Act
    let (status, _, _) = call(&app, "GET", "/orders", None, &id).await;

    // Assert
    assert_eq!(status, StatusCode::OK);
    assert!(access_line(logs, &id).ends_with("backend=-"));
}
