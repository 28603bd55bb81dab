//! Notification intake (docs/architecture.md §6): payment result notifications and contract notices,
//! from the bytes received to a committed journal row and, for a verified new payment
//! notification, the order's evidence applied. Owns the order of the steps (read, verify,
//! journal, apply, commit, then answer) and the outcome vocabulary of the journal and the
//! metrics. It must not decide a transition (that is `domain::order::decide`), change an
//! order except through `store::orders::apply`, decide duplicates by reading (the journal's
//! unique index does), nor log a body, a signature, a key or the contract token.
//!
//! `payment` and `contract` read and record (pure reading, then store work inside the
//! caller's transaction); the use case `flows::intake` runs them, and `http::notify` is the
//! notify listener's thin HTTP face.

pub mod contract;
pub mod payment;
pub mod refused;
pub mod resplit;

use crate::store::Connection;
use chrono::{DateTime, Utc};

use crate::chinaums::form::{Form, FormError};
use crate::chinaums::notify_sign::{self, SignTypeField, VerifyError, SIGN_TYPE_FIELD};
use crate::domain::order::{Decision, IgnoreReason};
use crate::store::notifications::{self, Journaled, NewEntry};
use crate::store::StoreError;

/// The journal's `kind` of a payment result notification.
pub const KIND_PAYMENT: &str = "payment";
/// The journal's `kind` of a contract notice.
pub const KIND_CONTRACT: &str = "contract";
/// Every journal `kind`, and the metric's.
pub const KINDS: [&str; 2] = [KIND_PAYMENT, KIND_CONTRACT];

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
    /// field missing, fields that could have been re-split under the same signature
    /// (`resplit`), a contract notice without `mid` or with an unknown state.
    Malformed,
    /// Larger than `notify.max_body_bytes`.
    TooLarge,
    /// The contract route's path token is wrong or missing (counted, never journaled).
    BadToken,
}

impl RejectReason {
    /// Every reason.
    pub const ALL: [RejectReason; 6] = [
        RejectReason::BadSignature,
        RejectReason::Unsigned,
        RejectReason::UnknownSignType,
        RejectReason::Malformed,
        RejectReason::TooLarge,
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
    /// Verified, but it cannot be applied (no `mid` or `tid`, a status outside its
    /// vocabulary, an `instMid` neither documented nor the order's, a required amount
    /// unreadable, no status): kept, its `notifyId` taken, its order flagged for review and
    /// queried at once; answered `SUCCESS` (resends cannot help).
    Unapplied,
    /// Verified, but for another merchant than `provider.mid` (or, a payment, another
    /// terminal than `provider.tid`): kept in the misrouted queue (`outcome=misrouted`) for
    /// an operator, its `notifyId` taken, applied to nothing; answered `SUCCESS` so that the
    /// provider stops resending.
    Misrouted,
    /// Refused; nothing but the journal row was written.
    Rejected(RejectReason),
}

impl Outcome {
    /// Every outcome, each refusal reason its own.
    pub const ALL: [Outcome; 15] = [
        Outcome::Applied,
        Outcome::Confirmed,
        Outcome::Duplicate,
        Outcome::Stale,
        Outcome::Ignored,
        Outcome::Orphan,
        Outcome::Review,
        Outcome::Unapplied,
        Outcome::Misrouted,
        Outcome::Rejected(RejectReason::BadSignature),
        Outcome::Rejected(RejectReason::Unsigned),
        Outcome::Rejected(RejectReason::UnknownSignType),
        Outcome::Rejected(RejectReason::Malformed),
        Outcome::Rejected(RejectReason::TooLarge),
        Outcome::Rejected(RejectReason::BadToken),
    ];

    /// Every value of the journal's `outcome` column.
    pub const JOURNAL_VALUES: [&'static str; 10] = [
        "applied",
        "confirmed",
        "duplicate",
        "stale",
        "ignored",
        "orphan",
        "review",
        "unapplied",
        "misrouted",
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
            Outcome::Unapplied => "unapplied",
            Outcome::Misrouted => "misrouted",
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

/// Every metric outcome label a stored or refused notice can have: each [`Outcome`]'s,
/// then [`METRIC_STORE_ERROR`]. (`flows` counts two more of its own, `over_budget` and
/// `body_timeout`, from their first event.)
pub fn metric_labels() -> Vec<&'static str> {
    Outcome::ALL
        .iter()
        .map(|o| o.metric())
        .chain([METRIC_STORE_ERROR])
        .collect()
}

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
    /// The HTTP request's id (`X-Request-Id`, or generated).
    pub request_id: Option<String>,
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
/// form, since the provider sends forms and some deployments JSON (docs/protocol.md §5).
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
        BodyRead::TooLarge if kept == 0 => Some(Rejection::new(
            RejectReason::TooLarge,
            "the declared Content-Length is over notify.max_body_bytes; nothing was read",
        )),
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
/// every key (docs/protocol.md §5; the compare is constant-time inside `notify_sign`).
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

/// A refused notice: why, whether its signature had verified first, and what it claims
/// (kept on its journal row; unverified unless `verified`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// Why.
    pub rejection: Rejection,
    /// Whether the signature had verified before the notice was refused.
    pub verified: bool,
    /// The `notifyId` it claims.
    pub notify_id: Option<String>,
    /// The order (`billNo`, else `merOrderId`) or contract (`contractNo`) it claims.
    pub subject: Option<String>,
}

impl Refused {
    /// A refusal of a notice read as `form` (if it was readable), claiming the first
    /// non-empty field of `subject_fields`.
    fn new(
        rejection: Rejection,
        verified: bool,
        form: Option<&Form>,
        subject_fields: &[&str],
    ) -> Self {
        let claim = |name: &str| {
            form.and_then(|f| f.get(name))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Refused {
            rejection,
            verified,
            notify_id: claim("notifyId"),
            subject: subject_fields.iter().find_map(|f| claim(f)),
        }
    }
}

/// Whether a notice's signature must verify: always for payment notifications; for a
/// contract notice only when it carries one (docs/protocol.md §6, assumed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signature {
    Required,
    IfPresent,
}

/// The front both examinations share: the body read whole, its syntax, then its
/// signature. Returns the fields and whether they were signed (and so verified); a refusal
/// claims the first of `subject_fields`.
fn verified_form(
    received: &Received,
    keys: &[&str],
    signature: Signature,
    subject_fields: &[&str],
) -> Result<(Form, bool), Refused> {
    if let Some(rejection) = unread(received) {
        return Err(Refused::new(rejection, false, None, subject_fields));
    }
    let form = decode(&received.body, received.content_type.as_deref())
        .map_err(|rejection| Refused::new(rejection, false, None, subject_fields))?;
    let signed = form
        .get(notify_sign::SIGN_FIELD)
        .is_some_and(|s| !s.is_empty());
    if signed || signature == Signature::Required {
        if let Err(rejection) = verify(&form, keys) {
            return Err(Refused::new(rejection, false, Some(&form), subject_fields));
        }
    }
    Ok((form, signed))
}

/// The journal row every copy of a `kind` notice starts from: as received, nothing
/// concluded.
fn entry<'a>(received: &'a Received, kind: &'static str) -> NewEntry<'a> {
    NewEntry {
        received_at: received.at,
        kind,
        notify_id: None,
        first_verified_copy: false,
        order_ref: None,
        raw_body: &received.body,
        content_type: received.content_type.as_deref(),
        remote_addr: received.remote_addr.as_deref(),
        verified: false,
        outcome: "",
        detail: None,
        request_id: received.request_id.as_deref(),
    }
}

/// Journals a refused `kind` notice; nothing else is written. Returns its outcome and row.
fn journal_refusal(
    conn: &mut Connection,
    received: &Received,
    kind: &'static str,
    refused: &Refused,
) -> Result<(Outcome, i64), StoreError> {
    let outcome = Outcome::Rejected(refused.rejection.reason);
    let mut detail = refused.rejection.journal_detail();
    // Anyone can send an unverified payment notice: only its digest, size and first bytes
    // are kept (`refused`). A verified one is the provider's, and a contract notice came
    // on the secret path: both are kept whole.
    let raw_body = if kind == KIND_PAYMENT && !refused.verified {
        let (kept, words) = refused::excerpt(&received.body);
        if !received.body.is_empty() {
            detail = format!("{detail} ({words})");
        }
        kept
    } else {
        received.body.as_slice()
    };
    let journal_id = insert_row(
        conn,
        &NewEntry {
            raw_body,
            notify_id: refused.notify_id.as_deref(),
            order_ref: refused.subject.as_deref(),
            verified: refused.verified,
            outcome: outcome.journal(),
            detail: Some(&detail),
            ..entry(received, kind)
        },
    )?;
    Ok((outcome, journal_id))
}

/// What [`reserve`] journaled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reserved {
    /// The first verified copy of its key: this row holds it.
    First(i64),
    /// An earlier verified copy holds the key: this row is a duplicate that changes nothing.
    Duplicate(i64),
}

/// Journals a verified notice as the first copy of its key (`row.notify_id`): the
/// journal's unique index decides. When an earlier copy holds the key, the notice is
/// journaled as a duplicate instead, with `duplicate` as its detail.
fn reserve(
    conn: &mut Connection,
    row: &NewEntry<'_>,
    duplicate: &str,
) -> Result<Reserved, StoreError> {
    let first = NewEntry {
        first_verified_copy: true,
        ..row.clone()
    };
    match notifications::insert(conn, &first)? {
        Journaled::Row(id) => Ok(Reserved::First(id)),
        Journaled::DuplicateNotifyId => insert_row(
            conn,
            &NewEntry {
                first_verified_copy: false,
                outcome: Outcome::Duplicate.journal(),
                detail: Some(duplicate),
                ..row.clone()
            },
        )
        .map(Reserved::Duplicate),
    }
}

/// Journals a row that does not compete for a `notifyId` (`first_verified_copy` unset).
fn insert_row(conn: &mut Connection, e: &NewEntry<'_>) -> Result<i64, StoreError> {
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
pub(crate) mod testing {
    //! Notices as the provider sends them, for the intake's unit tests.
    use super::*;
    use crate::chinaums::form::Form;
    use crate::chinaums::notify_sign::{self, SignType};

    /// The notification key of docs/protocol.md's examples.
    pub const KEY: &str = "impARTxrQcfwmRijpDNCw6hPxaWCddKEpYxjaKXDhCaTCXJ6";
    /// The test merchant.
    pub const MID: &str = "898340149000005";
    /// The test merchant's terminal.
    pub const TID: &str = "88880001";

    /// `pairs`, form-encoded and read whole.
    pub fn received(pairs: &[(String, String)]) -> Received {
        Received {
            at: crate::clock::Clock::system().now(),
            body: Form::encode(pairs).into_bytes(),
            read: BodyRead::Whole,
            content_type: Some("application/x-www-form-urlencoded".into()),
            remote_addr: None,
            request_id: None,
        }
    }

    /// `pairs` with a `sign` by `key` appended.
    pub fn signed(
        pairs: Vec<(String, String)>,
        key: &str,
        sign_type: SignType,
    ) -> Vec<(String, String)> {
        notify_sign::with_sign(&pairs, key, sign_type)
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
        let mut values: Vec<_> = Outcome::ALL.iter().map(|o| o.journal()).collect();
        values.dedup();

        assert_eq!(values, Outcome::JOURNAL_VALUES);
    }

    #[test]
    fn all_holds_every_outcome_and_every_refusal_once() {
        // A new variant fails to compile here until it is listed: add it to `ALL` as well.
        for outcome in Outcome::ALL {
            match outcome {
                Outcome::Applied
                | Outcome::Confirmed
                | Outcome::Duplicate
                | Outcome::Stale
                | Outcome::Ignored
                | Outcome::Orphan
                | Outcome::Review
                | Outcome::Unapplied
                | Outcome::Misrouted => {}
                Outcome::Rejected(
                    RejectReason::BadSignature
                    | RejectReason::Unsigned
                    | RejectReason::UnknownSignType
                    | RejectReason::Malformed
                    | RejectReason::TooLarge
                    | RejectReason::BadToken,
                ) => {}
            }
        }
        let labels: std::collections::HashSet<_> = metric_labels().into_iter().collect();

        assert_eq!(
            Outcome::JOURNAL_VALUES.len() - 1 + RejectReason::ALL.len(),
            Outcome::ALL.len()
        );
        assert_eq!(labels.len(), Outcome::ALL.len() + 1);
        for reason in RejectReason::ALL {
            assert!(Outcome::ALL.contains(&Outcome::Rejected(reason)));
        }
    }

    /// Notices built from arbitrary bytes and arbitrary field sets, correctly signed or
    /// not, examined and then recorded end to end on a real store (each case in a
    /// transaction that is rolled back): nothing panics, a verified notice is never a
    /// store error, and what is accepted is what the journal can key on.
    mod arbitrary {
        use crate::store::Connection;
        use chrono::Duration as Gap;
        use diesel::Connection as _;
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestCaseError, TestRunner};

        use super::super::{contract, payment, BodyRead, Received};
        use crate::chinaums::form::Form;
        use crate::chinaums::notify_sign::{self, SignType};
        use crate::domain::ids::MerOrderId;
        use crate::domain::money::Amount;
        use crate::domain::record::{NewOrder, Order};
        use crate::store::orders;
        use crate::store::testing::temp_db;

        const KEY: &str = "impARTxrQcfwmRijpDNCw6hPxaWCddKEpYxjaKXDhCaTCXJ6";
        const MID: &str = "898340149000005";
        const TID: &str = "88880001";
        /// A plain order, a pre-authorised one, and one long past its expiry.
        const ORDERS: [&str; 3] = ["1017PROP000001", "1017PROP000002", "1017PROP000003"];

        fn any_content_type() -> impl Strategy<Value = Option<String>> {
            prop_oneof![
                Just(None),
                Just(Some("application/x-www-form-urlencoded".to_owned())),
                Just(Some("application/json; charset=utf-8".to_owned())),
                Just(Some("text/plain".to_owned())),
                "\\PC{0,40}".prop_map(Some),
            ]
        }

        fn any_read() -> impl Strategy<Value = BodyRead> {
            prop_oneof![
                8 => Just(BodyRead::Whole),
                1 => Just(BodyRead::TooLarge),
                1 => Just(BodyRead::Failed),
            ]
        }

        fn field_name() -> impl Strategy<Value = String> {
            prop_oneof![
                4 => prop::sample::select(vec![
                    "notifyId", "billNo", "billStatus", "status", "totalAmount",
                    "refundAmount", "mid", "billPayment", "merOrderId", "authIdRespCd",
                    "seqId", "signType", "payTime", "settleDate", "targetOrderId",
                    "targetSys", "requestTimestamp", "contractNo", "contractState",
                    "contractId", "avlNum", "sign",
                ])
                .prop_map(str::to_owned),
                1 => "[A-Za-z][A-Za-z0-9]{0,8}",
            ]
        }

        fn field_value() -> impl Strategy<Value = String> {
            let words = prop::sample::select(vec![
                "PAID",
                "UNPAID",
                "REFUND",
                "CLOSED",
                "UNKNOWN",
                "TRADE_SUCCESS",
                "TRADE_CLOSED",
                "TRADE_REFUND",
                "WAIT_BUYER_PAY",
                "NEW_ORDER",
                "MD5",
                "SHA256",
                "sha256",
                "RSA",
                "SIGNED",
                "RESCISSION",
                "UNSIGNED",
                MID,
                "898340149000006",
                "2026-11-21 12:00:00",
                "2026-13-40 99:99:99",
                "n-1",
                "1017CONTRACT0001",
                "100",
                "0",
                "-1",
                "1.5",
            ])
            .prop_map(str::to_owned);
            prop_oneof![
                3 => words,
                2 => prop::sample::select(ORDERS.to_vec()).prop_map(str::to_owned),
                2 => any::<i64>().prop_map(|n| n.to_string()),
                1 => "[0-9]{19,30}",
                2 => bill_payment(),
                2 => "\\PC{0,16}",
            ]
        }

        /// `billPayment`: a JSON object of the payment's fields with arbitrary values, or
        /// text that is almost one.
        fn bill_payment() -> impl Strategy<Value = String> {
            let member = (
                prop::sample::select(vec![
                    "merOrderId",
                    "status",
                    "totalAmount",
                    "payTime",
                    "paySeqId",
                    "targetSys",
                    "buyerPayAmount",
                ]),
                prop_oneof![
                    prop::sample::select(ORDERS.to_vec())
                        .prop_map(|o| serde_json::Value::from(o.to_owned())),
                    any::<i64>().prop_map(serde_json::Value::from),
                    any::<f64>().prop_map(serde_json::Value::from),
                    "\\PC{0,10}".prop_map(serde_json::Value::from),
                    Just(serde_json::Value::Null),
                    Just(serde_json::json!({"nested": [1, {"deeper": null}]})),
                ],
            );
            prop_oneof![
                proptest::collection::vec(member, 0..6).prop_map(|members| {
                    let object: serde_json::Map<String, serde_json::Value> = members
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect();
                    serde_json::Value::Object(object).to_string()
                }),
                "\\{\\PC{0,20}",
            ]
        }

        /// A value, or nothing (the field is left out) one time in `1 + weight`.
        fn mostly(
            value: impl Strategy<Value = String> + 'static,
            weight: u32,
        ) -> BoxedStrategy<Option<String>> {
            prop_oneof![weight => value.prop_map(Some), 1 => Just(None)].boxed()
        }

        fn one_of(words: &[&'static str]) -> impl Strategy<Value = String> {
            prop::sample::select(words.to_vec()).prop_map(str::to_owned)
        }

        fn amount() -> impl Strategy<Value = String> {
            prop_oneof![
                4 => one_of(&["100", "99", "1", "0"]),
                1 => field_value(),
            ]
        }

        /// The fields of a payment notification, each drawn mostly from what the provider
        /// sends (few notifyIds, so that copies collide) and sometimes anything at all.
        fn payment_fields() -> impl Strategy<Value = Vec<(String, Option<String>)>> {
            let order = || prop_oneof![4 => one_of(&ORDERS), 1 => field_value()];
            (
                mostly(
                    prop_oneof![4 => one_of(&["n-1", "n-2", "n-3"]), 1 => field_value()],
                    12,
                ),
                mostly(order(), 3),
                mostly(order(), 2),
                mostly(
                    one_of(&["PAID", "UNPAID", "REFUND", "CLOSED", "UNKNOWN"]),
                    3,
                ),
                mostly(
                    one_of(&[
                        "TRADE_SUCCESS",
                        "TRADE_CLOSED",
                        "TRADE_REFUND",
                        "WAIT_BUYER_PAY",
                    ]),
                    1,
                ),
                (mostly(amount(), 4), mostly(amount(), 1)),
                (
                    mostly(
                        prop_oneof![4 => Just(MID.to_owned()), 1 => field_value()],
                        4,
                    ),
                    mostly(bill_payment(), 1),
                    mostly(one_of(&["384822", ""]), 1),
                    mostly(
                        prop_oneof![4 => Just(TID.to_owned()), 1 => field_value()],
                        4,
                    ),
                ),
            )
                .prop_map(
                    |(
                        id,
                        bill,
                        mer,
                        bill_status,
                        status,
                        (total, refund),
                        (mid, pay, auth, tid),
                    )| {
                        vec![
                            ("notifyId".into(), id),
                            ("billNo".into(), bill),
                            ("merOrderId".into(), mer),
                            ("billStatus".into(), bill_status),
                            ("status".into(), status),
                            ("totalAmount".into(), total),
                            ("refundAmount".into(), refund),
                            ("mid".into(), mid),
                            ("tid".into(), tid),
                            ("billPayment".into(), pay),
                            ("authIdRespCd".into(), auth),
                        ]
                    },
                )
        }

        /// The fields of a contract notice, the same way.
        fn contract_fields() -> impl Strategy<Value = Vec<(String, Option<String>)>> {
            (
                mostly(
                    prop_oneof![
                        4 => one_of(&["2026-11-21 12:00:00", "2026-11-21 11:00:00"]),
                        1 => field_value(),
                    ],
                    8,
                ),
                mostly(
                    one_of(&["1017CONTRACT0001", "1017CONTRACT0002", "short"]),
                    8,
                ),
                mostly(
                    prop_oneof![
                        4 => one_of(&["SIGNED", "RESCISSION", "UNSIGNED", "DELETING_CONTRACT"]),
                        1 => field_value(),
                    ],
                    8,
                ),
                mostly(
                    prop_oneof![4 => Just(MID.to_owned()), 1 => field_value()],
                    2,
                ),
            )
                .prop_map(|(ts, no, state, mid)| {
                    vec![
                        ("requestTimestamp".into(), ts),
                        ("contractNo".into(), no),
                        ("contractState".into(), state),
                        ("mid".into(), mid),
                    ]
                })
        }

        /// `base` plus arbitrary extra fields, signed with the digest its own `signType`
        /// selects (so that it verifies unless it names an unknown algorithm), or left as
        /// it is.
        fn notice_fields(
            base: impl Strategy<Value = Vec<(String, Option<String>)>>,
            signed: f64,
        ) -> impl Strategy<Value = Vec<(String, String)>> {
            (
                base,
                proptest::collection::btree_map(field_name(), field_value(), 0..4),
                prop::bool::weighted(signed),
            )
                .prop_map(|(base, extra, sign)| {
                    let mut pairs: Vec<(String, String)> = base
                        .into_iter()
                        .filter_map(|(n, v)| v.map(|v| (n, v)))
                        .collect();
                    for (name, value) in extra {
                        if pairs.iter().all(|(n, _)| *n != name) && (!sign || name != "sign") {
                            pairs.push((name, value));
                        }
                    }
                    if sign {
                        let sign_type = SignType::from_field(
                            pairs
                                .iter()
                                .find(|(n, _)| n == "signType")
                                .map(|(_, v)| v.as_str()),
                        );
                        pairs.push(("Qx".into(), "AbCd".into()));
                        pairs = notify_sign::with_sign(&pairs, KEY, sign_type);
                    }
                    pairs
                })
        }

        /// The fields as a body: a form, or a JSON object of strings.
        fn encoded(pairs: &[(String, String)], json: bool) -> Vec<u8> {
            if json {
                let object: serde_json::Map<String, serde_json::Value> = pairs
                    .iter()
                    .map(|(n, v)| (n.clone(), v.clone().into()))
                    .collect();
                serde_json::Value::Object(object).to_string().into_bytes()
            } else {
                Form::encode(pairs).into_bytes()
            }
        }

        /// Arbitrary bytes, or a notice built from `fields`, as a form or as JSON, under
        /// any content type.
        fn any_notice(
            fields: impl Strategy<Value = Vec<(String, String)>>,
        ) -> impl Strategy<Value = Received> {
            prop_oneof![
                1 => (
                    proptest::collection::vec(any::<u8>(), 0..512),
                    any_content_type(),
                    any_read()
                )
                    .prop_map(|(body, content_type, read)| received(body, content_type, read)),
                6 => (
                    fields,
                    any::<bool>(),
                    prop_oneof![3 => Just(None), 1 => any_content_type()]
                )
                    .prop_map(
                    |(pairs, json, content_type)| {
                        received(encoded(&pairs, json), content_type, BodyRead::Whole)
                    }
                ),
            ]
        }

        fn received(body: Vec<u8>, content_type: Option<String>, read: BodyRead) -> Received {
            Received {
                at: crate::clock::Clock::system().now(),
                body,
                read,
                content_type,
                remote_addr: Some("127.0.0.1:1".into()),
                request_id: None,
            }
        }

        /// Runs `f` in a transaction that is always rolled back.
        fn rolled_back<T>(conn: &mut Connection, f: impl FnOnce(&mut Connection) -> T) -> T {
            let mut out = None;
            let _ = conn.transaction::<(), diesel::result::Error, _>(|c| {
                out = Some(f(c));
                Err(diesel::result::Error::RollbackTransaction)
            });
            out.expect("the transaction ran")
        }

        fn runner() -> TestRunner {
            TestRunner::new(Config {
                failure_persistence: None,
                ..Config::default()
            })
        }

        #[test]
        fn any_sequence_of_arbitrary_payment_notices_is_examined_and_recorded_without_fault() {
            let (db, _dir) = temp_db();
            let mut conn = db.conn().unwrap();
            let now = crate::clock::Clock::system().now();
            for (i, id) in ORDERS.iter().enumerate() {
                let expire_at = if i == 2 {
                    now - Gap::days(1)
                } else {
                    now + Gap::hours(1)
                };
                let new = NewOrder {
                    id: MerOrderId::parse_stored(id).unwrap(),
                    mid: MID.into(),
                    tid: "88880001".into(),
                    inst_mid: "QRPAYDEFAULT".into(),
                    qr_code_id: None,
                    amount: Amount::from_fen(100).unwrap(),
                    description: None,
                    preauth: i == 1,
                    expire_at,
                    request_digest: "prop".into(),
                };
                orders::create(&mut conn, &Order::create(new, now, now)).unwrap();
            }
            let keys = ["old-key", KEY];
            let conn = std::cell::RefCell::new(conn);

            let notices = any_notice(notice_fields(payment_fields(), 0.9));

            let result = runner().run(&proptest::collection::vec(notices, 1..6), |notices| {
                rolled_back(&mut conn.borrow_mut(), |c| {
                    for notice in &notices {
                        let verdict = payment::examine(notice, &keys, MID, TID);
                        if let payment::Verdict::Accepted(n) = &verdict {
                            prop_assert!(!n.notify_id.is_empty());
                        }
                        let recorded = payment::record(
                            c,
                            notice,
                            &verdict,
                            &crate::domain::observe::Timing {
                                expiry_grace: std::time::Duration::from_secs(120),
                                backoff: vec![std::time::Duration::from_secs(30)],
                                settled_backoff: vec![std::time::Duration::from_secs(60)],
                            },
                            crate::clock::Clock::system().now(),
                        );
                        prop_assert!(recorded.is_ok(), "{recorded:?} for {verdict:?}");
                    }
                    Ok::<(), TestCaseError>(())
                })
            });

            result.unwrap();
        }

        #[test]
        fn any_sequence_of_arbitrary_contract_notices_is_examined_and_recorded_without_fault() {
            let (db, _dir) = temp_db();
            let conn = std::cell::RefCell::new(db.conn().unwrap());

            let notices = any_notice(notice_fields(contract_fields(), 0.5));

            let result = runner().run(&proptest::collection::vec(notices, 1..6), |notices| {
                rolled_back(&mut conn.borrow_mut(), |c| {
                    for notice in &notices {
                        let verdict = contract::examine(notice, &[KEY], MID);
                        let recorded = contract::record(
                            c,
                            notice,
                            &verdict,
                            crate::clock::Clock::system().now(),
                        );
                        prop_assert!(recorded.is_ok(), "{recorded:?} for {verdict:?}");
                    }
                    Ok::<(), TestCaseError>(())
                })
            });

            result.unwrap();
        }
    }
}
