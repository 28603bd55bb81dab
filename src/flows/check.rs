//! One check of one order with the provider: ask (`mini-pre-query`; first the completion's
//! own id for an AUTHORIZED order whose completion is in doubt), then apply what the answer
//! proves — or, with no usable answer, only the schedule — as one observation. The
//! reconciler's passes and the operators' resyncs both use it. It must not change an order
//! but through `Gateway::observe`.

use crate::chinaums::status::{ErrClass, TradeStatus};
use crate::chinaums::wire::{self, MiniPreQueryResponse};
use crate::domain::money::Amount;
use crate::domain::observe::{Observation, Seen};
use crate::domain::order::{Decision, Evidence, OrderStatus, Report, Source};
use crate::domain::record::{Order, ProviderFacts};
use crate::flows::Gateway;
use crate::provider::{Outcome, ProviderClient};
use crate::store::StoreError;

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

/// The facts a query answer brings.
pub fn facts_of(a: &MiniPreQueryResponse) -> ProviderFacts {
    ProviderFacts {
        provider_status: a.status.as_ref().map(|s| s.as_str().to_owned()),
        seq_id: a.seq_id.clone(),
        target_order_id: a.target_order_id.clone(),
        target_sys: a.target_sys.clone(),
        pay_time: wire::read(&a.pay_time),
        settle_date: wire::read(&a.settle_date),
        auth_id_resp_code: None,
    }
}

/// The evidence that a pre-authorisation completion went through, from a query of the
/// completion's own id.
pub fn completion_evidence(a: &MiniPreQueryResponse) -> Evidence {
    let mut e = Evidence::of(Report::Completed);
    e.amount = wire::read(&a.total_amount).and_then(|f| Amount::from_fen(f).ok());
    e
}

/// Asks the provider about `order` and applies the answer as one observation from
/// `source`. `attempts` is how many times an unknown or transient answer is asked again.
/// A configuration refusal changes nothing at all (not even the schedule): the pass stops.
pub async fn check(
    gw: &Gateway,
    client: &ProviderClient,
    order: Order,
    source: Source,
    attempts: u32,
) -> Result<Check, StoreError> {
    let mut found: Option<(Seen, Option<String>)> = None;
    let mut outcome = CheckOutcome::Unchanged;
    if let (OrderStatus::Authorized, Some(cid)) = (order.status, &order.completion_order_id) {
        let called = client
            .mini_pre_query(order.id.as_str(), cid, Some(&order.inst_mid), attempts)
            .await;
        match &called.outcome {
            Outcome::Answer(a) if a.status == Some(TradeStatus::TradeSuccess) => {
                let seen = Seen::Report {
                    evidence: completion_evidence(a),
                    facts: facts_of(a),
                };
                found = Some((seen, called.evidence_ref()));
            }
            Outcome::Misconfigured { .. } => outcome = CheckOutcome::Config,
            _ => {}
        }
    }
    if found.is_none() && outcome != CheckOutcome::Config {
        let called = client
            .mini_pre_query(
                order.id.as_str(),
                order.id.as_str(),
                Some(&order.inst_mid),
                attempts,
            )
            .await;
        let evidence_ref = called.evidence_ref();
        match called.outcome {
            Outcome::Answer(a) => {
                let mut evidence = Evidence::of(Report::Trade(
                    a.status.clone().unwrap_or(TradeStatus::Unknown),
                ));
                evidence.amount =
                    wire::read(&a.total_amount).and_then(|f| Amount::from_fen(f).ok());
                let facts = facts_of(&a);
                evidence.paid_facts = facts.show_a_payment();
                found = Some((Seen::Report { evidence, facts }, evidence_ref));
            }
            Outcome::Refused(r) if r.class == ErrClass::NoOrder => {
                let seen = Seen::Report {
                    evidence: Evidence::of(Report::NoOrder),
                    facts: ProviderFacts::default(),
                };
                found = Some((seen, evidence_ref));
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
    let obs = Observation::of(seen, source, evidence_ref).as_check(rand::random());
    let after = match gw.observe(&order.id, obs).await? {
        Some(applied) => {
            let newly_flagged = applied.after().needs_review && !applied.before.needs_review;
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

fn count(gw: &Gateway, outcome: CheckOutcome) {
    gw.metrics
        .reconcile_checks
        .with_label_values(&[outcome.as_str()])
        .inc();
}
