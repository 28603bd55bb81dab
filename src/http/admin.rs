//! Operators' routes under `/admin` and their guard: a bearer token compared in constant
//! time; no token configured means the routes answer 403. It must not reveal whether a
//! presented token was close, nor log it.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};

use super::body::parse_query;
use super::error::ApiError;
use super::orders::rfc3339;
use super::AppState;
use crate::store::notifications;

/// Admits a request only with `Authorization: Bearer <admin.token>`. A refusal is an
/// answer, not an error, so that the access log and the request metrics still see it.
pub async fn require_token<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let token = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| s.settings.admin.token.clone());
    let refusal = match token {
        None => {
            ApiError::Forbidden("admin routes are disabled: no admin token is configured".into())
        }
        Some(token) => {
            let presented = req
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            match presented {
                Some(p) if token.matches(p.trim().as_bytes()) => {
                    return Ok(next.call(req).await?.map_into_left_body())
                }
                _ => ApiError::Unauthorized,
            }
        }
    };
    Ok(req
        .into_response(refusal.error_response())
        .map_into_right_body())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JournalQuery {
    order: Option<String>,
    verified: Option<bool>,
    outcome: Option<String>,
    limit: Option<i64>,
    after: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EntryView {
    id: i64,
    received_at: String,
    kind: String,
    notify_id: Option<String>,
    order_ref: Option<String>,
    content_type: Option<String>,
    remote_addr: Option<String>,
    verified: bool,
    outcome: String,
    detail: Option<String>,
}

/// Largest journal page.
const MAX_PAGE: i64 = 500;

/// `GET /admin/notifications?order=&verified=&outcome=&limit=&after=`: the inbound journal.
pub async fn notifications(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q: JournalQuery = parse_query(req.query_string())?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::field(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        ));
    }
    let filter = notifications::Filter {
        order_ref: q.order,
        verified: q.verified,
        outcome: q.outcome,
        after: q.after,
        limit,
    };
    let rows = state
        .db
        .run(move |c| notifications::list(c, &filter))
        .await?;
    let next_after = (rows.len() == usize::try_from(limit).unwrap_or(usize::MAX))
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let views: Vec<EntryView> = rows
        .into_iter()
        .map(|e| EntryView {
            id: e.id,
            received_at: rfc3339(e.received_at),
            kind: e.kind,
            notify_id: e.notify_id,
            order_ref: e.order_ref,
            content_type: e.content_type,
            remote_addr: e.remote_addr,
            verified: e.verified,
            outcome: e.outcome,
            detail: e.detail,
        })
        .collect();
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({"notifications": views, "nextAfter": next_after})))
}
