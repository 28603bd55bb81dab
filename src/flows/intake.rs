//! Taking in a notification: examine what arrived (`notify::payment`/`notify::contract`),
//! record it — journal row, and for a verified new payment notice its observation applied —
//! in one write transaction off the async executor, then count and log it. The caller
//! answers `SUCCESS` only when this returns `Ok`, i.e. after the commit. It must not log a
//! body, a signature, a key or the contract token.

use crate::flows::Gateway;
use crate::notify::METRIC_STORE_ERROR;
use crate::notify::{contract, payment, Outcome, Received, KIND_CONTRACT, KIND_PAYMENT};
use crate::secret::Secret;
use crate::store::StoreError;

/// What became of a notice that was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken {
    /// The outcome, as journaled.
    pub outcome: Outcome,
    /// Its journal row.
    pub journal_id: i64,
}

/// The configured notification keys, for verification.
fn keys(gw: &Gateway) -> Vec<&str> {
    gw.settings.notify.keys.iter().map(Secret::expose).collect()
}

/// Takes in a payment result notification.
pub async fn payment(gw: &Gateway, received: Received) -> Result<Taken, StoreError> {
    let verdict = payment::examine(&received, &keys(gw), &gw.settings.provider.mid);
    let (timing, now) = (gw.timing.clone(), gw.now());
    let stored = gw
        .db
        .write(move |conn| payment::record(conn, &received, &verdict, &timing, now))
        .await;
    match stored {
        Ok(r) => {
            if let Some(applied) = &r.applied {
                gw.resolved(applied, now);
            }
            note(
                gw,
                KIND_PAYMENT,
                r.outcome,
                r.journal_id,
                r.order_ref.as_deref(),
            );
            Ok(Taken {
                outcome: r.outcome,
                journal_id: r.journal_id,
            })
        }
        Err(e) => Err(store_failed(gw, KIND_PAYMENT, e)),
    }
}

/// Takes in a contract notice that arrived on the secret path.
pub async fn contract(gw: &Gateway, received: Received) -> Result<Taken, StoreError> {
    let verdict = contract::examine(&received, &keys(gw), &gw.settings.provider.mid);
    let subject = match &verdict {
        contract::Verdict::Accepted(n) => Some(n.contract.contract_no.clone()),
        contract::Verdict::Rejected(refused) => refused.subject.clone(),
    };
    let now = gw.now();
    let stored = gw
        .db
        .write(move |conn| contract::record(conn, &received, &verdict, now))
        .await;
    match stored {
        Ok(r) => {
            note(
                gw,
                KIND_CONTRACT,
                r.outcome,
                r.journal_id,
                subject.as_deref(),
            );
            Ok(Taken {
                outcome: r.outcome,
                journal_id: r.journal_id,
            })
        }
        Err(e) => Err(store_failed(gw, KIND_CONTRACT, e)),
    }
}

/// Counts a contract notice refused for its path token (never journaled).
pub fn refused_token(gw: &Gateway) {
    gw.metrics
        .notifications
        .with_label_values(&[
            KIND_CONTRACT,
            Outcome::Rejected(crate::notify::RejectReason::BadToken).metric(),
        ])
        .inc();
}

/// Counts and logs a recorded notice (by journal id, reason and order: never its content).
/// The order or contract named may be a sender's unverified claim, so it is printed
/// escaped: it cannot forge a log line.
fn note(gw: &Gateway, kind: &str, outcome: Outcome, journal_id: i64, subject: Option<&str>) {
    gw.metrics
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

/// A notice that could not be stored: logged once, counted; the caller asks for a resend.
fn store_failed(gw: &Gateway, kind: &str, e: StoreError) -> StoreError {
    log::error!("{kind} notice not stored, answering FAILED so that it is resent: {e}");
    gw.metrics
        .notifications
        .with_label_values(&[kind, METRIC_STORE_ERROR])
        .inc();
    e
}
