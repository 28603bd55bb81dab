//! The use cases, one room each: creating and binding an order (`create`), completing a
//! pre-authorisation (`preauth`), taking in a notification (`intake`), one check of an
//! order with the provider and many at a capped pace (`check`), an operator's resyncs
//! (`resync`), review actions (`review`) and webhook redeliveries (`redeliver`). Each is
//! one function that the HTTP handlers, the console (or the reconciler) call: it checks the
//! operator may act ([`may_act`]) when it acts for one, reads, asks the provider, and
//! applies what it learns through `Gateway::observe`. It must not decide what an order
//! becomes (that is `domain::observe`), nor know about HTTP.

pub mod check;
pub mod create;
pub mod error;
pub mod intake;
pub mod preauth;
pub mod redeliver;
pub mod resync;
pub mod review;
pub mod watch;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::ids::MerOrderId;
use crate::domain::observe::{Observation, Timing};
use crate::metrics::Metrics;
use crate::operators::{Operator, Roster};
use crate::store::orders::{self, Applied};
use crate::store::{Db, StoreError};

pub use error::FlowError;

/// The one role check of every use case that acts (resync, review, redelivery): a viewer
/// may read, not act.
pub fn may_act(by: &Operator) -> Result<(), FlowError> {
    if by.can_act() {
        Ok(())
    } else {
        Err(FlowError::Forbidden(format!(
            "operator '{}' is a viewer: viewers cannot act",
            by.name
        )))
    }
}

/// A page size as asked (`given`; absent: `default`), or the `limit` field error when it is
/// not between 1 and `max`: the one check of every paged list and resync batch.
pub fn page_limit(given: Option<i64>, default: i64, max: i64) -> Result<i64, FlowError> {
    let limit = given.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(FlowError::field(
            "limit",
            format!("must be between 1 and {max}"),
        ))
    }
}

/// Creates the zero-valued series whose vocabularies live here or in `notify`, which
/// `metrics` does not import (`flows` imports `metrics`): every notice kind × outcome
/// ([`crate::notify::metric_labels`]) and every check outcome ([`check::CheckOutcome::ALL`]),
/// so that they exist from the first scrape. [`Gateway::new`] calls it.
pub fn start_series(metrics: &Metrics) {
    metrics.start_notices(&crate::notify::KINDS, &crate::notify::metric_labels());
    metrics.start_checks(&check::CheckOutcome::ALL.map(check::CheckOutcome::as_str));
}

/// What every use case works with: the store, the settings, the metrics and the clock.
pub struct Gateway {
    /// The database.
    pub db: Db,
    /// The configuration.
    pub settings: Arc<Settings>,
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
    /// The one source of "now".
    pub clock: Clock,
    /// The reconcile timings every observation needs (from `settings.reconcile`).
    pub timing: Timing,
    /// Pre-authorisation completions under way in this process.
    pub completions: preauth::InFlight,
    /// Long-polls waiting for an order to change (`api.long_poll_waiters` at most).
    pub watchers: watch::Watchers,
    /// Notified after a commit that may have written outbox events: wakes the webhook
    /// worker.
    pub outbox: Arc<tokio::sync::Notify>,
    /// The API's backends by token (`api.tokens`), built once rather than per request.
    pub backends: Roster<String>,
    /// Who may read `/metrics` (`api.metrics_token` and the backends).
    pub scrapers: Roster<String>,
}

impl Gateway {
    /// The use cases' context over these parts.
    pub fn new(db: Db, settings: Arc<Settings>, metrics: Arc<Metrics>, clock: Clock) -> Self {
        start_series(&metrics);
        Gateway {
            timing: settings.reconcile.timing(),
            backends: settings.api.backends(),
            scrapers: settings.api.scrapers(),
            watchers: watch::Watchers::new(settings.api.long_poll_waiters),
            db,
            settings,
            metrics,
            clock,
            completions: preauth::InFlight::default(),
            outbox: Arc::default(),
        }
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Applies `obs` to the order `id` in its own write transaction. `None` if there is no
    /// such order.
    pub async fn observe(
        &self,
        id: &MerOrderId,
        obs: Observation,
    ) -> Result<Option<Applied>, StoreError> {
        let (id, timing, now) = (id.clone(), self.timing.clone(), self.now());
        let applied = self
            .db
            .write(move |c| orders::apply(c, &id, &obs, &timing, now))
            .await?;
        if let Some(a) = &applied {
            self.resolved(a, now);
        }
        Ok(applied)
    }

    /// After an observation's commit: records how long a payment took to reach its order,
    /// when `applied` settled one, and wakes the long-polls waiting on the order when it
    /// changed. Every path that applies an observation calls it.
    pub fn resolved(&self, applied: &Applied, now: DateTime<Utc>) {
        self.metrics
            .observe_resolution(applied.source, &applied.change, now);
        if applied.change.changed(&applied.before) {
            self.watchers.wake(&applied.before.id);
            self.events_written();
        }
    }

    /// Wakes the webhook worker after a commit that may have written outbox events.
    pub fn events_written(&self) {
        self.outbox.notify_one();
    }
}

#[cfg(test)]
mod series_tests {
    use super::*;

    #[test]
    fn every_notice_kind_and_outcome_has_a_series_from_the_start() {
        let metrics = Metrics::new();
        start_series(&metrics);
        let text = metrics.render();
        for kind in crate::notify::KINDS {
            for outcome in crate::notify::metric_labels() {
                let series = format!(
                    "umsgate_notifications_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} 0"
                );
                assert!(text.contains(&series), "{series} missing");
            }
        }
    }
}
