//! The `payment_attempts` table: each payment attempt id (`billPayment.merOrderId`) the
//! provider has named for an order, from a notification or a query answer. A bill's
//! attempts have ids of their own (the bill number plus a suffix), and the reconciler asks
//! the provider about each. It must not decide anything about the order.

use crate::store::Connection;
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::payment_attempts;
use super::{to_ms, StoreError};
use crate::domain::ids::MerOrderId;
use crate::domain::order::Source;

/// Records that the provider named `attempt` as a payment attempt of `order`; a second
/// sighting changes nothing. Returns whether it was new. An attempt id equal to the order's
/// own id is not recorded (the order is asked about anyway).
pub fn record(
    conn: &mut Connection,
    order: &MerOrderId,
    attempt: &str,
    source: Source,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    if attempt.is_empty() || attempt == order.as_str() {
        return Ok(false);
    }
    let inserted = per_backend!(conn, |c| diesel::insert_into(payment_attempts::table)
        .values((
            payment_attempts::mer_order_id.eq(order.as_str()),
            payment_attempts::attempt_id.eq(attempt),
            payment_attempts::source.eq(source.as_str()),
            payment_attempts::first_seen_at.eq(to_ms(now)),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(inserted == 1)
}

/// The attempt ids recorded for `order`, in the order they were first seen.
pub fn of(conn: &mut Connection, order: &MerOrderId) -> Result<Vec<String>, StoreError> {
    Ok(payment_attempts::table
        .filter(payment_attempts::mer_order_id.eq(order.as_str()))
        .order((
            payment_attempts::first_seen_at.asc(),
            payment_attempts::attempt_id.asc(),
        ))
        .select(payment_attempts::attempt_id)
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::orders::{self, tests::new_order};
    use crate::store::testing::temp_db;

    #[test]
    fn an_attempt_is_recorded_once_and_the_orders_own_id_not_at_all() {
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        let order = new_order("d");
        orders::create(&mut conn, &order).unwrap();
        let attempt = format!("{}0", order.id.as_str());
        let now = crate::clock::Clock::system().now();

        let first = record(&mut conn, &order.id, &attempt, Source::Notify, now).unwrap();
        let again = record(&mut conn, &order.id, &attempt, Source::Query, now).unwrap();
        let own = record(&mut conn, &order.id, order.id.as_str(), Source::Query, now).unwrap();

        assert!(first);
        assert!(!again);
        assert!(!own);
        assert_eq!(of(&mut conn, &order.id).unwrap(), [attempt]);
    }
}
