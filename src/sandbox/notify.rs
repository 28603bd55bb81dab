//! What the sandbox posts to merchants: payment notifications (seed 000, docs/protocol.md §5)
//! and contract notices (seed 004, §6), built with `chinaums::wire`, signed with
//! `chinaums::notify_sign`, and delivered with resends on a back-off list. It must not
//! decide what happened to an order (that is `book`), and never logs a body, a URL, a key
//! or a signature.
//!
//! A payment notification is sent once per change (paid, refunded, closed), form-encoded,
//! with one extra field of random name and value that is signed like every other field. It
//! is resent, with the same `notifyId` and the same body, on `notify_backoff` until the
//! reply's body contains `SUCCESS`, and given up when the list runs out. A contract notice
//! is resent on `contract_backoff` until the reply's status is 200.

use std::time::Duration;

use awc::http::StatusCode;

use crate::chinaums::notify_sign::{self, SignType, SIGN_FIELD, SIGN_TYPE_FIELD};
use crate::chinaums::status::{BillStatus, TradeStatus};
use crate::chinaums::time;
use crate::chinaums::wire::{BillPayment, PaymentNotification};

use super::book::{Event, Order};
use super::config::SandboxCredentials;

/// The merchant name notifications carry (`merName`). Chinese on purpose: it exercises
/// UTF-8 in the form encoding and in the string to sign.
pub const MER_NAME: &str = "银联商务沙箱测试商户";
/// `billPayment.billBizType`, as in the provider's samples.
const BILL_BIZ_TYPE: &str = "bills";
/// The reply body a payment notification waits for.
const ACK_BODY: &str = "SUCCESS";
/// The form's content type, as the provider's Java stack writes it.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded;charset=UTF-8";
/// The longest reply body read from a receiver: an acknowledgement is a few bytes, and a
/// misbehaving receiver must not make the sandbox buffer without end.
const MAX_REPLY_BYTES: usize = 64 * 1024;

/// The status a notification of `event` reports for the payment.
fn trade_status(event: Event) -> TradeStatus {
    match event {
        Event::Paid => TradeStatus::TradeSuccess,
        Event::Refunded => TradeStatus::TradeRefund,
        Event::Closed => TradeStatus::TradeClosed,
    }
}

/// The bill status a notification of `event` reports.
fn bill_status(event: Event) -> BillStatus {
    match event {
        Event::Paid => BillStatus::Paid,
        Event::Refunded => BillStatus::Refund,
        Event::Closed => BillStatus::Closed,
    }
}

/// The notification of `event` on `order` (as it stands just after the event), bill-shaped
/// for bills and mini-program-shaped for mini-program orders. Amounts are what was paid
/// (the order's amount when nothing was); a refund's `refundAmount` is the running total
/// refunded so far.
pub fn payment_notification(
    order: &Order,
    event: Event,
    notify_id: &str,
    creds: &SandboxCredentials,
    sign_type: SignType,
) -> PaymentNotification {
    let payment = order.payment.as_ref();
    let total = payment.map_or(order.amount, |p| p.amount).fen();
    let pay_time = payment.map(|p| time::format_body(p.pay_time));
    let settle_date = payment.map(|p| time::format_date(p.pay_time));
    let common = PaymentNotification {
        notify_id: notify_id.to_owned(),
        total_amount: Some(total.into()),
        seq_id: payment.map(|p| p.seq_id.clone()),
        mid: Some(creds.mid.clone()),
        tid: Some(creds.tid.clone()),
        inst_mid: Some(order.inst_mid.clone()),
        create_time: Some(order.create_time()),
        mer_name: Some(MER_NAME.to_owned()),
        refund_amount: (event == Event::Refunded).then(|| order.refunded.fen().into()),
        auth_id_resp_cd: payment.and_then(|p| p.auth_code.clone()),
        sign_type: Some(sign_type),
        ..PaymentNotification::default()
    };
    let Some(bill) = &order.bill else {
        return PaymentNotification {
            mer_order_id: Some(order.id.clone()),
            status: Some(trade_status(event)),
            target_order_id: payment.map(|p| p.target_order_id.clone()),
            target_sys: payment.map(|p| p.target_sys.clone()),
            pay_time: pay_time.map(Into::into),
            settle_date: settle_date.map(Into::into),
            ..common
        };
    };
    PaymentNotification {
        bill_no: Some(order.id.clone()),
        bill_qr_code: Some(bill.bill_qr_code.clone()),
        bill_date: Some(bill.bill_date.clone()),
        bill_status: Some(bill_status(event)),
        bill_desc: bill.bill_desc.clone(),
        member_id: bill.member_id.clone(),
        counter_no: bill.counter_no.clone(),
        bill_payment: bill_payment(order, trade_status(event)).map(Into::into),
        ..common
    }
}

/// The bill's payment (`billPayment`) reporting `status`, once the order is paid.
pub fn bill_payment(order: &Order, status: TradeStatus) -> Option<BillPayment> {
    let p = order.payment.as_ref()?;
    let total = p.amount.fen();
    Some(BillPayment {
        mer_order_id: Some(p.attempt_id.clone()),
        status: Some(status),
        total_amount: Some(total.into()),
        buyer_pay_amount: Some(total.into()),
        receipt_amount: Some(total.into()),
        invoice_amount: Some(total.into()),
        coupon_amount: Some(0.into()),
        pay_time: Some(time::format_body(p.pay_time).into()),
        settle_date: Some(time::format_date(p.pay_time).into()),
        target_order_id: Some(p.target_order_id.clone()),
        target_sys: Some(p.target_sys.clone()),
        pay_seq_id: Some(p.seq_id.clone()),
        bill_biz_type: Some(BILL_BIZ_TYPE.to_owned()),
        pay_detail: Some(pay_detail(total)),
        ..BillPayment::default()
    })
}

/// How the sandbox's buyer paid `fen`, described as the provider does.
pub fn pay_detail(fen: i64) -> String {
    format!("现金支付{}元。", yuan(fen))
}

/// `fen` as yuan with two decimals (`1` → `0.01`), for the payment's description. Integer
/// arithmetic only.
fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// `fields` plus one field of random name and value (which is signed like the others, as
/// the provider's is), the signature under `key`, form-encoded: the body to post.
pub fn signed_body(mut fields: Vec<(String, String)>, key: &str, sign_type: SignType) -> String {
    fields.push(random_field(&fields));
    notify_sign::signed_form(&fields, key, sign_type)
}

/// A field like the provider's `gY=Snwz`: a 2-letter name no other field has, a 4-letter
/// value.
fn random_field(fields: &[(String, String)]) -> (String, String) {
    let letters = |n: usize| -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        (0..n)
            .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
            .collect()
    };
    loop {
        let name = letters(2);
        let taken =
            fields.iter().any(|(n, _)| *n == name) || name == SIGN_FIELD || name == SIGN_TYPE_FIELD;
        if !taken {
            return (name, letters(4));
        }
    }
}

/// What counts as received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ack {
    /// The reply's body contains `SUCCESS` (payment notifications).
    BodySuccess,
    /// The reply's status is 200 (contract notices).
    Http200,
}

/// One notification's delivery plan.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// Where to post.
    pub url: String,
    /// The form body, identical on every attempt.
    pub body: String,
    /// The wait before each attempt; its length is the number of attempts.
    pub gaps: Vec<Duration>,
    /// An extra wait before the first attempt (the delay and reorder faults).
    pub hold: Duration,
    /// Post once more after it was acknowledged (the duplicate fault).
    pub duplicate: bool,
    /// What counts as received.
    pub ack: Ack,
    /// Time limit of one attempt.
    pub timeout: Duration,
}

/// What happened to a delivery, reported as it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// An attempt was made; whether it was acknowledged.
    Attempted {
        /// Acknowledged.
        acknowledged: bool,
    },
    /// Every attempt failed.
    GaveUp,
}

/// Delivers a notification: waits, posts, resends on failure, reports each attempt to
/// `report`. Runs on the actix runtime (it owns its own `awc::Client`, which is not `Send`).
pub async fn deliver(delivery: Delivery, mut report: impl FnMut(Progress)) {
    let client = awc::Client::builder()
        .timeout(delivery.timeout)
        .disable_redirects()
        .finish();
    actix_web::rt::time::sleep(delivery.hold).await;
    for gap in &delivery.gaps {
        actix_web::rt::time::sleep(*gap).await;
        let acknowledged = post(&client, &delivery).await;
        report(Progress::Attempted { acknowledged });
        if acknowledged {
            if delivery.duplicate {
                let again = post(&client, &delivery).await;
                report(Progress::Attempted {
                    acknowledged: again,
                });
            }
            return;
        }
    }
    report(Progress::GaveUp);
}

/// One attempt: whether the receiver acknowledged it.
async fn post(client: &awc::Client, delivery: &Delivery) -> bool {
    let sent = client
        .post(delivery.url.as_str())
        .insert_header(("Content-Type", FORM_CONTENT_TYPE))
        .send_body(delivery.body.clone())
        .await;
    let mut reply = match sent {
        Ok(reply) => reply,
        Err(e) => {
            log::debug!("sandbox: a notification attempt failed: {e}");
            return false;
        }
    };
    match delivery.ack {
        Ack::Http200 => reply.status() == StatusCode::OK,
        Ack::BodySuccess => match reply.body().limit(MAX_REPLY_BYTES).await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).contains(ACK_BODY),
            Err(_) => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::chinaums::form::Form;
    use crate::chinaums::wire::PaymentNotification;
    use crate::domain::money::Amount;
    use crate::sandbox::book::{Bill, Payment, Phase};

    fn order(bill: bool) -> Order {
        let at = Utc.with_ymd_and_hms(2026, 11, 21, 4, 0, 0).unwrap();
        Order {
            id: "1017BILL0001".into(),
            bill: bill.then(|| Bill {
                qr_code_id: "QR1".into(),
                bill_qr_code: "https://qr.example/QR1".into(),
                bill_date: "2026-11-21".into(),
                bill_desc: Some("绿茶".into()),
                member_id: None,
                counter_no: Some("06".into()),
            }),
            inst_mid: if bill { "QRPAYDEFAULT" } else { "MINIDEFAULT" }.into(),
            amount: Amount::from_fen(150).unwrap(),
            notify_url: None,
            created_at: at,
            expire_at: at,
            preauth: false,
            phase: Phase::Paid,
            payment: Some(Payment {
                attempt_id: "1017BILL000142".into(),
                amount: Amount::from_fen(150).unwrap(),
                seq_id: "00151100146N".into(),
                target_order_id: "4200000061201802132292046794".into(),
                target_sys: "WXPay".into(),
                pay_time: at,
                auth_code: None,
            }),
            refunded: Amount::from_fen(50).unwrap(),
            completion: None,
            notices: Vec::new(),
        }
    }

    fn received(body: &str) -> Form {
        Form::parse(body.as_bytes()).unwrap()
    }

    #[test]
    fn a_bill_notification_verifies_with_the_notification_key_and_reads_back() {
        let creds = SandboxCredentials::public_test();
        let n = payment_notification(&order(true), Event::Paid, "n-1", &creds, SignType::Sha256);

        let body = signed_body(n.to_fields(), creds.notify_key.expose(), SignType::Sha256);
        let form = received(&body);
        let read = PaymentNotification::from_form(&form).unwrap();

        assert_eq!(
            notify_sign::verify(form.pairs(), &[creds.notify_key.expose()]),
            Ok(0)
        );
        assert_eq!(read.bill_status, Some(BillStatus::Paid));
        assert_eq!(read.total_amount, Some(150.into()));
        assert_eq!(read.mer_name.as_deref(), Some(MER_NAME));
        let payment = read.payment().unwrap();
        assert_eq!(payment.mer_order_id.as_deref(), Some("1017BILL000142"));
        assert_eq!(payment.status, Some(TradeStatus::TradeSuccess));
        assert_eq!(payment.pay_detail.as_deref(), Some("现金支付1.50元。"));
        assert_eq!(form.pairs().len(), n.to_fields().len() + 2);
    }

    #[test]
    fn a_refund_notification_carries_the_running_total_and_an_md5_one_verifies_too() {
        let creds = SandboxCredentials::public_test();
        let n = payment_notification(&order(false), Event::Refunded, "n-2", &creds, SignType::Md5);

        let body = signed_body(n.to_fields(), creds.notify_key.expose(), SignType::Md5);
        let form = received(&body);

        assert_eq!(
            notify_sign::verify(form.pairs(), &[creds.notify_key.expose()]),
            Ok(0)
        );
        assert_eq!(form.get("refundAmount"), Some("50"));
        assert_eq!(form.get("status"), Some("TRADE_REFUND"));
        assert_eq!(form.get("merOrderId"), Some("1017BILL0001"));
        assert_eq!(form.get("billNo"), None);
        assert_eq!(form.get("signType"), Some("MD5"));
    }

    #[test]
    fn the_random_field_is_new_each_time_and_never_shadows_a_field() {
        let fields = vec![("ab".to_owned(), "1".to_owned())];

        let names: std::collections::HashSet<String> =
            (0..50).map(|_| random_field(&fields).0).collect();

        assert!(names.len() > 1);
        assert!(names.iter().all(|n| n.len() == 2 && n != "ab"));
    }
}
