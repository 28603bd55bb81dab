//! One check of one order with the provider: ask (first the completion's own id for an
//! AUTHORIZED order whose completion is in doubt; a bill by its own identity, the bill
//! query, and by its payment attempts' ids; any other order with `mini-pre-query`), then
//! apply what the answer proves (read by `domain::reading`) — or, with no usable answer,
//! only the schedule — as one observation; and many checks at a capped pace
//! ([`check_many`]). The reconciler's passes and the operators' resyncs both use it. It must
//! not change an order but through `Gateway::observe`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};

use crate::chinaums::status::{BillStatus, ErrClass, TradeStatus};
use crate::chinaums::wire::MiniPreQueryResponse;
use crate::domain::observe::{Actor, Observation, Seen};
use crate::domain::order::{Decision, OrderStatus, Source};
use crate::domain::reading;
use crate::domain::record::Order;
use crate::flows::Gateway;
use crate::provider::{Outcome, ProviderClient};
use crate::store::{attempts, StoreError};

/// What one check came to: a metric label and the resync answer's `outcome`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CheckOutcome {
    /// The order's status moved.
    Moved,
    /// The answer agrees with the order: facts kept.
    Confirmed,
    /// The answer changes nothing (not yet paid, indeterminate, stale).
    Unchanged,
    /// The order was newly flagged for review.
    Review,
    /// The provider has no such order.
    NoOrder,
    /// The provider had transient trouble.
    Transient,
    /// The provider refused the query.
    Refused,
    /// No answer, or an unreadable one.
    Unknown,
    /// The provider refuses our credentials or configuration: passes pause.
    Config,
    /// The query broke the provider's rules before it was sent.
    InvalidRequest,
}

impl CheckOutcome {
    /// Every outcome.
    pub const ALL: [CheckOutcome; 10] = [
        CheckOutcome::Moved,
        CheckOutcome::Confirmed,
        CheckOutcome::Unchanged,
        CheckOutcome::Review,
        CheckOutcome::NoOrder,
        CheckOutcome::Transient,
        CheckOutcome::Refused,
        CheckOutcome::Unknown,
        CheckOutcome::Config,
        CheckOutcome::InvalidRequest,
    ];

    /// The metric label and API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckOutcome::Moved => "moved",
            CheckOutcome::Confirmed => "confirmed",
            CheckOutcome::Unchanged => "unchanged",
            CheckOutcome::Review => "review",
            CheckOutcome::NoOrder => "no_order",
            CheckOutcome::Transient => "transient",
            CheckOutcome::Refused => "refused",
            CheckOutcome::Unknown => "unknown",
            CheckOutcome::Config => "config",
            CheckOutcome::InvalidRequest => "invalid_request",
        }
    }

    /// The outcome of a query that brought no answer to apply.
    fn of_unanswered<T>(outcome: &Outcome<T>) -> Self {
        match outcome {
            Outcome::Answer(_) => CheckOutcome::Unchanged,
            Outcome::Refused(r) => match r.class {
                ErrClass::NoOrder => CheckOutcome::NoOrder,
                ErrClass::Transient => CheckOutcome::Transient,
                _ => CheckOutcome::Refused,
            },
            Outcome::Misconfigured { .. } => CheckOutcome::Config,
            Outcome::Unknown(_) => CheckOutcome::Unknown,
            Outcome::Invalid(_) => CheckOutcome::InvalidRequest,
        }
    }
}

/// What one check of one order did.
#[derive(Debug, Clone)]
pub struct Check {
    /// The order before.
    pub before: Order,
    /// The order after.
    pub after: Order,
    /// What the provider's answer came to.
    pub outcome: CheckOutcome,
}

/// Asks the provider about `order` and applies the answer as one observation from
/// `source` (and `by` an operator, when one asked). `attempts` is how many times an unknown or transient answer is asked again.
/// A configuration refusal changes nothing at all (not even the schedule): the pass stops.
pub async fn check(
    gw: &Gateway,
    client: &ProviderClient,
    order: Order,
    source: Source,
    by: Option<&Actor>,
    attempts: u32,
) -> Result<Check, StoreError> {
    let mut found: Option<(Seen, Option<String>)> = None;
    let mut outcome = CheckOutcome::Unchanged;
    if let (OrderStatus::Authorized, Some(cid)) = (order.status, &order.completion_order_id) {
        let called = client
            .mini_pre_query(order.id.as_str(), cid, &order.merchant(), attempts)
            .await;
        match &called.outcome {
            Outcome::Answer(a) if a.status == Some(TradeStatus::TradeSuccess) => {
                found = Some((reading::completion_answer(a), called.evidence_ref()));
            }
            Outcome::Misconfigured { .. } => outcome = CheckOutcome::Config,
            _ => {}
        }
    }
    if found.is_none() && outcome != CheckOutcome::Config && order.bill_no().is_some() {
        (found, outcome) = ask_about_bill(gw, client, &order, attempts).await?;
    } else if found.is_none() && outcome != CheckOutcome::Config {
        let called = client
            .mini_pre_query(
                order.id.as_str(),
                order.id.as_str(),
                &order.merchant(),
                attempts,
            )
            .await;
        let evidence_ref = called.evidence_ref();
        match called.outcome {
            Outcome::Answer(a) => found = Some((reading::query_answer(&a), evidence_ref)),
            Outcome::Refused(r) if r.class == ErrClass::NoOrder => {
                found = Some((reading::no_order(), evidence_ref));
                outcome = CheckOutcome::NoOrder;
            }
            other => outcome = CheckOutcome::of_unanswered(&other),
        }
    }
    if outcome == CheckOutcome::Config {
        count(gw, outcome);
        return Ok(Check {
            before: order.clone(),
            after: order,
            outcome,
        });
    }

    let (seen, evidence_ref) = found.unwrap_or((Seen::Nothing, None));
    let obs = Observation::of(seen, source, evidence_ref)
        .as_check(rand::random())
        .by(by.cloned());
    let after = match gw.observe(&order.id, obs).await? {
        Some(applied) => {
            let newly_flagged = applied.after().needs_review() && !applied.before.needs_review();
            outcome = match &applied.change.decision {
                Some(Decision::Move { .. }) => CheckOutcome::Moved,
                _ if newly_flagged => CheckOutcome::Review,
                Some(Decision::Confirm) => CheckOutcome::Confirmed,
                Some(Decision::Review(_)) => CheckOutcome::Review,
                Some(Decision::Ignore(_)) if outcome == CheckOutcome::NoOrder => outcome,
                Some(Decision::Ignore(_)) => CheckOutcome::Unchanged,
                None => outcome,
            };
            applied.change.after
        }
        // Gone since it was read (it cannot be deleted today): nothing to apply to.
        None => order.clone(),
    };
    count(gw, outcome);
    Ok(Check {
        before: order,
        after,
        outcome,
    })
}

/// What many checks did (a reconcile pass, an operators' resync of many orders).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Orders due and selected.
    pub selected: usize,
    /// Orders checked (queried).
    pub checked: usize,
    /// Orders whose status moved.
    pub moved: usize,
    /// Orders newly flagged for review.
    pub flagged: usize,
    /// The pass stopped because the provider refused our configuration.
    pub stopped_for_config: bool,
    /// The pass did not run: passes are paused after a configuration error.
    pub paused: bool,
}

impl PassReport {
    /// Adds what another part of the same pass did.
    pub fn add(&mut self, other: &PassReport) {
        self.selected += other.selected;
        self.checked += other.checked;
        self.moved += other.moved;
        self.flagged += other.flagged;
        self.stopped_for_config |= other.stopped_for_config;
        self.paused |= other.paused;
    }
}

/// The provider's rate cap (`reconcile.max_qps`) for one pass, shared by the parts of the
/// pass so that no part starts faster than the cap allows after the one before.
#[derive(Clone)]
pub struct Pace(Arc<tokio::sync::Mutex<actix_web::rt::time::Interval>>);

impl Pace {
    /// At most `max_qps` starts a second.
    pub fn new(max_qps: u32) -> Self {
        let period = Duration::from_secs_f64(1.0 / f64::from(max_qps.max(1)));
        let mut pace = actix_web::rt::time::interval(period);
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Pace(Arc::new(tokio::sync::Mutex::new(pace)))
    }

    /// Waits for the next start; taken in order.
    async fn tick(&self) {
        self.0.lock().await.tick().await;
    }
}

/// Checks `orders` (each asked once) `reconcile.concurrency` at a time, started no faster
/// than `pace`; stops launching checks at the first configuration error. Returns the
/// report and every check made.
pub async fn check_many(
    gw: &Gateway,
    client: &ProviderClient,
    orders: Vec<Order>,
    source: Source,
    by: Option<&Actor>,
    pace: &Pace,
) -> Result<(PassReport, Vec<Check>), StoreError> {
    let r = &gw.settings.reconcile;
    let selected = orders.len();
    let stop = Arc::new(AtomicBool::new(false));
    let concurrency = usize::try_from(r.concurrency).unwrap_or(1);
    let results: Vec<Result<Option<Check>, StoreError>> = stream::iter(orders)
        .map(|order| {
            let (pace, stop) = (pace, stop.clone());
            async move {
                // The pace is taken in order, so at most max_qps queries start per second.
                pace.tick().await;
                if stop.load(Ordering::SeqCst) {
                    return Ok(None);
                }
                let check = check(gw, client, order, source, by, 1).await?;
                if check.outcome == CheckOutcome::Config {
                    stop.store(true, Ordering::SeqCst);
                }
                Ok(Some(check))
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut report = PassReport {
        selected,
        ..PassReport::default()
    };
    let mut checks = Vec::new();
    for r in results {
        let Some(check) = r? else { continue };
        report.checked += 1;
        report.moved += usize::from(check.before.status != check.after.status);
        report.flagged += usize::from(check.after.needs_review() && !check.before.needs_review());
        report.stopped_for_config |= check.outcome == CheckOutcome::Config;
        checks.push(check);
    }
    Ok((report, checks))
}

/// What a bill's check found: the evidence to apply (with its proof), and the outcome so
/// far.
type Found = (Option<(Seen, Option<String>)>, CheckOutcome);

/// Asks about a bill by its own identity: the bill query (the authority: its `billStatus`
/// is the bill's own word, its `NO_BILL` the only "no such bill"), then each payment
/// attempt's own id (`billPayment.merOrderId`, recorded from notifications and answers),
/// then, when the bill query gave no word, mini-pre-query by the bill number as a second
/// opinion. An order query's `NO_ORDER` about a bill number is never evidence: the bill's
/// number is not its payment's id.
async fn ask_about_bill(
    gw: &Gateway,
    client: &ProviderClient,
    order: &Order,
    attempts: u32,
) -> Result<Found, StoreError> {
    let (Some(bill_no), Some(bill_date)) = (order.bill_no(), order.bill_date()) else {
        return Ok((None, CheckOutcome::Unchanged));
    };
    let id = order.id.as_str();
    let called = client
        .bill_query(id, &order.merchant(), bill_no, &bill_date, attempts)
        .await;
    let evidence_ref = called.evidence_ref();
    let mut outcome = CheckOutcome::Unchanged;
    let mut bills_word = None;
    match called.outcome {
        Outcome::Answer(a) => {
            note_attempt(gw, order, reading::attempt(a.bill_payment.as_ref())).await?;
            let seen = reading::bill_answer(&a);
            if matches!(
                a.bill_status,
                Some(BillStatus::Paid | BillStatus::Refund | BillStatus::Closed)
            ) {
                return Ok((Some((seen, evidence_ref)), outcome));
            }
            bills_word = Some((seen, evidence_ref));
        }
        Outcome::Refused(r) if r.class == ErrClass::NoOrder => {
            bills_word = Some((reading::no_order(), evidence_ref));
            outcome = CheckOutcome::NoOrder;
        }
        other => outcome = CheckOutcome::of_unanswered(&other),
    }
    if outcome == CheckOutcome::Config {
        return Ok((None, outcome));
    }
    // Each payment attempt's own id: a paid attempt is the bill's payment.
    let (db, oid) = (gw.db.clone(), order.id.clone());
    let known = db.run(move |c| attempts::of(c, &oid)).await?;
    for attempt in known {
        let called = client
            .mini_pre_query(id, &attempt, &order.merchant(), attempts)
            .await;
        match &called.outcome {
            Outcome::Answer(a) if paid_or_refunded(a) => {
                let seen = reading::query_answer(a);
                return Ok((Some((seen, called.evidence_ref())), CheckOutcome::Unchanged));
            }
            Outcome::Misconfigured { .. } => return Ok((None, CheckOutcome::Config)),
            _ => {}
        }
    }
    if bills_word.is_some() {
        return Ok((bills_word, outcome));
    }
    // A second opinion by the bill number; its NO_ORDER says nothing about a bill.
    let called = client
        .mini_pre_query(id, id, &order.merchant(), attempts)
        .await;
    match &called.outcome {
        Outcome::Answer(a) => {
            note_attempt(gw, order, reading::attempt(a.bill_payment.as_ref())).await?;
            Ok((
                Some((reading::query_answer(a), called.evidence_ref())),
                outcome,
            ))
        }
        Outcome::Misconfigured { .. } => Ok((None, CheckOutcome::Config)),
        _ => Ok((None, outcome)),
    }
}

/// Whether an order query's answer reports a payment (paid, or refunded after one).
fn paid_or_refunded(a: &MiniPreQueryResponse) -> bool {
    matches!(
        a.status,
        Some(TradeStatus::TradeSuccess | TradeStatus::TradeRefund)
    )
}

/// Records a payment attempt id the provider named for `order`.
async fn note_attempt(
    gw: &Gateway,
    order: &Order,
    attempt: Option<String>,
) -> Result<(), StoreError> {
    let Some(attempt) = attempt else {
        return Ok(());
    };
    let (id, now) = (order.id.clone(), gw.now());
    gw.db
        .write(move |c| attempts::record(c, &id, &attempt, Source::Query, now))
        .await?;
    Ok(())
}

fn count(gw: &Gateway, outcome: CheckOutcome) {
    gw.metrics
        .reconcile_checks
        .with_label_values(&[outcome.as_str()])
        .inc();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    #[test]
    fn every_check_outcome_is_exported_at_zero_from_the_start() {
        let metrics = Metrics::new();
        crate::flows::start_series(&metrics);
        let text = metrics.render();
        for outcome in CheckOutcome::ALL {
            let series = format!(
                "umsgate_reconcile_checks_total{{outcome=\"{}\"}} 0",
                outcome.as_str()
            );
            assert!(text.contains(&series), "{series} missing");
        }
    }

    #[test]
    fn all_holds_every_check_outcome_once() {
        // A new variant fails to compile here until it is listed: add it to `ALL` as well.
        for outcome in CheckOutcome::ALL {
            match outcome {
                CheckOutcome::Moved
                | CheckOutcome::Confirmed
                | CheckOutcome::Unchanged
                | CheckOutcome::Review
                | CheckOutcome::NoOrder
                | CheckOutcome::Transient
                | CheckOutcome::Refused
                | CheckOutcome::Unknown
                | CheckOutcome::Config
                | CheckOutcome::InvalidRequest => {}
            }
        }
        let names: std::collections::HashSet<_> =
            CheckOutcome::ALL.iter().map(|o| o.as_str()).collect();

        assert_eq!(names.len(), CheckOutcome::ALL.len());
    }
}
