//! Hostile input over the wire: a table of hand-made bad requests against every route of
//! both listeners — wrong methods and content types, broken framing and encodings, huge
//! headers and bodies, deep nesting, out-of-range numbers, duplicate keys — each with the
//! exact status (and error code or reply) it must get. Owns what the gateway answers to
//! a caller that does not follow the rules; the property tests beside the parsers own
//! "never panics".

use serde_json::json;

use crate::helpers::{raw_http, PaidBill, TestApp, ADMIN_TOKEN, CONTRACT_TOKEN};

/// Which listener a request goes to.
#[derive(Clone, Copy, Debug)]
enum To {
    Api,
    Notify,
}

/// What the body of the answer must be.
#[derive(Clone, Copy, Debug)]
enum Body {
    /// An API error: `{"code": …}`.
    Code(&'static str),
    /// A plain-text notify reply (`FAILED`).
    Text(&'static str),
    /// Refused by the HTTP layer before any handler: the status is all there is.
    Protocol,
    /// The connection is closed with no answer at all (status 0).
    Closed,
}

struct Case {
    name: &'static str,
    to: To,
    request: Vec<u8>,
    status: u16,
    body: Body,
}

/// A well-framed HTTP/1.1 request: `Host`, `Content-Length` (for a body or a POST) and
/// `Connection: close` added to `headers`.
fn http(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn get(path: &str) -> Vec<u8> {
    http("GET", path, &[], b"")
}

fn admin_get(path: &str) -> Vec<u8> {
    http("GET", path, &[("Authorization", &bearer())], b"")
}

fn bearer() -> String {
    format!("Bearer {ADMIN_TOKEN}")
}

fn post_json(path: &str, body: &[u8]) -> Vec<u8> {
    http("POST", path, &[("Content-Type", "application/json")], body)
}

fn admin_post_json(path: &str, body: &[u8]) -> Vec<u8> {
    http(
        "POST",
        path,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &bearer()),
        ],
        body,
    )
}

fn post_form(path: &str, body: &[u8]) -> Vec<u8> {
    http(
        "POST",
        path,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body,
    )
}

fn case(name: &'static str, to: To, request: Vec<u8>, status: u16, body: Body) -> Case {
    Case {
        name,
        to,
        request,
        status,
        body,
    }
}

const PENDING_ORDER: &str = "1017HOSTILE0001";
const AUTHORIZED_ORDER: &str = "1017HOSTILE0002";

fn cases() -> Vec<Case> {
    use Body::{Closed, Code, Protocol, Text};
    use To::{Api, Notify};
    let deep_json = format!("{{\"amount\":{}1{}}}", "[".repeat(5000), "]".repeat(5000));
    let big_json = format!(
        "{{\"amount\":1,\"description\":\"{}\"}}",
        "x".repeat(70_000)
    );
    let big_header = "x".repeat(200 * 1024);
    let many_headers: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let contract = format!("/notify/contract/{CONTRACT_TOKEN}");
    vec![
        // --- api: POST /orders
        case("create: not JSON", Api, post_json("/orders", b"amount=1"), 400, Code("invalid_json")),
        // A browser on another site can send these without a CORS preflight: refused.
        case("create: JSON sent as text/plain", Api, http("POST", "/orders", &[("Content-Type", "text/plain")], br#"{"amount":1}"#), 415, Code("unsupported_media_type")),
        case("create: JSON sent as a form", Api, post_form("/orders", br#"{"amount":1}"#), 415, Code("unsupported_media_type")),
        case("create: no content type", Api, http("POST", "/orders", &[], br#"{"amount":1}"#), 415, Code("unsupported_media_type")),
        case("preauth: empty body, no content type", Api, http("POST", &format!("/orders/{AUTHORIZED_ORDER}/preauth-completion"), &[], b""), 415, Code("unsupported_media_type")),
        case("preauth: form body", Api, post_form(&format!("/orders/{AUTHORIZED_ORDER}/preauth-completion"), b"amount=1"), 415, Code("unsupported_media_type")),
        case("admin resync: text/plain", Api, http("POST", "/admin/resync", &[("Content-Type", "text/plain"), ("Authorization", &bearer())], b"{}"), 415, Code("unsupported_media_type")),
        case("create: JSON array", Api, post_json("/orders", b"[1]"), 400, Code("invalid_json")),
        case("create: JSON string", Api, post_json("/orders", b"\"{}\""), 400, Code("invalid_json")),
        case("create: trailing garbage", Api, post_json("/orders", b"{\"amount\":1} x"), 400, Code("invalid_json")),
        case("create: non-UTF-8 string", Api, post_json("/orders", b"{\"amount\":1,\"description\":\"\xff\xfe\"}"), 400, Code("invalid_json")),
        case("create: lone surrogate escape", Api, post_json("/orders", br#"{"amount":1,"description":"\ud800"}"#), 400, Code("invalid_json")),
        case("create: deeply nested JSON", Api, post_json("/orders", deep_json.as_bytes()), 400, Code("invalid_json")),
        case("create: body over the limit", Api, post_json("/orders", big_json.as_bytes()), 413, Code("payload_too_large")),
        case("create: amount beyond u64", Api, post_json("/orders", b"{\"amount\":18446744073709551616}"), 400, Code("invalid_field")),
        case("create: amount 1e400", Api, post_json("/orders", b"{\"amount\":1e400}"), 400, Code("invalid_json")),
        case("create: amount as exponent", Api, post_json("/orders", b"{\"amount\":1e2}"), 400, Code("invalid_field")),
        case("create: amount i64::MAX", Api, post_json("/orders", b"{\"amount\":9223372036854775807}"), 400, Code("invalid_field")),
        case("create: amount as a huge digit string", Api, post_json("/orders", b"{\"amount\":\"99999999999999999999999\"}"), 400, Code("invalid_field")),
        case("create: amount as an object", Api, post_json("/orders", b"{\"amount\":{\"fen\":1}}"), 400, Code("invalid_field")),
        case("create: expiresInSeconds beyond i64", Api, post_json("/orders", b"{\"amount\":1,\"expiresInSeconds\":1e30}"), 400, Code("invalid_field")),
        // Which value counts would depend on the parser: refused, never guessed.
        case("create: duplicate amount keys", Api, post_json("/orders", b"{\"amount\":1,\"amount\":100}"), 400, Code("invalid_json")),
        case("create: duplicate nested keys", Api, post_json("/orders", br#"{"amount":1,"qrCodeId":"Q1","buyer":{"name":"a","name":"b"}}"#), 400, Code("invalid_json")),
        case("admin resync: duplicate keys", Api, admin_post_json("/admin/resync", br#"{"dryRun":true,"dryRun":false}"#), 400, Code("invalid_json")),
        case("preauth: duplicate amount keys", Api, post_json(&format!("/orders/{AUTHORIZED_ORDER}/preauth-completion"), br#"{"amount":1,"amount":100}"#), 400, Code("invalid_json")),
        case("create: merOrderId with NUL", Api, post_json("/orders", br#"{"amount":1,"merOrderId":"1017AB\u0000CD"}"#), 400, Code("invalid_field")),
        case("create: bind field without qrCodeId", Api, post_json("/orders", br#"{"amount":1,"memberId":"m1"}"#), 400, Code("invalid_field")),
        case("create: empty body", Api, post_json("/orders", b""), 400, Code("invalid_json")),
        // --- api: GET /orders
        case("list: limit 0", Api, get("/orders?limit=0"), 400, Code("invalid_field")),
        case("list: limit beyond i64", Api, get("/orders?limit=99999999999999999999"), 400, Code("invalid_field")),
        case("list: malformed percent escape", Api, get("/orders?status=%zz"), 400, Code("invalid_field")),
        case("list: non-UTF-8 escape", Api, get("/orders?status=%FF"), 400, Code("invalid_field")),
        case("list: unknown status", Api, get("/orders?status=PAYED"), 400, Code("invalid_field")),
        case("list: unknown parameter", Api, get("/orders?limt=5"), 400, Code("invalid_field")),
        case("list: repeated parameter", Api, get("/orders?limit=1&limit=2"), 400, Code("invalid_field")),
        case("list: needsReview not a boolean", Api, get("/orders?needsReview=maybe"), 400, Code("invalid_field")),
        case("list: wrong method", Api, http("DELETE", "/orders", &[], b""), 405, Code("method_not_allowed")),
        // --- api: GET /orders/{id}, /events
        case("order: unknown", Api, get("/orders/1017NOSUCHORDER"), 404, Code("not_found")),
        case("order: id too long", Api, get(&format!("/orders/1017{}", "9".repeat(40))), 400, Code("invalid_field")),
        case("order: percent-encoded non-UTF-8 id", Api, get("/orders/1017%FF%FE0001"), 400, Code("invalid_field")),
        case("order: malformed percent escape in the path", Api, get("/orders/1017%zz0001"), 400, Code("invalid_field")),
        case("order: encoded slash", Api, get("/orders/1017%2F..%2Fmetrics"), 400, Code("invalid_field")),
        case("order: dot segments", Api, get("/orders/../metrics"), 404, Code("not_found")),
        case("events: unknown order", Api, get("/orders/1017NOSUCHORDER/events"), 404, Code("not_found")),
        case("events: wrong method", Api, http("POST", "/orders/1017NOSUCHORDER/events", &[], b""), 405, Code("method_not_allowed")),
        // --- api: preauth-completion
        case("preauth: unknown order", Api, post_json("/orders/1017NOSUCHORDER/preauth-completion", b""), 404, Code("not_found")),
        case("preauth: PENDING order", Api, post_json(&format!("/orders/{PENDING_ORDER}/preauth-completion"), b"{}"), 409, Code("conflict")),
        case("preauth: amount not a number", Api, post_json(&format!("/orders/{AUTHORIZED_ORDER}/preauth-completion"), br#"{"amount":"all"}"#), 400, Code("invalid_field")),
        case("preauth: amount over the authorised one", Api, post_json(&format!("/orders/{AUTHORIZED_ORDER}/preauth-completion"), br#"{"amount":101}"#), 400, Code("invalid_field")),
        case("preauth: amount zero", Api, post_json(&format!("/orders/{AUTHORIZED_ORDER}/preauth-completion"), br#"{"amount":0}"#), 400, Code("invalid_field")),
        case("preauth: unknown field", Api, post_json(&format!("/orders/{AUTHORIZED_ORDER}/preauth-completion"), br#"{"amount":1,"force":true}"#), 400, Code("invalid_field")),
        case("preauth: wrong method", Api, get(&format!("/orders/{PENDING_ORDER}/preauth-completion")), 405, Code("method_not_allowed")),
        // --- api: contracts
        case("contract: number too short", Api, get("/contracts/1017"), 400, Code("invalid_field")),
        case("contract: unknown", Api, get("/contracts/1017NOSUCHCONTRACT"), 404, Code("not_found")),
        case("contract: number too long", Api, get(&format!("/contracts/{}", "C".repeat(41))), 400, Code("invalid_field")),
        // --- api: admin
        case("admin journal: no token", Api, get("/admin/notifications"), 401, Code("unauthorized")),
        case("admin journal: empty bearer", Api, http("GET", "/admin/notifications", &[("Authorization", "Bearer ")], b""), 401, Code("unauthorized")),
        case("admin journal: token in the query", Api, get(&format!("/admin/notifications?token={ADMIN_TOKEN}")), 401, Code("unauthorized")),
        case("admin journal: non-ASCII authorization", Api, http("GET", "/admin/notifications", &[("Authorization", "Bearer \u{00e9}\u{00e9}")], b""), 401, Code("unauthorized")),
        case("admin journal: limit too big", Api, admin_get("/admin/notifications?limit=100000"), 400, Code("invalid_field")),
        case("admin journal: after not a number", Api, admin_get("/admin/notifications?after=abc"), 400, Code("invalid_field")),
        case("admin journal: verified not a boolean", Api, admin_get("/admin/notifications?verified=2"), 400, Code("invalid_field")),
        case("admin resync one: no token", Api, post_json("/admin/orders/1017NOSUCHORDER/resync", b""), 401, Code("unauthorized")),
        case("admin resync one: unknown order", Api, admin_post_json("/admin/orders/1017NOSUCHORDER/resync", b""), 404, Code("not_found")),
        case("admin resync one: bad id", Api, admin_post_json("/admin/orders/x/resync", b""), 400, Code("invalid_field")),
        case("admin resync: no token", Api, post_json("/admin/resync", b"{}"), 401, Code("unauthorized")),
        case("admin resync: limit 0", Api, admin_post_json("/admin/resync", br#"{"limit":0}"#), 400, Code("invalid_field")),
        case("admin resync: since not a time", Api, admin_post_json("/admin/resync", br#"{"since":"yesterday"}"#), 400, Code("invalid_field")),
        case("admin resync: status not a list", Api, admin_post_json("/admin/resync", br#"{"status":"PENDING"}"#), 400, Code("invalid_field")),
        case("admin resync: not JSON", Api, admin_post_json("/admin/resync", b"dryRun"), 400, Code("invalid_json")),
        case("admin: unknown route with the token", Api, admin_get("/admin/secrets"), 404, Code("not_found")),
        case("admin: unknown route without the token", Api, get("/admin/secrets"), 401, Code("unauthorized")),
        case("admin journal: wrong method without the token", Api, http("DELETE", "/admin/notifications", &[], b""), 401, Code("unauthorized")),
        case("admin journal: wrong method", Api, http("DELETE", "/admin/notifications", &[("Authorization", &bearer())], b""), 405, Code("method_not_allowed")),
        // --- api: health and metrics
        case("healthz: wrong method", Api, http("POST", "/healthz", &[], b""), 405, Code("method_not_allowed")),
        case("readyz: wrong method", Api, http("PUT", "/readyz", &[], b""), 405, Code("method_not_allowed")),
        case("metrics: wrong method", Api, http("DELETE", "/metrics", &[], b""), 405, Code("method_not_allowed")),
        case("api: unknown route", Api, get("/nope"), 404, Code("not_found")),
        case("api: notify route on the api listener", Api, post_form("/notify/payment", b"a=1"), 404, Code("not_found")),
        // --- api: the HTTP layer
        case("api: header over 128 KiB", Api, http("GET", "/healthz", &[("X-Big", &big_header)], b""), 431, Protocol),
        case("api: 200 headers", Api, format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n").into_bytes(), 431, Protocol),
        case("api: garbage request line", Api, b"HELLO\r\n\r\n".to_vec(), 400, Protocol),
        case("api: both Content-Length and chunked", Api, b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(), 400, Protocol),
        case("api: two Content-Lengths", Api, b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{}".to_vec(), 400, Protocol),
        case("api: negative Content-Length", Api, b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".to_vec(), 400, Protocol),
        case("api: non-UTF-8 path", Api, b"GET /orders/1017\xff\xfe0001 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(), 400, Protocol),
        // --- notify: /notify/payment
        case("payment: wrong method", Notify, get("/notify/payment"), 404, Code("not_found")),
        case("payment: empty body", Notify, post_form("/notify/payment", b""), 400, Text("FAILED")),
        case("payment: malformed percent escape", Notify, post_form("/notify/payment", b"notifyId=1&sign=%G0"), 400, Text("FAILED")),
        case("payment: non-UTF-8 value", Notify, post_form("/notify/payment", b"notifyId=\xc3\x28&sign=AA"), 400, Text("FAILED")),
        case("payment: duplicate form field", Notify, post_form("/notify/payment", b"sign=AA&notifyId=1&sign=BB"), 400, Text("FAILED")),
        case("payment: duplicate JSON key", Notify, post_json("/notify/payment", br#"{"notifyId":"1","notifyId":"2","sign":"AA"}"#), 400, Text("FAILED")),
        case("payment: deeply nested JSON", Notify, post_json("/notify/payment", deep_json.as_bytes()), 400, Text("FAILED")),
        case("payment: form declared as JSON", Notify, http("POST", "/notify/payment", &[("Content-Type", "application/json")], &PaidBill::bare(PENDING_ORDER).notify_id("hostile-1").form()), 400, Text("FAILED")),
        case("payment: multipart", Notify, http("POST", "/notify/payment", &[("Content-Type", "multipart/form-data; boundary=x")], b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x--\r\n"), 400, Text("FAILED")),
        case("payment: body over the limit", Notify, post_form("/notify/payment", &vec![b'a'; 70_000]), 413, Text("FAILED")),
        case("payment: unsigned", Notify, post_form("/notify/payment", b"notifyId=1&billNo=1017HOSTILE0001&billStatus=PAID"), 400, Text("FAILED")),
        // No answer to a body that cannot be read: the provider resends, as it must.
        case("payment: broken chunked framing", Notify, b"POST /notify/payment HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n".to_vec(), 0, Closed),
        // --- notify: /notify/contract/{token}
        case("contract notice: wrong token", Notify, post_form("/notify/contract/guess", b"contractNo=1017CONTRACT01"), 404, Code("not_found")),
        case("contract notice: token with an encoded slash", Notify, post_form(&format!("/notify/contract/{CONTRACT_TOKEN}%2Fx"), b"a=1"), 404, Code("not_found")),
        case("contract notice: wrong method", Notify, get(&contract), 404, Code("not_found")),
        case("contract notice: garbage", Notify, post_form(&contract, b"%%%"), 400, Text("FAILED")),
        case("contract notice: bad requestTimestamp", Notify, post_form(&contract, b"requestTimestamp=yesterday&contractNo=1017CONTRACT01&contractState=SIGNED"), 400, Text("FAILED")),
        case("contract notice: over the limit", Notify, post_form(&contract, &vec![b'a'; 70_000]), 413, Text("FAILED")),
        // --- notify: nothing else
        case("notify: api route on the notify listener", Notify, post_json("/orders", br#"{"amount":1}"#), 404, Code("not_found")),
        case("notify: admin route on the notify listener", Notify, admin_get("/admin/notifications"), 404, Code("not_found")),
        case("notify: metrics on the notify listener", Notify, get("/metrics"), 404, Code("not_found")),
        case("notify: header over 128 KiB", Notify, http("POST", "/notify/payment", &[("X-Big", &big_header)], b"a=1"), 431, Protocol),
    ]
}

#[actix_web::test]
async fn every_hand_made_bad_request_gets_exactly_its_status_and_changes_nothing() {
    // Arrange: one PENDING order and one AUTHORIZED; the provider is a closed local port,
    // so that nothing can leave the machine (and no row gets as far as calling it).
    let app = TestApp::spawn_with(json!({
        "provider": {"mode": "remote", "base_url": "http://127.0.0.1:9"},
    }))
    .await;
    for (id, preauth) in [(PENDING_ORDER, false), (AUTHORIZED_ORDER, true)] {
        let (status, body) = app
            .post_json(
                "/orders",
                &json!({"merOrderId": id, "amount": 100, "preauth": preauth}),
            )
            .await;
        assert_eq!(status.as_u16(), 201, "{body}");
    }
    let authorisation = PaidBill::bare(AUTHORIZED_ORDER)
        .notify_id("hostile-auth")
        .field("authIdRespCd", "384822")
        .form();
    let (status, reply) = app
        .post_notify(
            "/notify/payment",
            authorisation,
            Some("application/x-www-form-urlencoded"),
        )
        .await;
    assert_eq!((status.as_u16(), reply.as_str()), (200, "SUCCESS"));
    let (_, pending) = app.get(&format!("/orders/{PENDING_ORDER}")).await;
    let (_, authorized) = app.get(&format!("/orders/{AUTHORIZED_ORDER}")).await;
    assert_eq!(authorized["status"], "AUTHORIZED");
    let cases = cases();
    assert!(cases.len() >= 40, "the table has {} rows", cases.len());

    // Act
    let mut failures = Vec::new();
    for c in &cases {
        let base = match c.to {
            To::Api => &app.api,
            To::Notify => &app.notify,
        };
        let res = raw_http(base, c.request.clone()).await;
        let text = String::from_utf8_lossy(&res.body).into_owned();
        let body_ok = match c.body {
            Body::Code(code) => res.json().is_some_and(|v| v["code"] == code),
            Body::Text(expected) => text == expected,
            Body::Protocol => true,
            Body::Closed => res.body.is_empty(),
        };
        if res.status != c.status || !body_ok {
            failures.push(format!(
                "{}: expected {} {:?}, got {} {:?}",
                c.name,
                c.status,
                c.body,
                res.status,
                &text[..text.len().min(200)]
            ));
        }
    }

    // Assert
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    let (_, pending_after) = app.get(&format!("/orders/{PENDING_ORDER}")).await;
    let (_, authorized_after) = app.get(&format!("/orders/{AUTHORIZED_ORDER}")).await;
    assert_eq!(pending_after, pending, "no bad request touched the orders");
    assert_eq!(
        authorized_after, authorized,
        "no bad request touched the orders"
    );
    assert_eq!(app.order_count(), 2, "no bad request created an order");
    let (health, _) = app.get("/healthz").await;
    assert_eq!(health.as_u16(), 200, "the gateway still answers");
}
