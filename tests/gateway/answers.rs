//! Real provider messages: answers from a small independent test provider (raw JSON
//! written by hand: the seed's own example answer verbatim, the shapes public code shows,
//! answers about something else, answers that omit `errCode`), and verified notifications
//! whose optional fields have odd shapes or whose signature is SHA-256 without `signType`.

use std::collections::HashMap;

use diesel::RunQueryDsl;
use serde_json::{json, Value};
use umsgate::chinaums::notify_sign::SignType;
use umsgate::store::provider_calls;

use crate::bills;
use crate::conformance;
use crate::helpers::{PaidBill, TestApp, TestProvider};

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
    let provider = provider(&[(
        "319420230831135026",
        conformance::answer("mini-pre-query").to_owned(),
    )]);
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
async fn an_order_stored_for_another_merchant_is_queried_with_its_own_mid_tid_and_inst_mid() {
    let provider = provider(&[]);
    let app = provider.gateway(json!({})).await;
    create(&app, "1017MRCH0001", 100).await;
    diesel::sql_query(
        "UPDATE orders SET mid = '898340149000099', tid = '88880099', inst_mid = 'OTHERDEFAULT' \
         WHERE mer_order_id = '1017MRCH0001'",
    )
    .execute(&mut app.db.conn().expect("connection"))
    .expect("update");

    resync(&app, "1017MRCH0001").await;

    let asked = provider.requests(MINI_PRE_QUERY);
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0]["mid"], "898340149000099");
    assert_eq!(asked[0]["tid"], "88880099");
    assert_eq!(asked[0]["instMid"], "OTHERDEFAULT");
    assert_ne!(app.settings.provider.mid, "898340149000099");
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

async fn notify(app: &TestApp, body: Vec<u8>) -> (u16, String) {
    let (status, reply) = app
        .post_notify(
            "/notify/payment",
            body,
            Some("application/x-www-form-urlencoded"),
        )
        .await;
    (status.as_u16(), reply)
}

#[actix_web::test]
async fn a_verified_notice_with_odd_optional_fields_is_applied_not_refused() {
    let app = TestApp::spawn().await;
    let shapes: [(&str, &[(&str, &str)]); 3] = [
        (
            "1017SHAP0001",
            &[(
                "billPayment",
                r#"{"merOrderId":"1017SHAP00010","status":"TRADE_SUCCESS","totalAmount":100,"couponAmount":"0.00","payTime":1767240000}"#,
            )],
        ),
        ("1017SHAP0002", &[("completeAmount", "0.00")]),
        ("1017SHAP0003", &[("billPayment", "{oops")]),
    ];
    for (id, _) in &shapes {
        let (status, body) = app
            .post_json("/orders", &bills::bill(id, &id.replace("1017", "QR"), 100))
            .await;
        assert!(status.is_success(), "{body}");
    }

    let mut replies = Vec::new();
    for (id, extra) in &shapes {
        let notice = extra
            .iter()
            .fold(PaidBill::bare(id), |notice, (name, value)| {
                notice.field(name, value)
            });
        replies.push(notify(&app, notice.form()).await);
    }

    for ((id, _), reply) in shapes.iter().zip(&replies) {
        assert_eq!(reply, &(200, "SUCCESS".to_owned()), "{id}");
        assert_eq!(app.order(id).await["status"], "PAID", "{id}");
    }
}

#[actix_web::test]
async fn a_sha256_signature_without_sign_type_is_verified_as_sha256() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .post_json("/orders", &bills::bill("1017S256A001", "QRS256A1", 100))
        .await;
    assert!(status.is_success(), "{body}");
    let forged = {
        // An MD5-length garbage signature is still refused.
        let mut body = PaidBill::bare("1017S256A001").form();
        let len = body.len();
        body[len - 1] = if body[len - 1] == b'0' { b'1' } else { b'0' };
        body
    };

    let refused = notify(&app, forged).await;
    let accepted = notify(
        &app,
        PaidBill::bare("1017S256A001")
            .sign_type(SignType::Sha256)
            .form(),
    )
    .await;

    assert_eq!(refused.0, 400);
    assert_eq!(accepted, (200, "SUCCESS".to_owned()));
    assert_eq!(app.order("1017S256A001").await["status"], "PAID");
}

#[actix_web::test]
async fn a_verified_notice_for_another_merchant_is_kept_as_misrouted_and_answered_success() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .post_json("/orders", &bills::bill("1017MISR0001", "QRMISR01", 100))
        .await;
    assert!(status.is_success(), "{body}");
    let before = app.order("1017MISR0001").await;

    let reply = notify(
        &app,
        PaidBill::bare("1017MISR0001")
            .field("mid", "898340149000006")
            .form(),
    )
    .await;

    assert_eq!(
        reply,
        (200, "SUCCESS".to_owned()),
        "the provider stops resending"
    );
    assert_eq!(
        app.order("1017MISR0001").await,
        before,
        "applied to nothing"
    );
    let (_, queue) = app
        .admin_get("/admin/notifications?outcome=misrouted")
        .await;
    let rows = queue["notifications"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{queue}");
    assert_eq!(rows[0]["verified"], true);
    assert!(
        rows[0]["detail"]
            .as_str()
            .unwrap()
            .contains("898340149000006"),
        "{queue}"
    );
}

#[actix_web::test]
async fn a_verified_notice_with_an_unreadable_amount_is_kept_its_order_flagged_and_queried_at_once()
{
    let app = TestApp::spawn().await;
    let (status, body) = app
        .post_json("/orders", &bills::bill("1017UNAP0001", "QRUNAP01", 100))
        .await;
    assert!(status.is_success(), "{body}");
    app.sandbox_post(
        "/_sandbox/orders/1017UNAP0001/pay",
        &json!({"notify": false}),
    )
    .await;

    let reply = notify(
        &app,
        PaidBill::bare("1017UNAP0001")
            .field("totalAmount", "1.00")
            .form(),
    )
    .await;
    let flagged = app.order("1017UNAP0001").await;
    let pass = app.reconcile().await;

    assert_eq!(
        reply,
        (200, "SUCCESS".to_owned()),
        "durable, and resends cannot help"
    );
    assert_eq!(flagged["status"], "PENDING", "never guessed: {flagged}");
    assert_eq!(flagged["needsReview"], true, "{flagged}");
    assert!(
        flagged["reviewReason"]
            .as_str()
            .unwrap()
            .contains("totalAmount"),
        "{flagged}"
    );
    let (_, journal) = app
        .admin_get("/admin/notifications?outcome=unapplied")
        .await;
    assert_eq!(
        journal["notifications"].as_array().unwrap().len(),
        1,
        "{journal}"
    );
    assert_eq!(
        pass.checked, 1,
        "queried at once, not after first_check_after"
    );
    assert_eq!(app.order("1017UNAP0001").await["status"], "PAID");
}

#[actix_web::test]
async fn refunds_are_counted_and_readings_that_disagree_flag_the_order_with_both() {
    let app = TestApp::spawn().await;
    for id in ["1017RFND0001", "1017RFND0002", "1017RFND0003"] {
        let (status, body) = app
            .post_json("/orders", &bills::bill(id, &id.replace("1017", "QR"), 100))
            .await;
        assert!(status.is_success(), "{body}");
        let paid = notify(&app, PaidBill::bare(id).form()).await;
        assert_eq!(paid, (200, "SUCCESS".to_owned()));
    }
    let refund = |id: &str, n: &str, fen: &str| {
        PaidBill::bare(id)
            .notify_id(n)
            .status("REFUND")
            .field("refundAmount", fen)
            .form()
    };

    // 60 then 30: a smaller later amount; 60 then 70: more than was paid in sum; 30 then 60:
    // a running total that grows within the paid amount.
    for (id, first, second) in [
        ("1017RFND0001", "60", "30"),
        ("1017RFND0002", "60", "70"),
        ("1017RFND0003", "30", "60"),
    ] {
        notify(&app, refund(id, &format!("{id}-r1"), first)).await;
        notify(&app, refund(id, &format!("{id}-r2"), second)).await;
    }

    let smaller = app.order("1017RFND0001").await;
    let beyond = app.order("1017RFND0002").await;
    let growing = app.order("1017RFND0003").await;
    assert_eq!(smaller["refundedAmount"], 60, "{smaller}");
    assert_eq!(smaller["needsReview"], true, "{smaller}");
    let reason = smaller["reviewReason"].as_str().unwrap();
    assert!(reason.contains("running total 60 fen"), "{reason}");
    assert!(reason.contains("of its own 90 fen"), "{reason}");
    assert_eq!(smaller["refunds"].as_array().unwrap().len(), 2, "{smaller}");
    assert_eq!(smaller["refunds"][1]["amount"], 30);
    assert_eq!(smaller["refunds"][1]["refundOrderId"], "1017RFND0001-r2");
    assert_eq!(beyond["needsReview"], true, "{beyond}");
    assert!(
        beyond["reviewReason"].as_str().unwrap().contains("130 fen"),
        "{beyond}"
    );
    assert_eq!(growing["refundedAmount"], 60, "{growing}");
    assert_eq!(growing["needsReview"], false, "{growing}");
}
