//! The provider's wire types: the four operations (one file each), the token endpoint, the
//! auth-layer error, payment notifications and contract notices, with the seed pages'
//! validation. Owns field names, types and limits; it must not sign, send or decide
//! anything, and no type here may print a secret or a buyer's personal field.
//!
//! Conventions, for every type here:
//! - JSON names are camelCase as on the seed pages; unknown fields are tolerated.
//! - Amounts are `i64` fen, read from a JSON number or a numeric string and written as a
//!   number (docs/protocol.md §1). Empty strings and `null` read as absent.
//! - What the provider sends us (notifications, answers) is read tolerantly once verified:
//!   amounts and the fields known to vary are [`Lenient`], kept raw when not in the
//!   expected shape, so that one odd optional field never discards a verified message, and
//!   a required amount that cannot be read is reported as unreadable, never guessed.
//!   What we send, and what the sandbox receives, stays strict (`int`).
//! - Required strings read as empty when missing, so that `validate` names them; an empty
//!   optional string counts as absent (the provider's samples send `""` for unused fields).
//! - Requests are read as the provider reads them (`lenient`): `""` is absent for fields of
//!   any type, arrays and objects may come as JSON text, booleans as `"true"`/`"false"`.
//!   Requests are written with the table's types.
//! - Lengths are counted as the provider's (GBK-era) backend counts them: an ASCII
//!   character is 1, any other character 2. The seed says `billDesc` ≤255 holds "no more
//!   than 128 汉字": that rules out UTF-8 bytes (3 per 汉字, 85 汉字) and characters (255
//!   汉字), and matches this count to within one (127 汉字 fit; the 255 limit wins).

/// The `errCode` helpers every business answer shares.
macro_rules! business_answer {
    ($($answer:ty),+) => {$(
        impl $answer {
            /// What `errCode` tells the caller to do.
            pub fn err_class(&self) -> $crate::chinaums::status::ErrClass {
                $crate::chinaums::status::ErrClass::of(&self.err_code)
            }

            /// The error's text: `errMsg`, or `errInfo` when that is absent or empty.
            pub fn err_text(&self) -> Option<&str> {
                [&self.err_msg, &self.err_info]
                    .into_iter()
                    .find_map(|t| t.as_deref().filter(|t| !t.is_empty()))
            }
        }
    )+};
}

mod auth;
mod bill_query;
mod lenient;
mod mini_pre_query;
mod notice;
mod preauthed;
mod update_qrcode;

use std::fmt;
use std::ops::RangeInclusive;

use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde::de::{DeserializeOwned, Error as _, IntoDeserializer, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::form::Form;
use super::time;
use crate::secret::Secret;

pub use auth::{AuthError, TokenRequest, TokenResponse, TOKEN_SUCCESS};
pub use bill_query::{BillQueryRequest, BillQueryResponse};
pub use mini_pre_query::{MiniPreQueryRequest, MiniPreQueryResponse};
pub use notice::{BillPayment, ContractNotice, PaymentNotification};
pub use preauthed::{PreauthedRequest, PreauthedResponse, PREAUTHED_AMOUNT_FEN};
pub use update_qrcode::{
    Goods, RetCommParams, UpdateQrcodeRequest, UpdateQrcodeResponse, UPDATE_QRCODE_AMOUNT_FEN,
};

/// A field that is missing, malformed or out of range. Shown as `"{field}: {reason}"`; the
/// sandbox answers `BAD_REQUEST` with it. The reason never contains a secret or personal
/// value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// The field's wire name (`body` for the body as a whole, a path for nested fields).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FieldError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Reads a JSON body as `T`, naming the offending field (`body` when it is not a field).
pub fn from_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, FieldError> {
    parse_json(body).map_err(top_level)
}

/// How the provider measures a field's length: ASCII characters count 1, others 2.
pub fn provider_len(s: &str) -> usize {
    s.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()
}

/// A buyer's personal field (`name`, `mobile`, `certNo`): holds the clear value, is sent
/// as standard Base64 of its UTF-8 bytes (seed 002), reads Base64 back to the clear value,
/// and prints `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Base64Secret(Secret);

impl Base64Secret {
    /// Wraps a clear value.
    pub fn new(clear: impl Into<String>) -> Self {
        Base64Secret(Secret::new(clear))
    }

    /// The clear value. Never for logging.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The value as sent: standard Base64 with padding.
    pub fn encoded(&self) -> String {
        STANDARD.encode(self.0.expose())
    }
}

impl fmt::Debug for Base64Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Serialize for Base64Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.encoded())
    }
}

impl<'de> Deserialize<'de> for Base64Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Encoded;
        impl Visitor<'_> for Encoded {
            type Value = Base64Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("Base64 text")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Base64Secret, E> {
                let bytes = STANDARD
                    .decode(s)
                    .map_err(|_| E::custom("must be standard Base64"))?;
                String::from_utf8(bytes)
                    .map(Base64Secret::new)
                    .map_err(|_| E::custom("must be Base64 of UTF-8 text"))
            }
            // Numbers are refused without echoing them: a mobile number is personal data.
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Base64Secret, E> {
                Err(E::custom("must be Base64 text"))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Base64Secret, E> {
                Err(E::custom("must be Base64 text"))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Base64Secret, E> {
                Err(E::custom("must be Base64 text"))
            }
        }
        // `any`, so that numbers reach the visitor instead of an error that echoes them.
        d.deserialize_any(Encoded)
    }
}

/// Deserialises JSON; on failure, the path of the offending member (`None` at the root)
/// and the reason.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, (Option<String>, String)> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(path_and_reason)?;
    de.end().map_err(|e| (None, e.to_string()))?;
    Ok(value)
}

fn path_and_reason(e: serde_path_to_error::Error<serde_json::Error>) -> (Option<String>, String) {
    let path = e.path().to_string();
    let path = (path != ".").then_some(path);
    (path, e.into_inner().to_string())
}

/// A top-level failure as a [`FieldError`]: on its path, or on `body` at the root.
fn top_level((path, reason): (Option<String>, String)) -> FieldError {
    FieldError::new(path.unwrap_or_else(|| "body".to_owned()), reason)
}

/// Reads a notice's form fields as `T`, empty values as absent, after checking that the
/// `required` fields are present and non-empty.
fn from_form_fields<T: DeserializeOwned>(form: &Form, required: &[&str]) -> Result<T, FieldError> {
    if let Some(missing) = required
        .iter()
        .find(|name| form.get(name).is_none_or(str::is_empty))
    {
        return Err(FieldError::new(*missing, "is required"));
    }
    let object = form
        .pairs()
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    serde_path_to_error::deserialize(Value::Object(object))
        .map_err(|e| top_level(path_and_reason(e)))
}

/// A notice as form fields: strings as they are, numbers as their text, absent fields left
/// out.
#[expect(
    clippy::expect_used,
    reason = "notices are structs of strings, integers and vocabularies, which serde_json \
              always writes as an object (the notice tests turn each kind into fields)"
)]
fn to_form_fields<T: Serialize>(notice: &T) -> Vec<(String, String)> {
    let object = match serde_json::to_value(notice) {
        Ok(Value::Object(object)) => Some(object),
        _ => None,
    }
    .expect("a notice is a JSON object");
    object
        .into_iter()
        .filter_map(|(name, value)| match value {
            Value::Null => None,
            Value::String(s) => Some((name, s)),
            other => Some((name, other.to_string())),
        })
        .collect()
}

/// `serialize_with` for a [`Secret`] that must be sent: writes the exposed value.
fn expose<S: Serializer>(secret: &Secret, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose())
}

/// `serialize_with` for an optional [`Secret`] that must be sent.
fn expose_opt<S: Serializer>(secret: &Option<Secret>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => expose(secret, s),
        None => s.serialize_none(),
    }
}

/// Amounts and counts: a non-negative integer sent as a JSON number or a numeric string.
mod int {
    use super::*;

    /// A required integer; absent, `null` or `""` is refused.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        opt(d)?.ok_or_else(|| D::Error::custom("is required"))
    }

    /// An optional integer; `null` and `""` read as absent.
    pub fn opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        d.deserialize_any(Int)
    }

    struct Int;

    impl<'de> Visitor<'de> for Int {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number, as a JSON number or numeric string")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Option<i64>, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Option<i64>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<i64>, D::Error> {
            d.deserialize_any(Int)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Option<i64>, E> {
            if v < 0 {
                return Err(E::custom("must not be negative"));
            }
            Ok(Some(v))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Option<i64>, E> {
            i64::try_from(v)
                .map(Some)
                .map_err(|_| E::custom("is too large"))
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Option<i64>, E> {
            Err(E::custom("must be a whole number (amounts are fen)"))
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Option<i64>, E> {
            if s.is_empty() {
                return Ok(None);
            }
            if s.bytes().all(|b| b.is_ascii_digit()) {
                return s.parse().map(Some).map_err(|_| E::custom("is too large"));
            }
            Err(E::custom(if s.starts_with('-') {
                "must not be negative"
            } else if s.contains('.') {
                "must be a whole number (amounts are fen)"
            } else {
                "must be a whole number"
            }))
        }
    }
}

/// A field read tolerantly after verification: [`Lenient::Read`] when it has the expected
/// shape, else [`Lenient::Raw`] with the JSON exactly as received. Nothing is guessed: a
/// required amount that is `Raw` is unreadable (the domain flags it, never reads it as a
/// number), an optional one is kept and ignored. Written back as it was read.
#[derive(Debug, Clone, PartialEq)]
pub enum Lenient<T> {
    /// The value, in the expected shape.
    Read(T),
    /// Not in the expected shape: the JSON as received.
    Raw(Value),
}

impl<T> Lenient<T> {
    /// The value when it was read; `None` when it is raw.
    pub fn read(&self) -> Option<&T> {
        match self {
            Lenient::Read(v) => Some(v),
            Lenient::Raw(_) => None,
        }
    }

    /// Whether it was not in the expected shape.
    pub fn is_raw(&self) -> bool {
        matches!(self, Lenient::Raw(_))
    }
}

impl<T> From<T> for Lenient<T> {
    fn from(value: T) -> Self {
        Lenient::Read(value)
    }
}

impl<T: Serialize> Serialize for Lenient<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Lenient::Read(v) => v.serialize(s),
            Lenient::Raw(raw) => raw.serialize(s),
        }
    }
}

/// What an optional lenient field holds: its value when read, `None` when absent or raw.
pub fn read<T: Clone>(field: &Option<Lenient<T>>) -> Option<T> {
    field.as_ref().and_then(Lenient::read).cloned()
}

/// Deserialisers for [`Lenient`] fields of what the provider sends us (answers and
/// notifications, after verification). `null` and `""` read as absent everywhere.
mod tolerant {
    use super::*;

    /// The value as received, `None` for `null` or `""`.
    fn given<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
        Ok(Option::<Value>::deserialize(d)?.filter(|v| v.as_str() != Some("")))
    }

    /// Whole non-negative fen from a JSON number or a digit string; anything else (`"1.00"`,
    /// `1.5`, `"-1"`, `true`) is kept raw, never rounded or guessed.
    pub fn fen<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Lenient<i64>>, D::Error> {
        Ok(given(d)?.map(|v| {
            let read = match &v {
                Value::Number(n) => n.as_i64().filter(|n| *n >= 0),
                Value::String(s) if s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
                _ => None,
            };
            read.map_or(Lenient::Raw(v), Lenient::Read)
        }))
    }

    /// Text from a JSON string; anything else (a number for a time) is kept raw.
    pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Lenient<String>>, D::Error> {
        Ok(given(d)?.map(|v| match v {
            Value::String(s) => Lenient::Read(s),
            other => Lenient::Raw(other),
        }))
    }

    /// `billPayment`: a JSON object, or a JSON string holding one; `""` is absent; anything
    /// else (an unreadable text, an array) is kept raw.
    pub fn bill_payment<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Lenient<BillPayment>>, D::Error> {
        Ok(given(d)?.map(|v| {
            let object = match &v {
                Value::Object(_) => Some(v.clone()),
                Value::String(text) => serde_json::from_str::<Value>(text)
                    .ok()
                    .filter(Value::is_object),
                _ => None,
            };
            object
                .and_then(|o| serde_json::from_value(o).ok())
                .map_or(Lenient::Raw(v), Lenient::Read)
        }))
    }
}

/// A vocabulary value where `""` means absent (the provider sends `"status":""`).
fn non_empty<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    match Option::<String>::deserialize(d)? {
        Some(s) if !s.is_empty() => T::deserialize(s.into_deserializer()).map(Some),
        _ => Ok(None),
    }
}

/// A required text field whose provider length is within `len`.
fn text(field: &str, value: &str, len: RangeInclusive<usize>) -> Result<(), FieldError> {
    if value.is_empty() {
        return Err(FieldError::new(field, "is required"));
    }
    opt_text(field, Some(value), len)
}

/// An optional text field (absent or empty is fine) whose provider length is within `len`.
fn opt_text(
    field: &str,
    value: Option<&str>,
    len: RangeInclusive<usize>,
) -> Result<(), FieldError> {
    let Some(actual) = value.filter(|v| !v.is_empty()).map(provider_len) else {
        return Ok(());
    };
    if len.contains(&actual) {
        return Ok(());
    }
    let (min, max) = (len.start(), len.end());
    let limit = if min == max {
        format!("{min}")
    } else if *min <= 1 {
        format!("at most {max}")
    } else {
        format!("{min} to {max}")
    };
    Err(FieldError::new(
        field,
        format!("length must be {limit}, is {actual}"),
    ))
}

/// A required `yyyy-MM-dd HH:mm:ss` timestamp.
fn timestamp(field: &str, value: &str) -> Result<(), FieldError> {
    if value.is_empty() {
        return Err(FieldError::new(field, "is required"));
    }
    opt_timestamp(field, Some(value))
}

/// An optional `yyyy-MM-dd HH:mm:ss` timestamp.
fn opt_timestamp(field: &str, value: Option<&str>) -> Result<(), FieldError> {
    match value.filter(|v| !v.is_empty()) {
        Some(v) if time::parse_body(v).is_none() => Err(FieldError::new(
            field,
            "must be a time as yyyy-MM-dd HH:mm:ss",
        )),
        _ => Ok(()),
    }
}

/// An amount within `range` fen.
fn amount(field: &str, fen: i64, range: RangeInclusive<i64>) -> Result<(), FieldError> {
    if range.contains(&fen) {
        return Ok(());
    }
    Err(FieldError::new(
        field,
        format!("must be {} to {} fen", range.start(), range.end()),
    ))
}

/// An optional field that, when present and non-empty, is one of `allowed`.
fn one_of(field: &str, value: Option<&str>, allowed: &[&str]) -> Result<(), FieldError> {
    match value.filter(|v| !v.is_empty()) {
        Some(v) if !allowed.contains(&v) => Err(FieldError::new(
            field,
            format!("must be one of {}", allowed.join(", ")),
        )),
        _ => Ok(()),
    }
}

/// A validation test case: the field that must be named, and how to break a valid value.
#[cfg(test)]
type Breakage<T> = (&'static str, fn(&mut T));

/// The field a validation names, or `<valid>`.
#[cfg(test)]
fn field_of(result: Result<(), FieldError>) -> String {
    result.map_or_else(|e| e.field, |()| "<valid>".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Amounts {
        #[serde(default, deserialize_with = "int::opt")]
        total_amount: Option<i64>,
    }

    fn amount_of(json: &str) -> Result<Option<i64>, FieldError> {
        from_json::<Amounts>(json.as_bytes()).map(|a| a.total_amount)
    }

    #[test]
    fn amounts_are_read_from_numbers_or_numeric_strings() {
        assert_eq!(amount_of(r#"{"totalAmount":100}"#), Ok(Some(100)));
        assert_eq!(amount_of(r#"{"totalAmount":"100"}"#), Ok(Some(100)));
        assert_eq!(amount_of(r#"{"totalAmount":""}"#), Ok(None));
        assert_eq!(amount_of(r#"{"totalAmount":null}"#), Ok(None));
        assert_eq!(amount_of("{}"), Ok(None));
    }

    #[test]
    fn fractional_negative_or_garbage_amounts_are_refused_naming_the_field() {
        for bad in [
            "1.5", "1.0", "-1", "\"-1\"", "\"1.5\"", "\"1e2\"", "\" 1\"", "true", "1e400",
        ] {
            let result = amount_of(&format!(r#"{{"totalAmount":{bad}}}"#));

            let error = result.expect_err(bad);
            assert_eq!(error.field, "totalAmount", "{bad}: {error}");
        }
        let too_large = amount_of(r#"{"totalAmount":"99999999999999999999"}"#).unwrap_err();
        assert!(too_large.reason.starts_with("is too large"), "{too_large}");
    }

    #[test]
    fn a_body_that_is_not_json_is_named_body() {
        let error = from_json::<Amounts>(b"{\"totalAmount\":1} trailing").unwrap_err();

        assert_eq!(error.field, "body");
    }

    #[test]
    fn personal_fields_are_sent_as_base64_and_read_back_in_clear() {
        let name = Base64Secret::new("张*三");

        let json = serde_json::to_string(&name).unwrap();
        let back: Base64Secret = serde_json::from_str(&json).unwrap();

        assert_eq!(json, "\"5bygKuS4iQ==\"");
        assert_eq!(back.expose(), "张*三");
        assert_eq!(format!("{name:?}"), "[redacted]");
    }

    #[test]
    fn personal_fields_that_are_not_base64_are_refused_without_echoing_them() {
        for bad in ["\"13100003453\"", "13100003453", "\"/w==\""] {
            let error = serde_json::from_str::<Base64Secret>(bad).unwrap_err();

            assert!(!error.to_string().contains("13100003453"), "{error}");
        }
    }

    #[test]
    fn lengths_count_non_ascii_characters_twice() {
        assert_eq!(provider_len("updateQRCode"), 12);
        assert_eq!(provider_len("测试a"), 5);
        assert!(opt_text("billDesc", Some(&"测".repeat(127)), 1..=255).is_ok());
        assert!(opt_text("billDesc", Some(&"测".repeat(128)), 1..=255).is_err());
    }
}
