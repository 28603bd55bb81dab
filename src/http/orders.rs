//! The orders API: create (idempotent), read (and long-poll), list, history. Thin handlers: parse the
//! request, call one use case (`flows::create`) or one store read off the executor, render
//! the answer. They must not change an order.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::body::{parse_json, parse_query, read_json_request};
use super::error::ApiError;
use super::views::{EventView, OrderView};
use super::AppState;
use crate::domain::ids::MerOrderId;
use crate::domain::order::OrderStatus;
use crate::domain::record::Order;
use crate::flows::create::{self, CreateOrder, Created};
use crate::flows::watch::{self, Waited};
use crate::provider::ProviderClient;
use crate::store::orders::{self, ListFilter};
use crate::store::{events, refunds};

/// Default and largest page of `GET /orders`.
const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;

/// `POST /orders`: creates the order, and with `qrCodeId` binds it at the provider.
/// Answers 201 (bound, or tracked), 200 (the same request again), 202 (stored, but the
/// bind's outcome is unknown: the reconciler settles it), 409, 422 (the provider refused
/// the bill; the order is kept, marked refused), 502 (the provider refuses our
/// credentials).
pub async fn create(
    state: web::Data<AppState>,
    client: web::Data<ProviderClient>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json_request(&req, payload, state.settings.api.listener.max_body_bytes).await?;
    let (request, raw) = parse_json::<CreateOrder>(&body)?;
    Ok(
        match create::create(&state, &client, request, &raw).await? {
            Created::New(o) => HttpResponse::Created().json(OrderView::from(&o)),
            Created::Existing(o) => HttpResponse::Ok().json(OrderView::from(&o)),
            Created::BindUnknown(o) => HttpResponse::Accepted().json(OrderView::from(&o)),
        },
    )
}

/// Parses the `{merOrderId}` path segment. Ids of another merchant's source id are
/// accepted here: they may predate a configuration change.
pub(crate) fn path_id(req: &HttpRequest) -> Result<MerOrderId, ApiError> {
    let raw = req.match_info().get("merOrderId").unwrap_or_default();
    MerOrderId::parse_stored(raw).map_err(|e| ApiError::field("merOrderId", e))
}

/// Loads an order or answers 404.
pub(crate) async fn load(state: &AppState, id: MerOrderId) -> Result<Order, ApiError> {
    let shown = id.to_string();
    state
        .db
        .run(move |c| orders::find(c, &id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no order {shown}")))
}

/// Longest long-poll, seconds: under the usual 60-90 s idle timeouts of proxies between
/// a backend and the gateway.
const MAX_WAIT_SECS: u64 = 60;
/// `Retry-After` when the long-poll waiting room is full: waits end within a minute, and
/// most far sooner (a payment arrives), so places free up quickly.
const BUSY_RETRY_AFTER_SECS: u64 = 1;

/// `GET /orders/{merOrderId}` query.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GetQuery {
    /// Long-poll for at most this many seconds.
    wait: Option<u64>,
    /// With `wait`: answer once the order's version is above this.
    after: Option<i64>,
}

/// `GET /orders/{merOrderId}`, and with `?wait=<s>[&after=<version>]` the long-poll: the
/// order as soon as its version is above `after` (without `after`: as soon as it is
/// final), or as it is after `wait` seconds; 503 with `Retry-After` when too many wait.
pub async fn get(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let q: GetQuery = parse_query(req.query_string())?;
    let id = path_id(&req)?;
    let Some(wait) = q.wait else {
        if q.after.is_some() {
            return Err(ApiError::field("after", "is used only with wait"));
        }
        let order = load(&state, id).await?;
        return answer_order(&state, &order).await;
    };
    if wait > MAX_WAIT_SECS {
        return Err(ApiError::field(
            "wait",
            format!("must be at most {MAX_WAIT_SECS} seconds"),
        ));
    }
    let shown = id.to_string();
    match watch::wait_for(&state, &id, q.after, Duration::from_secs(wait)).await? {
        Waited::Order(order) => answer_order(&state, &order).await,
        Waited::NotFound => Err(ApiError::NotFound(format!("no order {shown}"))),
        Waited::Full => Err(ApiError::Busy {
            what: "too many long-polls wait already".into(),
            retry_after_secs: BUSY_RETRY_AFTER_SECS,
        }),
    }
}

/// The order as `GET /orders/{id}` shows it: with the refunds the provider reported.
async fn answer_order(state: &AppState, order: &Order) -> Result<HttpResponse, ApiError> {
    let id = order.id.clone();
    let refunds = state.db.run(move |c| refunds::of(c, &id)).await?;
    Ok(HttpResponse::Ok().json(OrderView::from(order).with_refunds(&refunds)))
}

/// `GET /orders` query.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    needs_review: Option<bool>,
    limit: Option<i64>,
    after: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderPage {
    orders: Vec<OrderView>,
    /// Pass as `after` for the next page; `null` on the last one.
    next_after: Option<String>,
}

/// `GET /orders`.
pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let q: ListQuery = parse_query(req.query_string())?;
    let status = q
        .status
        .map(|s| {
            OrderStatus::parse(&s).ok_or_else(|| {
                ApiError::field(
                    "status",
                    "must be PENDING, AUTHORIZED, PAID, REFUNDED or CLOSED",
                )
            })
        })
        .transpose()?;
    let limit = crate::flows::page_limit(q.limit, DEFAULT_PAGE, MAX_PAGE)?;
    let filter = ListFilter {
        statuses: status.into_iter().collect(),
        created_since: None,
        needs_review: q.needs_review,
        after: q.after,
        limit,
    };
    let found = state.db.run(move |c| orders::list(c, &filter)).await?;
    let next_after = (found.len() == usize::try_from(limit).unwrap_or(usize::MAX))
        .then(|| found.last().map(|o| o.id.to_string()))
        .flatten();
    Ok(HttpResponse::Ok().json(OrderPage {
        orders: found.iter().map(OrderView::from).collect(),
        next_after,
    }))
}

/// `GET /orders/{merOrderId}/events`.
pub async fn events(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&req)?;
    let order = load(&state, id).await?;
    let list = state
        .db
        .run(move |c| events::list_for(c, &order.id))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "events": list.iter().map(EventView::from).collect::<Vec<_>>()
    })))
}
