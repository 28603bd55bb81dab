//! The long-poll's waiting room: callers waiting for an order to change
//! (`GET /orders/{id}?wait=`) and the wake that every path gives after it commits a
//! change (`Gateway::resolved`, called by `Gateway::observe` and by notification intake).
//! A bounded number of waiters; one `Notify` per order that someone waits on. It must not
//! read or change an order itself: the handler reads, this only says "look again".

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use crate::domain::ids::MerOrderId;
use crate::domain::record::Order;
use crate::flows::Gateway;
use crate::store::{orders, StoreError};

/// Who waits on which order.
#[derive(Debug)]
pub struct Watchers {
    waiting: Mutex<Waiting>,
    max: usize,
}

#[derive(Debug, Default)]
struct Waiting {
    /// One `Notify` per order waited on, with how many wait on it.
    orders: HashMap<String, (Arc<Notify>, usize)>,
    /// Waiters in all.
    total: usize,
}

/// One caller's place in the waiting room; leaving it (drop) frees the place.
#[derive(Debug)]
pub struct Seat<'a> {
    watchers: &'a Watchers,
    key: String,
    notify: Arc<Notify>,
}

impl Watchers {
    /// A waiting room for at most `max` waiters at once.
    pub fn new(max: usize) -> Self {
        Watchers {
            waiting: Mutex::new(Waiting::default()),
            max,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        // The map stays consistent whatever panicked while holding it.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A seat to wait on `id`, or `None` when the room is full.
    pub fn enter(&self, id: &MerOrderId) -> Option<Seat<'_>> {
        let mut w = self.lock();
        if w.total >= self.max {
            return None;
        }
        w.total += 1;
        let entry = w
            .orders
            .entry(id.as_str().to_owned())
            .or_insert_with(|| (Arc::new(Notify::new()), 0));
        entry.1 += 1;
        let notify = entry.0.clone();
        Some(Seat {
            watchers: self,
            key: id.as_str().to_owned(),
            notify,
        })
    }

    /// Wakes everyone waiting on `id` (after a change of it committed).
    pub fn wake(&self, id: &MerOrderId) {
        if let Some((notify, _)) = self.lock().orders.get(id.as_str()) {
            notify.notify_waiters();
        }
    }

    /// How many wait now.
    pub fn waiting(&self) -> usize {
        self.lock().total
    }
}

impl Drop for Seat<'_> {
    fn drop(&mut self) {
        let mut w = self.watchers.lock();
        w.total = w.total.saturating_sub(1);
        if let Some(entry) = w.orders.get_mut(&self.key) {
            entry.1 = entry.1.saturating_sub(1);
            if entry.1 == 0 {
                w.orders.remove(&self.key);
            }
        }
    }
}

/// What a long-poll came to.
#[derive(Debug)]
pub enum Waited {
    /// The order (changed, already past `after`, or as it is at the end of the wait).
    Order(Box<Order>),
    /// No such order.
    NotFound,
    /// Too many waiters already.
    Full,
}

/// Whether `order` is already what the caller waits for: a version above `after`, or,
/// without `after`, a final status (no longer awaiting the provider).
fn ready(order: &Order, after: Option<i64>) -> bool {
    match after {
        Some(v) => order.version > v,
        None => !order.status.awaits_provider(),
    }
}

/// Answers the order `id` as soon as it is ready (see [`ready`]), or as it is after `wait`.
/// A change committed between the read and the wait is not missed: the seat listens
/// before each read.
pub async fn wait_for(
    gw: &Gateway,
    id: &MerOrderId,
    after: Option<i64>,
    wait: Duration,
) -> Result<Waited, StoreError> {
    let Some(seat) = gw.watchers.enter(id) else {
        return Ok(Waited::Full);
    };
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    loop {
        let changed = seat.notify.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let key = id.clone();
        let Some(order) = gw.db.run(move |c| orders::find(c, &key)).await? else {
            return Ok(Waited::NotFound);
        };
        if ready(&order, after) || deadline.is_elapsed() {
            return Ok(Waited::Order(Box::new(order)));
        }
        tokio::select! {
            () = &mut changed => {}
            () = &mut deadline => {}
        }
    }
}
