//! When an order is next checked with the provider: the back-off list with jitter, and when
//! the list counts as exhausted. Pure: the caller passes the time and the random draw. It
//! must not touch the store or the network.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Jitter spreads checks by ±10% of their gap, so that orders created together are not
/// all queried in the same second.
pub const JITTER: f64 = 0.10;

/// The schedule after a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextCheck {
    /// When to check again.
    pub at: DateTime<Utc>,
    /// Whether the back-off list is used up: the order is flagged for review, and still
    /// checked at the last gap so that it reaches its true state when the provider answers.
    pub exhausted: bool,
}

/// Scales `gap` by a factor in `[1 - JITTER, 1 + JITTER)` picked by `unit` in `[0, 1)`.
pub fn jittered(gap: Duration, unit: f64) -> chrono::Duration {
    let factor = 1.0 - JITTER + 2.0 * JITTER * unit.clamp(0.0, 1.0);
    chrono::Duration::from_std(gap.mul_f64(factor)).unwrap_or(chrono::Duration::MAX)
}

/// The next check after the `checks_done`-th check (1 for the first) made at `now`.
/// `backoff` must not be empty (configuration validation guarantees it).
pub fn after_check(
    checks_done: u32,
    backoff: &[Duration],
    now: DateTime<Utc>,
    unit: f64,
) -> NextCheck {
    let index = usize::try_from(checks_done.saturating_sub(1)).unwrap_or(usize::MAX);
    let (gap, exhausted) = match backoff.get(index) {
        Some(gap) => (*gap, false),
        None => (
            backoff.last().copied().unwrap_or(Duration::from_secs(3600)),
            true,
        ),
    };
    NextCheck {
        at: now
            .checked_add_signed(jittered(gap, unit))
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
        exhausted,
    }
}

/// How many checks the schedule allows before an order is flagged: the first, then one
/// after each gap.
pub fn scheduled_checks(backoff: &[Duration]) -> u32 {
    u32::try_from(backoff.len())
        .unwrap_or(u32::MAX)
        .saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn each_check_uses_the_next_gap_and_then_the_list_is_exhausted() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).unwrap();
        let backoff = [secs(30), secs(60), secs(120)];

        let gaps: Vec<(i64, bool)> = (1..=5)
            .map(|n| {
                let next = after_check(n, &backoff, now, 0.5);
                ((next.at - now).num_seconds(), next.exhausted)
            })
            .collect();

        assert_eq!(
            gaps,
            [
                (30, false),
                (60, false),
                (120, false),
                (120, true),
                (120, true)
            ]
        );
        assert_eq!(scheduled_checks(&backoff), 4);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let gap = secs(100);
        assert_eq!(jittered(gap, 0.0).num_milliseconds(), 90_000);
        assert_eq!(jittered(gap, 0.5).num_milliseconds(), 100_000);
        assert!(jittered(gap, 0.999_999).num_milliseconds() < 110_000);
        assert_eq!(
            jittered(gap, 7.0).num_milliseconds(),
            110_000,
            "out-of-range draws are clamped"
        );
    }
}
