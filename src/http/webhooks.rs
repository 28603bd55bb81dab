//! Operators' webhook routes (under the `/admin` guard): the deliveries with their
//! attempts, and redelivery of one event or of every failed delivery since a time
//! (`flows::redeliver`). Thin: parse, one store read or one use case, render; it must not
//! write the store nor send anything itself (the worker does, on its next pass).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::body::{parse_json, parse_query, read_json_request};
use super::error::ApiError;
use super::views::rfc3339;
use super::AppState;
use crate::flows;
use crate::flows::redeliver::Redelivery;
use crate::store::deliveries::{self, Delivery, DeliveryStatus};

/// Default and largest page of deliveries.
const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveriesQuery {
    status: Option<String>,
    limit: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AttemptView {
    at: String,
    status_code: Option<i32>,
    latency_ms: i64,
    outcome: String,
    excerpt: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryView {
    id: i64,
    endpoint: String,
    event_id: String,
    #[serde(rename = "type")]
    kind: String,
    mer_order_id: Option<String>,
    status: &'static str,
    attempts: i32,
    next_attempt_at: Option<String>,
    delivered_at: Option<String>,
    history: Vec<AttemptView>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        DeliveryView {
            id: d.id,
            endpoint: d.endpoint,
            event_id: d.event_id,
            kind: d.kind,
            mer_order_id: d.mer_order_id,
            status: d.status.as_str(),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at.map(rfc3339),
            delivered_at: d.delivered_at.map(rfc3339),
            history: d
                .history
                .into_iter()
                .map(|a| AttemptView {
                    at: rfc3339(a.at),
                    status_code: a.status_code,
                    latency_ms: a.latency_ms,
                    outcome: a.outcome,
                    excerpt: a.excerpt,
                })
                .collect(),
        }
    }
}

/// `GET /admin/webhooks/deliveries?status=pending|delivered|failed&limit=`: newest first.
pub async fn deliveries(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q: DeliveriesQuery = parse_query(req.query_string())?;
    let status = q
        .status
        .map(|s| {
            DeliveryStatus::parse(&s)
                .ok_or_else(|| ApiError::field("status", "must be pending, delivered or failed"))
        })
        .transpose()?;
    let limit = flows::page_limit(q.limit, DEFAULT_PAGE, MAX_PAGE)?;
    let list = state
        .db
        .run(move |c| deliveries::list(c, status, limit))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "deliveries": list.into_iter().map(DeliveryView::from).collect::<Vec<_>>()
    })))
}

/// `POST /admin/webhooks/redeliver` with `{"eventId": "evt_…"}` (every delivery of that
/// event, whatever its status) or `{"since": RFC 3339, "status": "failed"}` (every failed
/// delivery of an event committed since): they are pending again, due now, with a fresh
/// back-off (`flows::redeliver`). Answers `{"redelivered": n}`.
pub async fn redeliver(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let by = super::admin::operator(&req)?;
    let body = read_json_request(&req, payload, state.settings.api.listener.max_body_bytes).await?;
    let (ask, _) = parse_json::<Redelivery>(&body)?;
    let n = flows::redeliver::redeliver(&state, &by, ask).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "redelivered": n })))
}
