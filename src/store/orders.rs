//! The `orders` table: creation, reads, listing, and the one write path for a status,
//! [`apply`], which runs the state machine and stores its decision with a compare-and-set on
//! `version`. It must not change a status any other way.

use crate::store::Connection;
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::orders;
use super::{events, from_ms, outbox, to_ms, StoreError};
use crate::domain::ids::MerOrderId;
use crate::domain::money::Amount;
use crate::domain::observe::{Change, Observation, Timing};
use crate::domain::order::{OrderStatus, Source};
use crate::domain::outbox::{event_type, EventType};
use crate::domain::record::{Binding, CheckSchedule, Order, ProviderFacts, Review};

const TABLE: &str = "orders";

/// An `orders` row as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = orders, primary_key(mer_order_id), treat_none_as_null = true)]
#[diesel(check_for_backend(crate::store::MultiBackend))]
pub struct OrderRow {
    mer_order_id: String,
    mid: String,
    tid: String,
    inst_mid: String,
    qr_code_id: Option<String>,
    bill_qr_code: Option<String>,
    binding: String,
    binding_error: Option<String>,
    amount_fen: i64,
    paid_amount_fen: Option<i64>,
    description: Option<String>,
    status: String,
    provider_status: Option<String>,
    refunded_amount_fen: i64,
    seq_id: Option<String>,
    target_order_id: Option<String>,
    target_sys: Option<String>,
    pay_time: Option<String>,
    settle_date: Option<String>,
    auth_id_resp_code: Option<String>,
    completion_order_id: Option<String>,
    preauth: bool,
    expire_at: i64,
    review_reason: Option<String>,
    check_attempts: i32,
    next_check_at: Option<i64>,
    last_checked_at: Option<i64>,
    request_digest: String,
    created_at: i64,
    updated_at: i64,
    version: i64,
    review_flagged_at: Option<i64>,
}

impl From<&Order> for OrderRow {
    fn from(o: &Order) -> Self {
        OrderRow {
            mer_order_id: o.id.as_str().to_owned(),
            mid: o.mid.clone(),
            tid: o.tid.clone(),
            inst_mid: o.inst_mid.clone(),
            qr_code_id: o.qr_code_id.clone(),
            bill_qr_code: o.bill_qr_code.clone(),
            binding: o.binding.as_str().to_owned(),
            binding_error: o.binding_error.clone(),
            amount_fen: o.amount.fen(),
            paid_amount_fen: o.paid_amount.map(Amount::fen),
            description: o.description.clone(),
            status: o.status.as_str().to_owned(),
            provider_status: o.facts.provider_status.clone(),
            refunded_amount_fen: o.refunded.fen(),
            seq_id: o.facts.seq_id.clone(),
            target_order_id: o.facts.target_order_id.clone(),
            target_sys: o.facts.target_sys.clone(),
            pay_time: o.facts.pay_time.clone(),
            settle_date: o.facts.settle_date.clone(),
            auth_id_resp_code: o.facts.auth_id_resp_code.clone(),
            completion_order_id: o.completion_order_id.clone(),
            preauth: o.preauth,
            expire_at: to_ms(o.expire_at),
            review_reason: o.review.as_ref().map(|r| r.reason.clone()),
            review_flagged_at: o.review.as_ref().map(|r| to_ms(r.since)),
            // Attempts are bounded by the back-off list's length; saturate rather than wrap.
            check_attempts: i32::try_from(o.schedule.attempts).unwrap_or(i32::MAX),
            next_check_at: o.schedule.next_check_at.map(to_ms),
            last_checked_at: o.schedule.last_checked_at.map(to_ms),
            request_digest: o.request_digest.clone(),
            created_at: to_ms(o.created_at),
            updated_at: to_ms(o.updated_at),
            version: o.version,
        }
    }
}

impl TryFrom<OrderRow> for Order {
    type Error = StoreError;

    fn try_from(r: OrderRow) -> Result<Self, Self::Error> {
        let key = r.mer_order_id.clone();
        let bad = |what: &str| StoreError::corrupt(TABLE, key.clone(), what);
        let money =
            |fen: i64, what: &str| Amount::from_fen(fen).map_err(|e| bad(&format!("{what}: {e}")));
        let time = |ms: i64| from_ms(TABLE, &key, ms);
        Ok(Order {
            id: MerOrderId::parse_stored(&r.mer_order_id).map_err(|e| bad(&format!("id: {e}")))?,
            binding: Binding::parse(&r.binding).ok_or_else(|| bad("binding"))?,
            amount: Amount::payment(r.amount_fen, i64::MAX)
                .map_err(|e| bad(&format!("amount: {e}")))?,
            paid_amount: r
                .paid_amount_fen
                .map(|f| money(f, "paid amount"))
                .transpose()?,
            refunded: money(r.refunded_amount_fen, "refunded amount")?,
            status: OrderStatus::parse(&r.status).ok_or_else(|| bad("status"))?,
            expire_at: time(r.expire_at)?,
            schedule: CheckSchedule {
                attempts: u32::try_from(r.check_attempts).map_err(|_| bad("check_attempts"))?,
                next_check_at: r.next_check_at.map(time).transpose()?,
                last_checked_at: r.last_checked_at.map(time).transpose()?,
            },
            created_at: time(r.created_at)?,
            updated_at: time(r.updated_at)?,
            facts: ProviderFacts {
                provider_status: r.provider_status,
                seq_id: r.seq_id,
                target_order_id: r.target_order_id,
                target_sys: r.target_sys,
                pay_time: r.pay_time,
                settle_date: r.settle_date,
                auth_id_resp_code: r.auth_id_resp_code,
            },
            mid: r.mid,
            tid: r.tid,
            inst_mid: r.inst_mid,
            qr_code_id: r.qr_code_id,
            bill_qr_code: r.bill_qr_code,
            binding_error: r.binding_error,
            description: r.description,
            completion_order_id: r.completion_order_id,
            preauth: r.preauth,
            review: match (r.review_reason, r.review_flagged_at) {
                (Some(reason), Some(at)) => Some(Review {
                    reason,
                    since: time(at)?,
                }),
                (None, None) => None,
                _ => return Err(bad("review: a reason needs a time and a time a reason")),
            },
            request_digest: r.request_digest,
            version: r.version,
        })
    }
}

fn parse_rows(rows: Vec<OrderRow>) -> Result<Vec<Order>, StoreError> {
    rows.into_iter().map(Order::try_from).collect()
}

/// What a create did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// A new order.
    New(Order),
    /// The same request was made before: here is that order.
    Existing(Order),
    /// The id is taken by a different request.
    Conflict(Order),
}

/// Creates `order` (version 1, with its history entry and its `order.created` event)
/// unless its id exists. Run inside a write transaction. The primary key decides: a
/// create racing another of the same id (another instance, on PostgreSQL) waits for it
/// and then finds its order.
pub fn create(conn: &mut Connection, order: &Order) -> Result<Created, StoreError> {
    let row = OrderRow::from(order);
    let inserted = per_backend!(conn, |c| diesel::insert_into(orders::table)
        .values(&row)
        .on_conflict_do_nothing()
        .execute(c))?;
    if inserted == 0 {
        let existing = find(conn, &order.id)?
            .ok_or_else(|| StoreError::corrupt(TABLE, order.id.as_str(), "vanished"))?;
        return Ok(if existing.request_digest == order.request_digest {
            Created::Existing(existing)
        } else {
            Created::Conflict(existing)
        });
    }
    events::insert(
        conn,
        &events::NewEvent {
            order: &order.id,
            from: None,
            to: order.status,
            source: Source::Api,
            evidence: None,
            reason: Some("created"),
            operator: None,
            note: None,
            at: order.created_at,
        },
    )?;
    outbox::record_order(conn, EventType::OrderCreated, order, order.created_at)?;
    Ok(Created::New(order.clone()))
}

/// The order with this id.
///
/// `get_result`, not `first`: a key lookup has at most one row, and `first` binds its
/// `LIMIT` as a parameter, which SQLite (3.47+) plans by value and so re-prepares on every
/// bind: diesel's statement cache would never hit, on the hottest query there is
/// (BENCHMARKS.md, *Where the time goes*).
pub fn find(conn: &mut Connection, id: &MerOrderId) -> Result<Option<Order>, StoreError> {
    orders::table
        .find(id.as_str())
        .select(OrderRow::as_select())
        .get_result(conn)
        .optional()?
        .map(Order::try_from)
        .transpose()
}

/// The stored version of each of `ids` that exists (for the long-poll's look across
/// instances: a version above the one a waiter saw is a change it must be woken for).
pub fn versions(conn: &mut Connection, ids: &[String]) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(orders::table
        .filter(orders::mer_order_id.eq_any(ids))
        .select((orders::mer_order_id, orders::version))
        .load(conn)?)
}

/// Filters for [`list`].
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only these statuses (all when empty).
    pub statuses: Vec<OrderStatus>,
    /// Only orders created at or after this.
    pub created_since: Option<DateTime<Utc>>,
    /// Only orders flagged (or not) for review.
    pub needs_review: Option<bool>,
    /// Keyset cursor: ids after this one.
    pub after: Option<String>,
    /// Page size.
    pub limit: i64,
}

/// A page of orders in id order.
pub fn list(conn: &mut Connection, f: &ListFilter) -> Result<Vec<Order>, StoreError> {
    let mut q = orders::table.select(OrderRow::as_select()).into_boxed();
    if !f.statuses.is_empty() {
        q = q.filter(orders::status.eq_any(f.statuses.iter().map(|s| s.as_str())));
    }
    if let Some(t) = f.created_since {
        q = q.filter(orders::created_at.ge(to_ms(t)));
    }
    match f.needs_review {
        Some(true) => q = q.filter(orders::review_flagged_at.is_not_null()),
        Some(false) => q = q.filter(orders::review_flagged_at.is_null()),
        None => {}
    }
    if let Some(after) = &f.after {
        q = q.filter(orders::mer_order_id.gt(after.clone()));
    }
    parse_rows(
        q.order(orders::mer_order_id.asc())
            .limit(f.limit)
            .load(conn)?,
    )
}

/// How many orders there are in each status (every status listed, zeros included).
pub fn count_by_status(conn: &mut Connection) -> Result<Vec<(OrderStatus, i64)>, StoreError> {
    let rows: Vec<(String, i64)> = orders::table
        .group_by(orders::status)
        .select((orders::status, diesel::dsl::count_star()))
        .load(conn)?;
    OrderStatus::ALL
        .into_iter()
        .map(|s| {
            let n = rows
                .iter()
                .find(|(name, _)| name == s.as_str())
                .map_or(0, |(_, n)| *n);
            Ok((s, n))
        })
        .collect()
}

/// Claims the orders awaiting the provider whose next check is due at `now`, earliest
/// first, at most `limit`, for one pass of this instance. Settled orders have no
/// `next_check_at`, so the partial index `orders_due` holds only the orders that can be
/// due: the cost grows with them, not with the table. Claimed: each one's `next_check_at` moves to `lease_until`, in one update that
/// takes only the rows still due, so that another instance's pass over the same database
/// skips them while this one asks the provider. The check that follows writes the order's
/// real next check; an instance that dies mid-pass leaves `lease_until`, and the order is
/// due again, for any instance, when the lease runs out. Run in a write transaction: on
/// SQLite the writer lock orders claims; on PostgreSQL a concurrent claim of the same row
/// waits for this one's commit and then finds the row no longer due.
pub fn claim_due(
    conn: &mut Connection,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Claimed, StoreError> {
    let due: Vec<String> = orders::table
        .filter(orders::next_check_at.is_not_null())
        .filter(orders::next_check_at.le(to_ms(now)))
        .order((orders::next_check_at.asc(), orders::mer_order_id.asc()))
        .limit(limit)
        .select(orders::mer_order_id)
        .load(conn)?;
    let claimed: Vec<String> = diesel::update(
        orders::table
            .filter(orders::mer_order_id.eq_any(&due))
            .filter(orders::next_check_at.le(to_ms(now))),
    )
    .set(orders::next_check_at.eq(to_ms(lease_until)))
    .returning(orders::mer_order_id)
    .get_results(conn)?;
    let mut claimed = parse_rows(
        orders::table
            .filter(orders::mer_order_id.eq_any(&claimed))
            .select(OrderRow::as_select())
            .load(conn)?,
    )?;
    // Earliest due first, as `due` ordered them.
    claimed.sort_by_key(|o| due.iter().position(|id| id == o.id.as_str()));
    Ok(Claimed {
        due: due.len(),
        orders: claimed,
    })
}

/// What [`claim_due`] took.
#[derive(Debug)]
pub struct Claimed {
    /// How many orders were due when it looked (some may have gone to another instance's
    /// claim in the meantime: none due means none left).
    pub due: usize,
    /// The orders claimed, earliest due first.
    pub orders: Vec<Order>,
}

/// Age buckets of orders awaiting the provider, with their upper bound in seconds: a
/// healthy gateway has almost all of them in the first two.
pub const AGE_BUCKETS: [(&str, i64); 6] = [
    ("lt_1m", 60),
    ("lt_5m", 300),
    ("lt_30m", 1800),
    ("lt_2h", 7200),
    ("lt_24h", 86_400),
    ("ge_24h", i64::MAX),
];

/// How many orders awaiting the provider fall in each of [`AGE_BUCKETS`] at `now`.
pub fn awaiting_by_age(
    conn: &mut Connection,
    now: DateTime<Utc>,
) -> Result<Vec<(&'static str, i64)>, StoreError> {
    let awaiting = OrderStatus::ALL
        .into_iter()
        .filter(|s| s.awaits_provider())
        .map(OrderStatus::as_str);
    let created: Vec<i64> = orders::table
        .filter(orders::status.eq_any(awaiting))
        .select(orders::created_at)
        .load(conn)?;
    let now = to_ms(now);
    let mut counts: Vec<(&'static str, i64)> =
        AGE_BUCKETS.iter().map(|(name, _)| (*name, 0)).collect();
    for created_at in created {
        let age = now.saturating_sub(created_at) / 1000;
        if let Some(i) = AGE_BUCKETS.iter().position(|(_, bound)| age < *bound) {
            counts[i].1 += 1;
        }
    }
    Ok(counts)
}

/// The orders flagged for review, longest waiting first (by the time they were flagged),
/// at most `limit`.
pub fn review_queue(conn: &mut Connection, limit: i64) -> Result<Vec<Order>, StoreError> {
    parse_rows(
        orders::table
            .select(OrderRow::as_select())
            .filter(orders::review_flagged_at.is_not_null())
            .order((orders::review_flagged_at.asc(), orders::mer_order_id.asc()))
            .limit(limit)
            .load(conn)?,
    )
}

/// How many orders are flagged for review.
pub fn count_needing_review(conn: &mut Connection) -> Result<i64, StoreError> {
    Ok(orders::table
        .filter(orders::review_flagged_at.is_not_null())
        .count()
        .get_result(conn)?)
}

/// Writes `after` over the row if it still has version `expected`. The one place an order
/// row is rewritten; private, so that outside this module a row changes only through
/// [`apply`].
fn save(conn: &mut Connection, expected: i64, after: &Order) -> Result<(), StoreError> {
    let n = diesel::update(
        orders::table
            .filter(orders::mer_order_id.eq(after.id.as_str()))
            .filter(orders::version.eq(expected)),
    )
    .set(OrderRow::from(after))
    .execute(conn)?;
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict(after.id.to_string()))
    }
}

/// The outcome of [`apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Who brought the observation.
    pub source: Source,
    /// The order before.
    pub before: Order,
    /// What the observation did (its `after` equals `before` when nothing changed).
    pub change: Change,
}

impl Applied {
    /// The order after.
    pub fn after(&self) -> &Order {
        &self.change.after
    }
}

/// Applies an observation to the order `id` as stored: the domain works out the change
/// (`Order::observe`), and it is written with one compare-and-set on `version` plus, when
/// the change has one, one history entry and, when the backend cares about it
/// (`domain::outbox::event_type`), one outbox event. `None` if there is no such order. Run inside a
/// write transaction with the observation's journal row, so that both or neither are kept.
pub fn apply(
    conn: &mut Connection,
    id: &MerOrderId,
    obs: &Observation,
    timing: &Timing,
    now: DateTime<Utc>,
) -> Result<Option<Applied>, StoreError> {
    super::lock_order(conn, id.as_str())?;
    let Some(before) = find(conn, id)? else {
        return Ok(None);
    };
    let change = before.observe(obs, now, timing);
    if change.changed(&before) {
        save(conn, before.version, &change.after)?;
        if let Some(note) = &change.event {
            events::insert(
                conn,
                &events::NewEvent {
                    order: &change.after.id,
                    from: Some(note.from),
                    to: note.to,
                    source: obs.source,
                    evidence: obs.evidence_ref.as_deref(),
                    reason: Some(&note.reason),
                    operator: note.by.as_ref().map(|a| a.operator.as_str()),
                    note: note.by.as_ref().and_then(|a| a.note.as_deref()),
                    at: now,
                },
            )?;
        }
        if let Some(kind) = event_type(&before, &change) {
            outbox::record_order(conn, kind, &change.after, now)?;
        }
    }
    Ok(Some(Applied {
        source: obs.source,
        before,
        change,
    }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::chinaums::status::{BillStatus, TradeStatus};
    use crate::domain::ids::MsgSrcId;
    use crate::domain::order::{Decision, Evidence, IgnoreReason, Report};
    use crate::domain::record::NewOrder;
    use crate::domain::record::ProviderFacts;
    use crate::store::testing::temp_db;
    use chrono::TimeZone;
    use diesel::connection::SimpleConnection;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 4, 0, 0).unwrap()
    }

    /// A pending 100-fen order expiring an hour after `t0`.
    pub(crate) fn new_order(digest: &str) -> Order {
        let src = MsgSrcId::parse("1017").unwrap();
        Order::create(
            NewOrder {
                id: MerOrderId::generate(&src, t0()),
                mid: "898340149000005".into(),
                tid: "88880001".into(),
                inst_mid: "MINIDEFAULT".into(),
                qr_code_id: None,
                amount: Amount::payment(100, 1_000_000).unwrap(),
                description: Some("tea".into()),
                preauth: false,
                expire_at: t0() + chrono::Duration::hours(1),
                request_digest: digest.into(),
            },
            t0(),
            t0() + chrono::Duration::seconds(30),
        )
    }

    fn observe(report: Report, amount: i64) -> Observation {
        let mut evidence = Evidence::of(report);
        evidence.amount = Some(Amount::from_fen(amount).unwrap());
        let facts = ProviderFacts {
            provider_status: Some("PAID".into()),
            seq_id: Some("00151100146N".into()),
            ..Default::default()
        };
        Observation::report(
            evidence,
            facts,
            Source::Notify,
            Some("notification:1".into()),
        )
    }

    /// Applies `obs` to `order` with a two-minute expiry grace and no settled checks.
    fn put(
        conn: &mut Connection,
        order: &Order,
        obs: &Observation,
        now: DateTime<Utc>,
    ) -> Result<Option<Applied>, StoreError> {
        let timing = Timing {
            expiry_grace: std::time::Duration::from_secs(120),
            backoff: vec![std::time::Duration::from_secs(30)],
            settled_backoff: Vec::new(),
        };
        apply(conn, &order.id, obs, &timing, now)
    }

    #[test]
    fn an_order_reads_back_exactly_as_it_was_created() {
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        let order = new_order("d1");

        let created = create(&mut conn, &order).unwrap();

        assert_eq!(created, Created::New(order.clone()));
        assert_eq!(find(&mut conn, &order.id).unwrap(), Some(order.clone()));
        let history = events::list_for(&mut conn, &order.id).unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(
            (history[0].from, history[0].to),
            (None, OrderStatus::Pending)
        );
    }

    #[test]
    fn creating_again_gives_the_stored_order_or_a_conflict() {
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        let order = new_order("d1");
        create(&mut conn, &order).unwrap();

        let mut same = order.clone();
        same.created_at = t0() + chrono::Duration::seconds(5);
        let mut other = order.clone();
        other.request_digest = "d2".into();

        assert_eq!(
            create(&mut conn, &same).unwrap(),
            Created::Existing(order.clone())
        );
        assert_eq!(
            create(&mut conn, &other).unwrap(),
            Created::Conflict(order.clone())
        );
        assert_eq!(events::list_for(&mut conn, &order.id).unwrap().len(), 1);
    }

    #[test]
    fn a_payment_moves_the_order_records_facts_and_writes_one_event() {
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        let order = new_order("d");
        create(&mut conn, &order).unwrap();

        let applied = put(
            &mut conn,
            &order,
            &observe(Report::Bill(BillStatus::Paid), 100),
            t0(),
        )
        .unwrap()
        .unwrap();

        assert!(matches!(
            applied.change.decision,
            Some(Decision::Move { .. })
        ));
        let stored = find(&mut conn, &order.id).unwrap().unwrap();
        assert_eq!(stored.status, OrderStatus::Paid);
        assert_eq!(stored.version, 2);
        assert_eq!(stored.paid_amount.map(Amount::fen), Some(100));
        assert_eq!(stored.facts.seq_id.as_deref(), Some("00151100146N"));
        assert_eq!(
            stored.schedule.next_check_at, None,
            "no more checks once paid"
        );
        let history = events::list_for(&mut conn, &order.id).unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[1].from, Some(OrderStatus::Pending));
        assert_eq!(history[1].to, OrderStatus::Paid);
        assert_eq!(history[1].source, Source::Notify);
        assert_eq!(history[1].evidence.as_deref(), Some("notification:1"));
    }

    #[test]
    fn stale_evidence_after_payment_changes_nothing() {
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        let order = new_order("d");
        create(&mut conn, &order).unwrap();
        put(
            &mut conn,
            &order,
            &observe(Report::Bill(BillStatus::Paid), 100),
            t0(),
        )
        .unwrap();
        let paid = find(&mut conn, &order.id).unwrap().unwrap();

        let stale = observe(Report::Trade(TradeStatus::WaitBuyerPay), 100);
        let applied = put(&mut conn, &order, &stale, t0()).unwrap().unwrap();

        assert_eq!(
            applied.change.decision,
            Some(Decision::Ignore(IgnoreReason::Stale))
        );
        assert_eq!(find(&mut conn, &order.id).unwrap().unwrap(), paid);
        assert_eq!(events::list_for(&mut conn, &order.id).unwrap().len(), 2);
    }

    #[test]
    fn a_wrong_amount_flags_the_order_and_leaves_it_pending() {
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        let order = new_order("d");
        create(&mut conn, &order).unwrap();

        put(
            &mut conn,
            &order,
            &observe(Report::Bill(BillStatus::Paid), 1),
            t0(),
        )
        .unwrap();

        let stored = find(&mut conn, &order.id).unwrap().unwrap();
        assert_eq!(stored.status, OrderStatus::Pending);
        assert!(stored.needs_review());
        assert!(stored.review_reason().unwrap().contains("amount mismatch"));
        let history = events::list_for(&mut conn, &order.id).unwrap();
        assert_eq!(history.len(), 2);
        assert!(history[1]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("review: "));
    }

    #[test]
    fn an_acknowledgement_is_written_with_the_operator_and_note_and_the_flag_time_reads_back() {
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        let order = new_order("ack");
        create(&mut conn, &order).unwrap();
        let flagged_at = t0() + chrono::Duration::seconds(7);
        put(
            &mut conn,
            &order,
            &observe(Report::Bill(BillStatus::Paid), 1),
            flagged_at,
        )
        .unwrap();
        let flagged = find(&mut conn, &order.id).unwrap().unwrap();
        let ack = Observation::of(
            crate::domain::observe::Seen::Acknowledged {
                reviewed: flagged.version,
            },
            Source::Operator,
            None,
        )
        .by(Some(crate::domain::observe::Actor {
            operator: "alice".into(),
            note: Some("refunded by hand".into()),
        }));

        put(
            &mut conn,
            &order,
            &ack,
            flagged_at + chrono::Duration::minutes(1),
        )
        .unwrap();

        assert_eq!(flagged.review.map(|r| r.since), Some(flagged_at));
        let stored = find(&mut conn, &order.id).unwrap().unwrap();
        assert!(!stored.needs_review());
        assert_eq!(stored.status, OrderStatus::Pending);
        let last = events::list_for(&mut conn, &order.id)
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(last.source, Source::Operator);
        assert_eq!(last.operator.as_deref(), Some("alice"));
        assert_eq!(last.note.as_deref(), Some("refunded by hand"));
    }

    #[test]
    fn the_review_queue_lists_flagged_orders_longest_waiting_first() {
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        let mut orders: Vec<Order> = ["q1", "q2", "q3"].iter().map(|d| new_order(d)).collect();
        orders.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        for o in &orders {
            create(&mut conn, o).unwrap();
        }
        // Flagged against the order of their ids (the last id first); the middle one never.
        for (o, secs) in [(&orders[2], 1), (&orders[0], 2)] {
            let at = t0() + chrono::Duration::seconds(secs);
            put(
                &mut conn,
                o,
                &observe(Report::Bill(BillStatus::Paid), 1),
                at,
            )
            .unwrap();
        }

        let queue = review_queue(&mut conn, 10).unwrap();
        let first = review_queue(&mut conn, 1).unwrap();

        let ids: Vec<&MerOrderId> = queue.iter().map(|o| &o.id).collect();
        assert_eq!(ids, [&orders[2].id, &orders[0].id]);
        assert_eq!(first.len(), 1);
    }

    #[test]
    fn an_unpaid_order_is_closed_by_a_query_only_past_expiry_and_grace() {
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        let order = new_order("d");
        create(&mut conn, &order).unwrap();
        let mut obs = observe(Report::NoOrder, 100);
        obs.source = Source::Query;
        let expiry = order.expire_at;

        let early = put(
            &mut conn,
            &order,
            &obs,
            expiry + chrono::Duration::seconds(119),
        )
        .unwrap()
        .unwrap();
        let late = put(
            &mut conn,
            &order,
            &obs,
            expiry + chrono::Duration::seconds(120),
        )
        .unwrap()
        .unwrap();

        assert_eq!(
            early.change.decision,
            Some(Decision::Ignore(IgnoreReason::NotYet))
        );
        assert_eq!(late.after().status, OrderStatus::Closed);
        let history = events::list_for(&mut conn, &order.id).unwrap();
        assert_eq!(history.last().unwrap().reason.as_deref(), Some("expired"));
    }

    #[test]
    fn a_write_over_a_changed_row_is_refused() {
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        let order = new_order("d");
        create(&mut conn, &order).unwrap();
        let mut a = order.clone();
        a.version = 2;
        save(&mut conn, 1, &a).unwrap();

        let mut b = order.clone();
        b.version = 2;
        b.description = Some("lost update".into());

        assert!(matches!(
            save(&mut conn, 1, &b),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(
            find(&mut conn, &order.id)
                .unwrap()
                .unwrap()
                .description
                .as_deref(),
            Some("tea")
        );
    }

    #[test]
    fn a_row_edited_behind_our_back_does_not_parse_back() {
        // SQLite only: its CHECK can be switched off (PostgreSQL's cannot, so no such row).
        let (db, _dir) = crate::store::testing::temp_sqlite_db();
        let mut conn = db.conn().unwrap();
        let order = new_order("d");
        create(&mut conn, &order).unwrap();
        conn.batch_execute(
            "PRAGMA ignore_check_constraints = ON; UPDATE orders SET status = 'SHIPPED';",
        )
        .unwrap();

        assert!(matches!(
            find(&mut conn, &order.id),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[derive(diesel::QueryableByName)]
    struct PlanRow {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }

    #[test]
    fn only_due_orders_are_claimed_however_many_are_settled_and_a_claim_holds_for_its_lease() {
        // Arrange: 100,000 settled orders (no next check) and 100 pending ones due, plus
        // 50 pending ones not due yet, written with one SQL statement each. SQLite only:
        // it reads SQLite's query plan.
        let (db, _dir) = crate::store::testing::temp_sqlite_db();
        let mut conn = db.conn().unwrap();
        let now = to_ms(t0());
        use crate::store::synthetic::{insert_orders, NextCheck};
        let later = t0() + chrono::Duration::seconds(1);
        insert_orders(
            &mut conn,
            OrderStatus::Paid,
            "1017S",
            100_000,
            t0(),
            NextCheck::Never,
        )
        .unwrap();
        let due_now = NextCheck::CountingDownFrom(t0());
        insert_orders(&mut conn, OrderStatus::Pending, "1017D", 100, t0(), due_now).unwrap();
        let not_yet = NextCheck::CountingUpFrom(later);
        insert_orders(&mut conn, OrderStatus::Pending, "1017L", 50, t0(), not_yet).unwrap();

        // Act
        let lease = t0() + chrono::Duration::minutes(2);
        let first_ten = claim_due(&mut conn, t0(), lease, 10).unwrap().orders;
        let rest = claim_due(&mut conn, t0(), lease, 1_000).unwrap().orders;
        let again = claim_due(&mut conn, t0(), lease, 1_000).unwrap();
        let later = lease + chrono::Duration::minutes(2);
        let expired = claim_due(&mut conn, lease, later, 1_000).unwrap().orders;
        let plan: Vec<String> = diesel::sql_query(format!(
            "EXPLAIN QUERY PLAN SELECT mer_order_id FROM orders WHERE next_check_at IS NOT NULL \
             AND next_check_at <= {now} ORDER BY next_check_at, mer_order_id LIMIT 100"
        ))
        .load::<PlanRow>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|r| r.detail)
        .collect();

        // Assert
        assert_eq!(first_ten.len() + rest.len(), 100);
        let claimed = || first_ten.iter().chain(&rest);
        assert!(claimed().all(|o| o.id.as_str().starts_with("1017D")));
        assert!(claimed().all(|o| o.status == OrderStatus::Pending));
        assert!(claimed().all(|o| o.schedule.next_check_at == Some(lease)));
        assert_eq!(
            again.due, 0,
            "claimed orders are not due again within the lease"
        );
        assert!(again.orders.is_empty());
        assert_eq!(
            expired.len(),
            150,
            "after the lease, the claimed and the later ones"
        );
        assert_eq!(first_ten.len(), 10);
        assert_eq!(
            first_ten[0].id.as_str(),
            "1017D0000000100",
            "earliest due first"
        );
        assert!(plan.iter().any(|d| d.contains("orders_due")), "{plan:?}");
        assert!(
            !plan
                .iter()
                .any(|d| d.starts_with("SCAN orders") && !d.contains("INDEX")),
            "{plan:?}"
        );
    }

    #[test]
    fn listing_pages_by_id_and_filters_by_status() {
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        let orders: Vec<Order> = (0..5).map(|i| new_order(&format!("d{i}"))).collect();
        crate::store::write_transaction(&mut conn, |c| {
            for o in &orders {
                create(c, o)?;
            }
            put(
                c,
                &orders[2],
                &observe(Report::Bill(BillStatus::Paid), 100),
                t0(),
            )?;
            Ok::<_, StoreError>(())
        })
        .unwrap();

        let page1 = list(
            &mut conn,
            &ListFilter {
                limit: 3,
                ..Default::default()
            },
        )
        .unwrap();
        let page2 = list(
            &mut conn,
            &ListFilter {
                limit: 3,
                after: Some(page1[2].id.to_string()),
                ..Default::default()
            },
        )
        .unwrap();
        let paid = list(
            &mut conn,
            &ListFilter {
                limit: 10,
                statuses: vec![OrderStatus::Paid],
                ..Default::default()
            },
        )
        .unwrap();

        assert_eq!(page1.len(), 3);
        assert_eq!(page2.len(), 2);
        let mut ids: Vec<_> = page1.iter().chain(&page2).map(|o| o.id.clone()).collect();
        let sorted = {
            let mut s = ids.clone();
            s.sort();
            s
        };
        assert_eq!(ids, sorted);
        ids.dedup();
        assert_eq!(ids.len(), 5);
        assert_eq!(paid.len(), 1);
        assert_eq!(paid[0].id, orders[2].id);
        let counts = count_by_status(&mut conn).unwrap();
        assert_eq!(counts[0], (OrderStatus::Pending, 4));
        assert_eq!(counts[2], (OrderStatus::Paid, 1));
    }
}
