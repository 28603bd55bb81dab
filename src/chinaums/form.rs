//! Notification bodies as ordered name/value pairs: strict `application/x-www-form-urlencoded`
//! parsing, the JSON-object variant some deployments send, and Java-`URLEncoder`-style
//! encoding. Owns turning bytes into exactly the pairs that were signed; it must not
//! interpret any field, and must never print a value (they carry signatures and buyers' data).

use std::collections::HashSet;
use std::fmt;

use percent_encoding::percent_decode;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// Why a body is not an acceptable form. Messages name fields, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// A pair whose name decodes to nothing (`=value`).
    #[error("form pair {position} has no name")]
    MissingName {
        /// 1-based position of the pair in the body.
        position: usize,
    },
    /// A name with a malformed percent escape or that is not UTF-8 once decoded.
    #[error("form pair {position}: name is not percent-encoded UTF-8")]
    BadName {
        /// 1-based position of the pair in the body.
        position: usize,
    },
    /// A `%` not followed by two hex digits.
    #[error("{field}: malformed percent escape")]
    BadEscape {
        /// The field's name.
        field: String,
    },
    /// A value that is not UTF-8 once decoded.
    #[error("{field}: not UTF-8 once decoded")]
    NotUtf8 {
        /// The field's name.
        field: String,
    },
    /// A name given more than once: which value was signed would be ambiguous.
    #[error("{field}: given more than once")]
    Duplicate {
        /// The field's name.
        field: String,
    },
    /// A JSON body that is valid JSON but not an object.
    #[error("body: not a JSON object")]
    NotAnObject,
    /// A JSON body that is not valid JSON.
    #[error("body: not valid JSON (line {line}, column {column})")]
    BadJson {
        /// Where the parser stopped.
        line: usize,
        /// Where the parser stopped.
        column: usize,
    },
}

impl FormError {
    /// The field the error is about, when it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            FormError::BadEscape { field }
            | FormError::NotUtf8 { field }
            | FormError::Duplicate { field } => Some(field),
            _ => None,
        }
    }
}

/// A body's fields, in the order received, each name once. `Debug` shows names only.
#[derive(Clone, PartialEq, Eq)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// Parses `application/x-www-form-urlencoded`: pairs split on `&` (empty segments are
    /// skipped), name and value split on the first `=` (no `=` means an empty value), `+`
    /// is a space, `%XX` a byte. Refused: a malformed escape, non-UTF-8 after decoding, an
    /// empty name, a repeated name.
    pub fn parse(body: &[u8]) -> Result<Form, FormError> {
        let mut pairs = Vec::new();
        for (index, segment) in body.split(|b| *b == b'&').enumerate() {
            if segment.is_empty() {
                continue;
            }
            let position = index + 1;
            let mut halves = segment.splitn(2, |b| *b == b'=');
            let raw_name = halves.next().unwrap_or_default();
            let raw_value = halves.next().unwrap_or_default();
            let name = decode(raw_name).map_err(|_| FormError::BadName { position })?;
            if name.is_empty() {
                return Err(FormError::MissingName { position });
            }
            let value = match decode(raw_value) {
                Ok(value) => value,
                Err(Undecodable::Escape) => return Err(FormError::BadEscape { field: name }),
                Err(Undecodable::Utf8) => return Err(FormError::NotUtf8 { field: name }),
            };
            pairs.push((name, value));
        }
        Form::from_pairs(pairs)
    }

    /// Reads a JSON object body as fields: strings as their text, `null` as empty, and
    /// numbers, booleans, objects and arrays as their exact received JSON text (so a
    /// `billPayment` object is verified as sent, never re-serialised). A repeated key is
    /// refused, like a repeated form name.
    pub fn from_json(body: &[u8]) -> Result<Form, FormError> {
        let RawPairs(raw) = serde_json::from_slice(body).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => FormError::NotAnObject,
            _ => FormError::BadJson {
                line: e.line(),
                column: e.column(),
            },
        })?;
        let mut pairs = Vec::with_capacity(raw.len());
        for (name, value) in raw {
            let text = value.get();
            let value = match text.as_bytes().first() {
                Some(b'"') => {
                    serde_json::from_str::<String>(text).map_err(|e| FormError::BadJson {
                        line: e.line(),
                        column: e.column(),
                    })?
                }
                _ if text == "null" => String::new(),
                _ => text.to_owned(),
            };
            pairs.push((name, value));
        }
        Form::from_pairs(pairs)
    }

    /// Encodes pairs as a form body the way Java's `URLEncoder` does (the provider's side):
    /// `A-Za-z0-9.-*_` as is, space as `+`, every other UTF-8 byte as `%XX`.
    pub fn encode<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
            .finish()
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every field, in the order received.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    fn from_pairs(pairs: Vec<(String, String)>) -> Result<Form, FormError> {
        let mut seen = HashSet::with_capacity(pairs.len());
        if let Some((name, _)) = pairs.iter().find(|(name, _)| !seen.insert(name.as_str())) {
            return Err(FormError::Duplicate {
                field: name.clone(),
            });
        }
        Ok(Form { pairs })
    }
}

impl fmt::Debug for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Form")
            .field(
                "names",
                &self.pairs.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Why a name or value did not decode.
enum Undecodable {
    Escape,
    Utf8,
}

/// `+` to space, then strict percent-decoding (every `%` starts a two-hex-digit escape),
/// then UTF-8.
fn decode(raw: &[u8]) -> Result<String, Undecodable> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    let malformed = spaced.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && !spaced
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if malformed {
        return Err(Undecodable::Escape);
    }
    String::from_utf8(percent_decode(&spaced).collect()).map_err(|_| Undecodable::Utf8)
}

/// A JSON object's members in order, values as their exact text.
struct RawPairs<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for RawPairs<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = RawPairs<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(RawPairs(pairs))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn pairs(form: &Form) -> Vec<(&str, &str)> {
        form.pairs()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn a_form_body_decodes_plus_and_escapes_and_keeps_the_order() {
        let body = b"b=2018-02-13+20%3A09%3A10&a=%E6%94%BF&&flag&empty=&eq=a=b";

        let form = Form::parse(body).unwrap();

        assert_eq!(
            pairs(&form),
            [
                ("b", "2018-02-13 20:09:10"),
                ("a", "政"),
                ("flag", ""),
                ("empty", ""),
                ("eq", "a=b"),
            ]
        );
        assert_eq!(form.get("a"), Some("政"));
        assert_eq!(form.get("missing"), None);
    }

    #[test]
    fn a_malformed_form_is_refused_naming_the_field_or_position() {
        let cases: [(&[u8], FormError); 6] = [
            (
                b"a=1&memo=50%",
                FormError::BadEscape {
                    field: "memo".into(),
                },
            ),
            (
                b"memo=%zz",
                FormError::BadEscape {
                    field: "memo".into(),
                },
            ),
            (
                b"a=1&memo=%FF%FE",
                FormError::NotUtf8 {
                    field: "memo".into(),
                },
            ),
            (b"a=1&=x", FormError::MissingName { position: 2 }),
            (b"a=1&%C3=x", FormError::BadName { position: 2 }),
            (
                b"sign=A&x=1&sign=B",
                FormError::Duplicate {
                    field: "sign".into(),
                },
            ),
        ];

        for (body, expected) in cases {
            assert_eq!(Form::parse(body), Err(expected));
        }
        assert_eq!(Form::parse(b"memo=%FF").unwrap_err().field(), Some("memo"));
    }

    #[test]
    fn a_json_body_keeps_nested_values_exactly_as_received() {
        let body = br#"{"billNo":"1017","totalAmount":100,"ok":true,"memo":null,
            "billPayment":{"totalAmount":1, "payTime":"2018-02-13 20:10:03"},"goods":[1,2]}"#;

        let form = Form::from_json(body).unwrap();

        assert_eq!(
            pairs(&form),
            [
                ("billNo", "1017"),
                ("totalAmount", "100"),
                ("ok", "true"),
                ("memo", ""),
                (
                    "billPayment",
                    r#"{"totalAmount":1, "payTime":"2018-02-13 20:10:03"}"#
                ),
                ("goods", "[1,2]"),
            ]
        );
    }

    #[test]
    fn a_json_body_that_is_not_one_object_with_unique_keys_is_refused() {
        assert_eq!(Form::from_json(b"[1]"), Err(FormError::NotAnObject));
        assert_eq!(
            Form::from_json(br#""secret""#).unwrap_err().to_string(),
            "body: not a JSON object"
        );
        assert!(matches!(
            Form::from_json(b"{\"a\":"),
            Err(FormError::BadJson { .. })
        ));
        assert!(matches!(
            Form::from_json(b"{} {}"),
            Err(FormError::BadJson { .. })
        ));
        assert_eq!(
            Form::from_json(br#"{"sign":"A","sign":"B"}"#),
            Err(FormError::Duplicate {
                field: "sign".into()
            })
        );
    }

    #[test]
    fn encoding_follows_java_url_encoder() {
        let encoded = Form::encode(&[("a b", "x y*-._~&=政"), ("c", "")]);

        assert_eq!(encoded, "a+b=x+y*-._%7E%26%3D%E6%94%BF&c=");
    }

    #[test]
    fn debug_shows_names_but_never_values() {
        let form = Form::parse(b"sign=ABCDEF0123&buyerUsername=Zhang").unwrap();

        let debug = format!("{form:?}");

        assert!(debug.contains("buyerUsername"), "{debug}");
        assert!(
            !debug.contains("ABCDEF0123") && !debug.contains("Zhang"),
            "{debug}"
        );
    }

    proptest! {
        #[test]
        fn encoding_then_parsing_gives_back_the_pairs(
            fields in proptest::collection::btree_map("\\PC{1,12}", "\\PC{0,24}", 0..8),
        ) {
            let pairs: Vec<(String, String)> = fields.into_iter().collect();

            let form = Form::parse(Form::encode(&pairs).as_bytes());

            prop_assert_eq!(form.map(|f| f.pairs().to_vec()), Ok(pairs));
        }

        #[test]
        fn parsing_any_bytes_never_panics(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Form::parse(&body);
            let _ = Form::from_json(&body);
        }

        #[test]
        fn parsing_any_json_text_never_panics(member in ".*", value in ".*") {
            let _ = Form::from_json(format!("{{\"{member}\":{value}}}").as_bytes());
            let _ = Form::from_json(format!("{{\"a\":\"{value}\"}}").as_bytes());
        }
    }
}
