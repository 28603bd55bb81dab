//! A webhook receiver for tests (`Receiver`, `receive`), its own Standard Webhooks check
//! (`verifies`), and a gateway that delivers to it. It must not use the gateway's own
//! signing code: it checks it.

use serde_json::{json, Value};

use super::app::TestApp;
use super::http::start_peer;

/// A gateway with one webhook endpoint (the receiver), quick retries and a quick tick.
pub async fn with_receiver(receiver: &std::sync::Arc<Receiver>, backoff: &[&str]) -> TestApp {
    let url = start_peer(receiver.clone(), receive);
    TestApp::spawn_with(json!({"webhooks": {
        "endpoints": [{"url": format!("{url}/hook"), "secret": SECRET}],
        "backoff": backoff,
        "tick": "20ms",
    }}))
    .await
}

/// The webhook receiver's secret (`whsec_` + base64 of 24 bytes).
pub const SECRET: &str = "whsec_dW1zZ2F0ZS13ZWJob29rLXRlc3Qta2V5";

/// The receiver's own Standard Webhooks check: the `v1` signatures of `webhook-signature`
/// that match HMAC-SHA256 over "{id}.{timestamp}.{body}" with the decoded secret.
pub fn verifies(secret: &str, id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    use base64::Engine;
    use hmac::{Mac, SimpleHmac};
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.trim_start_matches("whsec_")).unwrap();
    let mut mac = SimpleHmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = format!("v1,{}", b64.encode(mac.finalize().into_bytes()));
    header.split(' ').any(|s| s == expected)
}

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Got {
    /// Its `webhook-id`.
    pub id: String,
    /// Whether its content type and signature checked out.
    pub verified: bool,
    /// The status the receiver answered.
    pub answered: u16,
    /// Its body as JSON (`null` if it was not).
    pub body: Value,
}

/// A webhook receiver (start it with `start_peer(receiver, receive)`): records every
/// request, checks its signature with its own code, and answers 500 to the first
/// `fail_first` requests, to every `fail_every`-th one (0: none) and to all while `down`;
/// 204 otherwise.
#[derive(Default)]
pub struct Receiver {
    /// Every request, in arrival order.
    pub got: std::sync::Mutex<Vec<Got>>,
    /// How many of the first requests to refuse.
    pub fail_first: std::sync::atomic::AtomicUsize,
    /// Refuse every n-th request (0: none).
    pub fail_every: std::sync::atomic::AtomicUsize,
    /// Refuse every request.
    pub down: std::sync::atomic::AtomicBool,
}

/// The receiver's handler.
pub async fn receive(
    state: actix_web::web::Data<std::sync::Arc<Receiver>>,
    req: actix_web::HttpRequest,
    body: actix_web::web::Bytes,
) -> actix_web::HttpResponse {
    use std::sync::atomic::Ordering::SeqCst;
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = header("webhook-id");
    let verified = header("content-type") == "application/json"
        && verifies(
            SECRET,
            &id,
            &header("webhook-timestamp"),
            &body,
            &header("webhook-signature"),
        );
    let every = state.fail_every.load(SeqCst);
    let mut got = state.got.lock().unwrap();
    let fail = state.down.load(SeqCst)
        || (every > 0 && (got.len() + 1).is_multiple_of(every))
        || state
            .fail_first
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok();
    let answered = if fail { 500 } else { 204 };
    got.push(Got {
        id,
        verified,
        answered,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    actix_web::HttpResponse::build(actix_web::http::StatusCode::from_u16(answered).unwrap())
        .body(if fail { "receiver busy" } else { "" })
}

/// What the receiver answered 2xx to, in arrival order.
pub fn delivered_to(receiver: &Receiver) -> Vec<Got> {
    let got = receiver.got.lock().unwrap();
    got.iter().filter(|g| g.answered == 204).cloned().collect()
}
