//! Prometheus metrics: one registry per application (so that tests can run several in one
//! process), the families every layer counts into, and the text rendering. It must not
//! carry labels with unbounded values (order ids, raw paths) or any secret.

use prometheus::{Encoder, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

/// Every metric family the gateway exports.
pub struct Metrics {
    registry: Registry,
    /// HTTP requests by listener, method, route pattern and status.
    pub http_requests: IntCounterVec,
    /// Orders by status, refreshed at scrape time.
    pub orders_by_status: IntGaugeVec,
    /// Orders flagged for review, refreshed at scrape time.
    pub orders_needing_review: IntGauge,
}

impl Metrics {
    /// A fresh registry with every family registered.
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("umsgate".into()), None)
            .unwrap_or_else(|_| unreachable!("static prefix is valid"));
        let m = Metrics {
            http_requests: IntCounterVec::new(
                Opts::new("http_requests_total", "HTTP requests answered"),
                &["listener", "method", "route", "status"],
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
        };
        m.register(Box::new(m.http_requests.clone()));
        m.register(Box::new(m.orders_by_status.clone()));
        m.register(Box::new(m.orders_needing_review.clone()));
        m
    }

    /// Registers a family defined elsewhere (each layer owns its own counters).
    pub fn register(&self, c: Box<dyn prometheus::core::Collector>) {
        if let Err(e) = self.registry.register(c) {
            // Only a programming error (a name registered twice) gets here.
            log::error!("metric registration failed: {e}");
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
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
