//! The journal of every request received on the provider routes, for `GET /_sandbox/calls`:
//! path, appId, whether auth verified, the `errCode` answered, the fault injected, when. It
//! must hold no body, header value, key, token or signature.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::chinaums::time;

/// The journal keeps this many calls, dropping the oldest: enough for any test or
/// debugging session, bounded so that a long-running sandbox does not grow without end.
pub const MAX_CALLS: usize = 10_000;

/// One journaled request to a provider route.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    /// Position in the journal, from 1.
    pub seq: u64,
    /// When it arrived, `yyyy-MM-dd HH:mm:ss` Beijing time.
    pub at: String,
    /// What it was and how it was answered.
    #[serde(flatten)]
    pub call: Call,
}

/// The journal.
#[derive(Debug, Default)]
pub struct CallLog {
    calls: VecDeque<CallRecord>,
    next: u64,
}

/// What is known of a call when it is journaled.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    /// The route, e.g. `/v1/netpay/wx/mini-pre-query`.
    pub path: String,
    /// The appId the request named (even when auth failed), if any.
    pub app_id: Option<String>,
    /// `body-sig`, `token`, or none (token requests, missing or unreadable headers).
    pub auth_scheme: Option<&'static str>,
    /// Whether the request authenticated.
    pub auth_verified: bool,
    /// The HTTP status answered.
    pub http_status: u16,
    /// The `errCode` answered (none for a garbage answer).
    pub err_code: Option<String>,
    /// The fault injected, if any: `error`, `timeout`, `garbage`.
    pub fault: Option<&'static str>,
}

impl CallLog {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    /// Journals a call received at `at`.
    pub fn record(&mut self, call: Call, at: DateTime<Utc>) {
        self.next = self.next.saturating_add(1);
        if self.calls.len() >= MAX_CALLS {
            self.calls.pop_front();
        }
        self.calls.push_back(CallRecord {
            seq: self.next,
            at: time::format_body(at),
            call,
        });
    }

    /// Every journaled call on `path` (all when `None`), oldest first.
    pub fn list(&self, path: Option<&str>) -> Vec<CallRecord> {
        self.calls
            .iter()
            .filter(|c| path.is_none_or(|p| c.call.path == p))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_keeps_the_newest_calls_and_filters_by_path() {
        let mut log = CallLog::new();
        for i in 0..(MAX_CALLS + 2) {
            let path = if i % 2 == 0 { "/a" } else { "/b" };
            log.record(
                Call {
                    path: path.into(),
                    ..Call::default()
                },
                crate::clock::Clock::system().now(),
            );
        }

        let all = log.list(None);
        let only_a = log.list(Some("/a"));

        assert_eq!(all.len(), MAX_CALLS);
        assert_eq!(all[0].seq, 3);
        assert_eq!(only_a.len(), MAX_CALLS / 2);
    }
}
