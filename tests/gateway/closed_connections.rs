//! Outbound calls against a provider that closes every connection after its answer
//! (`HTTP/1.0`, as proxies and load balancers in front of real providers do): a small
//! independent test provider written here, raw bytes over a raw `TcpListener`. It checks
//! nothing: it answers what the gateway accepts for update-qrcode and the token route.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use awc::http::StatusCode;
use serde_json::json;
use umsgate::store::provider_calls;

use crate::helpers::TestApp;

/// Concurrent binds per auth mode.
const BINDS: usize = 50;

/// The test provider: its base URL and how many requests it got per path.
struct ClosingProvider {
    url: String,
    token_requests: Arc<AtomicUsize>,
    binds: Arc<AtomicUsize>,
}

impl ClosingProvider {
    /// Listens on a loopback port; every connection gets one `HTTP/1.0` answer and is
    /// closed.
    fn start() -> ClosingProvider {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let token_requests = Arc::new(AtomicUsize::new(0));
        let binds = Arc::new(AtomicUsize::new(0));
        let (t, b) = (token_requests.clone(), binds.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (t, b) = (t.clone(), b.clone());
                std::thread::spawn(move || answer(stream, &t, &b));
            }
        });
        ClosingProvider {
            url,
            token_requests,
            binds,
        }
    }
}

/// Reads one request (head, then `Content-Length` bytes), answers it, closes.
fn answer(mut s: TcpStream, tokens: &AtomicUsize, binds: &AtomicUsize) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
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
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
    let body = if path == "/v1/token/access" {
        let n = tokens.fetch_add(1, Ordering::SeqCst);
        json!({"errCode": "0000", "errInfo": "ok", "accessToken": format!("token-{n}"), "expiresIn": 3600})
    } else {
        let n = binds.fetch_add(1, Ordering::SeqCst);
        json!({
            "errCode": "SUCCESS",
            "responseTimeStamp": "2026-11-21 12:00:00",
            "billQRCode": format!("https://qr.chinaums.com/bills/qrCode.do?id=closing{n}"),
        })
    }
    .to_string();
    let _ = s.write_all(
        format!(
            "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let _ = s.flush();
}

/// `BINDS` concurrent binds through a gateway in `auth` mode against a closing provider:
/// the statuses, the provider, and the gateway.
async fn bind_concurrently(
    auth: &str,
    prefix: &str,
) -> (Vec<StatusCode>, ClosingProvider, TestApp) {
    let provider = ClosingProvider::start();
    let app = TestApp::spawn_with(json!({
        "provider": {"mode": "remote", "base_url": provider.url, "auth": auth},
    }))
    .await;
    let statuses = futures_util::future::join_all((0..BINDS).map(|i| {
        let app = &app;
        async move {
            let (status, body) = app
                .post_json(
                    "/orders",
                    &json!({
                        "merOrderId": format!("{prefix}{i:04}"),
                        "amount": 100,
                        "qrCodeId": format!("QR{prefix}{i:04}"),
                    }),
                )
                .await;
            let id = format!("{prefix}{i:04}");
            assert!(
                status == StatusCode::CREATED,
                "{id}: {status} {body}; calls: {:?}",
                provider_calls::list(&mut app.db.conn().unwrap(), Some(&id))
            );
            status
        }
    }))
    .await;
    (statuses, provider, app)
}

#[actix_web::test]
async fn fifty_concurrent_body_sig_binds_against_a_closing_provider_all_bind() {
    // Arrange, Act
    let (statuses, provider, app) = bind_concurrently("body-sig", "1017CLSB").await;

    // Assert
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED));
    assert_eq!(provider.binds.load(Ordering::SeqCst), BINDS);
    let calls = provider_calls::list(&mut app.db.conn().unwrap(), None).unwrap();
    assert!(
        calls.iter().all(|c| c.outcome != "unknown"),
        "no call's outcome is unknown: {calls:?}"
    );
    app.stop().await;
}

#[actix_web::test]
async fn fifty_concurrent_token_binds_against_a_closing_provider_all_bind_with_one_token() {
    // Arrange, Act
    let (statuses, provider, app) = bind_concurrently("token", "1017CLST").await;

    // Assert
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED));
    assert_eq!(provider.token_requests.load(Ordering::SeqCst), 1);
    assert_eq!(provider.binds.load(Ordering::SeqCst), BINDS);
    app.stop().await;
}

#[actix_web::test]
async fn a_bind_that_could_not_connect_is_tried_three_times_and_logged_as_not_sent() {
    // Arrange: nothing listens on the port (bound, then released).
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let app = TestApp::spawn_with(json!({
        "provider": {"mode": "remote", "base_url": format!("http://127.0.0.1:{port}")},
    }))
    .await;

    // Act
    let (status, order) = app
        .post_json(
            "/orders",
            &json!({"merOrderId": "1017CLSR0001", "amount": 100, "qrCodeId": "QRCLSR0001"}),
        )
        .await;

    // Assert: the order waits for the reconciler as before; the log says it never left.
    assert_eq!(status, StatusCode::ACCEPTED, "{order}");
    let calls = provider_calls::list(&mut app.db.conn().unwrap(), Some("1017CLSR0001")).unwrap();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].outcome, "not_sent");
    let detail = calls[0].detail.as_deref().unwrap_or_default();
    assert!(detail.contains("3 attempts in all"), "{detail}");
    app.stop().await;
}
