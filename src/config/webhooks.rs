//! `[webhooks]`: the backend's endpoints (Standard Webhooks), the back-off of redeliveries
//! and the worker's pace; validation that names the offending key. It must not start
//! anything.

use std::time::Duration;

use base64::Engine;
use serde::Deserialize;

use super::{check_url, durations, Problem};
use crate::domain::outbox::EventType;
use crate::secret::Secret;

/// The prefix of a Standard Webhooks secret: `whsec_<base64 of the key>`.
pub const SECRET_PREFIX: &str = "whsec_";

/// `[webhooks]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Where events are POSTed; only from configuration.
    #[serde(default)]
    pub endpoints: Vec<EndpointSettings>,
    /// Gaps before each retry of a failed delivery; after the last one it is `failed`.
    #[serde(default = "default_backoff", deserialize_with = "durations")]
    pub backoff: Vec<Duration>,
    /// How long one attempt may take; no 2xx within it is a failed attempt.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// How often the worker looks for due deliveries (it also runs after every commit).
    #[serde(default = "default_tick", with = "humantime_serde")]
    pub tick: Duration,
    /// Most deliveries attempted in one pass.
    #[serde(default = "default_batch")]
    pub batch: i64,
    /// Most attempts in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

/// One endpoint.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSettings {
    /// `http(s)://…`: also the endpoint's name in the store, the metrics and the admin API.
    pub url: String,
    /// One secret (`whsec_…`).
    #[serde(default)]
    pub secret: Option<Secret>,
    /// Several secrets, all signing (to rotate with overlap).
    #[serde(default)]
    pub secrets: Vec<Secret>,
    /// Only these event types (all when empty).
    #[serde(default)]
    pub events: Vec<String>,
}

impl EndpointSettings {
    /// Every active secret.
    pub fn all_secrets(&self) -> impl Iterator<Item = &Secret> {
        self.secret.iter().chain(self.secrets.iter())
    }

    /// The decoded keys of the active secrets (validated at start).
    pub fn keys(&self) -> Vec<Vec<u8>> {
        self.all_secrets()
            .filter_map(|s| decode_secret(s.expose()))
            .collect()
    }

    /// The event types it takes (empty: all).
    pub fn event_types(&self) -> Vec<EventType> {
        self.events
            .iter()
            .filter_map(|e| EventType::parse(e))
            .collect()
    }
}

/// `url` without user info, query or fragment (which may hold a password or a token): how
/// an endpoint is named in the delivery log, the metrics and the console, and how any URL
/// is shown in a configuration problem.
pub fn url_label(url: &str) -> String {
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..cut];
    let Some(scheme) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    // The user info is the authority's part before its last '@' (a password may hold one).
    let authority_end = url[scheme..].find('/').map_or(url.len(), |i| scheme + i);
    match url[scheme..authority_end].rfind('@') {
        Some(at) => format!("{}{}", &url[..scheme], &url[scheme + at + 1..]),
        None => url.to_owned(),
    }
}

/// The key of a `whsec_<base64>` secret.
pub fn decode_secret(secret: &str) -> Option<Vec<u8>> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX)?)
        .ok()?;
    (!key.is_empty()).then_some(key)
}

/// Seconds, then minutes, then hours: a receiver down for a deploy gets the event within
/// a minute, one down for a weekend still gets it; about three days in all (Standard
/// Webhooks' and Stripe's horizon).
fn default_backoff() -> Vec<Duration> {
    [
        5, 30, 120, 600, 1800, 3600, 7200, 14_400, 28_800, 43_200, 86_400, 86_400,
    ]
    .into_iter()
    .map(Duration::from_secs)
    .collect()
}

/// Standard Webhooks asks receivers to answer within 15 s; 10 s leaves room.
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Commits wake the worker at once; the tick only picks up retries that fall due.
fn default_tick() -> Duration {
    Duration::from_secs(1)
}

/// A pass of a hundred keeps one pass short when a backlog is drained.
fn default_batch() -> i64 {
    100
}

/// A few slow receivers must not hold the others up; eight is plenty on two cores.
fn default_concurrency() -> usize {
    8
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            endpoints: Vec::new(),
            backoff: default_backoff(),
            timeout: default_timeout(),
            tick: default_tick(),
            batch: default_batch(),
            concurrency: default_concurrency(),
        }
    }
}

impl WebhookSettings {
    /// Every problem of the endpoints and the pace.
    pub(super) fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (i, e) in self.endpoints.iter().enumerate() {
            let key = |k: &str| format!("webhooks.endpoints[{i}].{k}");
            if let Err(p) = check_url(&key("url"), &e.url) {
                problems.push(p);
            }
            if self.endpoints[..i].iter().any(|o| o.url == e.url) {
                problems.push(Problem::new(&key("url"), "is listed twice"));
            }
            if e.all_secrets().next().is_none() {
                problems.push(Problem::new(
                    &key("secret"),
                    "a secret (or secrets) is required",
                ));
            } else if e.all_secrets().any(|s| decode_secret(s.expose()).is_none()) {
                problems.push(Problem::new(
                    &key("secrets"),
                    "each secret must be whsec_ followed by base64 of a non-empty key (value not shown: secret)",
                ));
            }
            if let Some(bad) = e.events.iter().find(|t| EventType::parse(t).is_none()) {
                problems.push(Problem::new(&key("events"), "unknown event type").showing(bad));
            }
        }
        if self.backoff.is_empty() {
            problems.push(Problem::new("webhooks.backoff", "must not be empty"));
        }
        let positive = [
            ("webhooks.timeout", !self.timeout.is_zero()),
            ("webhooks.tick", !self.tick.is_zero()),
            ("webhooks.batch", self.batch > 0),
            ("webhooks.concurrency", self.concurrency > 0),
        ];
        for (key, ok) in positive {
            if !ok {
                problems.push(Problem::new(key, "must be greater than 0"));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{message, with};
    use super::*;
    use crate::config::Environment;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn an_endpoint_is_labelled_without_user_info_query_or_fragment() {
        assert_eq!(
            url_label("https://u:p@backend.example:8443/hook?token=s3cret#x"),
            "https://backend.example:8443/hook"
        );
        assert_eq!(
            url_label("https://u:p@ss@backend.example/hook"),
            "https://backend.example/hook"
        );
        assert_eq!(
            url_label("https://backend.example/users/@me"),
            "https://backend.example/users/@me"
        );
        assert_eq!(
            url_label("http://127.0.0.1:9000/hook"),
            "http://127.0.0.1:9000/hook"
        );
    }

    #[test]
    fn no_endpoint_is_configured_by_default_and_the_back_off_spans_about_three_days() {
        let s = with(Environment::Sandbox, "").unwrap();

        assert!(s.webhooks.endpoints.is_empty());
        let total: Duration = s.webhooks.backoff.iter().sum();
        assert!(total > Duration::from_secs(2 * 86_400) && total < Duration::from_secs(4 * 86_400));
    }

    #[test]
    fn an_endpoint_takes_one_secret_or_several_and_an_event_filter() {
        let s = with(
            Environment::Sandbox,
            &format!(
                r#"[webhooks]
                endpoints = [
                  {{ url = "http://127.0.0.1:9000/a", secret = "{SECRET}" }},
                  {{ url = "https://backend.example/b", secrets = ["{SECRET}", "whsec_b25l"], events = ["order.paid"] }},
                ]"#
            ),
        )
        .unwrap();

        let [a, b] = &s.webhooks.endpoints[..] else {
            panic!("two endpoints")
        };
        assert_eq!(a.keys().len(), 1);
        assert_eq!(b.keys(), [decode_secret(SECRET).unwrap(), b"one".to_vec()]);
        assert_eq!(b.event_types(), [EventType::OrderPaid]);
        assert!(a.event_types().is_empty());
    }

    #[test]
    fn a_bad_endpoint_is_refused_naming_its_key() {
        for (endpoint, key) in [
            (
                r#"{ url = "ftp://x/h", secret = "S" }"#,
                "webhooks.endpoints[0].url",
            ),
            (r#"{ url = "http://x/h" }"#, "webhooks.endpoints[0].secret"),
            (
                r#"{ url = "http://x/h", secret = "not-whsec" }"#,
                "webhooks.endpoints[0].secrets",
            ),
            (
                r#"{ url = "http://x/h", secret = "whsec_!!" }"#,
                "webhooks.endpoints[0].secrets",
            ),
            (
                r#"{ url = "http://x/h", secret = "S", events = ["order.eaten"] }"#,
                "webhooks.endpoints[0].events",
            ),
        ] {
            let endpoint = endpoint.replace("\"S\"", &format!("\"{SECRET}\""));
            let m = message(with(
                Environment::Sandbox,
                &format!("[webhooks]\nendpoints = [{endpoint}]"),
            ));
            assert!(m.contains(key), "{endpoint}: {m}");
            assert!(!m.contains("MfKQ9r8"), "no secret in {m}");
        }
    }
}
