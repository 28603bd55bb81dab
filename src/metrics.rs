//! Prometheus metrics: one registry per application (so that tests can run several in one
//! process), the families every layer counts into, and the text rendering. It must not
//! carry labels with unbounded values (order ids, raw paths) or any secret.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::chinaums::{CallOutcome, Operation};

/// Every metric family the gateway exports.
pub struct Metrics {
    registry: Registry,
    /// The process's own metrics (`process_*`, without the `umsgate_` prefix, as every
    /// Prometheus client names them).
    process: Registry,
    /// HTTP requests by listener, method, route pattern and status.
    pub http_requests: IntCounterVec,
    /// Orders by status, refreshed at scrape time.
    pub orders_by_status: IntGaugeVec,
    /// Orders flagged for review, refreshed at scrape time.
    pub orders_needing_review: IntGauge,
    /// Inbound notices by kind (`payment`, `contract`) and outcome (`applied`,
    /// `duplicate`, `stale`, `rejected_<reason>`, `orphan`, `review`, …).
    pub notifications: IntCounterVec,
    /// Outbound provider calls by operation and outcome.
    pub provider_calls: IntCounterVec,
    /// Outbound provider call latency by operation.
    pub provider_call_seconds: HistogramVec,
    /// Query answers about something other than the question (another order id, bill
    /// number, merchant or terminal), by operation and the field that differed; each is
    /// treated as an unknown outcome.
    pub provider_answers_elsewhere: IntCounterVec,
    /// Access tokens fetched.
    pub token_refreshes: IntCounter,
    /// Reconciler checks by outcome.
    pub reconcile_checks: IntCounterVec,
    /// Seconds from the provider's payment time to the order reaching its state here, by
    /// the source that brought it (`notify`, `query`, `admin`, `preauth`).
    pub resolution_seconds: HistogramVec,
    /// Orders awaiting the provider, by age bucket, refreshed at scrape time.
    pub pending_by_age: IntGaugeVec,
}

/// Resolution buckets (seconds): a notification arrives within seconds; the reconciler's
/// first check is 30 s after creation, later ones minutes to hours apart.
const RESOLUTION_BUCKETS: &[f64] = &[
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0,
];

/// Latency buckets for provider calls (seconds): the provider usually answers in tens of
/// milliseconds; the configured timeout is 10 s.
const CALL_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

// The label values each labelled family starts with at zero, so that every family (and the
// series alerts divide by) exists from the first scrape after a restart, come from the
// enums that own them: the provider's operations and call outcomes
// (`chinaums::Operation::ALL`, `chinaums::CallOutcome::ALL`), the resolution sources and
// order statuses (`domain::order::{Source, OrderStatus}::ALL`), the age buckets
// (`store::orders::AGE_BUCKETS`). The notice and check outcomes belong to `notify` and
// `flows::check`, which this module does not import (flows imports it): `flows` passes them
// in at start (`flows::start_series`, through [`Metrics::start_notices`] and
// [`Metrics::start_checks`]).

/// One series per listener, on the route every probe calls: the family exists before
/// the first request.
const HTTP_START: [[&str; 4]; 2] = [
    ["api", "GET", "/readyz", "200"],
    ["notify", "POST", "/notify/payment", "200"],
];

/// A metric defined from constants: its name, help and label names are literals in the
/// source, which prometheus accepts (the tests build every family at each run), so an error
/// here is a typo in the source that every test would show, never a condition of the
/// running gateway. Every static definition goes through it, `webhooks`' included.
#[expect(
    clippy::expect_used,
    reason = "static metric definitions are valid; Metrics::new runs in every test"
)]
pub fn defined<T>(definition: prometheus::Result<T>) -> T {
    definition.expect("a static metric definition is valid")
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    defined(IntCounterVec::new(Opts::new(name, help), labels))
}

impl Metrics {
    /// A fresh registry with every family registered.
    pub fn new() -> Self {
        let registry = defined(Registry::new_custom(Some("umsgate".into()), None));
        let m = Metrics {
            http_requests: counter_vec(
                "http_requests_total",
                "HTTP requests answered",
                &["listener", "method", "route", "status"],
            ),
            notifications: counter_vec(
                "notifications_total",
                "Inbound notices by kind and outcome",
                &["kind", "outcome"],
            ),
            provider_calls: counter_vec(
                "provider_calls_total",
                "Calls to the provider by operation and outcome",
                &["operation", "outcome"],
            ),
            provider_answers_elsewhere: counter_vec(
                "provider_answers_elsewhere_total",
                "Query answers naming another order, bill, merchant or terminal than asked",
                &["operation", "field"],
            ),
            provider_call_seconds: defined(HistogramVec::new(
                HistogramOpts::new("provider_call_seconds", "Provider call latency")
                    .buckets(CALL_BUCKETS.to_vec()),
                &["operation"],
            )),
            reconcile_checks: counter_vec(
                "reconcile_checks_total",
                "Reconciler checks by outcome",
                &["outcome"],
            ),
            resolution_seconds: defined(HistogramVec::new(
                HistogramOpts::new(
                    "payment_resolution_seconds",
                    "From the provider's payment time to the order's state here",
                )
                .buckets(RESOLUTION_BUCKETS.to_vec()),
                &["source"],
            )),
            pending_by_age: defined(IntGaugeVec::new(
                Opts::new(
                    "orders_pending_by_age",
                    "Orders awaiting the provider, by age",
                ),
                &["age"],
            )),
            token_refreshes: defined(IntCounter::new(
                "provider_token_refreshes_total",
                "Access tokens fetched",
            )),
            orders_by_status: defined(IntGaugeVec::new(
                Opts::new("orders", "Orders by local status"),
                &["status"],
            )),
            orders_needing_review: defined(IntGauge::new(
                "orders_needing_review",
                "Orders flagged for an operator",
            )),
            registry,
            process: Registry::new(),
        };
        #[cfg(target_os = "linux")]
        if let Err(e) = m.process.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        )) {
            log::error!("process metrics registration failed: {e}");
        }
        let build_info = defined(IntGaugeVec::new(
            Opts::new(
                "build_info",
                "The running build: version and git commit (value 1)",
            ),
            &["version", "commit"],
        ));
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), env!("UMSGATE_GIT_COMMIT")])
            .set(1);
        m.register(Box::new(build_info));
        m.start_at_zero();
        m.register(Box::new(m.http_requests.clone()));
        m.register(Box::new(m.orders_by_status.clone()));
        m.register(Box::new(m.orders_needing_review.clone()));
        m.register(Box::new(m.notifications.clone()));
        m.register(Box::new(m.provider_calls.clone()));
        m.register(Box::new(m.provider_call_seconds.clone()));
        m.register(Box::new(m.provider_answers_elsewhere.clone()));
        m.register(Box::new(m.token_refreshes.clone()));
        m.register(Box::new(m.reconcile_checks.clone()));
        m.register(Box::new(m.resolution_seconds.clone()));
        m.register(Box::new(m.pending_by_age.clone()));
        m
    }

    /// Creates the zero-valued series of every labelled family.
    fn start_at_zero(&self) {
        use crate::domain::order::{OrderStatus, Source};
        for labels in HTTP_START {
            self.http_requests.with_label_values(&labels);
        }
        for op in Operation::ALL {
            self.provider_call_seconds.with_label_values(&[op.as_str()]);
            for outcome in CallOutcome::ALL {
                self.provider_calls
                    .with_label_values(&[op.as_str(), outcome.as_str()]);
            }
        }
        for source in Source::ALL {
            self.resolution_seconds
                .with_label_values(&[source.as_str()]);
        }
        for (age, _) in crate::store::orders::AGE_BUCKETS {
            self.pending_by_age.with_label_values(&[age]);
        }
        for status in OrderStatus::ALL {
            self.orders_by_status.with_label_values(&[status.as_str()]);
        }
    }

    /// Creates the zero-valued series of inbound notices, one per kind and outcome: the
    /// vocabulary is `notify`'s, passed in at start by its owner (`flows::start_series`).
    pub fn start_notices(&self, kinds: &[&str], outcomes: &[&str]) {
        for kind in kinds {
            for outcome in outcomes {
                self.notifications.with_label_values(&[kind, outcome]);
            }
        }
    }

    /// Creates the zero-valued series of reconciler checks, one per outcome: the vocabulary
    /// is `flows::check::CheckOutcome`'s, passed in at start by its owner
    /// (`flows::start_series`).
    pub fn start_checks(&self, outcomes: &[&str]) {
        for outcome in outcomes {
            self.reconcile_checks.with_label_values(&[outcome]);
        }
    }

    /// Registers a family defined elsewhere (each layer owns its own counters).
    pub fn register(&self, c: Box<dyn prometheus::core::Collector>) {
        if let Err(e) = self.registry.register(c) {
            // Only a programming error (a name registered twice) gets here.
            log::error!("metric registration failed: {e}");
        }
    }

    /// Observes how long a payment took to reach its order, when `change` settled one
    /// (PAID or AUTHORIZED) and the provider said when the buyer paid.
    pub fn observe_resolution(
        &self,
        source: crate::domain::order::Source,
        change: &crate::domain::observe::Change,
        now: chrono::DateTime<chrono::Utc>,
    ) {
        if !change.resolved_payment() {
            return;
        }
        if let Some(secs) = change.after.facts.seconds_since_payment(now) {
            self.resolution_seconds
                .with_label_values(&[source.as_str()])
                .observe(secs);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let mut families = self.registry.gather();
        families.extend(self.process.gather());
        if let Err(e) = TextEncoder::new().encode(&families, &mut buf) {
            log::error!("metrics encoding failed: {e}");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_and_call_outcome_has_a_series_from_the_start() {
        let text = Metrics::new().render();
        for op in Operation::ALL {
            let op = op.as_str();
            assert!(
                text.contains(&format!(
                    "umsgate_provider_call_seconds_count{{operation=\"{op}\"}} 0"
                )),
                "latency of {op} missing"
            );
            for outcome in CallOutcome::ALL {
                let outcome = outcome.as_str();
                assert!(
                    text.contains(&format!(
                        "umsgate_provider_calls_total{{operation=\"{op}\",outcome=\"{outcome}\"}} 0"
                    )),
                    "{op} {outcome} missing:\n{text}"
                );
            }
        }
    }

    #[test]
    fn every_source_status_and_age_bucket_has_a_series_from_the_start() {
        use crate::domain::order::{OrderStatus, Source};
        let text = Metrics::new().render();
        for source in Source::ALL.map(Source::as_str) {
            let series =
                format!("umsgate_payment_resolution_seconds_count{{source=\"{source}\"}} 0");
            assert!(text.contains(&series), "{series} missing");
        }
        for status in OrderStatus::ALL.map(OrderStatus::as_str) {
            let series = format!("umsgate_orders{{status=\"{status}\"}} 0");
            assert!(text.contains(&series), "{series} missing");
        }
        for (age, _) in crate::store::orders::AGE_BUCKETS {
            let series = format!("umsgate_orders_pending_by_age{{age=\"{age}\"}} 0");
            assert!(text.contains(&series), "{series} missing");
        }
    }
}
