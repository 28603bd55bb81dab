//! Retention: deleting what is only kept for a while, in batches. Rejected and duplicate
//! journal rows and provider-call rows older than a cut-off go; a row an order's event
//! cites as its evidence (`notification:<id>`, `call:<id>`), a journal row a refund or a
//! contract cites, and every row of an order that is not final stay. It must not delete
//! anything else: orders, events, applied notices and contracts are kept for good.

use chrono::{DateTime, Utc};

use super::{postgres, sqlite, to_ms, Connection, StoreError};

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
    conn: &mut Connection,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> Result<Pruned, StoreError> {
    let cutoff = to_ms(cutoff);
    Ok(match conn {
        Connection::Sqlite(c) => Pruned {
            notifications: sqlite::prune_journal(c, cutoff, batch, NOT_FINAL)?,
            provider_calls: sqlite::prune_provider_calls(c, cutoff, batch, NOT_FINAL)?,
        },
        Connection::Pg(c) => Pruned {
            notifications: postgres::prune_journal(c, cutoff, batch, NOT_FINAL)?,
            provider_calls: postgres::prune_provider_calls(c, cutoff, batch, NOT_FINAL)?,
        },
    })
}
