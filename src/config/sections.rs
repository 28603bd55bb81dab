//! The sections of the settings tree as they deserialise (`[api]`, `[notify]`, `[store]`,
//! `[provider]`, `[reconcile]`, `[orders]`, `[log]`, `[shutdown]`, `[retention]`), their
//! defaults, and the value shapes they share (ids as text, one or many secrets, lists of
//! durations). It must not validate values beyond their shape (that is `validate`) nor
//! read any source (that is `load`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::domain::ids::MsgSrcId;
use crate::operators::Roster;
use crate::secret::Secret;

/// Slow-header (slowloris) bound: a real client sends its head in one packet.
fn default_header_timeout() -> Duration {
    Duration::from_secs(5)
}
/// The provider's notifications are a few KB: 10 s is ample on any link.
fn default_body_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_keep_alive() -> Duration {
    Duration::from_secs(30)
}
fn default_max_connections() -> usize {
    1000
}
/// A misconfigured integration fails a few times a minute; a flood is thousands.
fn default_rejected_budget() -> u32 {
    30
}
fn default_rejected_window() -> Duration {
    Duration::from_secs(60)
}

/// `[retention]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Rejected and duplicate notices and provider calls older than this are pruned
    /// (never one an order event cites, nor any of an order not final).
    #[serde(with = "humantime_serde", default = "default_retention_age")]
    pub max_age: Duration,
    /// When the scheduled prune runs (cron with a seconds field); none: only `umsgate prune`.
    #[serde(default)]
    pub prune_tick: Option<String>,
}

fn default_retention_age() -> Duration {
    Duration::from_secs(90 * 24 * 3600)
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            max_age: default_retention_age(),
            prune_tick: None,
        }
    }
}

/// What both listeners take, under the same keys in `[api]` and `[notify]` (flattened into
/// each section, so `api.bind` and `UMSGATE__API__BIND` are spelled as ever).
#[derive(Clone, Debug, Deserialize)]
pub struct ListenerSettings {
    /// Listen address (port 0 picks a free port).
    pub bind: SocketAddr,
    /// Worker threads.
    pub workers: usize,
    /// Largest accepted body, bytes.
    pub max_body_bytes: usize,
    /// Time for a client to send a request's head; slower clients are closed.
    #[serde(with = "humantime_serde", default = "default_header_timeout")]
    pub header_timeout: Duration,
    /// Time for a client to send a request's whole body; slower ones get 408 and are closed.
    #[serde(with = "humantime_serde", default = "default_body_timeout")]
    pub body_timeout: Duration,
    /// How long an idle keep-alive connection is kept open.
    #[serde(with = "humantime_serde", default = "default_keep_alive")]
    pub keep_alive: Duration,
    /// Connections held at once on this listener (all workers together); more wait in the
    /// listen backlog. Lowered at start to fit the open-files limit (`http::limits`).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Peers whose `X-Forwarded-For` is believed (a load balancer in front). Empty: the
    /// client address is always the TCP peer.
    #[serde(default)]
    pub trusted_proxies: Vec<IpAddr>,
}

/// `[api]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// The listener's keys.
    #[serde(flatten)]
    pub listener: ListenerSettings,
    /// Most long-polls (`GET /orders/{id}?wait=`) waiting at once; more are answered 503.
    #[serde(default = "default_long_poll_waiters")]
    pub long_poll_waiters: usize,
    /// The backends allowed to call the API, each by name with its bearer token. Empty: the
    /// API is open, which only a loopback `bind` allows (and production only with
    /// `allow_unauthenticated_loopback`).
    #[serde(default)]
    pub tokens: Vec<BackendToken>,
    /// A bearer token for `/metrics` alone (a scraper), besides the backends' tokens.
    #[serde(default)]
    pub metrics_token: Option<Secret>,
    /// Production's waiver of `tokens` for a sidecar whose `bind` is loopback.
    #[serde(default)]
    pub allow_unauthenticated_loopback: bool,
}

/// One backend allowed to call the API.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendToken {
    /// Who (letters, digits, `.`, `_`, `-`; at most 64): written to the access log of each
    /// of its requests.
    pub name: String,
    /// Its bearer token.
    pub token: Secret,
}

impl ApiSettings {
    /// The backends' roster: each token with its backend's name.
    pub fn backends(&self) -> Roster<String> {
        Roster::new(self.backend_tokens().collect())
    }

    /// Who may read `/metrics`: the backends, and the scraper named
    /// [`METRICS_SCRAPER_NAME`] with `metrics_token`.
    pub fn scrapers(&self) -> Roster<String> {
        let scraper = self
            .metrics_token
            .iter()
            .map(|t| (METRICS_SCRAPER_NAME.to_owned(), t.clone()));
        Roster::new(scraper.chain(self.backend_tokens()).collect())
    }

    /// Each backend's name with its token.
    fn backend_tokens(&self) -> impl Iterator<Item = (String, Secret)> + '_ {
        self.tokens
            .iter()
            .map(|b| (b.name.clone(), b.token.clone()))
    }
}

/// The name the access log gives a request admitted with `api.metrics_token`.
pub const METRICS_SCRAPER_NAME: &str = "metrics";

impl ApiSettings {
    /// Every key of `[api]`, for the problem naming an unknown one (serde does not list the
    /// keys of a table with flattened ones).
    pub(super) const KEYS: &'static [&'static str] = &[
        "bind",
        "workers",
        "max_body_bytes",
        "header_timeout",
        "body_timeout",
        "keep_alive",
        "max_connections",
        "trusted_proxies",
        "long_poll_waiters",
        "tokens",
        "metrics_token",
        "allow_unauthenticated_loopback",
    ];
}

/// Each waiter holds a connection and a few hundred bytes: a thousand counters polling at
/// once is far more than one merchant's tills, and far less than the process can hold.
fn default_long_poll_waiters() -> usize {
    1000
}

/// `[notify]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    /// The listener's keys.
    #[serde(flatten)]
    pub listener: ListenerSettings,
    /// Base of the `notifyUrl` given to the provider.
    pub public_url: String,
    /// Notification keys; all verify. One key may be given as a plain string.
    #[serde(deserialize_with = "one_or_many")]
    pub keys: Vec<Secret>,
    /// Secret path segment of the contract notice route.
    pub contract_token: Option<Secret>,
    /// Refused (unverified) notices a peer may send per `rejected_window` before it is
    /// answered 429 without a journal row.
    #[serde(default = "default_rejected_budget")]
    pub rejected_budget: u32,
    /// The window the budget refills over.
    #[serde(with = "humantime_serde", default = "default_rejected_window")]
    pub rejected_window: Duration,
}

impl NotifySettings {
    /// Every key of `[notify]`, for the problem naming an unknown one (serde does not list
    /// the keys of a table with flattened ones).
    pub(super) const KEYS: &'static [&'static str] = &[
        "bind",
        "workers",
        "max_body_bytes",
        "header_timeout",
        "body_timeout",
        "keep_alive",
        "max_connections",
        "trusted_proxies",
        "public_url",
        "keys",
        "contract_token",
        "rejected_budget",
        "rejected_window",
    ];
}

/// `store.statement_timeout`: a payment write takes milliseconds; a statement still
/// running after 5 s is stuck (a lock never released), and failing it frees its request.
fn default_statement_timeout() -> Duration {
    Duration::from_secs(5)
}
/// `store.connect_timeout`: a server on the same network answers in milliseconds; 5 s
/// covers a TLS handshake to a managed server far away.
fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}

/// `[store]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// PostgreSQL's `postgres://` or `postgresql://` URL; absent: SQLite at `path`. It may
    /// hold a password: shown only through [`redacted_url`].
    #[serde(default)]
    pub url: Option<Secret>,
    /// SQLite's database file.
    pub path: PathBuf,
    /// Pooled connections.
    pub pool_size: u32,
    /// SQLite busy timeout.
    #[serde(with = "humantime_serde")]
    pub busy_timeout: Duration,
    /// Whether start-up may create a missing database file (`umsgate migrate` always may).
    /// Off outside the sandbox: a missing file there means data went missing.
    #[serde(default)]
    pub create_if_missing: bool,
    /// PostgreSQL's `statement_timeout`, set on every connection.
    #[serde(with = "humantime_serde", default = "default_statement_timeout")]
    pub statement_timeout: Duration,
    /// How long opening a PostgreSQL connection may take (libpq's `connect_timeout`).
    #[serde(with = "humantime_serde", default = "default_connect_timeout")]
    pub connect_timeout: Duration,
}

/// A database URL with its password, if any, as `[redacted]`: the user info's, and the
/// query parameters libpq reads a password from (`password`, `sslpassword`); a URL that
/// does not parse is redacted whole.
pub fn redacted_url(raw: &str) -> String {
    /// Query parameters of a libpq URL that carry a secret.
    const SECRET_PARAMS: [&str; 2] = ["password", "sslpassword"];
    match url::Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                // Fails only for URLs that cannot have a password, and this one has one.
                let _ = url.set_password(Some(crate::secret::REDACTED));
            }
            if url
                .query_pairs()
                .any(|(k, _)| SECRET_PARAMS.contains(&k.as_ref()))
            {
                let pairs: Vec<(String, String)> = url
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if SECRET_PARAMS.contains(&k.as_ref()) {
                            crate::secret::REDACTED.to_owned()
                        } else {
                            v.into_owned()
                        };
                        (k.into_owned(), v)
                    })
                    .collect();
                url.query_pairs_mut().clear().extend_pairs(pairs);
            }
            url.to_string()
                .replace("%5Bredacted%5D", crate::secret::REDACTED)
        }
        Err(_) => crate::secret::REDACTED.to_owned(),
    }
}

/// `provider.mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderMode {
    /// Start the embedded sandbox and use it.
    Sandbox,
    /// Use `provider.base_url`.
    Remote,
}

/// `provider.auth`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// OPEN-BODY-SIG on every call.
    BodySig,
    /// OPEN-ACCESS-TOKEN with a cached token.
    Token,
}

/// `[provider]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Sandbox or remote.
    pub mode: ProviderMode,
    /// Provider base URL (remote mode).
    pub base_url: String,
    /// Signing scheme.
    pub auth: AuthMode,
    /// appId.
    #[serde(deserialize_with = "text")]
    pub app_id: String,
    /// appKey.
    pub app_key: Secret,
    /// Merchant number.
    #[serde(deserialize_with = "text")]
    pub mid: String,
    /// Terminal number.
    #[serde(deserialize_with = "text")]
    pub tid: String,
    /// Source id, as configured (validated into [`ProviderSettings::msg_src_id`]).
    #[serde(rename = "msg_src_id", deserialize_with = "text")]
    pub(super) msg_src_id_raw: String,
    /// Per-call timeout, ms.
    pub timeout_ms: u64,
}

impl ProviderSettings {
    /// The validated source id.
    #[expect(
        clippy::expect_used,
        reason = "`validate::problems` refuses a settings tree whose msg_src_id does not parse \
                  before `Settings::from_figment` builds one"
    )]
    pub fn msg_src_id(&self) -> MsgSrcId {
        MsgSrcId::parse(&self.msg_src_id_raw).expect("provider.msg_src_id was validated")
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// `[reconcile]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileSettings {
    /// Scheduler on/off.
    pub enabled: bool,
    /// Cron expression with seconds.
    pub tick: String,
    /// Delay before the first query.
    #[serde(with = "humantime_serde")]
    pub first_check_after: Duration,
    /// Gaps between later queries.
    #[serde(deserialize_with = "durations")]
    pub backoff: Vec<Duration>,
    /// Gaps between the checks of a PAID or REFUNDED order (empty: none).
    #[serde(deserialize_with = "durations", default)]
    pub settled_backoff: Vec<Duration>,
    /// Orders per pass.
    pub batch: u32,
    /// Queries in flight.
    pub concurrency: u32,
    /// Queries per second.
    pub max_qps: u32,
    /// Time past expiry before an unpaid order is closed.
    #[serde(with = "humantime_serde")]
    pub expiry_grace: Duration,
}

impl ReconcileSettings {
    /// The timings every observation of an order needs.
    pub fn timing(&self) -> crate::domain::observe::Timing {
        crate::domain::observe::Timing {
            expiry_grace: self.expiry_grace,
            backoff: self.backoff.clone(),
            settled_backoff: self.settled_backoff.clone(),
        }
    }
}

/// `[orders]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderSettings {
    /// Expiry of orders created without one.
    #[serde(with = "humantime_serde")]
    pub default_expiry: Duration,
    /// Largest amount, fen.
    pub max_amount_fen: i64,
}

/// `[log]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// Line format.
    pub format: LogFormat,
}

/// `log.format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `<time> <LEVEL> <target>: <message>`, for people.
    Text,
    /// One JSON object per line (`time`, `level`, `target`, `message`, `fields`), for
    /// log collectors.
    Json,
}

/// `[shutdown]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownSettings {
    /// How long the listeners give requests in flight to finish after SIGTERM/SIGINT.
    #[serde(with = "humantime_serde")]
    pub grace: Duration,
}

/// An id or code as text: a string, or an integer as written (TOML `mid = 898…` and
/// all-digit values need no second quoting).
pub(super) fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("text or an integer")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(V)
}

/// A list of secrets, or one secret alone.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Secret>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(Secret),
        Many(Vec<Secret>),
    }
    match OneOrMany::deserialize(d) {
        Ok(OneOrMany::One(s)) => Ok(vec![s]),
        Ok(OneOrMany::Many(v)) => Ok(v),
        Err(_) => Err(serde::de::Error::custom(
            "must be a key or a list of keys, as text (value not shown: secret)",
        )),
    }
}

/// A list of humantime durations (`humantime_serde` handles single values only).
pub(super) fn durations<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| humantime::parse_duration(s).map_err(serde::de::Error::custom))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::redacted_url;

    #[test]
    fn a_database_urls_password_is_redacted_in_its_user_info_and_in_its_query() {
        let in_user_info = redacted_url("postgres://gw:s3cret@db.example:5432/umsgate");
        let in_query = redacted_url(
            "postgresql://gw@db.example/umsgate?sslmode=require&password=s3cret&sslpassword=k3y",
        );
        let unparsable = redacted_url("postgres://gw:s3cret@[::1/umsgate");

        assert_eq!(
            in_user_info,
            "postgres://gw:[redacted]@db.example:5432/umsgate"
        );
        assert_eq!(
            in_query,
            "postgresql://gw@db.example/umsgate?sslmode=require&password=[redacted]&sslpassword=[redacted]"
        );
        assert_eq!(unparsable, "[redacted]");
    }
}
