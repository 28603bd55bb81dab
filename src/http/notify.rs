//! The notify listener's handlers: `POST /notify/payment` and `POST /notify/contract/{token}`.
//! Thin: take the bytes, run the intake use case (`flows::intake`), answer. `SUCCESS` (200)
//! is only ever sent after the commit; a store failure is a 5xx `FAILED` so that the
//! provider resends. They must not log a body, a signature, a key or the path token.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::body::{read_up_to, Limited};
use super::{not_found, AppState};
use crate::flows::intake::{self, Taken};
use crate::notify::{BodyRead, Outcome, Received, RejectReason};
use crate::store::StoreError;

/// The body the provider waits for: received and durably stored.
pub const REPLY_SUCCESS: &str = "SUCCESS";
/// The body of every other answer: the provider resends.
pub const REPLY_FAILED: &str = "FAILED";

/// Reads what arrived: the body up to `notify.max_body_bytes` (the first bytes of a larger
/// one), its content type and the TCP peer.
async fn receive(state: &AppState, req: &HttpRequest, payload: web::Payload) -> Received {
    let at = state.now();
    let (body, read) = match read_up_to(payload, state.settings.notify.max_body_bytes).await {
        Ok(Limited::Whole(body)) => (body.to_vec(), BodyRead::Whole),
        Ok(Limited::TooLarge(prefix)) => (prefix.to_vec(), BodyRead::TooLarge),
        Err(_) => (Vec::new(), BodyRead::Failed),
    };
    Received {
        at,
        body,
        read,
        content_type: req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(Received::bounded_content_type),
        remote_addr: req.peer_addr().map(|a| a.to_string()),
        request_id: crate::http::RequestId::of(req),
    }
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
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let received = receive(&state, &req, payload).await;
    reply(intake::payment(&state, received).await)
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
    let received = receive(&state, &req, payload).await;
    reply(intake::contract(&state, received).await)
}
