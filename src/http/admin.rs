//! Operators' routes under `/admin` and their guard: a bearer token compared in constant
//! time; no token configured means the routes answer 403. The actions call their use case
//! (`flows::resync`, `flows::review`), which checks the operator may act. It must not reveal
//! whether a presented token was close, nor log it, nor write the store itself.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};

use super::body::{parse_json, parse_query, read_json_request};
use super::client_addr::client_of;
use super::error::ApiError;
use super::limits::{self, Admission};
use super::orders::path_id;
use super::views::{rfc3339, CheckView, OrderView};
use super::AppState;
use crate::flows;
use crate::flows::resync::{Resynced, Selection};
use crate::flows::review::{ReviewAction, ReviewOutcome};
use crate::notify::{Outcome, KIND_CONTRACT, KIND_PAYMENT};
use crate::operators::Operator;
use crate::provider::ProviderClient;
use crate::store::notifications;

/// Admits a request only with `Authorization: Bearer <token>` of a configured operator
/// (`admin.token` or one of `admin.tokens`), and puts that [`Operator`] in the request's
/// extensions for the handlers. Past the operators' failure limit (`http::limits`, shared
/// with the console's sign-in and by every instance) the token is not looked at: 429 with
/// `Retry-After`. A refusal is an answer, not an error, so that the access log and the
/// request metrics still see it.
pub async fn require_token<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let refusal = match req.app_data::<web::Data<AppState>>().cloned() {
        None => disabled(),
        Some(state) => match admit(&state, &req).await {
            Ok(operator) => {
                req.extensions_mut().insert(operator);
                return Ok(next.call(req).await?.map_into_left_body());
            }
            Err(refusal) => refusal,
        },
    };
    Ok(req
        .into_response(refusal.error_response())
        .map_into_right_body())
}

/// The refusal when no operator is configured.
fn disabled() -> ApiError {
    ApiError::Forbidden("admin routes are disabled: no admin token is configured".into())
}

/// The operator whose bearer token `req` presents, within the failure limit.
async fn admit(state: &AppState, req: &ServiceRequest) -> Result<Operator, ApiError> {
    let roster = state.settings.admin.roster();
    if roster.is_empty() {
        return Err(disabled());
    }
    let (peer, now) = (client_of(req.request()), state.now());
    if let Admission::Limited { retry_after_secs } =
        limits::operator_admission(&state.db, peer, now).await?
    {
        return Err(ApiError::TooManyFailures { retry_after_secs });
    }
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|p| !p.is_empty());
    match presented.map(|p| roster.authenticate(p.as_bytes())) {
        Some(Some(operator)) => Ok(operator),
        // A wrong token is a guess, and counted; no token at all guesses nothing.
        Some(None) => {
            limits::operator_refused(&state.db, peer, now).await?;
            Err(ApiError::Unauthorized)
        }
        None => Err(ApiError::Unauthorized),
    }
}

/// The operator the guard admitted the request for (whether they may act is the use
/// case's to say).
pub fn operator(req: &HttpRequest) -> Result<Operator, ApiError> {
    req.extensions()
        .get::<Operator>()
        .cloned()
        .ok_or(ApiError::Unauthorized)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JournalQuery {
    kind: Option<String>,
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

/// Default and largest journal page.
const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 500;

/// `GET /admin/notifications?kind=&order=&verified=&outcome=&limit=&after=`: the inbound
/// journal, oldest first. `outcome=rejected` lists every refused notice (the reason leads
/// its `detail`), `outcome=orphan` the verified ones for no known order, `outcome=review`
/// those that flagged their order for review.
pub async fn notifications(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q: JournalQuery = parse_query(req.query_string())?;
    let limit = flows::page_limit(q.limit, DEFAULT_PAGE, MAX_PAGE)?;
    if let Some(k) = q.kind.as_deref() {
        if ![KIND_PAYMENT, KIND_CONTRACT].contains(&k) {
            return Err(ApiError::field(
                "kind",
                format!("must be {KIND_PAYMENT} or {KIND_CONTRACT}"),
            ));
        }
    }
    if let Some(o) = q.outcome.as_deref() {
        if !Outcome::JOURNAL_VALUES.contains(&o) {
            return Err(ApiError::field(
                "outcome",
                format!("must be one of {}", Outcome::JOURNAL_VALUES.join(", ")),
            ));
        }
    }
    let filter = notifications::Filter {
        kind: q.kind,
        order_ref: q.order,
        verified: q.verified,
        outcome: q.outcome,
        after: q.after,
        since: None,
        newest_first: false,
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

/// `POST /admin/orders/{merOrderId}/resync`: asks the provider now, whatever the schedule,
/// and answers the order before and after (`flows::resync::one`).
pub async fn resync_one(
    state: web::Data<AppState>,
    client: web::Data<ProviderClient>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let by = operator(&req)?;
    let check = flows::resync::one(&state, &client, &by, path_id(&req)?).await?;
    Ok(HttpResponse::Ok().json(CheckView::from(&check)))
}

/// `POST /admin/resync` `{status?, since?, limit?, dryRun?}`: resyncs many orders with
/// the reconciler's concurrency and rate cap; a dry run lists what it would query
/// (`flows::resync::many`).
pub async fn resync_many(
    state: web::Data<AppState>,
    client: web::Data<ProviderClient>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let by = operator(&req)?;
    let body = read_json_request(&req, payload, state.settings.api.listener.max_body_bytes).await?;
    let selection: Selection = if body.is_empty() {
        Selection::default()
    } else {
        parse_json(&body)?.0
    };
    Ok(
        match flows::resync::many(&state, &client, &by, selection).await? {
            Resynced::DryRun(ids) => {
                let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
                HttpResponse::Ok().json(serde_json::json!({"dryRun": true, "wouldQuery": ids}))
            }
            Resynced::Done(report, checks) => HttpResponse::Ok().json(serde_json::json!({
                "dryRun": false,
                "selected": report.selected,
                "checked": report.checked,
                "moved": report.moved,
                "flagged": report.flagged,
                "stoppedForConfig": report.stopped_for_config,
                "results": checks.iter().map(CheckView::from).collect::<Vec<_>>(),
            })),
        },
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ReviewBody {
    action: String,
    note: Option<String>,
    version: Option<i64>,
}

/// `POST /admin/orders/{merOrderId}/review`
/// `{"action":"acknowledge"|"resync","note":"…","version":N}`: an operator's review action
/// (see `flows::review`). An acknowledgement needs the order's `version` the operator
/// reviewed (400 naming it when absent) and clears the flag only if the order is still at
/// it (409 `review_changed` with the `version` and `reviewReason` now otherwise). Answers
/// the order after an acknowledgement, the order before and after a resync. A viewer gets
/// 403.
pub async fn review(
    state: web::Data<AppState>,
    client: web::Data<ProviderClient>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let operator = operator(&req)?;
    let id = path_id(&req)?;
    let body = read_json_request(&req, payload, state.settings.api.listener.max_body_bytes).await?;
    let (b, _) = parse_json::<ReviewBody>(&body)?;
    let action = ReviewAction::parse(&b.action)
        .ok_or_else(|| ApiError::field("action", "must be \"acknowledge\" or \"resync\""))?;
    let note = b.note.unwrap_or_default();
    let done =
        flows::review::review(&state, &client, &operator, id, action, &note, b.version).await?;
    Ok(HttpResponse::Ok().json(match done {
        ReviewOutcome::Acknowledged(order) => serde_json::json!({
            "action": action.as_str(),
            "operator": operator.name,
            "order": OrderView::from(order.as_ref()),
        }),
        ReviewOutcome::Resynced(check) => serde_json::json!({
            "action": action.as_str(),
            "operator": operator.name,
            "check": CheckView::from(check.as_ref()),
        }),
    }))
}
