//! Reading a field as the provider reads it, not only as its table types it: the provider's
//! own example requests send `""` for unused fields, arrays and objects as JSON text, and
//! booleans as `"true"`/`"false"`. Owns the `deserialize_with` helpers for that (numbers
//! given as digit strings are `int`'s); it must not touch serialisation: what the gateway
//! sends keeps the table's types.
//!
//! Every helper refuses what it still cannot read with a reason; the caller's path
//! (`serde_path_to_error`) names the field.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// An optional field of any type where `null` and `""` read as absent.
pub fn opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    match present(d)? {
        None => Ok(None),
        Some(value) => T::deserialize(value).map(Some).map_err(D::Error::custom),
    }
}

/// An optional array or object, also accepted as the same value written as JSON text
/// (`"goods":"[{…}]"`); `null` and `""` read as absent.
pub fn structured<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    match present(d)? {
        None => Ok(None),
        Some(Value::String(text)) => serde_json::from_str(&text).map(Some).map_err(|e| {
            D::Error::custom(format!(
                "a string here must hold the value as JSON text: {e}"
            ))
        }),
        Some(value) => T::deserialize(value).map(Some).map_err(D::Error::custom),
    }
}

/// An optional boolean: `true`/`false`, or the text `"true"`/`"false"`; `null` and `""`
/// read as absent.
pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match present(d)? {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(Value::String(s)) if s == "true" => Ok(Some(true)),
        Some(Value::String(s)) if s == "false" => Ok(Some(false)),
        Some(_) => Err(D::Error::custom(
            "must be true or false (a boolean, or the text \"true\" or \"false\")",
        )),
    }
}

/// The value, or `None` for `null` and `""`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        value => Some(value),
    })
}

#[cfg(test)]
mod tests {
    use super::super::from_json;
    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    struct Item {
        id: String,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Fields {
        #[serde(default, deserialize_with = "structured")]
        items: Option<Vec<Item>>,
        #[serde(default, deserialize_with = "flag")]
        on: Option<bool>,
        #[serde(default, deserialize_with = "opt")]
        kind: Option<u8>,
    }

    fn read(json: &str) -> Result<Fields, String> {
        from_json::<Fields>(json.as_bytes()).map_err(|e| e.to_string())
    }

    #[test]
    fn an_array_reads_the_same_whether_sent_as_json_or_as_json_text() {
        let direct = read(r#"{"items":[{"id":"001"}]}"#).unwrap();
        let as_text = read(r#"{"items":"[{\"id\":\"001\"}]"}"#).unwrap();

        assert_eq!(direct.items, Some(vec![Item { id: "001".into() }]));
        assert_eq!(as_text, direct);
    }

    #[test]
    fn booleans_read_from_json_booleans_or_their_text() {
        for (json, expected) in [
            ("true", Some(true)),
            ("false", Some(false)),
            ("\"true\"", Some(true)),
            ("\"false\"", Some(false)),
            ("\"\"", None),
            ("null", None),
        ] {
            assert_eq!(
                read(&format!(r#"{{"on":{json}}}"#)).unwrap().on,
                expected,
                "{json}"
            );
        }
    }

    #[test]
    fn an_empty_string_or_null_reads_as_absent_for_every_helper() {
        let empty = read(r#"{"items":"","on":"","kind":""}"#).unwrap();
        let null = read(r#"{"items":null,"on":null,"kind":null}"#).unwrap();

        let absent = Fields {
            items: None,
            on: None,
            kind: None,
        };
        assert_eq!(empty, absent);
        assert_eq!(null, absent);
    }

    #[test]
    fn what_still_cannot_be_read_is_refused_naming_the_field() {
        for (json, field) in [
            (r#"{"items":"[{\"id\":1}]"}"#, "items"),
            (r#"{"items":"not json"}"#, "items"),
            (r#"{"items":{"id":"001"}}"#, "items"),
            (r#"{"on":"yes"}"#, "on"),
            (r#"{"on":1}"#, "on"),
            (r#"{"kind":"x"}"#, "kind"),
        ] {
            let error = read(json).unwrap_err();

            assert!(error.starts_with(&format!("{field}: ")), "{json}: {error}");
        }
    }
}
