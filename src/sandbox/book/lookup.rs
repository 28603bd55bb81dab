//! How the book finds an order: by its own id or by any id that refers to it (a payment
//! attempt's, a completion's, a wallet order number). Finding an order closes it first if
//! it expired unpaid; it must not change an order otherwise.

use chrono::{DateTime, Utc};

use super::order::Order;
use super::{Book, Refusal};

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

impl Book {
    /// Whether an id is taken by an order, attempt or completion.
    pub(super) fn id_taken(&self, id: &str) -> bool {
        self.orders.contains_key(id) || self.refs.contains_key(id)
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
    pub(super) fn own(&mut self, id: &str, now: DateTime<Utc>) -> Result<&mut Order, Refusal> {
        let order = self
            .orders
            .get_mut(id)
            .ok_or_else(|| Refusal::NotFound(id.to_owned()))?;
        order.refresh(now);
        Ok(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::book::fixtures::{bill, pay, t0};

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
}
