//! preauthed: completes a pre-authorised payment in the book. It sends no notification
//! (the provider answers a completion synchronously).

use chrono::{DateTime, Utc};

use crate::chinaums::status::TradeStatus;
use crate::chinaums::time;
use crate::chinaums::wire::{PreauthedRequest, PreauthedResponse};
use crate::domain::ids::MerOrderId;
use crate::domain::money::Amount;

use crate::sandbox::book::{CompleteArgs, Refusal};
use crate::sandbox::notify::{pay_detail, MER_NAME};
use crate::sandbox::Shared;

use super::reply::{
    merchant, read, refuse, Answer, BAD_REQUEST, DUP_ORDER, NO_ORDER, OPERATION_NOT_ALLOWED,
    SUCCESS,
};

/// `secureStatus` of a completed pre-authorisation, as in the provider's sample.
const SECURE_STATUS_COMPLETED: &str = "AUTHED";

/// preauthed: completes a pre-authorised payment.
pub(super) fn complete(shared: &Shared, body: &[u8], now: DateTime<Utc>) -> Answer {
    let (req, stamp) = match read::<PreauthedRequest, PreauthedResponse>(body, now) {
        Ok(read) => read,
        Err(refusal) => return *refusal,
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
            let code = match refusal {
                Refusal::NotFound(_) => NO_ORDER,
                Refusal::Conflict(_) => OPERATION_NOT_ALLOWED,
                Refusal::Duplicate { .. } => DUP_ORDER,
                Refusal::Invalid { .. } => BAD_REQUEST,
            };
            return refuse(echo, code, refusal.to_string());
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
