//! Notification intake (DESIGN.md §6): payment result notifications and contract notices,
//! from the bytes received to a committed journal row and, for a verified new payment
//! notification, the order's evidence applied. Owns the order of the steps (read, verify,
//! journal, apply, commit, then answer) and the outcome vocabulary of the journal and the
//! metrics. It must not decide a transition (that is `domain::order::decide`), change an
//! order except through `store::orders::apply`, decide duplicates by reading (the journal's
//! unique index does), nor log a body, a signature, a key or the contract token.
//!
//! `payment` and `contract` read and record (pure reading, then store work inside the
//! caller's transaction); `routes` is the notify listener's thin HTTP face, registered by
//! `http::notify_routes`, and the only part that uses `http` (for `read_up_to` and the
//! shared state).

pub mod contract;
pub mod payment;
pub mod routes;

use chrono::{DateTime, Utc};
use diesel::sqlite::SqliteConnection;

use crate::chinaums::form::{Form, FormError};
use crate::chinaums::notify_sign::{self, SignTypeField, VerifyError, SIGN_TYPE_FIELD};
use crate::domain::order::{Decision, IgnoreReason};
use crate::store::notifications::{self, Journaled, NewEntry};
use crate::store::StoreError;

/// The journal's `kind` of a payment result notification.
pub const KIND_PAYMENT: &str = "payment";
/// The journal's `kind` of a contract notice.
pub const KIND_CONTRACT: &str = "contract";

/// Longest `Content-Type` kept in the journal: real ones are a few dozen bytes, and the
/// header is the sender's choice, so it is bounded like everything else it sends.
const MAX_CONTENT_TYPE_CHARS: usize = 200;

/// Why a notice was refused. A small fixed set: each is a metric label
/// (`rejected_<reason>`) and the first word of the journal row's `detail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The `sign` matches no configured key (forged, tampered, or signed with another key
    /// or digest).
    BadSignature,
    /// No `sign`, or an empty one.
    Unsigned,
    /// A `signType` other than MD5 or SHA256: the protocol would verify it with MD5, but
    /// a sender that names an algorithm we do not know is not the provider.
    UnknownSignType,
    /// Not a readable notice: empty, not UTF-8, not a form or JSON object, a required
    /// field missing, an unreadable amount or `billPayment`, no status.
    Malformed,
    /// Larger than `notify.max_body_bytes`.
    TooLarge,
    /// Verified, but for another merchant than `provider.mid`.
    WrongMerchant,
    /// The contract route's path token is wrong or missing (counted, never journaled).
    BadToken,
}

impl RejectReason {
    /// Every reason.
    pub const ALL: [RejectReason; 7] = [
        RejectReason::BadSignature,
        RejectReason::Unsigned,
        RejectReason::UnknownSignType,
        RejectReason::Malformed,
        RejectReason::TooLarge,
        RejectReason::WrongMerchant,
        RejectReason::BadToken,
    ];

    /// The reason's name, as written first in the journal's `detail`.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::BadSignature => "bad_signature",
            RejectReason::Unsigned => "unsigned",
            RejectReason::UnknownSignType => "unknown_sign_type",
            RejectReason::Malformed => "malformed",
            RejectReason::TooLarge => "too_large",
            RejectReason::WrongMerchant => "wrong_merchant",
            RejectReason::BadToken => "bad_token",
        }
    }

    /// The metric outcome label.
    fn metric(self) -> &'static str {
        match self {
            RejectReason::BadSignature => "rejected_bad_signature",
            RejectReason::Unsigned => "rejected_unsigned",
            RejectReason::UnknownSignType => "rejected_unknown_sign_type",
            RejectReason::Malformed => "rejected_malformed",
            RejectReason::TooLarge => "rejected_too_large",
            RejectReason::WrongMerchant => "rejected_wrong_merchant",
            RejectReason::BadToken => "rejected_bad_token",
        }
    }
}

/// A refusal: the reason and, in words, what was wrong (field names, never values that
/// could be secret or personal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Why.
    pub reason: RejectReason,
    /// What exactly.
    pub detail: String,
}

impl Rejection {
    /// A refusal for `reason`.
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Rejection {
            reason,
            detail: detail.into(),
        }
    }

    /// The journal's `detail`: the reason's name, then the words.
    pub fn journal_detail(&self) -> String {
        format!("{}: {}", self.reason.as_str(), self.detail)
    }
}

/// What happened to one notice: the journal's `outcome` and the metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The evidence moved the order (or the contract's state was replaced).
    Applied,
    /// Consistent with the order: facts kept, status unchanged.
    Confirmed,
    /// The same notice (`notifyId`, or contract and `requestTimestamp`) was already taken.
    Duplicate,
    /// Older than what is stored: changes nothing.
    Stale,
    /// Changes nothing for another reason (unpaid and not expired, indeterminate, …).
    Ignored,
    /// Verified, but names no order the gateway holds.
    Orphan,
    /// Conflicts with the order: it is flagged for an operator, its status unchanged.
    Review,
    /// Refused; nothing but the journal row was written.
    Rejected(RejectReason),
}

impl Outcome {
    /// Every value of the journal's `outcome` column.
    pub const JOURNAL_VALUES: [&'static str; 8] = [
        "applied",
        "confirmed",
        "duplicate",
        "stale",
        "ignored",
        "orphan",
        "review",
        "rejected",
    ];

    /// The journal's `outcome` column: every refusal is `rejected` (its reason leads the
    /// `detail`), so that one filter finds them all.
    pub fn journal(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Confirmed => "confirmed",
            Outcome::Duplicate => "duplicate",
            Outcome::Stale => "stale",
            Outcome::Ignored => "ignored",
            Outcome::Orphan => "orphan",
            Outcome::Review => "review",
            Outcome::Rejected(_) => "rejected",
        }
    }

    /// The metric label: as the journal, with refusals split by reason.
    pub fn metric(self) -> &'static str {
        match self {
            Outcome::Rejected(reason) => reason.metric(),
            other => other.journal(),
        }
    }

    /// The outcome of a state-machine decision.
    pub fn of_decision(decision: &Decision) -> Outcome {
        match decision {
            Decision::Move { .. } => Outcome::Applied,
            Decision::Confirm => Outcome::Confirmed,
            Decision::Ignore(IgnoreReason::Stale) => Outcome::Stale,
            Decision::Ignore(_) => Outcome::Ignored,
            Decision::Review(_) => Outcome::Review,
        }
    }
}

/// The metric label of a notice that could not be stored (the provider is asked to resend).
pub const METRIC_STORE_ERROR: &str = "store_error";

/// A notice as it arrived, before anything was read from it.
#[derive(Clone, Debug)]
pub struct Received {
    /// When it arrived.
    pub at: DateTime<Utc>,
    /// The body exactly as received; for an oversized one, its first
    /// `notify.max_body_bytes` bytes; for one whose transfer failed, nothing.
    pub body: Vec<u8>,
    /// How reading the body ended.
    pub read: BodyRead,
    /// The `Content-Type` header, as sent (bounded).
    pub content_type: Option<String>,
    /// The peer's address (the TCP peer: a forwarding header could be forged).
    pub remote_addr: Option<String>,
}

/// How reading a notice's body ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyRead {
    /// The whole body, within the limit.
    Whole,
    /// Past `notify.max_body_bytes`: only its beginning was kept.
    TooLarge,
    /// The transfer failed before the end (the sender went away, or broke the framing).
    Failed,
}

impl Received {
    /// Bounds a received `Content-Type` for the journal.
    pub fn bounded_content_type(value: &str) -> String {
        value.chars().take(MAX_CONTENT_TYPE_CHARS).collect()
    }
}

/// How a body is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Syntax {
    Form,
    Json,
}

/// Chooses the syntax: a declared JSON or form content type is believed; without one (or
/// with any other), a body whose first non-blank byte is `{` is JSON and anything else a
/// form, since the provider sends forms and some deployments JSON (protocol.md §5).
fn syntax(body: &[u8], content_type: Option<&str>) -> Syntax {
    let essence = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|ct| ct.trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("application/x-www-form-urlencoded") => Syntax::Form,
        Some(ct) if ct == "application/json" || ct.ends_with("+json") => Syntax::Json,
        _ => match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Syntax::Json,
            _ => Syntax::Form,
        },
    }
}

/// Reads a notice body as fields, strictly (`Form::parse` / `Form::from_json`): refused
/// when empty, not UTF-8, or not a well-formed form or JSON object.
pub fn decode(body: &[u8], content_type: Option<&str>) -> Result<Form, Rejection> {
    let malformed = |detail: String| Rejection::new(RejectReason::Malformed, detail);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(malformed("the body is empty".into()));
    }
    if std::str::from_utf8(body).is_err() {
        return Err(malformed("the body is not UTF-8".into()));
    }
    let parsed = match syntax(body, content_type) {
        Syntax::Form => Form::parse(body).map_err(|e: FormError| format!("form: {e}")),
        Syntax::Json => Form::from_json(body).map_err(|e: FormError| format!("JSON: {e}")),
    };
    parsed.map_err(malformed)
}

/// The refusal of a body that was not read whole, if it was not.
fn unread(received: &Received) -> Option<Rejection> {
    let kept = received.body.len();
    match received.read {
        BodyRead::Whole => None,
        BodyRead::TooLarge => Some(Rejection::new(
            RejectReason::TooLarge,
            format!("the body is larger than {kept} bytes; its first {kept} bytes are journaled"),
        )),
        BodyRead::Failed => Some(Rejection::new(
            RejectReason::Malformed,
            "the body could not be read to its end",
        )),
    }
}

/// Checks `signType`, then the signature over every field exactly as received, against
/// every key (protocol.md §5; the compare is constant-time inside `notify_sign`).
fn verify(form: &Form, keys: &[&str]) -> Result<(), Rejection> {
    if SignTypeField::of(form.get(SIGN_TYPE_FIELD)) == SignTypeField::Other {
        return Err(Rejection::new(
            RejectReason::UnknownSignType,
            "signType is neither MD5 nor SHA256",
        ));
    }
    notify_sign::verify(form.pairs(), keys)
        .map(|_| ())
        .map_err(|e| match e {
            VerifyError::MissingSign => Rejection::new(RejectReason::Unsigned, e.to_string()),
            VerifyError::DuplicateSign | VerifyError::NoKeys | VerifyError::Mismatch => {
                Rejection::new(RejectReason::BadSignature, e.to_string())
            }
        })
}

/// Journals a row that does not compete for a `notifyId` (`first_verified_copy` unset).
fn insert_row(conn: &mut SqliteConnection, e: &NewEntry<'_>) -> Result<i64, StoreError> {
    match notifications::insert(conn, e)? {
        Journaled::Row(id) => Ok(id),
        // Only a first verified copy has a dedup key the unique index can turn away.
        Journaled::DuplicateNotifyId => Err(StoreError::corrupt(
            "notifications",
            e.notify_id.unwrap_or("-"),
            "a row without a dedup key was refused",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_content_type_is_believed_and_a_missing_one_is_sniffed() {
        let cases: [(&[u8], Option<&str>, Syntax); 7] = [
            (
                b"a=1",
                Some("application/x-www-form-urlencoded"),
                Syntax::Form,
            ),
            (
                b"{\"a\":1}",
                Some("application/x-www-form-urlencoded; charset=UTF-8"),
                Syntax::Form,
            ),
            (
                b"a=1",
                Some("Application/JSON; charset=utf-8"),
                Syntax::Json,
            ),
            (b"{}", Some("application/vnd.ums+json"), Syntax::Json),
            (b"  {\"a\":1}", None, Syntax::Json),
            (b"a=1", Some("text/plain"), Syntax::Form),
            (b"a=1", None, Syntax::Form),
        ];

        for (body, content_type, expected) in cases {
            assert_eq!(syntax(body, content_type), expected, "{content_type:?}");
        }
    }

    #[test]
    fn empty_non_utf8_and_garbage_bodies_are_malformed() {
        let cases: [(&[u8], Option<&str>, &str); 5] = [
            (b"", None, "the body is empty"),
            (b" \r\n", None, "the body is empty"),
            (b"a=\xff\xfe", None, "the body is not UTF-8"),
            (
                b"{\"a\":",
                Some("application/json"),
                "JSON: body: not valid JSON",
            ),
            (b"a=50%", None, "form: a: malformed percent escape"),
        ];

        for (body, content_type, detail) in cases {
            let refused = decode(body, content_type).unwrap_err();

            assert_eq!(refused.reason, RejectReason::Malformed);
            assert!(refused.detail.starts_with(detail), "{}", refused.detail);
        }
    }

    #[test]
    fn every_refusal_is_one_journal_outcome_and_its_own_metric_label() {
        let labels: std::collections::HashSet<_> = RejectReason::ALL
            .iter()
            .map(|r| Outcome::Rejected(*r).metric())
            .collect();

        assert_eq!(labels.len(), RejectReason::ALL.len());
        for reason in RejectReason::ALL {
            assert_eq!(Outcome::Rejected(reason).journal(), "rejected");
            assert_eq!(
                Outcome::Rejected(reason).metric(),
                format!("rejected_{}", reason.as_str())
            );
        }
        assert_eq!(Outcome::Applied.metric(), "applied");
    }

    #[test]
    fn every_outcome_is_one_of_the_listed_journal_values() {
        let all = [
            Outcome::Applied,
            Outcome::Confirmed,
            Outcome::Duplicate,
            Outcome::Stale,
            Outcome::Ignored,
            Outcome::Orphan,
            Outcome::Review,
            Outcome::Rejected(RejectReason::Malformed),
        ];

        let values: Vec<_> = all.iter().map(|o| o.journal()).collect();

        assert_eq!(values, Outcome::JOURNAL_VALUES);
    }
}
