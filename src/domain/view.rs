//! How an order and a contract are shown outside the gateway: the JSON of
//! `GET /orders/{id}` and `GET /contracts/{no}`, which is also the `data` of the events the
//! outbox keeps (`domain::outbox`). Here, below both the store and the HTTP layer, so that
//! an event and an API answer are the same bytes for the same order. It must not show a
//! secret or a buyer's personal field (the order holds none).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::chinaums::time;
use crate::domain::contract::Contract;
use crate::domain::money::Amount;
use crate::domain::record::Order;
use crate::domain::refund_state::GatewayRefund;

/// A time as the API shows it: RFC 3339, UTC, milliseconds.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An order as the API shows it (`GET /orders/{id}`; docs/api.md).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    mer_order_id: String,
    status: &'static str,
    amount: Amount,
    paid_amount: Option<Amount>,
    refunded_amount: Amount,
    description: Option<String>,
    bill_no: Option<String>,
    bill_date: Option<String>,
    qr_code_id: Option<String>,
    #[serde(rename = "billQRCode")]
    bill_qr_code: Option<String>,
    binding: &'static str,
    binding_error: Option<String>,
    inst_mid: String,
    preauth: bool,
    completion_order_id: Option<String>,
    expire_at: String,
    provider: ProviderView,
    needs_review: bool,
    review_reason: Option<String>,
    /// When the order was first flagged (RFC 3339), while it awaits an operator.
    review_flagged_at: Option<String>,
    reconcile: ReconcileView,
    created_at: String,
    updated_at: String,
    version: i64,
    /// Each refund of the order, oldest first: the gateway's (any status) and those the
    /// provider reported (shown on `GET /orders/{id}` when there is any).
    #[serde(skip_serializing_if = "Option::is_none")]
    refunds: Option<Vec<RefundView>>,
}

/// One refund as the API shows it (`GET /orders/{id}/refunds/{refundOrderId}`, an order's
/// `refunds`, the `refund.*` events).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundView {
    /// Its `refundOrderId` (a reported refund without one: the notification's `notifyId`).
    refund_order_id: String,
    mer_order_id: String,
    /// `gateway` (asked here) or `reported` (made elsewhere, reported by a notification).
    origin: &'static str,
    amount: Amount,
    status: &'static str,
    reason: Option<String>,
    /// The operator who asked for it through the console.
    #[serde(skip_serializing_if = "Option::is_none")]
    operator: Option<String>,
    created_at: String,
    settled_at: Option<String>,
    err_code: Option<String>,
}

impl From<&GatewayRefund> for RefundView {
    fn from(r: &GatewayRefund) -> Self {
        RefundView {
            refund_order_id: r.key.clone(),
            mer_order_id: r.order.to_string(),
            origin: r.origin.as_str(),
            amount: r.amount,
            status: r.status.as_str(),
            reason: r.reason.clone(),
            operator: r.operator.clone(),
            created_at: rfc3339(r.created_at),
            settled_at: r.settled_at.map(rfc3339),
            err_code: r.err_code.clone(),
        }
    }
}

impl OrderView {
    /// The order with its refunds (none: as without).
    pub fn with_refunds(mut self, refunds: &[GatewayRefund]) -> Self {
        if refunds.is_empty() {
            return self;
        }
        self.refunds = Some(refunds.iter().map(RefundView::from).collect());
        self
    }
}

/// A refund and its order, as the `refund.*` events carry them.
#[derive(Serialize)]
pub struct RefundWithOrder {
    /// The refund.
    pub refund: RefundView,
    /// Its order after the change.
    pub order: OrderView,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProviderView {
    status: Option<String>,
    seq_id: Option<String>,
    target_order_id: Option<String>,
    target_sys: Option<String>,
    pay_time: Option<String>,
    settle_date: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReconcileView {
    attempts: u32,
    next_check_at: Option<String>,
    last_checked_at: Option<String>,
}

impl From<&Order> for OrderView {
    fn from(o: &Order) -> Self {
        OrderView {
            mer_order_id: o.id.to_string(),
            status: o.status.as_str(),
            amount: o.amount,
            paid_amount: o.paid_amount,
            refunded_amount: o.refunded,
            description: o.description.clone(),
            bill_no: o.bill_no().map(str::to_owned),
            bill_date: o.bill_date(),
            qr_code_id: o.qr_code_id.clone(),
            bill_qr_code: o.bill_qr_code.clone(),
            binding: o.binding.as_str(),
            binding_error: o.binding_error.clone(),
            inst_mid: o.inst_mid.clone(),
            preauth: o.preauth,
            completion_order_id: o.completion_order_id.clone(),
            expire_at: rfc3339(o.expire_at),
            provider: ProviderView {
                status: o.facts.provider_status.clone(),
                seq_id: o.facts.seq_id.clone(),
                target_order_id: o.facts.target_order_id.clone(),
                target_sys: o.facts.target_sys.clone(),
                pay_time: o.facts.pay_time.clone(),
                settle_date: o.facts.settle_date.clone(),
            },
            needs_review: o.needs_review(),
            review_reason: o.review_reason().map(str::to_owned),
            review_flagged_at: o.review.as_ref().map(|r| rfc3339(r.since)),
            reconcile: ReconcileView {
                attempts: o.schedule.attempts,
                next_check_at: o.schedule.next_check_at.map(rfc3339),
                last_checked_at: o.schedule.last_checked_at.map(rfc3339),
            },
            created_at: rfc3339(o.created_at),
            updated_at: rfc3339(o.updated_at),
            version: o.version,
            refunds: None,
        }
    }
}

/// A contract as the API shows it (`GET /contracts/{no}`): the provider's fields as sent,
/// plus when and from which journal row it was stored.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractView {
    contract_no: String,
    mid: String,
    contract_id: Option<String>,
    contract_state: String,
    contract_signed_time: Option<String>,
    contract_expired_time: Option<String>,
    single_limit_amt: Option<String>,
    avl_num: Option<String>,
    plan_id: Option<String>,
    /// The notice's `requestTimestamp` (Beijing time, as the provider writes it).
    request_timestamp: String,
    notification_id: Option<i64>,
    updated_at: String,
}

impl From<&Contract> for ContractView {
    fn from(c: &Contract) -> Self {
        ContractView {
            request_timestamp: time::format_body(c.request_ts),
            updated_at: rfc3339(c.updated_at),
            contract_state: c.state.as_str().to_owned(),
            contract_no: c.contract_no.clone(),
            mid: c.mid.clone(),
            contract_id: c.contract_id.clone(),
            contract_signed_time: c.signed_time.clone(),
            contract_expired_time: c.expired_time.clone(),
            single_limit_amt: c.single_limit_amt.clone(),
            avl_num: c.avl_num.clone(),
            plan_id: c.plan_id.clone(),
            notification_id: c.notification_id,
        }
    }
}
