//! A contract (免密支付签约) as the gateway keeps it: the latest state the provider reported
//! for one `contractNo`. Owns the rule that a notice only replaces an older one; it must
//! not know about storage or the wire.

use chrono::{DateTime, Utc};

use crate::chinaums::status::ContractState;

/// One contract's latest known state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contract {
    /// The merchant's contract number (8..40).
    pub contract_no: String,
    /// Merchant number.
    pub mid: String,
    /// The provider's contract id.
    pub contract_id: Option<String>,
    /// State.
    pub state: ContractState,
    /// When signed, as sent.
    pub signed_time: Option<String>,
    /// When it expires, as sent.
    pub expired_time: Option<String>,
    /// Per-payment limit, as sent.
    pub single_limit_amt: Option<String>,
    /// Uses left, as sent.
    pub avl_num: Option<String>,
    /// Template id.
    pub plan_id: Option<String>,
    /// The notice's `requestTimestamp`: what orders notices about one contract.
    pub request_ts: DateTime<Utc>,
    /// The journal row of the notice that set this state.
    pub notification_id: Option<i64>,
    /// When stored.
    pub updated_at: DateTime<Utc>,
}

/// How a notice relates to what is stored for its contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeOrder {
    /// Nothing stored yet, or the notice is newer: it replaces the stored state.
    Newer,
    /// Same `requestTimestamp`: the same notice again (the provider resends).
    Same,
    /// Older than the stored state: it must not overwrite it.
    Older,
}

/// Places a notice sent at `request_ts` against the stored contract.
pub fn order_notice(stored: Option<&Contract>, request_ts: DateTime<Utc>) -> NoticeOrder {
    match stored {
        None => NoticeOrder::Newer,
        Some(c) if request_ts > c.request_ts => NoticeOrder::Newer,
        Some(c) if request_ts == c.request_ts => NoticeOrder::Same,
        Some(_) => NoticeOrder::Older,
    }
}
