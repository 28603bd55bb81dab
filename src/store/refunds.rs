//! The `refunds` table: each refund the provider reports for an order, as reported (its
//! key, amount and time), so that refund totals are counted, not guessed. It must not
//! decide what the refunds add up to (that is `domain::refund`).

use crate::store::Connection;
use diesel::prelude::*;

use super::schema::refunds;
use super::{from_ms, to_ms, StoreError};
use crate::domain::ids::MerOrderId;
use crate::domain::money::Amount;
use crate::domain::refund::Refund;

/// Records a refund; a second report with the same key changes nothing. Returns whether it
/// was new.
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
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(inserted == 1)
}

/// The refunds recorded for `order`, oldest first.
pub fn of(conn: &mut Connection, order: &MerOrderId) -> Result<Vec<Refund>, StoreError> {
    let rows: Vec<(i64, String, i64, i64)> = refunds::table
        .filter(refunds::mer_order_id.eq(order.as_str()))
        .order(refunds::id.asc())
        .select((
            refunds::id,
            refunds::refund_key,
            refunds::amount_fen,
            refunds::reported_at,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, key, fen, at)| {
            let row = id.to_string();
            Ok(Refund {
                amount: Amount::from_fen(fen)
                    .map_err(|e| StoreError::corrupt("refunds", &row, e.to_string()))?,
                at: from_ms("refunds", &row, at)?,
                key,
            })
        })
        .collect()
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
            of(&mut conn, &order.id).unwrap(),
            [refund("n-1", 60), refund("n-2", 30)]
        );
    }
}
