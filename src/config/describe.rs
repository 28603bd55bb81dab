//! `check-config`'s listing: the effective configuration, one `key = value  # origin` line
//! per key, secrets redacted (a database URL's password only). It must not validate or change a value.

use figment::value::Value;
use figment::Figment;

use super::load::{origin_of, ORIGIN_DEFAULT};
use super::{is_secret, Settings};

/// The effective configuration, one `key = value  # origin` line per key in the spellings
/// a configuration file uses, secrets as `[redacted]`, `store.path` as resolved.
pub fn describe(figment: &Figment, settings: &Settings) -> String {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
        match value {
            Value::Dict(_, dict) => {
                for (k, v) in dict {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            leaf => {
                let shown = if prefix == "store.url" {
                    let raw = leaf.as_str().unwrap_or_default();
                    serde_json::to_string(&super::redacted_url(raw)).unwrap_or_default()
                } else if is_secret(prefix) {
                    format!("\"{}\"", crate::secret::REDACTED)
                } else if prefix == "store.path" {
                    String::new()
                } else {
                    serde_json::to_string(leaf).unwrap_or_default()
                };
                out.push((prefix.to_owned(), shown));
            }
        }
    }
    let mut lines = Vec::new();
    if let Ok(root) = figment.extract::<Value>() {
        walk("", &root, &mut lines);
    }
    lines
        .into_iter()
        .map(|(key, value)| {
            let value = if key == "store.path" {
                serde_json::to_string(&settings.store.path).unwrap_or_default()
            } else {
                value
            };
            let origin = figment
                .find_metadata(&key)
                .map(|m| origin_of(m, &key))
                .unwrap_or_else(|| ORIGIN_DEFAULT.into());
            format!("{key} = {value}  # {origin}\n")
        })
        .collect()
}
