//! The notify listener's handlers: `POST /notify/payment` and `POST /notify/contract/{token}`.
//! Thin: take the bytes, run the intake use case (`flows::intake`), answer. `SUCCESS` (200)
//! is only ever sent after the commit; a store failure is a 5xx `FAILED` so that the
//! provider resends. They must not log a body, a signature, a key or the path token.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::body::{read_up_to, Limited};
use super::client_addr::{client_of, counted_as, TrustedProxies};
use super::error::ApiError;
use super::{not_found, AppState};
use crate::flows::intake::{self, PaymentTaken, RefusalBudgets, Taken};
use crate::notify::{BodyRead, Outcome, Received, RejectReason};
use crate::store::StoreError;

/// The body the provider waits for: received and durably stored.
pub const REPLY_SUCCESS: &str = "SUCCESS";
/// The body of every other answer: the provider resends.
pub const REPLY_FAILED: &str = "FAILED";

/// The metric label of a notice whose body did not arrive within `notify.body_timeout`.
const METRIC_BODY_TIMEOUT: &str = "body_timeout";

/// Reads what arrived: the body up to `notify.max_body_bytes` (the first bytes of a larger
/// one; nothing when its declared length is larger), its content type and the client
/// address (`TrustedProxies`). `None` when the body did not arrive within
/// `notify.body_timeout`.
async fn receive(state: &AppState, req: &HttpRequest, payload: web::Payload) -> Option<Received> {
    let at = state.now();
    let (body, read) =
        match read_up_to(req, payload, state.settings.notify.listener.max_body_bytes).await {
            Ok(Limited::Whole(body)) => (body.to_vec(), BodyRead::Whole),
            Ok(Limited::TooLarge(prefix)) => (prefix.to_vec(), BodyRead::TooLarge),
            Err(ApiError::BodyTimeout { .. }) => return None,
            Err(_) => (Vec::new(), BodyRead::Failed),
        };
    let peer = req.peer_addr();
    let client = req
        .app_data::<TrustedProxies>()
        .and_then(|t| t.client(peer, req.headers()));
    // The TCP peer as before (with its port), unless a trusted proxy forwarded the request.
    let remote_addr = match (peer, client) {
        (Some(p), Some(c)) if p.ip() == c => Some(p.to_string()),
        (_, Some(c)) => Some(c.to_string()),
        (p, None) => p.map(|a| a.to_string()),
    };
    Some(Received {
        at,
        body,
        read,
        content_type: req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(Received::bounded_content_type),
        remote_addr,
        request_id: crate::http::RequestId::of(req),
    })
}

/// The answer to a body that did not arrive in time: 408, not journaled (nothing was
/// received to keep), counted. actix closes the connection, the rest being unread.
fn body_timed_out(state: &AppState, kind: &str) -> HttpResponse {
    state
        .metrics
        .notifications
        .with_label_values(&[kind, METRIC_BODY_TIMEOUT])
        .inc();
    text(StatusCode::REQUEST_TIMEOUT, REPLY_FAILED)
}

/// A plain-text answer.
fn text(status: StatusCode, body: &'static str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(body)
}

/// The answer for a notice: refusals are `FAILED` with 400 (413 when too large); a store
/// failure is 500 `FAILED`; everything else was stored and is `SUCCESS`.
fn reply(taken: Result<Taken, StoreError>) -> HttpResponse {
    match taken.map(|t| t.outcome) {
        Ok(Outcome::Rejected(RejectReason::TooLarge)) => {
            text(StatusCode::PAYLOAD_TOO_LARGE, REPLY_FAILED)
        }
        Ok(Outcome::Rejected(_)) => text(StatusCode::BAD_REQUEST, REPLY_FAILED),
        Ok(_) => text(StatusCode::OK, REPLY_SUCCESS),
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, REPLY_FAILED),
    }
}

/// `POST /notify/payment`: a payment result notification.
pub async fn payment(
    state: web::Data<AppState>,
    budgets: web::Data<RefusalBudgets>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let Some(received) = receive(&state, &req, payload).await else {
        return body_timed_out(&state, crate::notify::KIND_PAYMENT);
    };
    let peer = client_of(&req).map(counted_as);
    match intake::payment(&state, &budgets, received, peer).await {
        Ok(PaymentTaken::OverBudget) => text(StatusCode::TOO_MANY_REQUESTS, REPLY_FAILED),
        Ok(PaymentTaken::Stored(taken)) => reply(Ok(taken)),
        Err(e) => reply(Err(e)),
    }
}

/// `POST /notify/contract/{token}`: a contract notice, admitted only on the secret path.
pub async fn contract(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let admitted = match (
        &state.settings.notify.contract_token,
        req.match_info().get("token"),
    ) {
        (Some(token), Some(presented)) => token.matches(presented.as_bytes()),
        // No token configured: every contract notice is refused.
        _ => false,
    };
    if !admitted {
        // Nothing is read or stored, not even a journal row. An unsigned contract notice has
        // no credential but this URL, so a caller without it is anyone on the internet:
        // journaling their bytes would let a stranger fill the journal (and the disk), and
        // the rejected path is itself a guess at the token, which must never be written
        // down. The answer is exactly the unknown-route 404, so it reveals nothing.
        intake::refused_token(&state);
        return not_found().await;
    }
    let Some(received) = receive(&state, &req, payload).await else {
        return body_timed_out(&state, crate::notify::KIND_CONTRACT);
    };
    reply(intake::contract(&state, received).await)
}
