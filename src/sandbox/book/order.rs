//! The order records the sandbox keeps: an order (bill or mini-program order), its bill,
//! phase, payment and completion, and how a query reads them (`status`, `billStatus`). It
//! must not change an order but by the lazy close of an expired one (`refresh`); changes
//! are the book's (`open`, `changes`, `complete`).

use chrono::{DateTime, Utc};

use crate::chinaums::status::{BillStatus, TradeStatus};
use crate::chinaums::time;
use crate::domain::money::Amount;

use super::notices::NoticeLog;

/// An order at the provider: a bill bound to a QR code, or a mini-program order.
#[derive(Clone, Debug)]
pub struct Order {
    /// The bill's `billNo`, or the mini-program order's `merOrderId`.
    pub id: String,
    /// The bill's particulars; `None` for a mini-program order.
    pub bill: Option<Bill>,
    /// [`INST_MID_BILL`](crate::chinaums::INST_MID_BILL) for bills,
    /// [`INST_MID_MINI`](crate::chinaums::INST_MID_MINI) for mini-program orders.
    pub inst_mid: String,
    /// What the buyer is asked to pay.
    pub amount: Amount,
    /// Where notifications go; none means none are sent.
    pub notify_url: Option<String>,
    /// When the provider created it.
    pub created_at: DateTime<Utc>,
    /// When an unpaid order closes.
    pub expire_at: DateTime<Utc>,
    /// Created for pre-authorisation (`preauthTransaction`).
    pub preauth: bool,
    /// Where it stands.
    pub phase: Phase,
    /// The successful payment, once paid.
    pub payment: Option<Payment>,
    /// The running total refunded.
    pub refunded: Amount,
    /// The completion of a pre-authorised payment.
    pub completion: Option<Completion>,
    /// Notifications made for it, oldest first.
    pub notices: Vec<NoticeLog>,
}

/// What a bill has beyond an order.
#[derive(Clone, Debug)]
pub struct Bill {
    /// The QR code the bill is bound to.
    pub qr_code_id: String,
    /// The code's URL, as update-qrcode answered it.
    pub bill_qr_code: String,
    /// `billDate`, `yyyy-MM-dd`.
    pub bill_date: String,
    /// `billDesc`.
    pub bill_desc: Option<String>,
    /// `memberId`, echoed in notifications.
    pub member_id: Option<String>,
    /// `counterNo`, echoed in notifications.
    pub counter_no: Option<String>,
}

/// Where an order stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the buyer.
    Open,
    /// Paid (or, when pre-authorised, authorised and perhaps completed).
    Paid,
    /// Closed before payment, or its authorisation released.
    Closed(CloseReason),
}

/// Why an order closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Its expiry passed unpaid (silently: no notification).
    Expired,
    /// Closed on purpose (`/_sandbox/orders/{id}/close`).
    Closed,
}

/// A successful payment attempt.
#[derive(Clone, Debug)]
pub struct Payment {
    /// The attempt's own order id: `billNo` plus a short suffix for bills, the order's
    /// `merOrderId` for mini-program orders.
    pub attempt_id: String,
    /// What the buyer paid (or had authorised).
    pub amount: Amount,
    /// The provider's reference (`seqId`, `paySeqId`).
    pub seq_id: String,
    /// The wallet's order number.
    pub target_order_id: String,
    /// The wallet.
    pub target_sys: String,
    /// When it was paid.
    pub pay_time: DateTime<Utc>,
    /// The authorisation code (`authIdRespCd`) of a pre-authorised payment.
    pub auth_code: Option<String>,
}

/// A completed pre-authorisation.
#[derive(Clone, Debug)]
pub struct Completion {
    /// The completion's own order id (`mchntOrderId`).
    pub mchnt_order_id: String,
    /// The amount taken.
    pub amount: Amount,
    /// The provider's reference (`platSsn`).
    pub plat_ssn: String,
    /// The wallet's order number of the completion.
    pub target_order_id: String,
    /// When it completed.
    pub completed_at: DateTime<Utc>,
}

impl Order {
    /// Closes an unpaid order whose expiry has passed (the provider closes them lazily:
    /// whoever looks next sees it closed). No notification is sent for it.
    pub(super) fn refresh(&mut self, now: DateTime<Utc>) {
        if self.phase == Phase::Open && now >= self.expire_at {
            self.phase = Phase::Closed(CloseReason::Expired);
        }
    }

    /// The amount a refund can reach: what was paid, or for a pre-authorisation what was
    /// completed (nothing before completion).
    pub fn refundable(&self) -> Amount {
        match (&self.payment, &self.completion) {
            (_, Some(c)) => c.amount,
            (Some(_), None) if self.is_preauthorised() => Amount::ZERO,
            (Some(p), None) => p.amount,
            (None, None) => Amount::ZERO,
        }
    }

    /// Whether its payment is a pre-authorisation.
    pub fn is_preauthorised(&self) -> bool {
        self.payment.as_ref().is_some_and(|p| p.auth_code.is_some())
    }

    /// The order's `status` as a query reports it. A fully refunded order is
    /// `TRADE_CLOSED`, as the provider's own vocabulary says ("closed: … fully refunded");
    /// a partly refunded one `TRADE_REFUND`.
    pub fn trade_status(&self) -> TradeStatus {
        match self.phase {
            Phase::Open if self.bill.is_some() => TradeStatus::NewOrder,
            Phase::Open => TradeStatus::WaitBuyerPay,
            Phase::Closed(_) => TradeStatus::TradeClosed,
            Phase::Paid if self.refunded.is_zero() => TradeStatus::TradeSuccess,
            Phase::Paid if self.refunded >= self.refundable() => TradeStatus::TradeClosed,
            Phase::Paid => TradeStatus::TradeRefund,
        }
    }

    /// The bill's `billStatus`.
    pub fn bill_status(&self) -> BillStatus {
        match self.phase {
            Phase::Open => BillStatus::Unpaid,
            Phase::Closed(_) => BillStatus::Closed,
            Phase::Paid if self.refunded.is_zero() => BillStatus::Paid,
            Phase::Paid => BillStatus::Refund,
        }
    }

    /// `createTime`, `yyyy-MM-dd HH:mm:ss` Beijing time.
    pub fn create_time(&self) -> String {
        time::format_body(self.created_at)
    }
}
