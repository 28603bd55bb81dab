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
    pub async fn run_once(&self, client: &ProviderClient) -> Result<PassReport, StoreError> {
        if self.paused() {
            return Ok(PassReport {
                paused: true,
                ..PassReport::default()
            });
        }
        let batch = i64::from(self.gw.settings.reconcile.batch);
        let now = self.gw.now();
        let due = self.gw.db.run(move |c| orders::due(c, now, batch)).await?;
        let report = check::check_many(&self.gw, client, due, Source::Query, None)
            .await?
            .0;
        if report.stopped_for_config {
            self.pause();
        }
        Ok(report)
    }
}
