//! What the buyer and the merchant do to an order after it is open: pay (with the payment
//! attempt's id and the wallet's order number it is found by), refund, close, and expire
//! on request. Owns the rule of which phase allows which change; it must not send a
//! notification (the caller announces the change).

use chrono::{DateTime, Utc};

use crate::domain::money::Amount;

use super::ids;
use super::lookup::Via;
use super::order::{CloseReason, Order, Payment, Phase};
use super::{conflict, Book, Refusal};

/// What the buyer does at `/_sandbox/orders/{id}/pay`.
#[derive(Clone, Debug)]
pub struct PayArgs {
    /// The amount paid; the order's amount when absent.
    pub amount: Option<Amount>,
    /// Pay with pre-authorisation; the order's `preauthTransaction` when absent.
    pub preauth: Option<bool>,
}

/// The wallet every sandbox payment comes from.
const TARGET_SYS: &str = "WXPay";

impl Book {
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
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::chinaums::status::{BillStatus, TradeStatus};
    use crate::sandbox::book::fixtures::{authorised, bill, fen, pay, t0};
    use crate::sandbox::book::open::DEFAULT_EXPIRY_MINUTES;

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

    #[test]
    fn an_authorisation_cannot_be_refunded_before_completion_but_can_be_released() {
        let mut book = Book::new();
        authorised(&mut book);

        let refund = book.refund("1017AUTH0001", fen(1), t0()).cloned();
        let closed = book.close("1017AUTH0001", t0()).cloned().unwrap();

        assert!(matches!(refund, Err(Refusal::Conflict(_))));
        assert_eq!(closed.trade_status(), TradeStatus::TradeClosed);
    }
}
