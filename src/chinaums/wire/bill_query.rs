//! `bills/query`: a bill's state at the provider, by its own identity; the request, the
//! answer, and their validation. Owns the field table; it must not decide what an answer
//! means beyond its `errCode`.

use serde::{Deserialize, Serialize};

use super::{non_empty, opt_text, text, timestamp, tolerant, BillPayment, FieldError, Lenient};
use crate::chinaums::status::BillStatus;
use crate::chinaums::time;

/// `POST /v1/netpay/bills/query`: a bill's state at the provider, by its own identity
/// (`billNo` and `billDate`). Not among the seed pages: the fields are spelled as public
/// client code spells them (see `docs/protocol.md`), with update-qrcode's limits.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BillQueryRequest {
    /// Message id, echoed (≤64).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub msg_id: Option<String>,
    /// `yyyy-MM-dd HH:mm:ss`, Beijing time. Required.
    #[serde(default)]
    pub request_timestamp: String,
    /// Reserved, echoed (≤255).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub src_reserve: Option<String>,
    /// Merchant number, 15 characters. Required.
    #[serde(default)]
    pub mid: String,
    /// Terminal number, 8 characters. Required.
    #[serde(default)]
    pub tid: String,
    /// Business type, [`INST_MID_BILL`](crate::chinaums::INST_MID_BILL) for bills (8..32). Required.
    #[serde(default)]
    pub inst_mid: String,
    /// The bill number (≤31). Required.
    #[serde(default)]
    pub bill_no: String,
    /// The bill's date, `yyyy-MM-dd`. Required.
    #[serde(default)]
    pub bill_date: String,
}

impl BillQueryRequest {
    /// Checks the required fields and update-qrcode's limits for the same fields.
    pub fn validate(&self) -> Result<(), FieldError> {
        opt_text("msgId", self.msg_id.as_deref(), 1..=64)?;
        timestamp("requestTimestamp", &self.request_timestamp)?;
        opt_text("srcReserve", self.src_reserve.as_deref(), 1..=255)?;
        text("mid", &self.mid, 15..=15)?;
        text("tid", &self.tid, 8..=8)?;
        text("instMid", &self.inst_mid, 8..=32)?;
        text("billNo", &self.bill_no, 1..=31)?;
        if time::parse_date(&self.bill_date).is_none() {
            return Err(FieldError::new("billDate", "must be a date as yyyy-MM-dd"));
        }
        Ok(())
    }
}

/// The bill query's answer: the bill's own state (`billStatus`) and its payment
/// (`billPayment`, whose `merOrderId` is the payment attempt's own id). Read tolerantly.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BillQueryResponse {
    /// `SUCCESS` or a business error code; empty when absent.
    #[serde(default)]
    pub err_code: String,
    /// The error's text.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub err_msg: Option<String>,
    /// The error's text, as some layers spell it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub err_info: Option<String>,
    /// `yyyy-MM-dd HH:mm:ss`.
    #[serde(
        rename = "responseTimeStamp",
        alias = "responseTimestamp",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub response_timestamp: Option<String>,
    /// Echoed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub msg_id: Option<String>,
    /// Echoed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub src_reserve: Option<String>,
    /// Echoed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mid: Option<String>,
    /// Echoed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tid: Option<String>,
    /// Echoed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub inst_mid: Option<String>,
    /// The bill number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bill_no: Option<String>,
    /// `yyyy-MM-dd`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bill_date: Option<String>,
    /// The bill's QR code URL.
    #[serde(
        rename = "billQRCode",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub bill_qr_code: Option<String>,
    /// The bill's state; `""` reads as absent.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "non_empty"
    )]
    pub bill_status: Option<BillStatus>,
    /// The bill's total, in fen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::fen"
    )]
    pub total_amount: Option<Lenient<i64>>,
    /// Refunded so far, in fen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::fen"
    )]
    pub refund_amount: Option<Lenient<i64>>,
    /// `yyyy-MM-dd HH:mm:ss`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub create_time: Option<String>,
    /// The bill's payment: an object, a JSON string holding one, or `""` (absent).
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::bill_payment"
    )]
    pub bill_payment: Option<Lenient<BillPayment>>,
}

business_answer!(BillQueryResponse);

#[cfg(test)]
mod tests {
    use super::super::{field_of, from_json, Breakage};
    use super::*;
    use crate::chinaums::status::{ErrClass, TradeStatus};

    fn bill_query() -> BillQueryRequest {
        BillQueryRequest {
            request_timestamp: "2024-01-01 12:00:00".into(),
            mid: "898340149000005".into(),
            tid: "88880001".into(),
            inst_mid: crate::chinaums::INST_MID_BILL.into(),
            bill_no: "101720240101120000000001234".into(),
            bill_date: "2024-01-01".into(),
            ..BillQueryRequest::default()
        }
    }

    #[test]
    fn the_seed_request_is_valid() {
        assert_eq!(bill_query().validate(), Ok(()));
    }

    #[test]
    fn a_bill_query_answer_reads_the_bill_and_its_payment_attempt() {
        let body = r#"{"errCode":"SUCCESS","errInfo":"","billNo":"101720240101120000000001234",
            "billDate":"2024-01-01","billStatus":"PAID","totalAmount":100,"mid":"898340149000005",
            "billPayment":{"merOrderId":"1017202401011200000000012340","status":"TRADE_SUCCESS",
            "totalAmount":"100","couponAmount":"0.00","paySeqId":"7788"}}"#;

        let answer: BillQueryResponse = from_json(body.as_bytes()).unwrap();

        assert_eq!(answer.err_class(), ErrClass::Success);
        assert_eq!(answer.bill_status, Some(BillStatus::Paid));
        assert_eq!(answer.total_amount, Some(Lenient::Read(100)));
        let payment = answer
            .bill_payment
            .as_ref()
            .and_then(Lenient::read)
            .unwrap();
        assert_eq!(
            payment.mer_order_id.as_deref(),
            Some("1017202401011200000000012340")
        );
        assert_eq!(payment.status, Some(TradeStatus::TradeSuccess));
    }

    #[test]
    fn a_bill_query_needs_its_bill_number_and_date() {
        let cases: Vec<Breakage<BillQueryRequest>> = vec![
            ("billNo", |r| r.bill_no.clear()),
            ("billNo", |r| r.bill_no = "1".repeat(32)),
            ("billDate", |r| r.bill_date = "2024-02-30".into()),
            ("billDate", |r| r.bill_date.clear()),
            ("instMid", |r| r.inst_mid.clear()),
            ("mid", |r| r.mid = "8983401".into()),
            ("requestTimestamp", |r| r.request_timestamp.clear()),
        ];

        for (field, break_it) in cases {
            let mut request = bill_query();
            break_it(&mut request);

            assert_eq!(field_of(request.validate()), field);
        }
    }
}
