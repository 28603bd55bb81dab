//! Start-up as a user meets it: the real `umsgate` binary as a child process, in a fresh
//! directory that is not the repository, with only the environment each test gives it.
//! Owns configuration (ids as text, every problem at once, production's refusals,
//! `check-config`), the store's refusal to start over on a missing file, backups of a live
//! database, and shutdown on SIGTERM.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use rand::SeedableRng;
use serde_json::json;

use crate::helpers::{
    child_gateway_env, child_store_env, paid_notices, umsgate, ChildGateway, TestDatabase,
};

/// A merchant's all-digit ids and real-looking secrets, as production is given them: every
/// one from the environment, none of them published anywhere.
const PRODUCTION: [(&str, &str); 14] = [
    ("UMSGATE_ENV", "production"),
    ("UMSGATE__PROVIDER__APP_ID", "20230512000012345"),
    (
        "UMSGATE__PROVIDER__APP_KEY",
        "k9Lm2Qp7Rt4Vx8Zb3Nc6Hd1Fg5Js0Wy",
    ),
    ("UMSGATE__PROVIDER__MID", "898201612345678"),
    // Leading zeros: a number would lose them.
    ("UMSGATE__PROVIDER__TID", "00012345"),
    ("UMSGATE__PROVIDER__MSG_SRC_ID", "0321"),
    (
        "UMSGATE__NOTIFY__KEYS",
        "Xq3Tz8Lw2Vb7Nm4Kp9Rs6Hd1Fg5Jc0Ya7Ue2Io8Pl3Mk6Nb",
    ),
    ("UMSGATE__NOTIFY__CONTRACT_TOKEN", "ct-7Hq2Lz9Wm4Xr8Vb3Tn6"),
    ("UMSGATE__ADMIN__TOKEN", "0123456789012345678"),
    ("UMSGATE__NOTIFY__PUBLIC_URL", "https://pay.example.com"),
    // A `.invalid` name never resolves (RFC 6761): no call can leave this machine.
    (
        "UMSGATE__PROVIDER__BASE_URL",
        "https://open.chinaums.invalid",
    ),
    // The backend that calls the API.
    (
        "UMSGATE__API__TOKENS",
        r#"[{name="pos",token="pos-9Kq2Lm7Xv4Rt8Wz3"}]"#,
    ),
    ("UMSGATE__API__BIND", "127.0.0.1:0"),
    ("UMSGATE__NOTIFY__BIND", "127.0.0.1:0"),
];

/// `umsgate <args>` in `cwd` with the production environment, `overrides` on top (an
/// empty value removes the variable).
fn production(cwd: &Path, overrides: &[(&str, &str)], args: &[&str]) -> Command {
    let mut command = umsgate(cwd);
    for (name, value) in PRODUCTION.iter().chain(overrides) {
        if value.is_empty() {
            command.env_remove(name);
        } else {
            command.env(name, value);
        }
    }
    command.args(args);
    command
}

fn run(mut command: Command) -> (Output, String, String) {
    let out = command.output().expect("umsgate runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

#[actix_web::test]
async fn production_starts_at_the_first_try_from_another_directory_with_all_digit_ids_from_the_environment(
) {
    // Arrange: a directory with nothing in it; the database path relative to it.
    let dir = tempfile::tempdir().expect("temp dir");
    let relative = [("UMSGATE__STORE__PATH", "data/gateway.db")];
    let (out, stdout, stderr) = run(production(dir.path(), &relative, &["migrate"]));
    assert!(out.status.success(), "migrate: {stdout}{stderr}");

    // Act
    let mut command = production(dir.path(), &relative, &["serve"]);
    command.env("RUST_LOG", "info");
    let mut gateway = ChildGateway::spawn(command, dir.path().join("serve.log"))
        .await
        .unwrap_or_else(|tail| panic!("production did not start: {tail}"));
    let client = awc::Client::default();
    let admin = client
        .get(format!("{}/admin/notifications", gateway.api))
        .insert_header(("Authorization", "Bearer 0123456789012345678"))
        .send()
        .await
        .expect("admin call")
        .status();
    let (_, config, _) = run(production(dir.path(), &relative, &["check-config"]));

    // Assert: every id kept as written, leading zeros too; the all-digit admin token works;
    // the database is where the relative path says, logged absolute.
    assert_eq!(admin.as_u16(), 200);
    for line in [
        "provider.mid = \"898201612345678\"",
        "provider.tid = \"00012345\"",
        "provider.msg_src_id = \"0321\"",
        "provider.app_id = \"20230512000012345\"",
    ] {
        assert!(config.contains(line), "{line} missing:\n{config}");
    }
    let db = dir.path().canonicalize().unwrap().join("data/gateway.db");
    assert!(db.is_file());
    assert!(
        gateway
            .log_text()
            .contains(&format!("store: database {}", db.display())),
        "{}",
        gateway.log_tail()
    );
    assert!(gateway.terminate().await.success());
}

#[test]
fn production_refuses_each_published_weak_or_unreachable_value_naming_its_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    // (variable, value, key named, secret: never repeated)
    let cases: &[(&str, &str, &str, bool)] = &[
        (
            "UMSGATE__PROVIDER__APP_ID",
            "10037e6f6823b20801682b6a5e5a0006",
            "provider.app_id",
            false,
        ),
        (
            "UMSGATE__PROVIDER__APP_KEY",
            "1c4e3b16066244ae9b236a09e5b312e8",
            "provider.app_key",
            true,
        ),
        ("UMSGATE__PROVIDER__APP_KEY", "", "provider.app_key", true),
        (
            "UMSGATE__PROVIDER__APP_KEY",
            "abc123",
            "provider.app_key",
            true,
        ),
        (
            "UMSGATE__NOTIFY__KEYS",
            "impARTxrQcfwmRijpDNCw6hPxaWCddKEpYxjaKXDhCaTCXJ6",
            "notify.keys",
            true,
        ),
        (
            "UMSGATE__NOTIFY__KEYS",
            "fcAmtnx7MwismjWNhNKdHC44mNXtnEQeJkRrhKJwyrW2ysRR",
            "notify.keys",
            true,
        ),
        (
            "UMSGATE__NOTIFY__KEYS",
            "[\"Xq3Tz8Lw2Vb7Nm4Kp9Rs6Hd1Fg5Jc0Ya7Ue2Io8Pl3Mk6Nb\",\"k\"]",
            "notify.keys",
            false,
        ),
        (
            "UMSGATE__PROVIDER__MID",
            "898340149000005",
            "provider.mid",
            false,
        ),
        (
            "UMSGATE__PROVIDER__MID",
            "898340149000006",
            "provider.mid",
            false,
        ),
        ("UMSGATE__PROVIDER__TID", "88880001", "provider.tid", false),
        (
            "UMSGATE__PROVIDER__MSG_SRC_ID",
            "1017",
            "provider.msg_src_id",
            false,
        ),
        (
            "UMSGATE__NOTIFY__CONTRACT_TOKEN",
            "",
            "notify.contract_token",
            false,
        ),
        (
            "UMSGATE__NOTIFY__CONTRACT_TOKEN",
            "sandbox-contract-token-change-me",
            "notify.contract_token",
            true,
        ),
        (
            "UMSGATE__NOTIFY__CONTRACT_TOKEN",
            "x",
            "notify.contract_token",
            true,
        ),
        ("UMSGATE__ADMIN__TOKEN", "short-token", "admin.token", true),
        (
            "UMSGATE__NOTIFY__PUBLIC_URL",
            "",
            "notify.public_url",
            false,
        ),
        (
            "UMSGATE__NOTIFY__PUBLIC_URL",
            "http://pay.example.com",
            "notify.public_url",
            false,
        ),
        (
            "UMSGATE__NOTIFY__PUBLIC_URL",
            "https://127.0.0.1:8081",
            "notify.public_url",
            false,
        ),
        (
            "UMSGATE__NOTIFY__PUBLIC_URL",
            "https://localhost",
            "notify.public_url",
            false,
        ),
        (
            "UMSGATE__NOTIFY__PUBLIC_URL",
            "https://[::1]",
            "notify.public_url",
            false,
        ),
        (
            "UMSGATE__NOTIFY__PUBLIC_URL",
            "https://10.0.0.7",
            "notify.public_url",
            false,
        ),
        (
            "UMSGATE__NOTIFY__PUBLIC_URL",
            "http://:::",
            "notify.public_url",
            false,
        ),
        ("UMSGATE__PROVIDER__MODE", "sandbox", "provider.mode", false),
        ("UMSGATE__SHUTDOWN__GRACE", "5s", "shutdown.grace", false),
    ];
    for (var, value, key, secret) in cases {
        let (out, stdout, stderr) = run(production(dir.path(), &[(var, value)], &["check-config"]));
        assert_eq!(
            out.status.code(),
            Some(2),
            "{var}={value:?} was accepted: {stdout}"
        );
        assert!(
            stderr.contains(&format!("`{key}`")) && stderr.contains(var),
            "{var}={value:?}: {stderr}"
        );
        if *secret && !value.is_empty() {
            assert!(
                !stderr.contains(value),
                "{var}: the secret was repeated: {stderr}"
            );
        }
    }
    // And the base itself is accepted: each refusal above is its one change.
    let (out, stdout, stderr) = run(production(dir.path(), &[], &["check-config"]));
    assert!(out.status.success(), "{stdout}{stderr}");
}

/// One refusal: the variables set on top of the production base, the key the refusal
/// names, and what its output must not contain.
type Refusal<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a [&'a str]);

/// Runs `check-config` in production with each case's `overrides` on top of the base and
/// asserts that it is refused naming `key`, with none of the case's `hidden` strings in its
/// output; then that each of `accepted` (overrides too) passes, so each refusal is its
/// own change. A table of `(overrides, key, hidden)`.
fn refused_in_production(cases: &[Refusal<'_>], accepted: &[&[(&str, &str)]]) {
    let dir = tempfile::tempdir().expect("temp dir");
    for (overrides, key, hidden) in cases {
        let (out, stdout, stderr) = run(production(dir.path(), overrides, &["check-config"]));
        assert_eq!(
            out.status.code(),
            Some(2),
            "{overrides:?} was accepted: {stdout}"
        );
        assert!(
            stderr.contains(&format!("`{key}`")),
            "{overrides:?}: {key} missing: {stderr}"
        );
        for h in *hidden {
            assert!(
                !stderr.contains(h),
                "{overrides:?}: {h:?} printed: {stderr}"
            );
        }
    }
    for overrides in accepted {
        let (out, stdout, stderr) = run(production(dir.path(), overrides, &["check-config"]));
        assert!(out.status.success(), "{overrides:?}: {stdout}{stderr}");
    }
}

#[test]
fn production_refuses_an_api_without_backend_tokens_unless_waived_for_a_loopback_sidecar() {
    const NO_TOKENS: (&str, &str) = ("UMSGATE__API__TOKENS", "");
    const WAIVED: (&str, &str) = ("UMSGATE__API__ALLOW_UNAUTHENTICATED_LOOPBACK", "true");
    refused_in_production(
        &[
            (&[NO_TOKENS], "api.tokens", &[]),
            (
                &[NO_TOKENS, ("UMSGATE__API__BIND", "0.0.0.0:0")],
                "api.tokens",
                &[],
            ),
            (
                &[NO_TOKENS, WAIVED, ("UMSGATE__API__BIND", "[::]:0")],
                "api.allow_unauthenticated_loopback",
                &[],
            ),
            (
                &[NO_TOKENS, WAIVED, ("UMSGATE__API__BIND", "10.0.0.5:0")],
                "api.tokens",
                &[],
            ),
            (
                &[("UMSGATE__API__TOKENS", r#"[{name="pos",token="tiny-tok"}]"#)],
                "api.tokens[0].token",
                &["tiny-tok"],
            ),
            (
                &[(
                    "UMSGATE__API__TOKENS",
                    r#"[{name="pos",token="pos-9Kq2Lm7Xv4Rt8Wz3"},{name="pos",token="erp-4Rt8Wz3pos-9Kq2L"}]"#,
                )],
                "api.tokens[1].name",
                &["erp-4Rt8Wz3pos-9Kq2L"],
            ),
            (
                &[(
                    "UMSGATE__API__TOKENS",
                    r#"[{name="pos",token="pos-9Kq2Lm7Xv4Rt8Wz3"},{name="erp",token="pos-9Kq2Lm7Xv4Rt8Wz3"}]"#,
                )],
                "api.tokens[1].token",
                &["pos-9Kq2Lm7Xv4Rt8Wz3"],
            ),
            (
                &[("UMSGATE__API__METRICS_TOKEN", "scrape-me")],
                "api.metrics_token",
                &["scrape-me"],
            ),
        ],
        &[
            &[NO_TOKENS, WAIVED],
            &[NO_TOKENS, WAIVED, ("UMSGATE__API__BIND", "[::1]:0")],
            &[("UMSGATE__API__METRICS_TOKEN", "scrape-4Rt8Wz3Kq2Lm7Xv")],
        ],
    );
}

/// A Standard Webhooks secret of 32 random bytes.
const WEBHOOK_SECRET: &str = "whsec_CpH7KqZkLhEf2nh49FqUl1K4K67mBKMvIcT79vhNJLE=";

/// The variable that lists the webhook endpoints.
const ENDPOINTS: &str = "UMSGATE__WEBHOOKS__ENDPOINTS";

/// `UMSGATE__WEBHOOKS__ENDPOINTS`'s value for one endpoint.
fn endpoint(url: &str, secret: &str) -> String {
    format!(r#"[{{url="{url}",secret="{secret}"}}]"#)
}

#[test]
fn production_refuses_weak_webhook_secrets_and_cleartext_or_loopback_outbound_urls() {
    let short = endpoint("https://backend.example/hook", "whsec_YWFh");
    // 24 bytes, all of them 'a'.
    let monotonous = endpoint(
        "https://backend.example/hook",
        "whsec_YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh",
    );
    let cleartext = endpoint("http://backend.example/hook", WEBHOOK_SECRET);
    let sidecar = endpoint("http://127.0.0.1:9000/hook", WEBHOOK_SECRET);
    let good = endpoint("https://backend.example/hook", WEBHOOK_SECRET);
    let (short, monotonous, cleartext, sidecar, good) = (
        [(ENDPOINTS, short.as_str())],
        [(ENDPOINTS, monotonous.as_str())],
        [(ENDPOINTS, cleartext.as_str())],
        [(ENDPOINTS, sidecar.as_str())],
        [(ENDPOINTS, good.as_str())],
    );
    const BASE_URL: &str = "UMSGATE__PROVIDER__BASE_URL";
    refused_in_production(
        &[
            (&short, "webhooks.endpoints[0].secrets", &["YWFh"]),
            (&monotonous, "webhooks.endpoints[0].secrets", &["YWFhYWFh"]),
            (&cleartext, "webhooks.endpoints[0].url", &[WEBHOOK_SECRET]),
            (
                &[(BASE_URL, "http://open.chinaums.com")],
                "provider.base_url",
                &[],
            ),
            (
                &[(BASE_URL, "https://127.0.0.1:9")],
                "provider.base_url",
                &[],
            ),
            (&[(BASE_URL, "https://[::1]:9")], "provider.base_url", &[]),
            (
                &[(BASE_URL, "https://LOCALHOST.")],
                "provider.base_url",
                &[],
            ),
        ],
        &[
            &good,
            &sidecar,
            &[(BASE_URL, "https://api-mop.chinaums.com")],
        ],
    );
}

#[test]
fn production_refuses_every_special_purpose_localhost_userinfo_or_doubled_public_url_of_the_issue()
{
    const URL: &str = "UMSGATE__NOTIFY__PUBLIC_URL";
    const KEY: &str = "notify.public_url";
    let refused = [
        "https://[::ffff:127.0.0.1]",
        "https://[::ffff:7f00:1]",
        "https://[::ffff:10.0.0.1]",
        "https://[fd00::1]",
        "https://[fe80::1]",
        "https://[64:ff9b::7f00:1]",
        "https://[2002:7f00:1::]",
        "https://100.64.0.1",
        "https://198.18.0.1",
        "https://192.0.2.1",
        "https://LOCALHOST.",
        "https://localhost..",
        "https://Api.LocalHost",
        "https://pay.example.com/notify/payment",
        "https://pay.example.com/base/notify/payment",
        "https://gateway",
        "https://pay.internal",
        "https://[2001:db8::1]",
    ];
    let overrides: Vec<[(&str, &str); 1]> = refused.iter().map(|u| [(URL, *u)]).collect();
    let mut cases: Vec<Refusal<'_>> = overrides.iter().map(|o| (&o[..], KEY, &[][..])).collect();
    let userinfo = [(URL, "https://merchant:pw-Zq8Xv3@pay.example.com")];
    cases.push((&userinfo, KEY, &["pw-Zq8Xv3", "merchant:"]));
    refused_in_production(
        &cases,
        &[
            &[(URL, "https://pay.example.com/umsgate")],
            &[(URL, "https://[2001:4860:4860::8888]")],
            &[(URL, "https://8.8.8.8:8443")],
        ],
    );
}

#[test]
fn production_refuses_trivial_published_and_shared_secrets_and_never_prints_a_secret_in_a_url() {
    const NOTIFY_KEY: &str = "Xq3Tz8Lw2Vb7Nm4Kp9Rs6Hd1Fg5Jc0Ya7Ue2Io8Pl3Mk6Nb";
    let spaces = " ".repeat(48);
    let leaky = endpoint(
        "ftp://hook-user:hunter2-Pw9@backend.example/hook?token=s3cr3t-Qz7",
        WEBHOOK_SECRET,
    );
    let leaky = [(ENDPOINTS, leaky.as_str())];
    refused_in_production(
        &[
            (
                &leaky,
                "webhooks.endpoints[0].url",
                &["hunter2-Pw9", "s3cr3t-Qz7", "hook-user"],
            ),
            (
                &[("UMSGATE__ADMIN__TOKEN", "aaaaaaaaaaaaaaaaaaaa")],
                "admin.token",
                &["aaaaaaaaaaaa"],
            ),
            (&[("UMSGATE__NOTIFY__KEYS", &spaces)], "notify.keys", &[]),
            (
                &[("UMSGATE__NOTIFY__KEYS", "abababababababababababababababab")],
                "notify.keys",
                &["abababababab"],
            ),
            (
                &[(
                    "UMSGATE__NOTIFY__KEYS",
                    "  IMPARTXRQCFWMRIJPDNCW6HPXAWCDDKEPYXJAKXDHCATCXJ6 ",
                )],
                "notify.keys",
                &["IMPARTXRQCFWMRIJPDNCW6HPXAWCDDKEPYXJAKXDHCATCXJ6"],
            ),
            (
                &[(
                    "UMSGATE__PROVIDER__APP_KEY",
                    "1C4E3B16066244AE9B236A09E5B312E8",
                )],
                "provider.app_key",
                &["1C4E3B16066244AE9B236A09E5B312E8"],
            ),
            (
                &[(
                    "UMSGATE__NOTIFY__CONTRACT_TOKEN",
                    "Sandbox-Contract-Token-Change-Me",
                )],
                "notify.contract_token",
                &["Sandbox-Contract-Token-Change-Me"],
            ),
            (
                &[("UMSGATE__ADMIN__TOKEN", NOTIFY_KEY)],
                "admin.token",
                &[NOTIFY_KEY],
            ),
            (
                &[(
                    "UMSGATE__API__TOKENS",
                    r#"[{name="pos",token="0123456789012345678"}]"#,
                )],
                "api.tokens[0].token",
                &["0123456789012345678"],
            ),
        ],
        &[],
    );
}

#[test]
fn every_configuration_problem_is_reported_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = [
        ("UMSGATE__PROVIDER__MID", "898340149000005"),
        ("UMSGATE__PROVIDER__TID", "123"),
        (
            "UMSGATE__NOTIFY__KEYS",
            "impARTxrQcfwmRijpDNCw6hPxaWCddKEpYxjaKXDhCaTCXJ6",
        ),
        ("UMSGATE__NOTIFY__PUBLIC_URL", ""),
        ("UMSGATE__RECONCILE__BATCH", "0"),
    ];

    let (out, _, stderr) = run(production(dir.path(), &bad, &["check-config"]));

    assert_eq!(out.status.code(), Some(2));
    for key in [
        "provider.mid",
        "provider.tid",
        "notify.keys",
        "notify.public_url",
        "reconcile.batch",
    ] {
        assert!(
            stderr.contains(&format!("`{key}`")),
            "{key} missing: {stderr}"
        );
    }
    assert!(
        stderr.contains("got \"123\""),
        "a public value is shown: {stderr}"
    );
}

#[test]
fn values_that_do_not_fit_and_values_refused_are_named_together_in_one_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = umsgate(dir.path());
    command
        .env("UMSGATE__API__BIND", "not-an-address")
        .env("UMSGATE__STORE__BUSY_TIMEOUT", "5parsecs")
        .env("UMSGATE__NOTIFY__PUBLIC_URL", "http://:::")
        .env("UMSGATE__RECONCILE__BATCH", "0")
        .arg("check-config");

    let (out, _, stderr) = run(command);

    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for key in [
        "api.bind",
        "store.busy_timeout",
        "notify.public_url",
        "reconcile.batch",
    ] {
        assert!(
            stderr.contains(&format!("`{key}`")),
            "{key} missing: {stderr}"
        );
    }
    assert!(stderr.contains("4 problems"), "{stderr}");
}

#[test]
fn check_config_prints_config_spellings_and_origins_and_never_a_secret() {
    // Arrange: a configuration directory with a partial file; one variable.
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("etc");
    std::fs::create_dir(&config).unwrap();
    std::fs::write(config.join("default.toml"), "[api]\nworkers = 3\n").unwrap();
    let mut command = umsgate(dir.path());
    command
        .args(["--config-dir", "etc", "check-config"])
        .env("UMSGATE__PROVIDER__AUTH", "token")
        .env("UMSGATE__ADMIN__TOKEN", "an-admin-token-0123456789");

    // Act
    let (out, stdout, stderr) = run(command);

    // Assert
    assert!(out.status.success(), "{stderr}");
    let file = config.join("default.toml");
    for line in [
        "provider.mode = \"sandbox\"  # default".to_owned(),
        "provider.auth = \"token\"  # env UMSGATE__PROVIDER__AUTH".to_owned(),
        format!("api.workers = 3  # file {}", file.display()),
        "notify.public_url = \"http://127.0.0.1:8081\"  # default".to_owned(),
        "notify.keys = \"[redacted]\"".to_owned(),
        "admin.token = \"[redacted]\"  # env UMSGATE__ADMIN__TOKEN".to_owned(),
        "log.format = \"text\"".to_owned(),
        format!(
            "store.path = \"{}\"",
            dir.path()
                .canonicalize()
                .unwrap()
                .join("data/umsgate.db")
                .display()
        ),
    ] {
        assert!(stdout.contains(&line), "{line} missing:\n{stdout}");
    }
    for secret in [
        "an-admin-token-0123456789",
        "1c4e3b16066244ae9b236a09e5b312e8",
        "impARTxrQcfwmRijpDNCw6hPxaWCddKEpYxjaKXDhCaTCXJ6",
        "sandbox-contract-token-change-me",
    ] {
        assert!(!stdout.contains(secret), "{secret} printed");
    }
    assert!(
        !dir.path().join("data").exists(),
        "check-config creates nothing"
    );
}

#[test]
fn outside_the_sandbox_a_missing_database_is_refused_not_created() {
    let dir = tempfile::tempdir().expect("temp dir");

    let (out, _, stderr) = run(production(dir.path(), &[], &["serve"]));

    assert!(!out.status.success());
    assert!(stderr.contains("umsgate migrate"), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(
        !dir.path().join("data/umsgate.db").exists(),
        "no new empty database"
    );
}

#[actix_web::test]
async fn named_operators_come_from_the_environment_in_production_and_a_viewer_cannot_act() {
    // Arrange: production with one viewer besides the operator `admin`.
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [
        ("UMSGATE__STORE__PATH", "gateway.db"),
        (
            "UMSGATE__ADMIN__TOKENS",
            r#"[{name="victor",token="victor-token-0123456789",role="viewer"}]"#,
        ),
    ];
    let (out, stdout, stderr) = run(production(dir.path(), &env, &["migrate"]));
    assert!(out.status.success(), "migrate: {stdout}{stderr}");
    let gateway = ChildGateway::spawn(
        production(dir.path(), &env, &["serve"]),
        dir.path().join("serve.log"),
    )
    .await
    .unwrap_or_else(|tail| panic!("production did not start: {tail}"));
    let client = awc::Client::default();
    let call = |method: &str, path: &str, token: &str| {
        let req = client
            .request(
                method.parse().expect("method"),
                format!("{}{path}", gateway.api),
            )
            .insert_header(("Authorization", format!("Bearer {token}")))
            .insert_header(("Content-Type", "application/json"));
        async move {
            req.send_body(r#"{"dryRun":true}"#)
                .await
                .expect("call")
                .status()
                .as_u16()
        }
    };

    // Act
    let viewer_reads = call("GET", "/admin/notifications", "victor-token-0123456789").await;
    let viewer_acts = call("POST", "/admin/resync", "victor-token-0123456789").await;
    let admin_acts = call("POST", "/admin/resync", "0123456789012345678").await;
    let (_, config, _) = run(production(dir.path(), &env, &["check-config"]));

    // Assert
    assert_eq!((viewer_reads, viewer_acts, admin_acts), (200, 403, 200));
    assert!(!config.contains("victor-token"), "{config}");
    assert!(!gateway.log_text().contains("victor-token"));
}

#[derive(QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    v: String,
}

#[actix_web::test]
async fn a_backup_taken_during_a_notification_stream_is_sound_and_holds_every_notification_acknowledged_before_it(
) {
    // Arrange: a gateway with 300 orders and a notification for each, on SQLite whatever
    // the suite's backend: the test is about a backup of SQLite's file.
    let dir = TestDatabase::sqlite();
    let mut command = umsgate(dir.path());
    child_gateway_env(&mut command, &dir).arg("serve");
    let gateway = ChildGateway::spawn(command, dir.path().join("serve.log"))
        .await
        .unwrap_or_else(|tail| panic!("the gateway did not start: {tail}"));
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    let notices = paid_notices(&mut rng, 12, 300);
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    for n in &notices {
        let res = client
            .post(format!("{}/orders", gateway.api))
            .send_json(&json!({"merOrderId": n.order, "amount": n.amount}))
            .await
            .expect("create");
        assert_eq!(res.status().as_u16(), 201);
    }
    let post = |i: usize| {
        let req = client
            .post(format!("{}/notify/payment", gateway.notify))
            .insert_header(("Content-Type", "application/x-www-form-urlencoded"));
        let body = notices[i].body.clone();
        async move {
            let mut res = req.send_body(body).await.expect("notify");
            res.body().await.expect("body").as_ref() == b"SUCCESS"
        }
    };
    let mut acked = Vec::new();
    for i in 0..100 {
        if post(i).await {
            acked.push(i);
        }
    }

    // Act: the backup runs while the stream goes on.
    let target = dir.path().join("backup.db");
    let mut backup = umsgate(dir.path());
    child_gateway_env(&mut backup, &dir)
        .arg("backup")
        .arg(&target);
    let mut backup = backup
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("backup starts");
    let mut next = 100;
    let status = loop {
        if let Some(status) = backup.try_wait().expect("backup state") {
            break status;
        }
        if next < notices.len() {
            post(next).await;
            next += 1;
        } else {
            actix_web::rt::time::sleep(Duration::from_millis(10)).await;
        }
    };

    // Assert
    assert!(status.success());
    let mut conn = SqliteConnection::establish(target.to_str().unwrap()).expect("backup opens");
    conn.batch_execute("PRAGMA query_only = 1;").unwrap();
    let check: Vec<Text> =
        diesel::sql_query("SELECT integrity_check AS v FROM pragma_integrity_check")
            .load(&mut conn)
            .unwrap();
    assert_eq!(
        check.iter().map(|c| c.v.as_str()).collect::<Vec<_>>(),
        ["ok"]
    );
    assert_eq!(acked.len(), 100, "the stream was acknowledged");
    for i in acked {
        let n = &notices[i];
        let status: Text =
            diesel::sql_query("SELECT status AS v FROM orders WHERE mer_order_id = ?")
                .bind::<diesel::sql_types::Text, _>(&n.order)
                .get_result(&mut conn)
                .expect("order in backup");
        assert_eq!(
            status.v, "PAID",
            "{} acknowledged before the backup",
            n.notify_id
        );
        let outcome: Text = diesel::sql_query(
            "SELECT outcome AS v FROM notifications WHERE notify_id = ? AND dedup_key IS NOT NULL",
        )
        .bind::<diesel::sql_types::Text, _>(&n.notify_id)
        .get_result(&mut conn)
        .expect("journal row in backup");
        assert_eq!(outcome.v, "applied");
    }
    assert!(next > 100, "notifications kept arriving during the backup");
}

#[actix_web::test]
async fn on_sigterm_no_reconcile_pass_starts_requests_drain_and_a_last_line_says_it_stopped() {
    // Arrange: a pass every second; a request held open (its body never finished) keeps
    // the listeners draining for the whole grace.
    let dir = TestDatabase::new();
    let mut command = umsgate(dir.path());
    child_gateway_env(&mut command, &dir)
        .arg("serve")
        .env("RUST_LOG", "info,umsgate::reconcile=debug")
        .env("UMSGATE__RECONCILE__ENABLED", "true")
        .env("UMSGATE__RECONCILE__TICK", "* * * * * *")
        .env("UMSGATE__PROVIDER__TIMEOUT_MS", "1000")
        .env("UMSGATE__SHUTDOWN__GRACE", "3s");
    let mut gateway = ChildGateway::spawn(command, dir.path().join("serve.log"))
        .await
        .unwrap_or_else(|tail| panic!("the gateway did not start: {tail}"));
    crate::helpers::eventually("a first reconcile pass", || {
        let text = gateway.log_text();
        async move { text.contains("reconcile pass starting") }
    })
    .await;
    let addr = gateway.api.trim_start_matches("http://").to_owned();
    let mut held = std::net::TcpStream::connect(addr).expect("connect");
    std::io::Write::write_all(
        &mut held,
        b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"mer",
    )
    .expect("partial request");

    // Act
    let status = gateway.terminate().await;

    // Assert
    assert!(status.success(), "{status}");
    let log = gateway.log_text();
    let after = log
        .split_once("shutting down")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no shutdown line:\n{log}"));
    assert!(
        !after.contains("reconcile pass starting"),
        "a pass started after the signal:\n{after}"
    );
    let last = log.lines().last().unwrap_or_default();
    assert!(last.contains("INFO"), "{last}");
    assert!(
        last.contains("stopped: the gateway has shut down (drain took"),
        "{last}"
    );
    drop(held);
}

#[actix_web::test]
async fn on_sigterm_the_reconcile_pass_in_flight_finishes_before_the_gateway_stops() {
    // Arrange: the embedded sandbox holds every query 4 s; an order due at once; the
    // suite's backend.
    let dir = TestDatabase::new();
    let mut command = umsgate(dir.path());
    child_store_env(&mut command, &dir)
        .arg("serve")
        .env("RUST_LOG", "info,umsgate::reconcile=debug")
        .env("UMSGATE__API__BIND", "127.0.0.1:0")
        .env("UMSGATE__NOTIFY__BIND", "127.0.0.1:0")
        .env("UMSGATE__SANDBOX__BIND", "127.0.0.1:0")
        .env("UMSGATE__RECONCILE__TICK", "* * * * * *")
        .env("UMSGATE__RECONCILE__FIRST_CHECK_AFTER", "0s")
        .env("UMSGATE__SANDBOX__FAULTS__QUERY_DELAY_MS", "4000");
    let mut gateway = ChildGateway::spawn(command, dir.path().join("serve.log"))
        .await
        .unwrap_or_else(|tail| panic!("the gateway did not start: {tail}"));
    let res = awc::Client::default()
        .post(format!("{}/orders", gateway.api))
        .send_json(&json!({"merOrderId": "1017STOP0001", "amount": 100}))
        .await
        .expect("create");
    assert_eq!(res.status().as_u16(), 201);
    let passes_before = gateway
        .log_text()
        .matches("reconcile pass starting")
        .count();
    crate::helpers::eventually("a pass that picks the order up", || {
        let n = gateway
            .log_text()
            .matches("reconcile pass starting")
            .count();
        async move { n > passes_before }
    })
    .await;

    // Act: the pass is waiting for its query.
    let status = gateway.terminate().await;

    // Assert: the pass ended with its check counted, before the last line; the sandbox it
    // was querying was still there.
    assert!(status.success(), "{status}");
    let log = gateway.log_text();
    let after = log
        .split_once("shutting down")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    assert!(after.contains("reconcile pass: 1 checked"), "{log}");
    assert!(!log.contains("Connection refused"), "{log}");
    let last = log.lines().last().unwrap_or_default();
    assert!(
        last.contains("stopped: the gateway has shut down"),
        "{last}"
    );
}
