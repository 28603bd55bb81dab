//! The orders API: create (idempotent), read, list, history. Thin handlers: parse and
//! validate the request into domain types, run store functions off the executor, shape
//! the answer. They must not change a status (only the state machine does).

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::body::{parse_json, parse_query, read_limited};
use super::error::ApiError;
use super::AppState;
use crate::chinaums::time;
use crate::domain::ids::{MerOrderId, MsgSrcId};
use crate::domain::money::Amount;
use crate::domain::order::OrderStatus;
use crate::domain::record::{NewOrder, Order, OrderEvent};
use crate::store::events;
use crate::store::orders::{self, Created, ListFilter};

/// Business type of a bill bound to a QR code.
pub const INST_MID_BILL: &str = "QRPAYDEFAULT";
/// Business type of a tracked (mini-program) order.
pub const INST_MID_MINI: &str = "MINIDEFAULT";
/// Longest expiry the provider allows for a one-time code (seed 002: "最长为90天").
const MAX_EXPIRY: chrono::Duration = chrono::Duration::days(90);
/// `billDesc` limit of seed 002, in bytes.
const MAX_DESCRIPTION_BYTES: usize = 255;
/// `qrCodeId` limit of seed 002.
const MAX_QR_CODE_ID: usize = 32;
/// Default and largest page of `GET /orders`.
const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;

/// `POST /orders` body, as the caller sends it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateOrderBody {
    amount: Option<serde_json::Value>,
    mer_order_id: Option<String>,
    description: Option<String>,
    expire_time: Option<String>,
    expires_in_seconds: Option<i64>,
    qr_code_id: Option<String>,
    inst_mid: Option<String>,
    preauth: Option<bool>,
}

/// Validates a create request into a new order.
fn new_order(
    body: CreateOrderBody,
    digest: String,
    state: &AppState,
    now: DateTime<Utc>,
) -> Result<NewOrder, ApiError> {
    let s = &state.settings;
    let src: MsgSrcId = s.provider.msg_src_id();
    let raw_amount = body
        .amount
        .ok_or_else(|| ApiError::field("amount", "is required"))?;
    let amount = Amount::parse_json(&raw_amount)
        .and_then(|a| Amount::payment(a.fen(), s.orders.max_amount_fen))
        .map_err(|e| ApiError::field("amount", e))?;
    let id = match &body.mer_order_id {
        Some(raw) => MerOrderId::parse(raw, &src).map_err(|e| ApiError::field("merOrderId", e))?,
        None => MerOrderId::generate(&src, now),
    };
    if let Some(q) = &body.qr_code_id {
        if q.is_empty()
            || q.chars().count() > MAX_QR_CODE_ID
            || !q.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(ApiError::field(
                "qrCodeId",
                format!("must be 1 to {MAX_QR_CODE_ID} printable characters"),
            ));
        }
        if id.as_str().len() > MerOrderId::MAX_BILL_NO_LEN {
            return Err(ApiError::field(
                "merOrderId",
                format!(
                    "is the bill number of a bound order, so must be at most {} characters",
                    MerOrderId::MAX_BILL_NO_LEN
                ),
            ));
        }
    }
    if body
        .description
        .as_ref()
        .is_some_and(|d| d.len() > MAX_DESCRIPTION_BYTES)
    {
        return Err(ApiError::field(
            "description",
            format!("must be at most {MAX_DESCRIPTION_BYTES} bytes of UTF-8"),
        ));
    }
    let expire_at = match (&body.expire_time, body.expires_in_seconds) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "expireTime",
                "give expireTime or expiresInSeconds, not both",
            ))
        }
        (Some(t), None) => {
            let at = time::parse_body(t).ok_or_else(|| {
                ApiError::field("expireTime", "must be yyyy-MM-dd HH:mm:ss in Beijing time")
            })?;
            if at <= now || at > now + MAX_EXPIRY {
                return Err(ApiError::field(
                    "expireTime",
                    "must be in the future and at most 90 days away",
                ));
            }
            at
        }
        (None, Some(secs)) => {
            if secs <= 0 || secs > MAX_EXPIRY.num_seconds() {
                return Err(ApiError::field(
                    "expiresInSeconds",
                    format!("must be between 1 and {}", MAX_EXPIRY.num_seconds()),
                ));
            }
            now + chrono::Duration::seconds(secs)
        }
        (None, None) => {
            now + chrono::Duration::from_std(s.orders.default_expiry)
                .unwrap_or(MAX_EXPIRY)
                .min(MAX_EXPIRY)
        }
    };
    let inst_mid = match body.inst_mid {
        Some(m) => {
            if !(8..=32).contains(&m.len()) || !m.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(ApiError::field(
                    "instMid",
                    "must be 8 to 32 letters or digits",
                ));
            }
            m
        }
        None if body.qr_code_id.is_some() => INST_MID_BILL.to_owned(),
        None => INST_MID_MINI.to_owned(),
    };
    Ok(NewOrder {
        id,
        mid: s.provider.mid.clone(),
        tid: s.provider.tid.clone(),
        inst_mid,
        qr_code_id: body.qr_code_id,
        amount,
        description: body.description,
        preauth: body.preauth.unwrap_or(false),
        expire_at,
        request_digest: digest,
    })
}

/// SHA-256 of the request's JSON with object keys sorted: the same content sent again,
/// in any key order or spacing, is the same request.
fn request_digest(value: &serde_json::Value) -> String {
    fn canonical(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let mut keys: Vec<_> = m.keys().collect();
                keys.sort();
                serde_json::Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), canonical(&m[k])))
                        .collect(),
                )
            }
            serde_json::Value::Array(a) => {
                serde_json::Value::Array(a.iter().map(canonical).collect())
            }
            other => other.clone(),
        }
    }
    hex::encode(Sha256::digest(canonical(value).to_string().as_bytes()))
}

/// `POST /orders`.
pub async fn create(
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_limited(payload, state.settings.api.max_body_bytes).await?;
    let (parsed, value) = parse_json::<CreateOrderBody>(&body)?;
    let now = Utc::now();
    let new = new_order(parsed, request_digest(&value), &state, now)?;
    let first_check = now
        + chrono::Duration::from_std(state.settings.reconcile.first_check_after)
            .unwrap_or_default();
    let order = Order::create(new, now, first_check);
    match state.db.write(move |c| orders::create(c, &order)).await? {
        Created::New(o) => Ok(HttpResponse::Created().json(OrderView::from(&o))),
        Created::Existing(o) => Ok(HttpResponse::Ok().json(OrderView::from(&o))),
        Created::Conflict(o) => Err(ApiError::Conflict(format!(
            "order {} exists with a different request",
            o.id
        ))),
    }
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

/// `GET /orders/{merOrderId}`.
pub async fn get(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let order = load(&state, path_id(&req)?).await?;
    Ok(HttpResponse::Ok().json(OrderView::from(&order)))
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
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::field(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        ));
    }
    let filter = ListFilter {
        status,
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

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An order as the API shows it (DESIGN.md §3a).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    mer_order_id: String,
    status: &'static str,
    amount: Amount,
    paid_amount: Option<Amount>,
    refunded_amount: Amount,
    description: Option<String>,
    bill_no: Option<String>,
    bill_date: Option<String>,
    qr_code_id: Option<String>,
    #[serde(rename = "billQRCode")]
    bill_qr_code: Option<String>,
    binding: &'static str,
    binding_error: Option<String>,
    inst_mid: String,
    preauth: bool,
    expire_at: String,
    provider: ProviderView,
    needs_review: bool,
    review_reason: Option<String>,
    reconcile: ReconcileView,
    created_at: String,
    updated_at: String,
    version: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProviderView {
    status: Option<String>,
    seq_id: Option<String>,
    target_order_id: Option<String>,
    target_sys: Option<String>,
    pay_time: Option<String>,
    settle_date: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReconcileView {
    attempts: u32,
    next_check_at: Option<String>,
    last_checked_at: Option<String>,
}

impl From<&Order> for OrderView {
    fn from(o: &Order) -> Self {
        OrderView {
            mer_order_id: o.id.to_string(),
            status: o.status.as_str(),
            amount: o.amount,
            paid_amount: o.paid_amount,
            refunded_amount: o.refunded,
            description: o.description.clone(),
            bill_no: o.bill_no().map(str::to_owned),
            bill_date: o.bill_date(),
            qr_code_id: o.qr_code_id.clone(),
            bill_qr_code: o.bill_qr_code.clone(),
            binding: o.binding.as_str(),
            binding_error: o.binding_error.clone(),
            inst_mid: o.inst_mid.clone(),
            preauth: o.preauth,
            expire_at: rfc3339(o.expire_at),
            provider: ProviderView {
                status: o.facts.provider_status.clone(),
                seq_id: o.facts.seq_id.clone(),
                target_order_id: o.facts.target_order_id.clone(),
                target_sys: o.facts.target_sys.clone(),
                pay_time: o.facts.pay_time.clone(),
                settle_date: o.facts.settle_date.clone(),
            },
            needs_review: o.needs_review,
            review_reason: o.review_reason.clone(),
            reconcile: ReconcileView {
                attempts: o.schedule.attempts,
                next_check_at: o.schedule.next_check_at.map(rfc3339),
                last_checked_at: o.schedule.last_checked_at.map(rfc3339),
            },
            created_at: rfc3339(o.created_at),
            updated_at: rfc3339(o.updated_at),
            version: o.version,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventView {
    id: i64,
    from: Option<&'static str>,
    to: &'static str,
    source: &'static str,
    evidence: Option<String>,
    reason: Option<String>,
    at: String,
}

impl From<&OrderEvent> for EventView {
    fn from(e: &OrderEvent) -> Self {
        EventView {
            id: e.id,
            from: e.from.map(OrderStatus::as_str),
            to: e.to.as_str(),
            source: e.source.as_str(),
            evidence: e.evidence.clone(),
            reason: e.reason.clone(),
            at: rfc3339(e.at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_ignores_key_order_and_spacing_but_not_values() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"amount":100,"x":{"b":1,"a":2}}"#).unwrap();
        let b: serde_json::Value =
            serde_json::from_str(r#"{ "x": {"a":2, "b":1}, "amount": 100 }"#).unwrap();
        let c: serde_json::Value =
            serde_json::from_str(r#"{"amount":101,"x":{"b":1,"a":2}}"#).unwrap();
        assert_eq!(request_digest(&a), request_digest(&b));
        assert_ne!(request_digest(&a), request_digest(&c));
    }
}
