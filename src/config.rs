//! The settings tree (docs/architecture.md §9): the built-in defaults compiled from
//! `config/*.toml`, optional files from a configuration directory, `UMSGATE__…` variables,
//! and validation that reports every problem at once, each under the key the user writes.
//! It must not start anything.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};
use serde::Deserialize;

use crate::domain::ids::MsgSrcId;
use crate::sandbox::{SandboxConfig, SandboxCredentials};
use crate::secret::Secret;

mod admin;
mod webhooks;
pub use admin::{AdminSettings, OperatorToken};
pub use webhooks::{decode_secret, EndpointSettings, WebhookSettings, SECRET_PREFIX};

/// Prefix of environment overrides: `UMSGATE__SECTION__KEY`.
pub const ENV_PREFIX: &str = "UMSGATE__";
/// The variable that picks the overlay.
pub const ENV_SELECTOR: &str = "UMSGATE_ENV";

/// `config/default.toml`, compiled in: every key has a value wherever the binary runs.
const BUILTIN_DEFAULT: &str = include_str!("../config/default.toml");
/// The shipped overlays, compiled in for the same reason.
const BUILTIN_TEST_ENV: &str = include_str!("../config/test-env.toml");
const BUILTIN_PRODUCTION: &str = include_str!("../config/production.toml");
/// How `check-config` names a value that came from the compiled-in files.
const ORIGIN_DEFAULT: &str = "default";

/// One thing wrong with the configuration, under the key the user writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path (`provider.mid`).
    pub key: String,
    /// What is wrong.
    pub reason: String,
    /// The offending value, only when the key is not a secret.
    pub value: Option<String>,
}

impl Problem {
    fn new(key: &str, reason: impl Into<String>) -> Self {
        Problem {
            key: key.to_owned(),
            reason: reason.into(),
            value: None,
        }
    }

    /// Shows `value` with the problem, unless `key` is a secret.
    fn showing(mut self, value: &str) -> Self {
        if !is_secret(&self.key) {
            self.value = Some(value.to_owned());
        }
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` ({}): {}",
            self.key,
            env_var(&self.key),
            self.reason
        )?;
        if let Some(v) = &self.value {
            write!(f, " (got {v:?})")?;
        }
        Ok(())
    }
}

/// The environment variable that sets `key`.
pub fn env_var(key: &str) -> String {
    if key == ENV_SELECTOR {
        return key.to_owned();
    }
    format!("{ENV_PREFIX}{}", key.replace('.', "__").to_uppercase())
}

/// Why the configuration cannot be used: every problem found, not just the first.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Values that do not fit the settings tree or are not acceptable.
    #[error("{}", list(.0))]
    Invalid(Vec<Problem>),
    /// The configuration directory asked for does not exist.
    #[error("configuration directory {0} (--config-dir / UMSGATE_CONFIG_DIR) does not exist")]
    NoDir(PathBuf),
}

fn list(problems: &[Problem]) -> String {
    let mut out = format!(
        "configuration: {} problem{}:",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        out.push_str(&format!("\n  - {p}"));
    }
    out
}

fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(vec![Problem::new(key, reason)])
}

/// Which overlay is in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    /// `config/default.toml` alone.
    Sandbox,
    /// The provider's test host.
    TestEnv,
    /// Production: secrets only from the environment.
    Production,
}

impl Environment {
    /// Reads `UMSGATE_ENV` (unset means sandbox).
    pub fn from_env() -> Result<Self, ConfigError> {
        match std::env::var(ENV_SELECTOR).as_deref() {
            Err(_) | Ok("") | Ok("sandbox") => Ok(Environment::Sandbox),
            Ok("test-env") => Ok(Environment::TestEnv),
            Ok("production") => Ok(Environment::Production),
            Ok(other) => Err(ConfigError::Invalid(vec![Problem {
                key: ENV_SELECTOR.into(),
                reason: "unknown environment: use sandbox, test-env or production".into(),
                value: Some(other.to_owned()),
            }])),
        }
    }

    /// The overlay's file name and built-in text.
    fn overlay(self) -> Option<(&'static str, &'static str)> {
        match self {
            Environment::Sandbox => None,
            Environment::TestEnv => Some(("test-env.toml", BUILTIN_TEST_ENV)),
            Environment::Production => Some(("production.toml", BUILTIN_PRODUCTION)),
        }
    }
}
/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The backend's listener.
    pub api: ApiSettings,
    /// The provider-facing listener.
    pub notify: NotifySettings,
    /// The provider sandbox (embedded in sandbox mode, or `umsgate sandbox`).
    pub sandbox: SandboxConfig,
    /// SQLite.
    pub store: StoreSettings,
    /// The provider and our credentials.
    pub provider: ProviderSettings,
    /// The reconciler.
    pub reconcile: ReconcileSettings,
    /// Operators' routes.
    #[serde(default)]
    pub admin: AdminSettings,
    /// Order defaults and limits.
    pub orders: OrderSettings,
    /// Logging.
    pub log: LogSettings,
    /// Stopping.
    pub shutdown: ShutdownSettings,
    /// The backend's webhook endpoints.
    #[serde(default)]
    pub webhooks: WebhookSettings,
    /// How long rejected and duplicate notices and provider calls are kept.
    #[serde(default)]
    pub retention: RetentionSettings,
}

/// What bounds one listener's clients: `[api]` and `[notify]` have the same keys.
#[derive(Clone, Debug)]
pub struct ListenerLimits {
    /// `header_timeout`.
    pub header_timeout: Duration,
    /// `body_timeout`.
    pub body_timeout: Duration,
    /// `keep_alive`.
    pub keep_alive: Duration,
    /// `max_connections`.
    pub max_connections: usize,
    /// `trusted_proxies`.
    pub trusted_proxies: Vec<IpAddr>,
}

macro_rules! listener_limits {
    ($($t:ty),+) => {$(
        impl $t {
            /// This listener's client limits.
            pub fn limits(&self) -> ListenerLimits {
                ListenerLimits {
                    header_timeout: self.header_timeout,
                    body_timeout: self.body_timeout,
                    keep_alive: self.keep_alive,
                    max_connections: self.max_connections,
                    trusted_proxies: self.trusted_proxies.clone(),
                }
            }
        }
    )+};
}
listener_limits!(ApiSettings, NotifySettings);

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

/// `[api]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
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
    /// listen backlog. Lowered at start to fit the open-files limit (`startup`).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Peers whose `X-Forwarded-For` is believed (a load balancer in front). Empty: the
    /// client address is always the TCP peer.
    #[serde(default)]
    pub trusted_proxies: Vec<IpAddr>,
    /// Most long-polls (`GET /orders/{id}?wait=`) waiting at once; more are answered 503.
    #[serde(default = "default_long_poll_waiters")]
    pub long_poll_waiters: usize,
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
    /// Listen address.
    pub bind: SocketAddr,
    /// Base of the `notifyUrl` given to the provider.
    pub public_url: String,
    /// Notification keys; all verify. One key may be given as a plain string.
    #[serde(deserialize_with = "one_or_many")]
    pub keys: Vec<Secret>,
    /// Secret path segment of the contract notice route.
    pub contract_token: Option<Secret>,
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
    /// listen backlog. Lowered at start to fit the open-files limit (`startup`).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Peers whose `X-Forwarded-For` is believed (a load balancer in front). Empty: the
    /// client address is always the TCP peer.
    #[serde(default)]
    pub trusted_proxies: Vec<IpAddr>,
    /// Refused (unverified) notices a peer may send per `rejected_window` before it is
    /// answered 429 without a journal row.
    #[serde(default = "default_rejected_budget")]
    pub rejected_budget: u32,
    /// The window the budget refills over.
    #[serde(with = "humantime_serde", default = "default_rejected_window")]
    pub rejected_window: Duration,
}

/// `[store]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// Database file.
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
    msg_src_id_raw: String,
    /// Per-call timeout, ms.
    pub timeout_ms: u64,
}

impl ProviderSettings {
    /// The validated source id.
    pub fn msg_src_id(&self) -> MsgSrcId {
        // Checked by `Settings::validate`, which every constructor runs.
        MsgSrcId::parse(&self.msg_src_id_raw).unwrap_or_else(|_| unreachable!("validated"))
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

/// The provider's published test credentials and the values this repository ships: fine
/// for the sandbox and the test host, refused in production (anyone can sign with them).
const PUBLISHED: [(&str, &str); 8] = [
    ("provider.app_id", "10037e6f6823b20801682b6a5e5a0006"),
    ("provider.app_key", "1c4e3b16066244ae9b236a09e5b312e8"),
    ("provider.mid", "898340149000005"),
    // The second merchant number the repository's tests use.
    ("provider.mid", "898340149000006"),
    ("provider.tid", "88880001"),
    ("provider.msg_src_id", "1017"),
    // Both notification keys the provider has published (its documentation's signing
    // example, and its test environment's key).
    (
        "notify.keys",
        "impARTxrQcfwmRijpDNCw6hPxaWCddKEpYxjaKXDhCaTCXJ6",
    ),
    (
        "notify.keys",
        "fcAmtnx7MwismjWNhNKdHC44mNXtnEQeJkRrhKJwyrW2ysRR",
    ),
];

/// The contract token `config/default.toml` ships: public, so refused in production.
const SHIPPED_CONTRACT_TOKEN: &str = "sandbox-contract-token-change-me";

/// Keys whose values are secrets: never printed, and in production only from the
/// environment.
const SECRET_KEYS: [&str; 6] = [
    "provider.app_key",
    "notify.keys",
    "notify.contract_token",
    "admin.token",
    // Each operator's token; the list is shown whole, so all of it is redacted.
    "admin.tokens",
    // Each endpoint's secrets; the list is shown whole, so all of it is redacted.
    "webhooks.endpoints",
];

/// Keys read from the environment as text exactly as written: figment would read an
/// all-digit value as a number (dropping leading zeros, or rounding a long one).
const TEXT_KEYS: [&str; 8] = [
    "provider.app_id",
    "provider.app_key",
    "provider.mid",
    "provider.tid",
    "provider.msg_src_id",
    "notify.keys",
    "notify.contract_token",
    "admin.token",
];

/// Shortest secret accepted (the admin token everywhere; in production also the appKey,
/// notification keys and contract token): 16 random characters are beyond guessing, and
/// the provider's own keys are longer (appKey 32 hex digits, notification keys 48
/// characters), so a shorter value is a placeholder or a truncated paste.
const MIN_SECRET_LEN: usize = 16;

/// Whether `key` (or the section it is in) holds a secret.
fn is_secret(key: &str) -> bool {
    SECRET_KEYS
        .iter()
        .any(|s| key == *s || key.strip_prefix(s).is_some_and(|r| r.starts_with('.')))
}

impl Settings {
    /// Loads the built-in defaults, the overlay `UMSGATE_ENV` selects, the files of `dir`
    /// (each optional), and `UMSGATE__…` variables, then validates.
    pub fn load(dir: Option<&Path>) -> Result<Self, ConfigError> {
        let env = Environment::from_env()?;
        Self::from_figment(Self::sources(dir, env)?, env)
    }

    /// The layered sources of [`Settings::load`], unvalidated (`check-config` shows where
    /// each value came from). A `dir` that does not exist is an error: it was asked for.
    pub fn sources(dir: Option<&Path>, env: Environment) -> Result<Figment, ConfigError> {
        if let Some(dir) = dir.filter(|d| !d.is_dir()) {
            return Err(ConfigError::NoDir(dir.to_owned()));
        }
        // Absolute, so that `check-config` names files wherever it is run from.
        let dir = dir.map(|d| std::path::absolute(d).unwrap_or_else(|_| d.to_owned()));
        Ok(Self::layers(dir.as_deref(), env).merge(env_provider()))
    }

    /// The built-in defaults and the files of `dir`, without environment variables: tests
    /// merge their own overrides on top before [`Settings::from_figment`].
    pub fn figment(dir: &Path, env: Environment) -> Figment {
        Self::layers(Some(dir), env)
    }

    /// The built-in defaults and overlay, then the files of `dir` (if any), without
    /// environment variables.
    pub fn layers(dir: Option<&Path>, env: Environment) -> Figment {
        let mut figment = Figment::new().merge(Builtin(BUILTIN_DEFAULT));
        if let Some((_, text)) = env.overlay() {
            figment = figment.merge(Builtin(text));
        }
        let files = std::iter::once("default.toml").chain(env.overlay().map(|(name, _)| name));
        for name in files {
            if let Some(path) = dir.map(|d| d.join(name)).filter(|p| p.is_file()) {
                figment = figment.merge(Toml::file_exact(path));
            }
        }
        figment
    }

    /// Extracts and validates, reporting every problem; resolves a relative `store.path`
    /// against the working directory, once.
    pub fn from_figment(figment: Figment, env: Environment) -> Result<Self, ConfigError> {
        let mut settings: Settings = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(shape_problems(&figment, e)))?;
        let mut problems = settings.validate();
        if env == Environment::Production {
            problems.extend(production_problems(&figment, &settings));
        }
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        settings.store.path = std::path::absolute(&settings.store.path)
            .map_err(|e| invalid("store.path", format!("cannot be made absolute: {e}")))?;
        Ok(settings)
    }

    /// Checks every value that deserialisation cannot; returns every problem.
    fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, p: Problem| {
            if !ok {
                problems.push(p);
            }
        };
        if let Err(e) = self.sandbox.validate() {
            check(false, Problem::new(&format!("sandbox.{}", e.key), e.reason));
        }
        if let Err(p) = check_url("notify.public_url", &self.notify.public_url) {
            check(false, p);
        }
        for p in self.admin.problems() {
            check(false, p);
        }
        for p in self.webhooks.problems() {
            check(false, p);
        }
        if self.provider.mode == ProviderMode::Remote {
            if let Err(p) = check_url("provider.base_url", &self.provider.base_url) {
                check(false, p);
            }
        }
        check(
            !self.notify.keys.is_empty() && !self.notify.keys.iter().any(Secret::is_empty),
            Problem::new("notify.keys", "at least one non-empty key is required"),
        );
        check(
            !self
                .notify
                .contract_token
                .as_ref()
                .is_some_and(Secret::is_empty),
            Problem::new(
                "notify.contract_token",
                "must not be empty (omit it to refuse all contract notices)",
            ),
        );
        check(
            self::admin::SESSION_TTL_RANGE.contains(&self.admin.session_ttl),
            Problem::new("admin.session_ttl", "must be between 1m and 24h")
                .showing(&humantime::format_duration(self.admin.session_ttl).to_string()),
        );
        check(
            !self.provider.app_id.is_empty(),
            Problem::new("provider.app_id", "must not be empty"),
        );
        check(
            !self.provider.app_key.is_empty(),
            Problem::new("provider.app_key", "must not be empty"),
        );
        let alnum =
            |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_alphanumeric());
        check(
            alnum(&self.provider.mid, 15),
            Problem::new("provider.mid", "must be 15 letters or digits")
                .showing(&self.provider.mid),
        );
        check(
            alnum(&self.provider.tid, 8),
            Problem::new("provider.tid", "must be 8 letters or digits").showing(&self.provider.tid),
        );
        if let Err(e) = MsgSrcId::parse(&self.provider.msg_src_id_raw) {
            check(
                false,
                Problem::new("provider.msg_src_id", e.to_string())
                    .showing(&self.provider.msg_src_id_raw),
            );
        }
        let positive = [
            ("provider.timeout_ms", self.provider.timeout_ms > 0),
            ("api.workers", self.api.workers > 0),
            ("notify.workers", self.notify.workers > 0),
            ("api.max_body_bytes", self.api.max_body_bytes > 0),
            ("notify.max_body_bytes", self.notify.max_body_bytes > 0),
            ("store.pool_size", self.store.pool_size > 0),
            ("api.max_connections", self.api.max_connections > 0),
            ("notify.max_connections", self.notify.max_connections > 0),
            ("notify.rejected_budget", self.notify.rejected_budget > 0),
            (
                "notify.rejected_window",
                !self.notify.rejected_window.is_zero(),
            ),
            ("api.body_timeout", !self.api.body_timeout.is_zero()),
            ("notify.body_timeout", !self.notify.body_timeout.is_zero()),
            ("retention.max_age", !self.retention.max_age.is_zero()),
            ("reconcile.batch", self.reconcile.batch > 0),
            ("reconcile.concurrency", self.reconcile.concurrency > 0),
            ("reconcile.max_qps", self.reconcile.max_qps > 0),
            ("orders.max_amount_fen", self.orders.max_amount_fen > 0),
            (
                "orders.default_expiry",
                !self.orders.default_expiry.is_zero(),
            ),
        ];
        for (key, ok) in positive {
            check(ok, Problem::new(key, "must be greater than 0"));
        }
        check(
            !self.reconcile.backoff.is_empty()
                && !self.reconcile.backoff.iter().any(Duration::is_zero),
            Problem::new(
                "reconcile.backoff",
                "needs at least one gap, none of them zero",
            ),
        );
        check(
            !self.store.path.as_os_str().is_empty(),
            Problem::new("store.path", "must not be empty"),
        );
        check(
            tokio_cron_scheduler::Job::new(self.reconcile.tick.as_str(), |_, _| {}).is_ok(),
            Problem::new(
                "reconcile.tick",
                "not a cron expression with a seconds field (e.g. \"*/5 * * * * *\")",
            )
            .showing(&self.reconcile.tick),
        );
        if let Some(tick) = &self.retention.prune_tick {
            check(
                tokio_cron_scheduler::Job::new(tick.as_str(), |_, _| {}).is_ok(),
                Problem::new(
                    "retention.prune_tick",
                    "not a cron expression with a seconds field (e.g. \"0 30 3 * * *\")",
                )
                .showing(tick),
            );
        }
        // A provider call in flight when the signal comes must get its answer (or its
        // timeout) before the listeners are cut.
        check(
            self.shutdown.grace > self.provider.timeout(),
            Problem::new(
                "shutdown.grace",
                format!(
                    "must be longer than provider.timeout_ms ({} ms), so that a provider call in flight ends before the listeners stop",
                    self.provider.timeout_ms
                ),
            )
            .showing(&humantime::format_duration(self.shutdown.grace).to_string()),
        );
        problems
    }

    /// What the sandbox plays the provider with: the gateway's own provider credentials
    /// and its first notification key (the one a rotation lists first).
    pub fn sandbox_credentials(&self) -> SandboxCredentials {
        SandboxCredentials {
            app_id: self.provider.app_id.clone(),
            app_key: self.provider.app_key.clone(),
            notify_key: self
                .notify
                .keys
                .first()
                .cloned()
                .unwrap_or_else(|| Secret::new("")),
            mid: self.provider.mid.clone(),
            tid: self.provider.tid.clone(),
            msg_src_id: self.provider.msg_src_id_raw.clone(),
        }
    }
}

/// Every section's deserialisation problems (serde stops at the first problem of a
/// section; each section is tried on its own so that all sections report).
fn shape_problems(figment: &Figment, whole: figment::Error) -> Vec<Problem> {
    fn try_section<'a, T: Deserialize<'a>>(f: &Figment, key: &str) -> Option<figment::Error> {
        f.extract_inner::<T>(key).err()
    }
    let sections = [
        ("api", try_section::<ApiSettings>(figment, "api")),
        ("notify", try_section::<NotifySettings>(figment, "notify")),
        ("sandbox", try_section::<SandboxConfig>(figment, "sandbox")),
        ("store", try_section::<StoreSettings>(figment, "store")),
        (
            "provider",
            try_section::<ProviderSettings>(figment, "provider"),
        ),
        (
            "reconcile",
            try_section::<ReconcileSettings>(figment, "reconcile"),
        ),
        ("admin", try_section::<AdminSettings>(figment, "admin")),
        ("orders", try_section::<OrderSettings>(figment, "orders")),
        ("log", try_section::<LogSettings>(figment, "log")),
        (
            "shutdown",
            try_section::<ShutdownSettings>(figment, "shutdown"),
        ),
        (
            "webhooks",
            try_section::<WebhookSettings>(figment, "webhooks"),
        ),
    ];
    let mut problems: Vec<Problem> = sections
        .into_iter()
        .filter_map(|(section, e)| e.map(|e| (section, e)))
        .flat_map(|(section, e)| e.into_iter().map(move |e| shape_problem(Some(section), e)))
        .collect();
    if problems.is_empty() {
        // Not in a section: an unknown section, say.
        problems.extend(whole.into_iter().map(|e| shape_problem(None, e)));
    }
    problems
}

fn shape_problem(section: Option<&str>, e: figment::Error) -> Problem {
    let mut path: Vec<String> = e.path.iter().map(|p| p.to_lowercase()).collect();
    if let Some(section) = section {
        // `extract_inner` appends the section to the path within it.
        if path.len() > 1 && path.last().map(String::as_str) == Some(section) {
            path.pop();
        }
        if path.first().map(String::as_str) != Some(section) {
            path.insert(0, section.to_owned());
        }
    }
    let key = path.join(".");
    let reason = match &e.kind {
        // serde's wording repeats the value: never for a secret.
        figment::error::Kind::InvalidType(_, expected)
        | figment::error::Kind::InvalidValue(_, expected)
            if is_secret(&key) =>
        {
            format!("has the wrong type: expected {expected} (value not shown: secret)")
        }
        kind => kind.to_string(),
    };
    let origin = e
        .metadata
        .as_ref()
        .map(|m| format!(" [from {}]", origin_of(m, &key)))
        .unwrap_or_default();
    Problem::new(
        if key.is_empty() { "(top level)" } else { &key },
        reason + &origin,
    )
}

/// In production: secrets come only from the environment, no published or shipped value
/// is accepted, secrets are long enough, and the provider can reach the public URL.
fn production_problems(figment: &Figment, s: &Settings) -> Vec<Problem> {
    let mut problems = Vec::new();
    for key in SECRET_KEYS {
        let from_file = figment
            .find_metadata(key)
            .is_some_and(|m| matches!(m.source, Some(Source::File(_))));
        if from_file {
            problems.push(Problem::new(
                key,
                format!(
                    "in production this secret must come from the environment ({}), not a file",
                    env_var(key)
                ),
            ));
        }
    }
    if s.provider.mode != ProviderMode::Remote {
        problems.push(Problem::new("provider.mode", "production needs \"remote\""));
    }
    let values: Vec<(&str, &str)> = [
        ("provider.app_id", s.provider.app_id.as_str()),
        ("provider.app_key", s.provider.app_key.expose()),
        ("provider.mid", s.provider.mid.as_str()),
        ("provider.tid", s.provider.tid.as_str()),
        ("provider.msg_src_id", s.provider.msg_src_id_raw.as_str()),
    ]
    .into_iter()
    .chain(s.notify.keys.iter().map(|k| ("notify.keys", k.expose())))
    .collect();
    for (key, value) in &values {
        if PUBLISHED.contains(&(*key, *value)) {
            problems.push(Problem::new(
                key,
                format!(
                    "is the provider's published test value; production needs the merchant's own (set {})",
                    env_var(key)
                ),
            ));
        }
    }
    let secrets = values
        .iter()
        .filter(|(k, _)| is_secret(k))
        .map(|(k, v)| (*k, *v))
        .chain(
            s.notify
                .contract_token
                .as_ref()
                .map(|t| ("notify.contract_token", t.expose())),
        );
    for (key, value) in secrets {
        if value.chars().count() < MIN_SECRET_LEN {
            problems.push(Problem::new(
                key,
                format!("is shorter than {MIN_SECRET_LEN} characters: too easy to guess"),
            ));
        }
    }
    if s.notify
        .contract_token
        .as_ref()
        .is_some_and(|t| t.expose() == SHIPPED_CONTRACT_TOKEN)
    {
        problems.push(Problem::new(
            "notify.contract_token",
            format!(
                "is the token shipped in config/default.toml (public); set your own with {}",
                env_var("notify.contract_token")
            ),
        ));
    }
    if let Err(p) = check_public_url(&s.notify.public_url) {
        problems.push(p);
    }
    if s.notify.contract_token.is_none() {
        log::warn!("notify.contract_token is not set: every contract notice will be refused");
    }
    problems
}

/// A URL the provider can call in production: `https`, a host that is not loopback or
/// unspecified, no port 0.
fn check_public_url(raw: &str) -> Result<(), Problem> {
    const KEY: &str = "notify.public_url";
    let refuse = |why: &str| {
        Err(Problem::new(
            KEY,
            format!("{why}: the provider sends every payment notification to this URL"),
        )
        .showing(raw))
    };
    let url = url::Url::parse(raw).map_err(|e| Problem::new(KEY, e.to_string()).showing(raw))?;
    if url.scheme() != "https" {
        return refuse("must be https in production");
    }
    let local = match url.host() {
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => {
            ip.is_loopback() || ip.is_unspecified() || ip.is_private() || ip.is_link_local()
        }
        Some(url::Host::Ipv6(ip)) => ip.is_loopback() || ip.is_unspecified(),
        None => true,
    };
    if local {
        return refuse("must be a public address, not loopback or private");
    }
    if url.port() == Some(0) {
        return refuse("must not use port 0");
    }
    Ok(())
}

/// A URL with a scheme of http or https and a host, no trailing '/'.
fn check_url(key: &str, raw: &str) -> Result<(), Problem> {
    let url = url::Url::parse(raw).map_err(|e| Problem::new(key, e.to_string()).showing(raw))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Problem::new(key, "must start with http:// or https://").showing(raw));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Problem::new(key, "must name a host").showing(raw));
    }
    if raw.ends_with('/') || url.query().is_some() || url.fragment().is_some() {
        return Err(Problem::new(key, "must not end with '/' or carry a query").showing(raw));
    }
    Ok(())
}

/// Where a value came from, as `check-config` says it.
fn origin_of(m: &Metadata, key: &str) -> String {
    match &m.source {
        Some(Source::File(path)) => format!("file {}", path.display()),
        _ if m.name == BUILTIN_NAME => ORIGIN_DEFAULT.to_owned(),
        _ if m.name.contains("environment") => format!("env {}", env_var(key)),
        _ => m.name.to_string(),
    }
}

/// The effective configuration, one `key = value  # origin` line per key in the spellings
/// a configuration file uses, secrets as `[redacted]`, `store.path` as resolved.
pub fn describe(figment: &Figment, settings: &Settings) -> String {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
        match value {
            Value::Dict(_, dict) => {
                for (k, v) in dict {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            leaf => {
                let shown = if is_secret(prefix) {
                    format!("\"{}\"", crate::secret::REDACTED)
                } else if prefix == "store.path" {
                    String::new()
                } else {
                    serde_json::to_string(leaf).unwrap_or_default()
                };
                out.push((prefix.to_owned(), shown));
            }
        }
    }
    let mut lines = Vec::new();
    if let Ok(root) = figment.extract::<Value>() {
        walk("", &root, &mut lines);
    }
    lines
        .into_iter()
        .map(|(key, value)| {
            let value = if key == "store.path" {
                serde_json::to_string(&settings.store.path).unwrap_or_default()
            } else {
                value
            };
            let origin = figment
                .find_metadata(&key)
                .map(|m| origin_of(m, &key))
                .unwrap_or_else(|| ORIGIN_DEFAULT.into());
            format!("{key} = {value}  # {origin}\n")
        })
        .collect()
}

/// The name the compiled-in files carry in figment's metadata.
const BUILTIN_NAME: &str = "umsgate built-in defaults";

/// A compiled-in TOML file, named so that `check-config` can say "default".
struct Builtin(&'static str);

impl Provider for Builtin {
    fn metadata(&self) -> Metadata {
        Metadata::named(BUILTIN_NAME)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Toml::string(self.0).data()
    }
}

/// `UMSGATE__SECTION__KEY` variables: figment's parsing for all keys but [`TEXT_KEYS`],
/// which are taken as written.
fn env_provider() -> Figment {
    let env = || Env::prefixed(ENV_PREFIX).split("__");
    Figment::new()
        .merge(env().ignore(&TEXT_KEYS))
        .merge(TextEnv(env().only(&TEXT_KEYS)))
}

/// Environment variables read as plain text.
struct TextEnv(Env);

impl Provider for TextEnv {
    fn metadata(&self) -> Metadata {
        self.0.metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (key, value) in self.0.iter() {
            // A list is written as one (`["k1","k2"]`); its items stay text as written.
            let value = if value.trim_start().starts_with('[') {
                value
                    .parse()
                    .unwrap_or_else(|e: std::convert::Infallible| match e {})
            } else {
                Value::from(value)
            };
            let nested = figment::util::nest(key.as_str(), value);
            if let Some(d) = nested.into_dict() {
                dict = merge_dicts(dict, d);
            }
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// `b` over `a`, recursively.
fn merge_dicts(mut a: Dict, b: Dict) -> Dict {
    for (k, v) in b {
        let merged = match (a.remove(&k), v) {
            (Some(Value::Dict(_, old)), Value::Dict(tag, new)) => {
                Value::Dict(tag, merge_dicts(old, new))
            }
            (_, v) => v,
        };
        a.insert(k, merged);
    }
    a
}

/// An id or code as text: a string, or an integer as written (TOML `mid = 898…` and
/// all-digit values need no second quoting).
fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
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
fn durations<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| humantime::parse_duration(s).map_err(serde::de::Error::custom))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
    }

    /// The shipped files plus `toml`, with no environment variables.
    pub(super) fn with(env: Environment, toml: &str) -> Result<Settings, ConfigError> {
        Settings::from_figment(
            Settings::figment(&dir(), env).merge(Toml::string(toml)),
            env,
        )
    }

    pub(super) fn message(r: Result<Settings, ConfigError>) -> String {
        r.expect_err("should be refused").to_string()
    }

    #[test]
    fn the_shipped_defaults_load_and_use_the_sandbox() {
        let s = with(Environment::Sandbox, "").unwrap();
        assert_eq!(s.provider.mode, ProviderMode::Sandbox);
        assert_eq!(s.api.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.notify.bind.to_string(), "127.0.0.1:8081");
        assert_eq!(s.reconcile.backoff.len(), 9);
        assert_eq!(s.reconcile.first_check_after, Duration::from_secs(30));
        assert_eq!(s.provider.msg_src_id().as_str(), "1017");
        assert!(s.admin.token.is_none());
    }

    #[test]
    fn the_test_env_overlay_points_at_the_remote_test_host() {
        let s = with(Environment::TestEnv, "").unwrap();
        assert_eq!(s.provider.mode, ProviderMode::Remote);
        assert_eq!(s.provider.base_url, "https://test-api-open.chinaums.com");
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let m = message(with(Environment::Sandbox, "[api]\nbindd = \"1.2.3.4:5\""));
        assert!(m.contains("bindd"), "{m}");
    }

    #[test]
    fn a_bad_duration_is_refused_with_its_key() {
        let m = message(with(
            Environment::Sandbox,
            "[reconcile]\nfirst_check_after = \"soon\"",
        ));
        assert!(m.contains("first_check_after"), "{m}");
    }

    #[test]
    fn a_bad_bind_address_is_refused_with_its_key() {
        let m = message(with(Environment::Sandbox, "[api]\nbind = \"localhost\""));
        assert!(m.contains("api.bind") || m.contains("bind"), "{m}");
    }

    #[test]
    fn invalid_values_name_their_key() {
        for (toml, key) in [
            ("[notify]\npublic_url = \"ftp://x\"", "notify.public_url"),
            ("[notify]\nkeys = []", "notify.keys"),
            ("[provider]\nmsg_src_id = \"10-7\"", "provider.msg_src_id"),
            ("[provider]\nmid = \"123\"", "provider.mid"),
            (
                "[reconcile]\ntick = \"every five seconds\"",
                "reconcile.tick",
            ),
            ("[reconcile]\nbackoff = []", "reconcile.backoff"),
            ("[reconcile]\nconcurrency = 0", "reconcile.concurrency"),
            ("[admin]\ntoken = \"short\"", "admin.token"),
            ("[admin]\nsession_ttl = \"30s\"", "admin.session_ttl"),
            ("[admin]\nsession_ttl = \"2days\"", "admin.session_ttl"),
            ("[notify]\nrejected_budget = 0", "notify.rejected_budget"),
            ("[api]\nbody_timeout = \"0s\"", "api.body_timeout"),
            (
                "[retention]\nprune_tick = \"nightly\"",
                "retention.prune_tick",
            ),
            (
                "[sandbox.faults]\nquery_error_rate = 2.0",
                "sandbox.faults.query_error_rate",
            ),
            (
                "[sandbox]\ncontract_backoff = []",
                "sandbox.contract_backoff",
            ),
        ] {
            let m = message(with(Environment::Sandbox, toml));
            assert!(m.contains(key), "{toml}: {m}");
        }
    }

    #[test]
    fn production_refuses_secrets_read_from_files() {
        let m = message(with(Environment::Production, ""));
        assert!(
            m.contains("provider.app_key") && m.contains("UMSGATE__PROVIDER__APP_KEY"),
            "{m}"
        );
    }

    #[test]
    fn production_refuses_the_public_test_credentials() {
        // Secrets arrive the way the environment provider delivers them; ids stay public.
        let base = Figment::new()
            .merge(Toml::file_exact(dir().join("default.toml")))
            .merge(Toml::file_exact(dir().join("production.toml")));
        let env_like = figment::providers::Serialized::defaults(serde_json::json!({
            "provider": {"app_key": "prod-key"},
            "notify": {"keys": ["prod-notify-key"], "contract_token": "prod-contract-token"},
        }));
        let m = message(Settings::from_figment(
            base.merge(env_like),
            Environment::Production,
        ));
        assert!(
            m.contains("provider.app_id") && m.contains("published test value"),
            "{m}"
        );
    }

    #[test]
    fn ids_and_secrets_written_as_bare_integers_in_toml_are_text() {
        let s = with(
            Environment::Sandbox,
            "[provider]\nmid = 898201612345678\ntid = 12345678\nmsg_src_id = 3194\n\
             app_id = 8123456789\napp_key = 12345678901234567\n\
             [admin]\ntoken = 98765432109876543",
        )
        .unwrap();
        assert_eq!(s.provider.mid, "898201612345678");
        assert_eq!(s.provider.tid, "12345678");
        assert_eq!(s.provider.msg_src_id().as_str(), "3194");
        assert_eq!(s.provider.app_id, "8123456789");
        assert!(s.provider.app_key.matches(b"12345678901234567"));
        assert!(s.admin.token.unwrap().matches(b"98765432109876543"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let m = message(with(
            Environment::Sandbox,
            "[provider]\nmid = \"123\"\ntid = \"1\"\n[reconcile]\nbatch = 0\n[shutdown]\ngrace = \"1s\"",
        ));
        for key in [
            "provider.mid",
            "provider.tid",
            "reconcile.batch",
            "shutdown.grace",
        ] {
            assert!(m.contains(&format!("`{key}`")), "{key} missing: {m}");
        }
        assert!(m.contains("4 problems"), "{m}");
    }

    #[test]
    fn shape_problems_of_every_section_are_reported_at_once_without_secret_values() {
        let m = message(with(
            Environment::Sandbox,
            "[api]\nworkers = \"two\"\n[orders]\nmax_amount_fen = \"many\"\n\
             [notify]\nkeys = {a = \"super-secret-value\"}",
        ));
        for key in ["api.workers", "orders.max_amount_fen", "notify.keys"] {
            assert!(m.contains(&format!("`{key}`")), "{key} missing: {m}");
        }
        assert!(!m.contains("super-secret-value"), "{m}");
    }

    #[test]
    fn a_url_without_a_host_is_refused() {
        for url in ["http://:::", "http://", "ftp://x", "http://x/"] {
            let toml = format!("[notify]\npublic_url = \"{url}\"");
            let m = message(with(Environment::Sandbox, &toml));
            assert!(m.contains("notify.public_url"), "{url}: {m}");
        }
    }

    #[test]
    fn a_relative_store_path_is_resolved_to_an_absolute_one() {
        let s = with(Environment::Sandbox, "").unwrap();
        assert!(s.store.path.is_absolute());
        assert!(s.store.path.ends_with("data/umsgate.db"));
    }

    #[test]
    fn secrets_never_print() {
        let s = with(
            Environment::Sandbox,
            "[admin]\ntoken = \"0123456789abcdef-admin\"",
        )
        .unwrap();
        let printed = format!("{s:?}");
        for secret in [
            "1c4e3b16066244ae9b236a09e5b312e8",
            "impARTxrQcfwmRijpDNCw6hPxaWCddKEpYxjaKXDhCaTCXJ6",
            "0123456789abcdef-admin",
            "sandbox-contract-token-change-me",
        ] {
            assert!(!printed.contains(secret), "{secret} printed");
        }
    }
}
