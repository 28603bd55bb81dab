//! The `refunds` table: every refund of an order in one place — the gateway's own
//! (`origin = gateway`: PENDING with its amount reserved, then final) and those the provider
//! reports for refunds made elsewhere (`origin = reported`, kept as reported so that refund
//! totals are counted, not guessed). [`reserve`] checks what is refundable and stores a
//! PENDING refund under the order's lock; [`apply`] writes what an observation makes of a
//! refund (`domain::refund_state`) in one compare-and-set with its event, and the order's
//! consequence through `orders::apply`. It must not decide what a refund becomes, nor what
//! reported refunds add up to (that is `domain::refund`).

use crate::store::Connection;
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::refunds;
use super::{from_ms, orders, outbox, to_ms, StoreError};
use crate::chinaums::status::TradeStatus;
use crate::domain::ids::MerOrderId;
use crate::domain::money::Amount;
use crate::domain::observe::{Observation, Seen, Timing};
use crate::domain::order::{Evidence, OrderStatus, Report, Source};
use crate::domain::outbox::refund_event_type;
use crate::domain::record::{Order, ProviderFacts};
use crate::domain::refund::Refund;
use crate::domain::refund_state::{
    self, GatewayRefund, NotRefundable, Origin, RefundChange, RefundDecision, RefundSource,
    RefundStatus, RefundWord,
};

const TABLE: &str = "refunds";

/// Records a refund the provider reported; a second report with the same key changes
/// nothing. Returns whether it was new.
pub fn record(
    conn: &mut Connection,
    order: &MerOrderId,
    refund: &Refund,
    evidence: Option<&str>,
) -> Result<bool, StoreError> {
    let inserted = per_backend!(conn, |c| diesel::insert_into(refunds::table)
        .values((
            refunds::mer_order_id.eq(order.as_str()),
            refunds::refund_key.eq(&refund.key),
            refunds::amount_fen.eq(refund.amount.fen()),
            refunds::reported_at.eq(to_ms(refund.at)),
            refunds::evidence.eq(evidence),
            refunds::origin.eq(Origin::Reported.as_str()),
            refunds::status.eq(RefundStatus::Succeeded.as_str()),
            refunds::settled_at.eq(Some(to_ms(refund.at))),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(inserted == 1)
}

/// A row of `refunds`.
#[derive(Queryable, Selectable)]
#[diesel(table_name = refunds)]
#[diesel(check_for_backend(crate::store::MultiBackend))]
struct Row {
    id: i64,
    mer_order_id: String,
    refund_key: String,
    amount_fen: i64,
    reported_at: i64,
    origin: String,
    status: String,
    reason: Option<String>,
    operator: Option<String>,
    err_code: Option<String>,
    settled_at: Option<i64>,
    check_attempts: i32,
    next_check_at: Option<i64>,
    version: i64,
}

impl TryFrom<Row> for GatewayRefund {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self, StoreError> {
        let key = r.id.to_string();
        let corrupt = |what: &str| StoreError::corrupt(TABLE, key.clone(), what);
        Ok(GatewayRefund {
            order: MerOrderId::parse_stored(&r.mer_order_id)
                .map_err(|_| corrupt("mer_order_id"))?,
            origin: Origin::parse(&r.origin).ok_or_else(|| corrupt("origin"))?,
            amount: Amount::from_fen(r.amount_fen).map_err(|_| corrupt("amount_fen"))?,
            status: RefundStatus::parse(&r.status).ok_or_else(|| corrupt("status"))?,
            created_at: from_ms(TABLE, &key, r.reported_at)?,
            settled_at: r.settled_at.map(|t| from_ms(TABLE, &key, t)).transpose()?,
            attempts: u32::try_from(r.check_attempts).map_err(|_| corrupt("check_attempts"))?,
            next_check_at: r
                .next_check_at
                .map(|t| from_ms(TABLE, &key, t))
                .transpose()?,
            key: r.refund_key,
            reason: r.reason,
            operator: r.operator,
            err_code: r.err_code,
            version: r.version,
        })
    }
}

fn parse_rows(rows: Vec<Row>) -> Result<Vec<GatewayRefund>, StoreError> {
    rows.into_iter().map(GatewayRefund::try_from).collect()
}

/// Every refund of `order`, oldest first: the gateway's in any status and the reported.
pub fn of(conn: &mut Connection, order: &MerOrderId) -> Result<Vec<GatewayRefund>, StoreError> {
    parse_rows(
        refunds::table
            .filter(refunds::mer_order_id.eq(order.as_str()))
            .order(refunds::id.asc())
            .select(Row::as_select())
            .load(conn)?,
    )
}

/// The refunds of `order` that happened (reported, or the gateway's SUCCEEDED), oldest
/// first, as `domain::refund::assess` reads them.
pub fn counted(conn: &mut Connection, order: &MerOrderId) -> Result<Vec<Refund>, StoreError> {
    Ok(of(conn, order)?
        .into_iter()
        .filter(|r| r.status == RefundStatus::Succeeded)
        .map(|r| Refund {
            key: r.key,
            amount: r.amount,
            at: r.settled_at.unwrap_or(r.created_at),
        })
        .collect())
}

/// The gateway's refund with this `refundOrderId`, on any order.
pub fn find(conn: &mut Connection, key: &str) -> Result<Option<GatewayRefund>, StoreError> {
    refunds::table
        .filter(refunds::refund_key.eq(key))
        .filter(refunds::origin.eq(Origin::Gateway.as_str()))
        .select(Row::as_select())
        .get_result(conn)
        .optional()?
        .map(GatewayRefund::try_from)
        .transpose()
}

/// The fen reserved by `order`'s refunds not final yet.
fn pending_total(conn: &mut Connection, order: &MerOrderId) -> Result<Amount, StoreError> {
    let amounts: Vec<i64> = refunds::table
        .filter(refunds::mer_order_id.eq(order.as_str()))
        .filter(refunds::status.eq(RefundStatus::Pending.as_str()))
        .select(refunds::amount_fen)
        .load(conn)?;
    amounts
        .into_iter()
        .try_fold(Amount::ZERO, |total, fen| {
            Amount::from_fen(fen)
                .ok()
                .and_then(|a| total.checked_add(a))
        })
        .ok_or_else(|| StoreError::corrupt(TABLE, order.to_string(), "pending amounts"))
}

/// What [`reserve`] came to.
#[derive(Debug)]
pub enum Reserved {
    /// Stored PENDING with its amount reserved (and its `refund.pending` event): send it.
    New(GatewayRefund, Order),
    /// The same refund (id, order, amount, reason) was asked before: as stored.
    Existing(GatewayRefund, Order),
    /// The id is taken by another refund (another order, amount or reason).
    Taken(GatewayRefund),
    /// The order may not be refunded this amount; nothing stored.
    Refused(NotRefundable),
    /// No such order.
    NoOrder,
}

/// Stores `refund` (PENDING) if the same id is not taken and its order may be refunded
/// its amount: paid − (refunded + pending) (`refund_state::refundable`), read and written
/// under the order's lock (PostgreSQL `FOR UPDATE`; SQLite's `BEGIN IMMEDIATE` writer), so
/// refunds asked at once never together exceed what was paid. Run in a write transaction.
pub fn reserve(
    conn: &mut Connection,
    refund: &GatewayRefund,
    now: DateTime<Utc>,
) -> Result<Reserved, StoreError> {
    super::lock_order(conn, refund.order.as_str())?;
    let Some(order) = orders::find(conn, &refund.order)? else {
        return Ok(Reserved::NoOrder);
    };
    if let Some(stored) = find(conn, &refund.key)? {
        let same = stored.order == refund.order
            && stored.amount == refund.amount
            && stored.reason == refund.reason;
        return Ok(if same {
            Reserved::Existing(stored, order)
        } else {
            Reserved::Taken(stored)
        });
    }
    let paid = matches!(order.status, OrderStatus::Paid | OrderStatus::Refunded)
        .then(|| order.paid_amount.unwrap_or(order.amount));
    let pending = pending_total(conn, &order.id)?;
    if let Err(why) = refund_state::refundable(paid, order.refunded, pending, refund.amount) {
        return Ok(Reserved::Refused(why));
    }
    let inserted = per_backend!(conn, |c| diesel::insert_into(refunds::table)
        .values((
            refunds::mer_order_id.eq(refund.order.as_str()),
            refunds::refund_key.eq(&refund.key),
            refunds::amount_fen.eq(refund.amount.fen()),
            refunds::reported_at.eq(to_ms(refund.created_at)),
            refunds::origin.eq(Origin::Gateway.as_str()),
            refunds::status.eq(RefundStatus::Pending.as_str()),
            refunds::reason.eq(refund.reason.as_deref()),
            refunds::operator.eq(refund.operator.as_deref()),
            refunds::next_check_at.eq(refund.next_check_at.map(to_ms)),
            refunds::version.eq(refund.version),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    // Another order's refund took the id between our read and our insert (its order's
    // lock is not ours): the unique index decided.
    let Some(stored) = find(conn, &refund.key)? else {
        return Err(StoreError::corrupt(TABLE, refund.key.clone(), "not stored"));
    };
    if inserted == 0 {
        return Ok(Reserved::Taken(stored));
    }
    outbox::record_refund(conn, refund_event_type(stored.status), &stored, &order, now)?;
    Ok(Reserved::New(stored, order))
}

/// Writes `after` over the refund row if it still has version `expected`.
fn save(conn: &mut Connection, expected: i64, after: &GatewayRefund) -> Result<(), StoreError> {
    let n = diesel::update(
        refunds::table
            .filter(refunds::refund_key.eq(&after.key))
            .filter(refunds::origin.eq(Origin::Gateway.as_str()))
            .filter(refunds::version.eq(expected)),
    )
    .set((
        refunds::status.eq(after.status.as_str()),
        refunds::err_code.eq(after.err_code.as_deref()),
        refunds::settled_at.eq(after.settled_at.map(to_ms)),
        refunds::check_attempts.eq(i32::try_from(after.attempts).unwrap_or(i32::MAX)),
        refunds::next_check_at.eq(after.next_check_at.map(to_ms)),
        refunds::version.eq(after.version),
    ))
    .execute(conn)?;
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict(after.key.clone()))
    }
}

/// What [`apply`] did.
#[derive(Debug)]
pub struct RefundApplied {
    /// The refund before.
    pub before: GatewayRefund,
    /// What the observation made of it.
    pub change: RefundChange,
    /// What it did to the order (a refund that SUCCEEDED raises its refunded total; one to
    /// review flags it), if anything.
    pub order: Option<orders::Applied>,
}

/// One observation of a gateway refund, as [`apply`] takes it.
#[derive(Debug, Clone)]
pub struct RefundObservation<'a> {
    /// What the provider said.
    pub word: &'a RefundWord,
    /// Where it came from.
    pub source: RefundSource,
    /// The proof (`call:<id>`, `notification:<id>`).
    pub evidence_ref: Option<String>,
    /// The draw that spreads the next query.
    pub jitter: f64,
}

/// Applies an observation to the gateway refund `key`: the domain decides
/// (`GatewayRefund::observe`), the refund row is written with one compare-and-set on its
/// version plus, when it became final, its `refund.succeeded`/`refund.failed` event; a
/// refund that SUCCEEDED then raises the order's refunded total by its amount, and one
/// to review flags the order, both through `orders::apply` (source `refund`). Under the
/// order's lock; run in a write transaction (a notification's own). `None`: no such refund.
pub fn apply(
    conn: &mut Connection,
    key: &str,
    obs: &RefundObservation<'_>,
    timing: &Timing,
    now: DateTime<Utc>,
) -> Result<Option<RefundApplied>, StoreError> {
    let Some(peek) = find(conn, key)? else {
        return Ok(None);
    };
    super::lock_order(conn, peek.order.as_str())?;
    // Read again under the lock: what a concurrent writer committed is seen.
    let Some(before) = find(conn, key)? else {
        return Ok(None);
    };
    let change = before.observe(obs.word, obs.source, now, &timing.backoff, obs.jitter);
    if change.changed(&before) {
        save(conn, before.version, &change.after)?;
    }
    let consequence = match &change.decision {
        RefundDecision::Settle(RefundStatus::Succeeded, _) => {
            let order = orders::find(conn, &before.order)?
                .ok_or_else(|| StoreError::corrupt(TABLE, key, "order"))?;
            let total = order
                .refunded
                .checked_add(before.amount)
                .ok_or_else(|| StoreError::corrupt(TABLE, key, "refunded total"))?;
            let mut evidence = Evidence::of(Report::Trade(TradeStatus::TradeRefund));
            evidence.refunded = Some(total);
            Some(Observation::report(
                evidence,
                ProviderFacts::default(),
                Source::Refund,
                obs.evidence_ref.clone(),
            ))
        }
        RefundDecision::Review(why) => Some(Observation::of(
            Seen::Unreadable(format!("refund {key}: {why}")),
            Source::Refund,
            obs.evidence_ref.clone(),
        )),
        _ => None,
    };
    let order_applied = match consequence {
        Some(o) => orders::apply(conn, &before.order, &o, timing, now)?,
        None => None,
    };
    if let RefundDecision::Settle(to, _) = &change.decision {
        let order = match &order_applied {
            Some(a) => a.after().clone(),
            None => orders::find(conn, &before.order)?
                .ok_or_else(|| StoreError::corrupt(TABLE, key, "order"))?,
        };
        outbox::record_refund(conn, refund_event_type(*to), &change.after, &order, now)?;
    }
    Ok(Some(RefundApplied {
        before,
        change,
        order: order_applied,
    }))
}

/// The gateway's PENDING refunds due a query at `now`, earliest first, at most `limit`.
pub fn due(
    conn: &mut Connection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<GatewayRefund>, StoreError> {
    parse_rows(
        refunds::table
            .filter(refunds::next_check_at.is_not_null())
            .filter(refunds::next_check_at.le(to_ms(now)))
            .filter(refunds::status.eq(RefundStatus::Pending.as_str()))
            .order(refunds::next_check_at.asc())
            .limit(limit)
            .select(Row::as_select())
            .load(conn)?,
    )
}

/// How many of the gateway's refunds are PENDING, and the oldest one's creation time.
pub fn pending_summary(conn: &mut Connection) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
    let rows: Vec<i64> = refunds::table
        .filter(refunds::status.eq(RefundStatus::Pending.as_str()))
        .select(refunds::reported_at)
        .load(conn)?;
    let oldest = rows
        .iter()
        .min()
        .map(|t| from_ms(TABLE, "pending", *t))
        .transpose()?;
    Ok((i64::try_from(rows.len()).unwrap_or(i64::MAX), oldest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::orders::{self, tests::new_order};
    use crate::store::testing::temp_db;
    use chrono::DateTime;

    #[test]
    fn refunds_are_kept_each_once_oldest_first() {
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        let order = new_order("d");
        orders::create(&mut conn, &order).unwrap();
        let at = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap();
        let refund = |key: &str, fen: i64| Refund {
            key: key.into(),
            amount: Amount::from_fen(fen).unwrap(),
            at,
        };

        let first = record(
            &mut conn,
            &order.id,
            &refund("n-1", 60),
            Some("notification:1"),
        )
        .unwrap();
        let second = record(&mut conn, &order.id, &refund("n-2", 30), None).unwrap();
        let again = record(&mut conn, &order.id, &refund("n-1", 60), None).unwrap();

        assert!(first && second && !again);
        assert_eq!(
            counted(&mut conn, &order.id).unwrap(),
            [refund("n-1", 60), refund("n-2", 30)]
        );
    }
}
