//! The sandbox's own truth, as the provider keeps it: bills bound to QR codes, mini-program
//! orders, their payments, refunds, closures and pre-authorisation completions, and the
//! journal of notifications sent for them. Owns every rule about what may happen to an
//! order; it must not read the clock (callers pass `now`), do I/O, or know HTTP.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};

use crate::chinaums::status::{BillStatus, TradeStatus};
use crate::chinaums::time;
use crate::domain::money::Amount;

/// An order at the provider: a bill bound to a QR code, or a mini-program order.
#[derive(Clone, Debug)]
pub struct Order {
    /// The bill's `billNo`, or the mini-program order's `merOrderId`.
    pub id: String,
    /// The bill's particulars; `None` for a mini-program order.
    pub bill: Option<Bill>,
    /// `QRPAYDEFAULT` for bills, `MINIDEFAULT` for mini-program orders.
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

/// What happened to an order that a notification tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Paid (or authorised).
    Paid,
    /// A refund; the notification carries the running total.
    Refunded,
    /// Closed.
    Closed,
}

impl Event {
    /// The event's name in the notification journal.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Paid => "PAID",
            Event::Refunded => "REFUND",
            Event::Closed => "CLOSED",
        }
    }
}

/// One notification (or contract notice) and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoticeLog {
    /// `notifyId` (the same on every resend).
    pub id: String,
    /// What it tells: `PAID`, `REFUND`, `CLOSED`, or a contract state.
    pub event: String,
    /// The faults it was given.
    pub faults: Vec<NoticeFault>,
    /// HTTP deliveries tried.
    pub attempts: u32,
    /// Deliveries the receiver acknowledged.
    pub delivered: u32,
    /// Where it stands.
    pub state: NoticeState,
}

/// A fault given to one notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeFault {
    /// Never delivered.
    Dropped,
    /// Delivered again after it was acknowledged.
    Duplicated,
    /// Held back a random extra delay.
    Reordered,
    /// Lost on purpose by `pay` with `notify: false`.
    Lost,
}

impl NoticeFault {
    /// Its name in views.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeFault::Dropped => "dropped",
            NoticeFault::Duplicated => "duplicated",
            NoticeFault::Reordered => "reordered",
            NoticeFault::Lost => "lost",
        }
    }
}

/// Where a notification stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeState {
    /// Attempts remain.
    Pending,
    /// Acknowledged.
    Delivered,
    /// Never sent (dropped or lost).
    Dropped,
    /// Every attempt failed.
    GaveUp,
    /// No `notifyUrl` to send it to.
    NoUrl,
}

impl NoticeState {
    /// Its name in views.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeState::Pending => "pending",
            NoticeState::Delivered => "delivered",
            NoticeState::Dropped => "dropped",
            NoticeState::GaveUp => "gave_up",
            NoticeState::NoUrl => "no_url",
        }
    }
}

impl NoticeLog {
    /// A new notification, not yet attempted.
    pub fn new(id: String, event: &str, faults: Vec<NoticeFault>, state: NoticeState) -> Self {
        NoticeLog {
            id,
            event: event.to_owned(),
            faults,
            attempts: 0,
            delivered: 0,
            state,
        }
    }
}

/// How an id given to a query or a completion was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// The order's own id (`billNo`, mini-program `merOrderId`).
    Own,
    /// The payment attempt's id (`billPayment.merOrderId`).
    Attempt,
    /// A pre-authorisation completion's `mchntOrderId`.
    Completion,
    /// A wallet order number (`targetOrderId`) of the payment.
    Target,
    /// A wallet order number of the completion.
    CompletionTarget,
}

/// Why the book refused a change. The messages name fields and ids, never secrets.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No order has this id.
    #[error("no order {0}")]
    NotFound(String),
    /// The order's state does not allow it.
    #[error("{0}")]
    Conflict(String),
    /// The id is already used by another order.
    #[error("{field}: {reason}")]
    Duplicate {
        /// The field carrying the id.
        field: &'static str,
        /// Why it is a duplicate.
        reason: String,
    },
    /// A value does not fit the order.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

fn conflict(message: impl Into<String>) -> Refusal {
    Refusal::Conflict(message.into())
}

impl Order {
    /// Closes an unpaid order whose expiry has passed (the provider closes them lazily:
    /// whoever looks next sees it closed). No notification is sent for it.
    fn refresh(&mut self, now: DateTime<Utc>) {
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

/// A bill to bind, as update-qrcode gives it (already validated field by field).
#[derive(Clone, Debug)]
pub struct NewBill {
    /// `qrCodeId`.
    pub qr_code_id: String,
    /// `billNo` (generated by the caller when the request has none).
    pub bill_no: String,
    /// `billDate`.
    pub bill_date: String,
    /// `totalAmount`.
    pub amount: Amount,
    /// `expireTime`; `None` for the provider's default of 30 minutes.
    pub expire_at: Option<DateTime<Utc>>,
    /// `notifyUrl`.
    pub notify_url: Option<String>,
    /// `preauthTransaction`.
    pub preauth: bool,
    /// `billDesc`.
    pub bill_desc: Option<String>,
    /// `memberId`.
    pub member_id: Option<String>,
    /// `counterNo`.
    pub counter_no: Option<String>,
    /// The code's URL to answer with.
    pub bill_qr_code: String,
}

/// A mini-program order, as a checkout creates it.
#[derive(Clone, Debug)]
pub struct NewMini {
    /// `merOrderId`.
    pub mer_order_id: String,
    /// `totalAmount`.
    pub amount: Amount,
    /// `notifyUrl`.
    pub notify_url: Option<String>,
    /// `expireTime`; `None` for 30 minutes.
    pub expire_at: Option<DateTime<Utc>>,
}

/// What the buyer does at `/_sandbox/orders/{id}/pay`.
#[derive(Clone, Debug)]
pub struct PayArgs {
    /// The amount paid; the order's amount when absent.
    pub amount: Option<Amount>,
    /// Pay with pre-authorisation; the order's `preauthTransaction` when absent.
    pub preauth: Option<bool>,
}

/// A completion request (`preauthed`), validated field by field.
#[derive(Clone, Debug)]
pub struct CompleteArgs {
    /// The completion's own id.
    pub mchnt_order_id: String,
    /// The pre-authorised order (any id that finds it).
    pub preauth_order_id: String,
    /// The authorisation code from the notification.
    pub auth_code: String,
    /// `bizType`.
    pub biz_type: String,
    /// The amount to take.
    pub amount: Amount,
}

/// A completion's outcome: the order after it, and the completion.
#[derive(Clone, Debug)]
pub struct Completed {
    /// The order after completion.
    pub order: Order,
    /// The completion itself.
    pub completion: Completion,
}

/// Why a completion was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompleteRefusal {
    /// No order has that `preauthOrderId`.
    NoOrder,
    /// The order is not an authorised pre-authorisation (unpaid, closed, plain payment,
    /// refunded, or completed under another `mchntOrderId`).
    NotAllowed(String),
    /// `mchntOrderId` names another order or completion.
    Duplicate(String),
    /// A field does not match the authorisation.
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

/// The provider's default life of a one-time QR code bill (seed 002: 30 minutes).
pub const DEFAULT_EXPIRY_MINUTES: i64 = 30;
/// The longest expiry the provider accepts (seed 002: at most 90 days).
pub const MAX_EXPIRY_DAYS: i64 = 90;
/// The wallet every sandbox payment comes from.
const TARGET_SYS: &str = "WXPay";

/// The book of every order, QR code and contract notice.
#[derive(Debug, Default)]
pub struct Book {
    orders: HashMap<String, Order>,
    /// Ids other than an order's own that find it: attempt ids, completion ids, wallet
    /// order numbers.
    refs: HashMap<String, (String, Via)>,
    /// Each QR code's current bill.
    qr_codes: HashMap<String, String>,
    /// Contract notices by contract number.
    contracts: BTreeMap<String, Vec<NoticeLog>>,
}

impl Book {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new order waiting for the buyer, expiring at `expire_at` or after the default
    /// 30 minutes.
    fn open(
        id: String,
        bill: Option<Bill>,
        amount: Amount,
        notify_url: Option<String>,
        expire_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Order {
        Order {
            id,
            inst_mid: if bill.is_some() {
                "QRPAYDEFAULT"
            } else {
                "MINIDEFAULT"
            }
            .into(),
            bill,
            amount,
            notify_url,
            created_at: now,
            expire_at: expire_at.unwrap_or(now + Duration::minutes(DEFAULT_EXPIRY_MINUTES)),
            preauth: false,
            phase: Phase::Open,
            payment: None,
            refunded: Amount::ZERO,
            completion: None,
            notices: Vec::new(),
        }
    }

    /// Whether an id is taken by an order, attempt or completion.
    fn id_taken(&self, id: &str) -> bool {
        self.orders.contains_key(id) || self.refs.contains_key(id)
    }

    /// Binds a bill to its QR code. Refused with [`Refusal::Duplicate`] when the code
    /// already holds this `billNo` (seed 002: the new bill number must differ from the
    /// code's) or another bill has it.
    pub fn bind_bill(&mut self, new: NewBill, now: DateTime<Utc>) -> Result<&Order, Refusal> {
        if self.qr_codes.get(&new.qr_code_id) == Some(&new.bill_no) {
            return Err(Refusal::Duplicate {
                field: "billNo",
                reason: "must differ from the QR code's current bill".into(),
            });
        }
        if self.id_taken(&new.bill_no) {
            return Err(Refusal::Duplicate {
                field: "billNo",
                reason: "already used by another order".into(),
            });
        }
        check_expiry(new.expire_at, now)?;
        self.qr_codes
            .insert(new.qr_code_id.clone(), new.bill_no.clone());
        let bill = Bill {
            qr_code_id: new.qr_code_id,
            bill_qr_code: new.bill_qr_code,
            bill_date: new.bill_date,
            bill_desc: new.bill_desc,
            member_id: new.member_id,
            counter_no: new.counter_no,
        };
        let order = Order {
            preauth: new.preauth,
            ..Self::open(
                new.bill_no.clone(),
                Some(bill),
                new.amount,
                new.notify_url,
                new.expire_at,
                now,
            )
        };
        Ok(self.orders.entry(new.bill_no).or_insert(order))
    }

    /// Creates a mini-program order, as a checkout at the provider would.
    pub fn create_mini(&mut self, new: NewMini, now: DateTime<Utc>) -> Result<&Order, Refusal> {
        if self.id_taken(&new.mer_order_id) {
            return Err(conflict(format!(
                "merOrderId {} already exists",
                new.mer_order_id
            )));
        }
        check_expiry(new.expire_at, now)?;
        let order = Self::open(
            new.mer_order_id.clone(),
            None,
            new.amount,
            new.notify_url,
            new.expire_at,
            now,
        );
        Ok(self.orders.entry(new.mer_order_id).or_insert(order))
    }

    /// Finds an order by any of its ids, closing it first if it expired unpaid.
    pub fn find(&mut self, id: &str, now: DateTime<Utc>) -> Option<(&Order, Via)> {
        let (key, via) = match self.refs.get(id) {
            _ if self.orders.contains_key(id) => (id.to_owned(), Via::Own),
            Some((key, via)) => (key.clone(), *via),
            None => return None,
        };
        let order = self.orders.get_mut(&key)?;
        order.refresh(now);
        Some((order, via))
    }

    /// The order with this own id, refreshed, for a change.
    fn own(&mut self, id: &str, now: DateTime<Utc>) -> Result<&mut Order, Refusal> {
        let order = self
            .orders
            .get_mut(id)
            .ok_or_else(|| Refusal::NotFound(id.to_owned()))?;
        order.refresh(now);
        Ok(order)
    }

    /// The buyer pays. Refused when the order is not open (paid, closed, expired), or when
    /// its QR code now shows another bill.
    pub fn pay(&mut self, id: &str, args: PayArgs, now: DateTime<Utc>) -> Result<&Order, Refusal> {
        let superseded = {
            let order = self.own(id, now)?;
            order
                .bill
                .as_ref()
                .map(|b| b.qr_code_id.clone())
                .filter(|qr| self.qr_codes.get(qr).is_some_and(|current| current != id))
        };
        if let Some(qr) = superseded {
            return Err(conflict(format!(
                "QR code {qr} now shows another bill: this one can no longer be paid"
            )));
        }
        let attempt_id = self.attempt_id(id);
        let order = self.own(id, now)?;
        match order.phase {
            Phase::Open => {}
            Phase::Paid => return Err(conflict(format!("order {id} is already paid"))),
            Phase::Closed(CloseReason::Expired) => {
                return Err(conflict(format!("order {id} has expired")))
            }
            Phase::Closed(CloseReason::Closed) => {
                return Err(conflict(format!("order {id} is closed")))
            }
        }
        let amount = args.amount.unwrap_or(order.amount);
        let preauth = args.preauth.unwrap_or(order.preauth);
        let payment = Payment {
            attempt_id,
            amount,
            seq_id: ids::seq_id(),
            target_order_id: ids::target_order_id(),
            target_sys: TARGET_SYS.into(),
            pay_time: now,
            auth_code: preauth.then(ids::auth_code),
        };
        order.phase = Phase::Paid;
        order.payment = Some(payment.clone());
        let key = order.id.clone();
        if payment.attempt_id != key {
            self.refs
                .insert(payment.attempt_id.clone(), (key.clone(), Via::Attempt));
        }
        self.refs
            .insert(payment.target_order_id, (key.clone(), Via::Target));
        self.orders
            .get(&key)
            .ok_or_else(|| Refusal::NotFound(key.clone()))
    }

    /// A payment attempt id for order `id`: a mini-program order pays under its own id; a
    /// bill under `billNo` plus a short numeric suffix, as in the provider's samples (two
    /// digits, one when the bill number leaves room for only one under the 32-character
    /// limit of `merOrderId`), unused by any other order.
    fn attempt_id(&self, id: &str) -> String {
        let is_bill = self.orders.get(id).is_some_and(|o| o.bill.is_some());
        if !is_bill {
            return id.to_owned();
        }
        let width = if id.len() <= ids::MAX_ORDER_ID_LEN - 2 {
            2
        } else {
            1
        };
        loop {
            let candidate = format!("{id}{}", ids::digits(width));
            if !self.id_taken(&candidate) {
                return candidate;
            }
        }
    }

    /// A refund of `amount`; refunds accumulate up to what was paid (or completed).
    /// Refused for an order that is not paid, a pre-authorisation not yet completed, or an
    /// amount beyond what is left.
    pub fn refund(
        &mut self,
        id: &str,
        amount: Amount,
        now: DateTime<Utc>,
    ) -> Result<&Order, Refusal> {
        let order = self.own(id, now)?;
        if order.phase != Phase::Paid {
            return Err(conflict(format!("order {id} is not paid")));
        }
        if order.is_preauthorised() && order.completion.is_none() {
            return Err(conflict(format!(
                "order {id} is only authorised: complete it first, or close it to release the authorisation"
            )));
        }
        let total = order
            .refunded
            .checked_add(amount)
            .filter(|total| *total <= order.refundable())
            .ok_or_else(|| {
                conflict(format!(
                    "a refund of {amount} fen would exceed what is left to refund ({} fen)",
                    order
                        .refundable()
                        .checked_sub(order.refunded)
                        .unwrap_or(Amount::ZERO)
                ))
            })?;
        order.refunded = total;
        Ok(order)
    }

    /// Closes an order: an unpaid one, or a pre-authorisation not yet completed (its
    /// authorisation is released). Refused when it is paid or already closed.
    pub fn close(&mut self, id: &str, now: DateTime<Utc>) -> Result<&Order, Refusal> {
        let order = self.own(id, now)?;
        let releasable = order.is_preauthorised() && order.completion.is_none();
        match order.phase {
            Phase::Open => {}
            Phase::Paid if releasable => {}
            Phase::Paid => return Err(conflict(format!("order {id} is paid: refund it instead"))),
            Phase::Closed(_) => return Err(conflict(format!("order {id} is already closed"))),
        }
        order.phase = Phase::Closed(CloseReason::Closed);
        Ok(order)
    }

    /// Makes an unpaid order expire now (closed silently, as an expiry is).
    pub fn expire(&mut self, id: &str, now: DateTime<Utc>) -> Result<&Order, Refusal> {
        let order = self.own(id, now)?;
        if order.phase != Phase::Open {
            return Err(conflict(format!("order {id} is not waiting for payment")));
        }
        order.expire_at = now;
        order.refresh(now);
        Ok(order)
    }

    /// Completes a pre-authorisation (`preauthed`). The same `mchntOrderId` again for the
    /// same order answers the completion already made, whatever the amount.
    pub fn complete(
        &mut self,
        args: CompleteArgs,
        now: DateTime<Utc>,
    ) -> Result<Completed, CompleteRefusal> {
        let key = match self.find(&args.preauth_order_id, now) {
            Some((order, _)) => order.id.clone(),
            None => return Err(CompleteRefusal::NoOrder),
        };
        if let Some((owner, _)) = self.refs.get(&args.mchnt_order_id) {
            let again = *owner == key
                && self
                    .orders
                    .get(&key)
                    .and_then(|o| o.completion.as_ref())
                    .is_some_and(|c| c.mchnt_order_id == args.mchnt_order_id);
            if !again {
                return Err(CompleteRefusal::Duplicate(
                    "mchntOrderId: already used by another order".into(),
                ));
            }
        } else if self.orders.contains_key(&args.mchnt_order_id) && args.mchnt_order_id != key {
            return Err(CompleteRefusal::Duplicate(
                "mchntOrderId: already used by another order".into(),
            ));
        }
        let order = self.orders.get_mut(&key).ok_or(CompleteRefusal::NoOrder)?;
        if let Some(done) = &order.completion {
            if done.mchnt_order_id == args.mchnt_order_id {
                return Ok(Completed {
                    completion: done.clone(),
                    order: order.clone(),
                });
            }
            return Err(CompleteRefusal::NotAllowed(format!(
                "order {key} is already completed"
            )));
        }
        let Some(payment) = order
            .payment
            .as_ref()
            .filter(|_| order.phase == Phase::Paid)
        else {
            return Err(CompleteRefusal::NotAllowed(format!(
                "order {key} is not authorised"
            )));
        };
        let Some(auth_code) = payment.auth_code.as_deref() else {
            return Err(CompleteRefusal::NotAllowed(format!(
                "order {key} was not paid with pre-authorisation"
            )));
        };
        if !order.refunded.is_zero() {
            return Err(CompleteRefusal::NotAllowed(format!(
                "order {key} has been refunded"
            )));
        }
        if auth_code != args.auth_code {
            return Err(CompleteRefusal::Invalid {
                field: "authIdRespCode",
                reason: "does not match the authorisation".into(),
            });
        }
        if args.biz_type != order.inst_mid {
            return Err(CompleteRefusal::Invalid {
                field: "bizType",
                reason: format!("must be the authorised order's {}", order.inst_mid),
            });
        }
        if args.amount > payment.amount {
            return Err(CompleteRefusal::Invalid {
                field: "totalAmt",
                reason: format!(
                    "{} fen exceeds the authorised {} fen",
                    args.amount, payment.amount
                ),
            });
        }
        let completion = Completion {
            mchnt_order_id: args.mchnt_order_id.clone(),
            amount: args.amount,
            plat_ssn: ids::seq_id(),
            target_order_id: ids::target_order_id(),
            completed_at: now,
        };
        order.completion = Some(completion.clone());
        let snapshot = order.clone();
        if args.mchnt_order_id != key {
            self.refs
                .insert(args.mchnt_order_id, (key.clone(), Via::Completion));
        }
        self.refs.insert(
            completion.target_order_id.clone(),
            (key, Via::CompletionTarget),
        );
        Ok(Completed {
            order: snapshot,
            completion,
        })
    }

    /// Journals a notice: under its order for a payment notification, under its contract
    /// number for a contract notice.
    pub fn add_notice(&mut self, about: &About, notice: NoticeLog) {
        match about {
            About::Order(id) => {
                if let Some(order) = self.orders.get_mut(id) {
                    order.notices.push(notice);
                }
            }
            About::Contract(no) => self.contracts.entry(no.clone()).or_default().push(notice),
        }
    }

    /// Records a delivery attempt of notice `id`.
    pub fn note_attempt(&mut self, about: &About, id: &str, acknowledged: bool) {
        if let Some(n) = self.notice(about, id) {
            n.attempts = n.attempts.saturating_add(1);
            if acknowledged {
                n.delivered = n.delivered.saturating_add(1);
                n.state = NoticeState::Delivered;
            }
        }
    }

    /// Records that notice `id` ran out of attempts.
    pub fn note_gave_up(&mut self, about: &About, id: &str) {
        if let Some(n) = self.notice(about, id) {
            n.state = NoticeState::GaveUp;
        }
    }

    fn notice(&mut self, about: &About, id: &str) -> Option<&mut NoticeLog> {
        let list = match about {
            About::Order(key) => self.orders.get_mut(key).map(|o| &mut o.notices),
            About::Contract(no) => self.contracts.get_mut(no),
        };
        list.and_then(|l| l.iter_mut().find(|n| n.id == id))
    }

    /// The notices sent for a contract, oldest first.
    pub fn contract_notices(&self, contract_no: &str) -> Option<&[NoticeLog]> {
        self.contracts.get(contract_no).map(Vec::as_slice)
    }
}

/// What a notice is about: where the book journals it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum About {
    /// A payment notification, by the order's own id.
    Order(String),
    /// A contract notice, by contract number.
    Contract(String),
}

impl std::fmt::Display for About {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            About::Order(id) => write!(f, "order {id}"),
            About::Contract(no) => write!(f, "contract {no}"),
        }
    }
}

/// An expiry must lie in the future and at most 90 days ahead.
fn check_expiry(expire_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<(), Refusal> {
    match expire_at {
        Some(t) if t <= now => Err(Refusal::Invalid {
            field: "expireTime",
            reason: "must be in the future".into(),
        }),
        Some(t) if t > now + Duration::days(MAX_EXPIRY_DAYS) => Err(Refusal::Invalid {
            field: "expireTime",
            reason: format!("must be at most {MAX_EXPIRY_DAYS} days ahead"),
        }),
        _ => Ok(()),
    }
}

/// The provider-style identifiers the sandbox makes up.
pub mod ids {
    /// Longest `merOrderId` the provider accepts.
    pub const MAX_ORDER_ID_LEN: usize = 32;

    /// `n` random decimal digits.
    pub fn digits(n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + rand::random_range(0..10u8)))
            .collect()
    }

    /// A `seqId`/`platSsn` like the provider's `00151100146N`: 11 digits and a letter.
    pub fn seq_id() -> String {
        format!("{}N", digits(11))
    }

    /// A WeChat-Pay-like order number: 28 digits starting `4200`.
    pub fn target_order_id() -> String {
        format!("4200{}", digits(24))
    }

    /// A 6-digit authorisation code (`authIdRespCd`), like the provider's `384822`.
    pub fn auth_code() -> String {
        digits(6)
    }

    /// A `notifyId`: a UUID, as the provider's.
    pub fn notify_id() -> String {
        uuid::Uuid::new_v4().to_string()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 4, 0, 0).unwrap()
    }

    fn fen(v: i64) -> Amount {
        Amount::from_fen(v).unwrap()
    }

    fn bill(qr: &str, bill_no: &str, amount: i64, preauth: bool) -> NewBill {
        NewBill {
            qr_code_id: qr.into(),
            bill_no: bill_no.into(),
            bill_date: "2026-11-21".into(),
            amount: fen(amount),
            expire_at: None,
            notify_url: Some("http://127.0.0.1:1/notify".into()),
            preauth,
            bill_desc: None,
            member_id: None,
            counter_no: None,
            bill_qr_code: format!("https://qr.example/{qr}"),
        }
    }

    fn pay(book: &mut Book, id: &str) -> Result<Order, Refusal> {
        book.pay(
            id,
            PayArgs {
                amount: None,
                preauth: None,
            },
            t0(),
        )
        .cloned()
    }

    #[test]
    fn a_bill_is_found_by_its_number_its_attempt_id_and_its_wallet_order_number() {
        let mut book = Book::new();
        book.bind_bill(bill("QR1", "1017BILL0001", 100, false), t0())
            .unwrap();

        let paid = pay(&mut book, "1017BILL0001").unwrap();
        let payment = paid.payment.unwrap();

        assert!(payment.attempt_id.starts_with("1017BILL0001"));
        assert_eq!(payment.attempt_id.len(), "1017BILL0001".len() + 2);
        let find = |book: &mut Book, id: &str| book.find(id, t0()).map(|(o, v)| (o.id.clone(), v));
        assert_eq!(
            find(&mut book, "1017BILL0001"),
            Some(("1017BILL0001".into(), Via::Own))
        );
        assert_eq!(
            find(&mut book, &payment.attempt_id),
            Some(("1017BILL0001".into(), Via::Attempt))
        );
        assert_eq!(
            find(&mut book, &payment.target_order_id),
            Some(("1017BILL0001".into(), Via::Target))
        );
        assert_eq!(find(&mut book, "1017NOPE"), None);
    }

    #[test]
    fn a_31_character_bill_number_gets_a_one_digit_suffix_to_stay_within_32() {
        let mut book = Book::new();
        let long = format!("1017{}", "7".repeat(27));
        book.bind_bill(bill("QR1", &long, 100, false), t0())
            .unwrap();

        let paid = pay(&mut book, &long).unwrap();

        assert_eq!(paid.payment.unwrap().attempt_id.len(), 32);
    }

    #[test]
    fn the_same_bill_number_as_the_codes_current_bill_is_refused_as_a_duplicate() {
        let mut book = Book::new();
        book.bind_bill(bill("QR1", "1017BILL0001", 100, false), t0())
            .unwrap();

        let mut bind =
            |qr: &str, no: &str| book.bind_bill(bill(qr, no, 100, false), t0()).map(|_| ());
        let again = bind("QR1", "1017BILL0001");
        let elsewhere = bind("QR2", "1017BILL0001");
        let next = bind("QR1", "1017BILL0002");

        assert!(matches!(
            again,
            Err(Refusal::Duplicate {
                field: "billNo",
                ..
            })
        ));
        assert!(matches!(
            elsewhere,
            Err(Refusal::Duplicate {
                field: "billNo",
                ..
            })
        ));
        assert!(next.is_ok());
    }

    #[test]
    fn a_bill_replaced_on_its_code_can_no_longer_be_paid() {
        let mut book = Book::new();
        book.bind_bill(bill("QR1", "1017BILL0001", 100, false), t0())
            .unwrap();
        book.bind_bill(bill("QR1", "1017BILL0002", 100, false), t0())
            .unwrap();

        let old = pay(&mut book, "1017BILL0001");
        let new = pay(&mut book, "1017BILL0002");

        assert!(matches!(old, Err(Refusal::Conflict(_))));
        assert!(new.is_ok());
    }

    #[test]
    fn an_unpaid_order_past_its_expiry_reads_closed_and_cannot_be_paid() {
        let mut book = Book::new();
        book.bind_bill(bill("QR1", "1017BILL0001", 100, false), t0())
            .unwrap();
        let later = t0() + Duration::minutes(DEFAULT_EXPIRY_MINUTES);

        let status = book
            .find("1017BILL0001", later)
            .map(|(o, _)| o.trade_status());
        let paid = book.pay(
            "1017BILL0001",
            PayArgs {
                amount: None,
                preauth: None,
            },
            later,
        );

        assert_eq!(status, Some(TradeStatus::TradeClosed));
        assert!(matches!(paid, Err(Refusal::Conflict(m)) if m.contains("expired")));
    }

    #[test]
    fn refunds_accumulate_up_to_the_paid_amount_and_a_full_refund_reads_closed() {
        let mut book = Book::new();
        book.bind_bill(bill("QR1", "1017BILL0001", 100, false), t0())
            .unwrap();
        pay(&mut book, "1017BILL0001").unwrap();

        let first = book.refund("1017BILL0001", fen(30), t0()).cloned().unwrap();
        let too_much = book.refund("1017BILL0001", fen(71), t0()).cloned();
        let rest = book.refund("1017BILL0001", fen(70), t0()).cloned().unwrap();

        assert_eq!(first.refunded, fen(30));
        assert_eq!(first.trade_status(), TradeStatus::TradeRefund);
        assert_eq!(first.bill_status(), BillStatus::Refund);
        assert!(matches!(too_much, Err(Refusal::Conflict(_))));
        assert_eq!(rest.refunded, fen(100));
        assert_eq!(rest.trade_status(), TradeStatus::TradeClosed);
    }

    #[test]
    fn unpaid_closed_and_paid_orders_refuse_what_their_state_forbids() {
        let mut book = Book::new();
        book.bind_bill(bill("QR1", "1017BILL0001", 100, false), t0())
            .unwrap();
        book.bind_bill(bill("QR2", "1017BILL0002", 100, false), t0())
            .unwrap();
        pay(&mut book, "1017BILL0002").unwrap();

        let refund_unpaid = book.refund("1017BILL0001", fen(1), t0()).cloned();
        let closed = book.close("1017BILL0001", t0()).cloned().unwrap();
        let close_again = book.close("1017BILL0001", t0()).cloned();
        let pay_closed = pay(&mut book, "1017BILL0001");
        let pay_again = pay(&mut book, "1017BILL0002");
        let close_paid = book.close("1017BILL0002", t0()).cloned();
        let unknown = book.close("1017NOPE", t0()).cloned();

        assert!(matches!(refund_unpaid, Err(Refusal::Conflict(_))));
        assert_eq!(closed.trade_status(), TradeStatus::TradeClosed);
        assert!(matches!(close_again, Err(Refusal::Conflict(_))));
        assert!(matches!(pay_closed, Err(Refusal::Conflict(_))));
        assert!(matches!(pay_again, Err(Refusal::Conflict(_))));
        assert!(matches!(close_paid, Err(Refusal::Conflict(_))));
        assert_eq!(unknown.unwrap_err(), Refusal::NotFound("1017NOPE".into()));
    }

    fn authorised(book: &mut Book) -> (String, String) {
        book.bind_bill(bill("QR1", "1017AUTH0001", 100, true), t0())
            .unwrap();
        let paid = pay(book, "1017AUTH0001").unwrap();
        let payment = paid.payment.unwrap();
        (payment.attempt_id, payment.auth_code.unwrap())
    }

    fn completion(preauth_order_id: &str, code: &str, amount: i64, id: &str) -> CompleteArgs {
        CompleteArgs {
            mchnt_order_id: id.into(),
            preauth_order_id: preauth_order_id.into(),
            auth_code: code.into(),
            biz_type: "QRPAYDEFAULT".into(),
            amount: fen(amount),
        }
    }

    #[test]
    fn a_completion_takes_at_most_the_authorised_amount_and_is_idempotent() {
        let mut book = Book::new();
        let (attempt, code) = authorised(&mut book);

        let above = book.complete(completion(&attempt, &code, 101, "1017DONE0001"), t0());
        let wrong_code = book.complete(completion(&attempt, "000000", 80, "1017DONE0001"), t0());
        let done = book
            .complete(completion(&attempt, &code, 80, "1017DONE0001"), t0())
            .unwrap();
        let again = book
            .complete(completion(&attempt, &code, 80, "1017DONE0001"), t0())
            .unwrap();
        let other = book.complete(completion(&attempt, &code, 80, "1017DONE0002"), t0());

        assert!(matches!(
            above,
            Err(CompleteRefusal::Invalid {
                field: "totalAmt",
                ..
            })
        ));
        let is_auth_refusal = matches!(
            wrong_code,
            Err(CompleteRefusal::Invalid {
                field: "authIdRespCode",
                ..
            })
        );
        assert!(is_auth_refusal);
        assert_eq!(done.completion.amount, fen(80));
        assert_eq!(done.order.trade_status(), TradeStatus::TradeSuccess);
        assert_eq!(again.completion.plat_ssn, done.completion.plat_ssn);
        assert!(matches!(other, Err(CompleteRefusal::NotAllowed(_))));
        let found = book
            .find("1017DONE0001", t0())
            .map(|(o, v)| (o.id.clone(), v));
        assert_eq!(found, Some(("1017AUTH0001".into(), Via::Completion)));
        assert_eq!(
            book.find("1017AUTH0001", t0()).unwrap().0.refundable(),
            fen(80)
        );
    }

    #[test]
    fn only_an_authorised_pre_authorisation_can_be_completed() {
        let mut book = Book::new();
        book.bind_bill(bill("QR1", "1017PLAIN001", 100, false), t0())
            .unwrap();
        book.bind_bill(bill("QR2", "1017OPEN0001", 100, true), t0())
            .unwrap();
        let plain = pay(&mut book, "1017PLAIN001").unwrap();
        let code = "123456";

        let not_preauth = book.complete(completion(&plain.id, code, 1, "1017DONE0001"), t0());
        let unpaid = book.complete(completion("1017OPEN0001", code, 1, "1017DONE0002"), t0());
        let unknown = book.complete(completion("1017NOPE0001", code, 1, "1017DONE0003"), t0());
        let taken = book.complete(completion("1017OPEN0001", code, 1, "1017PLAIN001"), t0());

        assert!(matches!(not_preauth, Err(CompleteRefusal::NotAllowed(_))));
        assert!(matches!(unpaid, Err(CompleteRefusal::NotAllowed(_))));
        assert_eq!(unknown.unwrap_err(), CompleteRefusal::NoOrder);
        assert!(matches!(taken, Err(CompleteRefusal::Duplicate(_))));
    }

    #[test]
    fn an_authorisation_cannot_be_refunded_before_completion_but_can_be_released() {
        let mut book = Book::new();
        authorised(&mut book);

        let refund = book.refund("1017AUTH0001", fen(1), t0()).cloned();
        let closed = book.close("1017AUTH0001", t0()).cloned().unwrap();

        assert!(matches!(refund, Err(Refusal::Conflict(_))));
        assert_eq!(closed.trade_status(), TradeStatus::TradeClosed);
    }

    #[test]
    fn notices_count_attempts_and_acknowledgements() {
        let mut book = Book::new();
        book.bind_bill(bill("QR1", "1017BILL0001", 100, false), t0())
            .unwrap();
        let about = About::Order("1017BILL0001".into());
        book.add_notice(
            &about,
            NoticeLog::new("n1".into(), "PAID", Vec::new(), NoticeState::Pending),
        );

        book.note_attempt(&about, "n1", false);
        book.note_attempt(&about, "n1", true);

        let order = book.find("1017BILL0001", t0()).unwrap().0;
        assert_eq!(order.notices[0].attempts, 2);
        assert_eq!(order.notices[0].delivered, 1);
        assert_eq!(order.notices[0].state, NoticeState::Delivered);
    }

    #[test]
    fn expiry_must_be_ahead_and_within_90_days() {
        let mut book = Book::new();
        let mut past = bill("QR1", "1017BILL0001", 100, false);
        past.expire_at = Some(t0());
        let mut far = bill("QR1", "1017BILL0001", 100, false);
        far.expire_at = Some(t0() + Duration::days(91));

        let refused_past = book.bind_bill(past, t0()).map(|_| ());
        let refused_far = book.bind_bill(far, t0()).map(|_| ());

        assert!(matches!(
            refused_past,
            Err(Refusal::Invalid {
                field: "expireTime",
                ..
            })
        ));
        assert!(matches!(
            refused_far,
            Err(Refusal::Invalid {
                field: "expireTime",
                ..
            })
        ));
    }
}
