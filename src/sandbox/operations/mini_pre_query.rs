//! mini-pre-query: an order's state as the provider knows it, found by any of its ids
//! (how it treats a bill is the `mini_pre_query_bills` setting). It must not change an
//! order (finding one closes it if it expired unpaid, as the book does).

use chrono::{DateTime, Utc};

use crate::chinaums::time;
use crate::chinaums::wire::{MiniPreQueryRequest, MiniPreQueryResponse};
use crate::domain::money::Amount;

use crate::sandbox::book::{Order, Via};
use crate::sandbox::config::BillLookup;
use crate::sandbox::notify::{bill_payment, pay_detail, MER_NAME};
use crate::sandbox::Shared;

use super::reply::{merchant, read, refuse, Answer, BAD_REQUEST, NO_ORDER, SUCCESS};
use super::transient_error;

/// mini-pre-query: the order's state as the provider knows it.
pub(super) fn query(shared: &Shared, body: &[u8], now: DateTime<Utc>) -> Answer {
    let (req, stamp) = match read::<MiniPreQueryRequest, MiniPreQueryResponse>(body, now) {
        Ok(read) => read,
        Err(refusal) => return *refusal,
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
        let target_sys = order.payment.as_ref().map(|p| p.target_sys.clone());
        return MiniPreQueryResponse {
            mer_order_id: Some(c.mchnt_order_id.clone()),
            ..taken(
                base,
                c.amount,
                &c.plat_ssn,
                &c.target_order_id,
                target_sys,
                c.completed_at,
            )
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
    MiniPreQueryResponse {
        mer_order_id: Some(mer_order_id),
        bill_payment: order
            .bill
            .as_ref()
            .and_then(|_| bill_payment(order, status))
            .map(Into::into),
        ..taken(
            base,
            p.amount,
            &p.seq_id,
            &p.target_order_id,
            Some(p.target_sys.clone()),
            p.pay_time,
        )
    }
}

/// `base` with the money taken, a payment's or a completion's: `amount` under the
/// provider's reference `seq_id`, to wallet order `target_order_id` of `target_sys`, at
/// `at` (no coupon: the sandbox's buyer pays it all).
fn taken(
    base: MiniPreQueryResponse,
    amount: Amount,
    seq_id: &str,
    target_order_id: &str,
    target_sys: Option<String>,
    at: DateTime<Utc>,
) -> MiniPreQueryResponse {
    let fen = amount.fen();
    MiniPreQueryResponse {
        total_amount: Some(fen.into()),
        buyer_pay_amount: Some(fen.into()),
        receipt_amount: Some(fen.into()),
        invoice_amount: Some(fen.into()),
        coupon_amount: Some(0.into()),
        seq_id: Some(seq_id.to_owned()),
        settle_ref_id: Some(seq_id.to_owned()),
        target_order_id: Some(target_order_id.to_owned()),
        target_sys,
        pay_time: Some(time::format_body(at).into()),
        settle_date: Some(time::format_date(at).into()),
        bill_funds_desc: Some(pay_detail(fen)),
        ..base
    }
}
