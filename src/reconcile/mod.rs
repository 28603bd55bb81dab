//! The reconciler: finds orders still awaiting the provider (or settled ones due a
//! re-check) and checks each (`flows::check`). [`Reconciler::run_once`] is one idempotent
//! pass that tests call directly; the scheduler (`scheduler`) only triggers it. Its checks
//! run through `flows::check::check_many`, which the operators' resyncs (`flows::resync`)
//! share. It must not change an order itself (each check applies its observation), and
//! must not flood the provider (bounded batch, concurrency and rate).

pub mod scheduler;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::order::Source;
use crate::flows::check;
use crate::flows::Gateway;
use crate::provider::{ProviderClient, ProviderShared};
use crate::store::{orders, StoreError};

/// What one pass did (the report of `flows::check::check_many`).
pub use crate::flows::check::PassReport;

/// How long passes stop after the provider refuses our credentials or configuration:
/// every query would fail the same way until an operator acts, so asking again soon only
/// adds noise at the provider.
pub const CONFIG_ERROR_PAUSE: Duration = Duration::from_secs(5 * 60);

/// The reconciler: everything a pass needs but the (per-thread) provider client.
#[derive(Clone)]
pub struct Reconciler {
    gw: Arc<Gateway>,
    provider: Arc<ProviderShared>,
    paused_until: Arc<Mutex<Option<DateTime<Utc>>>>,
}

impl Reconciler {
    /// A reconciler over these parts.
    pub fn new(gw: Arc<Gateway>, provider: Arc<ProviderShared>) -> Self {
        Reconciler {
            gw,
            provider,
            paused_until: Arc::new(Mutex::new(None)),
        }
    }

    /// A provider client for the current thread.
    pub fn client(&self) -> ProviderClient {
        ProviderClient::new(self.provider.clone())
    }

    fn paused(&self) -> bool {
        let mut p = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        match *p {
            Some(until) if self.gw.now() < until => true,
            Some(_) => {
                *p = None;
                false
            }
            None => false,
        }
    }

    fn pause(&self) {
        *self.paused_until.lock().unwrap_or_else(|e| e.into_inner()) =
            self.gw.now().checked_add_signed(
                chrono::Duration::from_std(CONFIG_ERROR_PAUSE).unwrap_or(chrono::Duration::MAX),
            );
        log::error!(
            "reconciler paused for {}s: the provider refuses our credentials or configuration; check the provider settings",
            CONFIG_ERROR_PAUSE.as_secs()
        );
    }

    /// One pass: the due orders (at most `reconcile.batch`, earliest first), each queried
    /// once, `reconcile.concurrency` at a time and no faster than `reconcile.max_qps`.
    ///
    /// Several instances may run passes over one database at once: the pass claims the due
    /// orders `reconcile.concurrency` at a time (`store::orders::claim_due`), each claim
    /// leased for as long as its checks can take ([`claim_lease`]), so that an order is
    /// asked about by one instance at a time and a dead instance's claims run out. Orders
    /// are due as of the pass's start: an order a check reschedules for "at once" waits for
    /// the next pass.
    pub async fn run_once(&self, client: &ProviderClient) -> Result<PassReport, StoreError> {
        if self.paused() {
            return Ok(PassReport {
                paused: true,
                ..PassReport::default()
            });
        }
        let r = &self.gw.settings.reconcile;
        let chunk = i64::from(r.concurrency.max(1));
        let lease = claim_lease(
            r.concurrency,
            r.max_qps,
            self.gw.settings.provider.timeout(),
        );
        let pace = check::Pace::new(r.max_qps);
        let due_at = self.gw.now();
        let mut left = i64::from(r.batch);
        let mut report = PassReport::default();
        while left > 0 {
            let lease_until = self.gw.now() + lease;
            let limit = left.min(chunk);
            let claimed = self
                .gw
                .db
                .write(move |c| orders::claim_due(c, due_at, lease_until, limit))
                .await?;
            if claimed.due == 0 {
                break;
            }
            // Due orders all claimed by another instance meanwhile: look again for others.
            let due = claimed.orders;
            if due.is_empty() {
                continue;
            }
            left -= i64::try_from(due.len()).unwrap_or(i64::MAX);
            let part = check::check_many(&self.gw, client, due, Source::Query, None, &pace)
                .await?
                .0;
            report.add(&part);
            if part.stopped_for_config {
                self.pause();
                break;
            }
        }
        Ok(report)
    }
}

/// Provider calls one check can make at most, each bounded by `provider.timeout_ms`: a
/// bill's query, a query of each payment attempt it names (rarely more than one), the
/// mini-pre-query second opinion, each asked once more on an unknown answer, and a token
/// request before any of them.
const CALLS_PER_CHECK: u32 = 8;

/// Slack on a claim's lease beyond the checks' own bound: the pass's store writes, and the
/// scheduler's tick, take milliseconds; an instance whose clock runs a little ahead of
/// another's must not take the other's live claims.
const LEASE_SLACK: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// How long one claim of `concurrency` orders is held: its checks start within
/// `concurrency / max_qps` seconds of the claim (the pace), and each ends within
/// [`CALLS_PER_CHECK`] provider deadlines. With the shipped settings (8, 20 qps, 10 s) a
/// dead instance's claimed orders are due again within 111 s.
pub fn claim_lease(concurrency: u32, max_qps: u32, timeout: Duration) -> chrono::TimeDelta {
    let pace = Duration::from_secs(u64::from(concurrency.div_ceil(max_qps.max(1))));
    let checks = timeout.saturating_mul(CALLS_PER_CHECK);
    chrono::TimeDelta::from_std(pace.saturating_add(checks))
        .unwrap_or(chrono::TimeDelta::MAX)
        .checked_add(&LEASE_SLACK)
        .unwrap_or(chrono::TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_outlasts_the_checks_it_covers_with_the_shipped_settings() {
        let lease = claim_lease(8, 20, Duration::from_secs(10));

        assert_eq!(lease, chrono::TimeDelta::seconds(1 + 80 + 30));
    }

    #[test]
    fn a_claim_covers_a_slow_pace_and_never_overflows() {
        let slow = claim_lease(32, 1, Duration::from_secs(2));
        let huge = claim_lease(u32::MAX, 1, Duration::MAX);

        assert_eq!(slow, chrono::TimeDelta::seconds(32 + 16 + 30));
        assert_eq!(huge, chrono::TimeDelta::MAX);
    }
}
