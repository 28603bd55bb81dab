//! The `deliveries`, `delivery_attempts` and `webhook_cursors` tables: which event is owed
//! to which webhook endpoint, each attempt, and how far each endpoint has taken the outbox.
//! Synchronous queries; it must not decide when to retry or give up (the `webhooks`
//! worker does), nor send anything.

use crate::store::Connection;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::schema::{deliveries, delivery_attempts, events, webhook_cursors};
use super::{from_ms, to_ms, StoreError};
use crate::domain::outbox::EventType;

const TABLE: &str = "deliveries";

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not delivered yet; attempted again at `next_attempt_at`.
    Pending,
    /// A 2xx answer was received.
    Delivered,
    /// The back-off ran out (an operator may redeliver).
    Failed,
}

impl DeliveryStatus {
    /// Every status.
    pub const ALL: [DeliveryStatus; 3] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
    ];

    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// Reads the spelling back.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// What one attempt came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// A 2xx answer within the timeout.
    Delivered,
    /// Any other answer.
    Refused,
    /// No answer: connection refused, reset, timed out.
    Unreachable,
}

impl AttemptOutcome {
    /// As stored, shown and counted.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Refused => "refused",
            AttemptOutcome::Unreachable => "unreachable",
        }
    }
}

/// Takes the events committed since `endpoint`'s cursor (at most `limit`) into pending
/// deliveries due at `now` — those of `kinds`, or all when empty — and moves the cursor
/// past them. A new endpoint starts at the first event: it misses nothing. Run in a write
/// transaction. Returns how many deliveries were added.
pub fn enqueue(
    conn: &mut Connection,
    endpoint: &str,
    kinds: &[EventType],
    now: DateTime<Utc>,
    limit: i64,
) -> Result<usize, StoreError> {
    super::lock_row(conn, super::Lockable::WebhookCursor(endpoint))?;
    let cursor: i64 = webhook_cursors::table
        .find(endpoint)
        .select(webhook_cursors::last_event_seq)
        .get_result(conn)
        .optional()?
        .unwrap_or(0);
    let new: Vec<(i64, String, Option<String>)> = events::table
        .filter(events::id.gt(cursor))
        .order(events::id.asc())
        .limit(limit)
        .select((events::id, events::kind, events::mer_order_id))
        .load(conn)?;
    let Some(last) = new.last().map(|e| e.0) else {
        return Ok(0);
    };
    let mut added = 0;
    for (seq, kind, order) in &new {
        let wanted = kinds.is_empty() || kinds.iter().any(|k| k.as_str() == kind);
        if wanted {
            added += per_backend!(conn, |c| diesel::insert_into(deliveries::table)
                .values((
                    deliveries::endpoint.eq(endpoint),
                    deliveries::event_seq.eq(seq),
                    deliveries::mer_order_id.eq(order),
                    deliveries::status.eq(DeliveryStatus::Pending.as_str()),
                    deliveries::next_attempt_at.eq(Some(to_ms(now))),
                    deliveries::created_at.eq(to_ms(now)),
                ))
                .on_conflict_do_nothing()
                .execute(c))?;
        }
    }
    per_backend!(conn, |c| diesel::insert_into(webhook_cursors::table)
        .values((
            webhook_cursors::endpoint.eq(endpoint),
            webhook_cursors::last_event_seq.eq(last),
        ))
        .on_conflict(webhook_cursors::endpoint)
        .do_update()
        .set(webhook_cursors::last_event_seq.eq(last))
        .execute(c))?;
    Ok(added)
}

/// A delivery to attempt now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The delivery's row.
    pub delivery_id: i64,
    /// The endpoint's URL.
    pub endpoint: String,
    /// The event's id (`webhook-id`).
    pub event_id: String,
    /// The event's body, as sent.
    pub body: String,
    /// When the event committed.
    pub committed_at: DateTime<Utc>,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// Claims the pending deliveries due at `now`, earliest event first, at most `limit`: each
/// one's `next_attempt_at` is moved to `lease_until`, so that another pass (of this
/// instance or another on the same database) does not send it while this one does. An
/// order's later event waits while an earlier one to the same endpoint is pending. Run in a
/// write transaction; on PostgreSQL the rows chosen are locked and rows another instance
/// is claiming are skipped.
pub fn claim_due(
    conn: &mut Connection,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Due>, StoreError> {
    let ids = match conn {
        Connection::Sqlite(c) => super::sqlite::due_deliveries(c, to_ms(now), limit)?,
        Connection::Pg(c) => super::postgres::due_deliveries(c, to_ms(now), limit)?,
    };
    // Only the rows still due are taken: an instance that selected the same rows at the
    // same moment (on PostgreSQL, where writers do not queue behind one lock) finds them
    // leased once this claim commits, and sends none of them.
    let ids: Vec<i64> = diesel::update(
        deliveries::table
            .filter(deliveries::id.eq_any(&ids))
            .filter(deliveries::status.eq(DeliveryStatus::Pending.as_str()))
            .filter(deliveries::next_attempt_at.le(to_ms(now))),
    )
    .set(deliveries::next_attempt_at.eq(Some(to_ms(lease_until))))
    .returning(deliveries::id)
    .get_results(conn)?;
    let rows: Vec<(i64, String, i32, String, String, i64)> = deliveries::table
        .inner_join(events::table)
        .filter(deliveries::id.eq_any(&ids))
        .order(deliveries::event_seq.asc())
        .select((
            deliveries::id,
            deliveries::endpoint,
            deliveries::attempts,
            events::event_id,
            events::body,
            events::created_at,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, endpoint, attempts, event_id, body, created)| {
            Ok(Due {
                committed_at: from_ms(TABLE, &id.to_string(), created)?,
                attempts: u32::try_from(attempts)
                    .map_err(|_| StoreError::corrupt(TABLE, id.to_string(), "attempts"))?,
                delivery_id: id,
                endpoint,
                event_id,
                body,
            })
        })
        .collect()
}

/// One attempt, as recorded.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    /// When it started.
    pub at: DateTime<Utc>,
    /// The answer's status code, if there was an answer.
    pub status_code: Option<u16>,
    /// How long it took, milliseconds.
    pub latency_ms: i64,
    /// What it came to.
    pub outcome: AttemptOutcome,
    /// The first bytes of the answer, or why there was none.
    pub excerpt: &'a str,
}

/// Records an attempt of delivery `id` and where the delivery stands after it: delivered,
/// pending again at `next` (`Some`), or failed (`None` and not delivered).
pub fn record_attempt(
    conn: &mut Connection,
    id: i64,
    attempt: &Attempt<'_>,
    next: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    let code = attempt.status_code.map(i32::from);
    diesel::insert_into(delivery_attempts::table)
        .values((
            delivery_attempts::delivery_id.eq(id),
            delivery_attempts::at.eq(to_ms(attempt.at)),
            delivery_attempts::status_code.eq(code),
            delivery_attempts::latency_ms.eq(attempt.latency_ms),
            delivery_attempts::outcome.eq(attempt.outcome.as_str()),
            delivery_attempts::excerpt.eq(attempt.excerpt),
        ))
        .execute(conn)?;
    let delivered = attempt.outcome == AttemptOutcome::Delivered;
    let status = match (delivered, next) {
        (true, _) => DeliveryStatus::Delivered,
        (false, Some(_)) => DeliveryStatus::Pending,
        (false, None) => DeliveryStatus::Failed,
    };
    diesel::update(deliveries::table.find(id))
        .set((
            deliveries::status.eq(status.as_str()),
            deliveries::attempts.eq(deliveries::attempts + 1),
            deliveries::next_attempt_at.eq(if delivered { None } else { next.map(to_ms) }),
            deliveries::last_attempt_at.eq(Some(to_ms(attempt.at))),
            deliveries::last_status_code.eq(code),
            deliveries::last_latency_ms.eq(Some(attempt.latency_ms)),
            deliveries::last_excerpt.eq(Some(attempt.excerpt)),
            deliveries::delivered_at.eq(delivered.then(|| to_ms(attempt.at))),
        ))
        .execute(conn)?;
    Ok(())
}

/// One attempt as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRow {
    /// When.
    pub at: DateTime<Utc>,
    /// The answer's status code.
    pub status_code: Option<i32>,
    /// Milliseconds.
    pub latency_ms: i64,
    /// `delivered`, `refused`, `unreachable`.
    pub outcome: String,
    /// The first bytes of the answer, or why there was none.
    pub excerpt: Option<String>,
}

/// A delivery as listed, with its attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its row.
    pub id: i64,
    /// The endpoint's URL.
    pub endpoint: String,
    /// The event (`evt_…`).
    pub event_id: String,
    /// The event's type.
    pub kind: String,
    /// The order, for an order's event.
    pub mer_order_id: Option<String>,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: i32,
    /// When the next attempt may start (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When a 2xx was received.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Each attempt, oldest first.
    pub history: Vec<AttemptRow>,
}

type ListRow = (
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
    i32,
    Option<i64>,
    Option<i64>,
);

/// Deliveries (of `status`, or all), newest first, at most `limit`, with their attempts.
pub fn list(
    conn: &mut Connection,
    status: Option<DeliveryStatus>,
    limit: i64,
) -> Result<Vec<Delivery>, StoreError> {
    let mut q = listed().into_boxed();
    if let Some(s) = status {
        q = q.filter(deliveries::status.eq(s.as_str()));
    }
    let rows: Vec<ListRow> = q.order(deliveries::id.desc()).limit(limit).load(conn)?;
    with_history(conn, rows)
}

/// The deliveries of one order's events (to every endpoint), newest first, at most
/// `limit`, with their attempts. Read through the `(endpoint, event_seq)` key: every
/// endpoint that has a delivery has a cursor (both are written in one transaction), and
/// the order's events come from their own index, so no other order's row is read.
pub fn of_order(
    conn: &mut Connection,
    order: &str,
    limit: i64,
) -> Result<Vec<Delivery>, StoreError> {
    let endpoints: Vec<String> = webhook_cursors::table
        .select(webhook_cursors::endpoint)
        .load(conn)?;
    let seqs: Vec<i64> = events::table
        .filter(events::mer_order_id.eq(order))
        .select(events::id)
        .load(conn)?;
    let rows: Vec<ListRow> = listed()
        .filter(deliveries::endpoint.eq_any(endpoints))
        .filter(deliveries::event_seq.eq_any(seqs))
        .order(deliveries::id.desc())
        .limit(limit)
        .load(conn)?;
    with_history(conn, rows)
}

/// One delivery's event id (what [`redeliver_event`] takes) and order, if there is such a
/// delivery.
pub fn event_of(
    conn: &mut Connection,
    delivery: i64,
) -> Result<Option<(String, Option<String>)>, StoreError> {
    Ok(deliveries::table
        .inner_join(events::table)
        .filter(deliveries::id.eq(delivery))
        .select((events::event_id, deliveries::mer_order_id))
        .get_result(conn)
        .optional()?)
}

#[expect(clippy::type_complexity, reason = "diesel's select tuple")]
fn listed() -> diesel::dsl::Select<
    diesel::dsl::InnerJoin<deliveries::table, events::table>,
    (
        deliveries::id,
        deliveries::endpoint,
        events::event_id,
        events::kind,
        deliveries::mer_order_id,
        deliveries::status,
        deliveries::attempts,
        deliveries::next_attempt_at,
        deliveries::delivered_at,
    ),
> {
    deliveries::table.inner_join(events::table).select((
        deliveries::id,
        deliveries::endpoint,
        events::event_id,
        events::kind,
        deliveries::mer_order_id,
        deliveries::status,
        deliveries::attempts,
        deliveries::next_attempt_at,
        deliveries::delivered_at,
    ))
}

/// Listed rows with their attempts, parsed.
fn with_history(conn: &mut Connection, rows: Vec<ListRow>) -> Result<Vec<Delivery>, StoreError> {
    rows.into_iter()
        .map(
            |(id, endpoint, event_id, kind, order, status, attempts, next, done)| {
                let key = id.to_string();
                let time = |ms: i64| from_ms(TABLE, &key, ms);
                let history = delivery_attempts::table
                    .filter(delivery_attempts::delivery_id.eq(id))
                    .order(delivery_attempts::id.asc())
                    .select((
                        delivery_attempts::at,
                        delivery_attempts::status_code,
                        delivery_attempts::latency_ms,
                        delivery_attempts::outcome,
                        delivery_attempts::excerpt,
                    ))
                    .load::<(i64, Option<i32>, i64, String, Option<String>)>(conn)?
                    .into_iter()
                    .map(|(at, status_code, latency_ms, outcome, excerpt)| {
                        Ok(AttemptRow {
                            at: time(at)?,
                            status_code,
                            latency_ms,
                            outcome,
                            excerpt,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                Ok(Delivery {
                    status: DeliveryStatus::parse(&status)
                        .ok_or_else(|| StoreError::corrupt(TABLE, key.clone(), "status"))?,
                    next_attempt_at: next.map(time).transpose()?,
                    delivered_at: done.map(time).transpose()?,
                    id,
                    endpoint,
                    event_id,
                    kind,
                    mer_order_id: order,
                    attempts,
                    history,
                })
            },
        )
        .collect()
}

/// Makes every delivery of event `event_id` pending again, due at `now`, with a fresh
/// back-off (its attempts so far stay in the history). Returns how many.
pub fn redeliver_event(
    conn: &mut Connection,
    event_id: &str,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let seqs = events::table
        .filter(events::event_id.eq(event_id))
        .select(events::id);
    Ok(
        diesel::update(deliveries::table.filter(deliveries::event_seq.eq_any(seqs)))
            .set(again(now))
            .execute(conn)?,
    )
}

/// Makes every failed delivery of an event committed at or after `since` pending again,
/// due at `now`. Returns how many.
pub fn redeliver_failed_since(
    conn: &mut Connection,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let seqs = events::table
        .filter(events::created_at.ge(to_ms(since)))
        .select(events::id);
    Ok(diesel::update(
        deliveries::table
            .filter(deliveries::status.eq(DeliveryStatus::Failed.as_str()))
            .filter(deliveries::event_seq.eq_any(seqs)),
    )
    .set(again(now))
    .execute(conn)?)
}

#[expect(clippy::type_complexity, reason = "diesel's changeset tuple")]
fn again(
    now: DateTime<Utc>,
) -> (
    diesel::dsl::Eq<deliveries::status, &'static str>,
    diesel::dsl::Eq<deliveries::attempts, i32>,
    diesel::dsl::Eq<deliveries::next_attempt_at, Option<i64>>,
    diesel::dsl::Eq<deliveries::delivered_at, Option<i64>>,
) {
    (
        deliveries::status.eq(DeliveryStatus::Pending.as_str()),
        deliveries::attempts.eq(0),
        deliveries::next_attempt_at.eq(Some(to_ms(now))),
        deliveries::delivered_at.eq(None),
    )
}

/// Per endpoint: how many deliveries are not delivered yet (pending or failed), and when
/// the oldest of their events committed.
pub fn undelivered(conn: &mut Connection) -> Result<Vec<(String, i64, DateTime<Utc>)>, StoreError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        endpoint: String,
        #[diesel(sql_type = BigInt)]
        n: i64,
        #[diesel(sql_type = BigInt)]
        oldest: i64,
    }
    diesel::sql_query(
        "SELECT d.endpoint AS endpoint, COUNT(*) AS n, MIN(e.created_at) AS oldest \
         FROM deliveries d JOIN events e ON e.id = d.event_seq \
         WHERE d.status != 'delivered' GROUP BY d.endpoint",
    )
    .load::<Row>(conn)?
    .into_iter()
    .map(|r| {
        Ok((
            r.endpoint.clone(),
            r.n,
            from_ms(TABLE, &r.endpoint, r.oldest)?,
        ))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chinaums::status::BillStatus;
    use crate::domain::money::Amount;
    use crate::domain::observe::{Observation, Timing};
    use crate::domain::order::{Evidence, Report, Source};
    use crate::domain::record::ProviderFacts;
    use crate::store::orders::tests::new_order;
    use crate::store::orders::{apply, create};
    use crate::store::testing::temp_db;

    const HOOK: &str = "http://127.0.0.1:9/hook";

    fn delivered(at: DateTime<Utc>) -> Attempt<'static> {
        Attempt {
            at,
            status_code: Some(204),
            latency_ms: 3,
            outcome: AttemptOutcome::Delivered,
            excerpt: "",
        }
    }

    #[test]
    fn an_orders_later_event_waits_for_the_earlier_one_and_each_is_claimed_once() {
        // Arrange: an order created then paid: two events, two deliveries.
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        let order = new_order("d");
        create(&mut conn, &order).unwrap();
        let now = order.created_at;
        let mut evidence = Evidence::of(Report::Bill(BillStatus::Paid));
        evidence.amount = Some(Amount::from_fen(100).unwrap());
        let paid = Observation::report(evidence, ProviderFacts::default(), Source::Notify, None);
        let timing = Timing {
            expiry_grace: std::time::Duration::from_secs(120),
            backoff: vec![std::time::Duration::from_secs(30)],
            settled_backoff: Vec::new(),
        };
        apply(&mut conn, &order.id, &paid, &timing, now).unwrap();
        assert_eq!(enqueue(&mut conn, HOOK, &[], now, 100).unwrap(), 2);
        assert_eq!(enqueue(&mut conn, HOOK, &[], now, 100).unwrap(), 0);
        let lease = now + chrono::Duration::seconds(20);

        // Act and Assert: only the first is due; claimed, it is not claimed again.
        let first = claim_due(&mut conn, now, lease, 100).unwrap();
        assert_eq!(first.len(), 1);
        assert!(first[0].body.contains("order.created"));
        assert!(claim_due(&mut conn, now, lease, 100).unwrap().is_empty());
        record_attempt(&mut conn, first[0].delivery_id, &delivered(now), None).unwrap();
        let second = claim_due(&mut conn, now, lease, 100).unwrap();
        assert_eq!(second.len(), 1);
        assert!(second[0].body.contains("order.paid"));
    }

    #[test]
    fn an_endpoint_with_an_event_filter_gets_only_those_events() {
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        let order = new_order("d");
        create(&mut conn, &order).unwrap();

        let added = enqueue(
            &mut conn,
            HOOK,
            &[EventType::OrderPaid],
            order.created_at,
            100,
        )
        .unwrap();

        assert_eq!(added, 0);
        assert!(list(&mut conn, None, 10).unwrap().is_empty());
    }
}
