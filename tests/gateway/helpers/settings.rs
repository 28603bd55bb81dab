//! The settings every test app starts from: the shipped defaults with ports 0, a database
//! of its own, quick sandbox resends, and the tokens and keys tests sign with. It must not
//! start anything.

use std::path::Path;

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde_json::{json, Value};
use umsgate::config::{Environment, Settings};

use super::database::TestDatabase;

/// The admin token the test apps are configured with.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
/// The token of `alice`, a named operator (role `operator`) of every test app.
pub const OPERATOR_TOKEN: &str = "test-alice-token-0123456789";
/// The token of `victor`, a named operator with role `viewer` (reads, cannot act).
pub const VIEWER_TOKEN: &str = "test-victor-token-0123456789";
/// The notification key of `config/default.toml` (the provider's published test key).
pub const NOTIFY_KEY: &str = "impARTxrQcfwmRijpDNCw6hPxaWCddKEpYxjaKXDhCaTCXJ6";
/// The contract notice path token of `config/default.toml`.
pub const CONTRACT_TOKEN: &str = "sandbox-contract-token-change-me";

/// Settings for tests: the shipped defaults, ports 0, the database `db` (its SQLite file,
/// or its PostgreSQL URL), one worker per listener, an admin token, then `overrides` (a
/// JSON object shaped like the TOML).
pub fn test_settings(db: &TestDatabase, overrides: Value) -> Settings {
    let dir = db.path();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
    let base = json!({
        "api": {"bind": "127.0.0.1:0", "workers": 1},
        "notify": {"bind": "127.0.0.1:0", "workers": 1, "public_url": "http://127.0.0.1:0"},
        // The embedded sandbox resends notifications within milliseconds, not minutes.
        "sandbox": {
            "bind": "127.0.0.1:0",
            "notify_backoff": ["0s", "50ms", "100ms", "200ms", "400ms"],
            "contract_backoff": ["0s", "50ms", "100ms", "200ms", "400ms"],
        },
        "store": match db.url() {
            Some(url) => json!({"path": dir.join("gateway.db"), "url": url}),
            None => json!({"path": dir.join("gateway.db")}),
        },
        "admin": {
            "token": ADMIN_TOKEN,
            "tokens": [
                {"name": "alice", "token": OPERATOR_TOKEN, "role": "operator"},
                {"name": "victor", "token": VIEWER_TOKEN, "role": "viewer"},
            ],
        },
        "reconcile": {"enabled": false},
    });
    let figment = Figment::new()
        .merge(Toml::file_exact(config))
        .merge(Serialized::defaults(base))
        .merge(Serialized::defaults(overrides));
    Settings::from_figment(figment, Environment::Sandbox).expect("test settings are valid")
}
