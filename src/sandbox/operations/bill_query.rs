//! bills/query: a bill's state by its own number and date, with its payment once paid. It
//! must not find a bill by any other id.

use chrono::{DateTime, Utc};

use crate::chinaums::wire::{BillQueryRequest, BillQueryResponse};

use crate::sandbox::book::Via;
use crate::sandbox::notify::bill_payment;
use crate::sandbox::Shared;

use super::reply::{merchant, read, refuse, Answer, BAD_REQUEST, SUCCESS};
use crate::chinaums::INST_MID_BILL;

/// The bill query's "no such bill" (classified with `NO_ORDER`).
const NO_BILL: &str = "NO_BILL";

/// bills/query: a bill's state by its number and date, with its payment once paid.
pub(super) fn query_bill(shared: &Shared, body: &[u8], now: DateTime<Utc>) -> Answer {
    let (req, stamp) = match read::<BillQueryRequest, BillQueryResponse>(body, now) {
        Ok(read) => read,
        Err(refusal) => return *refusal,
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
    if req.inst_mid != INST_MID_BILL {
        return refuse(
            echo,
            BAD_REQUEST,
            format!("instMid: must be {INST_MID_BILL}"),
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
