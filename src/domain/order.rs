//! The order state machine (docs/architecture.md §4): one pure function, [`decide`], from (the order as
//! it stands, the provider's evidence, where the evidence came from) to a [`Decision`].
//! Every status change in the gateway goes through it. It must not read a clock, the store
//! or the network: callers pass in everything it looks at.

use std::fmt;

use crate::chinaums::status::{BillStatus, TradeStatus};
use crate::domain::money::Amount;

/// A local order's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrderStatus {
    /// Created locally; bound or tracked; not paid yet.
    Pending,
    /// A pre-authorised payment succeeded; completion pending.
    Authorized,
    /// Money taken.
    Paid,
    /// A refund happened; the order's refunded amount says how much.
    Refunded,
    /// Will never be paid.
    Closed,
}

impl OrderStatus {
    /// Every status.
    pub const ALL: [OrderStatus; 5] = [
        OrderStatus::Pending,
        OrderStatus::Authorized,
        OrderStatus::Paid,
        OrderStatus::Refunded,
        OrderStatus::Closed,
    ];

    /// The stored and shown spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "PENDING",
            OrderStatus::Authorized => "AUTHORIZED",
            OrderStatus::Paid => "PAID",
            OrderStatus::Refunded => "REFUNDED",
            OrderStatus::Closed => "CLOSED",
        }
    }

    /// Reads the spelling back.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether the reconciler still has to find this order's final state.
    pub fn awaits_provider(self) -> bool {
        matches!(self, OrderStatus::Pending | OrderStatus::Authorized)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a piece of evidence, or a change, came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// The backend, through the orders API (creation only: never provider evidence).
    Api,
    /// A verified payment notification.
    Notify,
    /// The reconciler's `mini-pre-query`.
    Query,
    /// An operator's resync through the admin API (`/admin/.../resync`).
    Admin,
    /// A pre-authorisation completion (`preauthed`).
    Preauth,
    /// An operator's review action: an acknowledgement, or a resync with a note.
    Operator,
    /// A refund the gateway made (`POST /orders/{id}/refunds`) became final: its answer,
    /// its query or its notification (`domain::refund_state`).
    Refund,
}

impl Source {
    /// Every source.
    pub const ALL: [Source; 7] = [
        Source::Api,
        Source::Notify,
        Source::Query,
        Source::Admin,
        Source::Preauth,
        Source::Operator,
        Source::Refund,
    ];

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Notify => "notify",
            Source::Query => "query",
            Source::Admin => "admin",
            Source::Preauth => "preauth",
            Source::Operator => "operator",
            Source::Refund => "refund",
        }
    }

    /// Reads the spelling back.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Sources that asked the provider for the whole truth about the order just now.
    pub fn is_query(self) -> bool {
        matches!(self, Source::Query | Source::Admin | Source::Operator)
    }
}

/// What the provider reported about an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    /// An order `status` (query, mini-program notification, `billPayment.status`).
    Trade(TradeStatus),
    /// A bill's `billStatus` (bill notification).
    Bill(BillStatus),
    /// The provider has no such order (`NO_ORDER`/`NO_BILL` to a query).
    NoOrder,
    /// A pre-authorisation completion succeeded (`preauthed` answered `TRADE_SUCCESS`, or
    /// the completion's own order was found paid).
    Completed,
}

/// The provider's evidence about one order, as the state machine needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    /// What the provider said.
    pub report: Report,
    /// The amount the provider says was paid, authorised or completed (`totalAmount`).
    pub amount: Option<Amount>,
    /// The total refunded so far, where the provider says (`refundAmount`, read as a
    /// running total).
    pub refunded: Option<Amount>,
    /// Whether the evidence carries an authorisation code (`authIdRespCd`).
    pub auth_code: bool,
    /// Whether the evidence carries a payment's facts (`payTime`, `targetOrderId`): a
    /// "closed" report with them is about a paid order (fully refunded), not an unpaid one.
    pub paid_facts: bool,
    /// Whether the order's expiry, plus the configured grace, has passed (the caller's
    /// clock, so that this function stays pure).
    pub past_expiry: bool,
}

impl Evidence {
    /// Evidence with nothing but a report.
    pub fn of(report: Report) -> Self {
        Self {
            report,
            amount: None,
            refunded: None,
            auth_code: false,
            paid_facts: false,
            past_expiry: false,
        }
    }
}

/// The order as the state machine sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderState {
    /// Current status.
    pub status: OrderStatus,
    /// The order's amount.
    pub amount: Amount,
    /// Refunded so far.
    pub refunded: Amount,
    /// Created for pre-authorisation.
    pub preauth: bool,
    /// A bill the provider accepted (bound with update-qrcode): it is closed only on the
    /// bill's own word (its `billStatus`), never on an order query's `NO_ORDER` or status
    /// about the bill number, which is not its payment's id.
    pub bound_bill: bool,
}

/// Why a move happened, when it is not simply "the provider said so".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoveReason {
    /// The provider reported it.
    Provider,
    /// Past its expiry and the provider reports it unpaid or unknown.
    Expired,
}

impl MoveReason {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MoveReason::Provider => "provider",
            MoveReason::Expired => "expired",
        }
    }
}

/// Why evidence changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IgnoreReason {
    /// The source cannot carry this kind of evidence.
    NotEvidence,
    /// The provider does not know yet (`UNKNOWN`).
    Indeterminate,
    /// Unpaid, and not past expiry: keep waiting.
    NotYet,
    /// Older or weaker than what the order already records (never regress).
    Stale,
}

impl IgnoreReason {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            IgnoreReason::NotEvidence => "not_evidence",
            IgnoreReason::Indeterminate => "indeterminate",
            IgnoreReason::NotYet => "not_yet",
            IgnoreReason::Stale => "stale",
        }
    }
}

/// Why evidence needs a person: it conflicts with what the order records, and moving
/// money state on it could mark paid an order that was not, or lose a payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReviewReason {
    /// Paid/authorised/refund evidence whose total differs from the order's amount.
    AmountMismatch {
        /// The order's amount.
        expected: Amount,
        /// What the provider reported.
        reported: Amount,
    },
    /// Paid evidence without an amount: cannot check it.
    AmountMissing,
    /// A completion larger than the authorised amount.
    CompletionExceedsAuthorised {
        /// Authorised.
        authorised: Amount,
        /// Completed.
        completed: Amount,
    },
    /// A completion for an order that is not authorised.
    CompletionUnexpected(OrderStatus),
    /// An authorisation code on an order not created for pre-authorisation.
    AuthCodeOnPlainOrder,
    /// A refund total above the order's amount, or of zero.
    RefundInvalid {
        /// The order's amount.
        amount: Amount,
        /// The reported refund total.
        refunded: Amount,
    },
    /// A refund reported without its amount (a query carries none).
    RefundAmountUnknown,
    /// A refund for an order that was never paid, or is closed or only authorised.
    RefundUnexpected(OrderStatus),
    /// Payment evidence for a closed order.
    PaidAfterClose,
    /// Closed evidence that carries a payment's facts, for an order never seen paid: most
    /// likely a full refund whose notifications were all lost.
    ClosedWithPayment(OrderStatus),
    /// Closed (not fully refunded) evidence for a paid order.
    ClosedAfterPaid(OrderStatus),
    /// The provider has no record of an order we hold as authorised, paid or refunded.
    UnknownToProvider(OrderStatus),
    /// A status value this version does not know.
    UnrecognisedStatus(String),
}

impl fmt::Display for ReviewReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReviewReason::AmountMismatch { expected, reported } => write!(
                f,
                "amount mismatch: order is {expected} fen, provider reports {reported} fen"
            ),
            ReviewReason::AmountMissing => {
                f.write_str("provider reported payment without an amount")
            }
            ReviewReason::CompletionExceedsAuthorised {
                authorised,
                completed,
            } => write!(
                f,
                "completion of {completed} fen exceeds the authorised {authorised} fen"
            ),
            ReviewReason::CompletionUnexpected(s) => {
                write!(f, "pre-authorisation completion reported for a {s} order")
            }
            ReviewReason::AuthCodeOnPlainOrder => {
                f.write_str("authorisation code on an order not created for pre-authorisation")
            }
            ReviewReason::RefundInvalid { amount, refunded } => write!(
                f,
                "refund total of {refunded} fen is invalid for an order of {amount} fen"
            ),
            ReviewReason::RefundUnexpected(s) => write!(f, "refund reported for a {s} order"),
            ReviewReason::RefundAmountUnknown => f.write_str(
                "refund reported without its amount (its notification did not arrive); check the refunded total",
            ),
            ReviewReason::PaidAfterClose => f.write_str("payment reported for a CLOSED order"),
            ReviewReason::ClosedAfterPaid(s) => {
                write!(f, "provider reports closed for a {s} order")
            }
            ReviewReason::ClosedWithPayment(s) => write!(
                f,
                "provider reports this {s} order closed after a payment (fully refunded?)"
            ),
            ReviewReason::UnknownToProvider(s) => {
                write!(f, "provider has no record of this {s} order")
            }
            ReviewReason::UnrecognisedStatus(s) => write!(f, "unrecognised provider status {s:?}"),
        }
    }
}

/// What to do with a piece of evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Change the order: to `to` (which may equal the current status when a refund total
    /// grows), with the new refund total where the evidence sets one.
    Move {
        /// New status.
        to: OrderStatus,
        /// New refunded total, if the evidence sets it.
        refunded: Option<Amount>,
        /// Why.
        reason: MoveReason,
        /// Something the move leaves unknown that a person must check (the order is
        /// flagged as well as moved).
        review: Option<ReviewReason>,
    },
    /// Consistent with what the order records: keep the provider's facts, change no status.
    Confirm,
    /// Changes nothing (recorded as evidence only).
    Ignore(IgnoreReason),
    /// Conflicts: flag the order for review, change no status.
    Review(ReviewReason),
}

/// The evidence reduced to what it claims.
enum Claim {
    Unpaid,
    Paid,
    Refunded,
    Closed,
    Unknown,
    Unrecognised(String),
    NoOrder,
    Completed,
}

fn claim(report: &Report) -> Claim {
    match report {
        Report::Trade(TradeStatus::NewOrder | TradeStatus::WaitBuyerPay)
        | Report::Bill(BillStatus::Unpaid) => Claim::Unpaid,
        Report::Trade(TradeStatus::TradeSuccess) | Report::Bill(BillStatus::Paid) => Claim::Paid,
        Report::Trade(TradeStatus::TradeRefund) | Report::Bill(BillStatus::Refund) => {
            Claim::Refunded
        }
        Report::Trade(TradeStatus::TradeClosed) | Report::Bill(BillStatus::Closed) => Claim::Closed,
        Report::Trade(TradeStatus::Unknown) | Report::Bill(BillStatus::Unknown) => Claim::Unknown,
        Report::Trade(TradeStatus::Unrecognised(s)) | Report::Bill(BillStatus::Unrecognised(s)) => {
            Claim::Unrecognised(s.clone())
        }
        Report::NoOrder => Claim::NoOrder,
        Report::Completed => Claim::Completed,
    }
}

fn move_to(to: OrderStatus) -> Decision {
    Decision::Move {
        to,
        refunded: None,
        reason: MoveReason::Provider,
        review: None,
    }
}

/// Checks a reported total against the order's amount.
fn amount_check(order: &OrderState, ev: &Evidence) -> Result<(), ReviewReason> {
    match ev.amount {
        None => Err(ReviewReason::AmountMissing),
        Some(reported) if reported != order.amount => Err(ReviewReason::AmountMismatch {
            expected: order.amount,
            reported,
        }),
        Some(_) => Ok(()),
    }
}

/// Decides what `evidence` from `source` does to `order`. The whole table of docs/architecture.md §4:
///
/// - money state only moves forward (PENDING → AUTHORIZED → PAID → REFUNDED, PENDING or
///   AUTHORIZED → CLOSED); older evidence is ignored;
/// - evidence that conflicts (amount mismatch, payment after close, close after payment,
///   an unknown status) flags the order for review and moves nothing;
/// - an unpaid order is closed for expiry only on a fresh query past its expiry;
/// - the API never carries provider evidence.
pub fn decide(order: &OrderState, evidence: &Evidence, source: Source) -> Decision {
    use OrderStatus::*;

    if source == Source::Api {
        return Decision::Ignore(IgnoreReason::NotEvidence);
    }
    let review = Decision::Review;
    // Whether the evidence is the bill's own word (`billStatus`), for a bound bill.
    let bills_word = matches!(evidence.report, Report::Bill(_));
    match (order.status, claim(&evidence.report)) {
        (_, Claim::Unknown) => Decision::Ignore(IgnoreReason::Indeterminate),
        (_, Claim::Unrecognised(s)) => review(ReviewReason::UnrecognisedStatus(s)),

        // Only a query can say the provider has no such order.
        (_, Claim::NoOrder) if !source.is_query() => Decision::Ignore(IgnoreReason::NotEvidence),
        // A bill the provider accepted is never closed on NO_ORDER alone, nor on an order
        // status about its number: it waits for the bill's own word (or, past its back-off,
        // a person).
        (Pending, Claim::NoOrder) if order.bound_bill => Decision::Ignore(IgnoreReason::NotYet),
        (Pending | Authorized, Claim::Unpaid | Claim::Closed)
            if order.bound_bill && !bills_word && !evidence.paid_facts =>
        {
            Decision::Ignore(IgnoreReason::NotYet)
        }
        (Pending, Claim::Unpaid | Claim::NoOrder) => {
            if evidence.past_expiry && source.is_query() {
                Decision::Move {
                    to: Closed,
                    refunded: None,
                    reason: MoveReason::Expired,
                    review: None,
                }
            } else {
                Decision::Ignore(IgnoreReason::NotYet)
            }
        }
        (Authorized | Paid | Refunded, Claim::Unpaid) => Decision::Ignore(IgnoreReason::Stale),
        (s @ (Authorized | Paid | Refunded), Claim::NoOrder) => {
            review(ReviewReason::UnknownToProvider(s))
        }
        (Closed, Claim::Unpaid | Claim::NoOrder) => Decision::Confirm,

        (Pending, Claim::Paid) => match amount_check(order, evidence) {
            Err(r) => review(r),
            // A pre-authorised order's payment only holds the money; it is taken by the
            // completion. Without an authorisation code it is still only authorised:
            // marking it paid could mark paid money that was never taken.
            Ok(()) if order.preauth => move_to(Authorized),
            Ok(()) if evidence.auth_code => review(ReviewReason::AuthCodeOnPlainOrder),
            Ok(()) => move_to(Paid),
        },
        (Authorized, Claim::Paid) => match amount_check(order, evidence) {
            Err(r) => review(r),
            Ok(()) => Decision::Confirm,
        },
        // A completed pre-authorisation may be for less than the order's amount.
        (Paid, Claim::Paid) if order.preauth => Decision::Confirm,
        (Paid, Claim::Paid) => match amount_check(order, evidence) {
            Err(r) => review(r),
            Ok(()) => Decision::Confirm,
        },
        (Refunded, Claim::Paid) => Decision::Ignore(IgnoreReason::Stale),
        (Closed, Claim::Paid) => review(ReviewReason::PaidAfterClose),

        (_, Claim::Completed) if !(source == Source::Preauth || source.is_query()) => {
            Decision::Ignore(IgnoreReason::NotEvidence)
        }
        (Authorized, Claim::Completed) => match evidence.amount {
            None => review(ReviewReason::AmountMissing),
            Some(completed) if completed > order.amount => {
                review(ReviewReason::CompletionExceedsAuthorised {
                    authorised: order.amount,
                    completed,
                })
            }
            Some(_) => move_to(Paid),
        },
        (Paid, Claim::Completed) => Decision::Confirm,
        (s @ (Pending | Refunded | Closed), Claim::Completed) => {
            review(ReviewReason::CompletionUnexpected(s))
        }

        (s @ (Pending | Paid | Refunded), Claim::Refunded) => {
            if let (false, Some(reported)) = (order.preauth, evidence.amount) {
                if reported != order.amount {
                    return review(ReviewReason::AmountMismatch {
                        expected: order.amount,
                        reported,
                    });
                }
            }
            match evidence.refunded {
                // The query does not say how much: the status moves, and a person is asked
                // to check the total (its notification, if it ever arrives, sets it).
                None if s == Refunded => Decision::Confirm,
                None => Decision::Move {
                    to: Refunded,
                    refunded: None,
                    reason: MoveReason::Provider,
                    review: Some(ReviewReason::RefundAmountUnknown),
                },
                Some(r) if r.is_zero() || r > order.amount => review(ReviewReason::RefundInvalid {
                    amount: order.amount,
                    refunded: r,
                }),
                Some(r) if s == Refunded && r == order.refunded => Decision::Confirm,
                Some(r) if s == Refunded && r < order.refunded => {
                    Decision::Ignore(IgnoreReason::Stale)
                }
                Some(r) => Decision::Move {
                    to: Refunded,
                    refunded: Some(r),
                    reason: MoveReason::Provider,
                    review: None,
                },
            }
        }
        (s @ (Authorized | Closed), Claim::Refunded) => review(ReviewReason::RefundUnexpected(s)),

        (s @ (Pending | Authorized), Claim::Closed) if evidence.paid_facts => {
            review(ReviewReason::ClosedWithPayment(s))
        }
        (Pending | Authorized, Claim::Closed) => move_to(Closed),
        (Closed, Claim::Closed) => Decision::Confirm,
        // The provider reports a fully refunded order as closed.
        (Refunded, Claim::Closed) if order.refunded == order.amount => Decision::Confirm,
        (s @ (Paid | Refunded), Claim::Closed) => review(ReviewReason::ClosedAfterPaid(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn fen(v: i64) -> Amount {
        Amount::from_fen(v).unwrap()
    }

    fn report(name: &str) -> Report {
        match name {
            "NO_ORDER" => Report::NoOrder,
            "COMPLETED" => Report::Completed,
            "X_TRADE" => Report::Trade(TradeStatus::parse("TRADE_FROZEN")),
            "X_BILL" => Report::Bill(BillStatus::parse("PARTLY_PAID")),
            "UNKNOWN_T" => Report::Trade(TradeStatus::Unknown),
            "UNKNOWN_B" => Report::Bill(BillStatus::Unknown),
            t if TradeStatus::KNOWN.iter().any(|k| k.as_str() == t) => {
                Report::Trade(TradeStatus::parse(t))
            }
            b => {
                let b = BillStatus::parse(b);
                assert!(
                    !matches!(b, BillStatus::Unrecognised(_)),
                    "bad test row {name}"
                );
                Report::Bill(b)
            }
        }
    }

    /// The order of every table row: 100 fen, 40 refunded when REFUNDED, not pre-auth.
    fn order(status: OrderStatus) -> OrderState {
        OrderState {
            status,
            amount: fen(100),
            refunded: if status == OrderStatus::Refunded {
                fen(40)
            } else {
                Amount::ZERO
            },
            preauth: false,
            bound_bill: false,
        }
    }

    /// The evidence of every table row: the full amount, a refund total of 60 where the
    /// report is a refund.
    fn evidence(r: Report) -> Evidence {
        let refund = matches!(
            r,
            Report::Trade(TradeStatus::TradeRefund) | Report::Bill(BillStatus::Refund)
        );
        Evidence {
            report: r,
            amount: Some(fen(100)),
            refunded: refund.then(|| fen(60)),
            auth_code: false,
            paid_facts: false,
            past_expiry: false,
        }
    }

    /// `-` ignore, `=` confirm, `!` review, otherwise the status moved to.
    fn code(d: &Decision) -> String {
        match d {
            Decision::Move { to, .. } => to.as_str().to_owned(),
            Decision::Confirm => "=".into(),
            Decision::Ignore(_) => "-".into(),
            Decision::Review(_) => "!".into(),
        }
    }

    const SOURCES: [Source; 5] = [
        Source::Api,
        Source::Notify,
        Source::Query,
        Source::Admin,
        Source::Preauth,
    ];

    /// status, report, then api / notify / query / admin / preauth.
    #[rustfmt::skip]
    const TABLE: &[(&str, &str, [&str; 5])] = &[
        ("PENDING", "NEW_ORDER",      ["-", "-", "-", "-", "-"]),
        ("PENDING", "WAIT_BUYER_PAY", ["-", "-", "-", "-", "-"]),
        ("PENDING", "TRADE_SUCCESS",  ["-", "PAID", "PAID", "PAID", "PAID"]),
        ("PENDING", "TRADE_CLOSED",   ["-", "CLOSED", "CLOSED", "CLOSED", "CLOSED"]),
        ("PENDING", "TRADE_REFUND",   ["-", "REFUNDED", "REFUNDED", "REFUNDED", "REFUNDED"]),
        ("PENDING", "UNKNOWN_T",      ["-", "-", "-", "-", "-"]),
        ("PENDING", "X_TRADE",        ["-", "!", "!", "!", "!"]),
        ("PENDING", "PAID",           ["-", "PAID", "PAID", "PAID", "PAID"]),
        ("PENDING", "UNPAID",         ["-", "-", "-", "-", "-"]),
        ("PENDING", "REFUND",         ["-", "REFUNDED", "REFUNDED", "REFUNDED", "REFUNDED"]),
        ("PENDING", "CLOSED",         ["-", "CLOSED", "CLOSED", "CLOSED", "CLOSED"]),
        ("PENDING", "UNKNOWN_B",      ["-", "-", "-", "-", "-"]),
        ("PENDING", "X_BILL",         ["-", "!", "!", "!", "!"]),
        ("PENDING", "NO_ORDER",       ["-", "-", "-", "-", "-"]),
        ("PENDING", "COMPLETED",      ["-", "-", "!", "!", "!"]),

        ("AUTHORIZED", "NEW_ORDER",      ["-", "-", "-", "-", "-"]),
        ("AUTHORIZED", "WAIT_BUYER_PAY", ["-", "-", "-", "-", "-"]),
        ("AUTHORIZED", "TRADE_SUCCESS",  ["-", "=", "=", "=", "="]),
        ("AUTHORIZED", "TRADE_CLOSED",   ["-", "CLOSED", "CLOSED", "CLOSED", "CLOSED"]),
        ("AUTHORIZED", "TRADE_REFUND",   ["-", "!", "!", "!", "!"]),
        ("AUTHORIZED", "UNKNOWN_T",      ["-", "-", "-", "-", "-"]),
        ("AUTHORIZED", "X_TRADE",        ["-", "!", "!", "!", "!"]),
        ("AUTHORIZED", "PAID",           ["-", "=", "=", "=", "="]),
        ("AUTHORIZED", "UNPAID",         ["-", "-", "-", "-", "-"]),
        ("AUTHORIZED", "REFUND",         ["-", "!", "!", "!", "!"]),
        ("AUTHORIZED", "CLOSED",         ["-", "CLOSED", "CLOSED", "CLOSED", "CLOSED"]),
        ("AUTHORIZED", "UNKNOWN_B",      ["-", "-", "-", "-", "-"]),
        ("AUTHORIZED", "X_BILL",         ["-", "!", "!", "!", "!"]),
        ("AUTHORIZED", "NO_ORDER",       ["-", "-", "!", "!", "-"]),
        ("AUTHORIZED", "COMPLETED",      ["-", "-", "PAID", "PAID", "PAID"]),

        ("PAID", "NEW_ORDER",      ["-", "-", "-", "-", "-"]),
        ("PAID", "WAIT_BUYER_PAY", ["-", "-", "-", "-", "-"]),
        ("PAID", "TRADE_SUCCESS",  ["-", "=", "=", "=", "="]),
        ("PAID", "TRADE_CLOSED",   ["-", "!", "!", "!", "!"]),
        ("PAID", "TRADE_REFUND",   ["-", "REFUNDED", "REFUNDED", "REFUNDED", "REFUNDED"]),
        ("PAID", "UNKNOWN_T",      ["-", "-", "-", "-", "-"]),
        ("PAID", "X_TRADE",        ["-", "!", "!", "!", "!"]),
        ("PAID", "PAID",           ["-", "=", "=", "=", "="]),
        ("PAID", "UNPAID",         ["-", "-", "-", "-", "-"]),
        ("PAID", "REFUND",         ["-", "REFUNDED", "REFUNDED", "REFUNDED", "REFUNDED"]),
        ("PAID", "CLOSED",         ["-", "!", "!", "!", "!"]),
        ("PAID", "UNKNOWN_B",      ["-", "-", "-", "-", "-"]),
        ("PAID", "X_BILL",         ["-", "!", "!", "!", "!"]),
        ("PAID", "NO_ORDER",       ["-", "-", "!", "!", "-"]),
        ("PAID", "COMPLETED",      ["-", "-", "=", "=", "="]),

        ("REFUNDED", "NEW_ORDER",      ["-", "-", "-", "-", "-"]),
        ("REFUNDED", "WAIT_BUYER_PAY", ["-", "-", "-", "-", "-"]),
        ("REFUNDED", "TRADE_SUCCESS",  ["-", "-", "-", "-", "-"]),
        ("REFUNDED", "TRADE_CLOSED",   ["-", "!", "!", "!", "!"]),
        ("REFUNDED", "TRADE_REFUND",   ["-", "REFUNDED", "REFUNDED", "REFUNDED", "REFUNDED"]),
        ("REFUNDED", "UNKNOWN_T",      ["-", "-", "-", "-", "-"]),
        ("REFUNDED", "X_TRADE",        ["-", "!", "!", "!", "!"]),
        ("REFUNDED", "PAID",           ["-", "-", "-", "-", "-"]),
        ("REFUNDED", "UNPAID",         ["-", "-", "-", "-", "-"]),
        ("REFUNDED", "REFUND",         ["-", "REFUNDED", "REFUNDED", "REFUNDED", "REFUNDED"]),
        ("REFUNDED", "CLOSED",         ["-", "!", "!", "!", "!"]),
        ("REFUNDED", "UNKNOWN_B",      ["-", "-", "-", "-", "-"]),
        ("REFUNDED", "X_BILL",         ["-", "!", "!", "!", "!"]),
        ("REFUNDED", "NO_ORDER",       ["-", "-", "!", "!", "-"]),
        ("REFUNDED", "COMPLETED",      ["-", "-", "!", "!", "!"]),

        ("CLOSED", "NEW_ORDER",      ["-", "=", "=", "=", "="]),
        ("CLOSED", "WAIT_BUYER_PAY", ["-", "=", "=", "=", "="]),
        ("CLOSED", "TRADE_SUCCESS",  ["-", "!", "!", "!", "!"]),
        ("CLOSED", "TRADE_CLOSED",   ["-", "=", "=", "=", "="]),
        ("CLOSED", "TRADE_REFUND",   ["-", "!", "!", "!", "!"]),
        ("CLOSED", "UNKNOWN_T",      ["-", "-", "-", "-", "-"]),
        ("CLOSED", "X_TRADE",        ["-", "!", "!", "!", "!"]),
        ("CLOSED", "PAID",           ["-", "!", "!", "!", "!"]),
        ("CLOSED", "UNPAID",         ["-", "=", "=", "=", "="]),
        ("CLOSED", "REFUND",         ["-", "!", "!", "!", "!"]),
        ("CLOSED", "CLOSED",         ["-", "=", "=", "=", "="]),
        ("CLOSED", "UNKNOWN_B",      ["-", "-", "-", "-", "-"]),
        ("CLOSED", "X_BILL",         ["-", "!", "!", "!", "!"]),
        ("CLOSED", "NO_ORDER",       ["-", "-", "=", "=", "-"]),
        ("CLOSED", "COMPLETED",      ["-", "-", "!", "!", "!"]),
    ];

    #[test]
    fn the_table_covers_every_status_and_every_provider_report() {
        let rows: HashSet<_> = TABLE.iter().map(|(s, r, _)| (*s, *r)).collect();
        assert_eq!(rows.len(), TABLE.len(), "a row is listed twice");
        let reports = 6 + 1 + 5 + 1 + 2; // trade, unrecognised trade, bill, unrecognised bill, NO_ORDER+COMPLETED
        assert_eq!(rows.len(), OrderStatus::ALL.len() * reports);
        for status in OrderStatus::ALL {
            for t in TradeStatus::KNOWN {
                let name = if *t == TradeStatus::Unknown {
                    "UNKNOWN_T"
                } else {
                    t.as_str()
                };
                assert!(rows.contains(&(status.as_str(), name)), "{status} × {name}");
            }
            for b in BillStatus::KNOWN {
                let name = if *b == BillStatus::Unknown {
                    "UNKNOWN_B"
                } else {
                    b.as_str()
                };
                assert!(rows.contains(&(status.as_str(), name)), "{status} × {name}");
            }
        }
    }

    #[test]
    fn every_status_report_and_source_decides_as_the_table_says() {
        let mut wrong = Vec::new();
        for (status, rep, expected) in TABLE {
            let st = OrderStatus::parse(status).unwrap();
            for (source, want) in SOURCES.iter().zip(expected) {
                let got = code(&decide(&order(st), &evidence(report(rep)), *source));
                if got != *want {
                    wrong.push(format!(
                        "{status} × {rep} × {}: want {want}, got {got}",
                        source.as_str()
                    ));
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn no_decision_ever_moves_an_order_backwards() {
        // The allowed edges of docs/architecture.md §4, plus PENDING → REFUNDED (a refund proves the
        // payment whose notification was lost).
        use OrderStatus::*;
        let allowed: HashSet<(OrderStatus, OrderStatus)> = [
            (Pending, Authorized),
            (Pending, Paid),
            (Pending, Refunded),
            (Pending, Closed),
            (Authorized, Paid),
            (Authorized, Closed),
            (Paid, Refunded),
            (Refunded, Refunded),
        ]
        .into();
        for (_, rep, _) in TABLE {
            for status in OrderStatus::ALL {
                for source in Source::ALL {
                    for past_expiry in [false, true] {
                        for preauth in [false, true] {
                            let mut o = order(status);
                            o.preauth = preauth;
                            let mut e = evidence(report(rep));
                            e.past_expiry = past_expiry;
                            if let Decision::Move { to, .. } = decide(&o, &e, source) {
                                assert!(
                                    allowed.contains(&(status, to)),
                                    "{status} → {to} on {rep}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn an_unpaid_order_past_expiry_is_closed_only_by_a_fresh_query() {
        for rep in ["NEW_ORDER", "WAIT_BUYER_PAY", "UNPAID", "NO_ORDER"] {
            let mut e = evidence(report(rep));
            e.past_expiry = true;
            for source in Source::ALL {
                let d = decide(&order(OrderStatus::Pending), &e, source);
                if source.is_query() {
                    assert_eq!(
                        d,
                        Decision::Move {
                            to: OrderStatus::Closed,
                            refunded: None,
                            reason: MoveReason::Expired,
                            review: None,
                        },
                        "{rep} from {}",
                        source.as_str()
                    );
                } else {
                    assert!(
                        matches!(d, Decision::Ignore(_)),
                        "{rep} from {}: {d:?}",
                        source.as_str()
                    );
                }
            }
        }
    }

    #[test]
    fn a_payment_of_another_amount_is_flagged_not_applied() {
        let mut e = evidence(report("PAID"));
        e.amount = Some(fen(1));
        assert_eq!(
            decide(&order(OrderStatus::Pending), &e, Source::Notify),
            Decision::Review(ReviewReason::AmountMismatch {
                expected: fen(100),
                reported: fen(1)
            })
        );
        e.amount = None;
        assert_eq!(
            decide(&order(OrderStatus::Pending), &e, Source::Query),
            Decision::Review(ReviewReason::AmountMissing)
        );
        let mut r = evidence(report("REFUND"));
        r.amount = Some(fen(99));
        assert!(matches!(
            decide(&order(OrderStatus::Paid), &r, Source::Notify),
            Decision::Review(ReviewReason::AmountMismatch { .. })
        ));
    }

    #[test]
    fn a_preauthorised_order_is_authorised_by_payment_and_paid_only_by_completion() {
        let mut o = order(OrderStatus::Pending);
        o.preauth = true;
        for auth_code in [true, false] {
            let mut e = evidence(report("PAID"));
            e.auth_code = auth_code;
            assert_eq!(
                decide(&o, &e, Source::Notify),
                move_to(OrderStatus::Authorized)
            );
        }
        assert_eq!(
            decide(&o, &evidence(report("TRADE_SUCCESS")), Source::Query),
            move_to(OrderStatus::Authorized)
        );
        let mut a = o;
        a.status = OrderStatus::Authorized;
        let mut done = Evidence::of(Report::Completed);
        done.amount = Some(fen(60));
        assert_eq!(
            decide(&a, &done, Source::Preauth),
            move_to(OrderStatus::Paid)
        );
        assert_eq!(
            decide(&a, &done, Source::Notify),
            Decision::Ignore(IgnoreReason::NotEvidence)
        );
        done.amount = Some(fen(101));
        assert!(matches!(
            decide(&a, &done, Source::Preauth),
            Decision::Review(ReviewReason::CompletionExceedsAuthorised { .. })
        ));
        done.amount = None;
        assert_eq!(
            decide(&a, &done, Source::Preauth),
            Decision::Review(ReviewReason::AmountMissing)
        );
        // Completed for less than authorised: a later paid report of the smaller amount agrees.
        let mut p = a;
        p.status = OrderStatus::Paid;
        let mut paid = evidence(report("TRADE_SUCCESS"));
        paid.amount = Some(fen(60));
        assert_eq!(decide(&p, &paid, Source::Query), Decision::Confirm);
    }

    #[test]
    fn an_authorisation_code_on_a_plain_order_is_flagged() {
        let mut e = evidence(report("PAID"));
        e.auth_code = true;
        assert_eq!(
            decide(&order(OrderStatus::Pending), &e, Source::Notify),
            Decision::Review(ReviewReason::AuthCodeOnPlainOrder)
        );
    }

    #[test]
    fn refund_totals_only_grow_and_never_exceed_the_amount() {
        let refunded = order(OrderStatus::Refunded); // 40 of 100
        let with = |r: Option<i64>| {
            let mut e = evidence(report("REFUND"));
            e.refunded = r.map(fen);
            e
        };
        assert_eq!(
            decide(&refunded, &with(Some(100)), Source::Notify),
            Decision::Move {
                to: OrderStatus::Refunded,
                refunded: Some(fen(100)),
                reason: MoveReason::Provider,
                review: None,
            }
        );
        assert_eq!(
            decide(&refunded, &with(Some(40)), Source::Notify),
            Decision::Confirm
        );
        assert_eq!(
            decide(&refunded, &with(Some(30)), Source::Notify),
            Decision::Ignore(IgnoreReason::Stale)
        );
        assert_eq!(
            decide(&refunded, &with(None), Source::Query),
            Decision::Confirm
        );
        assert!(matches!(
            decide(&refunded, &with(Some(101)), Source::Notify),
            Decision::Review(ReviewReason::RefundInvalid { .. })
        ));
        assert!(matches!(
            decide(&order(OrderStatus::Paid), &with(Some(0)), Source::Notify),
            Decision::Review(ReviewReason::RefundInvalid { .. })
        ));
        assert_eq!(
            decide(&order(OrderStatus::Paid), &with(None), Source::Query),
            Decision::Move {
                to: OrderStatus::Refunded,
                refunded: None,
                reason: MoveReason::Provider,
                review: Some(ReviewReason::RefundAmountUnknown),
            },
            "moved, and flagged: the total is not known"
        );
    }

    #[test]
    fn a_closed_report_with_a_payments_facts_is_never_taken_for_an_unpaid_close() {
        let mut e = evidence(report("TRADE_CLOSED"));
        e.paid_facts = true;
        for status in [OrderStatus::Pending, OrderStatus::Authorized] {
            assert_eq!(
                decide(&order(status), &e, Source::Query),
                Decision::Review(ReviewReason::ClosedWithPayment(status))
            );
        }
        e.paid_facts = false;
        assert_eq!(
            decide(&order(OrderStatus::Pending), &e, Source::Query),
            move_to(OrderStatus::Closed)
        );
    }

    #[test]
    fn a_fully_refunded_order_reported_closed_is_consistent() {
        let mut full = order(OrderStatus::Refunded);
        full.refunded = fen(100);
        assert_eq!(
            decide(&full, &evidence(report("TRADE_CLOSED")), Source::Query),
            Decision::Confirm
        );
        assert_eq!(
            decide(
                &order(OrderStatus::Refunded),
                &evidence(report("TRADE_CLOSED")),
                Source::Query
            ),
            Decision::Review(ReviewReason::ClosedAfterPaid(OrderStatus::Refunded))
        );
    }

    #[test]
    fn review_reasons_read_as_sentences_without_personal_data() {
        let r = ReviewReason::AmountMismatch {
            expected: fen(100),
            reported: fen(1),
        };
        assert_eq!(
            r.to_string(),
            "amount mismatch: order is 100 fen, provider reports 1 fen"
        );
        assert_eq!(
            ReviewReason::UnrecognisedStatus("X".into()).to_string(),
            "unrecognised provider status \"X\""
        );
    }

    #[test]
    fn a_bound_bill_is_never_closed_on_no_order_or_an_order_status_only_on_its_own_word() {
        let bill = OrderState {
            bound_bill: true,
            ..order(OrderStatus::Pending)
        };
        let past = |r: Report| Evidence {
            past_expiry: true,
            ..Evidence::of(r)
        };

        for source in [Source::Query, Source::Admin, Source::Operator] {
            for report in [
                Report::NoOrder,
                Report::Trade(TradeStatus::NewOrder),
                Report::Trade(TradeStatus::TradeClosed),
            ] {
                let d = decide(&bill, &past(report.clone()), source);
                assert_eq!(d, Decision::Ignore(IgnoreReason::NotYet), "{report:?}");
            }
            for report in [
                Report::Bill(BillStatus::Unpaid),
                Report::Bill(BillStatus::Closed),
            ] {
                let d = decide(&bill, &past(report.clone()), source);
                assert!(
                    matches!(
                        d,
                        Decision::Move {
                            to: OrderStatus::Closed,
                            ..
                        }
                    ),
                    "{report:?}: {d:?}"
                );
            }
        }
        // The same evidence closes an order that is not a bound bill.
        let plain = order(OrderStatus::Pending);
        assert!(matches!(
            decide(&plain, &past(Report::NoOrder), Source::Query),
            Decision::Move {
                to: OrderStatus::Closed,
                ..
            }
        ));
    }

    #[test]
    fn all_holds_every_status_and_every_source_once() {
        // A new variant fails to compile here until it is listed: add it to `ALL` as well.
        for status in OrderStatus::ALL {
            match status {
                OrderStatus::Pending
                | OrderStatus::Authorized
                | OrderStatus::Paid
                | OrderStatus::Refunded
                | OrderStatus::Closed => {}
            }
        }
        for source in Source::ALL {
            match source {
                Source::Api
                | Source::Notify
                | Source::Query
                | Source::Admin
                | Source::Preauth
                | Source::Operator
                | Source::Refund => {}
            }
        }
        let statuses: std::collections::HashSet<_> = OrderStatus::ALL
            .map(OrderStatus::as_str)
            .into_iter()
            .collect();
        let sources: std::collections::HashSet<_> =
            Source::ALL.map(Source::as_str).into_iter().collect();

        assert_eq!(statuses.len(), OrderStatus::ALL.len());
        assert_eq!(sources.len(), Source::ALL.len());
    }
}
