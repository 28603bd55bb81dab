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

/// The label values each labelled family starts with at zero, so that every family (and
/// the series alerts divide by) exists from the first scrape after a restart. They are the
/// values the counting code uses; a value missing here still counts, from its first event.
/// The provider's operations and call outcomes come from their enums
/// (`chinaums::Operation::ALL`, `chinaums::CallOutcome::ALL`), so none can be missing.
const NOTICE_KINDS: [&str; 2] = ["payment", "contract"];
const NOTICE_OUTCOMES: [&str; 17] = [
    "applied",
    "confirmed",
    "duplicate",
    "stale",
    "ignored",
    "orphan",
    "review",
    "unapplied",
    "misrouted",
    "rejected_bad_signature",
    "rejected_unsigned",
    "rejected_unknown_sign_type",
    "rejected_malformed",
    "rejected_too_large",
    "rejected_wrong_merchant",
    "rejected_bad_token",
    "store_error",
];
const CHECK_OUTCOMES: [&str; 10] = [
    "moved",
    "confirmed",
    "unchanged",
    "review",
    "no_order",
    "transient",
    "refused",
    "unknown",
    "config",
    "invalid_request",
];
/// One series per listener, on the route every probe calls: the family exists before
/// the first request.
const HTTP_START: [[&str; 4]; 2] = [
    ["api", "GET", "/readyz", "200"],
    ["notify", "POST", "/notify/payment", "200"],
];

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|_| unreachable!("static metric definition"))
}

impl Metrics {
    /// A fresh registry with every family registered.
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("umsgate".into()), None)
            .unwrap_or_else(|_| unreachable!("static prefix is valid"));
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
            provider_call_seconds: HistogramVec::new(
                HistogramOpts::new("provider_call_seconds", "Provider call latency")
                    .buckets(CALL_BUCKETS.to_vec()),
                &["operation"],
            )
            .unwrap_or_else(|_| unreachable!("static metric definition")),
            reconcile_checks: counter_vec(
                "reconcile_checks_total",
                "Reconciler checks by outcome",
                &["outcome"],
            ),
            resolution_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "payment_resolution_seconds",
                    "From the provider's payment time to the order's state here",
                )
                .buckets(RESOLUTION_BUCKETS.to_vec()),
                &["source"],
            )
            .unwrap_or_else(|_| unreachable!("static metric definition")),
            pending_by_age: IntGaugeVec::new(
                Opts::new(
                    "orders_pending_by_age",
                    "Orders awaiting the provider, by age",
                ),
                &["age"],
            )
            .unwrap_or_else(|_| unreachable!("static metric definition")),
            token_refreshes: IntCounter::new(
                "provider_token_refreshes_total",
                "Access tokens fetched",
            )
            .unwrap_or_else(|_| unreachable!("static metric definition")),
            orders_by_status: IntGaugeVec::new(
                Opts::new("orders", "Orders by local status"),
                &["status"],
            )
            .unwrap_or_else(|_| unreachable!("static metric definition")),
            orders_needing_review: IntGauge::new(
                "orders_needing_review",
                "Orders flagged for an operator",
            )
            .unwrap_or_else(|_| unreachable!("static metric definition")),
            registry,
            process: Registry::new(),
        };
        #[cfg(target_os = "linux")]
        if let Err(e) = m.process.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        )) {
            log::error!("process metrics registration failed: {e}");
        }
        let build_info = IntGaugeVec::new(
            Opts::new(
                "build_info",
                "The running build: version and git commit (value 1)",
            ),
            &["version", "commit"],
        )
        .unwrap_or_else(|_| unreachable!("static metric definition"));
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
        for kind in NOTICE_KINDS {
            for outcome in NOTICE_OUTCOMES {
                self.notifications.with_label_values(&[kind, outcome]);
            }
        }
        for op in Operation::ALL {
            self.provider_call_seconds.with_label_values(&[op.as_str()]);
            for outcome in CallOutcome::ALL {
                self.provider_calls
                    .with_label_values(&[op.as_str(), outcome.as_str()]);
            }
        }
        for outcome in CHECK_OUTCOMES {
            self.reconcile_checks.with_label_values(&[outcome]);
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
}
