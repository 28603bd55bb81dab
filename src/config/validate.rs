//! Validation of the values deserialisation cannot judge, section by section, so that every
//! section that read is checked even when another did not; each problem under the key the
//! user writes. It must not read a source (that is `load`) nor apply production's rules
//! (that is `production`).

use std::time::Duration;

use super::admin::name_problem;
use super::load::Sections;
use super::sections::{
    ApiSettings, ListenerSettings, NotifySettings, OrderSettings, ProviderMode, ProviderSettings,
    ReconcileSettings, RetentionSettings, ShutdownSettings, StoreSettings,
};
use super::{url_label, AdminSettings, Problem, WebhookSettings, MIN_SECRET_LEN};
use crate::domain::ids::MsgSrcId;
use crate::sandbox::SandboxConfig;
use crate::secret::Secret;

/// Every problem of every section that read (and of pairs of sections that both read).
pub(super) fn problems(s: &Sections) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some(sandbox) = &s.sandbox {
        problems.extend(self::sandbox(sandbox));
    }
    if let Some(api) = &s.api {
        problems.extend(self::api(api));
    }
    if let Some(notify) = &s.notify {
        problems.extend(self::notify(notify));
    }
    if let Some(admin) = &s.admin {
        problems.extend(self::admin(admin));
    }
    if let Some(webhooks) = &s.webhooks {
        problems.extend(self::webhooks(webhooks));
    }
    if let Some(provider) = &s.provider {
        problems.extend(self::provider(provider));
    }
    if let Some(store) = &s.store {
        problems.extend(self::store(store));
    }
    if let Some(reconcile) = &s.reconcile {
        problems.extend(self::reconcile(reconcile));
    }
    if let Some(orders) = &s.orders {
        problems.extend(self::orders(orders));
    }
    if let Some(retention) = &s.retention {
        problems.extend(self::retention(retention));
    }
    if let (Some(shutdown), Some(provider)) = (&s.shutdown, &s.provider) {
        problems.extend(self::shutdown(shutdown, provider));
    }
    problems
}

/// A problem for each `(key, ok)` that is not ok: "must be greater than 0".
fn positive<'a>(checks: impl IntoIterator<Item = (&'a str, bool)>) -> Vec<Problem> {
    checks
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(key, _)| Problem::new(key, "must be greater than 0"))
        .collect()
}

fn sandbox(s: &SandboxConfig) -> Vec<Problem> {
    match s.validate() {
        Ok(()) => Vec::new(),
        Err(e) => vec![Problem::new(&format!("sandbox.{}", e.key), e.reason)],
    }
}

/// The listener's keys, under `section`.
fn listener(section: &str, l: &ListenerSettings) -> Vec<Problem> {
    let key = |name: &str| format!("{section}.{name}");
    let (workers, max_body_bytes, max_connections, body_timeout) = (
        key("workers"),
        key("max_body_bytes"),
        key("max_connections"),
        key("body_timeout"),
    );
    positive([
        (workers.as_str(), l.workers > 0),
        (max_body_bytes.as_str(), l.max_body_bytes > 0),
        (max_connections.as_str(), l.max_connections > 0),
        (body_timeout.as_str(), !l.body_timeout.is_zero()),
    ])
}

fn api(s: &ApiSettings) -> Vec<Problem> {
    let mut problems = listener("api", &s.listener);
    let short = |t: &Secret| t.expose().chars().count() < MIN_SECRET_LEN;
    for (i, b) in s.tokens.iter().enumerate() {
        let key = |k: &str| format!("api.tokens[{i}].{k}");
        problems.extend(name_problem(&key("name"), &b.name));
        if s.tokens[..i].iter().any(|o| o.name == b.name) {
            problems
                .push(Problem::new(&key("name"), "is taken by an earlier entry").showing(&b.name));
        }
        if short(&b.token) {
            problems.push(Problem::new(
                &key("token"),
                format!("must be at least {MIN_SECRET_LEN} characters"),
            ));
        }
        if s.tokens[..i].iter().any(|o| o.token == b.token) {
            problems.push(Problem::new(
                &key("token"),
                "is another backend's token (value not shown: secret)",
            ));
        }
    }
    if s.metrics_token.as_ref().is_some_and(short) {
        problems.push(Problem::new(
            "api.metrics_token",
            format!("must be at least {MIN_SECRET_LEN} characters"),
        ));
    }
    let loopback = s.listener.bind.ip().is_loopback();
    if !loopback && s.tokens.is_empty() {
        problems.push(
            Problem::new(
                "api.tokens",
                "at least one backend token is required when api.bind is not loopback: \
                 anyone who reaches the API could create bills and read every order",
            )
            .showing(&s.listener.bind.to_string()),
        );
    }
    if !loopback && s.allow_unauthenticated_loopback {
        problems.push(
            Problem::new(
                "api.allow_unauthenticated_loopback",
                "waives api.tokens only for a sidecar whose api.bind is loopback",
            )
            .showing(&s.listener.bind.to_string()),
        );
    }
    problems
}

fn notify(s: &NotifySettings) -> Vec<Problem> {
    let mut problems = listener("notify", &s.listener);
    if let Err(p) = check_public_url(&s.public_url) {
        problems.push(p);
    }
    if s.keys.is_empty() || s.keys.iter().any(Secret::is_empty) {
        problems.push(Problem::new(
            "notify.keys",
            "at least one non-empty key is required",
        ));
    }
    if s.contract_token.as_ref().is_some_and(Secret::is_empty) {
        problems.push(Problem::new(
            "notify.contract_token",
            "must not be empty (omit it to refuse all contract notices)",
        ));
    }
    problems.extend(positive([
        ("notify.rejected_budget", s.rejected_budget > 0),
        ("notify.rejected_window", !s.rejected_window.is_zero()),
    ]));
    problems
}

fn admin(s: &AdminSettings) -> Vec<Problem> {
    let mut problems = s.problems();
    if !super::admin::SESSION_TTL_RANGE.contains(&s.session_ttl) {
        problems.push(
            Problem::new("admin.session_ttl", "must be between 1m and 24h")
                .showing(&humantime::format_duration(s.session_ttl).to_string()),
        );
    }
    problems
}

fn webhooks(s: &WebhookSettings) -> Vec<Problem> {
    s.problems()
}

fn provider(s: &ProviderSettings) -> Vec<Problem> {
    let mut problems = Vec::new();
    if s.mode == ProviderMode::Remote {
        if let Err(p) = check_url("provider.base_url", &s.base_url) {
            problems.push(p);
        }
    }
    if s.app_id.is_empty() {
        problems.push(Problem::new("provider.app_id", "must not be empty"));
    }
    if s.app_key.is_empty() {
        problems.push(Problem::new("provider.app_key", "must not be empty"));
    }
    let alnum =
        |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_alphanumeric());
    if !alnum(&s.mid, 15) {
        problems.push(Problem::new("provider.mid", "must be 15 letters or digits").showing(&s.mid));
    }
    if !alnum(&s.tid, 8) {
        problems.push(Problem::new("provider.tid", "must be 8 letters or digits").showing(&s.tid));
    }
    if let Err(e) = MsgSrcId::parse(&s.msg_src_id_raw) {
        problems
            .push(Problem::new("provider.msg_src_id", e.to_string()).showing(&s.msg_src_id_raw));
    }
    problems.extend(positive([("provider.timeout_ms", s.timeout_ms > 0)]));
    problems
}

fn store(s: &StoreSettings) -> Vec<Problem> {
    let mut problems = positive([("store.pool_size", s.pool_size > 0)]);
    if s.path.as_os_str().is_empty() {
        problems.push(Problem::new("store.path", "must not be empty"));
    }
    if let Some(url) = &s.url {
        let scheme = url::Url::parse(url.expose()).map(|u| u.scheme().to_owned());
        if !matches!(scheme.as_deref(), Ok("postgres" | "postgresql")) {
            problems.push(Problem::new(
                "store.url",
                "must be a postgres:// or postgresql:// URL (leave it out for SQLite at store.path)",
            ));
        }
    }
    problems.extend(positive([
        ("store.statement_timeout", !s.statement_timeout.is_zero()),
        ("store.connect_timeout", !s.connect_timeout.is_zero()),
    ]));
    problems
}

fn reconcile(s: &ReconcileSettings) -> Vec<Problem> {
    let mut problems = positive([
        ("reconcile.batch", s.batch > 0),
        ("reconcile.concurrency", s.concurrency > 0),
        ("reconcile.max_qps", s.max_qps > 0),
    ]);
    if s.backoff.is_empty() || s.backoff.iter().any(Duration::is_zero) {
        problems.push(Problem::new(
            "reconcile.backoff",
            "needs at least one gap, none of them zero",
        ));
    }
    if tokio_cron_scheduler::Job::new(s.tick.as_str(), |_, _| {}).is_err() {
        problems.push(
            Problem::new(
                "reconcile.tick",
                "not a cron expression with a seconds field (e.g. \"*/5 * * * * *\")",
            )
            .showing(&s.tick),
        );
    }
    problems
}

fn orders(s: &OrderSettings) -> Vec<Problem> {
    positive([
        ("orders.max_amount_fen", s.max_amount_fen > 0),
        ("orders.default_expiry", !s.default_expiry.is_zero()),
    ])
}

fn retention(s: &RetentionSettings) -> Vec<Problem> {
    let mut problems = positive([("retention.max_age", !s.max_age.is_zero())]);
    if let Some(tick) = &s.prune_tick {
        if tokio_cron_scheduler::Job::new(tick.as_str(), |_, _| {}).is_err() {
            problems.push(
                Problem::new(
                    "retention.prune_tick",
                    "not a cron expression with a seconds field (e.g. \"0 30 3 * * *\")",
                )
                .showing(tick),
            );
        }
    }
    problems
}

/// A provider call in flight when the signal comes must get its answer (or its timeout)
/// before the listeners are cut.
fn shutdown(s: &ShutdownSettings, provider: &ProviderSettings) -> Vec<Problem> {
    if s.grace > provider.timeout() {
        return Vec::new();
    }
    vec![Problem::new(
        "shutdown.grace",
        format!(
            "must be longer than provider.timeout_ms ({} ms), so that a provider call in flight ends before the listeners stop",
            provider.timeout_ms
        ),
    )
    .showing(&humantime::format_duration(s.grace).to_string())]
}

/// A URL with a scheme of http or https and a host, no trailing '/'. A refused URL is shown
/// through [`url_label`] (no user info, query or fragment: they may hold a password).
pub(super) fn check_url(key: &str, raw: &str) -> Result<url::Url, Problem> {
    let refuse = |why: String| Problem::new(key, why).showing(&url_label(raw));
    let url = url::Url::parse(raw).map_err(|e| refuse(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse("must start with http:// or https://".into()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("must name a host".into()));
    }
    if raw.ends_with('/') || url.query().is_some() || url.fragment().is_some() {
        return Err(refuse("must not end with '/' or carry a query".into()));
    }
    Ok(url)
}

/// `notify.public_url`'s own rules, everywhere: no user info (the provider would be given
/// a password), and no path already ending in the route the gateway appends.
fn check_public_url(raw: &str) -> Result<(), Problem> {
    const KEY: &str = "notify.public_url";
    let url = check_url(KEY, raw)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Problem::new(
            KEY,
            "must not carry user info (user:password@): it would be handed to the provider in every notifyUrl",
        )
        .showing(&url_label(raw)));
    }
    if url.path().trim_end_matches('/').ends_with(PAYMENT_ROUTE) {
        return Err(Problem::new(
            KEY,
            format!("is the base the gateway appends {PAYMENT_ROUTE} to: drop the route from it (it would be doubled)"),
        )
        .showing(&url_label(raw)));
    }
    Ok(())
}

/// The route `notify.public_url` is the base of.
const PAYMENT_ROUTE: &str = "/notify/payment";

#[cfg(test)]
mod tests {
    use super::super::tests::{message, with};
    use crate::config::Environment;

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
            ("[api]\nbind = \"0.0.0.0:8080\"", "api.tokens"),
            ("[api]\nbind = \"[::]:8080\"", "api.tokens"),
            (
                "[api]\nbind = \"0.0.0.0:8080\"\nallow_unauthenticated_loopback = true\n\
                 tokens = [{ name = \"pos\", token = \"0123456789abcdef-pos\" }]",
                "api.allow_unauthenticated_loopback",
            ),
            (
                "[api]\ntokens = [{ name = \"a b\", token = \"0123456789abcdef-pos\" }]",
                "api.tokens[0].name",
            ),
            (
                "[notify]\npublic_url = \"http://u:p@127.0.0.1:8081\"",
                "notify.public_url",
            ),
            (
                "[notify]\npublic_url = \"http://127.0.0.1:8081/notify/payment\"",
                "notify.public_url",
            ),
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
    fn a_url_without_a_host_is_refused() {
        for url in ["http://:::", "http://", "ftp://x", "http://x/"] {
            let toml = format!("[notify]\npublic_url = \"{url}\"");
            let m = message(with(Environment::Sandbox, &toml));
            assert!(m.contains("notify.public_url"), "{url}: {m}");
        }
    }

    #[test]
    fn values_that_do_not_fit_and_values_refused_are_reported_in_one_round() {
        let m = message(with(
            Environment::Sandbox,
            "[api]\nbind = \"not-an-address\"\n[store]\nbusy_timeout = \"5parsecs\"\n\
             [notify]\npublic_url = \"http://:::\"\n[reconcile]\nbatch = 0",
        ));
        for key in [
            "api.bind",
            "store.busy_timeout",
            "notify.public_url",
            "reconcile.batch",
        ] {
            assert!(m.contains(&format!("`{key}`")), "{key} missing: {m}");
        }
        assert!(m.contains("4 problems"), "{m}");
    }

    #[test]
    fn a_listener_key_that_does_not_fit_is_named_beside_a_refused_key_of_its_own_section() {
        let m = message(with(
            Environment::Sandbox,
            "[notify]\nworkers = \"two\"\nrejected_window = \"soon\"\n[api]\nlong_poll_waiters = -1",
        ));
        for key in [
            "notify.workers",
            "notify.rejected_window",
            "api.long_poll_waiters",
        ] {
            assert!(m.contains(&format!("`{key}`")), "{key} missing: {m}");
        }
    }
}
