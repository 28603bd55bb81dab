//! Synthetic orders written by one SQL statement, for tests and benchmarks that need a
//! large table fast. It bypasses `orders::create` (no creation events, no validation), so
//! the gateway itself must never call it.

use chrono::{DateTime, Utc};

use super::{postgres, sqlite, to_ms, Connection, StoreError};
use crate::domain::order::OrderStatus;

/// When synthetic orders are next due for a check.
#[derive(Debug, Clone, Copy)]
pub enum NextCheck {
    /// Never (a settled order).
    Never,
    /// Order `i` (1-based) is due `i` ms before `at`, so the lowest number is due last.
    CountingDownFrom(DateTime<Utc>),
    /// Order `i` is due `i` ms after `at`.
    CountingUpFrom(DateTime<Utc>),
}

/// Writes `n` orders of 100 fen in `status`, ids `prefix` + a 10-digit number from 1,
/// expiring at `expire_at`, in one statement (100,000 rows take well under a second).
/// Panics unless `prefix` is `[0-9A-Za-z]` only (it is spliced into the SQL).
pub fn insert_orders(
    conn: &mut Connection,
    status: OrderStatus,
    prefix: &str,
    n: u32,
    expire_at: DateTime<Utc>,
    next_check: NextCheck,
) -> Result<(), StoreError> {
    assert!(
        prefix.bytes().all(|b| b.is_ascii_alphanumeric()),
        "synthetic order prefix {prefix:?} must be alphanumeric"
    );
    let next = match next_check {
        NextCheck::Never => "NULL".to_owned(),
        NextCheck::CountingDownFrom(at) => format!("{} - i", to_ms(at)),
        NextCheck::CountingUpFrom(at) => format!("{} + i", to_ms(at)),
    };
    let rows = Numbered {
        prefix,
        n,
        status: status.as_str(),
        expire_ms: to_ms(expire_at),
        next,
        now_ms: to_ms(crate::clock::Clock::system().now()),
    };
    match conn {
        Connection::Sqlite(c) => sqlite::insert_numbered_orders(c, &rows)?,
        Connection::Pg(c) => postgres::insert_numbered_orders(c, &rows)?,
    }
    Ok(())
}

/// Synthetic order rows `prefix` + `i` (10 digits) for `i` in 1..=`n`, in one statement
/// (which [`insert_orders`] checked; `next` is an SQL expression of `i`), written by
/// each backend's own SQL.
pub(super) struct Numbered<'a> {
    /// Id prefix, alphanumeric.
    pub prefix: &'a str,
    /// How many.
    pub n: u32,
    /// Stored status.
    pub status: &'a str,
    /// `expire_at`, ms.
    pub expire_ms: i64,
    /// `next_check_at` as an expression of `i`, or `NULL`.
    pub next: String,
    /// `created_at` and `updated_at`, ms.
    pub now_ms: i64,
}
