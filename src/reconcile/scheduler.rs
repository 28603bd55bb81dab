//! The scheduler wiring (docs/architecture.md §8, §11): a `tokio-cron-scheduler` job on
//! `reconcile.tick` that only signals a loop; the loop, on the actix runtime, owns the
//! provider client (awc is not `Send`) and runs one pass per signal. Passes never overlap
//! (a full one-slot channel drops the extra tick), and shutdown waits for the pass in
//! flight. It must not do reconciliation work itself.

use tokio::sync::{mpsc, oneshot};
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

use super::Reconciler;

/// A running scheduler and its pass loop.
pub struct Scheduler {
    cron: JobScheduler,
    stop: Option<oneshot::Sender<()>>,
    pass_loop: actix_web::rt::task::JoinHandle<()>,
}

impl Scheduler {
    /// Starts the cron job and the loop. `tick` was validated with the configuration.
    pub async fn start(reconciler: Reconciler, tick: &str) -> Result<Scheduler, JobSchedulerError> {
        let (tick_tx, mut tick_rx) = mpsc::channel::<()>(1);
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let cron = JobScheduler::new().await?;
        cron.add(Job::new(tick, move |_, _| {
            // A full channel means a pass is pending already: this tick is not needed.
            let _ = tick_tx.try_send(());
        })?)
        .await?;
        cron.start().await?;
        let pass_loop = actix_web::rt::spawn(async move {
            let client = reconciler.client();
            loop {
                tokio::select! {
                    biased;
                    _ = &mut stop_rx => break,
                    tick = tick_rx.recv() => {
                        if tick.is_none() {
                            break;
                        }
                        match reconciler.run_once(&client).await {
                            Ok(r) if r.checked > 0 => log::info!(
                                "reconcile pass: {} checked, {} moved, {} flagged{}",
                                r.checked,
                                r.moved,
                                r.flagged,
                                if r.stopped_for_config { ", stopped: provider configuration error" } else { "" }
                            ),
                            Ok(_) => {}
                            Err(e) => log::error!("reconcile pass failed: {e}"),
                        }
                    }
                }
            }
        });
        Ok(Scheduler {
            cron,
            stop: Some(stop_tx),
            pass_loop,
        })
    }

    /// Stops the cron job, lets the pass in flight finish, and ends the loop.
    pub async fn shutdown(mut self) {
        if let Err(e) = self.cron.shutdown().await {
            log::warn!("cron scheduler shutdown: {e}");
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.pass_loop.await;
    }
}
