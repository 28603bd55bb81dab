//! The scheduler wiring (docs/architecture.md §8, §11): a `tokio-cron-scheduler` job on
//! `reconcile.tick` that only signals a loop; the loop, on the actix runtime, owns the
//! provider client (awc is not `Send`) and runs one pass per signal. Passes never overlap
//! (a full one-slot channel drops the extra tick), and shutdown waits for the pass in
//! flight; once told to stop it starts no new pass. It must not do reconciliation work
//! itself.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

use super::Reconciler;

/// A running scheduler and its pass loop.
pub struct Scheduler {
    cron: JobScheduler,
    stop: StopPasses,
    pass_loop: actix_web::rt::task::JoinHandle<()>,
}

/// Tells the pass loop to start no new pass (the pass in flight runs to its end).
#[derive(Clone)]
pub struct StopPasses(Arc<watch::Sender<bool>>);

impl StopPasses {
    /// From now on no pass starts.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl Scheduler {
    /// Starts the cron job and the loop. `tick` was validated with the configuration.
    pub async fn start(reconciler: Reconciler, tick: &str) -> Result<Scheduler, JobSchedulerError> {
        let (tick_tx, mut tick_rx) = mpsc::channel::<()>(1);
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let stopped = stop_rx.clone();
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
                    _ = stop_rx.wait_for(|stopped| *stopped) => break,
                    tick = tick_rx.recv() => {
                        // A tick that raced the stop: no new pass after it.
                        if tick.is_none() || *stopped.borrow() {
                            break;
                        }
                        log::debug!("reconcile pass starting");
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
            stop: StopPasses(Arc::new(stop_tx)),
            pass_loop,
        })
    }

    /// What stops new passes, for whoever handles the shutdown signal.
    pub fn stopper(&self) -> StopPasses {
        self.stop.clone()
    }

    /// Starts no new pass, stops the cron job, lets the pass in flight finish, and ends the
    /// loop.
    pub async fn shutdown(mut self) {
        self.stop.stop();
        if let Err(e) = self.cron.shutdown().await {
            log::warn!("cron scheduler shutdown: {e}");
        }
        let _ = self.pass_loop.await;
    }
}
