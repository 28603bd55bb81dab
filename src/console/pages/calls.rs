//! How a provider call is shown in the table of an order's page. It must not show a
//! request's or an answer's body.

use chrono::DateTime;

use super::when;
use crate::store::provider_calls::Call;

/// A provider call as the console shows it.
pub struct CallRow {
    pub(super) id: i64,
    pub(super) at: String,
    pub(super) operation: String,
    pub(super) http_status: String,
    pub(super) err_code: String,
    pub(super) latency_ms: i64,
    pub(super) outcome: String,
    pub(super) detail: String,
}

impl From<Call> for CallRow {
    fn from(c: Call) -> Self {
        CallRow {
            id: c.id,
            at: DateTime::from_timestamp_millis(c.at).map_or_else(String::new, when),
            operation: c.operation,
            http_status: c.http_status.map(|s| s.to_string()).unwrap_or_default(),
            err_code: c.err_code.unwrap_or_default(),
            latency_ms: c.latency_ms,
            outcome: c.outcome,
            detail: c.detail.unwrap_or_default(),
        }
    }
}
