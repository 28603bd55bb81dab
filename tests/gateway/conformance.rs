//! The provider's own examples pass: every example of the five provider pages, held verbatim
//! in `tests/conformance/`, against the real sandbox and the real gateway. Each example
//! request (per language) re-stamped and signed is accepted by the sandbox; each example
//! answer, served by a peer playing the provider, leads the gateway to the outcome its page
//! describes; the example notification and contract notice, signed, are accepted by the
//! intake. Where an example's value is one the provider could not accept (a placeholder,
//! another merchant's number, a time long past), the test replaces only that value and says
//! why. Also: the JSON types of every field the gateway itself sends.

use std::sync::{Arc, Mutex};

use actix_web::{web, HttpRequest, HttpResponse};
use awc::http::StatusCode;
use chrono::Duration;
use serde_json::{json, Map, Value};
use umsgate::chinaums::notify_sign;
use umsgate::chinaums::status::{ErrClass, TradeStatus};
use umsgate::chinaums::time;
use umsgate::chinaums::wire::{
    from_json, Base64Secret, MiniPreQueryResponse, PreauthedResponse, UpdateQrcodeResponse,
};

use crate::helpers::{
    call, eventually, signed_notice, start_peer, PaidBill, TestApp, TestSandbox, CONTRACT_TOKEN,
    NOTIFY_KEY,
};

const UPDATE_QRCODE: &str = "/v1/netpay/bills/update-qrcode";
const QUERY: &str = "/v1/netpay/wx/mini-pre-query";
const PREAUTHED: &str = "/v1/netpay/preauthed";

// ---------------------------------------------------------------------------------------
// The pages' examples, as data.

/// The languages each page shows its example request in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lang {
    Java,
    Php,
    Python,
}

/// A page's example requests, each language's text as copied.
fn requests(page: &str) -> [(Lang, &'static str); 3] {
    macro_rules! page {
        ($name:literal) => {
            [
                (
                    Lang::Java,
                    include_str!(concat!("../conformance/", $name, ".java.txt")),
                ),
                (
                    Lang::Php,
                    include_str!(concat!("../conformance/", $name, ".php.txt")),
                ),
                (
                    Lang::Python,
                    include_str!(concat!("../conformance/", $name, ".python.txt")),
                ),
            ]
        };
    }
    match page {
        "payment-notification" => page!("payment-notification"),
        "mini-pre-query" => page!("mini-pre-query"),
        "update-qrcode" => page!("update-qrcode"),
        "preauthed" => page!("preauthed"),
        "contract-notice" => page!("contract-notice"),
        other => panic!("no page {other}"),
    }
}

/// A page's example answer, as copied.
pub(crate) fn answer(page: &str) -> &'static str {
    let text = match page {
        "payment-notification" => include_str!("../conformance/payment-notification.answer.txt"),
        "mini-pre-query" => include_str!("../conformance/mini-pre-query.answer.txt"),
        "update-qrcode" => include_str!("../conformance/update-qrcode.answer.txt"),
        "preauthed" => include_str!("../conformance/preauthed.answer.txt"),
        "contract-notice" => include_str!("../conformance/contract-notice.answer.txt"),
        other => panic!("no page {other}"),
    };
    verbatim(text)
}

/// A data file's copied text: everything after its header (up to the first blank line).
fn verbatim(file: &'static str) -> &'static str {
    let (_, text) = file
        .split_once("\n\n")
        .expect("a header, a blank line, the text");
    text
}

/// The request a page's example sends, as its language's code would send it.
///
/// The pages print the body with broken quoting: a Java string or Python dict whose `\"`
/// are the JSON's quotes, and nested values (`goods`, `retCommParams`, `billPayment`)
/// written as JSON inside a string without escaping its quotes; the PHP rendering replaced
/// every `:` with `=>` (also inside times and URLs) and wraps `goods` in
/// `json_encode(array(…))`. Read as intended: every value is a string, and a nested value is
/// a string holding the nested JSON exactly as printed.
fn page_request(lang: Lang, file: &'static str) -> Map<String, Value> {
    let text = verbatim(file);
    let body = match lang {
        Lang::Java => between(text, "String request = \"", "\";").replace("\\\"", "\""),
        Lang::Python => between(text, "DataRequest(", ")").replace("\\\"", "\""),
        Lang::Php => format!("{{{}}}", between(text, "json_encode(array(", "))"))
            .replace("=>", ":")
            .replace("\"json_encode(array(", "\"")
            .replace("]))\"", "]\""),
    };
    Loose { s: &body, at: 0 }.object()
}

/// The text from the first `open` to the last `close`.
fn between<'a>(text: &'a str, open: &str, close: &str) -> &'a str {
    let start = text.find(open).expect("opening") + open.len();
    let end = text.rfind(close).expect("closing");
    &text[start..end]
}

/// A reader of the pages' printed JSON: an object of string values, where a value that
/// opens with `[` or `{` runs to its matching bracket (its inner quotes unescaped).
struct Loose<'a> {
    s: &'a str,
    at: usize,
}

impl Loose<'_> {
    fn rest(&self) -> &str {
        &self.s[self.at..]
    }

    fn eat(&mut self, c: char) {
        self.at += self.rest().len() - self.rest().trim_start().len();
        assert!(
            self.rest().starts_with(c),
            "expected {c:?} at {:?}",
            &self.rest()[..self.rest().len().min(40)]
        );
        self.at += c.len_utf8();
    }

    fn string(&mut self) -> String {
        self.eat('"');
        let end = self.rest().find('"').expect("closing quote");
        let s = self.rest()[..end].to_owned();
        self.at += end + 1;
        s
    }

    fn value(&mut self) -> String {
        self.at += self.rest().len() - self.rest().trim_start().len();
        if !(self.rest().starts_with("\"[") || self.rest().starts_with("\"{")) {
            return self.string();
        }
        self.at += 1;
        let (mut depth, mut quoted) = (0usize, false);
        for (i, c) in self.rest().char_indices() {
            match c {
                '"' => quoted = !quoted,
                '[' | '{' if !quoted => depth += 1,
                ']' | '}' if !quoted => {
                    depth -= 1;
                    if depth == 0 {
                        let nested = self.rest()[..=i].to_owned();
                        self.at += i + 1;
                        self.eat('"');
                        return nested;
                    }
                }
                _ => {}
            }
        }
        panic!("unbalanced nested value")
    }

    fn object(&mut self) -> Map<String, Value> {
        let mut fields = Map::new();
        self.eat('{');
        loop {
            let name = self.string();
            self.eat(':');
            let value = self.value();
            assert!(fields.insert(name, Value::String(value)).is_none());
            self.at += self.rest().len() - self.rest().trim_start().len();
            if self.rest().starts_with(',') {
                self.at += 1;
                continue;
            }
            self.eat('}');
            assert!(self.rest().trim().is_empty(), "text after the object");
            return fields;
        }
    }
}

/// One value of an example the test sends differently, and why.
struct Replaced {
    field: &'static str,
    value: String,
    why: &'static str,
}

fn replace(field: &'static str, value: impl Into<String>, why: &'static str) -> Replaced {
    Replaced {
        field,
        value: value.into(),
        why,
    }
}

/// The example with only `replaced` changed (each must be a field of the example).
fn with(example: &Map<String, Value>, replaced: &[Replaced]) -> Value {
    let mut sent = example.clone();
    for r in replaced {
        assert!(!r.why.is_empty());
        let old = sent.insert(r.field.to_owned(), Value::String(r.value.clone()));
        assert!(old.is_some(), "{} is not a field of the example", r.field);
    }
    Value::Object(sent)
}

const RESTAMPED: &str = "the request time must be within minutes of the provider's clock";
const MERCHANT: &str = "the page's example names another merchant or terminal; the test \
                        credentials' own are sent";
const BLANK: &str = "the page leaves the value blank: a placeholder";

fn now() -> String {
    time::format_body(umsgate::clock::Clock::system().now())
}

// ---------------------------------------------------------------------------------------
// The pages' example requests.

#[test]
fn each_pages_three_languages_send_the_same_request() {
    for page in [
        "payment-notification",
        "mini-pre-query",
        "update-qrcode",
        "preauthed",
        "contract-notice",
    ] {
        let [java, php, python] = requests(page).map(|(lang, text)| page_request(lang, text));

        assert!(java.len() >= 8, "{page}: {java:?}");
        assert_eq!(php, java, "{page}: PHP");
        assert_eq!(python, java, "{page}: Python");
    }
}

#[test]
fn the_nested_values_are_json_text_and_the_php_times_and_urls_read_as_in_java() {
    let [(lang, text), ..] = requests("update-qrcode");
    let page = page_request(lang, text);

    let goods: Value = serde_json::from_str(page["goods"].as_str().unwrap()).unwrap();
    let params: Value = serde_json::from_str(page["retCommParams"].as_str().unwrap()).unwrap();
    assert_eq!(goods[0]["goodsName"], "鸡蛋");
    assert_eq!(params["tableNo"], "341");
    let [_, (lang, text), _] = requests("update-qrcode");
    let php = page_request(lang, text);
    assert_eq!(php["requestTimestamp"], "2020-02-26 13:36:00");
    assert_eq!(php["notifyUrl"], "http://www.test.com/notify");
}

#[actix_web::test]
async fn every_update_qrcode_example_binds_its_bill_at_the_sandbox() {
    let sandbox = TestSandbox::spawn().await;

    for (n, (lang, text)) in requests("update-qrcode").into_iter().enumerate() {
        // Arrange
        let page = page_request(lang, text);
        let bill_no = format!("{}8888{n}", sandbox.creds.msg_src_id);
        let base64 = |field: &str| Base64Secret::new(page[field].as_str().unwrap()).encoded();
        let why_base64 = "the page's table and text say name, mobile and certNo are sent \
                          Base64-encoded; its example shows them before encoding";
        let request = with(
            &page,
            &[
                replace("requestTimestamp", now(), RESTAMPED),
                replace(
                    "expireTime",
                    time::format_body(
                        umsgate::clock::Clock::system().now() + Duration::minutes(30),
                    ),
                    "the page's expiry (2022) has passed: a bill cannot be bound expired",
                ),
                replace("tid", sandbox.creds.tid.clone(), MERCHANT),
                replace(
                    "billNo",
                    bill_no.clone(),
                    "a bill number starts with the merchant's 4-character source id and is \
                     6 to 32 long; the page's 8888 is a placeholder",
                ),
                replace("name", base64("name"), why_base64),
                replace("mobile", base64("mobile"), why_base64),
                replace("certNo", base64("certNo"), why_base64),
            ],
        );

        // Act
        let answer = call(&sandbox, UPDATE_QRCODE, &request).await;

        // Assert: bound as the page describes, with the example's amount, goods and flags.
        assert_eq!(answer["errCode"], "SUCCESS", "{lang:?}: {answer}");
        assert_eq!(answer["billNo"], bill_no.as_str());
        assert_eq!(answer["msgId"], "800000000010");
        assert!(answer["billQRCode"]
            .as_str()
            .unwrap()
            .ends_with("31942002267733902130410550"));
        let (_, truth) = sandbox.get(&format!("/_sandbox/orders/{bill_no}")).await;
        assert_eq!(truth["totalAmount"], 26, "{lang:?}: {truth}");
        assert_eq!(truth["preauth"], false);
    }
}

#[actix_web::test]
async fn every_mini_pre_query_example_is_read_and_answered_no_order_for_another_merchants_order() {
    let sandbox = TestSandbox::spawn().await;

    for (lang, text) in requests("mini-pre-query") {
        let request = with(
            &page_request(lang, text),
            &[replace("requestTimestamp", now(), RESTAMPED)],
        );

        let answer = call(&sandbox, QUERY, &request).await;

        // The order it names (source id 3194) is not one of the test merchant's (1017).
        assert_eq!(answer["errCode"], "NO_ORDER", "{lang:?}: {answer}");
        assert_eq!(answer["mid"], "898340149000005");
    }
    let (_, calls) = sandbox.get(&format!("/_sandbox/calls?path={QUERY}")).await;
    let calls = calls["calls"].as_array().unwrap().clone();
    assert_eq!(calls.len(), 3);
    assert!(calls.iter().all(|c| c["authVerified"] == true));
}

#[actix_web::test]
async fn every_preauthed_example_completes_the_authorisation_it_names_at_the_sandbox() {
    // Arrange: the pre-authorised bill the example names, authorised for the example's 1 fen.
    let sandbox = TestSandbox::spawn().await;
    let [(lang, text), ..] = requests("preauthed");
    let named = page_request(lang, text)["preauthOrderId"]
        .as_str()
        .unwrap()
        .to_owned();
    let bound = call(
        &sandbox,
        UPDATE_QRCODE,
        &json!({"requestTimestamp": now(), "mid": sandbox.creds.mid, "tid": sandbox.creds.tid,
                "instMid": "QRPAYDEFAULT", "qrCodeId": "QRCONFPREAUTH", "billNo": named,
                "totalAmount": 1, "preauthTransaction": "true"}),
    )
    .await;
    assert_eq!(bound["errCode"], "SUCCESS", "{bound}");
    let (status, paid) = sandbox
        .post(
            &format!("/_sandbox/orders/{named}/pay"),
            json!({"preauth": true, "notify": false})
                .to_string()
                .into_bytes(),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    let code = paid["authIdRespCd"]
        .as_str()
        .expect("an authorisation code")
        .to_owned();

    for (lang, text) in requests("preauthed") {
        let request = with(
            &page_request(lang, text),
            &[
                replace("reqTs", now(), RESTAMPED),
                replace("mchntNo", sandbox.creds.mid.clone(), MERCHANT),
                replace(
                    "authIdRespCode",
                    code.clone(),
                    "the provider issues the code with each authorisation (the \
                     notification's authIdRespCd); the page's is another one's",
                ),
            ],
        );

        // Act
        let answer = call(&sandbox, PREAUTHED, &request).await;

        // Assert: completed (the second and third languages repeat the same completion and
        // are answered the same).
        assert_eq!(answer["errCode"], "SUCCESS", "{lang:?}: {answer}");
        assert_eq!(answer["status"], "TRADE_SUCCESS");
        assert_eq!(answer["totalAmt"], 1);
        assert_eq!(answer["mchntOrderId"], "1017202308030947148248612792");
        assert_eq!(answer["msgId"], "001");
        assert_eq!(answer["srcReserve"], "webpay");
    }
}

// ---------------------------------------------------------------------------------------
// The pages' example answers.

#[test]
fn every_example_answer_is_read_by_the_gateways_wire_types() {
    let bound: UpdateQrcodeResponse = from_json(answer("update-qrcode").as_bytes()).unwrap();
    let queried: MiniPreQueryResponse = from_json(answer("mini-pre-query").as_bytes()).unwrap();
    let completed: PreauthedResponse = from_json(answer("preauthed").as_bytes()).unwrap();

    assert_eq!(bound.err_class(), ErrClass::Success);
    assert_eq!(
        bound.bill_qr_code.as_deref(),
        Some("https://qr-test2.chinaums.com/bills/qrCode.do?id=31942002267733902130410550")
    );
    assert_eq!(queried.err_class(), ErrClass::Success);
    assert_eq!(queried.status, None, "\"status\":\"\" reports no state");
    assert_eq!(queried.total_amount, Some(1.into()));
    assert_eq!(completed.err_class(), ErrClass::Success);
    assert_eq!(completed.status, Some(TradeStatus::TradeSuccess));
    assert_eq!((completed.total_amt, completed.pay_amt), (Some(1), Some(1)));
    for page in ["payment-notification", "contract-notice"] {
        let reply: Value = serde_json::from_str(answer(page)).unwrap();
        assert_eq!(
            reply,
            json!({}),
            "{page}: the receiver's reply carries nothing"
        );
    }
}

/// What a peer playing the provider received: the path and the JSON body.
type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// A peer playing the provider. It records every request, then either answers with the
/// pages' example answers (verbatim) or, given an `upstream`, forwards the request as it
/// came and returns the upstream's answer.
struct Peer {
    url: String,
    received: Received,
}

impl Peer {
    fn start(upstream: Option<String>) -> Peer {
        let received: Received = Arc::default();
        let url = start_peer((received.clone(), upstream), peer);
        Peer { url, received }
    }

    /// The bodies received on `path`.
    fn bodies(&self, path: &str) -> Vec<Value> {
        let received = self.received.lock().expect("lock");
        received
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, body)| body.clone())
            .collect()
    }
}

async fn peer(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<(Received, Option<String>)>,
) -> HttpResponse {
    let (received, upstream) = state.get_ref();
    let path = req.path().to_owned();
    received.lock().expect("lock").push((
        path.clone(),
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    ));
    let Some(upstream) = upstream else {
        let page = match path.as_str() {
            UPDATE_QRCODE => "update-qrcode",
            QUERY => "mini-pre-query",
            PREAUTHED => "preauthed",
            _ => return HttpResponse::NotFound().finish(),
        };
        return HttpResponse::Ok()
            .content_type("application/json")
            .body(answer(page));
    };
    let mut forward = awc::Client::default().post(format!("{upstream}{path}"));
    for name in ["Content-Type", "Authorization"] {
        if let Some(value) = req.headers().get(name) {
            forward = forward.insert_header((name, value.clone()));
        }
    }
    let mut res = forward.send_body(body).await.expect("upstream answers");
    let bytes = res.body().limit(1 << 20).await.expect("upstream body");
    HttpResponse::build(res.status())
        .content_type("application/json")
        .body(bytes)
}

/// Asks the gateway to complete the authorised order `id` for `fen`.
async fn complete(app: &TestApp, id: &str, fen: i64) -> (StatusCode, Value) {
    let path = format!("/orders/{id}/preauth-completion");
    app.post_json(&path, &json!({ "amount": fen })).await
}

#[actix_web::test]
async fn the_example_answers_lead_the_gateway_to_the_outcomes_their_pages_describe() {
    // Arrange: the provider answers every call with its page's example answer.
    let provider = Peer::start(None);
    let app = TestApp::on_remote(&provider.url, json!({})).await;
    let id = "1017CONF00001";

    // Act 1 (update-qrcode, "更新二维码成功"): the order is bound to the example's code.
    let (status, order) = app
        .post_json(
            "/orders",
            &json!({"merOrderId": id, "amount": 1, "qrCodeId": "31942002267733902130410550",
                    "preauth": true}),
        )
        .await;

    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["binding"], "bound");
    assert_eq!(
        order["billQRCode"],
        "https://qr-test2.chinaums.com/bills/qrCode.do?id=31942002267733902130410550"
    );

    // Act 2 (mini-pre-query, SUCCESS with "status":""): the bill query has no page here
    // (404), and the example answer is about another order (merOrderId
    // 319420230831135026): an answer about something else is unknown (issue 14), so
    // nothing changes.
    let (status, check) = app
        .admin_post(&format!("/admin/orders/{id}/resync"), &json!({}))
        .await;

    assert_eq!(status, StatusCode::OK, "{check}");
    assert_eq!(check["outcome"], "unknown", "{check}");
    assert_eq!(check["after"]["status"], "PENDING");
    assert_eq!(check["after"]["provider"], check["before"]["provider"]);
    // An unknown outcome is asked again while an operator waits.
    let attempts = usize::try_from(umsgate::provider::QUERY_ATTEMPTS).unwrap();
    assert_eq!(provider.bodies(QUERY).len(), attempts);

    // Act 3 (preauthed, "预授权完成", TRADE_SUCCESS for "1" fen): an authorised order is
    // completed and paid 1 fen.
    let (status, reply) = app
        .post_notify(
            "/notify/payment",
            PaidBill::new(id)
                .amount(1)
                .field(
                    "billDate",
                    &time::format_date(umsgate::clock::Clock::system().now()),
                )
                .field("authIdRespCd", "384822")
                .form(),
            Some("application/x-www-form-urlencoded"),
        )
        .await;
    assert_eq!((status, reply.as_str()), (StatusCode::OK, "SUCCESS"));
    assert_eq!(app.order(id).await["status"], "AUTHORIZED");
    let (status, completed) = complete(&app, id, 1).await;

    assert_eq!(status, StatusCode::OK, "{completed}");
    assert_eq!(completed["status"], "PAID");
    assert_eq!(completed["paidAmount"], 1);
    assert_eq!(provider.bodies(PREAUTHED).len(), 1);
}

// ---------------------------------------------------------------------------------------
// The example notification and contract notice, at the intake.

#[actix_web::test]
async fn the_example_payment_notification_in_every_language_pays_its_bill() {
    let app = TestApp::spawn().await;

    for (n, (lang, text)) in requests("payment-notification").into_iter().enumerate() {
        // Arrange: a bill of 100 fen at the gateway; the example, its blanks filled in.
        let id = format!("1017CONFPAY{n}");
        let (status, order) = app
            .post_json(
                "/orders",
                &json!({"merOrderId": id, "amount": 100, "qrCodeId": format!("QRCONF{n}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{order}");
        let mut page = page_request(lang, text);
        // The page's random signed field ("随机key", value blank) stands for a field whose
        // name and value the provider makes up for each notification; `sign` is computed.
        assert_eq!(page.remove("随机key"), Some(json!("")));
        assert_eq!(page.remove("sign"), Some(json!("")));
        let notice = with(
            &page,
            &[
                replace("billNo", id.clone(), BLANK),
                replace("billQRCode", order["billQRCode"].as_str().unwrap(), BLANK),
                replace(
                    "billDate",
                    time::format_date(umsgate::clock::Clock::system().now()),
                    BLANK,
                ),
                replace("billStatus", "PAID", BLANK),
                replace("totalAmount", "100", BLANK),
                replace("notifyId", uuid::Uuid::new_v4().to_string(), BLANK),
                replace("seqId", "00151100146N", BLANK),
                replace("mid", app.settings.provider.mid.clone(), MERCHANT),
            ],
        );
        let fields: Vec<(&str, &str)> = notice
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
            .collect();
        // Sent as the page shows it (a JSON object of strings) and as the provider posts
        // notifications (a form); the second is a duplicate of the first.
        let mut fields = fields;
        fields.push(("Qrk", "r4nd0m"));
        let signed = notify_sign::with_sign(&fields, NOTIFY_KEY, notify_sign::SignType::Md5);
        let as_json: Map<String, Value> = signed
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();

        // Act
        let (json_status, json_reply) = app
            .post_notify(
                "/notify/payment",
                Value::Object(as_json).to_string().into_bytes(),
                Some("application/json"),
            )
            .await;
        let (form_status, form_reply) = app
            .post_notify(
                "/notify/payment",
                umsgate::chinaums::form::Form::encode(&signed).into_bytes(),
                Some("application/x-www-form-urlencoded"),
            )
            .await;

        // Assert
        assert_eq!(
            (json_status, json_reply.as_str()),
            (StatusCode::OK, "SUCCESS"),
            "{lang:?}"
        );
        assert_eq!(
            (form_status, form_reply.as_str()),
            (StatusCode::OK, "SUCCESS"),
            "{lang:?}"
        );
        let paid = app.order(&id).await;
        assert_eq!(paid["status"], "PAID", "{lang:?}: {paid}");
        assert_eq!(paid["paidAmount"], 100);
    }
}

#[actix_web::test]
async fn the_example_contract_notice_in_every_language_is_stored() {
    let app = TestApp::spawn().await;

    for (n, (lang, text)) in requests("contract-notice").into_iter().enumerate() {
        // Arrange: every value of the page's example is blank.
        let contract_no = format!("1017CONFCONTRACT{n}");
        let notice = with(
            &page_request(lang, text),
            &[
                replace("requestTimestamp", now(), BLANK),
                replace("mid", app.settings.provider.mid.clone(), BLANK),
                replace("contractNo", contract_no.clone(), BLANK),
                replace("contractId", "Q09OVFJBQ1QtMDAwMQ==", BLANK),
                replace("contractState", "RESCISSION", BLANK),
                replace("contractSignedTime", "2026-11-01 09:00:00", BLANK),
                replace("contractExpiredTime", "2027-11-01 09:00:00", BLANK),
                replace("singleLimitAmt", "50000", BLANK),
                replace("avlNum", "10", BLANK),
                replace("planId", "P100", BLANK),
            ],
        );
        let fields: Vec<(&str, &str)> = notice
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
            .collect();

        // Act
        let (status, reply) = app
            .post_notify(
                &format!("/notify/contract/{CONTRACT_TOKEN}"),
                signed_notice(&fields, ("Qck", "c0ntr4ct")),
                Some("application/x-www-form-urlencoded"),
            )
            .await;

        // Assert: HTTP 200 is "received" (the page); the contract reads as sent.
        assert_eq!(status, StatusCode::OK, "{lang:?}: {reply}");
        let (status, contract) = app.get(&format!("/contracts/{contract_no}")).await;
        assert_eq!(status, StatusCode::OK, "{contract}");
        assert_eq!(contract["contractState"], "RESCISSION");
        assert_eq!(contract["planId"], "P100");
    }
}

// ---------------------------------------------------------------------------------------
// What the gateway sends keeps the tables' types.

/// The JSON type of a value, as the pages' tables name them.
fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A page's request table as the test reads it: each field, its JSON type, and whether
/// the test's flow makes the gateway send it (required, or given by the test's order).
type Table = &'static [(&'static str, &'static str, bool)];

/// Seed 002's table (the order in the test gives every optional field).
const UPDATE_QRCODE_TABLE: Table = &[
    ("subMchntInfo", "string", true),
    ("requestTimestamp", "string", true),
    ("mid", "string", true),
    ("tid", "string", true),
    ("instMid", "string", true),
    ("qrCodeId", "string", true),
    ("msgId", "string", true),
    ("srcReserve", "string", true),
    ("billNo", "string", true),
    ("billDate", "string", true),
    ("billDesc", "string", true),
    ("totalAmount", "number", true),
    ("goods", "array", true),
    ("memberId", "string", true),
    ("counterNo", "string", true),
    ("expireTime", "string", true),
    ("notifyUrl", "string", true),
    ("returnUrl", "string", true),
    ("systemId", "string", true),
    ("secureTransaction", "string", true),
    ("walletOption", "string", true),
    ("name", "string", true),
    ("mobile", "string", true),
    ("certType", "string", true),
    ("certNo", "string", true),
    ("fixBuyer", "string", true),
    ("preauthTransaction", "string", true),
    ("installmentNumber", "number", true),
    ("retCommParams", "object", true),
    ("attachedData", "string", true),
    ("clientIp", "string", true),
    ("isEfrcPs", "boolean", true),
    ("psPpt", "string", true),
];

/// Seed 001's table.
const QUERY_TABLE: Table = &[
    ("msgId", "string", false),
    ("requestTimestamp", "string", true),
    ("srcReserve", "string", false),
    ("mid", "string", true),
    ("tid", "string", true),
    ("instMid", "string", false),
    ("targetOrderId", "string", false),
    ("merOrderId", "string", true),
];

/// Seed 003's table.
const PREAUTHED_TABLE: Table = &[
    ("reqTs", "string", true),
    ("mchntOrderId", "string", true),
    ("preauthOrderId", "string", true),
    ("authIdRespCode", "string", true),
    ("bizType", "string", true),
    ("mchntNo", "string", true),
    ("termNo", "string", true),
    ("totalAmt", "number", true),
    ("msgId", "string", false),
    ("srcReserve", "string", false),
    ("orderDesc", "string", false),
];

/// Asserts that every field of `sent` is in `table` with the type it gives, and that the
/// fields it marks sent were.
fn assert_types(op: &str, sent: &Value, table: Table) {
    let sent = sent.as_object().unwrap_or_else(|| panic!("{op}: {sent}"));
    for (field, value) in sent {
        let typed = table.iter().find(|(name, _, _)| name == field);
        let Some((_, ty, _)) = typed else {
            panic!("{op}: {field} is not in the page's table");
        };
        assert_eq!(type_of(value), *ty, "{op}: {field} = {value}");
    }
    for (field, _, _) in table.iter().filter(|(_, _, expected)| *expected) {
        assert!(sent.contains_key(*field), "{op}: {field} was not sent");
    }
}

#[actix_web::test]
async fn every_field_the_gateway_sends_has_its_tables_json_type() {
    // Arrange: the gateway talks to the sandbox through a peer that records each body.
    let sandbox = TestSandbox::spawn().await;
    let recorder = Peer::start(Some(sandbox.url.clone()));
    let app = TestApp::on_remote(&recorder.url, json!({})).await;
    let id = "1017TYPE00001";
    let (status, order) = app
        .post_json(
            "/orders",
            &json!({
                "merOrderId": id, "amount": 26, "qrCodeId": "QRTYPE01", "preauth": true,
                "description": "鸡蛋", "memberId": "20200226001", "counterNo": "06",
                "goods": [{"goodsId": "001", "goodsName": "鸡蛋", "quantity": "10",
                           "price": "1", "goodsCategory": "food", "body": "two eggs"}],
                "walletOption": "SINGLE", "secureTransaction": false,
                "buyer": {"name": "张三", "mobile": "13100003453", "certType": "IDENTITY_CARD",
                          "certNo": "110101199003079008", "fixBuyer": true},
                "retCommParams": {"foodOrderType": "pre_order", "tableNo": "341"},
                "attachedData": "test", "srcReserve": "test", "msgId": "800000000010",
                "returnUrl": "http://www.test.com/return", "systemId": "31942002",
                "clientIp": "1.1.1.1", "installmentNumber": 12,
                "subMchntInfo": "{\"subMerId\":\"89812345\"}", "isEfrcPs": true,
                "psPpt": "note",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let (status, paid) = sandbox
        .post(
            &format!("/_sandbox/orders/{id}/pay"),
            json!({"preauth": true}).to_string().into_bytes(),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    eventually("the order is AUTHORIZED", || async {
        app.order(id).await["status"] == "AUTHORIZED"
    })
    .await;

    // Act: a query, then a completion.
    let (status, check) = app
        .admin_post(&format!("/admin/orders/{id}/resync"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{check}");
    let (status, completed) = complete(&app, id, 20).await;
    assert_eq!(status, StatusCode::OK, "{completed}");

    // Assert
    let bind = recorder.bodies(UPDATE_QRCODE);
    assert_eq!(bind.len(), 1);
    assert_types("update-qrcode", &bind[0], UPDATE_QRCODE_TABLE);
    let goods = bind[0]["goods"].as_array().unwrap().iter();
    let params = std::iter::once(&bind[0]["retCommParams"]);
    for (field, value) in goods.chain(params).flat_map(|o| o.as_object().unwrap()) {
        assert_eq!(
            type_of(value),
            "string",
            "goods[] or retCommParams: {field}"
        );
    }
    // A bill is asked by the bill query (no page: its fields are all text), and by
    // mini-pre-query only as a second opinion.
    let queries = recorder.bodies(QUERY);
    let bill_queries = recorder.bodies("/v1/netpay/bills/query");
    assert!(!queries.is_empty() || !bill_queries.is_empty());
    for query in &queries {
        assert_types("mini-pre-query", query, QUERY_TABLE);
    }
    for query in &bill_queries {
        for field in [
            "requestTimestamp",
            "mid",
            "tid",
            "instMid",
            "billNo",
            "billDate",
        ] {
            assert_eq!(type_of(&query[field]), "string", "bills/query: {field}");
        }
    }
    let completions = recorder.bodies(PREAUTHED);
    assert_eq!(completions.len(), 1);
    assert_types("preauthed", &completions[0], PREAUTHED_TABLE);
}
