//! The provider's routes: the token endpoint and the four operations (update-qrcode,
//! mini-pre-query, bills/query, preauthed). Each request passes the auth layer, then the operation
//! faults, then the seed's validation (`chinaums::wire`, reading fields as leniently as the
//! pages' own examples need), then the book's business rules; every one is journaled in the
//! call log, and every refusal goes through [`refuse`]. It must not change an order except
//! through `book`, and never echoes a secret or a buyer's personal field.

use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::chinaums::status::TradeStatus;
use crate::chinaums::time;
use crate::chinaums::wire::{
    self, AuthError, BillQueryRequest, BillQueryResponse, MiniPreQueryRequest,
    MiniPreQueryResponse, PreauthedRequest, PreauthedResponse, TokenRequest, TokenResponse,
    UpdateQrcodeRequest, UpdateQrcodeResponse, TOKEN_SUCCESS,
};
use crate::domain::ids::MerOrderId;
use crate::domain::money::Amount;
use crate::secret::Secret;

use super::auth::{AuthFailure, Checked};
use super::book::{CompleteArgs, CompleteRefusal, NewBill, Order, Refusal, Via};
use super::calls::Call;
use super::config::BillLookup;
use super::notify::{bill_payment, pay_detail, MER_NAME};
use super::{roll, Shared};

/// The token endpoint.
pub const TOKEN_PATH: &str = "/v1/token/access";
/// Binds a bill to a QR code.
pub const UPDATE_QRCODE_PATH: &str = "/v1/netpay/bills/update-qrcode";
/// Queries an order.
pub const MINI_PRE_QUERY_PATH: &str = "/v1/netpay/wx/mini-pre-query";
/// Completes a pre-authorisation.
pub const PREAUTHED_PATH: &str = "/v1/netpay/preauthed";
/// Queries a bill by its own identity.
pub const BILL_QUERY_PATH: &str = "/v1/netpay/bills/query";

/// Where the QR codes the sandbox hands out point. `.invalid` is reserved (RFC 2606): it
/// cannot be mistaken for the provider's own host, and the code id is in it as in the
/// provider's URLs.
pub const QR_CODE_URL: &str = "https://qr.sandbox.invalid/bills/qrCode.do?id=";
/// `instMid` of bills.
const BILL_INST_MID: &str = "QRPAYDEFAULT";
/// `secureStatus` of a completed pre-authorisation, as in the provider's sample.
const SECURE_STATUS_COMPLETED: &str = "AUTHED";

const SUCCESS: &str = "SUCCESS";
const BAD_REQUEST: &str = "BAD_REQUEST";
const NO_ORDER: &str = "NO_ORDER";
/// The bill query's "no such bill" (classified with `NO_ORDER`).
const NO_BILL: &str = "NO_BILL";
const NO_MERCHANT: &str = "NO_MERCHANT";
const DUP_ORDER: &str = "DUP_ORDER";
const OPERATION_NOT_ALLOWED: &str = "OPERATION_NOT_ALLOWED";

/// The non-JSON bodies the garbage fault answers with: an HTML error page from a proxy,
/// and a JSON answer cut short.
const GARBAGE: [&str; 2] = [
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>",
    "{\"errCode\":\"SUCC",
];

/// A business answer: its `errCode` (for the call log) and its JSON.
struct Answer {
    err_code: String,
    body: HttpResponse,
}

impl Answer {
    fn json<T: Serialize>(err_code: &str, value: &T) -> Answer {
        Answer {
            err_code: err_code.to_owned(),
            body: HttpResponse::Ok().json(value),
        }
    }
}

/// An operation's answer type: the one refusal path ([`refuse`]) fills its error fields and
/// its stamp, whichever operation it is.
trait Reply: Serialize + Default {
    /// An empty answer stamped with `now` (each operation names its stamp differently).
    fn stamped(now: DateTime<Utc>) -> Self;
    /// Sets `errCode` and `errMsg`.
    fn set_error(&mut self, code: &str, message: String);
}

macro_rules! reply {
    ($($answer:ty => $stamp:ident),+) => {$(
        impl Reply for $answer {
            fn stamped(now: DateTime<Utc>) -> Self {
                Self {
                    $stamp: Some(time::format_body(now)),
                    ..Self::default()
                }
            }
            fn set_error(&mut self, code: &str, message: String) {
                self.err_code = code.to_owned();
                self.err_msg = Some(message);
            }
        }
    )+};
}

reply!(
    UpdateQrcodeResponse => response_timestamp,
    MiniPreQueryResponse => response_timestamp,
    BillQueryResponse => response_timestamp,
    PreauthedResponse => resp_ts
);

/// The refusal of every operation: `echo` (what the request let it echo, stamped) with
/// `errCode` and `errMsg`.
fn refuse<R: Reply>(mut echo: R, code: &str, message: impl Into<String>) -> Answer {
    echo.set_error(code, message.into());
    Answer::json(code, &echo)
}

/// Runs the auth layer on a request.
fn authenticate(shared: &Shared, req: &HttpRequest, body: &[u8], now: DateTime<Utc>) -> Checked {
    let header = match req.headers().get(AUTHORIZATION).map(|v| v.to_str()) {
        None => None,
        Some(Ok(value)) => Some(value),
        Some(Err(_)) => {
            return Checked {
                app_id: None,
                scheme: None,
                verdict: Err(AuthFailure::MalformedHeader("not visible ASCII".into())),
            }
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

/// `POST /v1/token/access`.
pub async fn token(req: HttpRequest, body: Bytes, shared: Data<Shared>) -> HttpResponse {
    let now = shared.now();
    let json = if is_json(&req) {
        Ok(())
    } else {
        Err(AuthFailure::BadTokenRequest(
            "Content-Type: must be application/json".into(),
        ))
    };
    let request = json
        .and_then(|()| {
            wire::from_json::<TokenRequest>(&body)
                .map_err(|e| AuthFailure::BadTokenRequest(e.to_string()))
        })
        .and_then(|r| {
            r.validate()
                .map(|()| r)
                .map_err(|e| AuthFailure::BadTokenRequest(e.to_string()))
        });
    let app_id = request.as_ref().ok().map(|r| r.app_id.clone());
    let issued = request.and_then(|r| {
        shared.auth().issue(
            &r.app_id,
            &r.timestamp,
            &r.nonce,
            |key| r.verify(key),
            &shared.creds,
            shared.policy,
            now,
        )
    });
    let (response, call) = match issued {
        Ok((token, expires_in)) => (
            HttpResponse::Ok().json(TokenResponse {
                err_code: TOKEN_SUCCESS.to_owned(),
                err_info: "正常".to_owned(),
                access_token: Some(Secret::new(token)),
                expires_in: Some(expires_in),
            }),
            (true, StatusCode::OK, TOKEN_SUCCESS),
        ),
        Err(failure) => (
            auth_refusal(&failure),
            (false, failure.status(), failure.code()),
        ),
    };
    let (verified, status, code) = call;
    shared.calls().record(
        Call {
            path: TOKEN_PATH.to_owned(),
            app_id,
            auth_scheme: None,
            auth_verified: verified,
            http_status: status.as_u16(),
            err_code: Some(code.to_owned()),
            fault: None,
        },
        now,
    );
    response
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
            Op::UpdateQrcode => UPDATE_QRCODE_PATH,
            Op::MiniPreQuery => MINI_PRE_QUERY_PATH,
            Op::BillQuery => BILL_QUERY_PATH,
            Op::Preauthed => PREAUTHED_PATH,
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
            Op::UpdateQrcode => bind(&shared, &body, now),
            Op::MiniPreQuery => query(&shared, &body, now),
            Op::BillQuery => query_bill(&shared, &body, now),
            Op::Preauthed => complete(&shared, &body, now),
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

/// The merchant checks every operation makes: an unknown merchant is `NO_MERCHANT`, a
/// terminal not the merchant's is `BAD_REQUEST` naming the field.
fn merchant(
    shared: &Shared,
    (mid_field, mid): (&str, &str),
    (tid_field, tid): (&str, &str),
) -> Result<(), (&'static str, String)> {
    if mid != shared.creds.mid {
        return Err((
            NO_MERCHANT,
            format!("{mid_field}: not a merchant of this appId"),
        ));
    }
    if tid != shared.creds.tid {
        return Err((
            BAD_REQUEST,
            format!("{tid_field}: not a terminal of this merchant"),
        ));
    }
    Ok(())
}

/// update-qrcode: validates, then binds the bill to its QR code.
fn bind(shared: &Shared, body: &[u8], now: DateTime<Utc>) -> Answer {
    let stamp = UpdateQrcodeResponse::stamped(now);
    let req = match wire::from_json::<UpdateQrcodeRequest>(body) {
        Ok(req) => req,
        Err(e) => return refuse(stamp, BAD_REQUEST, e.to_string()),
    };
    let echo = UpdateQrcodeResponse {
        msg_id: req.msg_id.clone(),
        src_reserve: req.src_reserve.clone(),
        mid: Some(req.mid.clone()),
        tid: Some(req.tid.clone()),
        inst_mid: Some(req.inst_mid.clone()),
        ..stamp
    };
    match bill_of(shared, &req, now) {
        Err((code, message)) => refuse(echo, code, message),
        Ok(new) => match shared.book().bind_bill(new, now) {
            Ok(order) => {
                let bill = order.bill.as_ref();
                Answer::json(
                    SUCCESS,
                    &UpdateQrcodeResponse {
                        err_code: SUCCESS.to_owned(),
                        err_msg: Some("更新二维码成功".to_owned()),
                        bill_qr_code: bill.map(|b| b.bill_qr_code.clone()),
                        system_id: req.system_id.clone(),
                        bill_no: Some(order.id.clone()),
                        bill_date: bill.map(|b| b.bill_date.clone()),
                        ..echo
                    },
                )
            }
            Err(Refusal::Duplicate { field, reason }) => {
                refuse(echo, DUP_ORDER, format!("{field}: {reason}"))
            }
            Err(other) => refuse(echo, BAD_REQUEST, other.to_string()),
        },
    }
}

/// The bill an update-qrcode request describes, or the refusal (`errCode`, message).
fn bill_of(
    shared: &Shared,
    req: &UpdateQrcodeRequest,
    now: DateTime<Utc>,
) -> Result<NewBill, (&'static str, String)> {
    let bad = |message: String| (BAD_REQUEST, message);
    req.validate().map_err(|e| bad(e.to_string()))?;
    merchant(shared, ("mid", &req.mid), ("tid", &req.tid))?;
    if req.inst_mid != BILL_INST_MID {
        return Err(bad(format!("instMid: must be {BILL_INST_MID}")));
    }
    // The seed makes totalAmount optional (fixed-amount codes carry their own); the
    // sandbox has no such codes, so a bill without an amount could never be paid.
    let amount = req
        .total_amount
        .ok_or_else(|| bad("totalAmount: is required".into()))
        .and_then(|fen| Amount::from_fen(fen).map_err(|e| bad(format!("totalAmount: {e}"))))?;
    let bill_no = match req.bill_no.as_deref().filter(|b| !b.is_empty()) {
        Some(given) => MerOrderId::parse(given, &shared.msg_src)
            .map_err(|e| bad(format!("billNo: {e}")))?
            .as_str()
            .to_owned(),
        None => MerOrderId::generate(&shared.msg_src, now)
            .as_str()
            .to_owned(),
    };
    let expire_at = match req.expire_time.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => Some(
            time::parse_body(t)
                .ok_or_else(|| bad("expireTime: must be yyyy-MM-dd HH:mm:ss".into()))?,
        ),
        None => None,
    };
    let notify_url = optional_url("notifyUrl", req.notify_url.as_deref()).map_err(bad)?;
    let non_empty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    Ok(NewBill {
        bill_qr_code: format!("{QR_CODE_URL}{}", req.qr_code_id),
        qr_code_id: req.qr_code_id.clone(),
        bill_no,
        bill_date: non_empty(&req.bill_date).unwrap_or_else(|| time::format_date(now)),
        amount,
        expire_at,
        notify_url,
        preauth: req.preauth_transaction.as_deref() == Some("true"),
        bill_desc: non_empty(&req.bill_desc),
        member_id: non_empty(&req.member_id),
        counter_no: non_empty(&req.counter_no),
    })
}

/// An optional `http://` or `https://` URL naming a host.
pub(crate) fn optional_url(field: &str, url: Option<&str>) -> Result<Option<String>, String> {
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(host)
            if !host.is_empty()
                && !host.starts_with('/')
                && !host.contains(char::is_whitespace) =>
        {
            Ok(Some(url.to_owned()))
        }
        _ => Err(format!("{field}: must be an http:// or https:// URL")),
    }
}

/// mini-pre-query: the order's state as the provider knows it.
fn query(shared: &Shared, body: &[u8], now: DateTime<Utc>) -> Answer {
    let stamp = MiniPreQueryResponse::stamped(now);
    let req = match wire::from_json::<MiniPreQueryRequest>(body) {
        Ok(req) => req,
        Err(e) => return refuse(stamp, BAD_REQUEST, e.to_string()),
    };
    let echo = MiniPreQueryResponse {
        msg_id: req.msg_id.clone(),
        src_reserve: req.src_reserve.clone(),
        mid: Some(req.mid.clone()),
        tid: Some(req.tid.clone()),
        ..stamp
    };
    if let Err(e) = req.validate() {
        return refuse(echo, BAD_REQUEST, e.to_string());
    }
    if let Err((code, message)) = merchant(shared, ("mid", &req.mid), ("tid", &req.tid)) {
        return refuse(echo, code, message);
    }
    let asked = req.mer_order_id.as_deref().filter(|id| !id.is_empty());
    let Some(id) = asked.or(req.target_order_id.as_deref()) else {
        return refuse(echo, BAD_REQUEST, "merOrderId: is required");
    };
    let mut book = shared.book();
    let Some((order, via)) = book.find(id, now) else {
        return refuse(echo, NO_ORDER, format!("no order {id}"));
    };
    if order.bill.is_some() {
        match shared.faults().mini_pre_query_bills {
            BillLookup::FindsBill => {}
            BillLookup::AttemptIdOnly if via == Via::Own => {
                return refuse(echo, NO_ORDER, format!("no order {id}"));
            }
            BillLookup::AttemptIdOnly => {}
            BillLookup::Down => return transient_error(now),
        }
    }
    let answer = query_answer(order, via, asked, echo);
    Answer::json(SUCCESS, &answer)
}

/// bills/query: a bill's state by its number and date, with its payment once paid.
fn query_bill(shared: &Shared, body: &[u8], now: DateTime<Utc>) -> Answer {
    let stamp = BillQueryResponse::stamped(now);
    let req = match wire::from_json::<BillQueryRequest>(body) {
        Ok(req) => req,
        Err(e) => return refuse(stamp, BAD_REQUEST, e.to_string()),
    };
    let echo = BillQueryResponse {
        msg_id: req.msg_id.clone(),
        src_reserve: req.src_reserve.clone(),
        mid: Some(req.mid.clone()),
        tid: Some(req.tid.clone()),
        inst_mid: Some(req.inst_mid.clone()),
        bill_no: Some(req.bill_no.clone()),
        bill_date: Some(req.bill_date.clone()),
        ..stamp
    };
    if let Err(e) = req.validate() {
        return refuse(echo, BAD_REQUEST, e.to_string());
    }
    if let Err((code, message)) = merchant(shared, ("mid", &req.mid), ("tid", &req.tid)) {
        return refuse(echo, code, message);
    }
    if req.inst_mid != BILL_INST_MID {
        return refuse(
            echo,
            BAD_REQUEST,
            format!("instMid: must be {BILL_INST_MID}"),
        );
    }
    let mut book = shared.book();
    // Only the bill's own number finds it, and only with its date.
    let found = book.find(&req.bill_no, now).filter(|(order, via)| {
        *via == Via::Own
            && order
                .bill
                .as_ref()
                .is_some_and(|b| b.bill_date == req.bill_date)
    });
    let Some((order, _)) = found else {
        return refuse(
            echo,
            NO_BILL,
            format!("no bill {} of {}", req.bill_no, req.bill_date),
        );
    };
    let answer = BillQueryResponse {
        err_code: SUCCESS.to_owned(),
        err_msg: Some("查询成功".to_owned()),
        bill_qr_code: order.bill.as_ref().map(|b| b.bill_qr_code.clone()),
        bill_status: Some(order.bill_status()),
        total_amount: Some(order.amount.fen().into()),
        refund_amount: (!order.refunded.is_zero()).then(|| order.refunded.fen().into()),
        create_time: Some(order.create_time()),
        bill_payment: bill_payment(order, order.trade_status()).map(Into::into),
        ..echo
    };
    Answer::json(SUCCESS, &answer)
}

/// A found order as mini-pre-query reports it. Found by a completion's id, it reports the
/// completion (its amount, reference and wallet order); otherwise the order's payment.
/// `merOrderId` echoes the id asked for (the payment attempt's, when asked by wallet
/// order number).
fn query_answer(
    order: &Order,
    via: Via,
    asked: Option<&str>,
    echo: MiniPreQueryResponse,
) -> MiniPreQueryResponse {
    let status = order.trade_status();
    let base = MiniPreQueryResponse {
        err_code: SUCCESS.to_owned(),
        err_msg: Some("查询成功".to_owned()),
        inst_mid: Some(order.inst_mid.clone()),
        status: Some(status.clone()),
        mer_name: Some(serde_json::Value::String(MER_NAME.to_owned())),
        ..echo
    };
    let completion = order
        .completion
        .as_ref()
        .filter(|_| matches!(via, Via::Completion | Via::CompletionTarget));
    if let Some(c) = completion {
        let fen = c.amount.fen();
        return MiniPreQueryResponse {
            mer_order_id: Some(c.mchnt_order_id.clone()),
            total_amount: Some(fen.into()),
            buyer_pay_amount: Some(fen.into()),
            receipt_amount: Some(fen.into()),
            invoice_amount: Some(fen.into()),
            coupon_amount: Some(0.into()),
            seq_id: Some(c.plat_ssn.clone()),
            settle_ref_id: Some(c.plat_ssn.clone()),
            target_order_id: Some(c.target_order_id.clone()),
            target_sys: order.payment.as_ref().map(|p| p.target_sys.clone()),
            pay_time: Some(time::format_body(c.completed_at).into()),
            settle_date: Some(time::format_date(c.completed_at).into()),
            bill_funds_desc: Some(pay_detail(fen)),
            ..base
        };
    }
    let payment = order.payment.as_ref();
    let mer_order_id = asked
        .map(str::to_owned)
        .unwrap_or_else(|| payment.map_or_else(|| order.id.clone(), |p| p.attempt_id.clone()));
    let Some(p) = payment else {
        return MiniPreQueryResponse {
            mer_order_id: Some(mer_order_id),
            total_amount: Some(order.amount.fen().into()),
            ..base
        };
    };
    let fen = p.amount.fen();
    MiniPreQueryResponse {
        mer_order_id: Some(mer_order_id),
        total_amount: Some(fen.into()),
        buyer_pay_amount: Some(fen.into()),
        receipt_amount: Some(fen.into()),
        invoice_amount: Some(fen.into()),
        coupon_amount: Some(0.into()),
        seq_id: Some(p.seq_id.clone()),
        settle_ref_id: Some(p.seq_id.clone()),
        target_order_id: Some(p.target_order_id.clone()),
        target_sys: Some(p.target_sys.clone()),
        pay_time: Some(time::format_body(p.pay_time).into()),
        settle_date: Some(time::format_date(p.pay_time).into()),
        bill_funds_desc: Some(pay_detail(fen)),
        bill_payment: order
            .bill
            .as_ref()
            .and_then(|_| bill_payment(order, status))
            .map(Into::into),
        ..base
    }
}

/// preauthed: completes a pre-authorised payment.
fn complete(shared: &Shared, body: &[u8], now: DateTime<Utc>) -> Answer {
    let stamp = PreauthedResponse::stamped(now);
    let req = match wire::from_json::<PreauthedRequest>(body) {
        Ok(req) => req,
        Err(e) => return refuse(stamp, BAD_REQUEST, e.to_string()),
    };
    let echo = PreauthedResponse {
        mchnt_no: Some(req.mchnt_no.clone()),
        term_no: Some(req.term_no.clone()),
        msg_id: req.msg_id.clone(),
        src_reserve: req.src_reserve.clone(),
        biz_type: Some(req.biz_type.clone()),
        ..stamp
    };
    let args = match completion_of(shared, &req) {
        Ok(args) => args,
        Err((code, message)) => return refuse(echo, code, message),
    };
    let done = match shared.book().complete(args, now) {
        Ok(done) => done,
        Err(refusal) => {
            let (code, message) = match refusal {
                CompleteRefusal::NoOrder => {
                    (NO_ORDER, format!("no order {}", req.preauth_order_id))
                }
                CompleteRefusal::NotAllowed(m) => (OPERATION_NOT_ALLOWED, m),
                CompleteRefusal::Duplicate(m) => (DUP_ORDER, m),
                CompleteRefusal::Invalid { field, reason } => {
                    (BAD_REQUEST, format!("{field}: {reason}"))
                }
            };
            return refuse(echo, code, message);
        }
    };
    let c = &done.completion;
    let fen = c.amount.fen();
    Answer::json(
        SUCCESS,
        &PreauthedResponse {
            err_code: SUCCESS.to_owned(),
            err_msg: Some("预授权完成".to_owned()),
            plat_ssn: Some(c.plat_ssn.clone()),
            stl_id: Some(c.plat_ssn.clone()),
            ref_id: Some(c.plat_ssn.clone()),
            status: Some(TradeStatus::TradeSuccess),
            secure_status: Some(SECURE_STATUS_COMPLETED.to_owned()),
            total_amt: Some(fen),
            pay_amt: Some(fen),
            invoice_amt: Some(fen),
            coupon_amt: Some(0),
            mchnt_name: Some(MER_NAME.to_owned()),
            mchnt_order_id: Some(c.mchnt_order_id.clone()),
            target_order_id: Some(c.target_order_id.clone()),
            target_sys: done.order.payment.as_ref().map(|p| p.target_sys.clone()),
            target_list_desc: Some(pay_detail(fen)),
            pay_ts: Some(time::format_body(c.completed_at)),
            stl_date: Some(time::format_date(c.completed_at)),
            ..echo
        },
    )
}

/// The completion a preauthed request asks for, or the refusal (`errCode`, message).
fn completion_of(
    shared: &Shared,
    req: &PreauthedRequest,
) -> Result<CompleteArgs, (&'static str, String)> {
    let bad = |message: String| (BAD_REQUEST, message);
    req.validate().map_err(|e| bad(e.to_string()))?;
    merchant(shared, ("mchntNo", &req.mchnt_no), ("termNo", &req.term_no))?;
    let mchnt_order_id = MerOrderId::parse(&req.mchnt_order_id, &shared.msg_src)
        .map_err(|e| bad(format!("mchntOrderId: {e}")))?;
    let amount = Amount::from_fen(req.total_amt).map_err(|e| bad(format!("totalAmt: {e}")))?;
    Ok(CompleteArgs {
        mchnt_order_id: mchnt_order_id.as_str().to_owned(),
        preauth_order_id: req.preauth_order_id.clone(),
        auth_code: req.auth_id_resp_code.clone(),
        biz_type: req.biz_type.clone(),
        amount,
    })
}
