//! Read-only figures for the operator's console: journal outcomes, provider call outcomes
//! and latency, payments per hour and how long payments took to reach their orders, all
//! over a recent window. Synchronous queries over the existing tables; it must not write
//! anything, nor hold a figure the other store modules already answer (orders by status,
//! pending by age, the webhook backlog are theirs).

use crate::store::Connection;
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::{notifications, order_events, orders, provider_calls};
use super::{from_ms, to_ms, StoreError};
use crate::domain::order::OrderStatus;

/// The append-only tables whose rows carry a time that grows with their id (rows are
/// written with the time of their write, one write transaction at a time).
#[derive(Clone, Copy, Debug)]
enum Timed {
    OrderEvents,
    ProviderCalls,
    Notifications,
}

impl Timed {
    /// The smallest and the largest id, if there is a row.
    fn id_range(self, conn: &mut Connection) -> Result<Option<(i64, i64)>, StoreError> {
        use diesel::dsl::{max, min};
        let (lo, hi): (Option<i64>, Option<i64>) = match self {
            Timed::OrderEvents => order_events::table
                .select((min(order_events::id), max(order_events::id)))
                .get_result(conn)?,
            Timed::ProviderCalls => provider_calls::table
                .select((min(provider_calls::id), max(provider_calls::id)))
                .get_result(conn)?,
            Timed::Notifications => notifications::table
                .select((min(notifications::id), max(notifications::id)))
                .get_result(conn)?,
        };
        Ok(lo.zip(hi))
    }

    /// The time of the first row at or after id `from` (ids may have gaps: retention
    /// deletes rows).
    fn time_at_or_after(self, conn: &mut Connection, from: i64) -> Result<Option<i64>, StoreError> {
        Ok(match self {
            Timed::OrderEvents => order_events::table
                .filter(order_events::id.ge(from))
                .order(order_events::id.asc())
                .select(order_events::at)
                .first(conn)
                .optional()?,
            Timed::ProviderCalls => provider_calls::table
                .filter(provider_calls::id.ge(from))
                .order(provider_calls::id.asc())
                .select(provider_calls::at)
                .first(conn)
                .optional()?,
            Timed::Notifications => notifications::table
                .filter(notifications::id.ge(from))
                .order(notifications::id.asc())
                .select(notifications::received_at)
                .first(conn)
                .optional()?,
        })
    }
}

/// How far before the window the id search starts: a row's time is taken just before its
/// write transaction, so a row may carry a time a little earlier than a row written
/// before it; a minute is far more than any write waits.
const SLACK_MS: i64 = 60_000;

/// The smallest id of `t` from which every row is at most [`SLACK_MS`] older than `since`,
/// found by bisecting the primary key: about 2·log2(rows) key lookups, so that the window
/// queries read only the window's rows, without an index on the time columns (which every
/// write would pay for). The window queries still filter on the time itself.
fn first_id_since(
    conn: &mut Connection,
    t: Timed,
    since: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let Some((mut lo, mut hi)) = t.id_range(conn)? else {
        return Ok(0);
    };
    let from = to_ms(since).saturating_sub(SLACK_MS);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let at = t.time_at_or_after(conn, mid)?;
        if at.is_some_and(|at| at < from) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// How many journal rows of each outcome arrived at or after `since`, most first.
pub fn journal_outcomes(
    conn: &mut Connection,
    since: DateTime<Utc>,
) -> Result<Vec<(String, i64)>, StoreError> {
    let first = first_id_since(conn, Timed::Notifications, since)?;
    // Counted here, not with GROUP BY: SQLite would then walk the whole outcome index
    // instead of the window's key range.
    let outcomes: Vec<String> = notifications::table
        .filter(notifications::id.ge(first))
        .filter(notifications::received_at.ge(to_ms(since)))
        .select(notifications::outcome)
        .load(conn)?;
    let mut counts = std::collections::BTreeMap::<String, i64>::new();
    for o in outcomes {
        *counts.entry(o).or_default() += 1;
    }
    let mut rows: Vec<(String, i64)> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(rows)
}

/// Provider calls since a time: how many per outcome, and their latency.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallStats {
    /// `(outcome, count)`, most first.
    pub by_outcome: Vec<(String, i64)>,
    /// Every call counted.
    pub total: i64,
    /// Median latency, ms (none without calls).
    pub p50_ms: Option<i64>,
    /// 95th percentile latency, ms (none without calls).
    pub p95_ms: Option<i64>,
}

/// The nearest-rank percentile `p` (0 to 100) of `n` sorted values: its 0-based index.
fn rank(p: i64, n: i64) -> i64 {
    // ceil(p/100 * n) - 1, in integers; at least the first value.
    ((p * n + 99) / 100 - 1).clamp(0, n.saturating_sub(1).max(0))
}

/// Outcomes and latency percentiles of the provider calls started at or after `since`.
/// The percentiles are read by rank (`ORDER BY latency_ms LIMIT 1 OFFSET k`), so no row
/// is loaded but the two answers.
pub fn provider_calls_since(
    conn: &mut Connection,
    since: DateTime<Utc>,
) -> Result<CallStats, StoreError> {
    let first = first_id_since(conn, Timed::ProviderCalls, since)?;
    let since = to_ms(since);
    let mut by_outcome: Vec<(String, i64)> = provider_calls::table
        .filter(provider_calls::id.ge(first))
        .filter(provider_calls::at.ge(since))
        .group_by(provider_calls::outcome)
        .select((provider_calls::outcome, diesel::dsl::count_star()))
        .load(conn)?;
    by_outcome.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let total: i64 = by_outcome.iter().map(|(_, n)| n).sum();
    let mut at_rank = |p: i64| -> Result<Option<i64>, StoreError> {
        if total == 0 {
            return Ok(None);
        }
        Ok(provider_calls::table
            .filter(provider_calls::id.ge(first))
            .filter(provider_calls::at.ge(since))
            .order(provider_calls::latency_ms.asc())
            .select(provider_calls::latency_ms)
            .offset(rank(p, total))
            .limit(1)
            .get_result(conn)
            .optional()?)
    };
    Ok(CallStats {
        p50_ms: at_rank(50)?,
        p95_ms: at_rank(95)?,
        by_outcome,
        total,
    })
}

/// One move of an order into PAID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaidMove {
    /// When the gateway recorded the order PAID.
    pub at: DateTime<Utc>,
    /// Seconds from the provider's payment time (`payTime`) to `at`: none without a
    /// readable `payTime`; a pay time after the record counts as 0.
    pub seconds_from_payment: Option<i64>,
}

/// Every move into PAID at or after `since`, oldest first (the history's entries that only
/// flag or re-confirm a PAID order are not moves).
pub fn paid_moves_since(
    conn: &mut Connection,
    since: DateTime<Utc>,
) -> Result<Vec<PaidMove>, StoreError> {
    let paid = OrderStatus::Paid.as_str();
    let first = first_id_since(conn, Timed::OrderEvents, since)?;
    let rows: Vec<(i64, i64, Option<String>)> = order_events::table
        .inner_join(orders::table)
        .filter(order_events::id.ge(first))
        .filter(order_events::at.ge(to_ms(since)))
        .filter(order_events::to_status.eq(paid))
        .filter(
            order_events::from_status
                .is_null()
                .or(order_events::from_status.ne(paid)),
        )
        .order(order_events::id.asc())
        .select((order_events::id, order_events::at, orders::pay_time))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, at, pay_time)| {
            let seconds_from_payment = pay_time
                .as_deref()
                .and_then(crate::chinaums::time::parse_body)
                .map(|p| (at.saturating_sub(to_ms(p)) / 1000).max(0));
            Ok(PaidMove {
                at: from_ms("order_events", &id.to_string(), at)?,
                seconds_from_payment,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::notifications::{self, NewEntry};
    use crate::store::provider_calls::{self, NewCall};
    use crate::store::testing::temp_db;

    #[test]
    fn a_move_into_paid_counts_once_with_the_seconds_since_the_providers_pay_time() {
        use crate::chinaums::status::BillStatus;
        use crate::domain::money::Amount;
        use crate::domain::observe::{Observation, Timing};
        use crate::domain::order::{Evidence, Report, Source};
        use crate::domain::record::testing::t0;
        use crate::domain::record::ProviderFacts;
        use crate::store::orders;
        // Arrange: a 100-fen order paid at 12:00:10 Beijing (t0 + 10 s), recorded 60 s
        // later, then confirmed by the same report (not a second move).
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        let order = orders::tests::new_order("paid");
        orders::create(&mut conn, &order).unwrap();
        let mut evidence = Evidence::of(Report::Bill(BillStatus::Paid));
        evidence.amount = Some(Amount::from_fen(100).unwrap());
        evidence.paid_facts = true;
        let facts = ProviderFacts {
            pay_time: Some("2026-11-21 12:00:10".into()),
            ..ProviderFacts::default()
        };
        let paid = Observation::report(evidence, facts, Source::Notify, None);
        let timing = Timing {
            expiry_grace: std::time::Duration::from_secs(120),
            backoff: vec![std::time::Duration::from_secs(30)],
            settled_backoff: Vec::new(),
        };
        let at = t0() + chrono::Duration::seconds(70);
        for when in [at, at + chrono::Duration::seconds(5)] {
            orders::apply(&mut conn, &order.id, &paid, &timing, when).unwrap();
        }

        // Act
        let moves = paid_moves_since(&mut conn, t0()).unwrap();
        let later = paid_moves_since(&mut conn, at + chrono::Duration::seconds(1)).unwrap();

        // Assert
        assert_eq!(
            moves,
            [PaidMove {
                at,
                seconds_from_payment: Some(60)
            }]
        );
        assert!(later.is_empty());
    }

    fn call(at: DateTime<Utc>, outcome: &str, latency_ms: i64) -> NewCall<'_> {
        NewCall {
            at,
            operation: "mini-pre-query",
            mer_order_id: None,
            http_status: Some(200),
            err_code: None,
            latency_ms,
            outcome,
            detail: None,
        }
    }

    #[test]
    fn nearest_rank_percentiles_pick_the_value_at_or_above_the_share() {
        assert_eq!(rank(50, 1), 0);
        assert_eq!(rank(95, 1), 0);
        assert_eq!(rank(50, 10), 4);
        assert_eq!(rank(95, 10), 9);
        assert_eq!(rank(95, 100), 94);
        assert_eq!(rank(50, 0), 0);
    }

    #[test]
    fn provider_call_figures_count_only_the_window_and_rank_latencies() {
        // Arrange: 20 recent calls (latency 1..=20 ms, one in four transient) and one old.
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        let now = crate::clock::Clock::system().now();
        for i in 1..=20 {
            let outcome = if i % 4 == 0 { "transient" } else { "ok" };
            provider_calls::insert(&mut conn, &call(now, outcome, i)).unwrap();
        }
        let old = now - chrono::Duration::hours(25);
        provider_calls::insert(&mut conn, &call(old, "timeout", 10_000)).unwrap();

        // Act
        let stats = provider_calls_since(&mut conn, now - chrono::Duration::hours(24)).unwrap();

        // Assert
        assert_eq!(stats.total, 20);
        assert_eq!(
            stats.by_outcome,
            vec![("ok".to_owned(), 15), ("transient".to_owned(), 5)]
        );
        assert_eq!(stats.p50_ms, Some(10));
        assert_eq!(stats.p95_ms, Some(19));
    }

    #[test]
    fn the_window_starts_at_the_first_id_within_the_slack_of_its_time() {
        // Arrange: a call an hour apart each, ids 1 to 48, and a gap where 20..=29 were
        // pruned.
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        let t0 = crate::clock::Clock::system().now() - chrono::Duration::hours(48);
        for h in 0..48 {
            let at = t0 + chrono::Duration::hours(h);
            provider_calls::insert(&mut conn, &call(at, "ok", 1)).unwrap();
        }
        diesel::sql_query("DELETE FROM provider_calls WHERE id BETWEEN 20 AND 29")
            .execute(&mut conn)
            .unwrap();
        let at_hour = |h: i64| t0 + chrono::Duration::hours(h);

        // Act and Assert: the row of the hour, or the first after the gap.
        assert_eq!(
            first_id_since(&mut conn, Timed::ProviderCalls, at_hour(10)).unwrap(),
            11
        );
        assert_eq!(
            first_id_since(
                &mut conn,
                Timed::ProviderCalls,
                at_hour(10) + chrono::Duration::seconds(30)
            )
            .unwrap(),
            11,
            "within the slack"
        );
        let after_gap = first_id_since(&mut conn, Timed::ProviderCalls, at_hour(21)).unwrap();
        assert!(
            (20..=30).contains(&after_gap),
            "{after_gap}: row 19 out, row 30 in"
        );
        assert_eq!(
            first_id_since(
                &mut conn,
                Timed::ProviderCalls,
                t0 - chrono::Duration::days(9)
            )
            .unwrap(),
            1
        );
        assert_eq!(
            provider_calls_since(&mut conn, at_hour(40)).unwrap().total,
            8,
            "hours 40 to 47"
        );
        assert_eq!(
            first_id_since(&mut conn, Timed::Notifications, t0).unwrap(),
            0,
            "empty"
        );
    }

    #[test]
    fn no_calls_have_no_percentiles() {
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();

        let stats = provider_calls_since(&mut conn, crate::clock::Clock::system().now()).unwrap();

        assert_eq!(stats, CallStats::default());
    }

    #[test]
    fn journal_outcomes_count_the_window_most_first() {
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        let now = crate::clock::Clock::system().now();
        let entry = |at, outcome| NewEntry {
            received_at: at,
            kind: "payment",
            notify_id: None,
            first_verified_copy: false,
            order_ref: None,
            raw_body: b"x",
            content_type: None,
            remote_addr: None,
            verified: false,
            outcome,
            detail: None,
            request_id: None,
        };
        for outcome in ["rejected", "rejected", "orphan"] {
            notifications::insert(&mut conn, &entry(now, outcome)).unwrap();
        }
        let old = now - chrono::Duration::hours(30);
        notifications::insert(&mut conn, &entry(old, "orphan")).unwrap();

        let counts = journal_outcomes(&mut conn, now - chrono::Duration::hours(24)).unwrap();

        assert_eq!(
            counts,
            vec![("rejected".to_owned(), 2), ("orphan".to_owned(), 1)]
        );
    }
}
