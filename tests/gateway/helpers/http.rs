//! HTTP for tests: reading an answer (`json_answer`, `text_answer`), small peers on port 0
//! (`start_peer`), and raw bytes on a fresh connection (`raw_http`) for what no
//! well-behaved client would send. It must not know the gateway's routes.

use awc::http::StatusCode;
use serde_json::Value;

use super::json::parse;

/// The most of an answer's body a test reads: 16 MiB rather than awc's default 2 MiB, so
/// that a test reads a large answer whole instead of failing on it.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Sends `request` and reads the whole answer: its status and its body as JSON (a JSON
/// string if it is not JSON).
pub async fn json_answer(request: awc::SendClientRequest) -> (StatusCode, Value) {
    let (status, bytes) = answer(request).await;
    (status, parse(&bytes))
}

/// Sends `request` and reads the whole answer: its status and its body as text.
pub async fn text_answer(request: awc::SendClientRequest) -> (StatusCode, String) {
    let (status, bytes) = answer(request).await;
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// Sends `request`; the answer's status and body (at most [`BODY_LIMIT`] bytes).
async fn answer(request: awc::SendClientRequest) -> (StatusCode, actix_web::web::Bytes) {
    let mut res = request.await.expect("request sent");
    let bytes = res.body().limit(BODY_LIMIT).await.expect("body read");
    (res.status(), bytes)
}

/// Starts a small independent peer on `127.0.0.1:0` (one worker) that answers every request
/// with `handler`, `state` as its app data; its base URL.
pub fn start_peer<T, F, Args>(state: T, handler: F) -> String
where
    T: Send + Sync + 'static,
    F: actix_web::Handler<Args> + Clone + Send + 'static,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    use actix_web::{web, App, HttpServer};
    let state = web::Data::new(state);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .default_service(web::to(handler.clone()))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    actix_web::rt::spawn(server);
    format!("http://127.0.0.1:{port}")
}

/// An answer read off the wire by [`raw_http`].
#[derive(Debug)]
pub struct RawResponse {
    /// The status code of the status line.
    pub status: u16,
    /// The body (de-chunked if it was sent chunked).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Sends `request` (bytes exactly as given, nothing added or checked) to `base`
/// (`http://host:port`) over a fresh connection and reads the answer until the server
/// closes or the first response is complete; a connection closed with no answer is
/// status 0. Lets tests send what no well-behaved client
/// would. Runs on the blocking pool; every wait is bounded.
pub async fn raw_http(base: &str, request: Vec<u8>) -> RawResponse {
    let addr = base
        .strip_prefix("http://")
        .expect("base is http://host:port")
        .to_owned();
    tokio::task::spawn_blocking(move || raw_exchange(&addr, &request))
        .await
        .expect("raw exchange task")
}

fn raw_exchange(addr: &str, request: &[u8]) -> RawResponse {
    use std::io::{Read, Write};
    use std::time::Duration;

    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .expect("write timeout");
    // The server may answer (and close) before it has read everything, e.g. a 413 or a
    // 431: a write error then is part of the exchange, not a test failure.
    let _ = stream.write_all(request);
    let _ = stream.flush();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(res) = complete_response(&buf) {
            return res;
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // A reset after the answer was sent: what was read is the answer.
            Err(_) => break,
        }
    }
    // Closed without a (complete) answer: status 0, and whatever came.
    complete_response(&buf)
        .or_else(|| closed_response(&buf))
        .unwrap_or(RawResponse {
            status: 0,
            body: buf,
        })
}

/// The first response in `buf`, if it is all there (sized by Content-Length, chunked, or
/// neither: then only a closed connection completes it, which the caller handles).
fn complete_response(buf: &[u8]) -> Option<RawResponse> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    let header = |name: &str| {
        head.lines().find_map(|l| {
            l.strip_prefix(&format!("{name}:"))
                .map(|v| v.trim().to_owned())
        })
    };
    let rest = &buf[head_end..];
    if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        return (rest.len() >= len).then(|| RawResponse {
            status,
            body: rest[..len].to_vec(),
        });
    }
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        let mut body = Vec::new();
        let mut at = 0;
        loop {
            let line_end = rest[at..].windows(2).position(|w| w == b"\r\n")? + at;
            let size_text = String::from_utf8_lossy(&rest[at..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            let data = line_end + 2;
            if size == 0 {
                return Some(RawResponse { status, body });
            }
            body.extend_from_slice(rest.get(data..data + size)?);
            at = data + size + 2;
        }
    }
    // No framing: complete only when the connection closes.
    None
}

/// The response in `buf` once the server has closed: the body is whatever followed the head.
fn closed_response(buf: &[u8]) -> Option<RawResponse> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    Some(RawResponse {
        status,
        body: buf[head_end..].to_vec(),
    })
}
