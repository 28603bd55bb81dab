//! The refunds the gateway makes (the `POST /orders/{id}/refunds` route is the next step): their id
//! ([`RefundOrderId`]), their record ([`GatewayRefund`]), what may be refunded
//! ([`refundable`]) and the one pure function that decides what a refund becomes on each
//! observation ([`decide`], docs/architecture.md §4, "Refund states"), next to the order's
//! `domain::order::decide`. It must not read a clock, the store or the network: callers
//! pass in the time and the jitter.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::domain::ids::{IdError, MerOrderId, MsgSrcId};
use crate::domain::money::Amount;
use crate::domain::schedule;

/// A refund's own id at the provider (`refundOrderId`): the idempotency key of a refund.
/// The same rules as an order id (the merchant's `msgSrcId` first, 6 to 32 letters or
/// digits), because the provider's pages give it the same shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RefundOrderId(String);

impl RefundOrderId {
    /// Parses a backend's id: it must start with the merchant's source id.
    pub fn parse(s: &str, src: &MsgSrcId) -> Result<Self, IdError> {
        MerOrderId::parse(s, src).map(|id| Self(id.as_str().to_owned()))
    }

    /// Reads a stored id back (any source id: it may predate a configuration change).
    pub fn parse_stored(s: &str) -> Result<Self, IdError> {
        MerOrderId::parse_stored(s).map(|id| Self(id.as_str().to_owned()))
    }

    /// A fresh id with the merchant's source id, shaped as `MerOrderId::generate`'s.
    pub fn generate(src: &MsgSrcId, now: DateTime<Utc>) -> Self {
        Self(MerOrderId::generate(src, now).as_str().to_owned())
    }

    /// The id as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RefundOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A refund's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefundStatus {
    /// Stored with its amount reserved; the provider's final word not known yet.
    Pending,
    /// The provider refunded it.
    Succeeded,
    /// The provider refused or failed it: its reservation is released.
    Failed,
}

impl RefundStatus {
    /// Every status.
    pub const ALL: [RefundStatus; 3] = [
        RefundStatus::Pending,
        RefundStatus::Succeeded,
        RefundStatus::Failed,
    ];

    /// The stored and shown spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "PENDING",
            RefundStatus::Succeeded => "SUCCEEDED",
            RefundStatus::Failed => "FAILED",
        }
    }

    /// Reads the spelling back.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for RefundStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a refund row: the gateway (this API), or the provider reported one made
/// elsewhere (the merchant portal), counted from its notification (`domain::refund`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Asked through `POST /orders/{id}/refunds`.
    Gateway,
    /// Reported by a refund notification the gateway did not ask for.
    Reported,
}

impl Origin {
    /// Every origin.
    pub const ALL: [Origin; 2] = [Origin::Gateway, Origin::Reported];

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Gateway => "gateway",
            Origin::Reported => "reported",
        }
    }

    /// Reads the spelling back.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A refund as kept (one row of `refunds`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayRefund {
    /// Its `refundOrderId` (for a reported refund without one: the notice's `notifyId`).
    pub key: String,
    /// The order refunded.
    pub order: MerOrderId,
    /// Who made it.
    pub origin: Origin,
    /// Fen refunded (or reserved while PENDING).
    pub amount: Amount,
    /// Its status.
    pub status: RefundStatus,
    /// The backend's or operator's reason.
    pub reason: Option<String>,
    /// The operator who asked for it, if one did (the console).
    pub operator: Option<String>,
    /// The provider's `errCode` when it FAILED.
    pub err_code: Option<String>,
    /// When it was asked for (a reported one: when it was reported).
    pub created_at: DateTime<Utc>,
    /// When it became final.
    pub settled_at: Option<DateTime<Utc>>,
    /// Queries made about it so far.
    pub attempts: u32,
    /// When the gateway asks the provider about it next (PENDING only).
    pub next_check_at: Option<DateTime<Utc>>,
    /// Raised by one on every change: the store's compare-and-set.
    pub version: i64,
}

/// What the provider said about a refund, read from its wire answer (`refundStatus`, a
/// refusal's `errCode`, no answer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefundWord {
    /// `refundStatus` `SUCCESS` (or a refund notification naming it).
    Success,
    /// `refundStatus` `FAIL`, or a business refusal (its `errCode`).
    Fail(String),
    /// `refundStatus` `PROCESSING`: final later.
    Processing,
    /// `UNKNOWN`, an unreadable status, a timeout or no answer.
    Unknown,
    /// A query's "no such refund": the refund never reached the provider.
    NotFound,
    /// The gateway's back-off for this refund is used up and it is still not final.
    Exhausted,
}

/// Where the word came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefundSource {
    /// The refund call's own answer (`bills/refund`, `refund`).
    Answer,
    /// A query about it (`refund-query`, the bill query with `refundOrderId`), by the
    /// reconciler.
    Query,
    /// A verified refund notification naming its `refundOrderId`.
    Notify,
}

impl RefundSource {
    /// Every source.
    pub const ALL: [RefundSource; 3] = [
        RefundSource::Answer,
        RefundSource::Query,
        RefundSource::Notify,
    ];

    /// The spelling in the order's history.
    pub fn as_str(self) -> &'static str {
        match self {
            RefundSource::Answer => "answer",
            RefundSource::Query => "query",
            RefundSource::Notify => "notify",
        }
    }
}

/// What a refund becomes on one observation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefundDecision {
    /// Final: SUCCEEDED (the order's refunded total grows by its amount) or FAILED (its
    /// reservation is released), with the provider's `errCode` for a failure.
    Settle(RefundStatus, Option<String>),
    /// Still PENDING: asked again on the back-off.
    Wait,
    /// PENDING, and the provider has no such refund: it is sent again under the same
    /// `refundOrderId` (never a new one), which the provider answers as the same refund
    /// should the first one arrive after all.
    Resend,
    /// Consistent with what the refund records.
    Confirm,
    /// Older or weaker than what the refund records, or a word this source cannot carry.
    Ignore,
    /// Conflicts with a final state, or the back-off ran out: the order is flagged for a
    /// person with this reason; the refund stays as it is.
    Review(String),
}

/// Decides what `word` from `source` does to a refund in `status` (the table of
/// docs/architecture.md §4, "Refund states"):
/// - PENDING settles on the provider's final word (SUCCESS, FAIL) from any source that
///   can carry it, waits on anything else, is sent again under its own id when a query
///   says the provider has no such refund, and is flagged when the back-off runs out;
/// - a final refund never moves again: the same word confirms it, the opposite final word
///   or a query's "no such refund" flags the order, anything weaker is ignored.
pub fn decide(status: RefundStatus, word: &RefundWord, source: RefundSource) -> RefundDecision {
    use RefundDecision::*;
    use RefundSource as S;
    use RefundStatus::*;
    use RefundWord as W;
    match (status, word, source) {
        // A notification only ever says a refund happened; the back-off and "no such
        // refund" are the reconciler's queries'.
        (_, W::Fail(_) | W::Processing | W::Unknown | W::NotFound | W::Exhausted, S::Notify) => {
            Ignore
        }
        (_, W::NotFound | W::Exhausted, S::Answer) => Ignore,

        (Pending, W::Success, _) => Settle(Succeeded, None),
        (Pending, W::Fail(code), _) => Settle(Failed, Some(code.clone())),
        (Pending, W::Processing | W::Unknown, _) => Wait,
        (Pending, W::NotFound, S::Query) => Resend,
        (Pending, W::Exhausted, S::Query) => {
            Review("refund still PENDING after every scheduled query".into())
        }

        (Succeeded, W::Success, _) => Confirm,
        (Succeeded, W::Fail(code), _) => Review(format!(
            "provider reports FAIL ({code}) for a SUCCEEDED refund"
        )),
        (Succeeded, W::NotFound, _) => {
            Review("provider has no record of a SUCCEEDED refund".into())
        }
        (Failed, W::Success, _) => Review(
            "provider reports SUCCESS for a FAILED refund whose reservation was released".into(),
        ),
        (Failed, W::Fail(_), _) => Confirm,
        (Succeeded | Failed, W::Processing | W::Unknown | W::NotFound | W::Exhausted, _) => Ignore,
    }
}

/// What one observation does to a refund ([`GatewayRefund::observe`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundChange {
    /// The decision.
    pub decision: RefundDecision,
    /// The refund after it (equal to before when nothing changed).
    pub after: GatewayRefund,
}

impl RefundChange {
    /// Whether the refund row changes.
    pub fn changed(&self, before: &GatewayRefund) -> bool {
        self.after != *before
    }

    /// Whether the refund became SUCCEEDED just now: the order's refunded total grows.
    pub fn succeeded(&self) -> bool {
        matches!(
            self.decision,
            RefundDecision::Settle(RefundStatus::Succeeded, _)
        )
    }
}

impl GatewayRefund {
    /// What this refund becomes on `word` from `source` at `now`: its status (by
    /// [`decide`]), its settlement, and, for a query (counted) or an answer that left it
    /// PENDING, when it is asked about next (`backoff` with the `jitter` draw). Version one
    /// higher when anything changed.
    pub fn observe(
        &self,
        word: &RefundWord,
        source: RefundSource,
        now: DateTime<Utc>,
        backoff: &[std::time::Duration],
        jitter: f64,
    ) -> RefundChange {
        let decision = decide(self.status, word, source);
        let mut after = self.clone();
        match &decision {
            RefundDecision::Settle(to, err_code) => {
                after.status = *to;
                after.err_code = err_code.clone();
                after.settled_at = Some(now);
                after.next_check_at = None;
            }
            RefundDecision::Wait | RefundDecision::Resend | RefundDecision::Review(_)
                if self.status == RefundStatus::Pending =>
            {
                if source == RefundSource::Query {
                    after.attempts = after.attempts.saturating_add(1);
                }
                let next = schedule::after_check(after.attempts.max(1), backoff, now, jitter);
                after.next_check_at = Some(next.at);
            }
            _ => {}
        }
        if after != *self {
            after.version += 1;
        }
        RefundChange { decision, after }
    }

    /// Whether the reconciler's back-off for it is used up after this many queries.
    pub fn exhausted(&self, backoff: &[std::time::Duration]) -> bool {
        self.attempts >= schedule::scheduled_checks(backoff)
    }
}

/// Why a refund cannot be asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotRefundable {
    /// The amount is above what is left: paid − (succeeded + pending).
    AboveRemaining {
        /// Fen left to refund.
        remaining: Amount,
    },
    /// Nothing was paid, or the order is only authorised or closed.
    NotPaid,
}

impl fmt::Display for NotRefundable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotRefundable::AboveRemaining { remaining } => write!(
                f,
                "is above what is left to refund ({remaining} fen: paid less refunded and pending)"
            ),
            NotRefundable::NotPaid => f.write_str("the order is not paid"),
        }
    }
}

/// Whether `amount` may be refunded from an order whose payment was `paid` (`None`: not
/// paid), with `refunded` already refunded and `pending` reserved by refunds not final:
/// refundable = paid − (refunded + pending).
pub fn refundable(
    paid: Option<Amount>,
    refunded: Amount,
    pending: Amount,
    amount: Amount,
) -> Result<(), NotRefundable> {
    let paid = paid.ok_or(NotRefundable::NotPaid)?;
    let remaining = refunded
        .checked_add(pending)
        .and_then(|taken| paid.checked_sub(taken))
        .unwrap_or(Amount::ZERO);
    if amount > remaining {
        Err(NotRefundable::AboveRemaining { remaining })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::time::Duration;

    fn fen(v: i64) -> Amount {
        Amount::from_fen(v).unwrap()
    }

    fn word(name: &str) -> RefundWord {
        match name {
            "SUCCESS" => RefundWord::Success,
            "FAIL" => RefundWord::Fail("E1".into()),
            "PROCESSING" => RefundWord::Processing,
            "UNKNOWN" => RefundWord::Unknown,
            "NOT_FOUND" => RefundWord::NotFound,
            "EXHAUSTED" => RefundWord::Exhausted,
            other => panic!("bad test row {other}"),
        }
    }

    /// `-` ignore, `=` confirm, `!` review, `~` wait, `>` resend, otherwise the status moved to.
    fn code(d: &RefundDecision) -> &'static str {
        match d {
            RefundDecision::Settle(to, _) => to.as_str(),
            RefundDecision::Wait => "~",
            RefundDecision::Resend => ">",
            RefundDecision::Confirm => "=",
            RefundDecision::Ignore => "-",
            RefundDecision::Review(_) => "!",
        }
    }

    /// status, word, then answer / query / notify.
    #[rustfmt::skip]
    const TABLE: &[(&str, &str, [&str; 3])] = &[
        ("PENDING", "SUCCESS",    ["SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]),
        ("PENDING", "FAIL",       ["FAILED", "FAILED", "-"]),
        ("PENDING", "PROCESSING", ["~", "~", "-"]),
        ("PENDING", "UNKNOWN",    ["~", "~", "-"]),
        ("PENDING", "NOT_FOUND",  ["-", ">", "-"]),
        ("PENDING", "EXHAUSTED",  ["-", "!", "-"]),

        ("SUCCEEDED", "SUCCESS",    ["=", "=", "="]),
        ("SUCCEEDED", "FAIL",       ["!", "!", "-"]),
        ("SUCCEEDED", "PROCESSING", ["-", "-", "-"]),
        ("SUCCEEDED", "UNKNOWN",    ["-", "-", "-"]),
        ("SUCCEEDED", "NOT_FOUND",  ["-", "!", "-"]),
        ("SUCCEEDED", "EXHAUSTED",  ["-", "-", "-"]),

        ("FAILED", "SUCCESS",    ["!", "!", "!"]),
        ("FAILED", "FAIL",       ["=", "=", "-"]),
        ("FAILED", "PROCESSING", ["-", "-", "-"]),
        ("FAILED", "UNKNOWN",    ["-", "-", "-"]),
        ("FAILED", "NOT_FOUND",  ["-", "-", "-"]),
        ("FAILED", "EXHAUSTED",  ["-", "-", "-"]),
    ];

    #[test]
    fn the_refund_table_covers_every_status_and_every_word() {
        let rows: HashSet<_> = TABLE.iter().map(|(s, w, _)| (*s, *w)).collect();
        assert_eq!(rows.len(), TABLE.len(), "a row is listed twice");
        assert_eq!(TABLE.len(), RefundStatus::ALL.len() * 6);
    }

    #[test]
    fn every_refund_status_word_and_source_decides_as_the_table_says() {
        let mut wrong = Vec::new();
        for (status, w, expected) in TABLE {
            let st = RefundStatus::parse(status).unwrap();
            for (source, want) in RefundSource::ALL.iter().zip(expected) {
                let got = code(&decide(st, &word(w), *source));
                if got != *want {
                    wrong.push(format!(
                        "{status} × {w} × {}: want {want}, got {got}",
                        source.as_str()
                    ));
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn a_final_refund_never_moves_again() {
        for (status, w, _) in TABLE {
            let st = RefundStatus::parse(status).unwrap();
            for source in RefundSource::ALL {
                if let RefundDecision::Settle(to, _) = decide(st, &word(w), source) {
                    assert_eq!(st, RefundStatus::Pending, "{status} → {to} on {w}");
                }
            }
        }
    }

    fn pending() -> GatewayRefund {
        GatewayRefund {
            key: "1017R0001".into(),
            order: MerOrderId::parse_stored("1017B0001").unwrap(),
            origin: Origin::Gateway,
            amount: fen(30),
            status: RefundStatus::Pending,
            reason: None,
            operator: None,
            err_code: None,
            created_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            settled_at: None,
            attempts: 0,
            next_check_at: None,
            version: 1,
        }
    }

    #[test]
    fn a_settled_refund_keeps_its_time_and_error_and_is_no_longer_scheduled() {
        let now = DateTime::from_timestamp(1_700_000_100, 0).unwrap();
        let mut refund = pending();
        refund.next_check_at = Some(now);

        let change = refund.observe(
            &RefundWord::Fail("REFUND_AMT_ERR".into()),
            RefundSource::Answer,
            now,
            &[Duration::from_secs(10)],
            0.5,
        );

        assert_eq!(change.after.status, RefundStatus::Failed);
        assert_eq!(change.after.err_code.as_deref(), Some("REFUND_AMT_ERR"));
        assert_eq!(change.after.settled_at, Some(now));
        assert_eq!(change.after.next_check_at, None);
        assert_eq!(change.after.version, 2);
        assert!(!change.succeeded());
    }

    #[test]
    fn a_query_that_leaves_it_pending_counts_and_schedules_the_next_one() {
        let now = DateTime::from_timestamp(1_700_000_100, 0).unwrap();
        let backoff = [Duration::from_secs(10), Duration::from_secs(100)];

        let once = pending().observe(
            &RefundWord::Processing,
            RefundSource::Query,
            now,
            &backoff,
            0.5,
        );
        let twice = once.after.observe(
            &RefundWord::Unknown,
            RefundSource::Query,
            now,
            &backoff,
            0.5,
        );

        assert_eq!(once.after.attempts, 1);
        assert_eq!(
            once.after.next_check_at,
            Some(now + chrono::Duration::seconds(10))
        );
        assert_eq!(twice.after.attempts, 2);
        assert_eq!(
            twice.after.next_check_at,
            Some(now + chrono::Duration::seconds(100))
        );
        assert!(!twice.after.exhausted(&backoff));
        let thrice = twice.after.observe(
            &RefundWord::Unknown,
            RefundSource::Query,
            now,
            &backoff,
            0.5,
        );
        assert!(thrice.after.exhausted(&backoff));
    }

    #[test]
    fn the_same_final_word_again_changes_nothing() {
        let now = DateTime::from_timestamp(1_700_000_100, 0).unwrap();
        let done = pending()
            .observe(&RefundWord::Success, RefundSource::Answer, now, &[], 0.5)
            .after;

        let again = done.observe(&RefundWord::Success, RefundSource::Notify, now, &[], 0.5);

        assert!(!again.changed(&done));
        assert!(!again.succeeded());
    }

    #[test]
    fn what_is_refundable_is_paid_less_refunded_and_pending() {
        assert_eq!(
            refundable(Some(fen(100)), fen(20), fen(10), fen(70)),
            Ok(())
        );
        assert_eq!(
            refundable(Some(fen(100)), fen(20), fen(10), fen(71)),
            Err(NotRefundable::AboveRemaining { remaining: fen(70) })
        );
        assert_eq!(
            refundable(None, Amount::ZERO, Amount::ZERO, fen(1)),
            Err(NotRefundable::NotPaid)
        );
    }

    #[test]
    fn refund_ids_take_the_source_id_and_generated_ones_parse() {
        let src = MsgSrcId::parse("1017").unwrap();
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();

        let id = RefundOrderId::generate(&src, now);

        assert_eq!(RefundOrderId::parse(id.as_str(), &src), Ok(id));
        assert!(RefundOrderId::parse("2000abcdef", &src).is_err());
    }
}
