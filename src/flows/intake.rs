//! Taking in a notification: examine what arrived (`notify::payment`/`notify::contract`),
//! record it — journal row, and for a verified new payment notice its observation applied —
//! in one write transaction off the async executor, then count and log it. The caller
//! answers `SUCCESS` only when this returns `Ok`, i.e. after the commit. It must not log a
//! body, a signature, a key or the contract token.

use std::net::IpAddr;

use crate::flows::Gateway;
use crate::notify::refused::{Budget, Spent};
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

/// What became of a payment notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentTaken {
    /// Stored (journaled, and applied if it verified).
    Stored(Taken),
    /// Refused, unverified, from a peer past its budget or past the ceiling of all peers:
    /// not journaled (answered 429).
    OverBudget,
}

/// The metric label of an unverified refusal past its peer's budget.
const METRIC_OVER_BUDGET: &str = "over_budget";
/// The metric label of an unverified refusal within its peer's budget but past the ceiling
/// of all peers together.
const METRIC_OVER_CEILING: &str = "over_ceiling";

/// How many peers' budgets (`notify.rejected_budget`) all peers together may journal per
/// `notify.rejected_window`: four, so that 20 (or 20 000) addresses journal no more than
/// four do — 120 rows a minute at the defaults, a few hundred kilobytes an hour at the
/// excerpt's size — while one misbehaving peer is still journaled in full.
pub const CEILING_PEERS: u32 = 4;

/// What an unverified refusal spends before it is journaled: its sender's budget (by the
/// address limits count it as: an IPv6 /64), then its share of the ceiling of all peers.
/// Per instance: N instances journal up to N ceilings.
pub struct RefusalBudgets {
    per_peer: Budget,
    all: Budget,
}

impl RefusalBudgets {
    /// `budget` refusals per `window` and peer; [`CEILING_PEERS`] × `budget` in all.
    pub fn new(budget: u32, window: std::time::Duration) -> Self {
        RefusalBudgets {
            per_peer: Budget::new(budget, window),
            all: Budget::new(budget.saturating_mul(CEILING_PEERS), window),
        }
    }
}

/// The configured notification keys, for verification.
fn keys(gw: &Gateway) -> Vec<&str> {
    gw.settings.notify.keys.iter().map(Secret::expose).collect()
}

/// Takes in a payment result notification from `peer` (the address limits count it as).
/// An unverified refusal spends its sender's budget and the ceiling of all first: past
/// either, nothing is stored. A verified notice never consults them.
pub async fn payment(
    gw: &Gateway,
    budgets: &RefusalBudgets,
    received: Received,
    peer: Option<IpAddr>,
) -> Result<PaymentTaken, StoreError> {
    let provider = &gw.settings.provider;
    let verdict = payment::examine(&received, &keys(gw), &provider.mid, &provider.tid);
    let unverified = matches!(&verdict, payment::Verdict::Rejected(r) if !r.verified);
    if unverified && over_budget(gw, budgets, peer) {
        return Ok(PaymentTaken::OverBudget);
    }
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
            Ok(PaymentTaken::Stored(Taken {
                outcome: r.outcome,
                journal_id: r.journal_id,
            }))
        }
        Err(e) => Err(store_failed(gw, KIND_PAYMENT, e)),
    }
}

/// Takes in a contract notice that arrived on the secret path.
pub async fn contract(gw: &Gateway, received: Received) -> Result<Taken, StoreError> {
    let verdict = contract::examine(&received, &keys(gw), &gw.settings.provider.mid);
    let subject = match &verdict {
        contract::Verdict::Accepted(n) => Some(n.contract.contract_no.clone()),
        contract::Verdict::Misrouted { contract_no, .. } => Some(contract_no.clone()),
        contract::Verdict::Rejected(refused) => refused.subject.clone(),
    };
    let now = gw.now();
    let stored = gw
        .db
        .write(move |conn| contract::record(conn, &received, &verdict, now))
        .await;
    match stored {
        Ok(r) => {
            gw.events_written();
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

/// Spends a refusal of `peer`'s budget, then of the ceiling of all; true when either was
/// already spent: then the refusal is counted (`over_budget`, `over_ceiling`) and, once a
/// minute, logged.
fn over_budget(gw: &Gateway, budgets: &RefusalBudgets, peer: Option<IpAddr>) -> bool {
    let Some(ip) = peer else {
        return false;
    };
    let now = std::time::Instant::now();
    let (label, log) = match budgets.per_peer.spend(ip, now) {
        Spent::Over { log } => {
            if log {
                log::warn!(
                    "payment notices from {ip}: refused notices past notify.rejected_budget; \
                     answering 429 without journaling (logged once a minute)"
                );
            }
            (METRIC_OVER_BUDGET, log)
        }
        Spent::Within => match budgets.all.spend(IpAddr::from([0, 0, 0, 0]), now) {
            Spent::Within => return false,
            Spent::Over { log } => (METRIC_OVER_CEILING, log),
        },
    };
    if log && label == METRIC_OVER_CEILING {
        log::warn!(
            "payment notices: refused notices from all peers past {CEILING_PEERS} × \
             notify.rejected_budget; answering 429 without journaling, counted as \
             outcome=\"over_ceiling\" (logged once a minute)"
        );
    }
    gw.metrics
        .notifications
        .with_label_values(&[KIND_PAYMENT, label])
        .inc();
    true
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
