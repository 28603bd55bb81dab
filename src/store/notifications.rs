//! The `notifications` table: the journal of every inbound notice, verified or not. Rows
//! are only ever inserted; it must not be used to decide anything but duplicates.

use crate::store::Connection;
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::notifications;
use super::{from_ms, to_ms, StoreError};

const TABLE: &str = "notifications";

/// A notice to journal.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// `payment` or `contract`.
    pub kind: &'a str,
    /// Its `notifyId`, where it has one.
    pub notify_id: Option<&'a str>,
    /// Whether this is the copy that applies: only then does the unique index see it.
    pub first_verified_copy: bool,
    /// The order or contract it names.
    pub order_ref: Option<&'a str>,
    /// The body exactly as received.
    pub raw_body: &'a [u8],
    /// Its content type.
    pub content_type: Option<&'a str>,
    /// The peer.
    pub remote_addr: Option<&'a str>,
    /// Whether the signature (or token) verified.
    pub verified: bool,
    /// What happened: applied, duplicate, stale, rejected, orphan, review, confirmed …
    pub outcome: &'a str,
    /// Why, in words.
    pub detail: Option<&'a str>,
    /// The id of the HTTP request that brought it (as in the access log).
    pub request_id: Option<&'a str>,
}

/// What [`insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Journaled {
    /// A new row with this id.
    Row(i64),
    /// The `notifyId` was already journaled as the applying copy: nothing inserted.
    DuplicateNotifyId,
}

/// Journals a notice. When `first_verified_copy` is set, the database's unique index on
/// the `notifyId` decides whether this copy is the first: if it is not, nothing is
/// inserted and [`Journaled::DuplicateNotifyId`] is returned.
pub fn insert(conn: &mut Connection, e: &NewEntry<'_>) -> Result<Journaled, StoreError> {
    let dedup_key = e.first_verified_copy.then_some(e.notify_id).flatten();
    let inserted: Option<i64> = per_backend!(conn, |c| diesel::insert_into(notifications::table)
        .values((
            notifications::received_at.eq(to_ms(e.received_at)),
            notifications::kind.eq(e.kind),
            notifications::notify_id.eq(e.notify_id),
            notifications::dedup_key.eq(dedup_key),
            notifications::order_ref.eq(e.order_ref),
            notifications::raw_body.eq(e.raw_body),
            notifications::content_type.eq(e.content_type),
            notifications::remote_addr.eq(e.remote_addr),
            notifications::verified.eq(e.verified),
            notifications::outcome.eq(e.outcome),
            notifications::detail.eq(e.detail),
            notifications::request_id.eq(e.request_id),
        ))
        .on_conflict_do_nothing()
        .returning(notifications::id)
        .get_result(c)
        .optional())?;
    Ok(inserted.map_or(Journaled::DuplicateNotifyId, Journaled::Row))
}

/// Rewrites a journal row's outcome once the notice has been applied.
pub fn set_outcome(
    conn: &mut Connection,
    id: i64,
    outcome: &str,
    detail: Option<&str>,
) -> Result<(), StoreError> {
    diesel::update(notifications::table.find(id))
        .set((
            notifications::outcome.eq(outcome),
            notifications::detail.eq(detail),
        ))
        .execute(conn)?;
    Ok(())
}

/// A journal row, without its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Row id.
    pub id: i64,
    /// Arrival.
    pub received_at: DateTime<Utc>,
    /// `payment` or `contract`.
    pub kind: String,
    /// Its `notifyId`.
    pub notify_id: Option<String>,
    /// Order or contract named.
    pub order_ref: Option<String>,
    /// Content type.
    pub content_type: Option<String>,
    /// Peer.
    pub remote_addr: Option<String>,
    /// Verified.
    pub verified: bool,
    /// Outcome.
    pub outcome: String,
    /// Why.
    pub detail: Option<String>,
}

type EntryColumns = (
    notifications::id,
    notifications::received_at,
    notifications::kind,
    notifications::notify_id,
    notifications::order_ref,
    notifications::content_type,
    notifications::remote_addr,
    notifications::verified,
    notifications::outcome,
    notifications::detail,
);

const ENTRY_COLUMNS: EntryColumns = (
    notifications::id,
    notifications::received_at,
    notifications::kind,
    notifications::notify_id,
    notifications::order_ref,
    notifications::content_type,
    notifications::remote_addr,
    notifications::verified,
    notifications::outcome,
    notifications::detail,
);

type EntryRow = (
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
    String,
    Option<String>,
);

/// Filters for [`list`].
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this kind (`payment` or `contract`).
    pub kind: Option<String>,
    /// Only notices naming this order or contract.
    pub order_ref: Option<String>,
    /// Only verified (or unverified) notices.
    pub verified: Option<bool>,
    /// Only this outcome.
    pub outcome: Option<String>,
    /// Keyset cursor: rows after this id.
    pub after: Option<i64>,
    /// Only notices received at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Newest first (the console's journal) instead of oldest first (paging with `after`).
    pub newest_first: bool,
    /// Page size.
    pub limit: i64,
}

/// A page of the journal, oldest first (newest first when the filter says so).
pub fn list(conn: &mut Connection, f: &Filter) -> Result<Vec<Entry>, StoreError> {
    let mut q = notifications::table.select(ENTRY_COLUMNS).into_boxed();
    if let Some(k) = &f.kind {
        q = q.filter(notifications::kind.eq(k.clone()));
    }
    if let Some(r) = &f.order_ref {
        q = q.filter(notifications::order_ref.eq(r.clone()));
    }
    if let Some(v) = f.verified {
        q = q.filter(notifications::verified.eq(v));
    }
    if let Some(o) = &f.outcome {
        q = q.filter(notifications::outcome.eq(o.clone()));
    }
    if let Some(a) = f.after {
        q = q.filter(notifications::id.gt(a));
    }
    if let Some(t) = f.since {
        q = q.filter(notifications::received_at.ge(to_ms(t)));
    }
    q = if f.newest_first {
        q.order(notifications::id.desc())
    } else {
        q.order(notifications::id.asc())
    };
    let rows: Vec<EntryRow> = q.limit(f.limit).load(conn)?;
    rows.into_iter()
        .map(|r| {
            Ok(Entry {
                received_at: from_ms(TABLE, &r.0.to_string(), r.1)?,
                id: r.0,
                kind: r.2,
                notify_id: r.3,
                order_ref: r.4,
                content_type: r.5,
                remote_addr: r.6,
                verified: r.7,
                outcome: r.8,
                detail: r.9,
            })
        })
        .collect()
}

/// The body of one journal row, exactly as received.
pub fn raw_body(conn: &mut Connection, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(notifications::table
        .find(id)
        .select(notifications::raw_body)
        .first(conn)
        .optional()?)
}
