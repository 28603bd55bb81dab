//! The book's journal of notices: what a payment notification or a contract notice tells
//! (`Event`, `About`), the faults it was given and how its deliveries went (`NoticeLog`).
//! It only counts what the delivery reports; it must not send anything or decide whether a
//! notice is sent.

use super::Book;

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

impl Book {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::book::fixtures::{bill, t0};

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
}
