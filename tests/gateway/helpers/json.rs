//! JSON utilities: settings and bodies merged key by key, answers read as JSON. They must
//! not know what the JSON means.

use serde_json::Value;

/// `b` merged into `a`, objects key by key at every depth (test settings, JSON bodies).
pub fn merged(mut a: Value, b: Value) -> Value {
    match (&mut a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in y {
                let slot = x.remove(&k).unwrap_or(Value::Null);
                x.insert(k, merged(slot, v));
            }
            a
        }
        (_, b) => b,
    }
}

/// JSON if the body is JSON, else the text as a JSON string.
pub(super) fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}
