//! The sandbox's own truth, as the provider keeps it: bills bound to QR codes, mini-program
//! orders, their payments, refunds, closures and pre-authorisation completions, and the
//! journal of notifications sent for them. Owns every rule about what may happen to an
//! order; it must not read the clock (callers pass `now`), do I/O, or know HTTP.
//!
//! One file a job: `order` (the records and how a query reads them), `open` (new bills and
//! mini-program orders), `changes` (pay, refund, close, expire), `complete` (the
//! pre-authorisation's completion), `lookup` (finding an order by any of its ids),
//! `notices` (the journal of notifications and contract notices), `ids` (made-up ids).

mod changes;
mod complete;
#[cfg(test)]
mod fixtures;
pub mod ids;
mod lookup;
mod notices;
mod open;
mod order;

use std::collections::{BTreeMap, HashMap};

pub use changes::PayArgs;
pub use complete::CompleteArgs;
pub use lookup::Via;
pub use notices::{About, Event, NoticeFault, NoticeLog, NoticeState};
pub use open::{NewBill, NewMini};
pub use order::Order;
/// What the notification tests build an order from by hand.
#[cfg(test)]
pub use order::{Bill, Payment, Phase};

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
}
