//! Notification signatures (docs/protocol.md §5): the string to sign, MD5/SHA-256 signing and
//! verification against a list of keys. Owns the signing rules only; it must not parse
//! bodies or interpret fields, and never puts a key or signature in a message.

use std::fmt;

use md5::Md5;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// The field that carries the signature; it is never part of what is signed.
pub const SIGN_FIELD: &str = "sign";
/// The field that chooses the algorithm.
pub const SIGN_TYPE_FIELD: &str = "signType";

/// Hex digits in a SHA-256 digest (an MD5 digest has 32).
const SHA256_HEX_LEN: usize = 64;

/// The digest a notification is signed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignType {
    /// MD5, the default when `signType` is absent (unless the signature is 64 hex digits).
    Md5,
    /// SHA-256, when `signType` is `SHA256` in any case.
    Sha256,
}

/// What a received `signType` field says, for callers that refuse unknown values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignTypeField {
    /// No `signType`, or an empty one (empty fields are not signed, so they are absent).
    Absent,
    /// `MD5` in any case.
    Md5,
    /// `SHA256` in any case.
    Sha256,
    /// Anything else. The protocol verifies these with MD5.
    Other,
}

impl SignTypeField {
    /// Classifies a received `signType` value.
    pub fn of(value: Option<&str>) -> Self {
        match value {
            None | Some("") => SignTypeField::Absent,
            Some(v) if v.eq_ignore_ascii_case("SHA256") => SignTypeField::Sha256,
            Some(v) if v.eq_ignore_ascii_case("MD5") => SignTypeField::Md5,
            Some(_) => SignTypeField::Other,
        }
    }

    /// The digest the protocol uses for this value: SHA-256 for `SHA256`, MD5 otherwise.
    pub fn sign_type(self) -> SignType {
        match self {
            SignTypeField::Sha256 => SignType::Sha256,
            SignTypeField::Absent | SignTypeField::Md5 | SignTypeField::Other => SignType::Md5,
        }
    }
}

impl SignType {
    /// The digest for a received `signType`, exactly as the protocol says: SHA-256 if it is
    /// `SHA256` in any case, MD5 otherwise (absent, `MD5` or anything else). Use
    /// [`SignTypeField::of`] to refuse unknown values.
    pub fn from_field(value: Option<&str>) -> SignType {
        SignTypeField::of(value).sign_type()
    }

    /// The digest a signature received without `signType` was made with, read from its
    /// length: 64 hex digits is SHA-256 (an MD5 digest has 32, so it cannot be MD5), anything
    /// else MD5, the protocol's default. The provider sends SHA-256 signatures without
    /// `signType` (a signed answer of its legacy route service does).
    pub fn of_signature(sign: &str) -> SignType {
        if sign.len() == SHA256_HEX_LEN && sign.bytes().all(|b| b.is_ascii_hexdigit()) {
            SignType::Sha256
        } else {
            SignType::Md5
        }
    }

    /// The wire spelling: `MD5` or `SHA256`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignType::Md5 => "MD5",
            SignType::Sha256 => "SHA256",
        }
    }

    /// Upper-case hex digest of `content`.
    pub fn hex_digest_upper(self, content: &str) -> String {
        match self {
            SignType::Md5 => hex::encode_upper(Md5::digest(content.as_bytes())),
            SignType::Sha256 => hex::encode_upper(Sha256::digest(content.as_bytes())),
        }
    }
}

impl fmt::Display for SignType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SignType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Reads `MD5` or `SHA256` in any case; anything else is refused.
impl<'de> Deserialize<'de> for SignType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = String::deserialize(d)?;
        match SignTypeField::of(Some(&value)) {
            SignTypeField::Md5 => Ok(SignType::Md5),
            SignTypeField::Sha256 => Ok(SignType::Sha256),
            SignTypeField::Absent | SignTypeField::Other => {
                Err(serde::de::Error::custom("must be MD5 or SHA256"))
            }
        }
    }
}

/// Why a notification's signature was refused. Messages never show a key or signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No `sign` field, or an empty one.
    #[error("the notification carries no sign")]
    MissingSign,
    /// More than one `sign` field.
    #[error("the notification carries more than one sign")]
    DuplicateSign,
    /// No key to verify with: a configuration problem.
    #[error("no notification key is configured")]
    NoKeys,
    /// No key gives this signature.
    #[error("the sign matches no notification key")]
    Mismatch,
}

/// The string to sign: without `sign` and empty values, sorted by name in byte order
/// (`Qx` before `billDate`), joined as `name=value` with `&`, then `key` with no separator.
pub fn string_to_sign(fields: &[(String, String)], key: &str) -> String {
    let mut signed: Vec<&(String, String)> = fields
        .iter()
        .filter(|(name, value)| name != SIGN_FIELD && !value.is_empty())
        .collect();
    signed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut content = signed
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&");
    content.push_str(key);
    content
}

/// The upper-case hex signature of `fields` under `key`.
pub fn sign(fields: &[(String, String)], key: &str, sign_type: SignType) -> String {
    sign_type.hex_digest_upper(&string_to_sign(fields, key))
}

/// `fields` as a sender posts them: the `sign` under `key` appended last. The one way the
/// project signs a notification (sandbox, demo, tests, benchmarks, fuzz targets).
pub fn with_sign<N: AsRef<str>, V: AsRef<str>>(
    fields: &[(N, V)],
    key: &str,
    sign_type: SignType,
) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = fields
        .iter()
        .map(|(n, v)| (n.as_ref().to_owned(), v.as_ref().to_owned()))
        .collect();
    let sign = sign(&pairs, key, sign_type);
    pairs.push((SIGN_FIELD.to_owned(), sign));
    pairs
}

/// [`with_sign`], form-encoded: the body of a notification as the provider sends it.
pub fn signed_form<N: AsRef<str>, V: AsRef<str>>(
    fields: &[(N, V)],
    key: &str,
    sign_type: SignType,
) -> String {
    crate::chinaums::form::Form::encode(&with_sign(fields, key, sign_type))
}

/// Verifies a notification over all its fields exactly as received, with the digest its
/// `signType` chooses, against each key in turn (several keys allow rotation). Returns the
/// index of the key that verified. `sign` is compared case-insensitively, in constant time.
pub fn verify(fields: &[(String, String)], keys: &[&str]) -> Result<usize, VerifyError> {
    let mut signs = fields.iter().filter(|(name, _)| name == SIGN_FIELD);
    let received = signs
        .next()
        .map(|(_, value)| value.to_ascii_uppercase())
        .filter(|value| !value.is_empty())
        .ok_or(VerifyError::MissingSign)?;
    if signs.next().is_some() {
        return Err(VerifyError::DuplicateSign);
    }
    if keys.is_empty() {
        return Err(VerifyError::NoKeys);
    }
    let field = SignTypeField::of(
        fields
            .iter()
            .find(|(name, _)| name == SIGN_TYPE_FIELD)
            .map(|(_, value)| value.as_str()),
    );
    let sign_type = match field {
        SignTypeField::Absent => SignType::of_signature(&received),
        given => given.sign_type(),
    };
    keys.iter()
        .position(|key| Secret::new(sign(fields, key, sign_type)).matches(received.as_bytes()))
        .ok_or(VerifyError::Mismatch)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const KEY: &str = "impARTxrQcfwmRijpDNCw6hPxaWCddKEpYxjaKXDhCaTCXJ6";

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn signed(mut pairs: Vec<(String, String)>, sign_type: SignType) -> Vec<(String, String)> {
        let sign = sign(&pairs, KEY, sign_type);
        pairs.push((SIGN_FIELD.into(), sign));
        pairs
    }

    #[test]
    fn the_string_to_sign_drops_sign_and_empty_values_and_sorts_by_bytes() {
        let received = fields(&[
            ("billDate", "2024-01-01"),
            ("sign", "ABC"),
            ("memo", ""),
            ("Qx", "AbCd"),
            ("billNo", "1017"),
        ]);

        let content = string_to_sign(&received, "KEY");

        assert_eq!(content, "Qx=AbCd&billDate=2024-01-01&billNo=1017KEY");
    }

    #[test]
    fn sign_type_values_are_classified_and_only_sha256_selects_sha256() {
        let cases = [
            (None, SignTypeField::Absent, SignType::Md5),
            (Some(""), SignTypeField::Absent, SignType::Md5),
            (Some("md5"), SignTypeField::Md5, SignType::Md5),
            (Some("sha256"), SignTypeField::Sha256, SignType::Sha256),
            (Some("SHA256"), SignTypeField::Sha256, SignType::Sha256),
            (Some("SHA-256"), SignTypeField::Other, SignType::Md5),
        ];

        for (value, field, sign_type) in cases {
            assert_eq!(SignTypeField::of(value), field, "{value:?}");
            assert_eq!(SignType::from_field(value), sign_type, "{value:?}");
        }
    }

    #[test]
    fn verification_names_the_key_that_matched_and_ignores_the_case_of_sign() {
        let mut received = signed(fields(&[("a", "1"), ("b", "2")]), SignType::Md5);
        if let Some((_, sign)) = received.last_mut() {
            *sign = sign.to_ascii_lowercase();
        }

        assert_eq!(verify(&received, &["old-key", KEY]), Ok(1));
        assert_eq!(verify(&received, &[KEY]), Ok(0));
    }

    #[test]
    fn verification_fails_without_sign_keys_or_a_matching_key() {
        let received = signed(fields(&[("a", "1")]), SignType::Sha256);
        let unsigned = fields(&[("a", "1"), ("sign", "")]);
        let twice = [received.clone(), received.clone()].concat();

        assert_eq!(verify(&unsigned, &[KEY]), Err(VerifyError::MissingSign));
        assert_eq!(verify(&twice, &[KEY]), Err(VerifyError::DuplicateSign));
        assert_eq!(verify(&received, &[]), Err(VerifyError::NoKeys));
        assert_eq!(verify(&received, &["other"]), Err(VerifyError::Mismatch));
        // Signed with SHA-256 but received with signType MD5: the field decides, and fails.
        let mut md5_declared = received.clone();
        md5_declared.push((SIGN_TYPE_FIELD.into(), "MD5".into()));
        assert_eq!(verify(&md5_declared, &[KEY]), Err(VerifyError::Mismatch));
    }

    #[test]
    fn without_sign_type_the_signature_length_chooses_the_digest() {
        let sha = signed(fields(&[("a", "1"), ("b", "2")]), SignType::Sha256);
        let md5 = signed(fields(&[("a", "1"), ("b", "2")]), SignType::Md5);

        assert_eq!(verify(&sha, &[KEY]), Ok(0));
        assert_eq!(verify(&md5, &[KEY]), Ok(0));
        assert_eq!(SignType::of_signature(&"A".repeat(64)), SignType::Sha256);
        assert_eq!(SignType::of_signature(&"A".repeat(32)), SignType::Md5);
        assert_eq!(SignType::of_signature(&"Z".repeat(64)), SignType::Md5);
    }

    #[test]
    fn a_present_sign_type_still_decides_over_the_signature_length() {
        // A SHA-256 signature declared MD5, and an MD5 one declared SHA256: both fail.
        let mut sha = signed(fields(&[("a", "1"), ("signType", "MD5")]), SignType::Sha256);
        let mut md5 = signed(fields(&[("a", "1"), ("signType", "SHA256")]), SignType::Md5);

        assert_eq!(verify(&sha, &[KEY]), Err(VerifyError::Mismatch));
        assert_eq!(verify(&md5, &[KEY]), Err(VerifyError::Mismatch));
        sha.retain(|(n, _)| n != SIGN_FIELD);
        md5.retain(|(n, _)| n != SIGN_FIELD);
        let sha = signed(sha, SignType::Md5);
        let md5 = signed(md5, SignType::Sha256);
        assert_eq!(verify(&sha, &[KEY]), Ok(0));
        assert_eq!(verify(&md5, &[KEY]), Ok(0));
    }

    #[test]
    fn sign_type_reads_any_case_and_refuses_other_values() {
        let read = |json: &str| serde_json::from_str::<SignType>(json).ok();

        assert_eq!(read("\"sha256\""), Some(SignType::Sha256));
        assert_eq!(read("\"MD5\""), Some(SignType::Md5));
        assert_eq!(read("\"RSA\""), None);
        assert_eq!(
            serde_json::to_string(&SignType::Sha256).ok().as_deref(),
            Some("\"SHA256\"")
        );
    }

    /// Field names other than `sign`/`signType`; values free of `&` and `=` so that
    /// different field sets give different strings to sign.
    fn field_set() -> impl Strategy<Value = Vec<(String, String)>> {
        proptest::collection::btree_map("[A-Za-z][A-Za-z0-9]{0,8}", "[^&=]{1,16}", 1..10)
            .prop_map(|m| {
                m.into_iter()
                    .filter(|(n, _)| n != SIGN_FIELD && n != SIGN_TYPE_FIELD)
                    .collect::<Vec<_>>()
            })
            .prop_filter("at least one field", |f| !f.is_empty())
    }

    fn any_sign_type() -> impl Strategy<Value = SignType> {
        prop_oneof![Just(SignType::Md5), Just(SignType::Sha256)]
    }

    fn with_sign_type(mut pairs: Vec<(String, String)>, t: SignType) -> Vec<(String, String)> {
        if t == SignType::Sha256 {
            pairs.push((SIGN_TYPE_FIELD.into(), "SHA256".into()));
        }
        pairs
    }

    proptest! {
        #[test]
        fn signing_then_verifying_succeeds(pairs in field_set(), t in any_sign_type()) {
            let received = signed(with_sign_type(pairs, t), t);

            prop_assert_eq!(verify(&received, &[KEY]), Ok(0));
        }

        #[test]
        fn changing_any_value_breaks_verification(
            pairs in field_set(), t in any_sign_type(),
            index in any::<prop::sample::Index>(), other in "[^&=]{1,16}",
        ) {
            let mut received = signed(with_sign_type(pairs.clone(), t), t);
            let i = index.index(pairs.len());
            prop_assume!(received[i].1 != other);
            received[i].1 = other;

            prop_assert_eq!(verify(&received, &[KEY]), Err(VerifyError::Mismatch));
        }

        #[test]
        fn renaming_any_field_breaks_verification(
            pairs in field_set(), t in any_sign_type(),
            index in any::<prop::sample::Index>(), other in "[A-Za-z][A-Za-z0-9]{0,8}",
        ) {
            let mut received = signed(with_sign_type(pairs.clone(), t), t);
            let i = index.index(pairs.len());
            prop_assume!(other != SIGN_FIELD && other != SIGN_TYPE_FIELD);
            prop_assume!(received.iter().all(|(name, _)| *name != other));
            received[i].0 = other;

            prop_assert_eq!(verify(&received, &[KEY]), Err(VerifyError::Mismatch));
        }

        #[test]
        fn verifying_any_field_set_against_any_keys_never_panics(
            fields in proptest::collection::vec(
                (
                    prop_oneof![
                        Just(SIGN_FIELD.to_owned()),
                        Just(SIGN_TYPE_FIELD.to_owned()),
                        "\\PC{0,8}",
                    ],
                    prop_oneof![
                        "\\PC{0,64}",
                        "[0-9A-Fa-f]{32}",
                        "[0-9A-Fa-f]{64}",
                        Just("SHA256".to_owned()),
                    ],
                ),
                0..10,
            ),
            keys in proptest::collection::vec("\\PC{0,48}", 0..3),
        ) {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();

            let verified = verify(&fields, &keys);

            if let Ok(index) = verified {
                prop_assert!(index < keys.len());
            }
        }
    }
}
