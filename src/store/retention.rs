//! Retention: deleting what is only kept for a while, in batches. Rejected and duplicate
//! journal rows and provider-call rows older than a cut-off go; a row an order's event
//! cites as its evidence (`notification:<id>`, `call:<id>`), a journal row a refund or a
//! contract cites, and every row of an order that is not final stay. It must not delete
//! anything else: orders, events, applied notices and contracts are kept for good.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel::sqlite::SqliteConnection;

use super::{to_ms, StoreError};

/// An order is final when nothing can change it any more: closed, or refunded in full,
/// with no check scheduled and no review pending. A paid order is not final: a refund may
/// follow for as long as the provider allows.
const NOT_FINAL: &str = "SELECT mer_order_id FROM orders WHERE NOT (\
     review_flagged_at IS NULL AND next_check_at IS NULL \
     AND (status = 'CLOSED' OR (status = 'REFUNDED' AND refunded_amount_fen = amount_fen)))";

/// What one batch deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Journal rows.
    pub notifications: usize,
    /// Provider-call rows.
    pub provider_calls: usize,
}

impl Pruned {
    /// Rows in all.
    pub fn total(&self) -> usize {
        self.notifications + self.provider_calls
    }
}

/// Deletes at most `batch` rows of each table older than `cutoff`, in the caller's
/// transaction. Run it again until it deletes nothing.
pub fn prune_batch(
    conn: &mut SqliteConnection,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> Result<Pruned, StoreError> {
    let notifications = diesel::sql_query(format!(
        "DELETE FROM notifications WHERE id IN (
           SELECT n.id FROM notifications n
           WHERE n.received_at < ?1 AND n.outcome IN ('rejected', 'duplicate')
             AND n.id NOT IN (SELECT CAST(substr(evidence, 14) AS INTEGER) FROM order_events
                              WHERE evidence LIKE 'notification:%')
             AND n.id NOT IN (SELECT CAST(substr(evidence, 14) AS INTEGER) FROM refunds
                              WHERE evidence LIKE 'notification:%')
             AND n.id NOT IN (SELECT notification_id FROM contracts
                              WHERE notification_id IS NOT NULL)
             AND (n.order_ref IS NULL OR n.order_ref NOT IN ({NOT_FINAL}))
           ORDER BY n.id LIMIT ?2)"
    ))
    .bind::<BigInt, _>(to_ms(cutoff))
    .bind::<BigInt, _>(batch)
    .execute(conn)?;
    let provider_calls = diesel::sql_query(format!(
        "DELETE FROM provider_calls WHERE id IN (
           SELECT p.id FROM provider_calls p
           WHERE p.at < ?1
             AND p.id NOT IN (SELECT CAST(substr(evidence, 6) AS INTEGER) FROM order_events
                              WHERE evidence LIKE 'call:%')
             AND (p.mer_order_id IS NULL OR p.mer_order_id NOT IN ({NOT_FINAL}))
           ORDER BY p.id LIMIT ?2)"
    ))
    .bind::<BigInt, _>(to_ms(cutoff))
    .bind::<BigInt, _>(batch)
    .execute(conn)?;
    Ok(Pruned {
        notifications,
        provider_calls,
    })
}
