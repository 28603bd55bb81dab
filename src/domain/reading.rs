//! What a provider message says about an order, read into an observation's [`Seen`]: one
//! function per message kind — a payment notification ([`payment_notice`]), a
//! `mini-pre-query` answer ([`query_answer`], [`completion_answer`], [`no_order`]), a bill
//! query answer ([`bill_answer`]), an `update-qrcode` answer ([`bound`], [`bind_refused`],
//! [`bind_misconfigured`]) and a `preauthed` answer ([`preauthed_answer`]). Every caller
//! (`notify::payment`, `flows::check`, `flows::preauth`, `flows::create`) reads here, so
//! that one field means one thing whichever message brings it. The readers of refund
//! answers and refund notifications belong here too. Pure: it must not decide what the
//! order becomes (`order::decide` does), nor know the provider client's outcomes (that is
//! `provider`, above `domain`); a reader gets the message, never the call.

use crate::chinaums::status::{BillStatus, TradeStatus};
use crate::chinaums::wire::{
    self, BillPayment, BillQueryResponse, Lenient, MiniPreQueryResponse, PaymentNotification,
    PreauthedResponse, UpdateQrcodeResponse,
};
use crate::domain::money::Amount;
use crate::domain::observe::{BindAnswer, Seen};
use crate::domain::order::{Evidence, Report};
use crate::domain::record::ProviderFacts;

/// A non-empty value.
fn present(value: Option<&String>) -> Option<String> {
    value.filter(|v| !v.is_empty()).cloned()
}

/// A non-empty text that was read as text (a raw one is ignored).
fn present_text(value: &Option<Lenient<String>>) -> Option<String> {
    present(value.as_ref().and_then(Lenient::read))
}

/// An amount that was read as whole fen (a raw or invalid one reads as absent).
fn fen_of(value: &Option<Lenient<i64>>) -> Option<Amount> {
    wire::read(value).and_then(|f| Amount::from_fen(f).ok())
}

/// The payment attempt's own id a `billPayment` names (`billPayment.merOrderId`), kept so
/// that the reconciler can ask about the attempt.
pub fn attempt(payment: Option<&Lenient<BillPayment>>) -> Option<String> {
    present(payment.and_then(Lenient::read)?.mer_order_id.as_ref())
}

/// A verified payment notification (seed 000, docs/protocol.md §5): the bill's own status
/// first (bill notifications), then the order's (mini-program notifications carry it at
/// the top level), then the payment's; the bill's total before discounts, the payment's
/// only when the bill's is absent; `refundAmount` as the running total refunded. `Err`
/// says what cannot be read: a notice without a status, or a required amount that is not
/// whole fen (`"1.00"` is never guessed to be 100 fen).
pub fn payment_notice(n: &PaymentNotification) -> Result<Seen, String> {
    // An unreadable `billPayment` is kept raw and read as empty (the journal keeps the body).
    let payment = n.payment().cloned().unwrap_or_default();
    let (report, status_text) = match (&n.bill_status, &n.status, &payment.status) {
        (Some(bill), _, _) => (Report::Bill(bill.clone()), bill.as_str().to_owned()),
        (None, Some(trade), _) | (None, None, Some(trade)) => {
            (Report::Trade(trade.clone()), trade.as_str().to_owned())
        }
        (None, None, None) => return Err("no billStatus, status or billPayment.status".into()),
    };
    // A required amount is read or refused, never guessed.
    let fen = |field: &str, v: &Option<Lenient<i64>>| match v {
        None => Ok(None),
        Some(Lenient::Read(f)) => Amount::from_fen(*f)
            .map(Some)
            .map_err(|e| format!("{field}: {e}")),
        Some(Lenient::Raw(raw)) => Err(format!(
            "{field}: unreadable amount {raw} (amounts are whole fen)"
        )),
    };
    let amount = match n.total_amount {
        Some(_) => fen("totalAmount", &n.total_amount)?,
        None => fen("billPayment.totalAmount", &payment.total_amount)?,
    };
    let facts = ProviderFacts {
        provider_status: Some(status_text),
        seq_id: present(n.seq_id.as_ref()).or_else(|| present(payment.pay_seq_id.as_ref())),
        target_order_id: present(payment.target_order_id.as_ref())
            .or_else(|| present(n.target_order_id.as_ref())),
        target_sys: present(payment.target_sys.as_ref()).or_else(|| present(n.target_sys.as_ref())),
        pay_time: present_text(&payment.pay_time).or_else(|| present_text(&n.pay_time)),
        settle_date: present_text(&payment.settle_date).or_else(|| present_text(&n.settle_date)),
        auth_id_resp_code: present(n.auth_id_resp_cd.as_ref()),
    };
    let evidence = Evidence {
        report,
        amount,
        // Read as the running total refunded so far (docs/protocol.md §9: an assumption).
        refunded: fen("refundAmount", &n.refund_amount)?,
        auth_code: n.auth_id_resp_cd.as_ref().is_some_and(|c| !c.is_empty()),
        paid_facts: facts.show_a_payment(),
        past_expiry: false,
    };
    Ok(Seen::Report { evidence, facts })
}

/// The facts a `mini-pre-query` answer brings.
fn query_facts(a: &MiniPreQueryResponse) -> ProviderFacts {
    ProviderFacts {
        provider_status: a.status.as_ref().map(|s| s.as_str().to_owned()),
        seq_id: a.seq_id.clone(),
        target_order_id: a.target_order_id.clone(),
        target_sys: a.target_sys.clone(),
        pay_time: wire::read(&a.pay_time),
        settle_date: wire::read(&a.settle_date),
        auth_id_resp_code: None,
    }
}

/// A `mini-pre-query` answer about an order (or a payment attempt): its `status` (absent:
/// `UNKNOWN`), its total and facts.
pub fn query_answer(a: &MiniPreQueryResponse) -> Seen {
    let facts = query_facts(a);
    let mut evidence = Evidence::of(Report::Trade(
        a.status.clone().unwrap_or(TradeStatus::Unknown),
    ));
    evidence.amount = fen_of(&a.total_amount);
    evidence.paid_facts = facts.show_a_payment();
    Seen::Report { evidence, facts }
}

/// A `mini-pre-query` answer about a pre-authorisation completion's own id that says it
/// went through (`TRADE_SUCCESS`: the caller asks only then): the completion, for its total.
pub fn completion_answer(a: &MiniPreQueryResponse) -> Seen {
    let mut evidence = Evidence::of(Report::Completed);
    evidence.amount = fen_of(&a.total_amount);
    Seen::Report {
        evidence,
        facts: query_facts(a),
    }
}

/// A query refused with a no-such-order `errCode` (`NO_ORDER`, the bill query's
/// `NO_BILL`): the provider has no such order.
pub fn no_order() -> Seen {
    Seen::Report {
        evidence: Evidence::of(Report::NoOrder),
        facts: ProviderFacts::default(),
    }
}

/// The facts the bill query's answer brings, from its payment.
fn bill_facts(a: &BillQueryResponse) -> ProviderFacts {
    let payment = a.bill_payment.as_ref().and_then(Lenient::read);
    let text = |f: Option<&Option<String>>| f.and_then(|v| present(v.as_ref()));
    ProviderFacts {
        provider_status: a.bill_status.as_ref().map(|s| s.as_str().to_owned()),
        seq_id: text(payment.map(|p| &p.pay_seq_id)),
        target_order_id: text(payment.map(|p| &p.target_order_id)),
        target_sys: text(payment.map(|p| &p.target_sys)),
        pay_time: payment.and_then(|p| wire::read(&p.pay_time)),
        settle_date: payment.and_then(|p| wire::read(&p.settle_date)),
        auth_id_resp_code: None,
    }
}

/// The bill query's answer: the bill's own `billStatus` (absent: `UNKNOWN`) and total,
/// with its payment's facts.
pub fn bill_answer(a: &BillQueryResponse) -> Seen {
    let facts = bill_facts(a);
    let mut evidence = Evidence::of(Report::Bill(
        a.bill_status.clone().unwrap_or(BillStatus::Unknown),
    ));
    evidence.amount = fen_of(&a.total_amount);
    evidence.paid_facts = facts.show_a_payment();
    Seen::Report { evidence, facts }
}

/// An `update-qrcode` answer (`SUCCESS`): the bill is bound, with its QR code's URL if
/// the answer carries one.
pub fn bound(a: &UpdateQrcodeResponse) -> Seen {
    Seen::Bind(BindAnswer::Bound {
        qr_code: a.bill_qr_code.clone(),
    })
}

/// An `update-qrcode` refused by the provider with `err_code` (and its words): the bill is
/// not bound, and the order keeps why.
pub fn bind_refused(err_code: &str, err_msg: Option<&str>) -> Seen {
    Seen::Bind(BindAnswer::Refused(format!(
        "{err_code}: {}",
        err_msg.unwrap_or("")
    )))
}

/// An `update-qrcode` refused because the provider refuses our credentials or
/// configuration (`err_code` when it gave one).
pub fn bind_misconfigured(err_code: Option<&str>) -> Seen {
    Seen::Bind(BindAnswer::Refused(format!(
        "provider configuration: {}",
        err_code.unwrap_or("auth failure")
    )))
}

/// A `preauthed` answer that says the completion went through (`TRADE_SUCCESS`: the caller
/// asks only then): the completion for the total it states, else for `sent`, the total
/// asked for, with the facts it carries.
pub fn preauthed_answer(a: &PreauthedResponse, sent: Amount) -> Seen {
    let mut evidence = Evidence::of(Report::Completed);
    evidence.amount = Some(
        a.total_amt
            .and_then(|f| Amount::from_fen(f).ok())
            .unwrap_or(sent),
    );
    let facts = ProviderFacts {
        provider_status: Some(TradeStatus::TradeSuccess.as_str().to_owned()),
        seq_id: a.plat_ssn.clone(),
        target_order_id: a.target_order_id.clone(),
        target_sys: a.target_sys.clone(),
        pay_time: a.pay_ts.clone(),
        settle_date: a.stl_date.clone(),
        auth_id_resp_code: None,
    };
    Seen::Report { evidence, facts }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fen(f: i64) -> Option<Amount> {
        Amount::from_fen(f).ok()
    }

    /// The evidence and facts of a report; panics on anything else.
    fn report(seen: Seen) -> (Evidence, ProviderFacts) {
        match seen {
            Seen::Report { evidence, facts } => (evidence, facts),
            other => panic!("not a report: {other:?}"),
        }
    }

    fn notice(v: serde_json::Value) -> PaymentNotification {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_bill_notification_reads_as_the_bill_status_with_its_payment_facts() {
        let n = notice(json!({
            "notifyId": "n-1", "billNo": "1017B000001", "billStatus": "PAID",
            "totalAmount": 100,
            "billPayment": {"merOrderId": "1017B0000010", "paySeqId": "P1", "totalAmount": 90,
                "payTime": "2026-11-21 12:01:02", "settleDate": "2026-11-21",
                "status": "TRADE_SUCCESS", "targetOrderId": "T1", "targetSys": "WXPay"}
        }));

        let (evidence, facts) = report(payment_notice(&n).unwrap());

        assert_eq!(evidence.report, Report::Bill(BillStatus::Paid));
        assert_eq!(evidence.amount, fen(100));
        assert!(evidence.paid_facts && !evidence.auth_code);
        assert_eq!(facts.provider_status.as_deref(), Some("PAID"));
        assert_eq!(facts.seq_id.as_deref(), Some("P1"));
        assert_eq!(facts.pay_time.as_deref(), Some("2026-11-21 12:01:02"));
        assert_eq!(
            attempt(n.bill_payment.as_ref()).as_deref(),
            Some("1017B0000010")
        );
    }

    #[test]
    fn a_notification_without_a_status_or_with_a_decimal_amount_cannot_be_read() {
        let no_status = notice(json!({"notifyId": "n", "billNo": "1017B1", "totalAmount": 1}));
        let decimal = notice(json!({"notifyId": "n", "billStatus": "PAID", "totalAmount": "1.00"}));

        assert!(payment_notice(&no_status)
            .unwrap_err()
            .contains("billStatus"));
        assert!(payment_notice(&decimal)
            .unwrap_err()
            .contains("totalAmount"));
    }

    #[test]
    fn a_query_answer_reads_its_status_total_and_facts_and_an_absent_status_as_unknown() {
        let a: MiniPreQueryResponse = serde_json::from_value(json!({
            "errCode": "SUCCESS", "status": "TRADE_SUCCESS", "totalAmount": 100,
            "seqId": "S1", "targetOrderId": "T1", "payTime": "2026-11-21 12:01:02"
        }))
        .unwrap();
        let blank = MiniPreQueryResponse::default();

        let (evidence, facts) = report(query_answer(&a));
        let (unknown, _) = report(query_answer(&blank));

        assert_eq!(evidence.report, Report::Trade(TradeStatus::TradeSuccess));
        assert_eq!(evidence.amount, fen(100));
        assert!(evidence.paid_facts);
        assert_eq!(facts.seq_id.as_deref(), Some("S1"));
        assert_eq!(unknown.report, Report::Trade(TradeStatus::Unknown));
    }

    #[test]
    fn a_completion_query_reads_as_completed_for_its_total_and_no_order_as_no_order() {
        let a: MiniPreQueryResponse = serde_json::from_value(json!({
            "errCode": "SUCCESS", "status": "TRADE_SUCCESS", "totalAmount": 80
        }))
        .unwrap();

        let (completed, _) = report(completion_answer(&a));
        let (none, facts) = report(no_order());

        assert_eq!(completed.report, Report::Completed);
        assert_eq!(completed.amount, fen(80));
        assert_eq!(none.report, Report::NoOrder);
        assert_eq!(facts, ProviderFacts::default());
    }

    #[test]
    fn a_bill_query_answer_reads_the_bills_status_and_its_payments_facts() {
        let a: BillQueryResponse = serde_json::from_value(json!({
            "errCode": "SUCCESS", "billStatus": "PAID", "totalAmount": 100,
            "billPayment": {"merOrderId": "1017B0000010", "paySeqId": "P1", "targetSys": "WXPay",
                "payTime": "2026-11-21 12:01:02", "targetOrderId": ""}
        }))
        .unwrap();

        let (evidence, facts) = report(bill_answer(&a));

        assert_eq!(evidence.report, Report::Bill(BillStatus::Paid));
        assert_eq!(evidence.amount, fen(100));
        assert!(evidence.paid_facts);
        assert_eq!(facts.seq_id.as_deref(), Some("P1"));
        assert_eq!(
            facts.target_order_id, None,
            "an empty value reads as absent"
        );
        assert_eq!(
            attempt(a.bill_payment.as_ref()).as_deref(),
            Some("1017B0000010")
        );
    }

    #[test]
    fn a_bind_answer_reads_as_bound_or_refused_in_the_providers_words() {
        let a = UpdateQrcodeResponse {
            bill_qr_code: Some("https://qr.example/1".into()),
            ..UpdateQrcodeResponse::default()
        };

        assert_eq!(
            bound(&a),
            Seen::Bind(BindAnswer::Bound {
                qr_code: Some("https://qr.example/1".into())
            })
        );
        assert_eq!(
            bind_refused("BAD_BILL", Some("no")),
            Seen::Bind(BindAnswer::Refused("BAD_BILL: no".into()))
        );
        assert_eq!(
            bind_misconfigured(None),
            Seen::Bind(BindAnswer::Refused(
                "provider configuration: auth failure".into()
            ))
        );
    }

    #[test]
    fn a_preauthed_answer_reads_as_completed_for_its_total_or_the_total_sent() {
        let stated = PreauthedResponse {
            total_amt: Some(70),
            plat_ssn: Some("SSN".into()),
            ..PreauthedResponse::default()
        };
        let silent = PreauthedResponse::default();
        let sent = Amount::from_fen(90).unwrap();

        let (evidence, facts) = report(preauthed_answer(&stated, sent));
        let (fallback, _) = report(preauthed_answer(&silent, sent));

        assert_eq!(evidence.report, Report::Completed);
        assert_eq!(evidence.amount, fen(70));
        assert_eq!(facts.seq_id.as_deref(), Some("SSN"));
        assert_eq!(facts.provider_status.as_deref(), Some("TRADE_SUCCESS"));
        assert_eq!(fallback.amount, fen(90));
    }
}
