//! The sandbox's control routes (`/_sandbox/*`, JSON, the sandbox listener only): create a
//! mini-program order, read the provider's truth, act as the buyer (pay, refund, close,
//! expire), send contract notices, set faults, read the call log. Errors are
//! `{"code","message"}` like the gateway's API. It must not change an order except
//! through `book`, nor show a contract notice's URL (it may carry a secret token).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::chinaums::form::Form;
use crate::chinaums::notify_sign;
use crate::chinaums::status::ContractState;
use crate::chinaums::time;
use crate::chinaums::wire::{
    provider_len, ContractNotice, PREAUTHED_AMOUNT_FEN, UPDATE_QRCODE_AMOUNT_FEN,
};
use crate::domain::ids::MerOrderId;
use crate::domain::money::Amount;

use super::book::{
    self, About, Book, Event, NewMini, NoticeLog, NoticeState, Order, PayArgs, Refusal,
};
use super::config::FaultsPatch;
use super::notify::{Ack, Delivery};
use super::operations::optional_url;
use super::Shared;

/// The control routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_sandbox")
            .route("/orders", web::post().to(create_order))
            .route("/orders/{id}", web::get().to(get_order))
            .route("/orders/{id}/pay", web::post().to(pay))
            .route("/orders/{id}/refund", web::post().to(refund))
            .route("/orders/{id}/close", web::post().to(close))
            .route("/orders/{id}/expire", web::post().to(expire))
            .route("/contracts/{contractNo}", web::get().to(get_contract))
            .route(
                "/contracts/{contractNo}/notify",
                web::post().to(notify_contract),
            )
            .route("/faults", web::get().to(get_faults))
            .route("/faults", web::post().to(set_faults))
            .route("/calls", web::get().to(get_calls)),
    );
}

/// A control route's refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlError {
    /// The body is not JSON of the expected shape as a whole.
    InvalidJson(String),
    /// One field is wrong.
    InvalidField {
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// No such order, contract or route.
    NotFound(String),
    /// The order's state does not allow it.
    Conflict(String),
}

impl ControlError {
    fn field(field: &str, message: impl std::fmt::Display) -> Self {
        ControlError::InvalidField {
            field: field.to_owned(),
            message: format!("{field}: {message}"),
        }
    }

    /// The answer: `{"code","message"}` (and `field` for a field error).
    pub fn response(&self) -> HttpResponse {
        let (status, code, message, field) = match self {
            ControlError::InvalidJson(m) => (StatusCode::BAD_REQUEST, "invalid_json", m, None),
            ControlError::InvalidField { field, message } => (
                StatusCode::BAD_REQUEST,
                "invalid_field",
                message,
                Some(field),
            ),
            ControlError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m, None),
            ControlError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m, None),
        };
        let mut body = json!({"code": code, "message": message});
        if let Some(field) = field {
            body["field"] = json!(field);
        }
        HttpResponse::build(status).json(body)
    }
}

impl From<Refusal> for ControlError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::NotFound(id) => ControlError::NotFound(format!("no order {id}")),
            Refusal::Conflict(m) => ControlError::Conflict(m),
            Refusal::Duplicate { field, reason } => {
                ControlError::Conflict(format!("{field}: {reason}"))
            }
            Refusal::Invalid { field, reason } => ControlError::field(field, reason),
        }
    }
}

/// Reads a JSON body (an empty body reads as `{}`), naming the field at fault.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ControlError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            // Unknown and missing fields are reported at the top level, naming the field
            // in the message.
            match inner.to_string().split('`').nth(1) {
                Some(field) => ControlError::field(field, inner),
                None => ControlError::InvalidJson(format!("body is not valid JSON: {inner}")),
            }
        } else {
            ControlError::field(&path, inner)
        }
    })?;
    de.end()
        .map_err(|e| ControlError::InvalidJson(format!("body is not valid JSON: {e}")))?;
    Ok(parsed)
}

/// An amount of fen from a JSON number or numeric string, within `range`.
fn amount(
    field: &str,
    value: &Value,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Amount, ControlError> {
    let parsed = Amount::parse_json(value).map_err(|e| ControlError::field(field, e))?;
    if !range.contains(&parsed.fen()) {
        return Err(ControlError::field(
            field,
            format!("must be {} to {} fen", range.start(), range.end()),
        ));
    }
    Ok(parsed)
}

/// An optional `yyyy-MM-dd HH:mm:ss` (Beijing) time.
fn optional_time(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ControlError> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => time::parse_body(v).map(Some).ok_or_else(|| {
            ControlError::field(field, "must be yyyy-MM-dd HH:mm:ss (Beijing time)")
        }),
    }
}

/// The provider's truth about an order, as the control routes show it.
fn view(order: &Order) -> Value {
    let payment = order.payment.as_ref();
    let notices = &order.notices;
    let count = |state: NoticeState| notices.iter().filter(|n| n.state == state).count();
    let mut v = json!({
        "merOrderId": order.id,
        "kind": if order.bill.is_some() { "bill" } else { "mini" },
        "instMid": order.inst_mid,
        "status": order.trade_status(),
        "totalAmount": order.amount,
        "paidAmount": payment.map(|p| p.amount),
        "refundedAmount": order.refunded,
        "preauth": order.preauth,
        "authIdRespCd": payment.and_then(|p| p.auth_code.clone()),
        "notifyUrl": order.notify_url,
        "createTime": order.create_time(),
        "expireTime": time::format_body(order.expire_at),
        "payment": payment.map(|p| json!({
            "merOrderId": p.attempt_id,
            "seqId": p.seq_id,
            "targetOrderId": p.target_order_id,
            "targetSys": p.target_sys,
            "payTime": time::format_body(p.pay_time),
            "settleDate": time::format_date(p.pay_time),
        })),
        "completion": order.completion.as_ref().map(|c| json!({
            "mchntOrderId": c.mchnt_order_id,
            "amount": c.amount,
            "platSsn": c.plat_ssn,
            "targetOrderId": c.target_order_id,
            "completeTime": time::format_body(c.completed_at),
        })),
        "notifications": {
            "sent": notices.iter().map(|n| n.attempts).sum::<u32>(),
            "delivered": notices.iter().map(|n| n.delivered).sum::<u32>(),
            "pending": count(NoticeState::Pending),
            "dropped": count(NoticeState::Dropped),
            "gaveUp": count(NoticeState::GaveUp),
            "items": notices.iter().map(notice_view).collect::<Vec<_>>(),
        },
    });
    if let Some(bill) = &order.bill {
        v["billNo"] = json!(order.id);
        v["billStatus"] = json!(order.bill_status());
        v["qrCodeId"] = json!(bill.qr_code_id);
        v["billQRCode"] = json!(bill.bill_qr_code);
        v["billDate"] = json!(bill.bill_date);
        v["billDesc"] = json!(bill.bill_desc);
        v["memberId"] = json!(bill.member_id);
        v["counterNo"] = json!(bill.counter_no);
    }
    v
}

fn notice_view(n: &NoticeLog) -> Value {
    json!({
        "notifyId": n.id,
        "event": n.event,
        "faults": n.faults.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
        "attempts": n.attempts,
        "delivered": n.delivered,
        "state": n.state.as_str(),
    })
}

/// The own id of the order any of whose ids is `id`.
fn resolve(shared: &Shared, id: &str) -> Result<String, ControlError> {
    shared
        .book()
        .find(id, shared.now())
        .map(|(order, _)| order.id.clone())
        .ok_or_else(|| ControlError::NotFound(format!("no order {id}")))
}

/// `POST /_sandbox/orders`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateOrder {
    mer_order_id: String,
    total_amount: Value,
    #[serde(default)]
    notify_url: Option<String>,
    #[serde(default)]
    expire_time: Option<String>,
}

/// `POST /_sandbox/orders`: a mini-program order, created at the provider as a checkout
/// would. 201 with the order; 409 if the id is taken.
async fn create_order(body: Bytes, shared: Data<Shared>) -> HttpResponse {
    reply(create_order_inner(&body, &shared), StatusCode::CREATED)
}

fn create_order_inner(body: &[u8], shared: &Shared) -> Result<Value, ControlError> {
    let req: CreateOrder = parse(body)?;
    let id = MerOrderId::parse(&req.mer_order_id, &shared.msg_src)
        .map_err(|e| ControlError::field("merOrderId", e))?;
    let new = NewMini {
        mer_order_id: id.as_str().to_owned(),
        amount: amount("totalAmount", &req.total_amount, UPDATE_QRCODE_AMOUNT_FEN)?,
        notify_url: optional_url("notifyUrl", req.notify_url.as_deref()).map_err(|m| {
            ControlError::InvalidField {
                field: "notifyUrl".into(),
                message: m,
            }
        })?,
        expire_at: optional_time("expireTime", req.expire_time.as_deref())?,
    };
    let mut book = shared.book();
    Ok(view(book.create_mini(new, shared.now())?))
}

fn reply(result: Result<Value, ControlError>, status: StatusCode) -> HttpResponse {
    match result {
        Ok(v) => HttpResponse::build(status).json(v),
        Err(e) => e.response(),
    }
}

/// `GET /_sandbox/orders/{id}`: the provider's truth (by any of the order's ids).
async fn get_order(id: Path<String>, shared: Data<Shared>) -> HttpResponse {
    let mut book = shared.book();
    match book.find(&id, shared.now()) {
        Some((order, _)) => HttpResponse::Ok().json(view(order)),
        None => ControlError::NotFound(format!("no order {id}")).response(),
    }
}

/// `POST /_sandbox/orders/{id}/pay`'s body.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Pay {
    #[serde(default)]
    amount: Option<Value>,
    #[serde(default)]
    preauth: Option<bool>,
    #[serde(default)]
    notify: Option<bool>,
}

/// `POST /_sandbox/orders/{id}/pay`: the buyer pays. `amount` (default: the order's)
/// simulates a payment of another amount; `preauth` (default: the bill's
/// `preauthTransaction`) pays with pre-authorisation; `notify: false` loses the
/// notification. 409 when the order is not open.
async fn pay(id: Path<String>, body: Bytes, shared: Data<Shared>) -> HttpResponse {
    let shared = shared.into_inner();
    let result = (|| {
        let req: Pay = parse(&body)?;
        let args = PayArgs {
            amount: req
                .amount
                .as_ref()
                .map(|v| amount("amount", v, PREAUTHED_AMOUNT_FEN))
                .transpose()?,
            preauth: req.preauth,
        };
        let order = act(&shared, &id, |book, key, now| {
            book.pay(key, args, now).cloned()
        })?;
        shared.announce(&order, Event::Paid, req.notify == Some(false));
        Ok(order)
    })();
    changed(result, &shared)
}

/// Makes `change` (at the sandbox's now) to the order any of whose ids is `id`, and gives
/// the order as it stands after it. The book is locked for the change only.
fn act(
    shared: &Shared,
    id: &str,
    change: impl FnOnce(&mut Book, &str, DateTime<Utc>) -> Result<Order, Refusal>,
) -> Result<Order, ControlError> {
    let key = resolve(shared, id)?;
    let now = shared.now();
    let order = change(&mut shared.book(), &key, now)?;
    Ok(order)
}

/// The order's view after a change (with the notification just journaled).
fn changed(result: Result<Order, ControlError>, shared: &Arc<Shared>) -> HttpResponse {
    let result = result.and_then(|order| {
        let mut book = shared.book();
        book.find(&order.id, shared.now())
            .map(|(o, _)| view(o))
            .ok_or_else(|| ControlError::NotFound(format!("no order {}", order.id)))
    });
    reply(result, StatusCode::OK)
}

/// `POST /_sandbox/orders/{id}/refund`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Refund {
    amount: Value,
}

/// `POST /_sandbox/orders/{id}/refund`: refunds `amount`; refunds accumulate, and the
/// notification's `refundAmount` is the running total. 409 when not paid or too much.
async fn refund(id: Path<String>, body: Bytes, shared: Data<Shared>) -> HttpResponse {
    let shared = shared.into_inner();
    let result = (|| {
        let req: Refund = parse(&body)?;
        let fen = amount("amount", &req.amount, PREAUTHED_AMOUNT_FEN)?;
        let order = act(&shared, &id, |book, key, now| {
            book.refund(key, fen, now).cloned()
        })?;
        shared.announce(&order, Event::Refunded, false);
        Ok(order)
    })();
    changed(result, &shared)
}

/// `POST /_sandbox/orders/{id}/close`: closes an unpaid order (or releases an
/// uncompleted authorisation) and notifies. 409 when paid or already closed.
async fn close(id: Path<String>, shared: Data<Shared>) -> HttpResponse {
    let shared = shared.into_inner();
    let result = act(&shared, &id, |book, key, now| book.close(key, now).cloned())
        .inspect(|order| shared.announce(order, Event::Closed, false));
    changed(result, &shared)
}

/// `POST /_sandbox/orders/{id}/expire`: an unpaid order expires now (silently, as expiry
/// does). 409 when it is not waiting for payment.
async fn expire(id: Path<String>, shared: Data<Shared>) -> HttpResponse {
    let shared = shared.into_inner();
    let result = act(&shared, &id, |book, key, now| {
        book.expire(key, now).cloned()
    });
    changed(result, &shared)
}

/// `POST /_sandbox/contracts/{contractNo}/notify`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NotifyContract {
    contract_state: String,
    notify_url: String,
    #[serde(default)]
    request_timestamp: Option<String>,
    #[serde(default)]
    mid: Option<String>,
    #[serde(default)]
    contract_id: Option<String>,
    #[serde(default)]
    contract_signed_time: Option<String>,
    #[serde(default)]
    contract_expired_time: Option<String>,
    #[serde(default)]
    single_limit_amt: Option<String>,
    #[serde(default)]
    avl_num: Option<String>,
    #[serde(default)]
    plan_id: Option<String>,
    /// Sign the notice with the notification key (the seed shows unsigned notices).
    #[serde(default)]
    sign: bool,
}

/// `POST /_sandbox/contracts/{contractNo}/notify`: sends a contract notice (seed 004) as a
/// form to `notifyUrl`, resent on `contract_backoff` until a 200. 202 with the notice's id.
async fn notify_contract(
    contract_no: Path<String>,
    body: Bytes,
    shared: Data<Shared>,
) -> HttpResponse {
    let shared = shared.into_inner();
    match contract_delivery(&contract_no, &body, &shared) {
        Ok((notice, url, form)) => {
            send_contract_notice(&shared, &contract_no, &notice, url, form);
            HttpResponse::Accepted().json(json!({
                "noticeId": notice.id,
                "contractNo": contract_no.as_str(),
                "contractState": notice.event,
            }))
        }
        Err(e) => e.response(),
    }
}

/// The journal entry, URL and signed form of a contract notice request.
fn contract_delivery(
    contract_no: &str,
    body: &[u8],
    shared: &Shared,
) -> Result<(NoticeLog, String, String), ControlError> {
    let req: NotifyContract = parse(body)?;
    if !(8..=40).contains(&provider_len(contract_no)) {
        return Err(ControlError::field("contractNo", "length must be 8 to 40"));
    }
    let state = ContractState::parse(&req.contract_state);
    if let ContractState::Unrecognised(_) = state {
        let known: Vec<&str> = ContractState::KNOWN
            .iter()
            .map(ContractState::as_str)
            .collect();
        return Err(ControlError::field(
            "contractState",
            format!("must be one of {}", known.join(", ")),
        ));
    }
    let url = optional_url("notifyUrl", Some(&req.notify_url))
        .map_err(|m| ControlError::InvalidField {
            field: "notifyUrl".into(),
            message: m,
        })?
        .ok_or_else(|| ControlError::field("notifyUrl", "is required"))?;
    let request_timestamp = match req.request_timestamp {
        Some(t) => {
            optional_time("requestTimestamp", Some(&t))?;
            t
        }
        None => time::format_body(shared.now()),
    };
    let sign_type = shared.config.notify_sign_type;
    let notice = ContractNotice {
        request_timestamp,
        mid: Some(req.mid.unwrap_or_else(|| shared.creds.mid.clone())),
        contract_no: contract_no.to_owned(),
        contract_id: req.contract_id,
        contract_state: state,
        contract_signed_time: req.contract_signed_time,
        contract_expired_time: req.contract_expired_time,
        single_limit_amt: req.single_limit_amt,
        avl_num: req.avl_num,
        plan_id: req.plan_id,
        sign: None,
        sign_type: req.sign.then_some(sign_type),
    };
    let fields = notice.to_fields();
    let body = if req.sign {
        notify_sign::signed_form(&fields, shared.creds.notify_key.expose(), sign_type)
    } else {
        Form::encode(&fields)
    };
    let log = NoticeLog::new(
        book::ids::notify_id(),
        notice.contract_state.as_str(),
        Vec::new(),
        NoticeState::Pending,
    );
    Ok((log, url, body))
}

/// Journals a contract notice and delivers it.
fn send_contract_notice(
    shared: &Arc<Shared>,
    contract_no: &str,
    notice: &NoticeLog,
    url: String,
    body: String,
) {
    let about = About::Contract(contract_no.to_owned());
    shared.book().add_notice(&about, notice.clone());
    shared.dispatch(
        about,
        notice.id.clone(),
        Delivery {
            url,
            body,
            gaps: shared.config.contract_backoff.clone(),
            hold: std::time::Duration::ZERO,
            duplicate: false,
            ack: Ack::Http200,
            timeout: shared.config.notify_timeout,
        },
    );
}

/// `GET /_sandbox/contracts/{contractNo}`: the notices sent for a contract (without
/// their URLs).
async fn get_contract(contract_no: Path<String>, shared: Data<Shared>) -> HttpResponse {
    let book = shared.book();
    match book.contract_notices(&contract_no) {
        Some(notices) => HttpResponse::Ok().json(json!({
            "contractNo": contract_no.as_str(),
            "notices": notices.iter().map(notice_view).collect::<Vec<_>>(),
        })),
        None => {
            ControlError::NotFound(format!("no notice sent for contract {contract_no}")).response()
        }
    }
}

/// `GET /_sandbox/faults`.
async fn get_faults(shared: Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(shared.faults())
}

/// `POST /_sandbox/faults`: sets any subset of the faults; answers them all.
async fn set_faults(body: Bytes, shared: Data<Shared>) -> HttpResponse {
    let result = parse::<FaultsPatch>(&body).and_then(|patch| {
        shared
            .faults()
            .patched(&patch)
            .map_err(|e| ControlError::InvalidField {
                message: e.to_string(),
                field: e.key,
            })
    });
    match result {
        Ok(faults) => {
            log::info!("sandbox: faults set to {faults:?}");
            shared.set_faults(faults.clone());
            HttpResponse::Ok().json(faults)
        }
        Err(e) => e.response(),
    }
}

/// `GET /_sandbox/calls?path=…`: every request received on the provider routes, oldest
/// first (the newest 10,000).
async fn get_calls(req: HttpRequest, shared: Data<Shared>) -> HttpResponse {
    let path = form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(name, _)| name == "path")
        .map(|(_, value)| value.into_owned());
    let calls = shared.calls().list(path.as_deref());
    HttpResponse::Ok().json(json!({ "calls": calls }))
}
