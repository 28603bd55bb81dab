//! The sandbox's settings (`[sandbox]` in the configuration files), its fault settings and
//! the credentials it is started with. Owns their shape, defaults and validation; it must
//! not start anything, and never prints a credential.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::chinaums::notify_sign::SignType;
use crate::secret::Secret;

/// The sandbox's settings. Every field but `bind` has a default; durations are written
/// like `"30s"`, `"5m"`, `"1h 30m"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    /// Listen address (port 0 picks a free port).
    pub bind: SocketAddr,
    /// HTTP worker threads.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// How far an OPEN-BODY-SIG or token-request timestamp may be from the sandbox's clock.
    #[serde(default = "default_clock_skew", with = "humantime_serde")]
    pub clock_skew: Duration,
    /// How long an access token lives.
    #[serde(default = "default_token_ttl", with = "humantime_serde")]
    pub token_ttl: Duration,
    /// Live tokens per appId; issuing one more expires the oldest.
    #[serde(default = "default_max_tokens_per_app")]
    pub max_tokens_per_app: usize,
    /// Gaps before each delivery attempt of a payment notification: the first is the wait
    /// before the first attempt, the list's length is the number of attempts.
    #[serde(default = "default_notify_backoff", deserialize_with = "durations")]
    pub notify_backoff: Vec<Duration>,
    /// Gaps before each delivery attempt of a contract notice (at most 10 attempts).
    #[serde(default = "default_contract_backoff", deserialize_with = "durations")]
    pub contract_backoff: Vec<Duration>,
    /// The digest notifications are signed with (`SHA256` or `MD5`).
    #[serde(default = "default_notify_sign_type")]
    pub notify_sign_type: SignType,
    /// Time limit of one delivery attempt (connect, send, read the reply).
    #[serde(default = "default_notify_timeout", with = "humantime_serde")]
    pub notify_timeout: Duration,
    /// How long a query hit by the timeout fault holds its answer.
    #[serde(default = "default_query_timeout_hold", with = "humantime_serde")]
    pub query_timeout_hold: Duration,
    /// Faults in force at start (change them at run time with `POST /_sandbox/faults`).
    #[serde(default)]
    pub faults: Faults,
}

/// One worker: the sandbox is light, and one thread keeps its log easy to read.
fn default_workers() -> usize {
    1
}

/// Ten minutes: generous for an unsynchronised client clock, short enough that a captured
/// request cannot be replayed for long.
fn default_clock_skew() -> Duration {
    Duration::from_secs(600)
}

/// One hour, as the provider's tokens live (docs/protocol.md §3).
fn default_token_ttl() -> Duration {
    Duration::from_secs(3600)
}

/// Ten, the provider's cap on live tokens per appId (docs/protocol.md §3).
fn default_max_tokens_per_app() -> usize {
    10
}

/// The provider resends "within 24 hours with growing gaps" and publishes no schedule:
/// this one makes 16 attempts over about 23 hours, with a quick first few.
fn default_notify_backoff() -> Vec<Duration> {
    const SECS: [u64; 16] = [
        0, 15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 18000,
    ];
    SECS.into_iter().map(Duration::from_secs).collect()
}

/// Ten attempts with growing gaps (seed 004: "at most 10 resends, each gap longer").
fn default_contract_backoff() -> Vec<Duration> {
    const SECS: [u64; MAX_CONTRACT_ATTEMPTS] = [0, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200];
    SECS.into_iter().map(Duration::from_secs).collect()
}

/// SHA-256, what the provider's current notifications carry.
fn default_notify_sign_type() -> SignType {
    SignType::Sha256
}

/// Ten seconds per attempt: a receiver slower than that is treated as failed and resent to.
fn default_notify_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Two minutes: far beyond any sane client timeout (the gateway's default is 10 s), yet
/// bounded so that a stopped sandbox does not hang on it for long.
fn default_query_timeout_hold() -> Duration {
    Duration::from_secs(120)
}

/// The seed's limit: a contract notice is resent "at most 10 times".
pub const MAX_CONTRACT_ATTEMPTS: usize = 10;

/// Faults the sandbox injects. Rates are probabilities in 0..=1, drawn independently for
/// each notification or call. In files the names are snake_case; on the control API
/// (`/_sandbox/faults`) camelCase.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(
    default,
    deny_unknown_fields,
    rename_all(serialize = "camelCase", deserialize = "snake_case")
)]
pub struct Faults {
    /// A notification is never delivered (no attempt is made).
    pub drop_notifications: f64,
    /// A notification is delivered a second time after it was acknowledged.
    pub duplicate_notifications: f64,
    /// A notification is held back a random extra delay (up to `reorder_hold_ms`), so that
    /// notifications made after it overtake it.
    pub reorder_notifications: f64,
    /// The longest extra delay of a reordered notification, ms.
    pub reorder_hold_ms: u64,
    /// Every notification's first attempt waits this much longer, ms.
    pub notification_delay_ms: u64,
    /// A query answers `SYSTEM_BUSY` or `INTERNAL_ERROR` instead of its result.
    pub query_error_rate: f64,
    /// A query is answered only after `query_timeout_hold` (its outcome reaches no sane
    /// client).
    pub query_timeout_rate: f64,
    /// Every query is delayed this much, ms.
    pub query_delay_ms: u64,
    /// An update-qrcode or preauthed call is carried out, and then its answer is held for
    /// `query_timeout_hold` (lost to any sane client): the caller cannot know it worked
    /// and must find out by querying.
    pub answer_loss_rate: f64,
    /// Any operation (update-qrcode, mini-pre-query, preauthed) answers HTTP 200 with a
    /// body that is not JSON, and does nothing.
    pub garbage_rate: f64,
    /// How mini-pre-query treats a question about a bill (the provider's pages do not say).
    pub mini_pre_query_bills: BillLookup,
}

/// How mini-pre-query answers about a bill bound with update-qrcode. A bill and its
/// payment attempts have different ids (the attempt's is `billNo` plus a suffix); whether
/// the provider's mini-pre-query finds a bill by its number is not documented, so the
/// sandbox can play each reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BillLookup {
    /// Found by its bill number, its attempt's id or its wallet order number.
    #[default]
    FindsBill,
    /// `NO_ORDER` for the bill number; found by the payment attempt's own id (or wallet
    /// order number) once paid.
    AttemptIdOnly,
    /// Every question about a bill answers a transient error (`SYSTEM_BUSY`): only the
    /// bill query knows bills.
    Down,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            drop_notifications: 0.0,
            duplicate_notifications: 0.0,
            reorder_notifications: 0.0,
            // Three seconds: long enough for the next notification of a quick sequence
            // (pay, then refund) to overtake, short enough for a test to wait out.
            reorder_hold_ms: 3000,
            notification_delay_ms: 0,
            query_error_rate: 0.0,
            query_timeout_rate: 0.0,
            query_delay_ms: 0,
            answer_loss_rate: 0.0,
            garbage_rate: 0.0,
            mini_pre_query_bills: BillLookup::FindsBill,
        }
    }
}

/// A change to some of the faults: what `POST /_sandbox/faults` takes. Absent fields keep
/// their value.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FaultsPatch {
    /// See [`Faults::drop_notifications`].
    pub drop_notifications: Option<f64>,
    /// See [`Faults::duplicate_notifications`].
    pub duplicate_notifications: Option<f64>,
    /// See [`Faults::reorder_notifications`].
    pub reorder_notifications: Option<f64>,
    /// See [`Faults::reorder_hold_ms`].
    pub reorder_hold_ms: Option<u64>,
    /// See [`Faults::notification_delay_ms`].
    pub notification_delay_ms: Option<u64>,
    /// See [`Faults::query_error_rate`].
    pub query_error_rate: Option<f64>,
    /// See [`Faults::query_timeout_rate`].
    pub query_timeout_rate: Option<f64>,
    /// See [`Faults::query_delay_ms`].
    pub query_delay_ms: Option<u64>,
    /// See [`Faults::answer_loss_rate`].
    pub answer_loss_rate: Option<f64>,
    /// See [`Faults::garbage_rate`].
    pub garbage_rate: Option<f64>,
    /// See [`Faults::mini_pre_query_bills`].
    pub mini_pre_query_bills: Option<BillLookup>,
}

/// A setting that is well-formed but not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct InvalidSetting {
    /// The key, relative to `[sandbox]` (`faults.garbage_rate`), or as the control API
    /// spells it for a fault patch (`garbageRate`).
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

fn invalid(key: &str, reason: &str) -> InvalidSetting {
    InvalidSetting {
        key: key.to_owned(),
        reason: reason.to_owned(),
    }
}

fn check_rate(key: &str, rate: f64) -> Result<(), InvalidSetting> {
    if (0.0..=1.0).contains(&rate) {
        Ok(())
    } else {
        Err(invalid(key, "must be a rate from 0 to 1"))
    }
}

impl Faults {
    /// Checks every rate is within 0..=1; `names` picks the spelling of the offending key.
    fn check(&self, names: Names) -> Result<(), InvalidSetting> {
        let rates = [
            (names.0[0], self.drop_notifications),
            (names.0[1], self.duplicate_notifications),
            (names.0[2], self.reorder_notifications),
            (names.0[3], self.query_error_rate),
            (names.0[4], self.query_timeout_rate),
            (names.0[5], self.garbage_rate),
            (names.0[6], self.answer_loss_rate),
        ];
        rates
            .into_iter()
            .try_for_each(|(key, rate)| check_rate(key, rate))
    }

    /// These faults with `patch` applied, if every rate is within 0..=1 (else the first
    /// offending field, as the control API spells it).
    pub fn patched(&self, patch: &FaultsPatch) -> Result<Faults, InvalidSetting> {
        let mut next = self.clone();
        let set = |slot: &mut f64, value: Option<f64>| {
            if let Some(v) = value {
                *slot = v;
            }
        };
        set(&mut next.drop_notifications, patch.drop_notifications);
        set(
            &mut next.duplicate_notifications,
            patch.duplicate_notifications,
        );
        set(&mut next.reorder_notifications, patch.reorder_notifications);
        set(&mut next.query_error_rate, patch.query_error_rate);
        set(&mut next.query_timeout_rate, patch.query_timeout_rate);
        set(&mut next.garbage_rate, patch.garbage_rate);
        set(&mut next.answer_loss_rate, patch.answer_loss_rate);
        let keep = |slot: &mut u64, value: Option<u64>| {
            if let Some(v) = value {
                *slot = v;
            }
        };
        keep(&mut next.reorder_hold_ms, patch.reorder_hold_ms);
        keep(&mut next.notification_delay_ms, patch.notification_delay_ms);
        keep(&mut next.query_delay_ms, patch.query_delay_ms);
        if let Some(lookup) = patch.mini_pre_query_bills {
            next.mini_pre_query_bills = lookup;
        }
        next.check(CAMEL)?;
        Ok(next)
    }
}

/// The rate keys' spellings, in the order [`Faults::check`] reads them.
#[derive(Clone, Copy)]
struct Names([&'static str; 7]);

const SNAKE: Names = Names([
    "faults.drop_notifications",
    "faults.duplicate_notifications",
    "faults.reorder_notifications",
    "faults.query_error_rate",
    "faults.query_timeout_rate",
    "faults.garbage_rate",
    "faults.answer_loss_rate",
]);

const CAMEL: Names = Names([
    "dropNotifications",
    "duplicateNotifications",
    "reorderNotifications",
    "queryErrorRate",
    "queryTimeoutRate",
    "garbageRate",
    "answerLossRate",
]);

impl SandboxConfig {
    /// A configuration with every default, listening on `bind`.
    pub fn with_bind(bind: SocketAddr) -> Self {
        SandboxConfig {
            bind,
            workers: default_workers(),
            clock_skew: default_clock_skew(),
            token_ttl: default_token_ttl(),
            max_tokens_per_app: default_max_tokens_per_app(),
            notify_backoff: default_notify_backoff(),
            contract_backoff: default_contract_backoff(),
            notify_sign_type: default_notify_sign_type(),
            notify_timeout: default_notify_timeout(),
            query_timeout_hold: default_query_timeout_hold(),
            faults: Faults::default(),
        }
    }

    /// Checks what deserialisation cannot; the error names the key relative to `[sandbox]`.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let positive = [
            ("workers", self.workers > 0),
            ("max_tokens_per_app", self.max_tokens_per_app > 0),
            ("token_ttl", !self.token_ttl.is_zero()),
            ("notify_timeout", !self.notify_timeout.is_zero()),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, ok)| !ok) {
            return Err(invalid(key, "must be greater than 0"));
        }
        if self.notify_backoff.is_empty() {
            return Err(invalid("notify_backoff", "needs at least one attempt"));
        }
        if !(1..=MAX_CONTRACT_ATTEMPTS).contains(&self.contract_backoff.len()) {
            return Err(invalid(
                "contract_backoff",
                "needs 1 to 10 attempts (the provider resends at most 10 times)",
            ));
        }
        self.faults.check(SNAKE)
    }
}

/// A list of humantime durations (`humantime_serde` reads single values only).
fn durations<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    let list = Vec::<humantime_serde::Serde<Duration>>::deserialize(d)?;
    Ok(list
        .into_iter()
        .map(humantime_serde::Serde::into_inner)
        .collect())
}

/// The merchant the sandbox plays the provider for. In sandbox mode the gateway passes
/// its own provider credentials and its first notification key. `Debug` hides the keys.
#[derive(Clone, Debug)]
pub struct SandboxCredentials {
    /// The only appId the sandbox knows.
    pub app_id: String,
    /// That app's appKey (signs OPEN-BODY-SIG and token requests).
    pub app_key: Secret,
    /// The notification key (通讯密钥) notifications are signed with.
    pub notify_key: Secret,
    /// The merchant number (`mid`, `mchntNo`).
    pub mid: String,
    /// The terminal number (`tid`, `termNo`).
    pub tid: String,
    /// The source id every order id starts with.
    pub msg_src_id: String,
}

impl SandboxCredentials {
    /// The provider's published test credentials (docs/protocol.md §8).
    pub fn public_test() -> Self {
        SandboxCredentials {
            app_id: "10037e6f6823b20801682b6a5e5a0006".into(),
            app_key: Secret::new("1c4e3b16066244ae9b236a09e5b312e8"),
            notify_key: Secret::new("impARTxrQcfwmRijpDNCw6hPxaWCddKEpYxjaKXDhCaTCXJ6"),
            mid: "898340149000005".into(),
            tid: "88880001".into(),
            msg_src_id: "1017".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mini_pre_query_bill_setting_reads_from_a_file_and_from_a_patch() {
        let config = parse(serde_json::json!({
            "bind": "127.0.0.1:0", "faults": {"mini_pre_query_bills": "attempt-id-only"}
        }))
        .unwrap();
        let patch: FaultsPatch = serde_json::from_str(r#"{"miniPreQueryBills":"down"}"#).unwrap();

        assert_eq!(
            config.faults.mini_pre_query_bills,
            BillLookup::AttemptIdOnly
        );
        let patched = config.faults.patched(&patch).unwrap();
        assert_eq!(patched.mini_pre_query_bills, BillLookup::Down);
        assert_eq!(
            serde_json::to_value(&patched).unwrap()["miniPreQueryBills"],
            "down"
        );
        assert!(serde_json::from_str::<FaultsPatch>(r#"{"miniPreQueryBills":"maybe"}"#).is_err());
    }

    #[test]
    fn the_default_notification_schedule_ends_within_the_providers_24_hours() {
        let total: Duration = default_notify_backoff().iter().sum();
        assert_eq!(default_notify_backoff().len(), 16);
        assert!(total < Duration::from_secs(24 * 3600), "{total:?}");
        assert!(total > Duration::from_secs(22 * 3600), "{total:?}");
    }

    fn parse(json: serde_json::Value) -> Result<SandboxConfig, String> {
        serde_json::from_value(json).map_err(|e| e.to_string())
    }

    #[test]
    fn only_bind_is_required_and_the_defaults_are_valid() {
        let config = parse(serde_json::json!({"bind": "127.0.0.1:0"})).unwrap();

        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.clock_skew, Duration::from_secs(600));
        assert_eq!(config.max_tokens_per_app, 10);
        assert_eq!(config.notify_backoff.len(), 16);
        assert_eq!(config.contract_backoff.len(), 10);
        assert_eq!(config.notify_sign_type, SignType::Sha256);
        assert_eq!(config.faults, Faults::default());
    }

    #[test]
    fn durations_and_lists_read_humantime_and_unknown_keys_are_refused() {
        let config = parse(serde_json::json!({
            "bind": "127.0.0.1:0", "token_ttl": "2m", "notify_backoff": ["0s", "50ms"],
            "notify_sign_type": "md5", "faults": {"drop_notifications": 0.5}
        }))
        .unwrap();
        let unknown = parse(serde_json::json!({"bind": "127.0.0.1:0", "tokens": 3}));
        let unknown_fault =
            parse(serde_json::json!({"bind": "127.0.0.1:0", "faults": {"drop": 1.0}}));

        assert_eq!(config.token_ttl, Duration::from_secs(120));
        assert_eq!(
            config.notify_backoff,
            [Duration::ZERO, Duration::from_millis(50)]
        );
        assert_eq!(config.notify_sign_type, SignType::Md5);
        assert_eq!(config.faults.drop_notifications, 0.5);
        assert!(unknown.unwrap_err().contains("tokens"));
        assert!(unknown_fault.unwrap_err().contains("drop"));
    }

    #[test]
    fn invalid_values_are_refused_naming_their_key() {
        let base = SandboxConfig::with_bind("127.0.0.1:0".parse().unwrap());
        let mut rate = base.clone();
        rate.faults.query_error_rate = 1.5;
        let mut nan = base.clone();
        nan.faults.garbage_rate = f64::NAN;
        let mut contract = base.clone();
        contract.contract_backoff = vec![Duration::ZERO; 11];
        let mut backoff = base.clone();
        backoff.notify_backoff.clear();
        let mut tokens = base;
        tokens.max_tokens_per_app = 0;

        let key = |c: SandboxConfig| c.validate().unwrap_err().key;

        assert_eq!(key(rate), "faults.query_error_rate");
        assert_eq!(key(nan), "faults.garbage_rate");
        assert_eq!(key(contract), "contract_backoff");
        assert_eq!(key(backoff), "notify_backoff");
        assert_eq!(key(tokens), "max_tokens_per_app");
    }

    #[test]
    fn a_patch_changes_only_the_given_faults_and_names_a_bad_rate_in_camel_case() {
        let faults = Faults {
            query_delay_ms: 7,
            ..Faults::default()
        };
        let patch: FaultsPatch =
            serde_json::from_str(r#"{"dropNotifications":1.0,"garbageRate":0.25}"#).unwrap();
        let bad: FaultsPatch = serde_json::from_str(r#"{"queryTimeoutRate":-0.1}"#).unwrap();

        let patched = faults.patched(&patch).unwrap();

        assert_eq!(patched.drop_notifications, 1.0);
        assert_eq!(patched.garbage_rate, 0.25);
        assert_eq!(patched.query_delay_ms, 7);
        assert_eq!(faults.patched(&bad).unwrap_err().key, "queryTimeoutRate");
        assert_eq!(patched.mini_pre_query_bills, BillLookup::FindsBill);
        assert!(serde_json::from_str::<FaultsPatch>(r#"{"drop":1}"#).is_err());
    }

    #[test]
    fn credentials_never_print_their_keys() {
        let creds = SandboxCredentials::public_test();

        let printed = format!("{creds:?}");

        assert!(!printed.contains(creds.app_key.expose()), "{printed}");
        assert!(!printed.contains(creds.notify_key.expose()), "{printed}");
        assert!(printed.contains(&creds.app_id));
    }
}
