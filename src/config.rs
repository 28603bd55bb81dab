//! The settings tree (docs/architecture.md §9): loading from `config/*.toml` and `UMSGATE__…`
//! variables, and validation that names the offending key. It must not start anything.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::{Figment, Source};
use serde::Deserialize;

use crate::domain::ids::MsgSrcId;
use crate::sandbox::{SandboxConfig, SandboxCredentials};
use crate::secret::Secret;

/// Prefix of environment overrides: `UMSGATE__SECTION__KEY`.
pub const ENV_PREFIX: &str = "UMSGATE__";
/// The variable that picks the overlay.
pub const ENV_SELECTOR: &str = "UMSGATE_ENV";

/// Why the configuration cannot be used. Every message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file or variable could not be read or does not fit the settings tree (unknown
    /// key, wrong type, bad duration or address): figment's message names the key.
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    /// A value is well-formed but not acceptable.
    #[error("configuration key `{key}`: {reason}")]
    Invalid {
        /// Dotted key path.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        reason: reason.into(),
    }
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
            Ok(other) => Err(invalid(
                ENV_SELECTOR,
                format!("unknown environment {other:?}: use sandbox, test-env or production"),
            )),
        }
    }

    fn overlay(self) -> Option<&'static str> {
        match self {
            Environment::Sandbox => None,
            Environment::TestEnv => Some("test-env.toml"),
            Environment::Production => Some("production.toml"),
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
}

/// `[notify]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    /// Listen address.
    pub bind: SocketAddr,
    /// Base of the `notifyUrl` given to the provider.
    pub public_url: String,
    /// Notification keys; all verify.
    pub keys: Vec<Secret>,
    /// Secret path segment of the contract notice route.
    pub contract_token: Option<Secret>,
    /// Worker threads.
    pub workers: usize,
    /// Largest accepted body, bytes.
    pub max_body_bytes: usize,
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
    pub app_id: String,
    /// appKey.
    pub app_key: Secret,
    /// Merchant number.
    pub mid: String,
    /// Terminal number.
    pub tid: String,
    /// Source id, as configured (validated into [`ProviderSettings::msg_src_id`]).
    #[serde(rename = "msg_src_id")]
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

/// `[admin]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// Bearer token; none disables the admin routes.
    pub token: Option<Secret>,
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

/// The provider's published test credentials: fine for the sandbox and the test host,
/// refused in production.
const PUBLIC_TEST_VALUES: [(&str, &str); 4] = [
    ("provider.app_id", "10037e6f6823b20801682b6a5e5a0006"),
    ("provider.mid", "898340149000005"),
    ("provider.tid", "88880001"),
    ("provider.msg_src_id", "1017"),
];

/// Keys whose values are secrets.
const SECRET_KEYS: [&str; 4] = [
    "provider.app_key",
    "notify.keys",
    "notify.contract_token",
    "admin.token",
];

/// Shortest admin token accepted: 16 random characters are beyond guessing.
const MIN_ADMIN_TOKEN_LEN: usize = 16;

impl Settings {
    /// Loads `dir/default.toml`, the overlay `UMSGATE_ENV` selects, and `UMSGATE__…`
    /// variables, then validates.
    pub fn load(dir: &Path) -> Result<Self, ConfigError> {
        let env = Environment::from_env()?;
        Self::from_figment(Self::figment(dir, env), env)
    }

    /// The layered sources, without environment variables' validation: tests merge their
    /// own overrides on top before [`Settings::from_figment`].
    pub fn figment(dir: &Path, env: Environment) -> Figment {
        let mut figment = Figment::new().merge(Toml::file_exact(dir.join("default.toml")));
        if let Some(overlay) = env.overlay() {
            figment = figment.merge(Toml::file_exact(dir.join(overlay)));
        }
        figment.merge(Env::prefixed(ENV_PREFIX).split("__"))
    }

    /// Extracts and validates.
    pub fn from_figment(figment: Figment, env: Environment) -> Result<Self, ConfigError> {
        let settings: Settings = figment.extract().map_err(Box::new)?;
        if env == Environment::Production {
            check_production_sources(&figment, &settings)?;
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Checks every value that deserialisation cannot.
    fn validate(&self) -> Result<(), ConfigError> {
        self.sandbox
            .validate()
            .map_err(|e| invalid(&format!("sandbox.{}", e.key), e.reason))?;
        check_url("notify.public_url", &self.notify.public_url)?;
        if self.provider.mode == ProviderMode::Remote {
            check_url("provider.base_url", &self.provider.base_url)?;
        }
        if self.notify.keys.is_empty() || self.notify.keys.iter().any(Secret::is_empty) {
            return Err(invalid(
                "notify.keys",
                "at least one non-empty key is required",
            ));
        }
        if self
            .notify
            .contract_token
            .as_ref()
            .is_some_and(Secret::is_empty)
        {
            return Err(invalid(
                "notify.contract_token",
                "must not be empty (omit it to refuse all contract notices)",
            ));
        }
        if let Some(t) = &self.admin.token {
            if t.expose().chars().count() < MIN_ADMIN_TOKEN_LEN {
                return Err(invalid(
                    "admin.token",
                    format!("must be at least {MIN_ADMIN_TOKEN_LEN} characters"),
                ));
            }
        }
        if self.provider.app_id.is_empty() {
            return Err(invalid("provider.app_id", "must not be empty"));
        }
        if self.provider.app_key.is_empty() {
            return Err(invalid("provider.app_key", "must not be empty"));
        }
        let alnum = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric());
        if self.provider.mid.len() != 15 || !alnum(&self.provider.mid) {
            return Err(invalid("provider.mid", "must be 15 letters or digits"));
        }
        if self.provider.tid.len() != 8 || !alnum(&self.provider.tid) {
            return Err(invalid("provider.tid", "must be 8 letters or digits"));
        }
        MsgSrcId::parse(&self.provider.msg_src_id_raw)
            .map_err(|e| invalid("provider.msg_src_id", e.to_string()))?;
        if self.provider.timeout_ms == 0 {
            return Err(invalid("provider.timeout_ms", "must be greater than 0"));
        }
        let positive = [
            ("api.workers", self.api.workers > 0),
            ("notify.workers", self.notify.workers > 0),
            ("api.max_body_bytes", self.api.max_body_bytes > 0),
            ("notify.max_body_bytes", self.notify.max_body_bytes > 0),
            ("store.pool_size", self.store.pool_size > 0),
            ("reconcile.batch", self.reconcile.batch > 0),
            ("reconcile.concurrency", self.reconcile.concurrency > 0),
            ("reconcile.max_qps", self.reconcile.max_qps > 0),
            ("orders.max_amount_fen", self.orders.max_amount_fen > 0),
            (
                "orders.default_expiry",
                !self.orders.default_expiry.is_zero(),
            ),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, ok)| !ok) {
            return Err(invalid(key, "must be greater than 0"));
        }
        if self.reconcile.backoff.is_empty() || self.reconcile.backoff.iter().any(Duration::is_zero)
        {
            return Err(invalid(
                "reconcile.backoff",
                "needs at least one gap, none of them zero",
            ));
        }
        if self.store.path.as_os_str().is_empty() {
            return Err(invalid("store.path", "must not be empty"));
        }
        if tokio_cron_scheduler::Job::new(self.reconcile.tick.as_str(), |_, _| {}).is_err() {
            return Err(invalid(
                "reconcile.tick",
                "not a cron expression with a seconds field (e.g. \"*/5 * * * * *\")",
            ));
        }
        Ok(())
    }
}

impl Settings {
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

/// A list of humantime durations (`humantime_serde` handles single values only).
fn durations<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| humantime::parse_duration(s).map_err(serde::de::Error::custom))
        .collect()
}

fn check_url(key: &str, url: &str) -> Result<(), ConfigError> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| invalid(key, "must start with http:// or https://"))?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return Err(invalid(key, "must name a host"));
    }
    if url.ends_with('/') {
        return Err(invalid(key, "must not end with '/'"));
    }
    Ok(())
}

/// In production, secrets come only from the environment and the public test credentials
/// are refused.
fn check_production_sources(figment: &Figment, settings: &Settings) -> Result<(), ConfigError> {
    for key in SECRET_KEYS {
        let from_file = figment
            .find_metadata(key)
            .is_some_and(|m| matches!(m.source, Some(Source::File(_))));
        if from_file {
            let var = format!("{ENV_PREFIX}{}", key.replace('.', "__").to_uppercase());
            return Err(invalid(
                key,
                format!(
                    "in production this secret must come from the environment ({var}), not a file"
                ),
            ));
        }
    }
    if settings.provider.mode != ProviderMode::Remote {
        return Err(invalid("provider.mode", "production needs \"remote\""));
    }
    let actual = [
        settings.provider.app_id.as_str(),
        settings.provider.mid.as_str(),
        settings.provider.tid.as_str(),
        settings.provider.msg_src_id_raw.as_str(),
    ];
    for ((key, public), value) in PUBLIC_TEST_VALUES.iter().zip(actual) {
        if *public == value {
            return Err(invalid(
                key,
                "is the provider's public test value; production needs the merchant's own",
            ));
        }
    }
    if settings.notify.contract_token.is_none() {
        log::warn!("notify.contract_token is not set: every contract notice will be refused");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
    }

    /// The shipped files plus `toml`, with no environment variables.
    fn with(env: Environment, toml: &str) -> Result<Settings, ConfigError> {
        let mut f = Figment::new().merge(Toml::file_exact(dir().join("default.toml")));
        if let Some(o) = env.overlay() {
            f = f.merge(Toml::file_exact(dir().join(o)));
        }
        Settings::from_figment(f.merge(Toml::string(toml)), env)
    }

    fn message(r: Result<Settings, ConfigError>) -> String {
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
            m.contains("provider.app_id") && m.contains("public test value"),
            "{m}"
        );
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
