//! The prune (`umsgate prune`, and the scheduled one when `retention.prune_tick` is set):
//! deletes, batch by batch, what `store::retention` says may go once older than
//! `retention.max_age`. Idempotent: run it any time, as often as wanted. It must not decide
//! what is kept (the store module does) nor hold the write lock for long.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

use crate::clock::Clock;
use crate::store::retention::{prune_batch, Pruned};
use crate::store::{Db, StoreError};

/// Rows per table and transaction: a batch takes milliseconds, so notifications waiting
/// for the writer are held up that long at most.
const BATCH: i64 = 500;

/// Prunes everything older than `max_age` before `now`; returns what was deleted.
pub async fn prune(db: &Db, max_age: Duration, now: DateTime<Utc>) -> Result<Pruned, StoreError> {
    let cutoff = chrono::Duration::from_std(max_age)
        .ok()
        .and_then(|age| now.checked_sub_signed(age))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let mut all = Pruned::default();
    loop {
        let batch = db.write(move |c| prune_batch(c, cutoff, BATCH)).await?;
        all.notifications += batch.notifications;
        all.provider_calls += batch.provider_calls;
        if batch.total() == 0 {
            return Ok(all);
        }
    }
}

/// Starts the scheduled prune on `tick` (validated with the configuration); each prune
/// takes its "now" from `clock`.
pub async fn schedule(
    db: Db,
    max_age: Duration,
    tick: &str,
    clock: Clock,
) -> Result<JobScheduler, JobSchedulerError> {
    let cron = JobScheduler::new().await?;
    cron.add(Job::new_async(tick, move |_, _| {
        let (db, now) = (db.clone(), clock.now());
        Box::pin(async move {
            match prune(&db, max_age, now).await {
                Ok(p) => log::info!(
                    "prune: {} journal rows and {} provider calls deleted",
                    p.notifications,
                    p.provider_calls
                ),
                Err(e) => log::error!("prune failed: {e}"),
            }
        })
    })?)
    .await?;
    cron.start().await?;
    Ok(cron)
}
