//! The record of each call: its `provider_calls` row, its log line and its metrics. It
//! must never write a secret, a token, a signature or a buyer's field (the detail is the
//! outcome's description, which carries none).

use std::time::Duration;

use super::outcome::{describe, Outcome};
use super::{Exchange, Operation, ProviderClient, Sent};
use crate::chinaums::CallOutcome;
use crate::store::provider_calls::{self, NewCall};

impl ProviderClient {
    /// The call log row, the log line, the metrics. Returns the row's id.
    pub(super) async fn record<T>(
        &self,
        op: Operation,
        order: Option<&str>,
        sent: &Sent,
        outcome: &Outcome<T>,
        elapsed: Duration,
    ) -> Option<i64> {
        let (label, http_status) = match &sent.exchange {
            Exchange::Answered(s, _) => (outcome.label(), Some(*s)),
            Exchange::Failed(_) => (outcome.label(), None),
            Exchange::NotSent(_) => (CallOutcome::NotSent.as_str(), None),
        };
        let (err_code, mut detail) = describe(outcome);
        if !sent.unsent.is_empty() {
            let retried = format!(
                "{} attempt(s) not sent ({}), then sent on a fresh connection",
                sent.unsent.len(),
                sent.unsent.join("; ")
            );
            detail = Some(match detail {
                Some(d) if !matches!(sent.exchange, Exchange::NotSent(_)) => {
                    format!("{d}; {retried}")
                }
                Some(d) => format!("{d}; {} attempts in all", sent.unsent.len() + 1),
                None => retried,
            });
        }
        let latency_ms = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
        let m = &self.shared.metrics;
        m.provider_calls
            .with_label_values(&[op.as_str(), label])
            .inc();
        m.provider_call_seconds
            .with_label_values(&[op.as_str()])
            .observe(elapsed.as_secs_f64());
        let line = format!(
            "provider {} order={} http={} errCode={} outcome={label} {latency_ms}ms",
            op.as_str(),
            order.unwrap_or("-"),
            http_status.map_or("-".to_owned(), |s| s.to_string()),
            err_code.as_deref().unwrap_or("-"),
        );
        match outcome {
            Outcome::Answer(_) | Outcome::Refused(_) => log::info!("{line}"),
            Outcome::Misconfigured { .. } | Outcome::Invalid(_) => {
                log::error!("{line}: {}", detail.as_deref().unwrap_or(""))
            }
            Outcome::Unknown(_) => log::warn!("{line}: {}", detail.as_deref().unwrap_or("")),
        }
        if !sent.unsent.is_empty() && matches!(outcome, Outcome::Answer(_) | Outcome::Refused(_)) {
            log::info!("{line}: {}", detail.as_deref().unwrap_or(""));
        }
        let (op_name, order, label) = (op.as_str(), order.map(str::to_owned), label);
        // A write like any other: it takes its turn on the writer mutex (`Db::write`)
        // rather than polling for SQLite's lock.
        let at = self.shared.clock.now();
        let result = self
            .shared
            .db
            .write(move |c| {
                provider_calls::insert(
                    c,
                    &NewCall {
                        at,
                        operation: op_name,
                        mer_order_id: order.as_deref(),
                        http_status,
                        err_code: err_code.as_deref(),
                        latency_ms,
                        outcome: label,
                        detail: detail.as_deref(),
                    },
                )
            })
            .await;
        match result {
            Ok(id) => Some(id),
            Err(e) => {
                log::error!("provider call log not written: {e}");
                None
            }
        }
    }
}
