//! Reading request bodies and query strings at the boundary, with limits and errors that
//! name the field. Shared by both listeners; it must not interpret what it reads beyond
//! the syntax.

use actix_web::web::{Bytes, BytesMut, Payload};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A body read up to a limit.
#[derive(Debug)]
pub enum Limited {
    /// The whole body, within the limit.
    Whole(Bytes),
    /// The body passed the limit: its first `limit` bytes (the rest was never buffered).
    TooLarge(Bytes),
}

/// Reads the body, keeping at most `limit` bytes: as soon as the limit is passed, reading
/// stops and the first `limit` bytes are returned as [`Limited::TooLarge`] (callers that
/// journal what they refuse keep that prefix).
pub async fn read_up_to(mut payload: Payload, limit: usize) -> Result<Limited, ApiError> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::InvalidJson(format!("could not read the body: {e}")))?;
        if buf.len() + chunk.len() > limit {
            let room = limit - buf.len();
            buf.extend_from_slice(&chunk[..room]);
            return Ok(Limited::TooLarge(buf.freeze()));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Limited::Whole(buf.freeze()))
}

/// Reads the whole body, refusing more than `limit` bytes with 413 as soon as the limit is
/// passed (the rest is never buffered).
pub async fn read_limited(payload: Payload, limit: usize) -> Result<Bytes, ApiError> {
    match read_up_to(payload, limit).await? {
        Limited::Whole(body) => Ok(body),
        Limited::TooLarge(_) => Err(ApiError::TooLarge { limit }),
    }
}

/// Parses JSON into `T`, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<(T, serde_json::Value), ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body)
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
