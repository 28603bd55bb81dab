//! The long-poll's waiting room: callers waiting for an order to change
//! (`GET /orders/{id}?wait=`) and the wake that every path gives after it commits a
//! change (`Gateway::resolved`, called by `Gateway::observe` and by notification intake).
//! A bounded number of waiters; one `Notify` per order that someone waits on. A change
//! committed by another instance on the same database reaches no `resolved` here, so
//! [`follow`] looks at the waited orders' versions every [`FOLLOW_EVERY`] while anyone
//! waits (and not at all when no one does). It must not change an order: the handler
//! reads, this only says "look again".

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use crate::domain::ids::MerOrderId;
use crate::domain::record::Order;
use crate::flows::Gateway;
use crate::store::{orders, StoreError};

/// How often [`follow`] looks for changes committed by other instances while someone
/// waits: a long-poll answers within this much of another instance's commit, for one
/// indexed read of the waited orders' versions per look.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(5);

/// Who waits on which order.
#[derive(Debug)]
pub struct Watchers {
    waiting: Mutex<Waiting>,
    max: usize,
    /// Fired when a waiter sits down, so that [`follow`] sleeps while no one waits.
    entered: Arc<Notify>,
}

#[derive(Debug, Default)]
struct Waiting {
    /// One entry per order waited on.
    orders: HashMap<String, Watched>,
    /// Waiters in all.
    total: usize,
}

/// The waiters of one order.
#[derive(Debug)]
struct Watched {
    notify: Arc<Notify>,
    /// How many wait on it.
    count: usize,
    /// The highest version a waiter read or [`follow`] found: a higher one is news.
    seen: Option<i64>,
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
            entered: Arc::new(Notify::new()),
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
            .or_insert_with(|| Watched {
                notify: Arc::new(Notify::new()),
                count: 0,
                seen: None,
            });
        entry.count += 1;
        let notify = entry.notify.clone();
        drop(w);
        self.entered.notify_one();
        Some(Seat {
            watchers: self,
            key: id.as_str().to_owned(),
            notify,
        })
    }

    /// Wakes everyone waiting on `id` (after a change of it committed).
    pub fn wake(&self, id: &MerOrderId) {
        if let Some(waited) = self.lock().orders.get(id.as_str()) {
            waited.notify.notify_waiters();
        }
    }

    /// Records that `version` of `key` was read (by a waiter or by [`follow`]); a version
    /// above the highest seen so far wakes the order's waiters, who may have read less.
    fn saw(&self, key: &str, version: i64) {
        if let Some(waited) = self.lock().orders.get_mut(key) {
            match waited.seen {
                Some(seen) if seen >= version => {}
                before => {
                    waited.seen = Some(version);
                    if before.is_some() {
                        waited.notify.notify_waiters();
                    }
                }
            }
        }
    }

    /// The orders waited on now.
    fn waited(&self) -> Vec<String> {
        self.lock().orders.keys().cloned().collect()
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
            entry.count = entry.count.saturating_sub(1);
            if entry.count == 0 {
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
        gw.watchers.saw(id.as_str(), order.version);
        if ready(&order, after) || deadline.is_elapsed() {
            return Ok(Waited::Order(Box::new(order)));
        }
        tokio::select! {
            () = &mut changed => {}
            () = &mut deadline => {}
        }
    }
}

/// Wakes the waiters of orders changed by another instance: while anyone waits, reads the
/// waited orders' versions every [`FOLLOW_EVERY`] and wakes those above what was seen;
/// while no one waits, sleeps until someone does. Ends when the gateway is gone. A failed
/// read is logged once per run of failures: the waiters still have their own deadline and
/// this instance's wakes.
pub async fn follow(gw: Weak<Gateway>) {
    let mut failing = false;
    loop {
        let idle = {
            let Some(gw) = gw.upgrade() else { return };
            let waited = gw.watchers.waited();
            if waited.is_empty() {
                Some(gw.watchers.entered.clone())
            } else {
                match gw.db.run(move |c| orders::versions(c, &waited)).await {
                    Ok(versions) => {
                        failing = false;
                        for (key, version) in versions {
                            gw.watchers.saw(&key, version);
                        }
                    }
                    Err(e) if !failing => {
                        failing = true;
                        log::warn!("long-poll: reading the waited orders failed: {e}");
                    }
                    Err(_) => {}
                }
                None
            }
        };
        match idle {
            // A waiter who sat down since the look left a permit: no wake is lost.
            Some(entered) => entered.notified().await,
            None => tokio::time::sleep(FOLLOW_EVERY).await,
        }
    }
}
