//! The settings tree (docs/architecture.md §9): the built-in defaults compiled from
//! `config/*.toml`, optional files from a configuration directory, `UMSGATE__…` variables,
//! and validation that reports every problem at once, each under the key the user writes.
//! Here: [`Settings`], the problem and error types, and which keys are secrets; the jobs
//! are in `sections` (the types), `load` (reading the sources), `validate`, `production`
//! (its extra rules) and `describe` (`check-config`). It must not start anything.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use crate::sandbox::{SandboxConfig, SandboxCredentials};
use crate::secret::Secret;

mod address;
mod admin;
mod describe;
mod load;
mod production;
mod sections;
mod validate;
mod webhooks;
pub use admin::{AdminSettings, OperatorToken};
pub use describe::describe;
pub use sections::{
    redacted_url, ApiSettings, AuthMode, BackendToken, ListenerSettings, LogFormat, LogSettings,
    NotifySettings, OrderSettings, ProviderMode, ProviderSettings, ReconcileSettings,
    RetentionSettings, ShutdownSettings, StoreSettings, METRICS_SCRAPER_NAME,
};
pub use webhooks::{decode_secret, url_label, EndpointSettings, WebhookSettings, SECRET_PREFIX};
// For `admin` and `webhooks`, which name them through `super::`.
use sections::durations;
use validate::check_url;

/// Prefix of environment overrides: `UMSGATE__SECTION__KEY`.
pub const ENV_PREFIX: &str = "UMSGATE__";
/// The variable that picks the overlay.
pub const ENV_SELECTOR: &str = "UMSGATE_ENV";

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

/// Keys whose values are secrets: never printed, and in production only from the
/// environment.
const SECRET_KEYS: [&str; 8] = [
    "provider.app_key",
    "notify.keys",
    "notify.contract_token",
    "admin.token",
    // Each operator's token; the list is shown whole, so all of it is redacted.
    "admin.tokens",
    // Each endpoint's secrets; the list is shown whole, so all of it is redacted.
    "webhooks.endpoints",
    // Each backend's token; the list is shown whole, so all of it is redacted.
    "api.tokens",
    "api.metrics_token",
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

#[cfg(test)]
pub(super) mod tests {
    use std::path::Path;
    use std::time::Duration;

    use figment::providers::{Format, Toml};

    use super::*;

    pub(super) fn dir() -> PathBuf {
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
        assert_eq!(s.api.listener.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.notify.listener.bind.to_string(), "127.0.0.1:8081");
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
        // A section with the listener's keys names it as any other section does.
        for section in ["api", "notify", "store"] {
            let m = message(with(
                Environment::Sandbox,
                &format!("[{section}]\nbindd = 1"),
            ));
            assert!(
                m.contains(&format!("`{section}.bindd`"))
                    && m.contains("unknown field: found `bindd`, expected `one of `"),
                "{m}"
            );
        }
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
        assert!(m.contains("`api.bind` (UMSGATE__API__BIND)"), "{m}");
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
