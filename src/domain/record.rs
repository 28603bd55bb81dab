//! The order as the gateway keeps it: every field parsed, ready for the state machine and
//! the API. Owns the shape and the small rules on it (merging provider facts); it must
//! not decide transitions (that is `domain::order::decide`) nor know about storage.

use chrono::{DateTime, Utc};

use crate::chinaums::Merchant;
use crate::domain::ids::MerOrderId;
use crate::domain::money::Amount;
use crate::domain::order::{OrderState, OrderStatus, Source};

/// Whether, and how, an order is bound to a QR code at the provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// Tracked only: created at the provider by other means (e.g. a mini-program).
    None,
    /// The bind call's outcome is not known (in flight, timed out, or the process died):
    /// the reconciler's query settles it.
    Unknown,
    /// The provider accepted the bill.
    Bound,
    /// The provider refused the bill; see the order's binding error.
    Refused,
}

impl Binding {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Binding::None => "none",
            Binding::Unknown => "unknown",
            Binding::Bound => "bound",
            Binding::Refused => "refused",
        }
    }

    /// Reads the spelling back.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Binding::None,
            Binding::Unknown,
            Binding::Bound,
            Binding::Refused,
        ]
        .into_iter()
        .find(|b| b.as_str() == s)
    }
}

/// What the provider said about the payment, kept as reported (display only: no
/// decision reads these).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProviderFacts {
    /// Latest `status`/`billStatus` reported.
    pub provider_status: Option<String>,
    /// `seqId` / `paySeqId`.
    pub seq_id: Option<String>,
    /// The wallet's order number.
    pub target_order_id: Option<String>,
    /// The wallet (`WXPay`, `Alipay`, …).
    pub target_sys: Option<String>,
    /// `payTime`, as sent (`yyyy-MM-dd HH:mm:ss`, Beijing).
    pub pay_time: Option<String>,
    /// `settleDate`, as sent.
    pub settle_date: Option<String>,
    /// `authIdRespCd`: needed to complete a pre-authorisation.
    pub auth_id_resp_code: Option<String>,
}

impl ProviderFacts {
    /// Whether these are a payment's facts (when the buyer paid, the wallet's order): a
    /// report that carries them is about an order that was paid.
    pub fn show_a_payment(&self) -> bool {
        let given = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
        given(&self.pay_time) || given(&self.target_order_id)
    }

    /// Seconds from the provider's payment time (`payTime`, Beijing, whole seconds) to
    /// `now`, if it said when; never negative.
    pub fn seconds_since_payment(&self, now: DateTime<Utc>) -> Option<f64> {
        let paid = crate::chinaums::time::parse_body(self.pay_time.as_deref()?)?;
        // Whole-second pay times can sit up to a second in the future.
        Some((now - paid).to_std().unwrap_or_default().as_secs_f64())
    }

    /// Takes every fact `newer` reports, keeping ours where it is silent.
    pub fn merge(&mut self, newer: &ProviderFacts) {
        let take = |ours: &mut Option<String>, theirs: &Option<String>| {
            if let Some(v) = theirs.as_ref().filter(|v| !v.is_empty()) {
                *ours = Some(v.clone());
            }
        };
        take(&mut self.provider_status, &newer.provider_status);
        take(&mut self.seq_id, &newer.seq_id);
        take(&mut self.target_order_id, &newer.target_order_id);
        take(&mut self.target_sys, &newer.target_sys);
        take(&mut self.pay_time, &newer.pay_time);
        take(&mut self.settle_date, &newer.settle_date);
        take(&mut self.auth_id_resp_code, &newer.auth_id_resp_code);
    }
}

/// The reconciler's schedule for one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckSchedule {
    /// Queries made so far.
    pub attempts: u32,
    /// When the next query is due; `None` once the order no longer awaits the provider.
    pub next_check_at: Option<DateTime<Utc>>,
    /// When the provider was last asked.
    pub last_checked_at: Option<DateTime<Utc>>,
}

/// One order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    /// `merOrderId` (and `billNo` when bound).
    pub id: MerOrderId,
    /// Merchant number it was created under.
    pub mid: String,
    /// Terminal number.
    pub tid: String,
    /// Business type (`QRPAYDEFAULT` for bills, `MINIDEFAULT` for mini-program orders).
    pub inst_mid: String,
    /// QR code it is bound to.
    pub qr_code_id: Option<String>,
    /// The QR code's URL, from the provider.
    pub bill_qr_code: Option<String>,
    /// Binding state.
    pub binding: Binding,
    /// Why the provider refused the binding (`errCode: errMsg`).
    pub binding_error: Option<String>,
    /// The amount to pay.
    pub amount: Amount,
    /// What the provider says was paid, authorised or completed.
    pub paid_amount: Option<Amount>,
    /// Refunded so far.
    pub refunded: Amount,
    /// Free text from the backend.
    pub description: Option<String>,
    /// Local status.
    pub status: OrderStatus,
    /// Provider facts.
    pub facts: ProviderFacts,
    /// Our id for the pre-authorisation completion, once one was attempted.
    pub completion_order_id: Option<String>,
    /// Created for pre-authorisation.
    pub preauth: bool,
    /// When the bill expires.
    pub expire_at: DateTime<Utc>,
    /// The operator's attention it awaits, if any.
    pub review: Option<Review>,
    /// Reconciler schedule.
    pub schedule: CheckSchedule,
    /// Digest of the create request, for idempotent re-creates.
    pub request_digest: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version, +1 on every write.
    pub version: i64,
}

/// What a new order is made from (already validated).
#[derive(Clone, Debug)]
pub struct NewOrder {
    /// Its id.
    pub id: MerOrderId,
    /// Merchant number.
    pub mid: String,
    /// Terminal number.
    pub tid: String,
    /// Business type.
    pub inst_mid: String,
    /// QR code to bind to; `None` for a tracked order.
    pub qr_code_id: Option<String>,
    /// Amount.
    pub amount: Amount,
    /// Free text.
    pub description: Option<String>,
    /// For pre-authorisation.
    pub preauth: bool,
    /// Expiry.
    pub expire_at: DateTime<Utc>,
    /// Digest of the create request.
    pub request_digest: String,
}

impl Order {
    /// The merchant the order was created for (`mid`, `tid`, `instMid`): every call about
    /// it is asked as this merchant.
    pub fn merchant(&self) -> Merchant {
        Merchant {
            mid: self.mid.clone(),
            tid: self.tid.clone(),
            inst_mid: self.inst_mid.clone(),
        }
    }

    /// A new PENDING order, version 1, first checked at `first_check`. One with a QR code
    /// starts with its binding unknown: if the process dies before the provider answers,
    /// the reconciler's query settles it.
    pub fn create(n: NewOrder, now: DateTime<Utc>, first_check: DateTime<Utc>) -> Order {
        Order {
            binding: if n.qr_code_id.is_some() {
                Binding::Unknown
            } else {
                Binding::None
            },
            id: n.id,
            mid: n.mid,
            tid: n.tid,
            inst_mid: n.inst_mid,
            qr_code_id: n.qr_code_id,
            bill_qr_code: None,
            binding_error: None,
            amount: n.amount,
            paid_amount: None,
            refunded: Amount::ZERO,
            description: n.description,
            status: OrderStatus::Pending,
            facts: ProviderFacts::default(),
            completion_order_id: None,
            preauth: n.preauth,
            expire_at: n.expire_at,
            review: None,
            schedule: CheckSchedule {
                attempts: 0,
                next_check_at: Some(first_check),
                last_checked_at: None,
            },
            request_digest: n.request_digest,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// The bill number at the provider: a bill's number is its order id.
    pub fn bill_no(&self) -> Option<&str> {
        (self.binding != Binding::None).then(|| self.id.as_str())
    }

    /// The bill date sent to the provider: the Beijing date the order was created.
    pub fn bill_date(&self) -> Option<String> {
        (self.binding != Binding::None).then(|| crate::chinaums::time::format_date(self.created_at))
    }

    /// What the state machine looks at.
    pub fn state(&self) -> OrderState {
        OrderState {
            status: self.status,
            amount: self.amount,
            refunded: self.refunded,
            preauth: self.preauth,
            bound_bill: self.binding == Binding::Bound,
        }
    }

    /// Whether the order awaits an operator.
    pub fn needs_review(&self) -> bool {
        self.review.is_some()
    }

    /// Why the order awaits an operator, if it does.
    pub fn review_reason(&self) -> Option<&str> {
        self.review.as_ref().map(|r| r.reason.as_str())
    }

    /// Flags the order for an operator with `reason` at `now`; returns whether that changed
    /// anything (it was not flagged, or for another reason), i.e. whether it is news for
    /// the order's history. An order flagged again for another reason keeps the time it
    /// was first flagged: it has awaited an operator since then.
    pub fn flag(&mut self, reason: String, now: DateTime<Utc>) -> bool {
        match &mut self.review {
            Some(r) if r.reason == reason => false,
            Some(r) => {
                r.reason = reason;
                true
            }
            None => {
                self.review = Some(Review { reason, since: now });
                true
            }
        }
    }
}

/// Why, and since when, an order awaits an operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    /// Why, in words (never a buyer's personal field).
    pub reason: String,
    /// When it was first flagged.
    pub since: DateTime<Utc>,
}

/// One entry of an order's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderEvent {
    /// Sequence number.
    pub id: i64,
    /// The order.
    pub order: MerOrderId,
    /// Status before (`None` at creation).
    pub from: Option<OrderStatus>,
    /// Status after.
    pub to: OrderStatus,
    /// Who caused it.
    pub source: Source,
    /// What proved it: `notification:<id>`, `call:<id>`.
    pub evidence: Option<String>,
    /// Why (move reason, or the review reason).
    pub reason: Option<String>,
    /// The operator who caused it (an operator's resync or acknowledgement).
    pub operator: Option<String>,
    /// The operator's note.
    pub note: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

#[cfg(test)]
pub(crate) mod testing {
    //! The domain's test fixtures: one time and one bill, so that every test of the order's
    //! rules starts from the same order.
    use chrono::{DateTime, TimeZone, Utc};

    use super::{NewOrder, Order};
    use crate::domain::ids::{MerOrderId, MsgSrcId};
    use crate::domain::money::Amount;

    /// The tests' "now": 2026-11-21 04:00 UTC.
    pub fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 4, 0, 0).unwrap()
    }

    /// A pending 100-fen bill (QR code `QR1`, binding unknown) created at `t0`, expiring an
    /// hour later, first checked 30 s after creation.
    pub fn bill() -> Order {
        let src = MsgSrcId::parse("1017").unwrap();
        Order::create(
            NewOrder {
                id: MerOrderId::generate(&src, t0()),
                mid: "898340149000005".into(),
                tid: "88880001".into(),
                inst_mid: "QRPAYDEFAULT".into(),
                qr_code_id: Some("QR1".into()),
                amount: Amount::from_fen(100).unwrap(),
                description: None,
                preauth: false,
                expire_at: t0() + chrono::Duration::hours(1),
                request_digest: "d".into(),
            },
            t0(),
            t0() + chrono::Duration::seconds(30),
        )
    }
}
