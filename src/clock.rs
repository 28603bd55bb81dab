//! The one source of "now" for the gateway and its embedded sandbox: the system clock in
//! production, a clock that tests move forward (instead of sleeping) everywhere else. It
//! must not be bypassed: code that needs the time of day takes a [`Clock`], never
//! `Utc::now()` (durations between two instants use `std::time::Instant`). Clippy holds
//! everyone to it (`disallowed-methods` in clippy.toml); only [`Clock::now`] is excused.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};

/// Wall-clock time, possibly shifted forward by a test.
///
/// A shifted clock still runs: it is the system clock plus an offset that only grows. So
/// timestamps keep increasing, two clocks that share the offset (the gateway and its
/// embedded sandbox) agree, and a test that "waits" for an expiry advances the offset.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Milliseconds added to the system clock; shared by every copy of this clock.
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock, unshifted.
    pub fn system() -> Self {
        Self::default()
    }

    /// The current time.
    #[expect(
        clippy::disallowed_methods,
        reason = "the clock is the one place that reads the system's time of day"
    )]
    pub fn now(&self) -> DateTime<Utc> {
        let offset = chrono::Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst));
        let now = Utc::now();
        now.checked_add_signed(offset).unwrap_or(now)
    }

    /// Moves this clock (and every copy of it) forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_advanced_clock_runs_ahead_and_its_copies_follow() {
        let clock = Clock::system();
        let copy = clock.clone();

        clock.advance(std::time::Duration::from_secs(3600));

        let ahead = copy.now() - Clock::system().now();
        assert!(ahead >= chrono::Duration::seconds(3599), "{ahead}");
        assert!(ahead <= chrono::Duration::seconds(3601), "{ahead}");
    }
}
