//! Production's rules on top of validation: secrets only from the environment, none of the
//! provider's published test values nor the shipped contract token (however padded or
//! cased), secrets long, varied and each used once; an authenticated API; `https` to the
//! provider and the webhooks; a public `https` notification URL. It must not print a
//! secret's value, nor a URL but through its redacting label.

use figment::{Figment, Source};

use super::address::{classify_host, HostClass};
use super::load::Sections;
use super::sections::{ApiSettings, NotifySettings, ProviderMode, ProviderSettings};
use super::{
    decode_secret, env_var, url_label, Problem, WebhookSettings, MIN_SECRET_LEN, SECRET_KEYS,
};

/// The provider's published test ids: fine for the sandbox and the test host, refused in
/// production (they are another merchant's, anyone's).
const PUBLISHED_IDS: [(&str, &str); 5] = [
    ("provider.app_id", "10037e6f6823b20801682b6a5e5a0006"),
    ("provider.mid", "898340149000005"),
    // The second merchant number the repository's tests use.
    ("provider.mid", "898340149000006"),
    ("provider.tid", "88880001"),
    ("provider.msg_src_id", "1017"),
];

/// Published secrets, refused for any secret in production (anyone can sign or call with
/// them): the provider's test appKey, both notification keys it has published (its
/// documentation's signing example and its test environment's key), and the contract
/// token `config/default.toml` ships.
const PUBLISHED_SECRETS: [&str; 4] = [
    "1c4e3b16066244ae9b236a09e5b312e8",
    "impARTxrQcfwmRijpDNCw6hPxaWCddKEpYxjaKXDhCaTCXJ6",
    "fcAmtnx7MwismjWNhNKdHC44mNXtnEQeJkRrhKJwyrW2ysRR",
    SHIPPED_CONTRACT_TOKEN,
];

/// The contract token `config/default.toml` ships: public, so refused in production.
const SHIPPED_CONTRACT_TOKEN: &str = "sandbox-contract-token-change-me";

/// Fewest distinct characters of a secret (bytes of a webhook key): a value of one repeated
/// character, or of a few, is typed, not drawn. 16 random characters even from the ten
/// digits have fewer than 5 distinct ones with a chance below 1 in 10,000.
const MIN_VARIETY: usize = 5;

/// Fewest bytes of a webhook secret's key: Standard Webhooks asks for 24 to 64 random
/// bytes; fewer is guessable offline from one signed delivery.
const MIN_WEBHOOK_KEY_BYTES: usize = 24;

/// In production: secrets come only from the environment and are neither published, weak
/// nor shared; the API is authenticated; the provider's and the webhooks' URLs are
/// `https` (a webhook may use `http` to a receiver on this host); the provider can reach
/// the public URL.
pub(super) fn problems(figment: &Figment, s: &Sections) -> Vec<Problem> {
    let mut problems = from_files(figment);
    if let Some(provider) = &s.provider {
        problems.extend(self::provider(provider));
    }
    if let Some(notify) = &s.notify {
        problems.extend(self::notify(notify));
    }
    if let Some(api) = &s.api {
        problems.extend(self::api(api));
    }
    if let Some(webhooks) = &s.webhooks {
        problems.extend(self::webhooks(webhooks));
    }
    problems.extend(weak_secrets(&secrets(s)));
    problems
}

/// Secrets read from a file.
fn from_files(figment: &Figment) -> Vec<Problem> {
    SECRET_KEYS
        .iter()
        .filter(|key| {
            figment
                .find_metadata(key)
                .is_some_and(|m| matches!(m.source, Some(Source::File(_))))
        })
        .map(|key| {
            Problem::new(
                key,
                format!(
                    "in production this secret must come from the environment ({}), not a file",
                    env_var(key)
                ),
            )
        })
        .collect()
}

/// Trimmed and lower-cased: a published or shared value padded or case-changed is still
/// that value.
fn normalised(value: &str) -> String {
    value.trim().to_lowercase()
}

fn provider(p: &ProviderSettings) -> Vec<Problem> {
    let mut problems = Vec::new();
    if p.mode != ProviderMode::Remote {
        problems.push(Problem::new("provider.mode", "production needs \"remote\""));
    }
    let ids = [
        ("provider.app_id", p.app_id.as_str()),
        ("provider.mid", p.mid.as_str()),
        ("provider.tid", p.tid.as_str()),
        ("provider.msg_src_id", p.msg_src_id_raw.as_str()),
    ];
    for (key, value) in ids {
        let published = PUBLISHED_IDS
            .iter()
            .any(|(k, v)| *k == key && normalised(v) == normalised(value));
        if published {
            problems.push(Problem::new(
                key,
                format!(
                    "is the provider's published test value; production needs the merchant's own (set {})",
                    env_var(key)
                ),
            ));
        }
    }
    problems.extend(check_provider_url(&p.base_url).err());
    problems
}

/// `provider.base_url` in production: `https` (every call's signature, or the access token,
/// would cross the network in clear text), and not this host (a loopback stand-in is the
/// sandbox's place, not production's).
fn check_provider_url(raw: &str) -> Result<(), Problem> {
    const KEY: &str = "provider.base_url";
    let url = url::Url::parse(raw)
        .map_err(|e| Problem::new(KEY, e.to_string()).showing(&url_label(raw)))?;
    let refuse = |why: &str| Err(Problem::new(KEY, why.to_owned()).showing(&url_label(raw)));
    if url.scheme() != "https" {
        return refuse("must be https in production: each call's signature (or access token) would travel in clear text");
    }
    if url
        .host()
        .is_none_or(|h| classify_host(&h) == HostClass::ThisHost)
    {
        return refuse("must not be this host (loopback) in production: the provider is remote");
    }
    Ok(())
}

fn notify(n: &NotifySettings) -> Vec<Problem> {
    if n.contract_token.is_none() {
        log::warn!("notify.contract_token is not set: every contract notice will be refused");
    }
    check_public_url(&n.public_url).err().into_iter().collect()
}

/// The API in production: authenticated, unless waived for a loopback sidecar (which
/// validation allows only on a loopback `api.bind`).
fn api(a: &ApiSettings) -> Vec<Problem> {
    // Off loopback, validation already requires the tokens everywhere.
    let loopback = a.listener.bind.ip().is_loopback();
    if !a.tokens.is_empty() || a.allow_unauthenticated_loopback || !loopback {
        return Vec::new();
    }
    vec![Problem::new(
        "api.tokens",
        format!(
            "production needs the backends' tokens ({}='[{{name=\"pos\",token=\"…\"}}]'); \
             for a sidecar on a loopback api.bind, set api.allow_unauthenticated_loopback = true instead",
            env_var("api.tokens")
        ),
    )]
}

/// Webhook endpoints in production: `https` (plain `http` only to a receiver on this host,
/// a sidecar), and each secret's key long and varied enough.
fn webhooks(w: &WebhookSettings) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (i, e) in w.endpoints.iter().enumerate() {
        let key = |k: &str| format!("webhooks.endpoints[{i}].{k}");
        if let Ok(url) = url::Url::parse(&e.url) {
            let this_host = url
                .host()
                .is_some_and(|h| classify_host(&h) == HostClass::ThisHost);
            // Any other scheme is validation's to refuse.
            if url.scheme() == "http" && !this_host {
                problems.push(
                    Problem::new(
                        &key("url"),
                        "must be https in production (plain http only to a receiver on this host, a sidecar): \
                         every event, signed, would travel in clear text",
                    )
                    .showing(&url_label(&e.url)),
                );
            }
        }
        let keys: Vec<Vec<u8>> = e
            .all_secrets()
            .filter_map(|s| decode_secret(s.expose()))
            .collect();
        if keys.iter().any(|k| k.len() < MIN_WEBHOOK_KEY_BYTES) {
            problems.push(Problem::new(
                &key("secrets"),
                format!("each secret must decode to at least {MIN_WEBHOOK_KEY_BYTES} random bytes (value not shown: secret)"),
            ));
        } else if keys.iter().any(|k| variety(k.iter()) < MIN_VARIETY) {
            problems.push(Problem::new(
                &key("secrets"),
                format!("a secret's key has fewer than {MIN_VARIETY} distinct bytes: not random (value not shown: secret)"),
            ));
        }
    }
    problems
}

/// How many distinct items.
fn variety<T: Ord>(items: impl Iterator<Item = T>) -> usize {
    items.collect::<std::collections::BTreeSet<T>>().len()
}

/// Every secret with the key it is named under (an entry of a list by its index), and
/// whether production's length rule is this module's to apply (the operators' and the
/// backends' tokens are held to it everywhere by validation).
fn secrets(s: &Sections) -> Vec<(String, &str, bool)> {
    let mut out: Vec<(String, &str, bool)> = Vec::new();
    if let Some(p) = &s.provider {
        out.push(("provider.app_key".into(), p.app_key.expose(), true));
    }
    if let Some(n) = &s.notify {
        out.extend(
            n.keys
                .iter()
                .map(|k| ("notify.keys".into(), k.expose(), true)),
        );
        out.extend(
            n.contract_token
                .iter()
                .map(|t| ("notify.contract_token".into(), t.expose(), true)),
        );
    }
    if let Some(a) = &s.admin {
        out.extend(
            a.token
                .iter()
                .map(|t| ("admin.token".into(), t.expose(), false)),
        );
        out.extend(
            a.tokens
                .iter()
                .enumerate()
                .map(|(i, o)| (format!("admin.tokens[{i}].token"), o.token.expose(), false)),
        );
    }
    if let Some(a) = &s.api {
        out.extend(
            a.tokens
                .iter()
                .enumerate()
                .map(|(i, b)| (format!("api.tokens[{i}].token"), b.token.expose(), false)),
        );
        out.extend(
            a.metrics_token
                .iter()
                .map(|t| ("api.metrics_token".into(), t.expose(), false)),
        );
    }
    out
}

/// Which secrets are one, for the rule against sharing: the operators' tokens are one
/// roster (validation refuses a token two operators share), as are the backends'.
fn family(key: &str) -> &str {
    if key.starts_with("admin.") {
        return "admin";
    }
    key.split('[').next().unwrap_or(key)
}

/// Secrets too short, blank, padded, of too few characters, published, or used twice.
fn weak_secrets(secrets: &[(String, &str, bool)]) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (i, (key, value, length_rule)) in secrets.iter().enumerate() {
        if *length_rule && value.chars().count() < MIN_SECRET_LEN {
            problems.push(Problem::new(
                key,
                format!("is shorter than {MIN_SECRET_LEN} characters: too easy to guess"),
            ));
        }
        if !value.is_empty() && value.trim().is_empty() {
            problems.push(Problem::new(
                key,
                "is only whitespace (value not shown: secret)",
            ));
        } else if value.trim() != *value {
            problems.push(Problem::new(
                key,
                "has leading or trailing whitespace: a paste that took too much (value not shown: secret)",
            ));
        } else if !value.is_empty() && variety(value.chars()) < MIN_VARIETY {
            problems.push(Problem::new(
                key,
                format!("has fewer than {MIN_VARIETY} distinct characters: too easy to guess (value not shown: secret)"),
            ));
        }
        let published = PUBLISHED_SECRETS
            .iter()
            .any(|p| normalised(p) == normalised(value));
        if published {
            problems.push(Problem::new(
                key,
                format!(
                    "is a published value (the provider's test credentials or a value this repository ships), \
                     whatever its case or padding; set your own with {}",
                    env_var(key.split('[').next().unwrap_or(key))
                ),
            ));
        }
        let shared = secrets[..i].iter().find(|(other, v, _)| {
            family(other) != family(key)
                && !value.trim().is_empty()
                && normalised(v) == normalised(value)
        });
        if let Some((other, _, _)) = shared {
            problems.push(Problem::new(
                key,
                format!("is the same value as `{other}`: each secret must be its own (value not shown: secret)"),
            ));
        }
    }
    problems
}

/// A URL the provider can call in production: `https`, a host that is neither this host
/// nor a special-purpose address or name, no port 0.
fn check_public_url(raw: &str) -> Result<(), Problem> {
    const KEY: &str = "notify.public_url";
    let refuse = |why: &str| {
        Err(Problem::new(
            KEY,
            format!("{why}: the provider sends every payment notification to this URL"),
        )
        .showing(&url_label(raw)))
    };
    let url = url::Url::parse(raw)
        .map_err(|e| Problem::new(KEY, e.to_string()).showing(&url_label(raw)))?;
    if url.scheme() != "https" {
        return refuse("must be https in production");
    }
    match url
        .host()
        .map_or(HostClass::ThisHost, |h| classify_host(&h))
    {
        HostClass::ThisHost => return refuse("must be a public address, not this host (loopback)"),
        HostClass::Special(what) => {
            return refuse(&format!("must be a public address, not {what}"));
        }
        HostClass::Public => {}
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
