//! Notification intake over real HTTP: payment notifications (verified, journaled, applied
//! once), bad input of every kind, store failure, contract notices and their token.

use awc::http::StatusCode;
use diesel::connection::SimpleConnection;
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{json, Value};
use umsgate::chinaums::form::Form;
use umsgate::chinaums::notify_sign::{self, SignType};
use umsgate::domain::ids::MerOrderId;
use umsgate::store::{notifications, orders};

use crate::helpers::{PaidBill, TestApp, TestDatabase, CONTRACT_TOKEN, NOTIFY_KEY};

const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
const MID: &str = "898340149000005";
const TID: &str = "88880001";

/// A notice's fields, as sent.
type Pairs = Vec<(String, String)>;

/// Owned name/value pairs.
fn pairs<N: AsRef<str>, V: AsRef<str>>(fields: &[(N, V)]) -> Pairs {
    fields
        .iter()
        .map(|(n, v)| (n.as_ref().to_owned(), v.as_ref().to_owned()))
        .collect()
}

/// `fields` plus a field with a random name and value (as the provider adds), signed with
/// `key` and `sign_type`: the pairs as sent, `sign` last.
fn sign_with<N: AsRef<str>, V: AsRef<str>>(
    fields: &[(N, V)],
    key: &str,
    sign_type: SignType,
) -> Pairs {
    let mut all = pairs(fields);
    // Upper-case first letter: no real field starts with one, so it never collides.
    let name = format!("Q{}", Alphanumeric.sample_string(&mut rand::rng(), 2));
    all.push((name, Alphanumeric.sample_string(&mut rand::rng(), 6)));
    notify_sign::with_sign(&all, key, sign_type)
}

/// A form body signed with the configured key (MD5, as when `signType` is absent).
fn signed<N: AsRef<str>, V: AsRef<str>>(fields: &[(N, V)]) -> Vec<u8> {
    Form::encode(&sign_with(fields, NOTIFY_KEY, SignType::Md5)).into_bytes()
}

/// Sets every field called `name` to `value`.
fn set(fields: &mut Pairs, name: &str, value: &str) {
    for (_, v) in fields.iter_mut().filter(|(n, _)| n == name) {
        *v = value.to_owned();
    }
}

fn notify_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Creates a tracked order of 100 fen.
async fn create_order(app: &TestApp, id: &str, preauth: bool) -> Value {
    let (status, order) = app
        .post_json(
            "/orders",
            &json!({"merOrderId": id, "amount": 100, "preauth": preauth}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    order
}

/// The journal through the admin route, `query` appended.
async fn journal(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, body) = app
        .admin_get(&format!("/admin/notifications?limit=500&{query}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["notifications"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn post_payment(app: &TestApp, body: Vec<u8>) -> (StatusCode, String) {
    app.post_notify("/notify/payment", body, FORM).await
}

fn outcomes(rows: &[Value]) -> Vec<&str> {
    rows.iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect()
}

#[actix_web::test]
async fn a_paid_notification_marks_the_order_paid_with_the_providers_facts() {
    // Arrange
    let app = TestApp::spawn().await;
    let id = "1017NTPAID0001";
    create_order(&app, id, false).await;
    let nid = notify_id();

    // Act
    let (status, reply) = post_payment(&app, PaidBill::new(id).notify_id(&nid).form()).await;

    // Assert
    assert_eq!((status, reply.as_str()), (StatusCode::OK, "SUCCESS"));
    let paid = app.order(id).await;
    assert_eq!(paid["status"], "PAID");
    assert_eq!(paid["paidAmount"], 100);
    assert_eq!(paid["version"], 2);
    assert_eq!(paid["needsReview"], false);
    let provider = &paid["provider"];
    assert_eq!(provider["status"], "PAID");
    assert_eq!(provider["seqId"], "00151100146N");
    assert_eq!(provider["targetOrderId"], "4200001234202611210000000001");
    assert_eq!(provider["targetSys"], "WXPay");
    assert_eq!(provider["payTime"], "2026-11-21 12:01:02");
    assert_eq!(provider["settleDate"], "2026-11-21");
    let rows = journal(&app, &format!("order={id}")).await;
    assert_eq!(outcomes(&rows), ["applied"]);
    assert_eq!(rows[0]["verified"], true);
    assert_eq!(rows[0]["kind"], "payment");
    assert_eq!(rows[0]["notifyId"], nid.as_str());
    assert_eq!(rows[0]["detail"], "PENDING → PAID");
    let history = app.events(id).await;
    assert_eq!(history.len(), 2, "creation and payment");
    assert_eq!(history[1]["from"], "PENDING");
    assert_eq!(history[1]["to"], "PAID");
    assert_eq!(history[1]["source"], "notify");
    assert_eq!(
        history[1]["evidence"],
        format!("notification:{}", rows[0]["id"])
    );
}

#[actix_web::test]
async fn the_same_notification_again_is_answered_success_and_changes_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    let id = "1017NTDUP0001";
    create_order(&app, id, false).await;
    let body = PaidBill::new(id).form();
    post_payment(&app, body.clone()).await;
    let after_first = app.order(id).await;

    // Act
    let (status, reply) = post_payment(&app, body).await;

    // Assert
    assert_eq!((status, reply.as_str()), (StatusCode::OK, "SUCCESS"));
    assert_eq!(app.order(id).await, after_first);
    assert_eq!(app.events(id).await.len(), 2);
    let rows = journal(&app, &format!("order={id}")).await;
    assert_eq!(outcomes(&rows), ["applied", "duplicate"]);
}

#[actix_web::test]
async fn fifty_copies_at_the_same_moment_make_one_transition_and_one_applied_row() {
    // Arrange
    let app = TestApp::spawn().await;
    let id = "1017NTRACE001";
    create_order(&app, id, false).await;
    let body = PaidBill::new(id).form();

    // Act
    let replies =
        futures_util::future::join_all((0..50).map(|_| post_payment(&app, body.clone()))).await;

    // Assert
    for (status, reply) in &replies {
        assert_eq!((*status, reply.as_str()), (StatusCode::OK, "SUCCESS"));
    }
    let paid = app.order(id).await;
    assert_eq!(paid["status"], "PAID");
    assert_eq!(paid["version"], 2);
    let history = app.events(id).await;
    assert_eq!(history.len(), 2, "{history:?}");
    let rows = journal(&app, &format!("order={id}")).await;
    assert_eq!(rows.len(), 50);
    assert_eq!(
        outcomes(&rows).iter().filter(|o| **o == "applied").count(),
        1
    );
    assert_eq!(
        outcomes(&rows)
            .iter()
            .filter(|o| **o == "duplicate")
            .count(),
        49
    );
}

#[actix_web::test]
async fn a_refund_that_overtakes_the_payment_refunds_the_order_and_the_late_payment_is_stale() {
    // Arrange
    let app = TestApp::spawn().await;
    let id = "1017NTREORD01";
    create_order(&app, id, false).await;
    let refund = PaidBill::new(id)
        .status("REFUND")
        .field("refundAmount", "100");

    // Act
    let (s1, r1) = post_payment(&app, refund.form()).await;
    let (s2, r2) = post_payment(&app, PaidBill::new(id).form()).await;

    // Assert
    assert_eq!((s1, r1.as_str()), (StatusCode::OK, "SUCCESS"));
    assert_eq!((s2, r2.as_str()), (StatusCode::OK, "SUCCESS"));
    let refunded = app.order(id).await;
    assert_eq!(refunded["status"], "REFUNDED");
    assert_eq!(refunded["refundedAmount"], 100);
    let rows = journal(&app, &format!("order={id}")).await;
    assert_eq!(outcomes(&rows), ["applied", "stale"]);
    let history = app.events(id).await;
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["from"], "PENDING");
    assert_eq!(history[1]["to"], "REFUNDED");
}

#[actix_web::test]
async fn unpaid_notices_arriving_after_the_payment_change_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    let id = "1017NTSTALE01";
    create_order(&app, id, false).await;
    post_payment(&app, PaidBill::new(id).form()).await;
    let paid = app.order(id).await;
    let waiting = signed(&[
        ("notifyId", notify_id().as_str()),
        ("merOrderId", id),
        ("status", "WAIT_BUYER_PAY"),
        ("totalAmount", "100"),
        ("mid", MID),
        ("tid", TID),
    ]);

    // Act
    let (s1, r1) = post_payment(&app, waiting).await;
    let (s2, r2) = post_payment(&app, PaidBill::new(id).status("UNPAID").form()).await;

    // Assert
    assert_eq!((s1, r1.as_str()), (StatusCode::OK, "SUCCESS"));
    assert_eq!((s2, r2.as_str()), (StatusCode::OK, "SUCCESS"));
    assert_eq!(app.order(id).await, paid);
    assert_eq!(app.events(id).await.len(), 2);
    let rows = journal(&app, &format!("order={id}")).await;
    assert_eq!(outcomes(&rows), ["applied", "stale", "stale"]);
}

#[actix_web::test]
async fn a_mini_program_notification_names_its_order_and_status_at_the_top_level() {
    let app = TestApp::spawn().await;
    let id = "1017NTMINI001";
    create_order(&app, id, false).await;

    let body = Form::encode(&sign_with(
        &[
            ("notifyId", notify_id().as_str()),
            ("mid", MID),
            ("tid", TID),
            ("merOrderId", id),
            ("status", "TRADE_SUCCESS"),
            ("totalAmount", "100"),
            ("targetSys", "Alipay"),
            ("payTime", "2026-11-21 12:05:00"),
            ("signType", "SHA256"),
        ],
        NOTIFY_KEY,
        SignType::Sha256,
    ));

    let (status, reply) = post_payment(&app, body.into_bytes()).await;
    assert_eq!((status, reply.as_str()), (StatusCode::OK, "SUCCESS"));
    let paid = app.order(id).await;
    assert_eq!(paid["status"], "PAID");
    assert_eq!(paid["provider"]["status"], "TRADE_SUCCESS");
    assert_eq!(paid["provider"]["targetSys"], "Alipay");
    assert_eq!(paid["provider"]["payTime"], "2026-11-21 12:05:00");
}

#[actix_web::test]
async fn an_order_is_found_by_the_payments_order_id_when_the_bill_number_names_none() {
    let app = TestApp::spawn().await;
    let id = "1017NTBPAY001";
    create_order(&app, id, false).await;
    let payment =
        json!({"merOrderId": id, "status": "TRADE_SUCCESS", "totalAmount": 100}).to_string();

    let (status, reply) = post_payment(
        &app,
        PaidBill::bare("1017NOSUCHBILL")
            .field("billPayment", &payment)
            .form(),
    )
    .await;

    assert_eq!((status, reply.as_str()), (StatusCode::OK, "SUCCESS"));
    assert_eq!(app.order(id).await["status"], "PAID");
    assert_eq!(
        outcomes(&journal(&app, &format!("order={id}")).await),
        ["applied"]
    );
}

#[actix_web::test]
async fn a_preauthorised_payment_authorises_the_order_and_keeps_its_authorisation_code() {
    // Arrange
    let app = TestApp::spawn().await;
    let id = "1017NTAUTH001";
    create_order(&app, id, true).await;
    let notice = PaidBill::new(id).field("authIdRespCd", "384822");

    // Act
    let (status, reply) = post_payment(&app, notice.form()).await;

    // Assert
    assert_eq!((status, reply.as_str()), (StatusCode::OK, "SUCCESS"));
    let authorised = app.order(id).await;
    assert_eq!(authorised["status"], "AUTHORIZED");
    assert_eq!(authorised["paidAmount"], 100);
    let mut conn = app.db.conn().unwrap();
    let stored = orders::find(&mut conn, &MerOrderId::parse_stored(id).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(stored.facts.auth_id_resp_code.as_deref(), Some("384822"));
    assert_eq!(
        outcomes(&journal(&app, &format!("order={id}")).await),
        ["applied"]
    );
}

#[actix_web::test]
async fn a_refund_records_the_refunded_total_and_a_close_closes_an_unpaid_order() {
    // Arrange
    let app = TestApp::spawn().await;
    let (refunded, closed) = ("1017NTRFND001", "1017NTCLSD001");
    create_order(&app, refunded, false).await;
    create_order(&app, closed, false).await;
    post_payment(&app, PaidBill::new(refunded).form()).await;
    let refund = PaidBill::new(refunded)
        .status("REFUND")
        .field("refundAmount", "30")
        .field("refundDesc", "one cup returned");

    // Act
    let (s1, _) = post_payment(&app, refund.form()).await;
    let (s2, _) = post_payment(&app, PaidBill::new(closed).status("CLOSED").form()).await;

    // Assert
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    let r = app.order(refunded).await;
    assert_eq!(r["status"], "REFUNDED");
    assert_eq!(r["refundedAmount"], 30);
    let c = app.order(closed).await;
    assert_eq!(c["status"], "CLOSED");
    assert_eq!(c["reconcile"]["nextCheckAt"], Value::Null, "settled");
    let rows = journal(&app, &format!("order={refunded}")).await;
    assert_eq!(outcomes(&rows), ["applied", "applied"]);
    assert_eq!(
        rows[1]["detail"],
        "PAID → REFUNDED, refunded 30 fen in total"
    );
}

#[actix_web::test]
async fn a_signed_json_notification_is_accepted_like_a_form() {
    // Arrange: billPayment as a JSON object, signed over its exact received text.
    let app = TestApp::spawn().await;
    let (declared, sniffed) = ("1017NTJSON001", "1017NTJSON002");
    create_order(&app, declared, false).await;
    create_order(&app, sniffed, false).await;
    let json_body = |order: &str| {
        let fields = PaidBill::new(order).pairs();
        let members: Vec<String> = sign_with(&fields, NOTIFY_KEY, SignType::Md5)
            .iter()
            .map(|(n, v)| {
                let value = if n == "billPayment" {
                    v.clone()
                } else {
                    Value::String(v.clone()).to_string()
                };
                format!("{}:{value}", Value::String(n.clone()))
            })
            .collect();
        format!("{{{}}}", members.join(",")).into_bytes()
    };

    // Act
    let (s1, r1) = app
        .post_notify(
            "/notify/payment",
            json_body(declared),
            Some("application/json; charset=utf-8"),
        )
        .await;
    let (s2, r2) = app
        .post_notify("/notify/payment", json_body(sniffed), None)
        .await;

    // Assert
    assert_eq!((s1, r1.as_str()), (StatusCode::OK, "SUCCESS"));
    assert_eq!((s2, r2.as_str()), (StatusCode::OK, "SUCCESS"));
    assert_eq!(app.order(declared).await["status"], "PAID");
    assert_eq!(app.order(sniffed).await["status"], "PAID");
    let rows = journal(&app, &format!("order={declared}")).await;
    assert_eq!(rows[0]["contentType"], "application/json; charset=utf-8");
}

#[actix_web::test]
async fn bad_notifications_are_journaled_as_rejected_answered_failed_and_touch_no_order() {
    // Arrange
    let app = TestApp::spawn().await;
    let id = "1017NTBAD0001";
    create_order(&app, id, false).await;
    let before = app.order(id).await;
    let good = || PaidBill::new(id).pairs();
    // Signed, then changed on the way (as a forger or a broken proxy would).
    let tampered = |name: &str, value: &str| {
        let mut sent = sign_with(&good(), NOTIFY_KEY, SignType::Md5);
        set(&mut sent, name, value);
        Form::encode(&sent).into_bytes()
    };
    let unsigned = {
        let mut sent = sign_with(&good(), NOTIFY_KEY, SignType::Md5);
        sent.retain(|(n, _)| n != "sign");
        Form::encode(&sent).into_bytes()
    };
    let with_field = |name: &str, value: &str, key: &str, sign_type: SignType| {
        let mut fields = good();
        fields.push((name.into(), value.into()));
        Form::encode(&sign_with(&fields, key, sign_type)).into_bytes()
    };
    let tampered_payment = PaidBill::new(id)
        .get("billPayment")
        .replace("WXPay", "Alipay");
    let cases: Vec<(&str, Vec<u8>, Option<&str>, &str)> = vec![
        (
            "tampered amount",
            tampered("totalAmount", "1"),
            FORM,
            "bad_signature",
        ),
        (
            "tampered billPayment",
            tampered("billPayment", &tampered_payment),
            FORM,
            "bad_signature",
        ),
        ("missing sign", unsigned, FORM, "unsigned"),
        (
            "wrong key",
            Form::encode(&sign_with(
                &good(),
                "not-the-notification-key",
                SignType::Md5,
            ))
            .into_bytes(),
            FORM,
            "bad_signature",
        ),
        (
            "unknown signType",
            with_field("signType", "RSA2", NOTIFY_KEY, SignType::Md5),
            FORM,
            "unknown_sign_type",
        ),
        (
            "MD5 signature declared SHA256",
            with_field("signType", "SHA256", NOTIFY_KEY, SignType::Md5),
            FORM,
            "bad_signature",
        ),
        (
            "SHA256 signature declared MD5",
            with_field("signType", "MD5", NOTIFY_KEY, SignType::Sha256),
            FORM,
            "bad_signature",
        ),
        ("empty body", Vec::new(), FORM, "malformed"),
        (
            "non-UTF-8 bytes",
            b"notifyId=\xff\xfe&billNo=\xc3".to_vec(),
            FORM,
            "malformed",
        ),
        (
            "garbage JSON",
            b"{\"notifyId\": \"n\", \"billNo\": ".to_vec(),
            Some("application/json"),
            "malformed",
        ),
    ];

    for (name, body, content_type, reason) in cases {
        let last_id = journal(&app, "")
            .await
            .last()
            .map_or(0, |r| r["id"].as_i64().unwrap());

        // Act
        let (status, reply) = app
            .post_notify("/notify/payment", body.clone(), content_type)
            .await;

        // Assert
        assert_eq!(
            (status, reply.as_str()),
            (StatusCode::BAD_REQUEST, "FAILED"),
            "{name}"
        );
        let rows = journal(&app, &format!("after={last_id}")).await;
        assert_eq!(rows.len(), 1, "{name}: one journal row");
        assert_eq!(rows[0]["outcome"], "rejected", "{name}");
        let detail = rows[0]["detail"].as_str().unwrap();
        assert!(
            detail.starts_with(&format!("{reason}: ")),
            "{name}: {detail}"
        );
        let mut conn = app.db.conn().unwrap();
        let raw = notifications::raw_body(&mut conn, rows[0]["id"].as_i64().unwrap())
            .unwrap()
            .unwrap();
        // A verified body is the provider's and kept whole; anyone's unverified body only
        // as its first bytes (its size and digest are in the detail).
        let kept = if rows[0]["verified"] == true {
            body.len()
        } else {
            body.len().min(umsgate::notify::refused::EXCERPT_BYTES)
        };
        assert_eq!(
            raw,
            body[..kept],
            "{name}: the body is journaled as received, up to the excerpt"
        );
        assert_eq!(
            app.order(id).await,
            before,
            "{name}: the order is untouched"
        );
    }
    assert_eq!(app.events(id).await.len(), 1);
}

#[actix_web::test]
async fn a_ten_megabyte_body_is_a_413_and_its_first_bytes_and_digest_are_journaled() {
    // Arrange
    let app = TestApp::spawn().await;
    let mut body = b"notifyId=big&memo=".to_vec();
    body.resize(10 * 1024 * 1024, b'x');

    // Act: chunked, so that no declared length refuses it before reading.
    let chunk = actix_web::web::Bytes::from(body.clone());
    let mut res = awc::Client::default()
        .post(format!("{}/notify/payment", app.notify))
        .send_stream(futures_util::stream::once(async move {
            Ok::<_, std::io::Error>(chunk)
        }))
        .await
        .expect("answered");
    let reply = res.body().await.expect("reply");

    // Assert
    assert_eq!(
        (res.status(), &reply[..]),
        (StatusCode::PAYLOAD_TOO_LARGE, &b"FAILED"[..])
    );
    let rows = journal(&app, "outcome=rejected").await;
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("too_large: the body is larger than 65536 bytes"),
        "{}",
        rows[0]
    );
    let mut conn = app.db.conn().unwrap();
    let raw = notifications::raw_body(&mut conn, rows[0]["id"].as_i64().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(raw, body[..umsgate::notify::refused::EXCERPT_BYTES]);
    assert!(
        rows[0]["detail"]
            .as_str()
            .unwrap()
            .contains("body 65536 bytes, sha256 "),
        "{}",
        rows[0]
    );
}

#[actix_web::test]
async fn a_notification_for_an_unknown_order_is_an_orphan_and_answered_success() {
    // Arrange
    let app = TestApp::spawn().await;
    let id = "1017NTORPHAN1";
    let body = PaidBill::new(id).form();

    // Act
    let (status, reply) = post_payment(&app, body.clone()).await;

    // Assert
    assert_eq!((status, reply.as_str()), (StatusCode::OK, "SUCCESS"));
    let rows = journal(&app, "outcome=orphan").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["orderRef"], id);
    assert_eq!(rows[0]["verified"], true);
    assert_eq!(app.order_count(), 0);

    // An orphan applied nothing, so it did not use up its notifyId: once the order
    // exists, the provider's resend applies.
    create_order(&app, id, false).await;
    let (status, reply) = post_payment(&app, body).await;
    assert_eq!((status, reply.as_str()), (StatusCode::OK, "SUCCESS"));
    assert_eq!(app.order(id).await["status"], "PAID");
}

#[actix_web::test]
async fn a_paid_amount_other_than_the_orders_flags_it_for_review_and_does_not_mark_it_paid() {
    // Arrange
    let app = TestApp::spawn().await;
    let id = "1017NTAMNT001";
    create_order(&app, id, false).await;

    // Act
    let (status, reply) =
        post_payment(&app, PaidBill::new(id).field("totalAmount", "1").form()).await;

    // Assert
    assert_eq!((status, reply.as_str()), (StatusCode::OK, "SUCCESS"));
    let flagged = app.order(id).await;
    assert_eq!(flagged["status"], "PENDING");
    assert_eq!(flagged["needsReview"], true);
    assert_eq!(
        flagged["reviewReason"],
        "amount mismatch: order is 100 fen, provider reports 1 fen"
    );
    let rows = journal(&app, "outcome=review").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["orderRef"], id);
    assert_eq!(rows[0]["detail"], flagged["reviewReason"]);
}

#[actix_web::test]
async fn a_store_failure_is_a_500_failed_and_leaves_the_order_as_it_was() {
    // Arrange: the journal refuses every insert, as a full or broken disk would (a SQLite
    // trigger, so on a SQLite file whatever the suite's backend).
    let app = TestApp::spawn_on(TestDatabase::sqlite(), json!({})).await;
    let id = "1017NTSTORE01";
    create_order(&app, id, false).await;
    let before = app.order(id).await;
    app.db
        .conn()
        .unwrap()
        .batch_execute(
            "CREATE TRIGGER journal_down BEFORE INSERT ON notifications \
             BEGIN SELECT RAISE(ABORT, 'journal unavailable'); END;",
        )
        .unwrap();
    let body = PaidBill::new(id).form();

    // Act
    let (status, reply) = post_payment(&app, body.clone()).await;

    // Assert
    assert_eq!(
        (status, reply.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "FAILED")
    );
    assert_eq!(app.order(id).await, before);
    assert!(journal(&app, "").await.is_empty());

    // The provider resends; once the store is back, the resend applies.
    app.db
        .conn()
        .unwrap()
        .batch_execute("DROP TRIGGER journal_down;")
        .unwrap();
    let (status, reply) = post_payment(&app, body).await;
    assert_eq!((status, reply.as_str()), (StatusCode::OK, "SUCCESS"));
    assert_eq!(app.order(id).await["status"], "PAID");
}

#[actix_web::test]
async fn notification_outcomes_are_counted_by_kind_and_outcome() {
    let app = TestApp::spawn().await;
    let id = "1017NTMETR001";
    create_order(&app, id, false).await;
    let body = PaidBill::new(id).form();
    post_payment(&app, body.clone()).await;
    post_payment(&app, body).await;
    post_payment(&app, b"notifyId=x".to_vec()).await;
    app.post_notify("/notify/contract/wrong-token", b"x=1".to_vec(), FORM)
        .await;

    let (_, metrics) = app.get_text(&app.api, "/metrics").await;

    for line in [
        r#"umsgate_notifications_total{kind="payment",outcome="applied"} 1"#,
        r#"umsgate_notifications_total{kind="payment",outcome="duplicate"} 1"#,
        r#"umsgate_notifications_total{kind="payment",outcome="rejected_unsigned"} 1"#,
        r#"umsgate_notifications_total{kind="contract",outcome="rejected_bad_token"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
}

#[actix_web::test]
async fn the_journal_is_filtered_by_kind_and_outcome_and_refuses_unknown_values() {
    let app = TestApp::spawn().await;
    post_payment(&app, b"notifyId=x".to_vec()).await;
    app.post_notify(
        &format!("/notify/contract/{CONTRACT_TOKEN}"),
        b"contractNo=short".to_vec(),
        FORM,
    )
    .await;

    let rejected = journal(&app, "outcome=rejected").await;
    let payments = journal(&app, "kind=payment&outcome=rejected").await;
    let contracts = journal(&app, "kind=contract").await;
    let (bad_outcome, e1) = app.admin_get("/admin/notifications?outcome=rejectd").await;
    let (bad_kind, e2) = app.admin_get("/admin/notifications?kind=refund").await;

    assert_eq!(rejected.len(), 2);
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["kind"], "payment");
    assert_eq!(contracts.len(), 1);
    assert_eq!(contracts[0]["kind"], "contract");
    assert_eq!(bad_outcome, StatusCode::BAD_REQUEST);
    assert_eq!(e1["field"], "outcome");
    assert_eq!(bad_kind, StatusCode::BAD_REQUEST);
    assert_eq!(e2["field"], "kind");
}

// Contract notices.

const CONTRACT_NO: &str = "1017CONTRACT0001";

fn contract_notice(timestamp: &str, state: &str) -> Pairs {
    pairs(&[
        ("requestTimestamp", timestamp),
        ("mid", MID),
        ("contractNo", CONTRACT_NO),
        ("contractId", "Q09OVFJBQ1QtMDAwMQ=="),
        ("contractState", state),
        ("contractSignedTime", "2026-11-01 09:00:00"),
        ("contractExpiredTime", "2027-11-01 09:00:00"),
        ("singleLimitAmt", "50000"),
        ("avlNum", "10"),
        ("planId", "P100"),
    ])
}

async fn post_contract(
    app: &TestApp,
    token: &str,
    fields: &[(String, String)],
) -> (StatusCode, String) {
    app.post_notify(
        &format!("/notify/contract/{token}"),
        Form::encode(fields).into_bytes(),
        FORM,
    )
    .await
}

#[actix_web::test]
async fn a_contract_notice_on_a_wrong_or_missing_token_is_a_404_and_stores_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    let untokened = TestApp::spawn_with(json!({"notify": {"contract_token": null}})).await;
    let notice = contract_notice("2026-11-21 12:00:00", "RESCISSION");

    // Act
    let (wrong, _) = post_contract(&app, "sandbox-contract-token-change-mf", &notice).await;
    let (prefix, _) = post_contract(&app, &CONTRACT_TOKEN[..10], &notice).await;
    let (missing, _) = post_contract(&app, "", &notice).await;
    let (bare, _) = app
        .post_notify("/notify/contract", Form::encode(&notice).into_bytes(), FORM)
        .await;
    let (unconfigured, _) = post_contract(&untokened, CONTRACT_TOKEN, &notice).await;

    // Assert
    for status in [wrong, prefix, missing, bare, unconfigured] {
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    assert!(journal(&app, "").await.is_empty());
    assert!(journal(&untokened, "").await.is_empty());
    let (status, _) = app.get(&format!("/contracts/{CONTRACT_NO}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn the_contract_token_never_reaches_the_access_log_however_the_path_is_encoded() {
    // Arrange: a token of this test's own, and every log line captured.
    let logs = crate::helpers::capture_logs();
    let token = Alphanumeric.sample_string(&mut rand::rng(), 32);
    let app = TestApp::spawn_with(json!({"notify": {"contract_token": token}})).await;
    let notice = contract_notice("2026-11-21 12:00:00", "RESCISSION");

    // Act: plain, with a percent-encoded letter (routing decodes it), and encoded token.
    let (plain, _) = post_contract(&app, &token, &notice).await;
    let mut answers = vec![plain];
    for path in [
        format!("/notify/%63ontract/{token}"),
        format!(
            "/notify/contract/%{:02X}{}",
            token.as_bytes()[0],
            &token[1..]
        ),
    ] {
        let (status, _) = app
            .post_notify(&path, Form::encode(&notice).into_bytes(), FORM)
            .await;
        answers.push(status);
    }

    // Assert: every form reached the route, and no line shows the token.
    assert_eq!(answers, [StatusCode::OK; 3]);
    let text = logs.lock().unwrap().clone();
    assert!(
        text.contains("/notify/contract/[redacted]"),
        "the access log was captured"
    );
    assert!(
        !text.contains(&token),
        "a log line carries the contract token"
    );
}

#[actix_web::test]
async fn a_contract_notice_is_stored_an_older_one_changes_nothing_and_the_same_one_is_a_duplicate()
{
    // Arrange
    let app = TestApp::spawn().await;
    let newer = contract_notice("2026-11-21 12:00:00", "RESCISSION");
    let older = contract_notice("2026-11-21 11:00:00", "SIGNED");

    // Act
    let (s1, r1) = post_contract(&app, CONTRACT_TOKEN, &newer).await;
    let (s2, r2) = post_contract(&app, CONTRACT_TOKEN, &older).await;
    let (s3, r3) = post_contract(&app, CONTRACT_TOKEN, &newer).await;
    let (status, contract) = app.get(&format!("/contracts/{CONTRACT_NO}")).await;

    // Assert
    assert_eq!((s1, r1.as_str()), (StatusCode::OK, "SUCCESS"));
    assert_eq!((s2, r2.as_str()), (StatusCode::OK, "SUCCESS"));
    assert_eq!((s3, r3.as_str()), (StatusCode::OK, "SUCCESS"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(contract["contractNo"], CONTRACT_NO);
    assert_eq!(contract["contractState"], "RESCISSION");
    assert_eq!(contract["requestTimestamp"], "2026-11-21 12:00:00");
    assert_eq!(contract["mid"], MID);
    assert_eq!(contract["singleLimitAmt"], "50000");
    assert_eq!(contract["planId"], "P100");
    let rows = journal(&app, &format!("kind=contract&order={CONTRACT_NO}")).await;
    assert_eq!(outcomes(&rows), ["applied", "stale", "duplicate"]);
    assert!(rows.iter().all(|r| r["verified"] == true));
    assert_eq!(contract["notificationId"], rows[0]["id"]);
}

#[actix_web::test]
async fn a_signed_contract_notice_must_verify_and_bad_input_is_a_400() {
    // Arrange
    let app = TestApp::spawn().await;
    let sign = |fields: Pairs, key: &str| sign_with(&fields, key, SignType::Md5);
    let forged = sign(
        contract_notice("2026-11-21 13:00:00", "SIGNED"),
        "not-the-key",
    );
    let genuine = sign(
        contract_notice("2026-11-21 12:00:00", "RESCISSION"),
        NOTIFY_KEY,
    );
    let mut malformed = contract_notice("2026-11-21 14:00:00", "SIGNED");
    malformed.retain(|(n, _)| n != "requestTimestamp");

    // Act
    let (s1, r1) = post_contract(&app, CONTRACT_TOKEN, &forged).await;
    let (s2, r2) = post_contract(&app, CONTRACT_TOKEN, &malformed).await;
    let (s3, r3) = post_contract(&app, CONTRACT_TOKEN, &genuine).await;

    // Assert
    assert_eq!((s1, r1.as_str()), (StatusCode::BAD_REQUEST, "FAILED"));
    assert_eq!((s2, r2.as_str()), (StatusCode::BAD_REQUEST, "FAILED"));
    assert_eq!((s3, r3.as_str()), (StatusCode::OK, "SUCCESS"));
    let rows = journal(&app, "kind=contract").await;
    assert_eq!(outcomes(&rows), ["rejected", "rejected", "applied"]);
    assert!(rows[0]["detail"]
        .as_str()
        .unwrap()
        .starts_with("bad_signature: "));
    assert!(rows[1]["detail"]
        .as_str()
        .unwrap()
        .starts_with("malformed: "));
    assert!(rows[2]["detail"]
        .as_str()
        .unwrap()
        .contains("sign verified"));
    let (_, contract) = app.get(&format!("/contracts/{CONTRACT_NO}")).await;
    assert_eq!(
        contract["contractState"], "RESCISSION",
        "the forged one stored nothing"
    );
}

#[actix_web::test]
async fn a_contract_notice_for_another_merchant_is_kept_as_misrouted_and_answered_success() {
    // Arrange
    let app = TestApp::spawn().await;
    let mut other = contract_notice("2026-11-21 12:00:00", "RESCISSION");
    for (name, value) in other.iter_mut() {
        if name == "mid" {
            *value = "898340149000006".into();
        }
    }

    // Act
    let (status, reply) = post_contract(&app, CONTRACT_TOKEN, &other).await;

    // Assert
    assert_eq!(
        (status, reply.as_str()),
        (StatusCode::OK, "SUCCESS"),
        "the provider stops resending, as for a payment for another merchant"
    );
    let (stored, _) = app.get(&format!("/contracts/{CONTRACT_NO}")).await;
    assert_eq!(stored, StatusCode::NOT_FOUND, "applied to nothing");
    let rows = journal(&app, "outcome=misrouted").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["kind"], "contract");
    assert_eq!(rows[0]["verified"], true);
    assert!(rows[0]["detail"]
        .as_str()
        .unwrap()
        .contains("898340149000006"));
}

#[actix_web::test]
async fn an_unknown_contract_is_a_404_and_a_malformed_number_a_400() {
    let app = TestApp::spawn().await;

    let (unknown, e1) = app.get("/contracts/1017NOSUCHCONTRACT").await;
    let (short, e2) = app.get("/contracts/1017").await;

    assert_eq!(unknown, StatusCode::NOT_FOUND);
    assert_eq!(e1["code"], "not_found");
    assert_eq!(short, StatusCode::BAD_REQUEST);
    assert_eq!(e2["field"], "contractNo");
}
