//! Reading the settings: the compiled-in files, the overlay, a configuration directory and
//! `UMSGATE__…` variables layered with figment, each section read on its own, and a value
//! that does not fit named under its key (with where it came from). It must not judge
//! values (that is `validate` and `production`).

use std::path::Path;

use figment::providers::{Env, Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};
use serde::de::DeserializeOwned;

use super::sections::{
    ApiSettings, ListenerSettings, LogSettings, NotifySettings, OrderSettings, ProviderSettings,
    ReconcileSettings, RetentionSettings, ShutdownSettings, StoreSettings,
};
use super::{
    env_var, invalid, is_secret, production, validate, AdminSettings, ConfigError, Environment,
    Problem, Settings, WebhookSettings, ENV_PREFIX,
};
use crate::sandbox::SandboxConfig;

/// `config/default.toml`, compiled in: every key has a value wherever the binary runs.
const BUILTIN_DEFAULT: &str = include_str!("../../config/default.toml");
/// The shipped overlays, compiled in for the same reason.
const BUILTIN_TEST_ENV: &str = include_str!("../../config/test-env.toml");
const BUILTIN_PRODUCTION: &str = include_str!("../../config/production.toml");
/// How `check-config` names a value that came from the compiled-in files.
pub(super) const ORIGIN_DEFAULT: &str = "default";

/// Keys read from the environment as text exactly as written: figment would read an
/// all-digit value as a number (dropping leading zeros, or rounding a long one).
const TEXT_KEYS: [&str; 9] = [
    "provider.app_id",
    "provider.app_key",
    "provider.mid",
    "provider.tid",
    "provider.msg_src_id",
    "notify.keys",
    "notify.contract_token",
    "admin.token",
    "api.metrics_token",
];

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

    /// Extracts and validates, reporting every problem in one round: each section is
    /// read on its own, and every section that reads is validated, so that a value that
    /// does not fit one key and a value refused in another are named together. Resolves a
    /// relative `store.path` against the working directory, once.
    pub fn from_figment(figment: Figment, env: Environment) -> Result<Self, ConfigError> {
        let sections = Sections::read(&figment);
        let mut problems = sections.problems.clone();
        problems.extend(validate::problems(&sections));
        if env == Environment::Production {
            problems.extend(production::problems(&figment, &sections));
        }
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        // Every section read: what is left to refuse is outside them (an unknown section).
        let mut settings: Settings = figment.extract().map_err(|e| {
            ConfigError::Invalid(e.into_iter().map(|e| shape_problem(None, e)).collect())
        })?;
        settings.store.path = std::path::absolute(&settings.store.path)
            .map_err(|e| invalid("store.path", format!("cannot be made absolute: {e}")))?;
        Ok(settings)
    }
}

impl Environment {
    /// The overlay's file name and built-in text.
    fn overlay(self) -> Option<(&'static str, &'static str)> {
        match self {
            Environment::Sandbox => None,
            Environment::TestEnv => Some(("test-env.toml", BUILTIN_TEST_ENV)),
            Environment::Production => Some(("production.toml", BUILTIN_PRODUCTION)),
        }
    }
}

/// Each section as read on its own (`None`: it did not fit), and the problems of those that
/// did not: serde stops at the first problem of a section, so each is tried separately.
#[derive(Default)]
pub(super) struct Sections {
    pub(super) api: Option<ApiSettings>,
    pub(super) notify: Option<NotifySettings>,
    pub(super) sandbox: Option<SandboxConfig>,
    pub(super) store: Option<StoreSettings>,
    pub(super) provider: Option<ProviderSettings>,
    pub(super) reconcile: Option<ReconcileSettings>,
    pub(super) admin: Option<AdminSettings>,
    pub(super) orders: Option<OrderSettings>,
    pub(super) shutdown: Option<ShutdownSettings>,
    pub(super) webhooks: Option<WebhookSettings>,
    pub(super) retention: Option<RetentionSettings>,
    /// Every value that does not fit its key, in every section.
    pub(super) problems: Vec<Problem>,
}

impl Sections {
    /// Reads every section of `figment` on its own.
    pub(super) fn read(figment: &Figment) -> Self {
        let mut problems = Vec::new();
        let p = &mut problems;
        // `[log]` has nothing to validate: read only for its problems.
        let _: Option<LogSettings> = keep(section(figment, "log"), p);
        let sections = Sections {
            api: keep(listener_section(figment, "api", ApiSettings::KEYS), p),
            notify: keep(listener_section(figment, "notify", NotifySettings::KEYS), p),
            sandbox: keep(section(figment, "sandbox"), p),
            store: keep(section(figment, "store"), p),
            provider: keep(section(figment, "provider"), p),
            reconcile: keep(section(figment, "reconcile"), p),
            admin: keep(defaulted(figment, "admin"), p),
            orders: keep(section(figment, "orders"), p),
            shutdown: keep(section(figment, "shutdown"), p),
            webhooks: keep(defaulted(figment, "webhooks"), p),
            retention: keep(defaulted(figment, "retention"), p),
            problems: Vec::new(),
        };
        Sections {
            problems,
            ..sections
        }
    }
}

/// The section if it read; its problems into `problems` if not.
fn keep<T>(read: Result<T, Vec<Problem>>, problems: &mut Vec<Problem>) -> Option<T> {
    read.map_err(|e| problems.extend(e)).ok()
}

/// One section, each of its problems under its key.
fn section<T: DeserializeOwned>(figment: &Figment, key: &str) -> Result<T, Vec<Problem>> {
    figment
        .extract_inner(key)
        .map_err(|e| e.into_iter().map(|e| shape_problem(Some(key), e)).collect())
}

/// A section that may be left out (`#[serde(default)]` in [`Settings`]).
fn defaulted<T: DeserializeOwned + Default>(
    figment: &Figment,
    key: &str,
) -> Result<T, Vec<Problem>> {
    if figment.find_value(key).is_err() {
        return Ok(T::default());
    }
    section(figment, key)
}

/// A section with the listener's keys flattened into it (`keys`: all of its keys). serde
/// reports a problem in a flattened key, or an unknown key, without the key's name: the
/// listener's keys read alone name the first, and the second is named here.
fn listener_section<T: DeserializeOwned>(
    figment: &Figment,
    key: &str,
    keys: &'static [&'static str],
) -> Result<T, Vec<Problem>> {
    let whole = match figment.extract_inner::<T>(key) {
        Ok(section) => return Ok(section),
        Err(whole) => whole,
    };
    let listener = section::<ListenerSettings>(figment, key).err();
    let named_alone = listener.is_some();
    Err(whole
        .into_iter()
        // The error's path is the section alone when it came from the flattened keys.
        .filter(|e| !named_alone || e.path.len() > 1)
        .map(|e| shape_problem(Some(key), unknown_key_named(e, key, keys)))
        .chain(listener.into_iter().flatten())
        .collect())
}

/// serde's "unknown field `x`" of a table with flattened keys, as the error figment gives
/// for an unknown key of any other table: under `section.x`, with the keys it takes.
fn unknown_key_named(
    mut e: figment::Error,
    section: &str,
    keys: &'static [&'static str],
) -> figment::Error {
    let unknown = match &e.kind {
        figment::error::Kind::Message(m) => m
            .strip_prefix("unknown field `")
            .and_then(|m| m.strip_suffix('`'))
            .map(str::to_owned),
        _ => None,
    };
    if let Some(name) = unknown {
        e.path = vec![name.clone(), section.to_owned()];
        e.kind = figment::error::Kind::UnknownField(name, keys);
    }
    e
}

pub(super) fn shape_problem(section: Option<&str>, e: figment::Error) -> Problem {
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

/// Where a value came from, as `check-config` says it.
pub(super) fn origin_of(m: &Metadata, key: &str) -> String {
    match &m.source {
        Some(Source::File(path)) => format!("file {}", path.display()),
        _ if m.name == BUILTIN_NAME => ORIGIN_DEFAULT.to_owned(),
        _ if m.name.contains("environment") => format!("env {}", env_var(key)),
        _ => m.name.to_string(),
    }
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

#[cfg(test)]
mod tests {
    use super::super::tests::{message, with};
    use super::{ApiSettings, Environment, NotifySettings};

    #[test]
    fn the_keys_listed_for_a_section_with_the_listeners_keys_are_those_of_the_default_file() {
        use figment::providers::{Format, Toml};
        let text = include_str!("../../config/default.toml");
        let file = figment::Figment::from(Toml::string(text));
        for (section, keys) in [("api", ApiSettings::KEYS), ("notify", NotifySettings::KEYS)] {
            let table: figment::value::Dict = file.extract_inner(section).unwrap();
            let mut in_file: Vec<&str> = table.keys().map(String::as_str).collect();
            // A key with no default is shown commented out: `# metrics_token = "…"`.
            let body = text
                .split(&format!("[{section}]\n"))
                .nth(1)
                .and_then(|rest| rest.split("\n[").next())
                .unwrap_or_default();
            in_file.extend(body.lines().filter_map(|l| {
                let (name, _) = l.strip_prefix("# ")?.split_once(" = ")?;
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
                    .then_some(name)
            }));
            let mut listed = keys.to_vec();
            in_file.sort_unstable();
            listed.sort_unstable();
            assert_eq!(listed, in_file, "[{section}]");
        }
    }

    #[test]
    fn every_key_listed_for_a_section_with_the_listeners_keys_is_one_it_takes() {
        for (section, keys) in [("api", ApiSettings::KEYS), ("notify", NotifySettings::KEYS)] {
            for key in keys {
                // A table is the wrong type for every key: refused, but not as unknown.
                let m = message(with(
                    Environment::Sandbox,
                    &format!("[{section}]\n{key} = {{ x = 1 }}"),
                ));
                assert!(m.contains(&format!("`{section}.{key}`")), "{m}");
                assert!(!m.contains("unknown field"), "{section}.{key}: {m}");
            }
        }
    }
}
