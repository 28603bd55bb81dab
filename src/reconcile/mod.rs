//! The reconciler (DESIGN.md §8): finds orders still awaiting the provider, asks the
//! provider about each (`mini-pre-query`), applies the answer through the state machine
//! and schedules the next check. [`Reconciler::run_once`] is one idempotent pass that tests
//! call directly; the scheduler (`scheduler`) only triggers it; the admin resync routes
//! use [`Reconciler::check`]. It must not change a status except through
//! `store::orders::apply`, and must not flood the provider (bounded batch, concurrency and
//! rate).

pub mod policy;
pub mod scheduler;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};

use crate::chinaums::status::{ErrClass, TradeStatus};
use crate::chinaums::wire;
use crate::config::Settings;
use crate::domain::money::Amount;
use crate::domain::order::{Decision, Evidence, OrderStatus, Report, Source};
use crate::domain::record::{Binding, Order, ProviderFacts};
use crate::metrics::Metrics;
use crate::provider::{Outcome, ProviderClient, ProviderShared};
use crate::store::orders::{self, Observation, Timing};
use crate::store::{events, Db, StoreError};

/// How long passes stop after the provider refuses our credentials or configuration:
/// every query would fail the same way until an operator acts, so asking again soon only
/// adds noise at the provider.
pub const CONFIG_ERROR_PAUSE: Duration = Duration::from_secs(5 * 60);

/// What one check of one order did.
#[derive(Debug, Clone)]
pub struct Check {
    /// The order before.
    pub before: Order,
    /// The order after.
    pub after: Order,
    /// What the provider's answer came to: `moved`, `confirmed`, `unchanged`, `review`,
    /// `no_order`, `transient`, `refused`, `unknown`, `config`, `invalid_request`.
    pub outcome: &'static str,
}

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
    db: Db,
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    provider: Arc<ProviderShared>,
    paused_until: Arc<Mutex<Option<Instant>>>,
}

impl Reconciler {
    /// A reconciler over these parts.
    pub fn new(
        db: Db,
        settings: Arc<Settings>,
        metrics: Arc<Metrics>,
        provider: Arc<ProviderShared>,
    ) -> Self {
        Reconciler {
            db,
            settings,
            metrics,
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
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                *p = None;
                false
            }
            None => false,
        }
    }

    fn pause(&self) {
        *self.paused_until.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Instant::now() + CONFIG_ERROR_PAUSE);
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
        let batch = i64::from(self.settings.reconcile.batch);
        let due = self
            .db
            .run(move |c| orders::due(c, Utc::now(), batch))
            .await?;
        let report = self.check_many(client, due, Source::Query).await?.0;
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
    ) -> Result<(PassReport, Vec<Check>), StoreError> {
        let r = &self.settings.reconcile;
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
                    let check = self.check(client, order, source, 1).await?;
                    if check.outcome == "config" {
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
            report.flagged += usize::from(check.after.needs_review && !check.before.needs_review);
            report.stopped_for_config |= check.outcome == "config";
            checks.push(check);
        }
        Ok((report, checks))
    }

    /// Asks the provider about one order and applies the answer: the completion's own id
    /// first for an AUTHORIZED order with a completion in doubt, then the order itself.
    /// `attempts` is how many times an unknown or transient answer is asked again.
    pub async fn check(
        &self,
        client: &ProviderClient,
        order: Order,
        source: Source,
        attempts: u32,
    ) -> Result<Check, StoreError> {
        let mut found: Option<(Evidence, ProviderFacts, Option<String>)> = None;
        let mut label = "unchanged";
        let mut exists_at_provider = false;

        if let (OrderStatus::Authorized, Some(cid)) = (order.status, &order.completion_order_id) {
            let called = client
                .mini_pre_query(order.id.as_str(), cid, Some(&order.inst_mid), attempts)
                .await;
            match &called.outcome {
                Outcome::Answer(a) if a.status == Some(TradeStatus::TradeSuccess) => {
                    let mut e = Evidence::of(Report::Completed);
                    e.amount = wire::read(&a.total_amount).and_then(|f| Amount::from_fen(f).ok());
                    found = Some((e, facts_of(a), called.evidence_ref()));
                }
                Outcome::Misconfigured { .. } => label = "config",
                _ => {}
            }
        }
        if found.is_none() && label != "config" {
            let called = client
                .mini_pre_query(
                    order.id.as_str(),
                    order.id.as_str(),
                    Some(&order.inst_mid),
                    attempts,
                )
                .await;
            let evidence_ref = called.evidence_ref();
            match called.outcome {
                Outcome::Answer(a) => {
                    exists_at_provider = true;
                    let mut e = Evidence::of(Report::Trade(
                        a.status.clone().unwrap_or(TradeStatus::Unknown),
                    ));
                    e.amount = wire::read(&a.total_amount).and_then(|f| Amount::from_fen(f).ok());
                    let facts = facts_of(&a);
                    e.paid_facts = facts.show_a_payment();
                    found = Some((e, facts, evidence_ref));
                }
                Outcome::Refused(r) if r.class == ErrClass::NoOrder => {
                    found = Some((
                        Evidence::of(Report::NoOrder),
                        ProviderFacts::default(),
                        evidence_ref,
                    ));
                    label = "no_order";
                }
                other => label = other.label(),
            }
        }
        if label == "config" {
            self.metrics
                .reconcile_checks
                .with_label_values(&["config"])
                .inc();
            return Ok(Check {
                before: order.clone(),
                after: order,
                outcome: label,
            });
        }

        let now = Utc::now();
        let (settings, id) = (self.settings.clone(), order.id.clone());
        let settled_before = !order.status.awaits_provider();
        let (applied, after, flagged) = self
            .db
            .write(move |c| {
                let applied = match found {
                    Some((evidence, facts, evidence_ref)) => orders::apply(
                        c,
                        &Observation {
                            order: id.clone(),
                            evidence,
                            facts,
                            source,
                            evidence_ref,
                            timing: Timing::from(&settings.reconcile),
                        },
                        now,
                    )?,
                    None => None,
                };
                let mut flagged = false;
                let after = orders::update(c, &id, now, |o| {
                    o.schedule.last_checked_at = Some(now);
                    if exists_at_provider && o.binding == Binding::Unknown {
                        o.binding = Binding::Bound;
                    }
                    if o.status.awaits_provider() {
                        o.schedule.attempts = o.schedule.attempts.saturating_add(1);
                        let next = policy::after_check(
                            o.schedule.attempts,
                            &settings.reconcile.backoff,
                            now,
                            rand::random(),
                        );
                        o.schedule.next_check_at = Some(next.at);
                        if next.exhausted && !o.needs_review {
                            flagged = o.flag(format!(
                                "no final answer from the provider after {} checks",
                                policy::scheduled_checks(&settings.reconcile.backoff)
                            ));
                        }
                    } else if settled_before && o.schedule.next_check_at.is_some() {
                        // One of the few checks after settlement: the next, or none.
                        o.schedule.attempts = o.schedule.attempts.saturating_add(1);
                        let index = usize::try_from(o.schedule.attempts).unwrap_or(usize::MAX);
                        o.schedule.next_check_at = settings
                            .reconcile
                            .settled_backoff
                            .get(index)
                            .and_then(|gap| {
                                now.checked_add_signed(policy::jittered(*gap, rand::random()))
                            });
                    }
                })?;
                if flagged {
                    events::insert(
                        c,
                        &events::NewEvent {
                            order: &after.id,
                            from: Some(after.status),
                            to: after.status,
                            source,
                            evidence: None,
                            reason: after
                                .review_reason
                                .as_deref()
                                .map(|r| format!("review: {r}"))
                                .as_deref(),
                            at: now,
                        },
                    )?;
                }
                Ok::<_, StoreError>((applied, after, flagged))
            })
            .await?;
        if let Some(a) = &applied {
            self.metrics.observe_resolution(a, now);
            label = match &a.decision {
                Decision::Move { .. } => "moved",
                Decision::Confirm => "confirmed",
                Decision::Review(_) => "review",
                Decision::Ignore(_) if label == "no_order" => "no_order",
                Decision::Ignore(_) => "unchanged",
            };
        }
        if flagged {
            label = "review";
        }
        self.metrics
            .reconcile_checks
            .with_label_values(&[label])
            .inc();
        Ok(Check {
            before: order,
            after,
            outcome: label,
        })
    }
}

/// The facts a query answer carries.
/// The facts a query answer brings.
pub(crate) fn facts_of(a: &crate::chinaums::wire::MiniPreQueryResponse) -> ProviderFacts {
    ProviderFacts {
        provider_status: a.status.as_ref().map(|s| s.as_str().to_owned()),
        seq_id: a.seq_id.clone(),
        target_order_id: a.target_order_id.clone(),
        target_sys: a.target_sys.clone(),
        pay_time: wire::read(&a.pay_time),
        settle_date: wire::read(&a.settle_date),
        auth_id_resp_code: None,
    }
}

/// Seconds from `pay_time` (Beijing, as the provider writes it) to `now`.
pub fn seconds_since_payment(pay_time: &str, now: DateTime<Utc>) -> Option<f64> {
    let paid = crate::chinaums::time::parse_body(pay_time)?;
    let ms = (now - paid).num_milliseconds();
    // Whole-second pay times can sit up to a second in the future.
    Some(ms.max(0) as f64 / 1000.0)
}
