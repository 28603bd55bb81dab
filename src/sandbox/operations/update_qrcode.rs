//! update-qrcode: validates a bill, then binds it to its QR code in the book. It must not
//! bind a bill the seed's validation or the merchant check refused.

use chrono::{DateTime, Utc};

use crate::chinaums::time;
use crate::chinaums::wire::{UpdateQrcodeRequest, UpdateQrcodeResponse};
use crate::domain::ids::MerOrderId;
use crate::domain::money::Amount;

use crate::sandbox::book::{NewBill, Refusal};
use crate::sandbox::Shared;

use super::reply::{merchant, read, refuse, Answer, BAD_REQUEST, DUP_ORDER, SUCCESS};
use crate::chinaums::INST_MID_BILL;

/// Where the QR codes the sandbox hands out point. `.invalid` is reserved (RFC 2606): it
/// cannot be mistaken for the provider's own host, and the code id is in it as in the
/// provider's URLs.
pub const QR_CODE_URL: &str = "https://qr.sandbox.invalid/bills/qrCode.do?id=";

/// update-qrcode: validates, then binds the bill to its QR code.
pub(super) fn bind(shared: &Shared, body: &[u8], now: DateTime<Utc>) -> Answer {
    let (req, stamp) = match read::<UpdateQrcodeRequest, UpdateQrcodeResponse>(body, now) {
        Ok(read) => read,
        Err(refusal) => return *refusal,
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
    if req.inst_mid != INST_MID_BILL {
        return Err(bad(format!("instMid: must be {INST_MID_BILL}")));
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
