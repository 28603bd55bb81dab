//! `[admin]`: the operators — the single `admin.token` (an operator named `admin`) and the
//! named `admin.tokens` with their roles; validation that names the offending key and never
//! shows a token. It must not authenticate anyone (that is `operators::Roster`).

use std::time::Duration;

use serde::Deserialize;

use super::{Problem, MIN_SECRET_LEN};
use crate::operators::{Operator, Role, Roster, LEGACY_ADMIN_NAME};
use crate::secret::Secret;

/// Longest operator name: it is written into every event the operator causes.
const MAX_NAME_LEN: usize = 64;

/// `[admin]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// Bearer token of the operator named `admin`; with no `tokens` either, the
    /// operators' routes answer 403.
    pub token: Option<Secret>,
    /// Named operators.
    #[serde(default)]
    pub tokens: Vec<OperatorToken>,
    /// How long a console sign-in lasts (the session cookie's `Max-Age` and its
    /// server-side expiry).
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
}

/// Bounds of `admin.session_ttl`: a session shorter than a minute signs the operator out
/// while they read a page; one longer than a day outlives the shift that opened it.
pub const SESSION_TTL_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(60)..=Duration::from_secs(24 * 3600);

/// One named operator.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorToken {
    /// Who (letters, digits, `.`, `_`, `-`; at most 64).
    pub name: String,
    /// Their bearer token (also what they sign in to the console with).
    pub token: Secret,
    /// `viewer` or `operator`.
    pub role: Role,
}

impl AdminSettings {
    /// Every configured operator with their token: `admin.token` as the operator `admin`,
    /// then `admin.tokens`.
    pub fn roster(&self) -> Roster {
        let legacy = self.token.iter().map(|t| {
            (
                Operator {
                    name: LEGACY_ADMIN_NAME.to_owned(),
                    role: Role::Operator,
                },
                t.clone(),
            )
        });
        let named = self.tokens.iter().map(|o| {
            (
                Operator {
                    name: o.name.clone(),
                    role: o.role,
                },
                o.token.clone(),
            )
        });
        Roster::new(legacy.chain(named).collect())
    }

    /// Every problem of the tokens and names.
    pub(super) fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let short = |t: &Secret| t.expose().chars().count() < MIN_SECRET_LEN;
        if self.token.as_ref().is_some_and(short) {
            problems.push(Problem::new(
                "admin.token",
                format!("must be at least {MIN_SECRET_LEN} characters"),
            ));
        }
        for (i, o) in self.tokens.iter().enumerate() {
            let key = |k: &str| format!("admin.tokens[{i}].{k}");
            if let Some(p) = name_problem(&key("name"), &o.name) {
                problems.push(p);
            }
            let taken = self.tokens[..i].iter().any(|p| p.name == o.name)
                || (self.token.is_some() && o.name == LEGACY_ADMIN_NAME);
            if taken {
                problems.push(
                    Problem::new(
                        &key("name"),
                        "is taken (by an earlier entry, or by admin.token's operator 'admin')",
                    )
                    .showing(&o.name),
                );
            }
            if short(&o.token) {
                problems.push(Problem::new(
                    &key("token"),
                    format!("must be at least {MIN_SECRET_LEN} characters"),
                ));
            }
            let reused = self.tokens[..i].iter().any(|p| p.token == o.token)
                || self.token.as_ref() == Some(&o.token);
            if reused {
                problems.push(Problem::new(
                    &key("token"),
                    "is another operator's token (value not shown: secret)",
                ));
            }
        }
        problems
    }
}

/// The problem of a holder's name (an operator's or a backend's), which is written to the
/// events and the access log: 1 to 64 letters, digits, `.`, `_` or `-`.
pub(super) fn name_problem(key: &str, name: &str) -> Option<Problem> {
    let sane = (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    (!sane).then(|| {
        Problem::new(
            key,
            format!("must be 1 to {MAX_NAME_LEN} letters, digits, '.', '_' or '-'"),
        )
        .showing(name)
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{message, with};
    use crate::config::Environment;
    use crate::operators::Role;

    #[test]
    fn the_admin_token_is_an_operator_named_admin_beside_the_named_operators() {
        let s = with(
            Environment::Sandbox,
            r#"[admin]
            token = "0123456789abcdef-admin"
            tokens = [
              { name = "alice", token = "0123456789abcdef-alice", role = "operator" },
              { name = "victor", token = "0123456789abcdef-victor", role = "viewer" },
            ]"#,
        )
        .unwrap();

        let roster = s.admin.roster();
        let who = |t: &str| roster.authenticate(t.as_bytes()).map(|o| (o.name, o.role));
        assert_eq!(
            who("0123456789abcdef-admin"),
            Some(("admin".into(), Role::Operator))
        );
        assert_eq!(
            who("0123456789abcdef-alice"),
            Some(("alice".into(), Role::Operator))
        );
        assert_eq!(
            who("0123456789abcdef-victor"),
            Some(("victor".into(), Role::Viewer))
        );
    }

    #[test]
    fn a_bad_operator_entry_is_refused_naming_its_key_and_never_its_token() {
        for (entry, key, why) in [
            (
                r#"{ name = "", token = "0123456789abcdef-x", role = "viewer" }"#,
                "admin.tokens[0].name",
                "letters",
            ),
            (
                r#"{ name = "a b", token = "0123456789abcdef-x", role = "viewer" }"#,
                "admin.tokens[0].name",
                "letters",
            ),
            (
                r#"{ name = "admin", token = "0123456789abcdef-x", role = "viewer" }"#,
                "admin.tokens[0].name",
                "taken",
            ),
            (
                r#"{ name = "bob", token = "short-token-x", role = "viewer" }"#,
                "admin.tokens[0].token",
                "at least 16",
            ),
            (
                r#"{ name = "bob", token = "0123456789abcdef-admin", role = "viewer" }"#,
                "admin.tokens[0].token",
                "another operator's token",
            ),
            (
                r#"{ name = "bob", token = "0123456789abcdef-x", role = "root" }"#,
                "admin.tokens",
                "role",
            ),
        ] {
            let m = message(with(
                Environment::Sandbox,
                &format!("[admin]\ntoken = \"0123456789abcdef-admin\"\ntokens = [{entry}]"),
            ));
            assert!(m.contains(key), "{entry}: {m}");
            assert!(m.contains(why), "{entry}: {m}");
            assert!(!m.contains("0123456789abcdef"), "no token in {m}");
            assert!(!m.contains("short-token-x"), "no token in {m}");
        }
    }

    #[test]
    fn operators_tokens_never_print_neither_in_debug_nor_in_check_config() {
        let toml = r#"[admin]
            tokens = [{ name = "alice", token = "0123456789abcdef-alice", role = "operator" }]"#;
        let figment = crate::config::Settings::figment(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config"),
            Environment::Sandbox,
        )
        .merge(<figment::providers::Toml as figment::providers::Format>::string(toml));
        let s = with(Environment::Sandbox, toml).unwrap();

        let printed = format!("{s:?}\n{}", crate::config::describe(&figment, &s));

        assert!(!printed.contains("0123456789abcdef-alice"), "{printed}");
        assert!(
            printed.contains("admin.tokens = \"[redacted]\""),
            "{printed}"
        );
    }

    #[test]
    fn two_named_operators_may_not_share_a_name() {
        let m = message(with(
            Environment::Sandbox,
            r#"[admin]
            tokens = [
              { name = "alice", token = "0123456789abcdef-1", role = "operator" },
              { name = "alice", token = "0123456789abcdef-2", role = "viewer" },
            ]"#,
        ));

        assert!(m.contains("admin.tokens[1].name"), "{m}");
    }
}
