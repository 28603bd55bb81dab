//! What an order becomes on an observation: [`Order::observe`] runs the state machine
//! (`order::decide`) and works out every consequence — the new column values, the next
//! check, the review flag and its reason, the history entry — as one [`Change`]. Every path
//! goes through it: a payment notification, a query (scheduled, an operator's, before a
//! pre-authorisation retry), the bind answer, a completion's start and answer, expiry. The
//! store writes a `Change` with one compare-and-set and one event row, and decides nothing.
//! Pure: the caller passes the time and the random draw; it must not read a clock, the
//! store or the network.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::order::{decide, Decision, Evidence, IgnoreReason, OrderStatus, Report, Source};
use crate::domain::record::{Binding, Order, ProviderFacts};
use crate::domain::schedule;

/// The timings that decide an order's next check and when it counts as expired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How long past expiry the provider is given before an unpaid order is closed.
    pub expiry_grace: Duration,
    /// Gaps between the checks of an order awaiting the provider (not empty).
    pub backoff: Vec<Duration>,
    /// Gaps between the checks of a PAID or REFUNDED order, so that a refund or closure
    /// whose notification is lost is still found (empty: none).
    pub settled_backoff: Vec<Duration>,
}

/// What the bind call (`update-qrcode`) came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindAnswer {
    /// The provider accepted the bill; its QR code's URL, if it said.
    Bound {
        /// `billQRCode`.
        qr_code: Option<String>,
    },
    /// The provider refused the bill, or it was never sent; in words (`errCode: errMsg`).
    Refused(String),
    /// No answer: the reconciler's query settles it.
    Unknown,
}

/// What was observed about an order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "one short-lived value per observation; boxing buys nothing"
)]
pub enum Seen {
    /// The provider's evidence about the payment, with the facts that came with it.
    Report {
        /// What the provider said (its `past_expiry` is worked out by `observe`).
        evidence: Evidence,
        /// The facts that came with it.
        facts: ProviderFacts,
    },
    /// The answer to the bind call.
    Bind(BindAnswer),
    /// A pre-authorisation completion is about to be sent under this id (kept before the
    /// call, so that a crash after it can still be resolved by querying the id).
    CompletionStarted(String),
    /// A check that brought no usable answer (a transient error, no answer): only the
    /// schedule moves.
    Nothing,
    /// A verified message about the order that cannot be applied (a required amount that
    /// cannot be read, no status): the order is flagged for review with this reason and
    /// made due for a check now.
    Unreadable(String),
    /// An operator looked at the order's review as it was at version `reviewed` and clears
    /// it, if it is still the flag they saw ([`Order::acknowledgement`]); money state stays
    /// as the provider's word left it.
    Acknowledged {
        /// The order's version on the page the operator reviewed.
        reviewed: i64,
    },
}

/// What an operator's acknowledgement does to the order as it is now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acknowledgement {
    /// The order is still as the operator saw it: its flag is cleared.
    Clears,
    /// The order is not flagged (another operator cleared it, or it never was): nothing.
    NotFlagged,
    /// The order changed since the operator looked (a newer notice may have flagged it
    /// again, for another reason): nothing is cleared, and they are shown what it is now.
    Changed {
        /// The order's version now.
        version: i64,
        /// Why it is flagged now.
        reason: String,
    },
}

/// The operator behind an observation, and what they wrote about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The operator's configured name.
    pub operator: String,
    /// Their note (required for review actions).
    pub note: Option<String>,
}

/// Marks an observation as one check of the order with the provider: the check is counted
/// and the next one scheduled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Checked {
    /// A draw in `[0, 1)` that spreads the next check (`schedule::jittered`).
    pub jitter: f64,
}

/// One observation of one order.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// What was observed.
    pub seen: Seen,
    /// Who brought it.
    pub source: Source,
    /// Journal reference of the proof: `notification:<id>`, `call:<id>`.
    pub evidence_ref: Option<String>,
    /// Set when the observation is one of the order's checks.
    pub checked: Option<Checked>,
    /// The operator who caused it, if one did.
    pub by: Option<Actor>,
}

impl Observation {
    /// The provider's evidence, from `source`, proved by `evidence_ref`.
    pub fn report(
        evidence: Evidence,
        facts: ProviderFacts,
        source: Source,
        evidence_ref: Option<String>,
    ) -> Self {
        Observation {
            seen: Seen::Report { evidence, facts },
            source,
            evidence_ref,
            checked: None,
            by: None,
        }
    }

    /// Something other than evidence, from `source`.
    pub fn of(seen: Seen, source: Source, evidence_ref: Option<String>) -> Self {
        Observation {
            seen,
            source,
            evidence_ref,
            checked: None,
            by: None,
        }
    }

    /// The same observation, caused by `actor`.
    pub fn by(mut self, actor: Option<Actor>) -> Self {
        self.by = actor;
        self
    }

    /// The same observation, as one of the order's checks.
    pub fn as_check(mut self, jitter: f64) -> Self {
        self.checked = Some(Checked { jitter });
        self
    }
}

/// The entry a change adds to the order's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventNote {
    /// Status before.
    pub from: OrderStatus,
    /// Status after.
    pub to: OrderStatus,
    /// Why: the move's reason and/or the review reason.
    pub reason: String,
    /// The operator who caused it, and their note.
    pub by: Option<Actor>,
}

/// Everything an observation does to an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// What the state machine decided, for an observation that carried evidence.
    pub decision: Option<Decision>,
    /// The order after: `version` one higher and `updated_at` the observation's time when
    /// anything changed; equal to the order before otherwise.
    pub after: Order,
    /// The history entry to write, when the status moved or the order was newly flagged.
    pub event: Option<EventNote>,
}

impl Change {
    /// Whether the order row must be written (anything at all changed).
    pub fn changed(&self, before: &Order) -> bool {
        self.after.version != before.version
    }

    /// Whether this change settled a payment: the order reached PAID or AUTHORIZED.
    pub fn resolved_payment(&self) -> bool {
        matches!(
            self.decision,
            Some(Decision::Move {
                to: OrderStatus::Paid | OrderStatus::Authorized,
                ..
            })
        )
    }
}

/// Adds `gap` to `at`, or nothing if it does not fit.
fn plus(at: DateTime<Utc>, gap: Duration) -> Option<DateTime<Utc>> {
    chrono::Duration::from_std(gap)
        .ok()
        .and_then(|g| at.checked_add_signed(g))
}

impl Order {
    /// Whether the order's expiry plus `grace` has passed at `now`.
    pub fn past_expiry(&self, now: DateTime<Utc>, grace: Duration) -> bool {
        plus(self.expire_at, grace).is_some_and(|t| now >= t)
    }

    /// What an operator's acknowledgement of this order, reviewed at version `reviewed`,
    /// does: it clears the flag only when the order is still at that version. Any change
    /// since (a newer notice's flag, a check) may have changed what the flag means, so the
    /// operator must look again; comparing the whole version, not only the reason, also
    /// catches an order cleared and flagged again in between.
    pub fn acknowledgement(&self, reviewed: i64) -> Acknowledgement {
        match &self.review {
            None => Acknowledgement::NotFlagged,
            Some(r) if self.version != reviewed => Acknowledgement::Changed {
                version: self.version,
                reason: r.reason.clone(),
            },
            Some(_) => Acknowledgement::Clears,
        }
    }

    /// What this order becomes on `obs` at `now`. The one place that decides: status (by
    /// `decide`), paid and refunded amounts, provider facts, binding, review flag, the
    /// check schedule and the history entry.
    pub fn observe(&self, obs: &Observation, now: DateTime<Utc>, timing: &Timing) -> Change {
        let mut after = self.clone();
        let mut reasons: Vec<String> = Vec::new();
        let decision = match &obs.seen {
            Seen::Report { evidence, facts } => Some(self.take_report(
                &mut after,
                evidence,
                facts,
                obs.source,
                now,
                timing,
                &mut reasons,
            )),
            Seen::Bind(answer) => {
                match answer {
                    BindAnswer::Bound { qr_code } => {
                        after.binding = Binding::Bound;
                        after.bill_qr_code.clone_from(qr_code);
                        after.binding_error = None;
                    }
                    BindAnswer::Refused(why) => {
                        after.binding = Binding::Refused;
                        after.bill_qr_code = None;
                        after.binding_error = Some(why.clone());
                        // A refused bill can never be paid: one check after expiry closes it.
                        after.schedule.next_check_at = plus(self.expire_at, timing.expiry_grace);
                    }
                    BindAnswer::Unknown => {
                        after.binding = Binding::Unknown;
                        after.bill_qr_code = None;
                        after.binding_error = None;
                    }
                }
                None
            }
            Seen::CompletionStarted(id) => {
                after.completion_order_id = Some(id.clone());
                None
            }
            Seen::Nothing => None,
            Seen::Acknowledged { reviewed } => {
                if self.acknowledgement(*reviewed) == Acknowledgement::Clears {
                    if let Some(review) = after.review.take() {
                        reasons.push(format!("review acknowledged: {}", review.reason));
                    }
                }
                None
            }
            Seen::Unreadable(why) => {
                if after.flag(why.clone(), now) {
                    reasons.push(format!("review: {why}"));
                }
                // Queried at once: the provider's answer can carry what the message could not.
                after.schedule.next_check_at = Some(now);
                None
            }
        };
        if let Some(checked) = obs.checked {
            self.count_check(&mut after, &obs.seen, checked, now, timing, &mut reasons);
        }
        let changed = after != *self;
        if changed {
            after.version = self.version.saturating_add(1);
            after.updated_at = now;
        }
        if changed && reasons.is_empty() && obs.by.is_some() {
            // An operator's action is always in the history, even when it found nothing new.
            reasons.push("checked by an operator: nothing new".to_owned());
        }
        let event = (changed && !reasons.is_empty()).then(|| EventNote {
            from: self.status,
            to: after.status,
            reason: reasons.join("; "),
            by: obs.by.clone(),
        });
        Change {
            decision,
            after,
            event,
        }
    }

    /// Runs the state machine on the provider's evidence and applies its decision to
    /// `after`.
    #[expect(clippy::too_many_arguments, reason = "one private step of `observe`")]
    fn take_report(
        &self,
        after: &mut Order,
        evidence: &Evidence,
        facts: &ProviderFacts,
        source: Source,
        now: DateTime<Utc>,
        timing: &Timing,
        reasons: &mut Vec<String>,
    ) -> Decision {
        let mut evidence = evidence.clone();
        evidence.past_expiry = self.past_expiry(now, timing.expiry_grace);
        let decision = decide(&self.state(), &evidence, source);
        match &decision {
            Decision::Move {
                to,
                refunded,
                reason,
                review,
            } => {
                after.status = *to;
                if let Some(r) = refunded {
                    after.refunded = *r;
                }
                if matches!(to, OrderStatus::Paid | OrderStatus::Authorized) && self.status != *to {
                    after.paid_amount = evidence.amount.or(after.paid_amount);
                }
                after.facts.merge(facts);
                if !to.awaits_provider() && self.status.awaits_provider() {
                    // Settled: PAID and REFUNDED orders are checked a few more times, so
                    // that a refund or closure whose notification is lost is still found.
                    after.schedule.attempts = 0;
                    after.schedule.next_check_at = match to {
                        OrderStatus::Paid | OrderStatus::Refunded => timing
                            .settled_backoff
                            .first()
                            .and_then(|gap| plus(now, *gap)),
                        _ => None,
                    };
                }
                reasons.push(match review {
                    Some(r) => {
                        after.flag(r.to_string(), now);
                        format!("{}; review: {r}", reason.as_str())
                    }
                    None => reason.as_str().to_owned(),
                });
            }
            Decision::Confirm => after.facts.merge(facts),
            // Not yet paid, or indeterminate: the provider's latest word is still worth
            // showing.
            Decision::Ignore(IgnoreReason::NotYet | IgnoreReason::Indeterminate) => {
                if facts.provider_status.is_some() {
                    after
                        .facts
                        .provider_status
                        .clone_from(&facts.provider_status);
                }
            }
            Decision::Ignore(_) => {}
            Decision::Review(reason) => {
                if after.flag(reason.to_string(), now) {
                    reasons.push(format!("review: {reason}"));
                }
            }
        }
        decision
    }

    /// Counts a check and schedules the next one: by the back-off list while the order
    /// awaits the provider (flagged for review once the list is used up), by the settled
    /// list for a PAID or REFUNDED order that was settled before this check.
    fn count_check(
        &self,
        after: &mut Order,
        seen: &Seen,
        checked: Checked,
        now: DateTime<Utc>,
        timing: &Timing,
        reasons: &mut Vec<String>,
    ) {
        after.schedule.last_checked_at = Some(now);
        let found_at_provider = matches!(
            seen,
            Seen::Report { evidence, .. } if evidence.report != Report::NoOrder
        );
        if found_at_provider && after.binding == Binding::Unknown {
            after.binding = Binding::Bound;
        }
        if after.status.awaits_provider() {
            after.schedule.attempts = after.schedule.attempts.saturating_add(1);
            let next = schedule::after_check(
                after.schedule.attempts,
                &timing.backoff,
                now,
                checked.jitter,
            );
            after.schedule.next_check_at = Some(next.at);
            if next.exhausted && !after.needs_review() {
                let reason = format!(
                    "no final answer from the provider after {} checks",
                    schedule::scheduled_checks(&timing.backoff)
                );
                if after.flag(reason.clone(), now) {
                    reasons.push(format!("review: {reason}"));
                }
            }
        } else if !self.status.awaits_provider() && after.schedule.next_check_at.is_some() {
            // One of the few checks after settlement: the next, or none.
            after.schedule.attempts = after.schedule.attempts.saturating_add(1);
            let index = usize::try_from(after.schedule.attempts).unwrap_or(usize::MAX);
            after.schedule.next_check_at = timing
                .settled_backoff
                .get(index)
                .and_then(|gap| now.checked_add_signed(schedule::jittered(*gap, checked.jitter)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chinaums::status::{BillStatus, TradeStatus};
    use crate::domain::money::Amount;
    use crate::domain::record::testing::{bill, t0};

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn timing() -> Timing {
        Timing {
            expiry_grace: secs(120),
            backoff: vec![secs(30), secs(60)],
            settled_backoff: vec![secs(3600), secs(21_600)],
        }
    }

    /// A 100-fen order in `status` (40 refunded when REFUNDED), expiring an hour after t0.
    fn order(status: OrderStatus) -> Order {
        let mut o = bill();
        o.status = status;
        if status == OrderStatus::Refunded {
            o.refunded = Amount::from_fen(40).unwrap();
        }
        if !status.awaits_provider() {
            o.schedule.next_check_at = None;
        }
        o
    }

    fn reports() -> Vec<Report> {
        let mut all: Vec<Report> = TradeStatus::KNOWN
            .iter()
            .cloned()
            .map(Report::Trade)
            .chain(BillStatus::KNOWN.iter().cloned().map(Report::Bill))
            .collect();
        all.extend([
            Report::NoOrder,
            Report::Completed,
            Report::Trade(TradeStatus::parse("TRADE_FROZEN")),
        ]);
        all
    }

    fn evidence(report: Report) -> Evidence {
        let refund = matches!(
            report,
            Report::Trade(TradeStatus::TradeRefund) | Report::Bill(BillStatus::Refund)
        );
        let mut e = Evidence::of(report);
        e.amount = Some(Amount::from_fen(100).unwrap());
        e.refunded = refund.then(|| Amount::from_fen(60).unwrap());
        e
    }

    fn facts() -> ProviderFacts {
        ProviderFacts {
            provider_status: Some("X".into()),
            seq_id: Some("S1".into()),
            ..ProviderFacts::default()
        }
    }

    /// The order as it was, but for what an applied change always sets.
    fn unstamped(o: &Order) -> Order {
        let mut o = o.clone();
        o.version = 0;
        o.updated_at = t0();
        o
    }

    #[test]
    fn every_status_report_and_source_has_the_consequences_its_decision_says() {
        let now = t0() + chrono::Duration::minutes(5);
        for status in OrderStatus::ALL {
            for report in reports() {
                for source in Source::ALL {
                    let before = order(status);
                    let obs = Observation::report(
                        evidence(report.clone()),
                        facts(),
                        source,
                        Some("call:1".into()),
                    );
                    let change = before.observe(&obs, now, &timing());
                    let after = &change.after;
                    let case = format!("{status} × {report:?} × {}", source.as_str());
                    let decision = change.decision.clone().expect("a report is decided");
                    assert_eq!(
                        decision,
                        decide(&before.state(), &evidence(report.clone()), source),
                        "{case}"
                    );

                    // Exactly one version per applied observation, and only when it changed.
                    let changed = unstamped(after) != unstamped(&before);
                    assert_eq!(change.changed(&before), changed, "{case}");
                    if changed {
                        assert_eq!(after.version, before.version + 1, "{case}");
                        assert_eq!(after.updated_at, now, "{case}");
                    } else {
                        assert_eq!(after, &before, "{case}");
                    }
                    match &decision {
                        Decision::Move { to, review, .. } => {
                            assert_eq!(after.status, *to, "{case}");
                            assert_eq!(after.facts.seq_id.as_deref(), Some("S1"), "{case}");
                            let event = change.event.as_ref().expect("a move is history");
                            assert_eq!((event.from, event.to), (status, *to), "{case}");
                            assert_eq!(after.needs_review(), review.is_some(), "{case}");
                            let next = after.schedule.next_check_at;
                            match to {
                                OrderStatus::Paid | OrderStatus::Refunded
                                    if status.awaits_provider() =>
                                {
                                    assert_eq!(
                                        next,
                                        Some(now + chrono::Duration::hours(1)),
                                        "{case}"
                                    )
                                }
                                OrderStatus::Closed => assert_eq!(next, None, "{case}"),
                                _ => {}
                            }
                        }
                        Decision::Review(reason) => {
                            assert_eq!(after.status, status, "{case}");
                            assert!(after.needs_review(), "{case}");
                            assert_eq!(
                                after.review_reason(),
                                Some(reason.to_string().as_str()),
                                "{case}"
                            );
                            let event = change.event.as_ref().expect("a new flag is history");
                            assert_eq!(event.reason, format!("review: {reason}"), "{case}");
                        }
                        Decision::Confirm | Decision::Ignore(_) => {
                            assert_eq!(after.status, status, "{case}");
                            assert!(!after.needs_review(), "{case}");
                            assert_eq!(change.event, None, "{case}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_check_counts_itself_schedules_the_next_and_flags_once_the_list_is_used_up() {
        let mut o = order(OrderStatus::Pending);
        let nothing = Observation::of(Seen::Nothing, Source::Query, None).as_check(0.5);
        let mut at = t0();
        let mut events = Vec::new();
        for _ in 0..4 {
            at += chrono::Duration::minutes(1);
            let change = o.observe(&nothing, at, &timing());
            assert_eq!(change.after.version, o.version + 1);
            events.extend(change.event.clone());
            o = change.after;
        }

        assert_eq!(o.status, OrderStatus::Pending);
        assert_eq!(o.schedule.attempts, 4);
        assert_eq!(o.schedule.last_checked_at, Some(at));
        assert_eq!(
            o.schedule.next_check_at,
            Some(at + chrono::Duration::seconds(60))
        );
        assert!(o.needs_review());
        assert_eq!(events.len(), 1, "flagged once: {events:?}");
        assert_eq!(
            events[0].reason,
            "review: no final answer from the provider after 3 checks"
        );
    }

    #[test]
    fn a_move_and_its_checks_bookkeeping_are_one_change_and_one_version() {
        let before = order(OrderStatus::Pending);
        let paid = Observation::report(
            evidence(Report::Trade(TradeStatus::TradeSuccess)),
            facts(),
            Source::Query,
            Some("call:7".into()),
        )
        .as_check(0.5);

        let change = before.observe(&paid, t0(), &timing());

        assert_eq!(change.after.status, OrderStatus::Paid);
        assert_eq!(change.after.version, before.version + 1);
        assert_eq!(
            change.after.binding,
            Binding::Bound,
            "found at the provider"
        );
        assert_eq!(change.after.schedule.last_checked_at, Some(t0()));
        assert_eq!(
            change.after.schedule.attempts, 0,
            "settled: the settled list starts"
        );
        assert_eq!(change.event.map(|e| e.reason), Some("provider".to_owned()));
    }

    #[test]
    fn a_settled_order_is_checked_by_the_settled_list_and_then_no_more() {
        let mut o = order(OrderStatus::Paid);
        o.schedule.next_check_at = Some(t0());
        let nothing = Observation::of(Seen::Nothing, Source::Query, None).as_check(0.5);

        let first = o.observe(&nothing, t0(), &timing()).after;
        let second = first.observe(&nothing, t0(), &timing()).after;

        assert_eq!(
            first.schedule.next_check_at,
            Some(t0() + chrono::Duration::hours(6))
        );
        assert_eq!(second.schedule.next_check_at, None);
    }

    #[test]
    fn a_bind_answer_sets_the_binding_and_a_refused_bill_is_checked_once_after_expiry() {
        let before = order(OrderStatus::Pending);
        let bound = Observation::of(
            Seen::Bind(BindAnswer::Bound {
                qr_code: Some("https://qr".into()),
            }),
            Source::Api,
            None,
        );
        let refused = Observation::of(
            Seen::Bind(BindAnswer::Refused("DUP_ORDER: taken".into())),
            Source::Api,
            None,
        );

        let b = before.observe(&bound, t0(), &timing());
        let r = before.observe(&refused, t0(), &timing());

        assert_eq!(b.after.binding, Binding::Bound);
        assert_eq!(b.after.bill_qr_code.as_deref(), Some("https://qr"));
        assert_eq!((b.after.version, b.event), (before.version + 1, None));
        assert_eq!(r.after.binding, Binding::Refused);
        assert_eq!(
            r.after.schedule.next_check_at,
            Some(before.expire_at + chrono::Duration::seconds(120))
        );
        assert_eq!(
            r.after.status,
            OrderStatus::Pending,
            "the status is the provider's word"
        );
    }

    fn alice(note: &str) -> Option<Actor> {
        Some(Actor {
            operator: "alice".into(),
            note: Some(note.into()),
        })
    }

    #[test]
    fn an_acknowledgement_clears_the_flag_names_the_operator_and_moves_no_money_state() {
        let mut before = order(OrderStatus::Paid);
        before.flag("amount mismatch".into(), t0());
        let ack = Observation::of(
            Seen::Acknowledged {
                reviewed: before.version,
            },
            Source::Operator,
            None,
        )
        .by(alice("refunded the difference by hand"));
        let later = t0() + chrono::Duration::minutes(5);

        let change = before.observe(&ack, later, &timing());

        assert!(!change.after.needs_review());
        assert_eq!(change.after.status, OrderStatus::Paid);
        assert_eq!(change.after.paid_amount, before.paid_amount);
        assert_eq!(change.decision, None);
        let event = change.event.unwrap();
        assert_eq!(
            (event.from, event.to),
            (OrderStatus::Paid, OrderStatus::Paid)
        );
        assert_eq!(event.reason, "review acknowledged: amount mismatch");
        assert_eq!(event.by, alice("refunded the difference by hand"));
    }

    #[test]
    fn acknowledging_an_order_that_is_not_flagged_changes_nothing() {
        let before = order(OrderStatus::Paid);
        let ack = Observation::of(
            Seen::Acknowledged {
                reviewed: before.version,
            },
            Source::Operator,
            None,
        )
        .by(alice("ok"));

        let change = before.observe(&ack, t0(), &timing());

        assert!(!change.changed(&before));
        assert_eq!(change.event, None);
        assert_eq!(
            before.acknowledgement(before.version),
            Acknowledgement::NotFlagged
        );
    }

    #[test]
    fn an_acknowledgement_of_an_older_version_clears_nothing_and_names_the_flag_now() {
        // Arrange: flagged at version 3 for 99 fen, then flagged again for 1 fen.
        let mut seen = order(OrderStatus::Pending);
        seen.flag("amount mismatch: provider reports 99 fen".into(), t0());
        seen.version = 3;
        let mut now = seen.clone();
        now.flag("amount mismatch: provider reports 1 fen".into(), t0());
        now.version = 4;
        let ack = |reviewed| {
            Observation::of(Seen::Acknowledged { reviewed }, Source::Operator, None)
                .by(alice("refunded the 99 fen"))
        };

        // Act
        let stale = now.observe(&ack(3), t0(), &timing());
        let fresh = now.observe(&ack(4), t0(), &timing());

        // Assert
        assert!(!stale.changed(&now), "the newer flag stays");
        assert_eq!(stale.event, None);
        assert_eq!(
            now.acknowledgement(3),
            Acknowledgement::Changed {
                version: 4,
                reason: "amount mismatch: provider reports 1 fen".into()
            }
        );
        assert_eq!(seen.acknowledgement(3), Acknowledgement::Clears);
        assert!(!fresh.after.needs_review(), "the flag seen is cleared");
    }

    #[test]
    fn an_operators_check_that_finds_nothing_new_is_still_in_the_history() {
        let before = order(OrderStatus::Pending);
        let nothing = Observation::of(Seen::Nothing, Source::Operator, None).as_check(0.5);

        let anonymous = before.observe(&nothing, t0(), &timing());
        let by_alice = before.observe(
            &nothing.clone().by(alice("customer called")),
            t0(),
            &timing(),
        );

        assert_eq!(anonymous.event, None);
        let event = by_alice.event.unwrap();
        assert_eq!(event.reason, "checked by an operator: nothing new");
        assert_eq!(event.by, alice("customer called"));
    }

    #[test]
    fn an_order_flagged_again_for_another_reason_keeps_the_time_it_was_first_flagged() {
        let mut o = order(OrderStatus::Pending);
        let later = t0() + chrono::Duration::hours(1);

        assert!(o.flag("first".into(), t0()));
        assert!(!o.flag("first".into(), later));
        assert!(o.flag("second".into(), later));

        assert_eq!(o.review_reason(), Some("second"));
        assert_eq!(o.review.as_ref().map(|r| r.since), Some(t0()));
    }
}
