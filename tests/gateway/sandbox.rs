//! The provider sandbox over real HTTP, driven with requests signed by `chinaums`: tokens,
//! the auth layer's refusals, each operation's happy path, validation and business
//! refusals, notifications (signature, resends, faults), contract notices, control routes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use awc::http::StatusCode;
use serde_json::{json, Value};
use umsgate::chinaums::form::Form;
use umsgate::chinaums::notify_sign;
use umsgate::chinaums::sign::{access_token_header, new_nonce, BodySig};
use umsgate::chinaums::time;
use umsgate::chinaums::wire::TokenRequest;

use crate::helpers::{body_sig, call, eventually_some, start_peer, TestSandbox};

const TOKEN: &str = "/v1/token/access";
const UPDATE_QRCODE: &str = "/v1/netpay/bills/update-qrcode";
const QUERY: &str = "/v1/netpay/wx/mini-pre-query";
const PREAUTHED: &str = "/v1/netpay/preauthed";

// ---------------------------------------------------------------------------------------
// Calling the sandbox as a client would.

async fn control(sandbox: &TestSandbox, path: &str, body: Value) -> (StatusCode, Value) {
    sandbox
        .post(path, body.to_string().into_bytes(), None)
        .await
}

fn now_body() -> String {
    time::format_body(umsgate::clock::Clock::system().now())
}

fn bind_request(qr: &str, bill_no: &str, amount: i64, notify_url: Option<&str>) -> Value {
    let mut body = json!({
        "requestTimestamp": now_body(),
        "mid": "898340149000005",
        "tid": "88880001",
        "instMid": "QRPAYDEFAULT",
        "qrCodeId": qr,
        "msgId": "msg-001",
        "srcReserve": "echo me",
        "billNo": bill_no,
        "billDate": time::format_date(umsgate::clock::Clock::system().now()),
        "billDesc": "绿茶 green tea",
        "totalAmount": amount,
        "memberId": "M001",
        "counterNo": "06",
    });
    if let Some(url) = notify_url {
        body["notifyUrl"] = json!(url);
    }
    body
}

fn query_request(mer_order_id: &str) -> Value {
    json!({
        "requestTimestamp": now_body(),
        "mid": "898340149000005",
        "tid": "88880001",
        "instMid": "MINIDEFAULT",
        "merOrderId": mer_order_id,
    })
}

fn preauthed_request(
    mchnt_order_id: &str,
    preauth_order_id: &str,
    code: &str,
    amount: i64,
) -> Value {
    json!({
        "reqTs": now_body(),
        "mchntOrderId": mchnt_order_id,
        "preauthOrderId": preauth_order_id,
        "authIdRespCode": code,
        "bizType": "QRPAYDEFAULT",
        "mchntNo": "898340149000005",
        "termNo": "88880001",
        "totalAmt": amount,
        "msgId": "m-1",
    })
}

/// Binds a bill and answers update-qrcode's answer.
async fn bind(
    sandbox: &TestSandbox,
    qr: &str,
    bill_no: &str,
    amount: i64,
    notify: Option<&str>,
) -> Value {
    let answer = call(
        sandbox,
        UPDATE_QRCODE,
        &bind_request(qr, bill_no, amount, notify),
    )
    .await;
    assert_eq!(answer["errCode"], "SUCCESS", "{answer}");
    answer
}

async fn pay(sandbox: &TestSandbox, id: &str, body: Value) -> Value {
    let (status, order) = control(sandbox, &format!("/_sandbox/orders/{id}/pay"), body).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    order
}

async fn refund(sandbox: &TestSandbox, id: &str, amount: Value) -> (StatusCode, Value) {
    let path = format!("/_sandbox/orders/{id}/refund");
    control(sandbox, &path, json!({ "amount": amount })).await
}

async fn set_faults(sandbox: &TestSandbox, faults: Value) {
    let (status, answer) = control(sandbox, "/_sandbox/faults", faults).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// `request` with `field` set to `value`.
fn with(request: &Value, field: &str, value: Value) -> Value {
    let mut changed = request.clone();
    changed[field] = value;
    changed
}

/// `request` without `field`.
fn without(request: &Value, field: &str) -> Value {
    let mut changed = request.clone();
    if let Some(fields) = changed.as_object_mut() {
        fields.remove(field);
    }
    changed
}

async fn order(sandbox: &TestSandbox, id: &str) -> Value {
    let (status, order) = sandbox.get(&format!("/_sandbox/orders/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    order
}

/// A token for the test credentials.
async fn token(sandbox: &TestSandbox) -> (StatusCode, Value) {
    let c = &sandbox.creds;
    let request = TokenRequest::new(
        &c.app_id,
        c.app_key.expose(),
        &time::format_compact(umsgate::clock::Clock::system().now()),
        &new_nonce(),
    );
    let body = serde_json::to_vec(&request).expect("serialises");
    sandbox.post(TOKEN, body, None).await
}

// ---------------------------------------------------------------------------------------
// A merchant's notification endpoint: records what it receives, answers as scripted.

#[derive(Clone, Debug)]
struct Received {
    content_type: String,
    body: String,
}

impl Received {
    fn form(&self) -> Form {
        Form::parse(self.body.as_bytes()).expect("a form body")
    }
}

struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// A receiver that answers the n-th request with `replies[n]` (status, body), and
    /// `200 SUCCESS` once the script runs out.
    fn start(replies: Vec<(u16, &'static str)>) -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let base = start_peer((got.clone(), replies), receive);
        Receiver {
            url: format!("{base}/notify/payment"),
            got,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }
}

type ReceiverState = (Arc<Mutex<Vec<Received>>>, Vec<(u16, &'static str)>);

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<ReceiverState>,
) -> HttpResponse {
    let (got, replies) = state.get_ref();
    let n = {
        let mut got = got.lock().expect("lock");
        got.push(Received {
            content_type: req
                .headers()
                .get("Content-Type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        got.len() - 1
    };
    let (status, reply) = replies.get(n).copied().unwrap_or((200, "SUCCESS"));
    HttpResponse::build(StatusCode::from_u16(status).expect("status")).body(reply)
}

// ---------------------------------------------------------------------------------------
// Tokens.

#[actix_web::test]
async fn a_signed_token_request_gets_a_token_that_authenticates_an_operation() {
    // Arrange
    let sandbox = TestSandbox::spawn().await;

    // Act
    let (status, issued) = token(&sandbox).await;
    let header = access_token_header(issued["accessToken"].as_str().unwrap_or_default());
    let body = query_request("1017NOSUCHORDER").to_string().into_bytes();
    let (query_status, answer) = sandbox.post(QUERY, body, Some(&header)).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{issued}");
    assert_eq!(issued["errCode"], "0000");
    assert_eq!(issued["expiresIn"], 3600);
    assert_eq!(query_status, StatusCode::OK);
    assert_eq!(answer["errCode"], "NO_ORDER", "{answer}");
    let (_, calls) = sandbox.get("/_sandbox/calls").await;
    let last = &calls["calls"][1];
    assert_eq!(last["authScheme"], "token");
    assert_eq!(last["authVerified"], true);
    assert_eq!(last["appId"], sandbox.creds.app_id.as_str());
}

#[actix_web::test]
async fn the_eleventh_token_expires_the_oldest_of_the_ten_live_ones() {
    let sandbox = TestSandbox::spawn().await;
    let mut tokens = Vec::new();
    for _ in 0..11 {
        let (_, issued) = token(&sandbox).await;
        tokens.push(
            issued["accessToken"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }

    let mut accepted = Vec::new();
    for t in &tokens {
        let body = query_request("1017NOSUCHORDER").to_string().into_bytes();
        let (status, _) = sandbox
            .post(QUERY, body, Some(&access_token_header(t)))
            .await;
        accepted.push(status == StatusCode::OK);
    }

    let mut expected = vec![true; 11];
    expected[0] = false;
    assert_eq!(accepted, expected);
}

#[actix_web::test]
async fn a_token_lives_token_ttl_and_is_refused_with_1005_after() {
    let sandbox = TestSandbox::spawn_with(json!({"token_ttl": "1s"})).await;
    let (_, issued) = token(&sandbox).await;
    let header = access_token_header(issued["accessToken"].as_str().unwrap_or_default());

    let refused = eventually_some("the token to expire", || async {
        let body = query_request("1017NOSUCHORDER").to_string().into_bytes();
        let (status, answer) = sandbox.post(QUERY, body, Some(&header)).await;
        (status == StatusCode::UNAUTHORIZED).then_some(answer)
    })
    .await;

    assert_eq!(issued["expiresIn"], 1);
    assert_eq!(refused["errCode"], "1005");
}

#[actix_web::test]
async fn a_token_request_with_a_bad_signature_or_field_is_refused_by_the_auth_layer() {
    let sandbox = TestSandbox::spawn().await;
    let c = &sandbox.creds;
    let ts = time::format_compact(umsgate::clock::Clock::system().now());
    let forged = TokenRequest::new(&c.app_id, "not-the-app-key", &ts, &new_nonce());
    let mut wrong_method = TokenRequest::new(&c.app_id, c.app_key.expose(), &ts, &new_nonce());
    wrong_method.sign_method = "MD5".into();

    let (forged_status, forged_answer) = sandbox
        .post(TOKEN, serde_json::to_vec(&forged).unwrap(), None)
        .await;
    let (method_status, method_answer) = sandbox
        .post(TOKEN, serde_json::to_vec(&wrong_method).unwrap(), None)
        .await;
    let (garbage_status, garbage_answer) = sandbox.post(TOKEN, b"not json".to_vec(), None).await;

    assert_eq!(forged_status, StatusCode::UNAUTHORIZED);
    assert_eq!(forged_answer["errCode"], "1004");
    assert_eq!(method_status, StatusCode::BAD_REQUEST);
    assert_eq!(method_answer["errCode"], "1007");
    assert!(method_answer["errInfo"]
        .as_str()
        .unwrap()
        .contains("signMethod"));
    assert_eq!(garbage_status, StatusCode::BAD_REQUEST);
    assert_eq!(garbage_answer["errCode"], "1007");
    assert!(forged_answer.get("accessToken").is_none());
}

// ---------------------------------------------------------------------------------------
// The auth layer.

#[actix_web::test]
async fn each_auth_failure_answers_401_with_its_own_numeric_code_and_is_journaled() {
    // Arrange
    let sandbox = TestSandbox::spawn().await;
    let c = &sandbox.creds;
    let body = query_request("1017NOSUCHORDER").to_string().into_bytes();
    let at = |minutes: i64| {
        time::format_compact(
            umsgate::clock::Clock::system().now() + chrono::Duration::minutes(minutes),
        )
    };
    let sign = |app: &str, key: &str, ts: &str, nonce: &str, b: &[u8]| {
        BodySig::sign(app, key, ts, nonce, b).header()
    };
    let replayed = sign(
        &c.app_id,
        c.app_key.expose(),
        &at(0),
        "fixed-nonce-0001",
        &body,
    );
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing header", None, "1000"),
        ("other scheme", Some("Bearer abc".into()), "1001"),
        (
            "unquoted parameter",
            Some(format!("OPEN-BODY-SIG AppId={}", c.app_id)),
            "1001",
        ),
        (
            "unknown appId",
            Some(sign(
                "10037e6f6823b20801682b6a5e5a9999",
                c.app_key.expose(),
                &at(0),
                &new_nonce(),
                &body,
            )),
            "1002",
        ),
        (
            "timestamp 11 minutes old",
            Some(sign(
                &c.app_id,
                c.app_key.expose(),
                &at(-11),
                &new_nonce(),
                &body,
            )),
            "1003",
        ),
        (
            "timestamp in the body's format",
            Some(sign(
                &c.app_id,
                c.app_key.expose(),
                &now_body(),
                &new_nonce(),
                &body,
            )),
            "1003",
        ),
        (
            "signed with another key",
            Some(sign(&c.app_id, "another-key", &at(0), &new_nonce(), &body)),
            "1004",
        ),
        (
            "signed over another body",
            Some(sign(
                &c.app_id,
                c.app_key.expose(),
                &at(0),
                &new_nonce(),
                b"{}",
            )),
            "1004",
        ),
        (
            "unknown token",
            Some(access_token_header("0123456789abcdef")),
            "1005",
        ),
        ("first use of a nonce", Some(replayed.clone()), "OK"),
        ("replayed nonce", Some(replayed), "1006"),
    ];

    for (case, header, expected) in &cases {
        // Act
        let (status, answer) = sandbox.post(QUERY, body.clone(), header.as_deref()).await;

        // Assert
        if *expected == "OK" {
            assert_eq!(status, StatusCode::OK, "{case}: {answer}");
            continue;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}: {answer}");
        assert_eq!(answer["errCode"], *expected, "{case}: {answer}");
        assert!(
            answer["errInfo"].as_str().is_some_and(|i| !i.is_empty()),
            "{case}"
        );
        assert!(!answer.to_string().contains(c.app_key.expose()), "{case}");
    }
    let (_, calls) = sandbox.get(&format!("/_sandbox/calls?path={QUERY}")).await;
    let verified: Vec<bool> = calls["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["authVerified"].as_bool().unwrap())
        .collect();
    assert_eq!(verified.len(), cases.len());
    assert_eq!(verified.iter().filter(|v| **v).count(), 1);
    assert_eq!(
        calls["calls"][3]["appId"],
        "10037e6f6823b20801682b6a5e5a9999"
    );
}

#[actix_web::test]
async fn an_operation_whose_body_is_not_declared_json_is_refused_naming_content_type() {
    let sandbox = TestSandbox::spawn().await;
    let body = query_request("1017NOSUCHORDER").to_string();
    let header = body_sig(&sandbox, body.as_bytes());
    let client = awc::Client::default();

    let mut res = client
        .post(format!("{}{QUERY}", sandbox.url))
        .insert_header(("Authorization", header))
        .insert_header(("Content-Type", "text/plain"))
        .send_body(body)
        .await
        .expect("sent");
    let answer: Value = res.json().await.expect("JSON");

    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(answer["errCode"], "BAD_REQUEST");
    assert!(answer["errMsg"]
        .as_str()
        .unwrap()
        .starts_with("Content-Type"));
}

#[actix_web::test]
async fn a_header_without_spaces_after_the_commas_verifies() {
    let sandbox = TestSandbox::spawn().await;
    let body = query_request("1017NOSUCHORDER").to_string().into_bytes();
    let compact = body_sig(&sandbox, &body).replace(", ", ",");

    let (status, answer) = sandbox.post(QUERY, body, Some(&compact)).await;

    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["errCode"], "NO_ORDER");
}

// ---------------------------------------------------------------------------------------
// update-qrcode.

#[actix_web::test]
async fn update_qrcode_binds_a_bill_and_answers_the_codes_url_echoing_the_request() {
    let sandbox = TestSandbox::spawn().await;

    let answer = bind(&sandbox, "QRCODE0001", "1017BIND0001", 100, None).await;
    let stored = order(&sandbox, "1017BIND0001").await;

    assert!(answer["billQRCode"]
        .as_str()
        .is_some_and(|u| u.starts_with("https://") && u.ends_with("QRCODE0001")));
    assert_eq!(answer["billNo"], "1017BIND0001");
    assert_eq!(answer["msgId"], "msg-001");
    assert_eq!(answer["srcReserve"], "echo me");
    assert_eq!(answer["mid"], "898340149000005");
    assert!(answer["responseTimeStamp"].is_string());
    assert_eq!(stored["status"], "NEW_ORDER");
    assert_eq!(stored["billStatus"], "UNPAID");
    assert_eq!(stored["totalAmount"], 100);
    assert_eq!(stored["counterNo"], "06");
}

#[actix_web::test]
async fn update_qrcode_without_a_bill_number_gets_one_starting_with_the_source_id() {
    let sandbox = TestSandbox::spawn().await;
    let request = without(&bind_request("QRCODE0002", "x", 100, None), "billNo");

    let answer = call(&sandbox, UPDATE_QRCODE, &request).await;

    assert_eq!(answer["errCode"], "SUCCESS", "{answer}");
    let bill_no = answer["billNo"].as_str().unwrap();
    assert!(
        bill_no.starts_with("1017") && bill_no.len() == 28,
        "{bill_no}"
    );
}

#[actix_web::test]
async fn update_qrcode_reads_empty_strings_as_absent_and_json_text_digits_and_flag_text_as_values()
{
    // Arrange: the same bill, once with the table's types, once as the provider's own
    // example writes them.
    let sandbox = TestSandbox::spawn().await;
    let typed = bind_request("QRCODE0010", "1017TYPED001", 26, None);
    let mut typed = with(
        &typed,
        "goods",
        json!([{"goodsId": "001", "quantity": "10"}]),
    );
    typed["retCommParams"] = json!({"tableNo": "341", "parkId": ""});
    typed["isEfrcPs"] = json!(false);
    typed["installmentNumber"] = json!(12);
    let mut texts = with(&typed, "billNo", json!("1017TEXTS001"));
    texts["qrCodeId"] = json!("QRCODE0011");
    texts["goods"] = json!(typed["goods"].to_string());
    texts["retCommParams"] = json!(typed["retCommParams"].to_string());
    texts["isEfrcPs"] = json!("false");
    texts["totalAmount"] = json!("26");
    texts["installmentNumber"] = json!("12");
    let mut empties = with(&typed, "billNo", json!("1017EMPTY001"));
    empties["qrCodeId"] = json!("QRCODE0012");
    for field in [
        "goods",
        "retCommParams",
        "isEfrcPs",
        "installmentNumber",
        "name",
        "subMchntInfo",
    ] {
        empties[field] = json!("");
    }

    // Act
    let answers = [
        call(&sandbox, UPDATE_QRCODE, &typed).await,
        call(&sandbox, UPDATE_QRCODE, &texts).await,
        call(&sandbox, UPDATE_QRCODE, &empties).await,
    ];

    // Assert
    for answer in &answers {
        assert_eq!(answer["errCode"], "SUCCESS", "{answer}");
    }
    for bill in ["1017TYPED001", "1017TEXTS001", "1017EMPTY001"] {
        let (_, truth) = sandbox.get(&format!("/_sandbox/orders/{bill}")).await;
        assert_eq!(truth["totalAmount"], 26, "{bill}: {truth}");
    }
}

#[actix_web::test]
async fn update_qrcode_refuses_a_malformed_request_with_bad_request_naming_the_field() {
    let sandbox = TestSandbox::spawn().await;
    let base = bind_request("QRCODE0003", "1017VALID001", 100, None);
    let cases = [
        (without(&base, "qrCodeId"), "qrCodeId"),
        (without(&base, "requestTimestamp"), "requestTimestamp"),
        (with(&base, "mid", json!("8983401490000051")), "mid"),
        (with(&base, "tid", json!("888800011")), "tid"),
        (with(&base, "totalAmount", json!(0)), "totalAmount"),
        (with(&base, "totalAmount", json!(1_000_001)), "totalAmount"),
        (with(&base, "totalAmount", json!(1.5)), "totalAmount"),
        (without(&base, "totalAmount"), "totalAmount"),
        (
            with(&base, "billNo", json!(format!("1017{}", "1".repeat(28)))),
            "billNo",
        ),
        (with(&base, "billNo", json!("2000OTHER001")), "billNo"),
        (with(&base, "billDesc", json!("测".repeat(128))), "billDesc"),
        (with(&base, "memberId", json!("m".repeat(33))), "memberId"),
        (
            with(&base, "expireTime", json!("2030-01-01T00:00:00")),
            "expireTime",
        ),
        (
            with(&base, "expireTime", json!("2020-01-01 00:00:00")),
            "expireTime",
        ),
        (
            with(&base, "notifyUrl", json!("ftp://example.com/notify")),
            "notifyUrl",
        ),
        (with(&base, "instMid", json!("MINIDEFAULT")), "instMid"),
        // What the tolerances still refuse.
        (with(&base, "goods", json!("[{\"goodsId\":1}]")), "goods"),
        (with(&base, "goods", json!("eggs")), "goods"),
        (
            with(&base, "retCommParams", json!("{\"tableNo\":341}")),
            "retCommParams",
        ),
        (with(&base, "isEfrcPs", json!("yes")), "isEfrcPs"),
        (with(&base, "isEfrcPs", json!(1)), "isEfrcPs"),
        (with(&base, "totalAmount", json!("2.6")), "totalAmount"),
        (
            with(&base, "installmentNumber", json!("ten")),
            "installmentNumber",
        ),
    ];

    for (request, field) in cases {
        let answer = call(&sandbox, UPDATE_QRCODE, &request).await;

        assert_eq!(answer["errCode"], "BAD_REQUEST", "{field}: {answer}");
        let message = answer["errMsg"].as_str().unwrap_or_default();
        assert!(message.starts_with(field), "{field}: {message}");
    }
    let (status, _) = sandbox.get("/_sandbox/orders/1017VALID001").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn update_qrcode_refuses_the_codes_current_bill_number_and_an_unknown_merchant() {
    let sandbox = TestSandbox::spawn().await;
    bind(&sandbox, "QRCODE0004", "1017DUP00001", 100, None).await;
    let mut other_merchant = bind_request("QRCODE0005", "1017DUP00002", 100, None);
    other_merchant["mid"] = json!("898340149000006");

    let same = call(
        &sandbox,
        UPDATE_QRCODE,
        &bind_request("QRCODE0004", "1017DUP00001", 100, None),
    )
    .await;
    let merchant = call(&sandbox, UPDATE_QRCODE, &other_merchant).await;
    let next = call(
        &sandbox,
        UPDATE_QRCODE,
        &bind_request("QRCODE0004", "1017DUP00003", 100, None),
    )
    .await;

    assert_eq!(same["errCode"], "DUP_ORDER", "{same}");
    assert!(same["errMsg"].as_str().unwrap().starts_with("billNo"));
    assert_eq!(merchant["errCode"], "NO_MERCHANT", "{merchant}");
    assert_eq!(next["errCode"], "SUCCESS", "{next}");
}

// ---------------------------------------------------------------------------------------
// mini-pre-query.

#[actix_web::test]
async fn mini_pre_query_finds_a_paid_bill_by_its_number_its_payment_id_and_its_wallet_order() {
    // Arrange
    let sandbox = TestSandbox::spawn().await;
    bind(&sandbox, "QRCODE0010", "1017QUERY001", 250, None).await;
    let unpaid = call(&sandbox, QUERY, &query_request("1017QUERY001")).await;
    let paid = pay(&sandbox, "1017QUERY001", json!({})).await;
    let attempt = paid["payment"]["merOrderId"].as_str().unwrap().to_owned();
    let wallet = paid["payment"]["targetOrderId"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_wallet = json!({"requestTimestamp": now_body(), "mid": "898340149000005",
        "tid": "88880001", "targetOrderId": wallet});

    // Act
    let by_bill = call(&sandbox, QUERY, &query_request("1017QUERY001")).await;
    let by_attempt = call(&sandbox, QUERY, &query_request(&attempt)).await;
    let by_target = call(&sandbox, QUERY, &by_wallet).await;

    // Assert
    assert_eq!(unpaid["errCode"], "SUCCESS");
    assert_eq!(unpaid["status"], "NEW_ORDER");
    assert_eq!(unpaid["totalAmount"], 250);
    for answer in [&by_bill, &by_attempt, &by_target] {
        assert_eq!(answer["errCode"], "SUCCESS", "{answer}");
        assert_eq!(answer["status"], "TRADE_SUCCESS");
        assert_eq!(answer["totalAmount"], 250);
        assert_eq!(answer["buyerPayAmount"], 250);
        assert_eq!(answer["targetOrderId"], wallet.as_str());
        assert_eq!(answer["targetSys"], "WXPay");
        assert_eq!(answer["seqId"], paid["payment"]["seqId"]);
        assert_eq!(answer["payTime"], paid["payment"]["payTime"]);
        assert_eq!(answer["settleDate"], paid["payment"]["settleDate"]);
        assert_eq!(answer["billPayment"]["merOrderId"], attempt.as_str());
    }
    assert_eq!(by_bill["merOrderId"], "1017QUERY001");
    assert_eq!(by_attempt["merOrderId"], attempt.as_str());
    assert_eq!(by_target["merOrderId"], attempt.as_str());
    assert!(attempt.starts_with("1017QUERY001") && attempt.len() <= 32);
}

#[actix_web::test]
async fn mini_pre_query_answers_no_order_for_an_unknown_id_and_closed_for_an_expired_one() {
    let sandbox = TestSandbox::spawn().await;
    let (created, _) = control(
        &sandbox,
        "/_sandbox/orders",
        json!({"merOrderId": "1017MINI0001", "totalAmount": 90}),
    )
    .await;
    let waiting = call(&sandbox, QUERY, &query_request("1017MINI0001")).await;
    let (expired, _) = control(&sandbox, "/_sandbox/orders/1017MINI0001/expire", json!({})).await;

    let unknown = call(&sandbox, QUERY, &query_request("1017NOSUCH01")).await;
    let closed = call(&sandbox, QUERY, &query_request("1017MINI0001")).await;
    let (pay_status, _) = control(&sandbox, "/_sandbox/orders/1017MINI0001/pay", json!({})).await;

    assert_eq!(created, StatusCode::CREATED);
    assert_eq!(waiting["status"], "WAIT_BUYER_PAY");
    assert_eq!(expired, StatusCode::OK);
    assert_eq!(unknown["errCode"], "NO_ORDER");
    assert_eq!(closed["errCode"], "SUCCESS");
    assert_eq!(closed["status"], "TRADE_CLOSED");
    assert_eq!(pay_status, StatusCode::CONFLICT);
}

#[actix_web::test]
async fn an_unpaid_bill_reads_closed_once_its_expire_time_has_passed() {
    let sandbox = TestSandbox::spawn().await;
    let mut request = bind_request("QRCODE0011", "1017EXPI0001", 100, None);
    request["expireTime"] = json!(time::format_body(
        umsgate::clock::Clock::system().now() + chrono::Duration::seconds(2)
    ));
    let bound = call(&sandbox, UPDATE_QRCODE, &request).await;

    let closed = eventually_some("the bill to expire", || async {
        let answer = call(&sandbox, QUERY, &query_request("1017EXPI0001")).await;
        (answer["status"] == "TRADE_CLOSED").then_some(answer)
    })
    .await;
    let (pay_status, refused) =
        control(&sandbox, "/_sandbox/orders/1017EXPI0001/pay", json!({})).await;

    assert_eq!(bound["errCode"], "SUCCESS", "{bound}");
    assert_eq!(closed["errCode"], "SUCCESS");
    assert_eq!(pay_status, StatusCode::CONFLICT);
    assert!(
        refused["message"].as_str().unwrap().contains("expired"),
        "{refused}"
    );
    let journal = order(&sandbox, "1017EXPI0001").await;
    assert_eq!(
        journal["notifications"]["items"],
        json!([]),
        "expiry is silent"
    );
}

#[actix_web::test]
async fn mini_pre_query_refuses_a_malformed_request_naming_the_field() {
    let sandbox = TestSandbox::spawn().await;
    let base = query_request("1017QUERY002");
    let cases = [
        (without(&base, "merOrderId"), "merOrderId"),
        (without(&base, "requestTimestamp"), "requestTimestamp"),
        (without(&base, "tid"), "tid"),
        (with(&base, "merOrderId", json!("10171")), "merOrderId"),
        (
            with(&base, "merOrderId", json!("1".repeat(33))),
            "merOrderId",
        ),
        (with(&base, "mid", json!("8983401")), "mid"),
        (with(&base, "msgId", json!("m".repeat(65))), "msgId"),
    ];

    for (request, field) in cases {
        let answer = call(&sandbox, QUERY, &request).await;

        assert_eq!(answer["errCode"], "BAD_REQUEST", "{field}: {answer}");
        assert!(
            answer["errMsg"].as_str().unwrap().starts_with(field),
            "{answer}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// preauthed.

/// A pre-authorised bill, paid; answers (payment attempt id, authorisation code).
async fn authorised(sandbox: &TestSandbox, bill_no: &str, amount: i64) -> (String, String) {
    let mut request = bind_request(&format!("QR{bill_no}"), bill_no, amount, None);
    request["preauthTransaction"] = json!("true");
    let answer = call(sandbox, UPDATE_QRCODE, &request).await;
    assert_eq!(answer["errCode"], "SUCCESS", "{answer}");
    let paid = pay(sandbox, bill_no, json!({})).await;
    (
        paid["payment"]["merOrderId"].as_str().unwrap().to_owned(),
        paid["authIdRespCd"].as_str().unwrap().to_owned(),
    )
}

#[actix_web::test]
async fn preauthed_completes_an_authorised_order_once_and_answers_the_same_again() {
    // Arrange
    let sandbox = TestSandbox::spawn().await;
    let (attempt, code) = authorised(&sandbox, "1017AUTH0001", 500).await;
    let request = preauthed_request("1017DONE0001", &attempt, &code, 300);

    // Act
    let done = call(&sandbox, PREAUTHED, &request).await;
    let again = call(&sandbox, PREAUTHED, &request).await;
    let original = call(&sandbox, QUERY, &query_request("1017AUTH0001")).await;
    let completion = call(&sandbox, QUERY, &query_request("1017DONE0001")).await;

    // Assert
    assert_eq!(done["errCode"], "SUCCESS", "{done}");
    assert_eq!(done["status"], "TRADE_SUCCESS");
    assert!(done["secureStatus"].is_string());
    assert_eq!(done["totalAmt"], 300);
    assert_eq!(done["payAmt"], 300);
    assert_eq!(done["mchntOrderId"], "1017DONE0001");
    assert_eq!(done["msgId"], "m-1");
    for field in ["platSsn", "targetOrderId", "payTs", "stlDate", "respTs"] {
        assert!(done[field].is_string(), "{field}: {done}");
    }
    assert_eq!(again["platSsn"], done["platSsn"]);
    assert_eq!(again["totalAmt"], 300);
    assert_eq!(original["status"], "TRADE_SUCCESS");
    assert_eq!(original["totalAmount"], 500);
    assert_eq!(completion["status"], "TRADE_SUCCESS");
    assert_eq!(completion["totalAmount"], 300);
    assert_eq!(completion["merOrderId"], "1017DONE0001");
    assert_eq!(completion["targetOrderId"], done["targetOrderId"]);
}

#[actix_web::test]
async fn preauthed_refuses_what_the_authorisation_does_not_allow() {
    let sandbox = TestSandbox::spawn().await;
    let (attempt, code) = authorised(&sandbox, "1017AUTH0002", 500).await;
    bind(&sandbox, "QRPLAIN0001", "1017PLAIN001", 500, None).await;
    pay(&sandbox, "1017PLAIN001", json!({})).await;
    let wrong_code = if code == "000000" { "111111" } else { "000000" };

    let above = call(
        &sandbox,
        PREAUTHED,
        &preauthed_request("1017DONE0002", &attempt, &code, 501),
    )
    .await;
    let bad_code = call(
        &sandbox,
        PREAUTHED,
        &preauthed_request("1017DONE0002", &attempt, wrong_code, 100),
    )
    .await;
    let plain = call(
        &sandbox,
        PREAUTHED,
        &preauthed_request("1017DONE0003", "1017PLAIN001", &code, 100),
    )
    .await;
    let unknown = call(
        &sandbox,
        PREAUTHED,
        &preauthed_request("1017DONE0004", "1017NOSUCH01", &code, 100),
    )
    .await;
    let mut other_biz = preauthed_request("1017DONE0005", &attempt, &code, 100);
    other_biz["bizType"] = json!("MINIDEFAULT");
    let biz = call(&sandbox, PREAUTHED, &other_biz).await;

    assert_eq!(above["errCode"], "BAD_REQUEST", "{above}");
    assert!(above["errMsg"].as_str().unwrap().starts_with("totalAmt"));
    assert_eq!(bad_code["errCode"], "BAD_REQUEST", "{bad_code}");
    assert!(bad_code["errMsg"]
        .as_str()
        .unwrap()
        .starts_with("authIdRespCode"));
    assert_eq!(plain["errCode"], "OPERATION_NOT_ALLOWED", "{plain}");
    assert_eq!(unknown["errCode"], "NO_ORDER", "{unknown}");
    assert_eq!(biz["errCode"], "BAD_REQUEST", "{biz}");
    assert_eq!(
        order(&sandbox, "1017AUTH0002").await["completion"],
        Value::Null
    );
}

#[actix_web::test]
async fn preauthed_refuses_a_malformed_request_naming_the_field() {
    let sandbox = TestSandbox::spawn().await;
    let base = preauthed_request("1017DONE0009", "1017AUTH0009", "123456", 100);
    let cases = [
        (with(&base, "authIdRespCode", json!("")), "authIdRespCode"),
        (with(&base, "totalAmt", json!(0)), "totalAmt"),
        (with(&base, "totalAmt", json!(100_000_001)), "totalAmt"),
        (
            with(&base, "mchntOrderId", json!("1".repeat(33))),
            "mchntOrderId",
        ),
        (
            with(&base, "mchntOrderId", json!("9999DONE0009")),
            "mchntOrderId",
        ),
        (with(&base, "reqTs", json!("20240101120000")), "reqTs"),
        (with(&base, "termNo", json!("x")), "termNo"),
    ];

    for (request, field) in cases {
        let answer = call(&sandbox, PREAUTHED, &request).await;

        assert_eq!(answer["errCode"], "BAD_REQUEST", "{field}: {answer}");
        assert!(
            answer["errMsg"].as_str().unwrap().starts_with(field),
            "{answer}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Notifications.

#[actix_web::test]
async fn a_payment_notification_is_signed_with_the_notification_key_and_resent_until_success() {
    // Arrange
    let sandbox = TestSandbox::spawn().await;
    let receiver = Receiver::start(vec![(200, "FAILED"), (500, "FAILED")]);
    bind(
        &sandbox,
        "QRCODE0020",
        "1017NOTE0001",
        100,
        Some(&receiver.url),
    )
    .await;

    // Act
    pay(&sandbox, "1017NOTE0001", json!({})).await;
    let journal = eventually_some("the notification to be acknowledged", || async {
        let o = order(&sandbox, "1017NOTE0001").await;
        (o["notifications"]["delivered"] == 1).then_some(o)
    })
    .await;

    // Assert
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    assert_eq!(journal["notifications"]["sent"], 3);
    assert_eq!(journal["notifications"]["items"][0]["state"], "delivered");
    let first = received[0].form();
    assert!(received[0]
        .content_type
        .starts_with("application/x-www-form-urlencoded"));
    assert_eq!(
        notify_sign::verify(first.pairs(), &[sandbox.creds.notify_key.expose()]),
        Ok(0)
    );
    assert_eq!(
        notify_sign::verify(first.pairs(), &["another-key"]),
        Err(notify_sign::VerifyError::Mismatch)
    );
    assert!(
        received.iter().all(|r| r.body == received[0].body),
        "resends are identical"
    );
    assert_eq!(first.get("billNo"), Some("1017NOTE0001"));
    assert_eq!(first.get("billStatus"), Some("PAID"));
    assert_eq!(first.get("totalAmount"), Some("100"));
    assert_eq!(first.get("signType"), Some("SHA256"));
    assert_eq!(first.get("memberId"), Some("M001"));
    assert_eq!(first.get("billDesc"), Some("绿茶 green tea"));
    assert_eq!(
        first.get("notifyId"),
        journal["notifications"]["items"][0]["notifyId"].as_str()
    );
    let payment: Value = serde_json::from_str(first.get("billPayment").unwrap()).unwrap();
    assert_eq!(payment["merOrderId"], journal["payment"]["merOrderId"]);
    assert_eq!(payment["status"], "TRADE_SUCCESS");
    assert_eq!(payment["totalAmount"], 100);
    let known = [
        "billNo",
        "billQRCode",
        "billDate",
        "billStatus",
        "totalAmount",
        "notifyId",
        "seqId",
        "mid",
        "tid",
        "instMid",
        "createTime",
        "billDesc",
        "memberId",
        "counterNo",
        "merName",
        "billPayment",
        "signType",
        "sign",
    ];
    let extra: Vec<&str> = first
        .pairs()
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !known.contains(n))
        .collect();
    assert_eq!(extra.len(), 1, "one random field: {extra:?}");
}

#[actix_web::test]
async fn a_notification_never_acknowledged_is_given_up_when_the_back_off_list_runs_out() {
    let sandbox = TestSandbox::spawn().await;
    let receiver = Receiver::start(vec![(500, "FAILED"); 10]);
    bind(
        &sandbox,
        "QRCODE0021",
        "1017NOTE0002",
        100,
        Some(&receiver.url),
    )
    .await;

    pay(&sandbox, "1017NOTE0002", json!({})).await;
    let journal = eventually_some("the notification to be given up", || async {
        let o = order(&sandbox, "1017NOTE0002").await;
        (o["notifications"]["gaveUp"] == 1).then_some(o)
    })
    .await;

    assert_eq!(journal["notifications"]["sent"], 5);
    assert_eq!(journal["notifications"]["delivered"], 0);
    assert_eq!(receiver.received().len(), 5);
}

#[actix_web::test]
async fn with_every_notification_dropped_none_arrives_and_the_query_still_reports_the_payment() {
    let sandbox = TestSandbox::spawn_with(json!({"faults": {"drop_notifications": 1.0}})).await;
    let receiver = Receiver::start(Vec::new());
    bind(
        &sandbox,
        "QRCODE0022",
        "1017DROP0001",
        100,
        Some(&receiver.url),
    )
    .await;

    let paid = pay(&sandbox, "1017DROP0001", json!({})).await;
    let answer = call(&sandbox, QUERY, &query_request("1017DROP0001")).await;

    let item = &paid["notifications"]["items"][0];
    assert_eq!(item["state"], "dropped");
    assert_eq!(item["faults"], json!(["dropped"]));
    assert_eq!(paid["notifications"]["sent"], 0);
    assert!(receiver.received().is_empty());
    assert_eq!(answer["status"], "TRADE_SUCCESS");
    assert_eq!(answer["totalAmount"], 100);
}

#[actix_web::test]
async fn a_payment_whose_notification_is_lost_on_purpose_is_never_notified() {
    let sandbox = TestSandbox::spawn().await;
    let receiver = Receiver::start(Vec::new());
    bind(
        &sandbox,
        "QRCODE0023",
        "1017LOST0001",
        100,
        Some(&receiver.url),
    )
    .await;

    let paid = pay(&sandbox, "1017LOST0001", json!({"notify": false})).await;

    assert_eq!(paid["status"], "TRADE_SUCCESS");
    assert_eq!(paid["notifications"]["items"][0]["faults"], json!(["lost"]));
    assert_eq!(paid["notifications"]["dropped"], 1);
    assert!(receiver.received().is_empty());
}

#[actix_web::test]
async fn the_duplicate_fault_delivers_the_same_notify_id_twice() {
    let sandbox =
        TestSandbox::spawn_with(json!({"faults": {"duplicate_notifications": 1.0}})).await;
    let receiver = Receiver::start(Vec::new());
    bind(
        &sandbox,
        "QRCODE0024",
        "1017DUPL0001",
        100,
        Some(&receiver.url),
    )
    .await;

    pay(&sandbox, "1017DUPL0001", json!({})).await;
    let received = eventually_some("two deliveries", || async {
        let got = receiver.received();
        (got.len() == 2).then_some(got)
    })
    .await;

    let ids: Vec<String> = received
        .iter()
        .map(|r| r.form().get("notifyId").unwrap().to_owned())
        .collect();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(received[0].body, received[1].body);
    let journal = order(&sandbox, "1017DUPL0001").await;
    assert_eq!(
        journal["notifications"]["items"][0]["faults"],
        json!(["duplicated"])
    );
}

#[actix_web::test]
async fn a_reordered_notification_is_overtaken_by_the_next_one() {
    let sandbox = TestSandbox::spawn().await;
    let receiver = Receiver::start(Vec::new());
    bind(
        &sandbox,
        "QRCODE0025",
        "1017REOR0001",
        100,
        Some(&receiver.url),
    )
    .await;
    set_faults(
        &sandbox,
        json!({"reorderNotifications": 1.0, "reorderHoldMs": 4000}),
    )
    .await;
    pay(&sandbox, "1017REOR0001", json!({})).await;
    set_faults(&sandbox, json!({"reorderNotifications": 0.0})).await;

    refund(&sandbox, "1017REOR0001", json!(30)).await;
    let received = eventually_some("both notifications", || async {
        let got = receiver.received();
        (got.len() == 2).then_some(got)
    })
    .await;

    assert_eq!(received[0].form().get("billStatus"), Some("REFUND"));
    assert_eq!(received[1].form().get("billStatus"), Some("PAID"));
}

#[actix_web::test]
async fn refund_notifications_carry_the_running_total_refunded() {
    let sandbox = TestSandbox::spawn_with(json!({"notify_sign_type": "MD5"})).await;
    let receiver = Receiver::start(Vec::new());
    let (status, _) = control(
        &sandbox,
        "/_sandbox/orders",
        json!({"merOrderId": "1017MINI0002", "totalAmount": "100", "notifyUrl": receiver.url}),
    )
    .await;
    pay(&sandbox, "1017MINI0002", json!({})).await;

    refund(&sandbox, "1017MINI0002", json!(30)).await;
    refund(&sandbox, "1017MINI0002", json!(70)).await;
    let received = eventually_some("three notifications", || async {
        let got = receiver.received();
        (got.len() == 3).then_some(got)
    })
    .await;
    let full = call(&sandbox, QUERY, &query_request("1017MINI0002")).await;

    assert_eq!(status, StatusCode::CREATED);
    let mut refunds: Vec<String> = received
        .iter()
        .map(Received::form)
        .filter(|f| f.get("status") == Some("TRADE_REFUND"))
        .map(|f| f.get("refundAmount").unwrap_or_default().to_owned())
        .collect();
    refunds.sort();
    assert_eq!(refunds, ["100", "30"]);
    for r in &received {
        let form = r.form();
        assert_eq!(form.get("signType"), Some("MD5"));
        assert_eq!(form.get("merOrderId"), Some("1017MINI0002"));
        assert_eq!(form.get("billNo"), None, "mini-program shape");
        assert_eq!(
            notify_sign::verify(form.pairs(), &[sandbox.creds.notify_key.expose()]),
            Ok(0)
        );
    }
    assert_eq!(full["status"], "TRADE_CLOSED");
    let (over, _) = refund(&sandbox, "1017MINI0002", json!(1)).await;
    assert_eq!(over, StatusCode::CONFLICT);
}

#[actix_web::test]
async fn a_pre_authorised_payment_notification_carries_the_authorisation_code() {
    let sandbox = TestSandbox::spawn().await;
    let receiver = Receiver::start(Vec::new());
    bind(
        &sandbox,
        "QRCODE0026",
        "1017AUTH0003",
        100,
        Some(&receiver.url),
    )
    .await;

    let paid = pay(&sandbox, "1017AUTH0003", json!({"preauth": true})).await;
    let received = eventually_some("the notification", || async {
        receiver.received().first().cloned()
    })
    .await;

    assert_eq!(
        received.form().get("authIdRespCd"),
        paid["authIdRespCd"].as_str()
    );
    assert_eq!(paid["authIdRespCd"].as_str().map(str::len), Some(6));
}

#[actix_web::test]
async fn a_contract_notice_is_resent_until_the_receiver_answers_200() {
    let sandbox = TestSandbox::spawn().await;
    let receiver = Receiver::start(vec![(500, "busy"), (503, "busy"), (404, "no")]);

    let (status, accepted) = control(
        &sandbox,
        "/_sandbox/contracts/1017C0000001/notify",
        json!({"contractState": "RESCISSION", "notifyUrl": receiver.url, "planId": "P1",
               "requestTimestamp": "2026-11-21 12:00:00"}),
    )
    .await;
    let journal = eventually_some("the notice to be acknowledged", || async {
        let (_, j) = sandbox.get("/_sandbox/contracts/1017C0000001").await;
        (j["notices"][0]["state"] == "delivered").then_some(j)
    })
    .await;

    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let received = receiver.received();
    assert_eq!(received.len(), 4);
    assert_eq!(journal["notices"][0]["attempts"], 4);
    let form = received[3].form();
    assert_eq!(form.get("contractNo"), Some("1017C0000001"));
    assert_eq!(form.get("contractState"), Some("RESCISSION"));
    assert_eq!(form.get("requestTimestamp"), Some("2026-11-21 12:00:00"));
    assert_eq!(form.get("mid"), Some("898340149000005"));
    assert_eq!(form.get("sign"), None, "unsigned, as the seed shows");
    assert!(
        !journal.to_string().contains(&receiver.url),
        "the URL is not shown"
    );
}

#[actix_web::test]
async fn a_contract_notice_asked_to_be_signed_verifies_with_the_notification_key() {
    let sandbox = TestSandbox::spawn().await;
    let receiver = Receiver::start(Vec::new());

    control(
        &sandbox,
        "/_sandbox/contracts/1017C0000002/notify",
        json!({"contractState": "SIGNED", "notifyUrl": receiver.url, "sign": true}),
    )
    .await;
    let received = eventually_some("the notice", || async {
        receiver.received().first().cloned()
    })
    .await;

    let form = received.form();
    assert_eq!(
        notify_sign::verify(form.pairs(), &[sandbox.creds.notify_key.expose()]),
        Ok(0)
    );
}

// ---------------------------------------------------------------------------------------
// Faults on the operations.

#[actix_web::test]
async fn the_query_error_fault_answers_a_transient_error_code() {
    let sandbox = TestSandbox::spawn_with(json!({"faults": {"query_error_rate": 1.0}})).await;

    let answer = call(&sandbox, QUERY, &query_request("1017NOSUCH02")).await;

    let code = answer["errCode"].as_str().unwrap_or_default();
    assert!(
        ["SYSTEM_BUSY", "INTERNAL_ERROR"].contains(&code),
        "{answer}"
    );
    let (_, calls) = sandbox.get("/_sandbox/calls").await;
    assert_eq!(calls["calls"][0]["fault"], "error");
}

#[actix_web::test]
async fn the_garbage_fault_answers_200_with_a_body_that_is_not_json() {
    let sandbox = TestSandbox::spawn().await;
    set_faults(&sandbox, json!({"garbageRate": 1.0})).await;
    let body = bind_request("QRCODE0030", "1017GARB0001", 100, None)
        .to_string()
        .into_bytes();
    let header = body_sig(&sandbox, &body);

    let (status, answer) = sandbox.post(UPDATE_QRCODE, body, Some(&header)).await;

    assert_eq!(status, StatusCode::OK);
    assert!(answer.is_string(), "not JSON: {answer}");
    let (found, _) = sandbox.get("/_sandbox/orders/1017GARB0001").await;
    assert_eq!(found, StatusCode::NOT_FOUND, "a garbage answer did nothing");
}

#[actix_web::test]
async fn the_query_timeout_fault_holds_the_answer_past_the_clients_timeout() {
    let sandbox = TestSandbox::spawn_with(json!({"faults": {"query_timeout_rate": 1.0}})).await;
    let body = query_request("1017NOSUCH03").to_string().into_bytes();
    let header = body_sig(&sandbox, &body);
    let client = awc::Client::builder()
        .timeout(Duration::from_millis(300))
        .finish();

    let outcome = client
        .post(format!("{}{QUERY}", sandbox.url))
        .insert_header(("Authorization", header))
        .insert_header(("Content-Type", "application/json"))
        .send_body(body)
        .await;

    assert!(
        matches!(outcome, Err(awc::error::SendRequestError::Timeout)),
        "{outcome:?}"
    );
    let (_, calls) = sandbox.get("/_sandbox/calls").await;
    assert_eq!(calls["calls"][0]["fault"], "timeout");
    assert_eq!(calls["calls"][0]["errCode"], "NO_ORDER");
    sandbox.stop().await;
}

// ---------------------------------------------------------------------------------------
// Control routes.

#[actix_web::test]
async fn control_routes_answer_404_for_unknown_orders_and_409_for_impossible_changes() {
    let sandbox = TestSandbox::spawn().await;
    bind(&sandbox, "QRCODE0040", "1017CTRL0001", 100, None).await;
    bind(&sandbox, "QRCODE0041", "1017CTRL0002", 100, None).await;
    pay(&sandbox, "1017CTRL0001", json!({})).await;
    control(&sandbox, "/_sandbox/orders/1017CTRL0002/close", json!({})).await;

    let (unknown, _) = control(&sandbox, "/_sandbox/orders/1017NOSUCH04/pay", json!({})).await;
    let (paid_again, _) = control(&sandbox, "/_sandbox/orders/1017CTRL0001/pay", json!({})).await;
    let (pay_closed, _) = control(&sandbox, "/_sandbox/orders/1017CTRL0002/pay", json!({})).await;
    let (close_paid, _) = control(&sandbox, "/_sandbox/orders/1017CTRL0001/close", json!({})).await;
    let (refund_unpaid, _) = refund(&sandbox, "1017CTRL0002", json!(1)).await;
    let (too_much, _) = refund(&sandbox, "1017CTRL0001", json!(101)).await;
    let (bad_amount, bad) = refund(&sandbox, "1017CTRL0001", json!(1.5)).await;
    let (taken, _) = control(
        &sandbox,
        "/_sandbox/orders",
        json!({"merOrderId": "1017CTRL0001", "totalAmount": 1}),
    )
    .await;
    let (bad_rate, rate) =
        control(&sandbox, "/_sandbox/faults", json!({"queryErrorRate": 2})).await;
    let (unknown_fault, _) = control(&sandbox, "/_sandbox/faults", json!({"dropAll": 1})).await;

    assert_eq!(unknown, StatusCode::NOT_FOUND);
    assert_eq!(paid_again, StatusCode::CONFLICT);
    assert_eq!(pay_closed, StatusCode::CONFLICT);
    assert_eq!(close_paid, StatusCode::CONFLICT);
    assert_eq!(refund_unpaid, StatusCode::CONFLICT);
    assert_eq!(too_much, StatusCode::CONFLICT);
    assert_eq!(bad_amount, StatusCode::BAD_REQUEST);
    assert_eq!(bad["field"], "amount");
    assert_eq!(taken, StatusCode::CONFLICT);
    assert_eq!(bad_rate, StatusCode::BAD_REQUEST);
    assert_eq!(rate["field"], "queryErrorRate");
    assert_eq!(unknown_fault, StatusCode::BAD_REQUEST);
    let (_, faults) = sandbox.get("/_sandbox/faults").await;
    assert_eq!(faults["queryErrorRate"], 0.0);
}

#[actix_web::test]
async fn a_payment_of_another_amount_is_reported_as_paid_with_that_amount() {
    let sandbox = TestSandbox::spawn().await;
    bind(&sandbox, "QRCODE0042", "1017AMNT0001", 100, None).await;

    let paid = pay(&sandbox, "1017AMNT0001", json!({"amount": 90})).await;
    let answer = call(&sandbox, QUERY, &query_request("1017AMNT0001")).await;

    assert_eq!(paid["totalAmount"], 100);
    assert_eq!(paid["paidAmount"], 90);
    assert_eq!(answer["totalAmount"], 90);
}
