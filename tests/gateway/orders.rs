//! The orders API: create, read, list, history, idempotency, bad input.

use awc::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{test_settings, TestApp};

#[actix_web::test]
async fn an_order_is_created_with_201_and_reads_back_as_created() {
    // Arrange
    let app = TestApp::spawn().await;
    let body = json!({"merOrderId": "1017TEST000001", "amount": 100, "description": "green tea"});

    // Act
    let (status, created) = app.post_json("/orders", &body).await;
    let (read_status, read) = app.get("/orders/1017TEST000001").await;

    // Assert
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "PENDING");
    assert_eq!(created["amount"], 100);
    assert_eq!(created["refundedAmount"], 0);
    assert_eq!(created["binding"], "none");
    assert_eq!(created["version"], 1);
    assert_eq!(read_status, StatusCode::OK);
    assert_eq!(read, created);
}

#[actix_web::test]
async fn an_order_without_an_id_gets_a_generated_28_character_one() {
    let app = TestApp::spawn().await;

    let (status, created) = app.post_json("/orders", &json!({"amount": 1})).await;

    assert_eq!(status, StatusCode::CREATED);
    let id = created["merOrderId"].as_str().unwrap();
    assert_eq!(id.len(), 28);
    assert!(id.starts_with("1017"));
}

#[actix_web::test]
async fn the_same_request_again_answers_200_with_the_stored_order() {
    let app = TestApp::spawn().await;
    let body = json!({"merOrderId": "1017SAME0001", "amount": 250, "expiresInSeconds": 600});
    let (_, first) = app.post_json("/orders", &body).await;

    // The same content, keys in another order.
    let again = r#"{"expiresInSeconds":600,"amount":250,"merOrderId":"1017SAME0001"}"#;
    let (status, second) = app
        .post_raw(&app.api, "/orders", again.into(), "application/json")
        .await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(second, first);
    assert_eq!(app.order_count(), 1);
}

#[actix_web::test]
async fn the_same_id_with_another_body_is_a_409_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (_, first) = app
        .post_json(
            "/orders",
            &json!({"merOrderId": "1017CONF0001", "amount": 100}),
        )
        .await;

    let (status, err) = app
        .post_json(
            "/orders",
            &json!({"merOrderId": "1017CONF0001", "amount": 101}),
        )
        .await;
    let (_, stored) = app.get("/orders/1017CONF0001").await;

    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(err["code"], "conflict");
    assert_eq!(stored, first);
}

#[actix_web::test]
async fn fifty_concurrent_creates_of_one_order_make_one_order() {
    let app = TestApp::spawn().await;
    let body = json!({"merOrderId": "1017RACE0001", "amount": 100});

    let results =
        futures_util::future::join_all((0..50).map(|_| app.post_json("/orders", &body))).await;

    let created = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let repeated = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!((created, repeated), (1, 49));
    assert_eq!(app.order_count(), 1);
    let (_, events) = app.get("/orders/1017RACE0001/events").await;
    assert_eq!(events["events"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn concurrent_creates_without_ids_all_get_distinct_ids() {
    let app = TestApp::spawn().await;

    let body = json!({"amount": 5});
    let results =
        futures_util::future::join_all((0..40).map(|_| app.post_json("/orders", &body))).await;

    let mut ids: Vec<String> = results
        .iter()
        .map(|(s, b)| {
            assert_eq!(*s, StatusCode::CREATED, "{b}");
            b["merOrderId"].as_str().unwrap().to_owned()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40);
    assert_eq!(app.order_count(), 40);
}

#[actix_web::test]
async fn every_bad_input_is_a_400_naming_the_field_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let raw_cases: [(&str, &str, &str); 3] = [
        ("{amount", "invalid_json", ""),
        ("[1,2]", "invalid_json", ""),
        ("", "invalid_json", ""),
    ];
    let json_cases: Vec<(Value, &str)> = vec![
        (json!({}), "amount"),
        (json!({"amount": null}), "amount"),
        (json!({"amount": 0}), "amount"),
        (json!({"amount": -1}), "amount"),
        (json!({"amount": 1.5}), "amount"),
        (json!({"amount": "12a"}), "amount"),
        (json!({"amount": 1_000_001}), "amount"),
        (json!({"amount": true}), "amount"),
        (
            json!({"amount": 1, "merOrderId": "2000ABCDEF"}),
            "merOrderId",
        ),
        (json!({"amount": 1, "merOrderId": "1017a"}), "merOrderId"),
        (
            json!({"amount": 1, "merOrderId": "1017-abc-def"}),
            "merOrderId",
        ),
        (
            json!({"amount": 1, "merOrderId": format!("1017{}", "9".repeat(29))}),
            "merOrderId",
        ),
        (json!({"amount": 1, "merOrderId": 1017123456}), "merOrderId"),
        (json!({"amount": 1, "expireTime": "tomorrow"}), "expireTime"),
        (
            json!({"amount": 1, "expireTime": "2026-13-01 00:00:00"}),
            "expireTime",
        ),
        (
            json!({"amount": 1, "expireTime": "2020-01-01 00:00:00"}),
            "expireTime",
        ),
        (
            json!({"amount": 1, "expireTime": "2099-01-01 00:00:00", "expiresInSeconds": 60}),
            "expireTime",
        ),
        (
            json!({"amount": 1, "expiresInSeconds": 0}),
            "expiresInSeconds",
        ),
        (
            json!({"amount": 1, "expiresInSeconds": "60"}),
            "expiresInSeconds",
        ),
        (
            json!({"amount": 1, "description": "x".repeat(256)}),
            "description",
        ),
        (json!({"amount": 1, "qrCodeId": ""}), "qrCodeId"),
        (json!({"amount": 1, "qrCodeId": "x".repeat(33)}), "qrCodeId"),
        (
            json!({"amount": 1, "qrCodeId": "Q1", "merOrderId": format!("1017{}", "9".repeat(28))}),
            "merOrderId",
        ),
        (json!({"amount": 1, "instMid": "QR"}), "instMid"),
        (json!({"amount": 1, "preauth": "yes"}), "preauth"),
        (json!({"amount": 1, "surprise": 1}), "surprise"),
    ];

    for (raw, code, _) in raw_cases {
        let (status, err) = app
            .post_raw(&app.api, "/orders", raw.into(), "application/json")
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{raw}: {err}");
        assert_eq!(err["code"], code, "{raw}: {err}");
    }
    for (body, field) in json_cases {
        let (status, err) = app.post_json("/orders", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {err}");
        assert_eq!(err["code"], "invalid_field", "{body}: {err}");
        assert_eq!(err["field"], field, "{body}: {err}");
        assert!(
            err["message"].as_str().unwrap().starts_with(field),
            "{body}: {err}"
        );
    }
    assert_eq!(app.order_count(), 0);
}

#[actix_web::test]
async fn a_body_over_the_limit_is_a_413() {
    let app = TestApp::spawn_with(json!({"api": {"max_body_bytes": 1024}})).await;
    let big = json!({"amount": 1, "description": "x".repeat(2000)});

    let (status, err) = app.post_json("/orders", &big).await;

    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(err["code"], "payload_too_large");
    assert_eq!(app.order_count(), 0);
}

#[actix_web::test]
async fn an_unknown_order_is_a_404_and_a_malformed_id_a_400() {
    let app = TestApp::spawn().await;

    let (unknown, err) = app.get("/orders/1017NOSUCH01").await;
    let (malformed, err2) = app.get("/orders/10-17").await;

    assert_eq!(unknown, StatusCode::NOT_FOUND);
    assert_eq!(err["code"], "not_found");
    assert_eq!(malformed, StatusCode::BAD_REQUEST);
    assert_eq!(err2["field"], "merOrderId");
}

#[actix_web::test]
async fn the_list_filters_by_status_and_pages_by_id() {
    let app = TestApp::spawn().await;
    for i in 0..5 {
        app.post_json(
            "/orders",
            &json!({"merOrderId": format!("1017LIST{i:04}"), "amount": 10}),
        )
        .await;
    }

    let (s1, page1) = app.get("/orders?limit=3").await;
    let after = page1["nextAfter"].as_str().unwrap().to_owned();
    let (_, page2) = app.get(&format!("/orders?limit=3&after={after}")).await;
    let (_, paid) = app.get("/orders?status=PAID").await;
    let (_, review) = app.get("/orders?needsReview=false&limit=10").await;
    let (bad, err) = app.get("/orders?status=SHIPPED").await;
    let (bad_limit, _) = app.get("/orders?limit=0").await;

    assert_eq!(s1, StatusCode::OK);
    let ids = |p: &Value| -> Vec<String> {
        p["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["merOrderId"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(&page1),
        ["1017LIST0000", "1017LIST0001", "1017LIST0002"]
    );
    assert_eq!(ids(&page2), ["1017LIST0003", "1017LIST0004"]);
    assert_eq!(page2["nextAfter"], Value::Null);
    assert!(ids(&paid).is_empty());
    assert_eq!(ids(&review).len(), 5);
    assert_eq!(
        (bad, err["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("status"))
    );
    assert_eq!(bad_limit, StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn the_history_starts_with_the_creation() {
    let app = TestApp::spawn().await;
    app.post_json(
        "/orders",
        &json!({"merOrderId": "1017HIST0001", "amount": 10}),
    )
    .await;

    let (status, body) = app.get("/orders/1017HIST0001/events").await;

    assert_eq!(status, StatusCode::OK);
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["from"], Value::Null);
    assert_eq!(events[0]["to"], "PENDING");
    assert_eq!(events[0]["source"], "api");
}

#[actix_web::test]
async fn orders_survive_a_restart_on_the_same_database() {
    let first = TestApp::spawn().await;
    let (_, created) = first
        .post_json(
            "/orders",
            &json!({"merOrderId": "1017KEEP0001", "amount": 42}),
        )
        .await;
    first.stop().await;

    let settings = test_settings(&first.dir, json!({}));
    let second = TestApp::start(settings, first.dir.clone()).await;
    let (status, read) = second.get("/orders/1017KEEP0001").await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, created);
}

#[actix_web::test]
async fn a_method_a_route_does_not_answer_is_a_405_that_names_the_methods_it_does() {
    // Arrange
    let app = TestApp::spawn().await;
    let client = awc::Client::default();

    // Act
    let mut orders = client
        .delete(format!("{}/orders", app.api))
        .send()
        .await
        .unwrap();
    let mut one = client
        .put(format!("{}/orders/1017TEST000001", app.api))
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(orders.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(orders.headers().get("allow").unwrap(), "GET, POST");
    let body: Value = orders.json().await.unwrap();
    assert_eq!(body["code"], "method_not_allowed");
    assert_eq!(one.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(one.headers().get("allow").unwrap(), "GET");
    let body: Value = one.json().await.unwrap();
    assert_eq!(body["message"], "this route answers only GET");
    assert_eq!(app.order_count(), 0);
}
