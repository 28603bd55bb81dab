//! What the backend is told: the event types of the outbox and which one a change of an
//! order or a contract produces ([`event_type`], [`contract_event_type`]), and an event's
//! body (`{"id","type","createdAt","data"}`), the same bytes in the feed and in webhooks.
//! Pure: the store writes the event in the change's own transaction; this module must not
//! read a clock (the caller passes the time and the id), the store or the network.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::chinaums::status::ContractState;
use crate::domain::contract::Contract;
use crate::domain::observe::Change;
use crate::domain::order::OrderStatus;
use crate::domain::record::{Binding, Order};
use crate::domain::refund_state::{GatewayRefund, RefundStatus};
use crate::domain::view::{rfc3339, ContractView, OrderView, RefundView, RefundWithOrder};

/// The kinds of event, as the backend sees them (`type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    /// An order was created (by `POST /orders`).
    OrderCreated,
    /// The provider accepted the order's bill.
    OrderBound,
    /// The provider refused the order's bill.
    OrderBindFailed,
    /// A pre-authorised payment holds the money.
    OrderAuthorized,
    /// The order was paid.
    OrderPaid,
    /// The order was refunded (or its refunded total grew).
    OrderRefunded,
    /// The order will never be paid.
    OrderClosed,
    /// The order was flagged for an operator (or for another reason).
    OrderReviewFlagged,
    /// The order's review flag was cleared by an operator's acknowledgement.
    OrderReviewResolved,
    /// A refund was asked for and its amount reserved; the provider's word is awaited.
    RefundPending,
    /// A refund the gateway asked for succeeded.
    RefundSucceeded,
    /// A refund the gateway asked for failed; its reservation is released.
    RefundFailed,
    /// A contract was terminated (`RESCISSION` or `DELETING_CONTRACT`).
    ContractTerminated,
    /// A newer notice about a contract moved it to any other state.
    ContractUpdated,
}

impl EventType {
    /// Every type.
    pub const ALL: [EventType; 14] = [
        EventType::OrderCreated,
        EventType::OrderBound,
        EventType::OrderBindFailed,
        EventType::OrderAuthorized,
        EventType::OrderPaid,
        EventType::OrderRefunded,
        EventType::OrderClosed,
        EventType::OrderReviewFlagged,
        EventType::OrderReviewResolved,
        EventType::RefundPending,
        EventType::RefundSucceeded,
        EventType::RefundFailed,
        EventType::ContractTerminated,
        EventType::ContractUpdated,
    ];

    /// The wire name (`order.paid`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::OrderCreated => "order.created",
            EventType::OrderBound => "order.bound",
            EventType::OrderBindFailed => "order.bind_failed",
            EventType::OrderAuthorized => "order.authorized",
            EventType::OrderPaid => "order.paid",
            EventType::OrderRefunded => "order.refunded",
            EventType::OrderClosed => "order.closed",
            EventType::OrderReviewFlagged => "order.review_flagged",
            EventType::OrderReviewResolved => "order.review_resolved",
            EventType::RefundPending => "refund.pending",
            EventType::RefundSucceeded => "refund.succeeded",
            EventType::RefundFailed => "refund.failed",
            EventType::ContractTerminated => "contract.terminated",
            EventType::ContractUpdated => "contract.updated",
        }
    }

    /// Reads the wire name back.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one event a change of `before` produces, or `None` for a change the backend does
/// not care about (the check schedule, a confirmation of facts, the provider's latest
/// "not yet"). One change is one event: when a change does several things, the most
/// significant names it — a status move (or a grown refund), then a review flag set or
/// cleared, then the binding — and `data` (the order after) shows the rest.
pub fn event_type(before: &Order, change: &Change) -> Option<EventType> {
    let after = &change.after;
    if !change.changed(before) {
        return None;
    }
    let refund_grew = after.status == OrderStatus::Refunded && after.refunded > before.refunded;
    if after.status != before.status || refund_grew {
        return Some(match after.status {
            OrderStatus::Authorized => EventType::OrderAuthorized,
            OrderStatus::Paid => EventType::OrderPaid,
            OrderStatus::Refunded => EventType::OrderRefunded,
            OrderStatus::Closed => EventType::OrderClosed,
            // No move leads back to PENDING (`no_decision_ever_moves_an_order_backwards`).
            OrderStatus::Pending => return None,
        });
    }
    let newly_flagged = after.needs_review() && after.review_reason() != before.review_reason();
    if newly_flagged {
        return Some(EventType::OrderReviewFlagged);
    }
    if before.needs_review() && !after.needs_review() {
        return Some(EventType::OrderReviewResolved);
    }
    if after.binding != before.binding {
        return match after.binding {
            Binding::Bound => Some(EventType::OrderBound),
            Binding::Refused => Some(EventType::OrderBindFailed),
            Binding::None | Binding::Unknown => None,
        };
    }
    None
}

/// The event a refund in `status` is told by: `refund.pending` when it is stored,
/// `refund.succeeded` or `refund.failed` when it becomes final.
pub fn refund_event_type(status: RefundStatus) -> EventType {
    match status {
        RefundStatus::Pending => EventType::RefundPending,
        RefundStatus::Succeeded => EventType::RefundSucceeded,
        RefundStatus::Failed => EventType::RefundFailed,
    }
}

/// The event a newer notice about a contract produces: `contract.terminated` when it ends
/// the contract, `contract.updated` otherwise.
pub fn contract_event_type(state: &ContractState) -> EventType {
    match state {
        ContractState::Rescission | ContractState::DeletingContract => {
            EventType::ContractTerminated
        }
        _ => EventType::ContractUpdated,
    }
}

/// An event's body, as stored and as sent.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a, T: Serialize> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    created_at: String,
    data: T,
}

fn body<T: Serialize>(id: &str, kind: EventType, at: DateTime<Utc>, data: T) -> String {
    serde_json::to_string(&Body {
        id,
        kind: kind.as_str(),
        created_at: rfc3339(at),
        data,
    })
    // Plain structs of strings, numbers and booleans: serialising cannot fail.
    .unwrap_or_default()
}

/// The body of event `id` about `order` (as it is after the change, with the refunds the
/// refunds kept for it: as `GET /orders/{id}` shows it).
pub fn order_body(
    id: &str,
    kind: EventType,
    at: DateTime<Utc>,
    order: &Order,
    refunds: &[GatewayRefund],
) -> String {
    body(id, kind, at, OrderView::from(order).with_refunds(refunds))
}

/// The body of event `id` about `refund` and its order (as it is after the change, with
/// all its refunds).
pub fn refund_body(
    id: &str,
    kind: EventType,
    at: DateTime<Utc>,
    refund: &GatewayRefund,
    order: &Order,
    refunds: &[GatewayRefund],
) -> String {
    body(
        id,
        kind,
        at,
        RefundWithOrder {
            refund: RefundView::from(refund),
            order: OrderView::from(order).with_refunds(refunds),
        },
    )
}

/// The body of event `id` about `contract` (its newest state).
pub fn contract_body(id: &str, kind: EventType, at: DateTime<Utc>, contract: &Contract) -> String {
    body(id, kind, at, ContractView::from(contract))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chinaums::status::BillStatus;
    use crate::domain::money::Amount;
    use crate::domain::observe::{BindAnswer, Observation, Seen, Timing};
    use crate::domain::order::{Evidence, Report, Source};
    use crate::domain::record::testing::{bill, t0};
    use crate::domain::record::ProviderFacts;
    use std::time::Duration;

    fn timing() -> Timing {
        Timing {
            expiry_grace: Duration::from_secs(120),
            backoff: vec![Duration::from_secs(30)],
            settled_backoff: Vec::new(),
        }
    }

    fn pending() -> Order {
        bill()
    }

    fn report(bill: BillStatus, fen: i64) -> Observation {
        let mut evidence = Evidence::of(Report::Bill(bill));
        evidence.amount = Some(Amount::from_fen(fen).unwrap());
        Observation::report(evidence, ProviderFacts::default(), Source::Notify, None)
    }

    /// The type `obs` produces on `order`.
    fn kind(order: &Order, obs: &Observation) -> Option<EventType> {
        event_type(order, &order.observe(obs, t0(), &timing()))
    }

    #[test]
    fn each_kind_of_change_produces_its_own_event_type() {
        let order = pending();
        let bound = Observation::of(
            Seen::Bind(BindAnswer::Bound { qr_code: None }),
            Source::Api,
            None,
        );
        let refused = Observation::of(
            Seen::Bind(BindAnswer::Refused("E: no".into())),
            Source::Api,
            None,
        );

        assert_eq!(kind(&order, &bound), Some(EventType::OrderBound));
        assert_eq!(kind(&order, &refused), Some(EventType::OrderBindFailed));
        assert_eq!(
            kind(&order, &report(BillStatus::Paid, 100)),
            Some(EventType::OrderPaid)
        );
        assert_eq!(
            kind(&order, &report(BillStatus::Paid, 99)),
            Some(EventType::OrderReviewFlagged),
            "a wrong amount flags the order and moves nothing"
        );
        assert_eq!(
            kind(&order, &report(BillStatus::Closed, 100)),
            Some(EventType::OrderClosed)
        );
    }

    #[test]
    fn a_change_the_backend_does_not_care_about_produces_no_event() {
        let order = pending();
        let check = Observation::of(Seen::Nothing, Source::Query, None).as_check(0.5);

        let change = order.observe(&check, t0(), &timing());

        assert!(change.changed(&order), "the schedule moved");
        assert_eq!(event_type(&order, &change), None);
        let same = order.observe(&report(BillStatus::Unpaid, 100), t0(), &timing());
        assert_eq!(event_type(&order, &same), None, "nothing changed");
    }

    #[test]
    fn a_status_move_names_the_event_even_when_it_also_flags_or_binds() {
        let mut order = pending();
        order.binding = Binding::Unknown;
        let mut evidence = Evidence::of(Report::Bill(BillStatus::Paid));
        evidence.amount = Some(Amount::from_fen(100).unwrap());
        let paid_by_query =
            Observation::report(evidence, ProviderFacts::default(), Source::Query, None)
                .as_check(0.5);

        let change = order.observe(&paid_by_query, t0(), &timing());

        assert_eq!(change.after.binding, Binding::Bound);
        assert_eq!(event_type(&order, &change), Some(EventType::OrderPaid));
    }

    #[test]
    fn clearing_a_review_flag_is_review_resolved() {
        let mut before = pending();
        before.flag("amount".into(), t0());
        let mut after = before.clone();
        after.review = None;
        after.version += 1;
        let change = Change {
            decision: None,
            after,
            event: None,
        };

        assert_eq!(
            event_type(&before, &change),
            Some(EventType::OrderReviewResolved)
        );
    }

    #[test]
    fn a_terminated_contract_is_contract_terminated_and_any_other_state_an_update() {
        assert_eq!(
            contract_event_type(&ContractState::Rescission),
            EventType::ContractTerminated
        );
        assert_eq!(
            contract_event_type(&ContractState::DeletingContract),
            EventType::ContractTerminated
        );
        assert_eq!(
            contract_event_type(&ContractState::Signed),
            EventType::ContractUpdated
        );
    }

    #[test]
    fn an_event_body_is_its_id_type_time_and_the_order_as_the_api_shows_it() {
        let order = pending();

        let body = order_body("evt_1", EventType::OrderCreated, t0(), &order, &[]);

        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["id"], "evt_1");
        assert_eq!(v["type"], "order.created");
        assert_eq!(v["createdAt"], "2026-11-21T04:00:00.000Z");
        assert_eq!(
            v["data"],
            serde_json::to_value(OrderView::from(&order)).unwrap()
        );
        assert_eq!(v["data"]["version"], 1);
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
    }
}
