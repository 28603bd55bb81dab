//! The `order_events` table: each order's transition history. Append-only; it must not be
//! written except alongside the change it records.

use crate::store::Connection;
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::order_events;
use super::{from_ms, to_ms, StoreError};
use crate::domain::ids::MerOrderId;
use crate::domain::order::{OrderStatus, Source};
use crate::domain::record::OrderEvent;

const TABLE: &str = "order_events";

/// A new history entry.
#[derive(Debug)]
pub struct NewEvent<'a> {
    /// The order.
    pub order: &'a MerOrderId,
    /// Status before (`None` at creation).
    pub from: Option<OrderStatus>,
    /// Status after.
    pub to: OrderStatus,
    /// Who.
    pub source: Source,
    /// What proved it.
    pub evidence: Option<&'a str>,
    /// Why.
    pub reason: Option<&'a str>,
    /// The operator who caused it.
    pub operator: Option<&'a str>,
    /// The operator's note.
    pub note: Option<&'a str>,
    /// When.
    pub at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = order_events)]
#[diesel(check_for_backend(crate::store::MultiBackend))]
struct EventRow {
    id: i64,
    mer_order_id: String,
    from_status: Option<String>,
    to_status: String,
    source: String,
    evidence: Option<String>,
    reason: Option<String>,
    at: i64,
    operator: Option<String>,
    note: Option<String>,
}

impl TryFrom<EventRow> for OrderEvent {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        let key = r.id.to_string();
        let bad = |what: &str| StoreError::corrupt(TABLE, key.clone(), what);
        let status = |s: &str| OrderStatus::parse(s).ok_or_else(|| bad("status"));
        Ok(OrderEvent {
            id: r.id,
            order: MerOrderId::parse_stored(&r.mer_order_id).map_err(|e| bad(&e.to_string()))?,
            from: r.from_status.as_deref().map(status).transpose()?,
            to: status(&r.to_status)?,
            source: Source::parse(&r.source).ok_or_else(|| bad("source"))?,
            evidence: r.evidence,
            reason: r.reason,
            operator: r.operator,
            note: r.note,
            at: from_ms(TABLE, &key, r.at)?,
        })
    }
}

/// Appends an entry.
pub fn insert(conn: &mut Connection, e: &NewEvent<'_>) -> Result<(), StoreError> {
    diesel::insert_into(order_events::table)
        .values((
            order_events::mer_order_id.eq(e.order.as_str()),
            order_events::from_status.eq(e.from.map(OrderStatus::as_str)),
            order_events::to_status.eq(e.to.as_str()),
            order_events::source.eq(e.source.as_str()),
            order_events::evidence.eq(e.evidence),
            order_events::reason.eq(e.reason),
            order_events::operator.eq(e.operator),
            order_events::note.eq(e.note),
            order_events::at.eq(to_ms(e.at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// An order's history, oldest first.
pub fn list_for(conn: &mut Connection, order: &MerOrderId) -> Result<Vec<OrderEvent>, StoreError> {
    order_events::table
        .filter(order_events::mer_order_id.eq(order.as_str()))
        .order(order_events::id.asc())
        .select(EventRow::as_select())
        .load(conn)?
        .into_iter()
        .map(OrderEvent::try_from)
        .collect()
}
