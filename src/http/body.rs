//! Reading request bodies and query strings at the boundary, with limits and errors that
//! name the field. Shared by both listeners; it must not interpret what it reads beyond
//! the syntax.

use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::web::{Bytes, BytesMut, Payload};
use actix_web::HttpRequest;
use std::fmt;

use futures_util::StreamExt;
use serde::de::{DeserializeOwned, Error as _, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::error::ApiError;
use super::limits::BodyTimeout;

/// The body deadline of a listener without one configured (tests building a bare app).
const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A body read up to a limit.
#[derive(Debug)]
pub enum Limited {
    /// The whole body, within the limit.
    Whole(Bytes),
    /// The body passed the limit: its first `limit` bytes (the rest was never buffered).
    /// Empty when its declared `Content-Length` was over the limit: nothing was read.
    TooLarge(Bytes),
}

/// Reads the body, keeping at most `limit` bytes: a declared `Content-Length` over the
/// limit is refused before anything is read; otherwise, as soon as the limit is passed,
/// reading stops and the first `limit` bytes are returned as [`Limited::TooLarge`]
/// (callers that journal what they refuse keep that prefix). The whole body must arrive
/// within the listener's [`BodyTimeout`], else [`ApiError::BodyTimeout`] (408; actix then
/// closes the connection, since the rest of the body was never read).
pub async fn read_up_to(
    req: &HttpRequest,
    mut payload: Payload,
    limit: usize,
) -> Result<Limited, ApiError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return Ok(Limited::TooLarge(Bytes::new()));
    }
    let deadline = req
        .app_data::<BodyTimeout>()
        .map_or(DEFAULT_BODY_TIMEOUT, |t| t.0);
    let read = async move {
        let mut buf = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk
                .map_err(|e| ApiError::InvalidJson(format!("could not read the body: {e}")))?;
            if buf.len() + chunk.len() > limit {
                let room = limit - buf.len();
                buf.extend_from_slice(&chunk[..room]);
                return Ok(Limited::TooLarge(buf.freeze()));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(Limited::Whole(buf.freeze()))
    };
    actix_web::rt::time::timeout(deadline, read)
        .await
        .map_err(|_| ApiError::BodyTimeout {
            secs: deadline.as_secs_f64(),
        })?
}

/// Reads a JSON request body of the api listener: refuses any content type but
/// `application/json` (415), even for an empty body, so that a browser on another site
/// cannot make the request without a CORS preflight (a "simple" request carries only form
/// or text types); then reads at most `limit` bytes.
pub async fn read_json_request(
    req: &HttpRequest,
    payload: Payload,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let media = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    if !media.is_some_and(|m| m.eq_ignore_ascii_case("application/json")) {
        return Err(ApiError::UnsupportedMediaType);
    }
    read_limited(req, payload, limit).await
}

/// Reads the whole body, refusing more than `limit` bytes with 413 as soon as the limit is
/// passed or declared (the rest is never buffered).
pub async fn read_limited(
    req: &HttpRequest,
    payload: Payload,
    limit: usize,
) -> Result<Bytes, ApiError> {
    match read_up_to(req, payload, limit).await? {
        Limited::Whole(body) => Ok(body),
        Limited::TooLarge(_) => Err(ApiError::TooLarge { limit }),
    }
}

/// Parses JSON into `T`, naming the field at fault. An object that repeats a key, at any
/// depth, is refused: which of the values counts would depend on the parser, and a request
/// that moves money must mean one thing (`{"dryRun":true,"dryRun":false}`).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<(T, serde_json::Value), ApiError> {
    let Unique(value) = serde_json::from_slice(body)
        .map_err(|e| ApiError::InvalidJson(format!("body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::InvalidJson("body must be a JSON object".into()));
    }
    let parsed = serde_path_to_error::deserialize(&value).map_err(path_error)?;
    Ok((parsed, value))
}

/// Parses a query string into `T`, naming the parameter at fault.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(path_error)
}

fn path_error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner().to_string();
    if path == "." || path.is_empty() {
        // Unknown or missing fields are reported by serde at the top level, and name
        // the field in the message itself.
        let field = inner.split('`').nth(1).unwrap_or("body").to_owned();
        ApiError::InvalidField {
            field,
            message: inner,
        }
    } else {
        ApiError::InvalidField {
            field: path,
            message: inner,
        }
    }
}

/// A JSON value read with every object's keys unique (serde_json keeps the last of repeated
/// keys silently). Depth stays bounded by serde_json's recursion limit.
struct Unique(serde_json::Value);

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        // serde_json refuses non-finite numbers before they get here; Null is unreachable.
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Unique(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(items.into())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if members.contains_key(&key) {
                return Err(A::Error::custom(format!(
                    "key `{key}` is given more than once"
                )));
            }
            let Unique(value) = map.next_value()?;
            members.insert(key, value);
        }
        Ok(members.into())
    }
}
