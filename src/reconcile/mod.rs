//! The reconciler: finds orders still awaiting the provider (or settled ones due a
//! re-check) and checks each (`flows::check`). [`Reconciler::run_once`] is one idempotent
//! pass that tests call directly; the scheduler (`scheduler`) only triggers it; the admin
//! resync routes use [`Reconciler::check_many`]. It must not change an order itself (each
//! check applies its observation), and must not flood the provider (bounded batch,
//! concurrency and rate).

pub mod scheduler;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use futures_util::stream::{self, StreamExt};

use crate::domain::observe::Actor;
use crate::domain::order::Source;
use crate::domain::record::Order;
use crate::flows::check::{self, Check, CheckOutcome};
use crate::flows::Gateway;
use crate::provider::{ProviderClient, ProviderShared};
use crate::store::{orders, StoreError};

/// How long passes stop after the provider refuses our credentials or configuration:
/// every query would fail the same way until an operator acts, so asking again soon only
/// adds noise at the provider.
pub const CONFIG_ERROR_PAUSE: Duration = Duration::from_secs(5 * 60);

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Orders due and selected.
    pub selected: usize,
    /// Orders checked (queried).
    pub checked: usize,
    /// Orders whose status moved.
    pub moved: usize,
    /// Orders newly flagged for review.
    pub flagged: usize,
    /// The pass stopped because the provider refused our configuration.
    pub stopped_for_config: bool,
    /// The pass did not run: passes are paused after a configuration error.
    pub paused: bool,
}

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
        let report = self.check_many(client, due, Source::Query, None).await?.0;
        if report.stopped_for_config {
            self.pause();
        }
        Ok(report)
    }

    /// Checks `orders` with the pass's concurrency and rate cap; stops launching checks at
    /// the first configuration error. Returns the report and every check made.
    pub async fn check_many(
        &self,
        client: &ProviderClient,
        orders: Vec<Order>,
        source: Source,
        by: Option<&Actor>,
    ) -> Result<(PassReport, Vec<Check>), StoreError> {
        let r = &self.gw.settings.reconcile;
        let selected = orders.len();
        let period = Duration::from_secs_f64(1.0 / f64::from(r.max_qps));
        let mut pace = actix_web::rt::time::interval(period);
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let pace = Arc::new(tokio::sync::Mutex::new(pace));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let concurrency = usize::try_from(r.concurrency).unwrap_or(1);
        let results: Vec<Result<Option<Check>, StoreError>> = stream::iter(orders)
            .map(|order| {
                let (pace, stop) = (pace.clone(), stop.clone());
                async move {
                    // The pace is taken in order, so at most max_qps queries start per second.
                    pace.lock().await.tick().await;
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        return Ok(None);
                    }
                    let check = check::check(&self.gw, client, order, source, by, 1).await?;
                    if check.outcome == CheckOutcome::Config {
                        stop.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                    Ok(Some(check))
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let mut report = PassReport {
            selected,
            ..PassReport::default()
        };
        let mut checks = Vec::new();
        for r in results {
            let Some(check) = r? else { continue };
            report.checked += 1;
            report.moved += usize::from(check.before.status != check.after.status);
            report.flagged +=
                usize::from(check.after.needs_review() && !check.before.needs_review());
            report.stopped_for_config |= check.outcome == CheckOutcome::Config;
            checks.push(check);
        }
        Ok((report, checks))
    }
}
