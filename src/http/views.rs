//! How the API shows things: orders, their history, a resync's before and after. The one
//! place in `http` a domain value becomes JSON for a caller; the order and contract views
//! themselves are `domain::view`, because the outbox's events carry the same JSON. It must
//! not show a secret or a buyer's personal field (the order holds none).

use serde::Serialize;

use crate::domain::order::OrderStatus;
use crate::domain::record::OrderEvent;
pub use crate::domain::view::{rfc3339, ContractView, OrderView};
use crate::flows::check::Check;

/// One entry of an order's history as the API shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    id: i64,
    from: Option<&'static str>,
    to: &'static str,
    source: &'static str,
    evidence: Option<String>,
    reason: Option<String>,
    /// The operator who caused it (admin resyncs and review actions).
    #[serde(skip_serializing_if = "Option::is_none")]
    operator: Option<String>,
    /// The operator's note.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    at: String,
}

impl From<&OrderEvent> for EventView {
    fn from(e: &OrderEvent) -> Self {
        EventView {
            id: e.id,
            from: e.from.map(OrderStatus::as_str),
            to: e.to.as_str(),
            source: e.source.as_str(),
            evidence: e.evidence.clone(),
            reason: e.reason.clone(),
            operator: e.operator.clone(),
            note: e.note.clone(),
            at: rfc3339(e.at),
        }
    }
}

/// An order before and after a resync.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckView {
    mer_order_id: String,
    outcome: &'static str,
    before: OrderView,
    after: OrderView,
}

impl From<&Check> for CheckView {
    fn from(c: &Check) -> Self {
        CheckView {
            mer_order_id: c.after.id.to_string(),
            outcome: c.outcome.as_str(),
            before: OrderView::from(&c.before),
            after: OrderView::from(&c.after),
        }
    }
}
