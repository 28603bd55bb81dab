//! The `provider_calls` table: one row per outbound call to the provider. It must not hold
//! a secret, a token, a signature or a buyer's personal field: only what the call log
//! needs (operation, order, status, errCode, latency, outcome).

use crate::store::Connection;
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::provider_calls;
use super::{to_ms, StoreError};

/// One call to record.
#[derive(Debug, Clone)]
pub struct NewCall<'a> {
    /// When it started.
    pub at: DateTime<Utc>,
    /// `update-qrcode`, `mini-pre-query`, `preauthed`, `token`.
    pub operation: &'a str,
    /// The order concerned.
    pub mer_order_id: Option<&'a str>,
    /// HTTP status, if an answer came.
    pub http_status: Option<u16>,
    /// The provider's `errCode`, if it gave one.
    pub err_code: Option<&'a str>,
    /// How long it took.
    pub latency_ms: i64,
    /// `ok`, `refused`, `no_order`, `transient`, `config`, `auth`, `timeout`, `transport`, `invalid_answer`.
    pub outcome: &'a str,
    /// A short explanation (never a secret or a personal field).
    pub detail: Option<&'a str>,
}

/// Records a call; returns its id (evidence reference `call:<id>`).
pub fn insert(conn: &mut Connection, c: &NewCall<'_>) -> Result<i64, StoreError> {
    Ok(diesel::insert_into(provider_calls::table)
        .values((
            provider_calls::at.eq(to_ms(c.at)),
            provider_calls::operation.eq(c.operation),
            provider_calls::mer_order_id.eq(c.mer_order_id),
            provider_calls::http_status.eq(c.http_status.map(i32::from)),
            provider_calls::err_code.eq(c.err_code),
            provider_calls::latency_ms.eq(c.latency_ms),
            provider_calls::outcome.eq(c.outcome),
            provider_calls::detail.eq(c.detail),
        ))
        .returning(provider_calls::id)
        .get_result(conn)?)
}

/// A recorded call, as tests and operators read it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Call {
    /// Id.
    pub id: i64,
    /// Start (Unix ms).
    pub at: i64,
    /// Operation.
    pub operation: String,
    /// Order.
    pub mer_order_id: Option<String>,
    /// HTTP status.
    pub http_status: Option<i32>,
    /// errCode.
    pub err_code: Option<String>,
    /// Latency.
    pub latency_ms: i64,
    /// Outcome.
    pub outcome: String,
    /// Detail.
    pub detail: Option<String>,
}

/// Every recorded call, oldest first (optionally for one order).
pub fn list(conn: &mut Connection, order: Option<&str>) -> Result<Vec<Call>, StoreError> {
    let mut q = provider_calls::table.into_boxed();
    if let Some(o) = order {
        q = q.filter(provider_calls::mer_order_id.eq(o.to_owned()));
    }
    Ok(q.order(provider_calls::id.asc()).load(conn)?)
}
