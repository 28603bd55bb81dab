//! Bills by their own identity: the bill query (`bills/query`), the payment attempt's own
//! id (`billNo` plus a suffix), and each way the sandbox's mini-pre-query can treat a bill
//! number (`finds-bill`, `attempt-id-only`, `down`).

use serde_json::{json, Value};
use umsgate::chinaums::status::{BillStatus, ErrClass, TradeStatus};
use umsgate::chinaums::wire::Lenient;
use umsgate::provider::Outcome;

use crate::helpers::{TestApp, TestProvider};

pub(crate) fn bill(id: &str, qr: &str, amount: i64) -> Value {
    json!({"merOrderId": id, "amount": amount, "qrCodeId": qr, "description": "tea"})
}

/// Creates (binds) a bill and has the buyer pay it at the sandbox with notifications
/// lost; returns the sandbox's view of it.
pub(crate) async fn paid_silently(app: &TestApp, id: &str, qr: &str, amount: i64) -> Value {
    let (status, body) = app.post_json("/orders", &bill(id, qr, amount)).await;
    assert!(status.is_success(), "{body}");
    let (status, paid) = app
        .sandbox_post(
            &format!("/_sandbox/orders/{id}/pay"),
            &json!({"notify": false}),
        )
        .await;
    assert!(status.is_success(), "{paid}");
    paid
}

pub(crate) async fn set_bill_lookup(app: &TestApp, lookup: &str) {
    let (status, faults) = app
        .sandbox_post("/_sandbox/faults", &json!({"miniPreQueryBills": lookup}))
        .await;
    assert!(status.is_success(), "{faults}");
    assert_eq!(faults["miniPreQueryBills"], lookup);
}

/// The settings' merchant with the bills' business type, as the bills here were created.
fn merchant(app: &TestApp) -> umsgate::chinaums::Merchant {
    umsgate::chinaums::Merchant {
        mid: app.settings.provider.mid.clone(),
        tid: app.settings.provider.tid.clone(),
        inst_mid: umsgate::chinaums::INST_MID_BILL.to_owned(),
    }
}

#[actix_web::test]
async fn the_bill_query_finds_a_paid_bill_by_number_and_date_with_its_attempts_own_id() {
    let app = TestApp::spawn().await;
    let truth = paid_silently(&app, "1017BQRY0001", "QRBQRY01", 300).await;
    let client = app.reconciler.client();
    let date = truth["billDate"].as_str().unwrap();

    let found = client
        .bill_query("1017BQRY0001", &merchant(&app), "1017BQRY0001", date, 1)
        .await;
    let other_day = client
        .bill_query(
            "1017BQRY0001",
            &merchant(&app),
            "1017BQRY0001",
            "2001-01-01",
            1,
        )
        .await;

    let Outcome::Answer(answer) = found.outcome else {
        panic!("{:?}", found.outcome)
    };
    assert_eq!(answer.bill_status, Some(BillStatus::Paid));
    assert_eq!(answer.total_amount, Some(Lenient::Read(300)));
    let payment = answer
        .bill_payment
        .as_ref()
        .and_then(Lenient::read)
        .unwrap();
    let attempt = payment.mer_order_id.as_deref().unwrap();
    assert_eq!(attempt, truth["payment"]["merOrderId"]);
    assert!(attempt.starts_with("1017BQRY0001") && attempt != "1017BQRY0001");
    assert_eq!(payment.status, Some(TradeStatus::TradeSuccess));
    assert!(
        matches!(&other_day.outcome, Outcome::Refused(r) if r.class == ErrClass::NoOrder),
        "{:?}",
        other_day.outcome
    );
}

#[actix_web::test]
async fn each_mini_pre_query_bill_setting_treats_the_bill_number_as_it_says() {
    let app = TestApp::spawn().await;
    let truth = paid_silently(&app, "1017BSET0001", "QRBSET01", 300).await;
    let attempt = truth["payment"]["merOrderId"].as_str().unwrap().to_owned();
    let client = app.reconciler.client();
    let merchant = merchant(&app);
    let ask = |id: String| {
        let (client, merchant) = (&client, &merchant);
        async move {
            client
                .mini_pre_query("1017BSET0001", &id, merchant, 1)
                .await
                .outcome
        }
    };

    let finds_bill = ask("1017BSET0001".into()).await;
    set_bill_lookup(&app, "attempt-id-only").await;
    let by_number = ask("1017BSET0001".into()).await;
    let by_attempt = ask(attempt.clone()).await;
    set_bill_lookup(&app, "down").await;
    let down = ask(attempt.clone()).await;

    assert!(
        matches!(finds_bill, Outcome::Answer(ref a) if a.status == Some(TradeStatus::TradeSuccess)),
        "{finds_bill:?}"
    );
    assert!(
        matches!(by_number, Outcome::Refused(ref r) if r.class == ErrClass::NoOrder),
        "{by_number:?}"
    );
    assert!(
        matches!(by_attempt, Outcome::Answer(ref a) if a.mer_order_id.as_deref() == Some(attempt.as_str())),
        "{by_attempt:?}"
    );
    assert!(
        matches!(down, Outcome::Refused(ref r) if r.class == ErrClass::Transient),
        "{down:?}"
    );
}

#[actix_web::test]
async fn the_bill_query_is_recorded_in_the_call_log_like_every_call() {
    let app = TestApp::spawn().await;
    let truth = paid_silently(&app, "1017BLOG0001", "QRBLOG01", 300).await;
    let client = app.reconciler.client();

    let called = client
        .bill_query(
            "1017BLOG0001",
            &merchant(&app),
            "1017BLOG0001",
            truth["billDate"].as_str().unwrap(),
            1,
        )
        .await;

    let mut conn = app.db.conn().expect("connection");
    let log = umsgate::store::provider_calls::list(&mut conn, Some("1017BLOG0001")).unwrap();
    let row = log
        .iter()
        .find(|c| c.operation == "bill-query")
        .expect("a bill-query row");
    assert_eq!(row.outcome, "ok");
    assert_eq!(called.call_id, Some(row.id));
}

#[actix_web::test]
async fn a_paid_bill_whose_notifications_were_all_lost_ends_paid_when_mini_pre_query_knows_only_attempt_ids(
) {
    let app = TestApp::spawn().await;
    app.sandbox_post("/_sandbox/faults", &json!({"dropNotifications": 1.0}))
        .await;
    let mut body = bill("1017BLOST001", "QRBLOST1", 300);
    body["expiresInSeconds"] = json!(60);
    let (status, created) = app.post_json("/orders", &body).await;
    assert!(status.is_success(), "{created}");
    let (status, paid) = app
        .sandbox_post("/_sandbox/orders/1017BLOST001/pay", &json!({}))
        .await;
    assert!(status.is_success(), "{paid}");
    set_bill_lookup(&app, "attempt-id-only").await;
    // Past its expiry: a NO_ORDER for the bill number would have closed it.
    app.advance_ms(120_000);

    let (status, check) = app
        .admin_post("/admin/orders/1017BLOST001/resync", &json!({}))
        .await;

    assert!(status.is_success(), "{check}");
    assert_eq!(check["after"]["status"], "PAID", "{check}");
    assert_eq!(check["after"]["needsReview"], false, "{check}");
    let (_, truth) = app.sandbox_get("/_sandbox/orders/1017BLOST001").await;
    assert_eq!(
        truth["notifications"]["delivered"], 0,
        "every notification was lost"
    );
}

/// A test provider that binds every bill and answers the bill query by the bill number's
/// last digit (`1`: `NO_BILL`, `2`: `SYSTEM_BUSY`, `3`: `UNPAID`), and mini-pre-query
/// `NO_ORDER` for everything.
fn provider_that_never_finds_the_payment() -> TestProvider {
    TestProvider::start(|path, request| match path {
        "/v1/netpay/bills/update-qrcode" => format!(
            r#"{{"errCode":"SUCCESS","billQRCode":"https://qr.test.invalid/{}","billNo":"{}"}}"#,
            request["qrCodeId"].as_str().unwrap_or_default(),
            request["billNo"].as_str().unwrap_or_default()
        ),
        "/v1/netpay/bills/query" => {
            let bill_no = request["billNo"].as_str().unwrap_or_default();
            match bill_no.chars().last() {
                Some('1') => r#"{"errCode":"NO_BILL","errMsg":"no such bill"}"#.to_owned(),
                Some('2') => r#"{"errCode":"SYSTEM_BUSY","errMsg":"busy"}"#.to_owned(),
                _ => format!(
                    r#"{{"errCode":"SUCCESS","billNo":"{bill_no}","billStatus":"UNPAID","totalAmount":300}}"#
                ),
            }
        }
        _ => r#"{"errCode":"NO_ORDER","errMsg":"no order"}"#.to_owned(),
    })
}

#[actix_web::test]
async fn a_bound_bill_is_closed_only_on_the_bill_querys_word_and_otherwise_flagged_past_its_back_off(
) {
    let provider = provider_that_never_finds_the_payment();
    let app = provider.gateway(json!({})).await;
    let ids = ["1017BNEV0001", "1017BNEV0002", "1017BNEV0003"];
    for id in ids {
        let mut body = bill(id, &id.replace("1017", "QR"), 300);
        body["expiresInSeconds"] = json!(60);
        let (status, created) = app.post_json("/orders", &body).await;
        assert!(status.is_success(), "{created}");
        assert_eq!(created["binding"], "bound", "{created}");
    }

    // Past expiry, then every check of the back-off list (each gap at most 6 h).
    app.advance_ms(120_000);
    for _ in 0..app.reconciler_backoff().len() + 2 {
        app.reconcile().await;
        app.advance_ms(7 * 3600 * 1000);
    }

    let no_bill = app.order(ids[0]).await;
    let busy = app.order(ids[1]).await;
    let unpaid = app.order(ids[2]).await;
    for order in [&no_bill, &busy] {
        assert_eq!(order["status"], "PENDING", "{order}");
        assert_eq!(order["needsReview"], true, "{order}");
        assert!(
            order["reviewReason"]
                .as_str()
                .unwrap()
                .contains("no final answer"),
            "{order}"
        );
    }
    assert_eq!(unpaid["status"], "CLOSED", "the bill's own word: {unpaid}");
    assert!(!provider.requests("/v1/netpay/bills/query").is_empty());
}
