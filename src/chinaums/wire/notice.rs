//! What the provider posts to us: payment notifications (seed 000, docs/protocol.md §5) and
//! contract notices (seed 004, §6), read from an already verified [`Form`] and written back
//! as fields for the sandbox. Owns their fields; it must not verify signatures (that is
//! `notify_sign`, over the form as received) and must not refuse a verified notification
//! for anything but a missing id or unreadable money.

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use super::{
    expose_opt, from_form_fields, non_empty, text, timestamp, to_form_fields, tolerant, FieldError,
    Lenient,
};
use crate::chinaums::form::Form;
use crate::chinaums::notify_sign::SignType;
use crate::chinaums::status::{BillStatus, ContractState, TradeStatus};
use crate::secret::Secret;

/// A bill's payment (`billPayment`): a JSON object, carried in notifications as a JSON
/// string and in query answers as an object. Buyer fields (`buyerId`, `buyerUsername`) are
/// deliberately not read.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BillPayment {
    /// The payment attempt's order id: `billNo` plus a short suffix in the provider's
    /// samples.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mer_order_id: Option<String>,
    /// The payment's state; `""` reads as absent.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "non_empty"
    )]
    pub status: Option<TradeStatus>,
    /// Total after alliance discounts, in fen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::fen"
    )]
    pub total_amount: Option<Lenient<i64>>,
    /// What the buyer paid, in fen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::fen"
    )]
    pub buyer_pay_amount: Option<Lenient<i64>>,
    /// What the merchant received, in fen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::fen"
    )]
    pub receipt_amount: Option<Lenient<i64>>,
    /// Invoiceable amount, in fen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::fen"
    )]
    pub invoice_amount: Option<Lenient<i64>>,
    /// Channel discount, in fen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::fen"
    )]
    pub coupon_amount: Option<Lenient<i64>>,
    /// Alliance discount, in fen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::fen"
    )]
    pub discount_amount: Option<Lenient<i64>>,
    /// `yyyy-MM-dd HH:mm:ss`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::text"
    )]
    pub pay_time: Option<Lenient<String>>,
    /// `yyyy-MM-dd`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::text"
    )]
    pub settle_date: Option<Lenient<String>>,
    /// The payment platform's order id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target_order_id: Option<String>,
    /// The payment platform, e.g. `WXPay`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target_sys: Option<String>,
    /// Reference number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pay_seq_id: Option<String>,
    /// Bill business type.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bill_biz_type: Option<String>,
    /// How it was paid, described.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pay_detail: Option<String>,
}

/// A payment result notification, bill-shaped (`billNo`, `billStatus`) or
/// mini-program-shaped (`merOrderId`, `status` at the top level). Buyer fields
/// (`extraBuyerInfo`, `buyerUsername`) are deliberately not read. The signature fields
/// (`sign`, the random field) belong to the form, not here.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentNotification {
    /// Unique per notification, unchanged on resends. Required.
    pub notify_id: String,
    /// The bill number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bill_no: Option<String>,
    /// The bill's QR code URL.
    #[serde(
        rename = "billQRCode",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub bill_qr_code: Option<String>,
    /// `yyyy-MM-dd`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bill_date: Option<String>,
    /// The bill's state.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "non_empty"
    )]
    pub bill_status: Option<BillStatus>,
    /// Total before discounts, in fen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::fen"
    )]
    pub total_amount: Option<Lenient<i64>>,
    /// Platform serial number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub seq_id: Option<String>,
    /// Merchant number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mid: Option<String>,
    /// Terminal number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tid: Option<String>,
    /// Business type.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub inst_mid: Option<String>,
    /// `yyyy-MM-dd HH:mm:ss`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub create_time: Option<String>,
    /// The bill's description.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bill_desc: Option<String>,
    /// Member number, as sent in update-qrcode.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub member_id: Option<String>,
    /// Table, counter or room number, as sent in update-qrcode.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub counter_no: Option<String>,
    /// Merchant name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mer_name: Option<String>,
    /// The payer's note.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub memo: Option<String>,
    /// Guarantee state.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub secure_status: Option<String>,
    /// Guaranteed amount completed, in fen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::fen"
    )]
    pub complete_amount: Option<Lenient<i64>>,
    /// The payment, sent as a JSON string.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        serialize_with = "json_text",
        deserialize_with = "tolerant::bill_payment"
    )]
    pub bill_payment: Option<Lenient<BillPayment>>,
    /// Refunded amount, in fen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::fen"
    )]
    pub refund_amount: Option<Lenient<i64>>,
    /// The refund's own order id, when the provider sends one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub refund_order_id: Option<String>,
    /// Refund description.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub refund_desc: Option<String>,
    /// Present when a pre-authorised payment succeeded; preauthed needs it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub auth_id_resp_cd: Option<String>,
    /// `MD5` or `SHA256`; absent means MD5. Any other value is refused.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sign_type: Option<SignType>,
    /// Mini-program shape: the order id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mer_order_id: Option<String>,
    /// Mini-program shape: the order's state.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "non_empty"
    )]
    pub status: Option<TradeStatus>,
    /// Mini-program shape: the payment platform's order id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target_order_id: Option<String>,
    /// Mini-program shape: the payment platform.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target_sys: Option<String>,
    /// Mini-program shape: `yyyy-MM-dd HH:mm:ss`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::text"
    )]
    pub pay_time: Option<Lenient<String>>,
    /// Mini-program shape: `yyyy-MM-dd`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::text"
    )]
    pub settle_date: Option<Lenient<String>>,
}

impl BillPayment {
    /// The members of `billPayment` the gateway reads (`domain::reading`): the payment
    /// attempt's id, its status, total and facts. `notify` refuses a verified notice in which
    /// one of them holds `&` or `=` (docs/protocol.md §5: the signing string has no escaping).
    pub const READ: [&'static str; 8] = [
        "merOrderId",
        "status",
        "totalAmount",
        "paySeqId",
        "payTime",
        "settleDate",
        "targetOrderId",
        "targetSys",
    ];

    /// The members kept but never read: amounts the gateway does not compare, and free text.
    pub const UNREAD: [&'static str; 7] = [
        "buyerPayAmount",
        "receiptAmount",
        "invoiceAmount",
        "couponAmount",
        "discountAmount",
        "billBizType",
        "payDetail",
    ];
}

impl PaymentNotification {
    /// The fields the gateway reads from a payment notification (`domain::reading`,
    /// `notify::payment`): its id, the orders and refund it names, whose it is (`mid`, `tid`,
    /// `instMid`), its statuses, amounts, dates and facts, and `signType`. Every field of this
    /// type is here or in [`UNREAD`](Self::UNREAD) (a test holds the two to the type), so a
    /// field the gateway starts to read is classified when it is added; `notify` refuses a
    /// verified notice in which one of these holds `&` or `=`, or any field carries
    /// `&<one of these>=` (docs/protocol.md §5).
    pub const READ: [&'static str; 19] = [
        "notifyId",
        "billNo",
        "billStatus",
        "totalAmount",
        "seqId",
        "mid",
        "tid",
        "instMid",
        "billPayment",
        "refundAmount",
        "refundOrderId",
        "authIdRespCd",
        "signType",
        "merOrderId",
        "status",
        "targetOrderId",
        "targetSys",
        "payTime",
        "settleDate",
    ];

    /// The fields kept but never read: free text and URLs (which may hold `&` and `=`), and
    /// values the gateway does not use.
    pub const UNREAD: [&'static str; 11] = [
        "billQRCode",
        "billDate",
        "createTime",
        "billDesc",
        "memberId",
        "counterNo",
        "merName",
        "memo",
        "secureStatus",
        "completeAmount",
        "refundDesc",
    ];

    /// Reads a verified notification. Empty fields are absent; unknown fields and unknown
    /// statuses are kept or ignored, never refused; amounts, times and `billPayment` that
    /// are not in the expected shape are kept raw ([`Lenient::Raw`]) for the caller to
    /// judge. Refused only: no `notifyId`, a `signType` other than MD5/SHA256.
    pub fn from_form(form: &Form) -> Result<PaymentNotification, FieldError> {
        from_form_fields(form, &["notifyId"])
    }

    /// The bill's payment, when it was readable.
    pub fn payment(&self) -> Option<&BillPayment> {
        self.bill_payment.as_ref().and_then(Lenient::read)
    }

    /// The notification as form fields (`billPayment` as a JSON string, absent fields left
    /// out), for the sandbox to add the random field, sign and form-encode.
    pub fn to_fields(&self) -> Vec<(String, String)> {
        to_form_fields(self)
    }
}

/// A contract termination notice (seed 004).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractNotice {
    /// `yyyy-MM-dd HH:mm:ss`, Beijing time; with `contractNo`, identifies the notice.
    pub request_timestamp: String,
    /// Merchant number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mid: Option<String>,
    /// The merchant's contract number (8..40).
    pub contract_no: String,
    /// The provider's contract id (Base64).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub contract_id: Option<String>,
    /// The contract's state.
    pub contract_state: ContractState,
    /// When it was signed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub contract_signed_time: Option<String>,
    /// When it expires.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub contract_expired_time: Option<String>,
    /// Per-payment limit, as text.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub single_limit_amt: Option<String>,
    /// Uses left, as text.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub avl_num: Option<String>,
    /// Contract template id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub plan_id: Option<String>,
    /// The signature, when the notice is signed (docs/protocol.md §6, assumed). Verify the form.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        serialize_with = "expose_opt"
    )]
    pub sign: Option<Secret>,
    /// `MD5` or `SHA256`, when signed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sign_type: Option<SignType>,
}

impl ContractNotice {
    /// The fields the gateway reads from a contract notice: every field but `sign` (which
    /// is not signed), since each is kept as the contract's state. A test holds the list to
    /// the type; `notify` refuses a notice in which one of them holds `&` or `=` (`=` is
    /// allowed as the Base64 padding that ends `contractId`).
    pub const READ: [&'static str; 11] = [
        "requestTimestamp",
        "mid",
        "contractNo",
        "contractId",
        "contractState",
        "contractSignedTime",
        "contractExpiredTime",
        "singleLimitAmt",
        "avlNum",
        "planId",
        "signType",
    ];

    /// Reads a notice: `requestTimestamp` (`yyyy-MM-dd HH:mm:ss`), `contractNo` (8..40)
    /// and `contractState` are required; unknown states are kept.
    pub fn from_form(form: &Form) -> Result<ContractNotice, FieldError> {
        let notice: ContractNotice =
            from_form_fields(form, &["requestTimestamp", "contractNo", "contractState"])?;
        timestamp("requestTimestamp", &notice.request_timestamp)?;
        text("contractNo", &notice.contract_no, 8..=40)?;
        Ok(notice)
    }

    /// The notice as form fields (with `sign` when set), for the sandbox to send.
    pub fn to_fields(&self) -> Vec<(String, String)> {
        to_form_fields(self)
    }
}

/// `serialize_with` for `billPayment` in a notification: a JSON object inside a string
/// field (a raw value is written back as it came).
fn json_text<S: Serializer>(
    payment: &Option<Lenient<BillPayment>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match payment {
        Some(Lenient::Raw(Value::String(text))) => s.serialize_str(text),
        Some(payment) => {
            s.serialize_str(&serde_json::to_string(payment).map_err(serde::ser::Error::custom)?)
        }
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::chinaums::notify_sign;

    const KEY: &str = "impARTxrQcfwmRijpDNCw6hPxaWCddKEpYxjaKXDhCaTCXJ6";

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form::parse(Form::encode(pairs).as_bytes()).unwrap()
    }

    fn paid() -> PaymentNotification {
        PaymentNotification {
            notify_id: "00000000-0000-0000-0000-000000000001".into(),
            bill_no: Some("101720240101120000000001234".into()),
            bill_date: Some("2024-01-01".into()),
            bill_status: Some(BillStatus::Paid),
            total_amount: Some(100.into()),
            mid: Some("898340149000005".into()),
            bill_payment: Some(Lenient::Read(BillPayment {
                mer_order_id: Some("1017202401011200000000012340".into()),
                status: Some(TradeStatus::TradeSuccess),
                total_amount: Some(100.into()),
                pay_time: Some(Lenient::Read("2024-01-01 12:01:02".into())),
                target_sys: Some("WXPay".into()),
                ..BillPayment::default()
            })),
            auth_id_resp_cd: Some("384822".into()),
            sign_type: Some(SignType::Sha256),
            ..PaymentNotification::default()
        }
    }

    fn terminated() -> ContractNotice {
        ContractNotice {
            request_timestamp: "2024-01-01 12:00:00".into(),
            mid: Some("898340149000005".into()),
            contract_no: "1017C0000001".into(),
            contract_id: None,
            contract_state: ContractState::Rescission,
            contract_signed_time: None,
            contract_expired_time: None,
            single_limit_amt: None,
            avl_num: None,
            plan_id: Some("P1".into()),
            sign: None,
            sign_type: None,
        }
    }

    #[test]
    fn the_sandbox_path_signs_fields_that_verify_and_read_back_unchanged() {
        let mut fields = paid().to_fields();
        fields.push(("gY".into(), "Snwz".into()));
        let body = notify_sign::signed_form(&fields, KEY, SignType::Sha256);

        let received = Form::parse(body.as_bytes()).unwrap();

        assert_eq!(notify_sign::verify(received.pairs(), &[KEY]), Ok(0));
        assert_eq!(PaymentNotification::from_form(&received), Ok(paid()));
        assert!(received
            .get("billPayment")
            .unwrap()
            .starts_with("{\"merOrderId\""));
    }

    #[test]
    fn a_mini_program_notification_carries_the_order_at_the_top_level() {
        let received = form(&[
            ("notifyId", "n-1"),
            ("merOrderId", "1017202401011200000001234"),
            ("status", "TRADE_SUCCESS"),
            ("totalAmount", "100"),
            ("extraBuyerInfo", "{\"name\":\"张三\"}"),
            ("memo", ""),
        ]);

        let notification = PaymentNotification::from_form(&received).unwrap();

        assert_eq!(
            notification.mer_order_id.as_deref(),
            Some("1017202401011200000001234")
        );
        assert_eq!(notification.status, Some(TradeStatus::TradeSuccess));
        assert_eq!(notification.memo, None);
        assert!(!format!("{notification:?}").contains("张三"));
    }

    #[test]
    fn unknown_statuses_are_kept_not_refused() {
        let received = form(&[("notifyId", "n-1"), ("billStatus", "PARTIAL")]);

        let notification = PaymentNotification::from_form(&received).unwrap();

        assert_eq!(
            notification.bill_status,
            Some(BillStatus::Unrecognised("PARTIAL".into()))
        );
    }

    #[test]
    fn a_notification_is_refused_only_without_its_id_or_with_an_unknown_sign_type() {
        let cases: [(&[(&str, &str)], &str); 3] = [
            (&[("billNo", "1017")], "notifyId"),
            (&[("notifyId", "")], "notifyId"),
            (&[("notifyId", "n"), ("signType", "RSA")], "signType"),
        ];

        for (pairs, field) in cases {
            let error = PaymentNotification::from_form(&form(pairs)).unwrap_err();

            assert_eq!(error.field, field, "{error}");
        }
    }

    #[test]
    fn an_unreadable_required_amount_is_kept_raw_never_guessed() {
        for raw in ["1.00", "-1", "1e2", " 1", "１００"] {
            let received = form(&[
                ("notifyId", "n"),
                ("totalAmount", raw),
                ("refundAmount", raw),
            ]);

            let n = PaymentNotification::from_form(&received).unwrap();

            assert_eq!(
                n.total_amount,
                Some(Lenient::Raw(Value::from(raw))),
                "{raw}"
            );
            assert_eq!(
                n.refund_amount,
                Some(Lenient::Raw(Value::from(raw))),
                "{raw}"
            );
        }
        let received = form(&[("notifyId", "n"), ("totalAmount", "100")]);
        assert_eq!(
            PaymentNotification::from_form(&received)
                .unwrap()
                .total_amount,
            Some(Lenient::Read(100))
        );
    }

    #[test]
    fn optional_fields_of_odd_shapes_are_kept_raw_and_the_notice_still_reads() {
        // couponAmount "0.00" and payTime as a number inside billPayment, completeAmount
        // "0.00" at the top level: shapes seen in real notifications.
        let received = Form::from_json(
            br#"{"notifyId":"n","billNo":"1017B1","billStatus":"PAID","totalAmount":"100",
                "completeAmount":"0.00",
                "billPayment":"{\"merOrderId\":\"1017B10\",\"status\":\"TRADE_SUCCESS\",\"totalAmount\":100,\"couponAmount\":\"0.00\",\"payTime\":1700000000}"}"#,
        )
        .unwrap();

        let n = PaymentNotification::from_form(&received).unwrap();

        assert_eq!(n.complete_amount, Some(Lenient::Raw(Value::from("0.00"))));
        assert_eq!(n.total_amount, Some(Lenient::Read(100)));
        let payment = n.payment().unwrap();
        assert_eq!(payment.mer_order_id.as_deref(), Some("1017B10"));
        assert_eq!(payment.total_amount, Some(Lenient::Read(100)));
        assert_eq!(
            payment.coupon_amount,
            Some(Lenient::Raw(Value::from("0.00")))
        );
        assert_eq!(
            payment.pay_time,
            Some(Lenient::Raw(Value::from(1_700_000_000)))
        );
    }

    #[test]
    fn bill_payment_reads_as_an_object_a_json_string_or_empty() {
        let shapes: [(&[u8], Option<&str>); 3] = [
            (
                br#"{"notifyId":"n","billPayment":{"merOrderId":"1017B10"}}"#,
                Some("1017B10"),
            ),
            (
                br#"{"notifyId":"n","billPayment":"{\"merOrderId\":\"1017B10\"}"}"#,
                Some("1017B10"),
            ),
            (br#"{"notifyId":"n","billPayment":""}"#, None),
        ];

        for (body, attempt) in shapes {
            let n = PaymentNotification::from_form(&Form::from_json(body).unwrap()).unwrap();

            assert_eq!(
                n.payment().and_then(|p| p.mer_order_id.as_deref()),
                attempt,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let cut = form(&[("notifyId", "n"), ("billPayment", "{\"totalAmount\":")]);
        let n = PaymentNotification::from_form(&cut).unwrap();
        assert_eq!(
            n.bill_payment,
            Some(Lenient::Raw(Value::from("{\"totalAmount\":")))
        );
    }

    #[test]
    fn a_json_notification_reads_bill_payment_from_its_exact_text() {
        let received = Form::from_json(
            br#"{"notifyId":"n","totalAmount":100,"billPayment":{"merOrderId":"10170001","totalAmount":"100"}}"#,
        )
        .unwrap();

        let notification = PaymentNotification::from_form(&received).unwrap();

        assert_eq!(notification.total_amount, Some(100.into()));
        let payment = notification.payment().unwrap();
        assert_eq!(payment.mer_order_id.as_deref(), Some("10170001"));
        assert_eq!(payment.total_amount, Some(100.into()));
    }

    /// The names `fields` serialises to, sorted.
    fn names_of(fields: Vec<(String, String)>) -> Vec<String> {
        let mut names: Vec<String> = fields.into_iter().map(|(n, _)| n).collect();
        names.sort();
        names
    }

    /// `lists` joined, sorted.
    fn listed(lists: &[&[&str]]) -> Vec<String> {
        let mut names: Vec<String> = lists.concat().into_iter().map(str::to_owned).collect();
        names.sort();
        names
    }

    #[test]
    fn every_field_of_each_notice_type_is_listed_as_read_or_unread_exactly_once() {
        // Arrange: every field set, with no `..`: a field added to a type fails to compile
        // here until it is set, and then fails the assertions until it is classified.
        let text = || Some("x".to_owned());
        let payment = BillPayment {
            mer_order_id: text(),
            status: Some(TradeStatus::TradeSuccess),
            total_amount: Some(1.into()),
            buyer_pay_amount: Some(1.into()),
            receipt_amount: Some(1.into()),
            invoice_amount: Some(1.into()),
            coupon_amount: Some(1.into()),
            discount_amount: Some(1.into()),
            pay_time: Some(Lenient::Read("x".into())),
            settle_date: Some(Lenient::Read("x".into())),
            target_order_id: text(),
            target_sys: text(),
            pay_seq_id: text(),
            bill_biz_type: text(),
            pay_detail: text(),
        };
        let notification = PaymentNotification {
            notify_id: "x".into(),
            bill_no: text(),
            bill_qr_code: text(),
            bill_date: text(),
            bill_status: Some(BillStatus::Paid),
            total_amount: Some(1.into()),
            seq_id: text(),
            mid: text(),
            tid: text(),
            inst_mid: text(),
            create_time: text(),
            bill_desc: text(),
            member_id: text(),
            counter_no: text(),
            mer_name: text(),
            memo: text(),
            secure_status: text(),
            complete_amount: Some(1.into()),
            bill_payment: Some(Lenient::Read(payment.clone())),
            refund_amount: Some(1.into()),
            refund_order_id: text(),
            refund_desc: text(),
            auth_id_resp_cd: text(),
            sign_type: Some(SignType::Md5),
            mer_order_id: text(),
            status: Some(TradeStatus::TradeSuccess),
            target_order_id: text(),
            target_sys: text(),
            pay_time: Some(Lenient::Read("x".into())),
            settle_date: Some(Lenient::Read("x".into())),
        };
        let contract = ContractNotice {
            request_timestamp: "x".into(),
            mid: text(),
            contract_no: "x".into(),
            contract_id: text(),
            contract_state: ContractState::Signed,
            contract_signed_time: text(),
            contract_expired_time: text(),
            single_limit_amt: text(),
            avl_num: text(),
            plan_id: text(),
            sign: Some(Secret::new("x")),
            sign_type: Some(SignType::Md5),
        };
        let payment_fields = match serde_json::to_value(&payment).unwrap() {
            Value::Object(members) => members.into_iter().map(|(n, _)| (n, String::new())),
            other => panic!("not an object: {other}"),
        };

        // Act
        let lists = [
            (
                names_of(payment_fields.collect()),
                listed(&[&BillPayment::READ, &BillPayment::UNREAD]),
            ),
            (
                names_of(notification.to_fields()),
                listed(&[&PaymentNotification::READ, &PaymentNotification::UNREAD]),
            ),
            (
                names_of(contract.to_fields()),
                listed(&[&ContractNotice::READ, &["sign"]]),
            ),
        ];

        // Assert: the lists and the types name the same fields, each once.
        for (fields, listed) in lists {
            assert_eq!(fields, listed);
        }
    }

    #[test]
    fn a_contract_notice_round_trips_through_its_fields() {
        let received = form(
            &terminated()
                .to_fields()
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
        );

        assert_eq!(ContractNotice::from_form(&received), Ok(terminated()));
    }

    #[test]
    fn a_contract_notice_needs_its_identity_and_state() {
        let cases: [(&[(&str, &str)], &str); 4] = [
            (
                &[("contractNo", "1017C0000001"), ("contractState", "SIGNED")],
                "requestTimestamp",
            ),
            (
                &[
                    ("requestTimestamp", "20240101120000"),
                    ("contractNo", "1017C0000001"),
                    ("contractState", "SIGNED"),
                ],
                "requestTimestamp",
            ),
            (
                &[
                    ("requestTimestamp", "2024-01-01 12:00:00"),
                    ("contractNo", "1017C00"),
                    ("contractState", "SIGNED"),
                ],
                "contractNo",
            ),
            (
                &[
                    ("requestTimestamp", "2024-01-01 12:00:00"),
                    ("contractNo", "1017C0000001"),
                ],
                "contractState",
            ),
        ];

        for (pairs, field) in cases {
            let error = ContractNotice::from_form(&form(pairs)).unwrap_err();

            assert_eq!(error.field, field, "{error}");
        }
    }

    #[test]
    fn a_signed_contract_notice_keeps_its_sign_out_of_debug() {
        let notice = ContractNotice {
            sign: Some(Secret::new("ABCDEF0123456789")),
            ..terminated()
        };

        assert!(!format!("{notice:?}").contains("ABCDEF0123456789"));
        assert!(notice
            .to_fields()
            .contains(&("sign".to_owned(), "ABCDEF0123456789".to_owned())));
    }

    /// Names the readers care about, plus arbitrary ones.
    fn field_name() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "notifyId",
                "totalAmount",
                "billPayment",
                "billStatus",
                "status",
                "signType",
                "refundAmount",
                "requestTimestamp",
                "contractNo",
                "contractState",
                "sign",
            ])
            .prop_map(str::to_owned),
            "\\PC{1,8}",
        ]
    }

    proptest! {
        #[test]
        fn reading_any_form_as_a_notice_never_panics(
            fields in proptest::collection::btree_map(field_name(), ".{0,40}", 0..12),
        ) {
            let pairs: Vec<(String, String)> = fields.into_iter().collect();
            let received = Form::parse(Form::encode(&pairs).as_bytes());

            if let Ok(received) = received {
                let _ = PaymentNotification::from_form(&received);
                let _ = ContractNotice::from_form(&received);
            }
        }
    }
}
