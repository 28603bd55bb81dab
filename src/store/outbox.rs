//! The `events` table: the transactional outbox. Each row is one event the backend is told
//! about (the feed, webhooks), written inside the transaction of the change it reports —
//! by `orders::create`, `orders::apply` and `contracts::upsert_if_newer` — so that an event
//! exists if and only if its change committed. Its `id` is the feed's cursor. It must not
//! decide which change makes which event (`domain::outbox` does), nor be written on its own.

use crate::store::Connection;
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::events;
use super::{from_ms, refunds, to_ms, StoreError};
use crate::domain::contract::Contract;
use crate::domain::outbox::{self, EventType};
use crate::domain::record::Order;
use crate::domain::refund_state::GatewayRefund;

const TABLE: &str = "events";

/// A new event id: `evt_` and a random UUID, so that ids never collide across databases
/// (a backend may be told by more than one gateway) and reveal nothing.
fn new_id() -> String {
    format!("evt_{}", uuid::Uuid::new_v4().simple())
}

/// What an event row points at: its order (and the order version it reports, if it
/// reports a change of the order row), or its contract.
#[derive(Default)]
struct About<'a> {
    order: Option<&'a str>,
    order_version: Option<i64>,
    contract: Option<&'a str>,
}

/// Writes one event row: a new id, the body `body` makes with it, after the feed's lock.
/// The one insert every `record_*` shares. Returns the event's id.
fn insert(
    conn: &mut Connection,
    kind: EventType,
    about: About<'_>,
    at: DateTime<Utc>,
    body: impl FnOnce(&str) -> String,
) -> Result<String, StoreError> {
    let id = new_id();
    let body = body(&id);
    super::lock_feed(conn)?;
    diesel::insert_into(events::table)
        .values((
            events::event_id.eq(&id),
            events::kind.eq(kind.as_str()),
            events::mer_order_id.eq(about.order),
            events::order_version.eq(about.order_version),
            events::contract_no.eq(about.contract),
            events::body.eq(body),
            events::created_at.eq(to_ms(at)),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Writes the event `kind` about `order` (as it is after the change, with the refunds
/// recorded so far in this transaction). Inside the change's transaction. Returns the
/// event's id.
pub fn record_order(
    conn: &mut Connection,
    kind: EventType,
    order: &Order,
    at: DateTime<Utc>,
) -> Result<String, StoreError> {
    let refunds = refunds::of(conn, &order.id)?;
    let about = About {
        order: Some(order.id.as_str()),
        order_version: Some(order.version),
        ..About::default()
    };
    insert(conn, kind, about, at, |id| {
        outbox::order_body(id, kind, at, order, &refunds)
    })
}

/// Writes the event `kind` about `refund` and its `order` (as they are after the change,
/// with the order's refunds recorded so far in this transaction). Its `order_version` is
/// left empty: a refund's event is not a change of the order row (a PENDING refund leaves
/// the order's version as it is, and a SUCCEEDED one's order change has its own
/// `order.refunded` event at that version). Inside the change's transaction.
pub fn record_refund(
    conn: &mut Connection,
    kind: EventType,
    refund: &GatewayRefund,
    order: &Order,
    at: DateTime<Utc>,
) -> Result<String, StoreError> {
    let refunds = refunds::of(conn, &order.id)?;
    let about = About {
        order: Some(order.id.as_str()),
        ..About::default()
    };
    insert(conn, kind, about, at, |id| {
        outbox::refund_body(id, kind, at, refund, order, &refunds)
    })
}

/// Writes the event `kind` about `contract` (its newest state). Inside the notice's
/// transaction. Returns the event's id.
pub fn record_contract(
    conn: &mut Connection,
    kind: EventType,
    contract: &Contract,
    at: DateTime<Utc>,
) -> Result<String, StoreError> {
    let about = About {
        contract: Some(contract.contract_no.as_str()),
        ..About::default()
    };
    insert(conn, kind, about, at, |id| {
        outbox::contract_body(id, kind, at, contract)
    })
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Position in commit order: the feed's cursor.
    pub seq: i64,
    /// `evt_…`.
    pub id: String,
    /// Its type.
    pub kind: EventType,
    /// The order it reports, if it reports one.
    pub mer_order_id: Option<String>,
    /// The order's version after the change.
    pub order_version: Option<i64>,
    /// The JSON body, as sent.
    pub body: String,
    /// When the change committed.
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = events)]
#[diesel(check_for_backend(crate::store::MultiBackend))]
struct Row {
    id: i64,
    event_id: String,
    kind: String,
    mer_order_id: Option<String>,
    order_version: Option<i64>,
    body: String,
    created_at: i64,
}

impl TryFrom<Row> for StoredEvent {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self, StoreError> {
        let key = r.id.to_string();
        Ok(StoredEvent {
            kind: EventType::parse(&r.kind)
                .ok_or_else(|| StoreError::corrupt(TABLE, key.clone(), "type"))?,
            created_at: from_ms(TABLE, &key, r.created_at)?,
            seq: r.id,
            id: r.event_id,
            mer_order_id: r.mer_order_id,
            order_version: r.order_version,
            body: r.body,
        })
    }
}

/// Which events [`page`] returns.
#[derive(Debug, Clone, Default)]
pub struct FeedFilter {
    /// Only events after this cursor (0: from the start).
    pub after: i64,
    /// Only these types (all when empty).
    pub kinds: Vec<EventType>,
    /// Only this order's events.
    pub mer_order_id: Option<String>,
    /// Page size.
    pub limit: i64,
}

/// A page of events in commit order.
pub fn page(conn: &mut Connection, f: &FeedFilter) -> Result<Vec<StoredEvent>, StoreError> {
    let mut q = events::table
        .filter(events::id.gt(f.after))
        .select(Row::as_select())
        .into_boxed();
    if !f.kinds.is_empty() {
        q = q.filter(events::kind.eq_any(f.kinds.iter().map(|k| k.as_str())));
    }
    if let Some(id) = &f.mer_order_id {
        q = q.filter(events::mer_order_id.eq(id.clone()));
    }
    q.order(events::id.asc())
        .limit(f.limit)
        .load(conn)?
        .into_iter()
        .map(StoredEvent::try_from)
        .collect()
}

/// The event with this id.
pub fn find(conn: &mut Connection, id: &str) -> Result<Option<StoredEvent>, StoreError> {
    events::table
        .filter(events::event_id.eq(id))
        .select(Row::as_select())
        .get_result(conn)
        .optional()?
        .map(StoredEvent::try_from)
        .transpose()
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
    use diesel::connection::Connection as _;

    fn all(conn: &mut Connection) -> Vec<StoredEvent> {
        page(
            conn,
            &FeedFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .unwrap()
    }

    fn paid() -> Observation {
        let mut evidence = Evidence::of(Report::Bill(BillStatus::Paid));
        evidence.amount = Some(Amount::from_fen(100).unwrap());
        Observation::report(evidence, ProviderFacts::default(), Source::Notify, None)
    }

    fn timing() -> Timing {
        Timing {
            expiry_grace: std::time::Duration::from_secs(120),
            backoff: vec![std::time::Duration::from_secs(30)],
            settled_backoff: Vec::new(),
        }
    }

    #[test]
    fn a_created_then_paid_order_has_one_event_per_change_in_commit_order() {
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        let order = new_order("d");
        create(&mut conn, &order).unwrap();
        let now = order.created_at;

        apply(&mut conn, &order.id, &paid(), &timing(), now).unwrap();
        apply(&mut conn, &order.id, &paid(), &timing(), now).unwrap();

        let events = all(&mut conn);
        let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventType::OrderCreated, EventType::OrderPaid]);
        assert_eq!(
            events.iter().map(|e| e.order_version).collect::<Vec<_>>(),
            [Some(1), Some(2)]
        );
        assert!(events[0].seq < events[1].seq);
        assert_ne!(events[0].id, events[1].id);
        let body: serde_json::Value = serde_json::from_str(&events[1].body).unwrap();
        assert_eq!(body["id"], events[1].id.as_str());
        assert_eq!(body["data"]["status"], "PAID");
        assert_eq!(body["data"]["version"], 2);
    }

    #[test]
    fn a_change_whose_transaction_rolls_back_leaves_no_event() {
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        let order = new_order("d");
        create(&mut conn, &order).unwrap();
        let now = order.created_at;

        let rolled_back = conn.transaction::<(), StoreError, _>(|c| {
            apply(c, &order.id, &paid(), &timing(), now)?;
            Err(StoreError::Conflict("the journal row failed".into()))
        });

        assert!(rolled_back.is_err());
        let kinds: Vec<_> = all(&mut conn).iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventType::OrderCreated]);
    }

    #[test]
    fn a_second_event_for_the_same_order_version_is_refused() {
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        let order = new_order("d");
        create(&mut conn, &order).unwrap();

        let again = record_order(&mut conn, EventType::OrderPaid, &order, order.created_at);

        assert!(again.is_err(), "(mer_order_id, order_version) is unique");
        assert_eq!(all(&mut conn).len(), 1);
    }
}
