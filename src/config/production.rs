//! Production's rules on top of validation: secrets only from the environment, none of the
//! provider's published test values nor the shipped contract token, secrets long enough,
//! and a public `https` notification URL. It must not print a secret's value.

use figment::{Figment, Source};

use super::sections::{NotifySettings, ProviderMode, ProviderSettings};
use super::{env_var, is_secret, Problem, MIN_SECRET_LEN, SECRET_KEYS};

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

/// In production: secrets come only from the environment, no published or shipped value
/// is accepted, secrets are long enough, and the provider can reach the public URL.
pub(super) fn problems(
    figment: &Figment,
    provider: Option<&ProviderSettings>,
    notify: Option<&NotifySettings>,
) -> Vec<Problem> {
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
    let provider_values: Vec<(&str, &str)> = provider
        .map(|p| {
            vec![
                ("provider.app_id", p.app_id.as_str()),
                ("provider.app_key", p.app_key.expose()),
                ("provider.mid", p.mid.as_str()),
                ("provider.tid", p.tid.as_str()),
                ("provider.msg_src_id", p.msg_src_id_raw.as_str()),
            ]
        })
        .unwrap_or_default();
    if provider.is_some_and(|p| p.mode != ProviderMode::Remote) {
        problems.push(Problem::new("provider.mode", "production needs \"remote\""));
    }
    let values: Vec<(&str, &str)> = provider_values
        .into_iter()
        .chain(
            notify
                .iter()
                .flat_map(|n| n.keys.iter().map(|k| ("notify.keys", k.expose()))),
        )
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
    let contract_token = notify.and_then(|n| n.contract_token.as_ref());
    let secrets = values
        .iter()
        .filter(|(k, _)| is_secret(k))
        .map(|(k, v)| (*k, *v))
        .chain(contract_token.map(|t| ("notify.contract_token", t.expose())));
    for (key, value) in secrets {
        if value.chars().count() < MIN_SECRET_LEN {
            problems.push(Problem::new(
                key,
                format!("is shorter than {MIN_SECRET_LEN} characters: too easy to guess"),
            ));
        }
    }
    if contract_token.is_some_and(|t| t.expose() == SHIPPED_CONTRACT_TOKEN) {
        problems.push(Problem::new(
            "notify.contract_token",
            format!(
                "is the token shipped in config/default.toml (public); set your own with {}",
                env_var("notify.contract_token")
            ),
        ));
    }
    if let Some(notify) = notify {
        if let Err(p) = check_public_url(&notify.public_url) {
            problems.push(p);
        }
        if notify.contract_token.is_none() {
            log::warn!("notify.contract_token is not set: every contract notice will be refused");
        }
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

#[cfg(test)]
mod tests {
    use figment::providers::{Format, Toml};
    use figment::Figment;

    use super::super::tests::{dir, message, with};
    use crate::config::{Environment, Settings};

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
}
