//! Reading request bodies and query strings at the boundary, with limits and errors that
//! name the field. Shared by both listeners; it must not interpret what it reads beyond
//! the syntax.

use actix_web::web::{Bytes, BytesMut, Payload};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Reads the whole body, refusing more than `limit` bytes with 413 as soon as the limit is
/// passed (the rest is never buffered).
pub async fn read_limited(mut payload: Payload, limit: usize) -> Result<Bytes, ApiError> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::InvalidJson(format!("could not read the body: {e}")))?;
        if buf.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge { limit });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
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
