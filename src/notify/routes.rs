//! The notify listener's handlers: `POST /notify/payment` and `POST /notify/contract/{token}`.
//! Thin: take the bytes, examine them, record them in one write transaction off the async
//! executor, count, answer. `SUCCESS` (200) is only ever sent after the commit; a store
//! failure is a 5xx `FAILED` so that the provider resends. They must not log a body, a
//! signature, a key or the path token.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;

use crate::store::orders::Timing;

use super::refused::{Budget, Spent};
use super::{contract, payment, BodyRead, Outcome, Received, RejectReason};
use super::{KIND_CONTRACT, KIND_PAYMENT, METRIC_STORE_ERROR};
use crate::http::body::{read_up_to, Limited};
use crate::http::client_addr::TrustedProxies;
use crate::http::error::ApiError;
use crate::http::{not_found, AppState};
use crate::secret::Secret;
use crate::store::StoreError;

/// The body the provider waits for: received and durably stored (protocol.md §5).
pub const REPLY_SUCCESS: &str = "SUCCESS";
/// The body of every other answer: the provider resends.
pub const REPLY_FAILED: &str = "FAILED";

/// The metric label of a notice whose body did not arrive within `notify.body_timeout`.
const METRIC_BODY_TIMEOUT: &str = "body_timeout";
/// The metric label of an unverified refusal past its peer's budget.
const METRIC_OVER_BUDGET: &str = "over_budget";

/// Reads what arrived: the body up to `notify.max_body_bytes` (the first bytes of a larger
/// one; nothing when its declared length is larger), its content type and the client
/// address (`TrustedProxies`). `None` when the body did not arrive within
/// `notify.body_timeout`.
async fn receive(state: &AppState, req: &HttpRequest, payload: web::Payload) -> Option<Received> {
    let at = Utc::now();
    let (body, read) = match read_up_to(req, payload, state.settings.notify.max_body_bytes).await {
        Ok(Limited::Whole(body)) => (body.to_vec(), BodyRead::Whole),
        Ok(Limited::TooLarge(prefix)) => (prefix.to_vec(), BodyRead::TooLarge),
        Err(ApiError::BodyTimeout { .. }) => return None,
        Err(_) => (Vec::new(), BodyRead::Failed),
    };
    let peer = req.peer_addr();
    let client = req
        .app_data::<TrustedProxies>()
        .and_then(|t| t.client(peer, req.headers()));
    // The TCP peer as before (with its port) unless a trusted proxy forwarded the request.
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

/// Spends a refusal of the client's budget; past it, the 429 to send instead of a journal
/// row. The client is the address `receive` resolved, without its port.
fn over_budget(
    state: &AppState,
    budget: &Budget,
    kind: &str,
    received: &Received,
) -> Option<HttpResponse> {
    let addr = received.remote_addr.as_deref()?;
    let ip = addr
        .parse::<std::net::SocketAddr>()
        .map(|a| a.ip())
        .or_else(|_| addr.parse())
        .ok()?;
    match budget.spend(ip, std::time::Instant::now()) {
        Spent::Within => None,
        Spent::Over { log } => {
            state
                .metrics
                .notifications
                .with_label_values(&[kind, METRIC_OVER_BUDGET])
                .inc();
            if log {
                log::warn!(
                    "{kind} notices from {ip}: refused notices past notify.rejected_budget; \
                     answering 429 without journaling (logged once a minute)"
                );
            }
            Some(text(StatusCode::TOO_MANY_REQUESTS, REPLY_FAILED))
        }
    }
}

/// The configured notification keys, for verification.
fn keys(state: &AppState) -> Vec<&str> {
    state
        .settings
        .notify
        .keys
        .iter()
        .map(Secret::expose)
        .collect()
}

/// A plain-text answer.
fn text(status: StatusCode, body: &'static str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(body)
}

/// The answer for a recorded notice: refusals are `FAILED` with 400 (413 when too large);
/// everything else was stored and is `SUCCESS`.
fn reply(outcome: Outcome) -> HttpResponse {
    match outcome {
        Outcome::Rejected(RejectReason::TooLarge) => {
            text(StatusCode::PAYLOAD_TOO_LARGE, REPLY_FAILED)
        }
        Outcome::Rejected(_) => text(StatusCode::BAD_REQUEST, REPLY_FAILED),
        _ => text(StatusCode::OK, REPLY_SUCCESS),
    }
}

/// Counts and logs a recorded notice (by journal id, reason and order: never its content).
/// The order or contract named may be a sender's unverified claim, so it is printed
/// escaped: it cannot forge a log line.
fn note(state: &AppState, kind: &str, outcome: Outcome, journal_id: i64, subject: Option<&str>) {
    state
        .metrics
        .notifications
        .with_label_values(&[kind, outcome.metric()])
        .inc();
    let subject = format!("{:?}", subject.unwrap_or("-"));
    match outcome {
        Outcome::Rejected(reason) => log::warn!(
            "{kind} notice #{journal_id} rejected ({}) for {subject}",
            reason.as_str()
        ),
        Outcome::Orphan | Outcome::Review => log::warn!(
            "{kind} notice #{journal_id} is {} for {subject}: an operator should look",
            outcome.journal()
        ),
        _ => log::info!(
            "{kind} notice #{journal_id} {} for {subject}",
            outcome.journal()
        ),
    }
}

/// The answer when the notice could not be stored: logged once, counted, 500 `FAILED`.
fn store_failed(state: &AppState, kind: &str, e: &StoreError) -> HttpResponse {
    log::error!("{kind} notice not stored, answering FAILED so that it is resent: {e}");
    state
        .metrics
        .notifications
        .with_label_values(&[kind, METRIC_STORE_ERROR])
        .inc();
    text(StatusCode::INTERNAL_SERVER_ERROR, REPLY_FAILED)
}

/// `POST /notify/payment`: a payment result notification.
pub async fn payment(
    state: web::Data<AppState>,
    budget: web::Data<Budget>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let Some(received) = receive(&state, &req, payload).await else {
        return body_timed_out(&state, KIND_PAYMENT);
    };
    let verdict = payment::examine(&received, &keys(&state), &state.settings.provider.mid);
    // Only unverified refusals spend the budget: a verified notice is never held back.
    if let payment::Verdict::Rejected {
        verified: false, ..
    } = &verdict
    {
        if let Some(answer) = over_budget(&state, &budget, KIND_PAYMENT, &received) {
            return answer;
        }
    }
    let timing = Timing::from(&state.settings.reconcile);
    let stored = state
        .db
        .write(move |conn| payment::record(conn, &received, &verdict, timing, Utc::now()))
        .await;
    match stored {
        Ok(r) => {
            note(
                &state,
                KIND_PAYMENT,
                r.outcome,
                r.journal_id,
                r.order_ref.as_deref(),
            );
            reply(r.outcome)
        }
        Err(e) => store_failed(&state, KIND_PAYMENT, &e),
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
        state
            .metrics
            .notifications
            .with_label_values(&[
                KIND_CONTRACT,
                Outcome::Rejected(RejectReason::BadToken).metric(),
            ])
            .inc();
        return not_found().await;
    }
    let Some(received) = receive(&state, &req, payload).await else {
        return body_timed_out(&state, KIND_CONTRACT);
    };
    let verdict = contract::examine(&received, &keys(&state), &state.settings.provider.mid);
    let subject = match &verdict {
        contract::Verdict::Accepted(n) => Some(n.contract.contract_no.clone()),
        contract::Verdict::Rejected { contract_no, .. } => contract_no.clone(),
    };
    let stored = state
        .db
        .write(move |conn| contract::record(conn, &received, &verdict, Utc::now()))
        .await;
    match stored {
        Ok(r) => {
            note(
                &state,
                KIND_CONTRACT,
                r.outcome,
                r.journal_id,
                subject.as_deref(),
            );
            reply(r.outcome)
        }
        Err(e) => store_failed(&state, KIND_CONTRACT, &e),
    }
}
