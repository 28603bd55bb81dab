//! A peer that sends the status line and headers at once and then the body one byte at a
//! time (a slow provider, or a proxy on the way): every provider call and every webhook
//! attempt ends within its timeout with an unknown outcome, never `ok` or delivered. The
//! peer is small and independent, raw bytes over a raw `TcpListener`; it checks nothing.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use awc::http::StatusCode;
use serde_json::{json, Value};
use umsgate::store::provider_calls;

use crate::helpers::{bound_bill, eventually_some, merged, PaidBill, TestApp, SECRET};

/// The gap between two bytes of a trickled body: with bodies of about a hundred bytes,
/// an answer takes seconds, many times the tests' call timeout, and ends by itself.
const TRICKLE_GAP: Duration = Duration::from_millis(200);
/// The call timeout the tests give the gateway: two trickled bytes.
const TIMEOUT_MS: u64 = 400;

const UPDATE_QRCODE: &str = "/v1/netpay/bills/update-qrcode";
const MINI_PRE_QUERY: &str = "/v1/netpay/wx/mini-pre-query";
const BILL_QUERY: &str = "/v1/netpay/bills/query";
const PREAUTHED: &str = "/v1/netpay/preauthed";
const TOKEN: &str = "/v1/token/access";
/// The webhook receiver's path.
const HOOK: &str = "/hook";

/// Listens on a loopback port and answers every request with a valid success answer for
/// its path: at once, or, on a path in `trickled`, head at once and body by the byte.
/// Returns `http://127.0.0.1:<port>`.
fn trickling_peer(trickled: &'static [&'static str]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(stream, trickled));
        }
    });
    url
}

/// Reads one request (head, then `Content-Length` bytes) and answers it; a trickled body
/// stops at its end or at the first write the client no longer takes.
fn answer(mut s: TcpStream, trickled: &[&str]) {
    let Some((path, request)) = read_request(&mut s) else {
        return;
    };
    let body = success(&path, &request);
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if s.write_all(head.as_bytes())
        .and_then(|()| s.flush())
        .is_err()
    {
        return;
    }
    if !trickled.contains(&path.as_str()) {
        let _ = s.write_all(body.as_bytes());
        return;
    }
    for byte in body.as_bytes() {
        std::thread::sleep(TRICKLE_GAP);
        if s.write_all(&[*byte]).and_then(|()| s.flush()).is_err() {
            return;
        }
    }
}

/// The request's path and its body as JSON (`null` if it is not).
fn read_request(s: &mut TcpStream) -> Option<(String, Value)> {
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
    let request = serde_json::from_slice(&buf[head_end..]).unwrap_or(Value::Null);
    Some((path, request))
}

/// A valid success answer for `path`, about what `request` asks.
fn success(path: &str, request: &Value) -> String {
    let field = |name: &str| request[name].as_str().unwrap_or_default().to_owned();
    match path {
        TOKEN => json!({"errCode": "0000", "errInfo": "ok", "accessToken": "trickled-token", "expiresIn": 3600}),
        UPDATE_QRCODE => json!({
            "errCode": "SUCCESS",
            "billQRCode": format!("https://qr.test.invalid/{}", field("qrCodeId")),
            "billNo": field("billNo"),
        }),
        MINI_PRE_QUERY => json!({
            "errCode": "SUCCESS",
            "merOrderId": field("merOrderId"),
            "status": "WAIT_BUYER_PAY",
            "totalAmount": 100,
        }),
        BILL_QUERY => json!({
            "errCode": "SUCCESS",
            "billNo": field("billNo"),
            "billStatus": "UNPAID",
            "totalAmount": 100,
        }),
        PREAUTHED => json!({"errCode": "SUCCESS", "status": "TRADE_SUCCESS", "totalAmt": 100}),
        _ => json!({"received": true}),
    }
    .to_string()
}

/// A gateway against `peer` with the short call timeout, `overrides` merged in.
async fn gateway(peer: &str, overrides: Value) -> TestApp {
    let timeout = json!({"provider": {"timeout_ms": TIMEOUT_MS}});
    TestApp::on_remote(peer, merged(timeout, overrides)).await
}

/// POSTs `body` to the gateway's API and reads the answer, however long the gateway takes
/// (the helpers' client gives up after 5 s, sooner than a call without a deadline ends).
async fn post(app: &TestApp, path: &str, body: &Value) -> (StatusCode, Value) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(120))
        .finish();
    let mut res = client
        .post(format!("{}{path}", app.api))
        .send_json(body)
        .await
        .expect("request sent");
    let bytes = res.body().await.expect("body read");
    (
        res.status(),
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Creates an order of 100 fen (a bill when `qr` is given); whatever the answer.
async fn create(app: &TestApp, id: &str, qr: Option<&str>, preauth: bool) {
    let mut order = json!({"merOrderId": id, "amount": 100, "preauth": preauth});
    if let Some(qr) = qr {
        order["qrCodeId"] = json!(qr);
    }
    let (status, body) = post(app, "/orders", &order).await;
    assert!(status.is_success(), "{status} {body}");
}

/// Every call of `operation` in the call log: its outcome and detail.
fn calls_of(app: &TestApp, operation: &str) -> Vec<(String, String)> {
    let mut conn = app.db.conn().expect("connection");
    provider_calls::list(&mut conn, None)
        .expect("calls")
        .into_iter()
        .filter(|c| c.operation == operation)
        .map(|c| (c.outcome, c.detail.unwrap_or_default()))
        .collect()
}

#[actix_web::test]
async fn every_operation_whose_answer_trickles_past_the_timeout_is_recorded_as_unknown_not_ok() {
    struct Case {
        operation: &'static str,
        trickled: &'static [&'static str],
        auth: &'static str,
    }
    let cases = [
        Case {
            operation: "update-qrcode",
            trickled: &[UPDATE_QRCODE],
            auth: "body-sig",
        },
        Case {
            operation: "mini-pre-query",
            trickled: &[MINI_PRE_QUERY],
            auth: "body-sig",
        },
        Case {
            operation: "bill-query",
            trickled: &[BILL_QUERY],
            auth: "body-sig",
        },
        Case {
            operation: "preauthed",
            trickled: &[PREAUTHED],
            auth: "body-sig",
        },
        Case {
            operation: "token",
            trickled: &[TOKEN],
            auth: "token",
        },
    ];
    for (n, case) in cases.iter().enumerate() {
        // Arrange
        let peer = trickling_peer(case.trickled);
        let app = gateway(
            &peer,
            json!({
                "provider": {"auth": case.auth},
                "reconcile": {"first_check_after": "0s"},
            }),
        )
        .await;
        let id = format!("1017DLN{n:05}");
        let qr = format!("QRDLN{n:05}");

        // Act: what makes the call (a query: the order's first check, due at once).
        match case.operation {
            "update-qrcode" | "token" => create(&app, &id, Some(&qr), false).await,
            "mini-pre-query" => {
                create(&app, &id, None, false).await;
                app.reconcile().await;
            }
            "bill-query" => {
                create(&app, &id, Some(&qr), false).await;
                app.reconcile().await;
            }
            _ => {
                create(&app, &id, None, true).await;
                let notice = PaidBill::new(&id).field("authIdRespCd", "384822");
                let (status, reply) = app
                    .post_notify(
                        "/notify/payment",
                        notice.form(),
                        Some("application/x-www-form-urlencoded"),
                    )
                    .await;
                assert_eq!(reply, "SUCCESS", "{status}");
                let (status, body) = post(
                    &app,
                    &format!("/orders/{id}/preauth-completion"),
                    &json!({}),
                )
                .await;
                assert!(status.is_success(), "{status} {body}");
            }
        }

        // Assert
        let calls = calls_of(&app, case.operation);
        assert!(!calls.is_empty(), "{}: no call recorded", case.operation);
        for (outcome, detail) in &calls {
            assert_eq!(outcome, "unknown", "{}: {detail}", case.operation);
            assert!(detail.contains("timed out"), "{}: {detail}", case.operation);
        }
        app.stop().await;
    }
}

#[actix_web::test]
async fn a_webhook_attempt_whose_answer_trickles_past_the_timeout_is_unreachable_and_retried() {
    // Arrange: the receiver trickles; the provider is the embedded sandbox.
    let receiver = trickling_peer(&[HOOK]);
    let app = TestApp::spawn_with(json!({"webhooks": {
        "endpoints": [{"url": format!("{receiver}{HOOK}"), "secret": SECRET}],
        "timeout": format!("{TIMEOUT_MS}ms"),
        "backoff": ["1h"],
        "tick": "20ms",
    }}))
    .await;

    // Act
    bound_bill(&app, "1017DLNHOOK1", 100).await;
    let delivery = eventually_some("a delivery attempted once", || async {
        let (_, list) = app.admin_get("/admin/webhooks/deliveries").await;
        list["deliveries"]
            .as_array()
            .and_then(|all| all.iter().find(|d| d["attempts"] == 1).cloned())
    })
    .await;

    // Assert: not delivered; pending again on the back-off.
    assert_eq!(
        delivery["history"][0]["outcome"], "unreachable",
        "{delivery}"
    );
    assert_eq!(delivery["status"], "pending", "{delivery}");
    assert!(delivery["nextAttemptAt"].is_string(), "{delivery}");
    app.stop().await;
}
