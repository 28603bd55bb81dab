//! The provider's routes: the token endpoint and the operations (update-qrcode,
//! mini-pre-query, bills/query, preauthed). Each request passes the auth layer, then the
//! operation faults, then the seed's validation (`chinaums::wire`, reading fields as
//! leniently as the pages' own examples need), then the book's business rules; every one is
//! journaled in the call log, and every refusal goes through [`reply::refuse`]. It must not
//! change an order except through `book`, and never echoes a secret or a buyer's personal
//! field.
//!
//! This file is the pipeline every operation shares (auth, faults, content type, the call
//! log); `reply` what their answers share (echo, stamp, refusals, the merchant check); one
//! file an operation: `token`, `update_qrcode`, `mini_pre_query`, `bill_query`, `preauthed`.

mod bill_query;
mod mini_pre_query;
mod preauthed;
mod reply;
mod token;
mod update_qrcode;

use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};

use crate::chinaums::wire::{
    AuthError, BillQueryResponse, MiniPreQueryResponse, PreauthedResponse, UpdateQrcodeResponse,
};

use super::auth::{AuthFailure, Checked};
use super::calls::Call;
use super::{roll, Shared};
use crate::chinaums::Operation;
use reply::{refuse, Answer, Reply, BAD_REQUEST};

pub use token::token;
pub(crate) use update_qrcode::optional_url;

/// The non-JSON bodies the garbage fault answers with: an HTML error page from a proxy,
/// and a JSON answer cut short.
const GARBAGE: [&str; 2] = [
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>",
    "{\"errCode\":\"SUCC",
];

/// Runs the auth layer on a request.
fn authenticate(shared: &Shared, req: &HttpRequest, body: &[u8], now: DateTime<Utc>) -> Checked {
    let header = match req.headers().get(AUTHORIZATION).map(|v| v.to_str()) {
        None => None,
        Some(Ok(value)) => Some(value),
        Some(Err(_)) => {
            return Checked::refused(AuthFailure::MalformedHeader("not visible ASCII".into()))
        }
    };
    shared
        .auth()
        .check(header, body, &shared.creds, shared.policy, now)
}

/// The auth layer's refusal.
fn auth_refusal(failure: &AuthFailure) -> HttpResponse {
    HttpResponse::build(failure.status()).json(AuthError {
        err_code: failure.code().to_owned(),
        err_info: failure.info(),
    })
}

/// The four operations.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    UpdateQrcode,
    MiniPreQuery,
    BillQuery,
    Preauthed,
}

impl Op {
    fn path(self) -> &'static str {
        match self {
            Op::UpdateQrcode => Operation::UpdateQrcode.path(),
            Op::MiniPreQuery => Operation::MiniPreQuery.path(),
            Op::BillQuery => Operation::BillQuery.path(),
            Op::Preauthed => Operation::Preauthed.path(),
        }
    }
}

/// `POST /v1/netpay/bills/update-qrcode`.
pub async fn update_qrcode(req: HttpRequest, body: Bytes, shared: Data<Shared>) -> HttpResponse {
    operation(Op::UpdateQrcode, req, body, shared).await
}

/// `POST /v1/netpay/wx/mini-pre-query`.
pub async fn mini_pre_query(req: HttpRequest, body: Bytes, shared: Data<Shared>) -> HttpResponse {
    operation(Op::MiniPreQuery, req, body, shared).await
}

/// `POST /v1/netpay/bills/query`.
pub async fn bill_query(req: HttpRequest, body: Bytes, shared: Data<Shared>) -> HttpResponse {
    operation(Op::BillQuery, req, body, shared).await
}

/// `POST /v1/netpay/preauthed`.
pub async fn preauthed(req: HttpRequest, body: Bytes, shared: Data<Shared>) -> HttpResponse {
    operation(Op::Preauthed, req, body, shared).await
}

/// Auth, faults, validation and business rules, the same way for every operation.
async fn operation(op: Op, req: HttpRequest, body: Bytes, shared: Data<Shared>) -> HttpResponse {
    let now = shared.now();
    let checked = authenticate(&shared, &req, &body, now);
    let mut call = Call {
        path: op.path().to_owned(),
        app_id: checked.app_id,
        auth_scheme: checked.scheme.map(|s| s.as_str()),
        auth_verified: checked.verdict.is_ok(),
        http_status: StatusCode::OK.as_u16(),
        ..Call::default()
    };
    if let Err(failure) = checked.verdict {
        call.http_status = failure.status().as_u16();
        call.err_code = Some(failure.code().to_owned());
        shared.calls().record(call, now);
        return auth_refusal(&failure);
    }

    let faults = shared.faults();
    if roll(faults.garbage_rate) {
        call.fault = Some("garbage");
        shared.calls().record(call, now);
        let garbage = GARBAGE[rand::random_range(0..GARBAGE.len())];
        return HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(garbage);
    }
    let is_query = matches!(op, Op::MiniPreQuery | Op::BillQuery);
    let delay = if is_query { faults.query_delay_ms } else { 0 };
    let answer = if is_query && roll(faults.query_error_rate) {
        call.fault = Some("error");
        transient_error(now)
    } else if !is_json(&req) {
        wrong_content_type(op, now)
    } else {
        match op {
            Op::UpdateQrcode => update_qrcode::bind(&shared, &body, now),
            Op::MiniPreQuery => mini_pre_query::query(&shared, &body, now),
            Op::BillQuery => bill_query::query_bill(&shared, &body, now),
            Op::Preauthed => preauthed::complete(&shared, &body, now),
        }
    };
    let hold = if is_query && roll(faults.query_timeout_rate) {
        call.fault = Some("timeout");
        shared.config.query_timeout_hold
    } else if !is_query && roll(faults.answer_loss_rate) {
        call.fault = Some("answer_lost");
        shared.config.query_timeout_hold
    } else {
        std::time::Duration::ZERO
    };
    call.err_code = Some(answer.err_code);
    shared.calls().record(call, now);
    let wait = std::time::Duration::from_millis(delay).saturating_add(hold);
    if !wait.is_zero() {
        actix_web::rt::time::sleep(wait).await;
    }
    answer.body
}

/// Whether the request says its body is JSON, as every operation's must (docs/protocol.md §1).
fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// The refusal of a body not sent as `application/json`, in the operation's own shape.
fn wrong_content_type(op: Op, now: DateTime<Utc>) -> Answer {
    let message = "Content-Type: must be application/json";
    match op {
        Op::UpdateQrcode => refuse(UpdateQrcodeResponse::stamped(now), BAD_REQUEST, message),
        Op::MiniPreQuery => refuse(MiniPreQueryResponse::stamped(now), BAD_REQUEST, message),
        Op::BillQuery => refuse(BillQueryResponse::stamped(now), BAD_REQUEST, message),
        Op::Preauthed => refuse(PreauthedResponse::stamped(now), BAD_REQUEST, message),
    }
}

/// The error fault's answer: one of the provider's transient codes.
fn transient_error(now: DateTime<Utc>) -> Answer {
    let (code, message) = if roll(0.5) {
        ("SYSTEM_BUSY", "系统繁忙，请稍后再试")
    } else {
        ("INTERNAL_ERROR", "系统内部错误")
    };
    refuse(MiniPreQueryResponse::stamped(now), code, message)
}
