//! Webhooks (Standard Webhooks): the worker that takes the outbox's events into
//! deliveries for each configured endpoint and POSTs them, signed, retrying on the
//! `webhooks.backoff` schedule with jitter until a 2xx or until the schedule runs out
//! (`failed`). [`Webhooks::run_once`] is one idempotent pass that tests call directly; the
//! loop ([`Webhooks::start`]) only triggers it, on `webhooks.tick` and after each commit.
//! It must not change an order or an event, nor log a secret or a body.

pub mod sign;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts};
use rand::Rng;
use tokio::sync::{oneshot, Notify};

use crate::clock::Clock;
use crate::config::{EndpointSettings, WebhookSettings};
use crate::domain::outbox::EventType;
use crate::domain::schedule::jittered;
use crate::metrics::{defined, Metrics};
use crate::store::deliveries::{self, Attempt, AttemptOutcome, Due};
use crate::store::{Db, StoreError};

/// Bytes of a receiver's answer kept with an attempt: enough for an error message, not
/// enough for a receiver to fill the database.
const EXCERPT_BYTES: usize = 256;

/// Latency buckets (seconds) from commit to 2xx: a live receiver is in the first few, a
/// retried one in the minutes and hours.
const LATENCY_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 30.0, 120.0, 600.0, 3600.0, 86400.0,
];

/// One endpoint, ready to sign for.
#[derive(Clone, Debug)]
struct Endpoint {
    url: String,
    /// The URL as logs and metrics show it: without user info, query or fragment (where a
    /// receiver may keep a token).
    label: String,
    keys: Vec<Vec<u8>>,
    kinds: Vec<EventType>,
}

impl From<&EndpointSettings> for Endpoint {
    fn from(e: &EndpointSettings) -> Self {
        Endpoint {
            label: label(&e.url),
            url: e.url.clone(),
            keys: e.keys(),
            kinds: e.event_types(),
        }
    }
}

/// The webhook metrics families.
#[derive(Clone)]
struct WebhookMetrics {
    attempts: IntCounterVec,
    undelivered: IntGaugeVec,
    oldest_undelivered: IntGaugeVec,
    latency: HistogramVec,
}

impl WebhookMetrics {
    fn new(metrics: &Metrics) -> Self {
        let m = WebhookMetrics {
            attempts: defined(IntCounterVec::new(
                Opts::new("webhook_attempts_total", "Webhook attempts by outcome"),
                &["endpoint", "outcome"],
            )),
            undelivered: defined(IntGaugeVec::new(
                Opts::new(
                    "webhook_undelivered",
                    "Deliveries not delivered yet (pending or failed), by endpoint",
                ),
                &["endpoint"],
            )),
            oldest_undelivered: defined(IntGaugeVec::new(
                Opts::new(
                    "webhook_oldest_undelivered_seconds",
                    "Age of the oldest event not delivered yet, by endpoint",
                ),
                &["endpoint"],
            )),
            latency: defined(HistogramVec::new(
                HistogramOpts::new(
                    "webhook_delivery_seconds",
                    "From an event's commit to its endpoint's 2xx",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["endpoint"],
            )),
        };
        metrics.register(Box::new(m.attempts.clone()));
        metrics.register(Box::new(m.undelivered.clone()));
        metrics.register(Box::new(m.oldest_undelivered.clone()));
        metrics.register(Box::new(m.latency.clone()));
        m
    }
}

/// The delivery worker's shared parts.
#[derive(Clone)]
pub struct Webhooks {
    db: Db,
    settings: WebhookSettings,
    endpoints: Arc<Vec<Endpoint>>,
    clock: Clock,
    metrics: WebhookMetrics,
    /// Woken after each commit that may have written an event.
    wake: Arc<Notify>,
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Deliveries taken from the outbox.
    pub enqueued: usize,
    /// Attempts made.
    pub attempted: usize,
    /// Of them, delivered.
    pub delivered: usize,
    /// Deliveries that ran out of retries in this pass.
    pub failed: usize,
}

impl Webhooks {
    /// The worker over these parts; `wake` is what commits notify.
    pub fn new(
        db: Db,
        settings: &WebhookSettings,
        clock: Clock,
        metrics: &Metrics,
        wake: Arc<Notify>,
    ) -> Self {
        Webhooks {
            db,
            endpoints: Arc::new(settings.endpoints.iter().map(Endpoint::from).collect()),
            settings: settings.clone(),
            clock,
            metrics: WebhookMetrics::new(metrics),
            wake,
        }
    }

    /// An HTTP client for this thread (awc is not `Send`).
    pub fn client(&self) -> awc::Client {
        awc::Client::builder()
            .timeout(self.settings.timeout)
            .disable_redirects()
            .finish()
    }

    /// One pass: takes new events into deliveries for every endpoint, then attempts the
    /// due ones (`webhooks.concurrency` at a time) and records each attempt. Idempotent:
    /// a claimed delivery is not attempted by another pass until its lease runs out.
    pub async fn run_once(&self, client: &awc::Client) -> Result<PassReport, StoreError> {
        let mut report = PassReport::default();
        if self.endpoints.is_empty() {
            return Ok(report);
        }
        let now = self.clock.now();
        let (endpoints, batch) = (self.endpoints.clone(), self.settings.batch);
        report.enqueued = self
            .db
            .write(move |c| {
                endpoints.iter().try_fold(0, |n, e| {
                    Ok::<_, StoreError>(n + deliveries::enqueue(c, &e.url, &e.kinds, now, batch)?)
                })
            })
            .await?;
        // Leased for two timeouts: the attempt ends (and is recorded) well before.
        let lease = now
            + chrono::Duration::from_std(self.settings.timeout * 2)
                .unwrap_or(chrono::Duration::MAX);
        let due = self
            .db
            .write(move |c| deliveries::claim_due(c, now, lease, batch))
            .await?;
        let results: Vec<Result<(AttemptOutcome, bool), StoreError>> = stream::iter(due)
            .map(|d| self.attempt(client, d))
            .buffer_unordered(self.settings.concurrency)
            .collect()
            .await;
        for r in results {
            let (outcome, gave_up) = r?;
            report.attempted += 1;
            report.delivered += usize::from(outcome == AttemptOutcome::Delivered);
            report.failed += usize::from(gave_up);
        }
        self.refresh_gauges().await?;
        Ok(report)
    }

    /// Sends one delivery and records the attempt. Returns its outcome, and whether the
    /// delivery is now failed for good.
    async fn attempt(
        &self,
        client: &awc::Client,
        d: Due,
    ) -> Result<(AttemptOutcome, bool), StoreError> {
        let Some(endpoint) = self.endpoints.iter().find(|e| e.url == d.endpoint) else {
            // An endpoint no longer configured: left as it is, never sent.
            return Ok((AttemptOutcome::Unreachable, false));
        };
        let at = self.clock.now();
        let timestamp = at.timestamp();
        let signature = sign::signature(&endpoint.keys, &d.event_id, timestamp, &d.body);
        let started = Instant::now();
        // One deadline for the whole exchange, the answer's body included: awc's own timeout
        // covers only the head, and a receiver trickling its body would hold the worker.
        let exchange = async {
            let mut res = client
                .post(&endpoint.url)
                .insert_header(("Content-Type", "application/json"))
                .insert_header(("webhook-id", d.event_id.as_str()))
                .insert_header(("webhook-timestamp", timestamp.to_string()))
                .insert_header(("webhook-signature", signature))
                .send_body(d.body.clone())
                .await?;
            let body = res
                .body()
                .limit(EXCERPT_BYTES * 16)
                .await
                .unwrap_or_default();
            Ok::<_, awc::error::SendRequestError>((res.status(), body))
        };
        let sent = actix_web::rt::time::timeout(self.settings.timeout, exchange).await;
        let (outcome, code, excerpt) = match sent {
            Ok(Ok((status, body))) => {
                let excerpt = excerpt(&body);
                let outcome = if status.is_success() {
                    AttemptOutcome::Delivered
                } else {
                    AttemptOutcome::Refused
                };
                (outcome, Some(status.as_u16()), excerpt)
            }
            Ok(Err(e)) => (
                AttemptOutcome::Unreachable,
                None,
                excerpt(e.to_string().as_bytes()),
            ),
            Err(_elapsed) => (
                AttemptOutcome::Unreachable,
                None,
                excerpt(awc::error::SendRequestError::Timeout.to_string().as_bytes()),
            ),
        };
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let next = match outcome {
            AttemptOutcome::Delivered => None,
            _ => self.retry_at(d.attempts, at),
        };
        let id = d.delivery_id;
        let attempt_excerpt = excerpt.clone();
        self.db
            .write(move |c| {
                deliveries::record_attempt(
                    c,
                    id,
                    &Attempt {
                        at,
                        status_code: code,
                        latency_ms,
                        outcome,
                        excerpt: &attempt_excerpt,
                    },
                    next,
                )
            })
            .await?;
        self.metrics
            .attempts
            .with_label_values(&[endpoint.label.as_str(), outcome.as_str()])
            .inc();
        if outcome == AttemptOutcome::Delivered {
            // Never negative: a commit stamped in the future counts as delivered at once.
            let secs = (self.clock.now() - d.committed_at)
                .to_std()
                .unwrap_or_default()
                .as_secs_f64();
            self.metrics
                .latency
                .with_label_values(&[endpoint.label.as_str()])
                .observe(secs);
        } else {
            log::warn!(
                "webhook {} to {} not delivered (attempt {}, {}{})",
                d.event_id,
                endpoint.label,
                d.attempts + 1,
                outcome.as_str(),
                code.map(|c| format!(" {c}")).unwrap_or_default()
            );
        }
        Ok((
            outcome,
            outcome != AttemptOutcome::Delivered && next.is_none(),
        ))
    }

    /// When to try again after the `done`-th failed attempt (0 for the first), or `None`
    /// when the back-off has run out.
    fn retry_at(&self, done: u32, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let gap: Duration = *self
            .settings
            .backoff
            .get(usize::try_from(done).unwrap_or(usize::MAX))?;
        Some(at + jittered(gap, rand::rng().random::<f64>()))
    }

    /// Sets the undelivered gauges of every endpoint.
    async fn refresh_gauges(&self) -> Result<(), StoreError> {
        let now = self.clock.now();
        let rows = self.db.run(deliveries::undelivered).await?;
        for e in self.endpoints.iter() {
            let (n, oldest) = rows
                .iter()
                .find(|(url, _, _)| *url == e.url)
                .map_or((0, 0), |(_, n, t)| (*n, (now - *t).num_seconds().max(0)));
            self.metrics
                .undelivered
                .with_label_values(&[e.label.as_str()])
                .set(n);
            self.metrics
                .oldest_undelivered
                .with_label_values(&[e.label.as_str()])
                .set(oldest);
        }
        Ok(())
    }

    /// Starts the loop: a pass on every `webhooks.tick` and after every commit that woke
    /// it; passes never overlap. Stops, without waiting for a pass in flight, when the
    /// returned sender is fired or dropped.
    pub fn start(&self) -> (oneshot::Sender<()>, actix_web::rt::task::JoinHandle<()>) {
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let worker = self.clone();
        let handle = actix_web::rt::spawn(async move {
            let client = worker.client();
            loop {
                // A stop does not wait for a pass: an attempt cut short is unrecorded, and
                // its lease lets the next start send it again (at least once).
                tokio::select! {
                    biased;
                    _ = &mut stop_rx => break,
                    r = worker.run_once(&client) => {
                        if let Err(e) = r {
                            log::error!("webhook pass failed: {e}");
                        }
                    }
                }
                tokio::select! {
                    biased;
                    _ = &mut stop_rx => break,
                    () = worker.wake.notified() => {}
                    () = tokio::time::sleep(worker.settings.tick) => {}
                }
            }
        });
        (stop_tx, handle)
    }
}

/// `url` without user info, query or fragment: the one redacting label of an endpoint, in
/// the delivery log and the metrics as in a configuration error.
pub use crate::config::url_label as label;

/// The first bytes of an answer, as text.
fn excerpt(body: &[u8]) -> String {
    let mut end = body.len().min(EXCERPT_BYTES);
    while end > 0 && std::str::from_utf8(&body[..end]).is_err() {
        end -= 1;
    }
    String::from_utf8_lossy(&body[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_bounded_and_cut_on_a_character() {
        let long = "é".repeat(EXCERPT_BYTES);
        let cut = excerpt(long.as_bytes());
        assert!(cut.len() <= EXCERPT_BYTES && cut.chars().all(|c| c == 'é'));
    }
}
