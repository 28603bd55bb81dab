//! Real provider answers against a small independent test provider (raw JSON written by
//! hand): the seed's own example answer verbatim, the shapes public code shows, answers
//! about something else, and answers that omit `errCode`.

use std::collections::HashMap;

use serde_json::{json, Value};
use umsgate::store::provider_calls;

use crate::helpers::{TestApp, TestProvider};

/// The seed's mini-pre-query example answer, verbatim (its `totalAmount` is a string).
const SEED_ANSWER: &str = include_str!("../data/mini-pre-query-answer.json");
const MINI_PRE_QUERY: &str = "/v1/netpay/wx/mini-pre-query";

/// A test provider whose mini-pre-query answers each asked `merOrderId` with its entry
/// in `answers` (`NO_ORDER` for any other).
fn provider(answers: &[(&str, String)]) -> TestProvider {
    let answers: HashMap<String, String> = answers
        .iter()
        .map(|(id, body)| ((*id).to_owned(), body.clone()))
        .collect();
    TestProvider::start(move |_, request| {
        let asked = request["merOrderId"].as_str().unwrap_or_default();
        answers
            .get(asked)
            .cloned()
            .unwrap_or_else(|| r#"{"errCode":"NO_ORDER","errMsg":"no order"}"#.to_owned())
    })
}

async fn create(app: &TestApp, id: &str, amount: i64) {
    let (status, body) = app
        .post_json("/orders", &json!({"merOrderId": id, "amount": amount}))
        .await;
    assert!(status.is_success(), "{body}");
}

async fn resync(app: &TestApp, id: &str) -> Value {
    let (status, check) = app
        .admin_post(&format!("/admin/orders/{id}/resync"), &json!({}))
        .await;
    assert!(status.is_success(), "{check}");
    check
}

fn outcomes(app: &TestApp, id: &str) -> Vec<String> {
    let mut conn = app.db.conn().expect("connection");
    provider_calls::list(&mut conn, Some(id))
        .expect("calls")
        .into_iter()
        .map(|c| c.outcome)
        .collect()
}

#[actix_web::test]
async fn the_seeds_own_example_answer_is_read_not_thrown_away() {
    let provider = provider(&[("319420230831135026", SEED_ANSWER.to_owned())]);
    let app = provider
        .gateway(json!({"provider": {"msg_src_id": "3194"}}))
        .await;
    create(&app, "319420230831135026", 1).await;

    let check = resync(&app, "319420230831135026").await;

    assert_ne!(check["outcome"], "unknown", "{check}");
    assert_eq!(outcomes(&app, "319420230831135026"), ["ok"]);
    assert_eq!(
        check["after"]["status"], "PENDING",
        "status \"\" says nothing"
    );
    let asked = provider.requests(MINI_PRE_QUERY);
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0]["merOrderId"], "319420230831135026");
}

#[actix_web::test]
async fn an_answer_about_another_order_merchant_or_terminal_is_unknown_and_counted() {
    let paid = |id: &str, mid: &str, tid: &str| {
        format!(
            r#"{{"errCode":"SUCCESS","merOrderId":"{id}","mid":"{mid}","tid":"{tid}","status":"TRADE_SUCCESS","totalAmount":5,"payTime":"2026-01-01 12:00:00","targetOrderId":"4200001"}}"#
        )
    };
    let provider = provider(&[
        (
            "1017ELSE0001",
            paid("1017ELSE0009", "898340149000005", "88880001"),
        ),
        (
            "1017ELSE0002",
            paid("1017ELSE0002", "898340149000006", "88880001"),
        ),
        (
            "1017ELSE0003",
            paid("1017ELSE0003", "898340149000005", "88880002"),
        ),
        (
            "1017ELSE0004",
            paid("1017ELSE0004", "898340149000005", "88880001"),
        ),
    ]);
    let app = provider.gateway(json!({})).await;
    for id in [
        "1017ELSE0001",
        "1017ELSE0002",
        "1017ELSE0003",
        "1017ELSE0004",
    ] {
        create(&app, id, 5).await;
    }

    let mut checks = Vec::new();
    for id in [
        "1017ELSE0001",
        "1017ELSE0002",
        "1017ELSE0003",
        "1017ELSE0004",
    ] {
        checks.push(resync(&app, id).await);
    }

    for check in &checks[..3] {
        assert_eq!(check["outcome"], "unknown", "{check}");
        assert_eq!(check["after"]["status"], "PENDING", "{check}");
    }
    assert_eq!(
        checks[3]["after"]["status"], "PAID",
        "the control: same answer, right ids"
    );
    let (_, metrics) = app.get_text(&app.api, "/metrics").await;
    for field in ["merOrderId", "mid", "tid"] {
        let line = format!(
            "umsgate_provider_answers_elsewhere_total{{field=\"{field}\",operation=\"mini-pre-query\"}} "
        );
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with(&line) && !l.ends_with(" 0")),
            "{field}: {metrics}"
        );
    }
}

#[actix_web::test]
async fn a_paid_answer_without_err_code_is_read() {
    let provider = provider(&[(
        "1017NOEC0001",
        r#"{"merOrderId":"1017NOEC0001","status":"TRADE_SUCCESS","totalAmount":"5","payTime":"2026-01-01 12:00:00","targetOrderId":"4200001"}"#.to_owned(),
    ), (
        "1017NOEC0002",
        r#"{"merOrderId":"1017NOEC0002","totalAmount":"5"}"#.to_owned(),
    )]);
    let app = provider.gateway(json!({})).await;
    create(&app, "1017NOEC0001", 5).await;
    create(&app, "1017NOEC0002", 5).await;

    let with_status = resync(&app, "1017NOEC0001").await;
    let without = resync(&app, "1017NOEC0002").await;

    assert_eq!(with_status["after"]["status"], "PAID", "{with_status}");
    assert_eq!(
        without["outcome"], "unknown",
        "no errCode, no result: says nothing"
    );
}

#[actix_web::test]
async fn optional_fields_of_odd_shapes_do_not_throw_a_paid_answer_away() {
    let provider = provider(&[(
        "1017ODD00001",
        r#"{"errCode":"SUCCESS","merOrderId":"1017ODD00001","status":"TRADE_SUCCESS","totalAmount":"5",
            "couponAmount":"0.00","buyerPayAmount":"0.05","payTime":"2026-01-01 12:00:00","targetOrderId":"4200001",
            "billPayment":"{\"merOrderId\":\"1017ODD000010\",\"couponAmount\":\"0.00\",\"payTime\":1767240000}"}"#.to_owned(),
    ), (
        "1017ODD00002",
        r#"{"errCode":"SUCCESS","merOrderId":"1017ODD00002","status":"TRADE_SUCCESS","totalAmount":5,
            "payTime":"2026-01-01 12:00:00","targetOrderId":"4200002","billPayment":""}"#.to_owned(),
    )]);
    let app = provider.gateway(json!({})).await;
    create(&app, "1017ODD00001", 5).await;
    create(&app, "1017ODD00002", 5).await;

    let as_text = resync(&app, "1017ODD00001").await;
    let empty = resync(&app, "1017ODD00002").await;

    assert_eq!(as_text["after"]["status"], "PAID", "{as_text}");
    assert_eq!(empty["after"]["status"], "PAID", "{empty}");
}

#[actix_web::test]
async fn a_decimal_amount_in_a_paid_answer_is_never_guessed_the_order_is_flagged() {
    let provider = provider(&[(
        "1017DEC00001",
        r#"{"errCode":"SUCCESS","merOrderId":"1017DEC00001","status":"TRADE_SUCCESS","totalAmount":"5.00",
            "payTime":"2026-01-01 12:00:00","targetOrderId":"4200001"}"#.to_owned(),
    )]);
    let app = provider.gateway(json!({})).await;
    create(&app, "1017DEC00001", 5).await;

    let check = resync(&app, "1017DEC00001").await;

    assert_eq!(check["after"]["status"], "PENDING", "{check}");
    assert_eq!(check["after"]["needsReview"], true, "{check}");
    assert_eq!(
        outcomes(&app, "1017DEC00001"),
        ["ok"],
        "read, not thrown away"
    );
}
