//! `mini-pre-query` (seed 001): an order's state at the provider; the request, the answer,
//! and their validation. Owns the field table; it must not decide what an answer means
//! beyond its `errCode`.

use serde::{Deserialize, Serialize};

use super::{non_empty, opt_text, text, timestamp, tolerant, BillPayment, FieldError, Lenient};
use crate::chinaums::status::TradeStatus;

/// `POST /v1/netpay/wx/mini-pre-query`: an order's state at the provider (seed 001).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MiniPreQueryRequest {
    /// Message id, echoed (≤64).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub msg_id: Option<String>,
    /// `yyyy-MM-dd HH:mm:ss`, Beijing time. Required.
    #[serde(default)]
    pub request_timestamp: String,
    /// Reserved, echoed (≤255).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub src_reserve: Option<String>,
    /// Merchant number (8..32). Required.
    #[serde(default)]
    pub mid: String,
    /// Terminal number (2..32). Required.
    #[serde(default)]
    pub tid: String,
    /// Business type, e.g. `MINIDEFAULT` (8..32).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub inst_mid: Option<String>,
    /// The payment platform's order id (6..64); this or `merOrderId` is required.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target_order_id: Option<String>,
    /// The merchant's order id (6..32); this or `targetOrderId` is required.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mer_order_id: Option<String>,
}

impl MiniPreQueryRequest {
    /// Checks seed 001's required fields and lengths.
    pub fn validate(&self) -> Result<(), FieldError> {
        opt_text("msgId", self.msg_id.as_deref(), 1..=64)?;
        timestamp("requestTimestamp", &self.request_timestamp)?;
        opt_text("srcReserve", self.src_reserve.as_deref(), 1..=255)?;
        text("mid", &self.mid, 8..=32)?;
        text("tid", &self.tid, 2..=32)?;
        opt_text("instMid", self.inst_mid.as_deref(), 8..=32)?;
        opt_text("targetOrderId", self.target_order_id.as_deref(), 6..=64)?;
        opt_text("merOrderId", self.mer_order_id.as_deref(), 6..=32)?;
        let given = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
        if !given(&self.mer_order_id) && !given(&self.target_order_id) {
            return Err(FieldError::new(
                "merOrderId",
                "merOrderId or targetOrderId is required",
            ));
        }
        Ok(())
    }
}

/// mini-pre-query's answer. Buyer fields (`buyerId`, `buyerUsername`, `bankCardNo`, …)
/// are deliberately not read.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MiniPreQueryResponse {
    /// `SUCCESS` or a business error code; empty when the answer carries none (an answer
    /// with a `status` and no `errCode` is still read: see `provider`).
    #[serde(default)]
    pub err_code: String,
    /// The error's text.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub err_msg: Option<String>,
    /// The error's text, as some layers spell it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub err_info: Option<String>,
    /// Echoed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub msg_id: Option<String>,
    /// Echoed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub src_reserve: Option<String>,
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
    pub mid: Option<String>,
    /// Echoed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tid: Option<String>,
    /// Echoed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub inst_mid: Option<String>,
    /// Platform serial number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub seq_id: Option<String>,
    /// Clearing id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub settle_ref_id: Option<String>,
    /// Retrieval reference number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ref_id: Option<String>,
    /// The order's state; `""` reads as absent.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "non_empty"
    )]
    pub status: Option<TradeStatus>,
    /// Total, in fen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::fen"
    )]
    pub total_amount: Option<Lenient<i64>>,
    /// Merchant name. The seed types it as a number; any JSON value is accepted.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mer_name: Option<serde_json::Value>,
    /// The merchant's order id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mer_order_id: Option<String>,
    /// The payment platform's order id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target_order_id: Option<String>,
    /// The payment platform.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target_sys: Option<String>,
    /// The payment platform's state.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target_status: Option<String>,
    /// The channel's merchant number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target_mid: Option<String>,
    /// Bank information.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bank_info: Option<String>,
    /// Funding channels, `method:fen` entries.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bill_funds: Option<String>,
    /// Funding channels, described.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bill_funds_desc: Option<String>,
    /// What the buyer paid, in fen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::fen"
    )]
    pub buyer_pay_amount: Option<Lenient<i64>>,
    /// The bill's payment: an object, a JSON string holding one, or `""` (absent).
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::bill_payment"
    )]
    pub bill_payment: Option<Lenient<BillPayment>>,
    /// Channel discount, in fen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::fen"
    )]
    pub coupon_amount: Option<Lenient<i64>>,
    /// Invoiceable amount, in fen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::fen"
    )]
    pub invoice_amount: Option<Lenient<i64>>,
    /// `yyyy-MM-dd HH:mm:ss`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::text"
    )]
    pub pay_time: Option<Lenient<String>>,
    /// What the merchant received, in fen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::fen"
    )]
    pub receipt_amount: Option<Lenient<i64>>,
    /// `yyyy-MM-dd`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::text"
    )]
    pub settle_date: Option<Lenient<String>>,
    /// WeChat activity ids.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub activity_ids: Option<String>,
    /// Marketing-alliance discount, in fen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::fen"
    )]
    pub yxlm_amount: Option<Lenient<i64>>,
    /// Merchant-funded discount, in fen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::fen"
    )]
    pub coupon_merchant_contribute: Option<Lenient<i64>>,
    /// Otherwise-funded discount, in fen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "tolerant::fen"
    )]
    pub coupon_other_contribute: Option<Lenient<i64>>,
    /// Cash paid (typed as text by the seed).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub buyer_cash_pay_amt: Option<String>,
    /// Card attribute (debit/credit).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub card_attr: Option<String>,
}

business_answer!(MiniPreQueryResponse);

#[cfg(test)]
mod tests {
    use super::super::{field_of, from_json, Breakage};
    use super::*;
    use crate::chinaums::status::ErrClass;

    fn mini_pre_query() -> MiniPreQueryRequest {
        MiniPreQueryRequest {
            request_timestamp: "2023-08-31 13:53:00".into(),
            mid: "898340149000005".into(),
            tid: "88880001".into(),
            inst_mid: Some("MINIDEFAULT".into()),
            mer_order_id: Some("319420230831135026".into()),
            ..MiniPreQueryRequest::default()
        }
    }

    #[test]
    fn the_seed_request_is_valid() {
        assert_eq!(mini_pre_query().validate(), Ok(()));
    }

    #[test]
    fn mini_pre_query_needs_an_order_id_and_refuses_bad_lengths() {
        let cases: Vec<Breakage<MiniPreQueryRequest>> = vec![
            ("merOrderId", |r| r.mer_order_id = Some(String::new())),
            ("merOrderId", |r| r.mer_order_id = Some("12345".into())),
            ("targetOrderId", |r| {
                r.target_order_id = Some("1".repeat(65))
            }),
            ("mid", |r| r.mid = "8983401".into()),
            ("tid", |r| r.tid = "8".into()),
            ("instMid", |r| r.inst_mid = Some("MINI".into())),
            ("requestTimestamp", |r| r.request_timestamp.clear()),
        ];

        for (field, break_it) in cases {
            let mut request = mini_pre_query();
            break_it(&mut request);

            assert_eq!(field_of(request.validate()), field);
        }
        let by_target = MiniPreQueryRequest {
            mer_order_id: None,
            target_order_id: Some("4200000061201802132292046794".into()),
            ..mini_pre_query()
        };
        assert_eq!(by_target.validate(), Ok(()));
    }

    #[test]
    fn the_seed_query_answer_reads_with_its_odd_types() {
        let body = r#"{"errCode":"SUCCESS","errMsg":"成功","responseTimeStamp":"2023-08-31 13:50:14",
            "mid":"898340149000005","tid":"88880001","status":"","totalAmount":"1","merName":0,
            "merOrderId":"319420230831135026","buyerPayAmount":0,"billPayment":{},
            "buyerUsername":"","couponAmount":0,"somethingNew":{"x":1}}"#;

        let answer: MiniPreQueryResponse = from_json(body.as_bytes()).unwrap();

        assert_eq!(answer.err_class(), ErrClass::Success);
        assert_eq!(answer.err_text(), Some("成功"));
        assert_eq!(answer.status, None);
        assert_eq!(answer.total_amount, Some(Lenient::Read(1)));
        assert_eq!(answer.mer_name, Some(serde_json::json!(0)));
        assert_eq!(
            answer.response_timestamp.as_deref(),
            Some("2023-08-31 13:50:14")
        );
        assert!(answer.bill_payment.is_some());
    }

    /// The seed's own mini-pre-query example answer, verbatim after its file's header.
    const SEED_ANSWER: &str = include_str!("../../../tests/conformance/mini-pre-query.answer.txt");

    #[test]
    fn the_seed_example_answer_reads_verbatim() {
        let (_, text) = SEED_ANSWER.split_once("\n\n").unwrap();

        let answer: MiniPreQueryResponse = from_json(text.as_bytes()).unwrap();

        assert_eq!(answer.err_class(), ErrClass::Success);
        assert_eq!(answer.total_amount, Some(Lenient::Read(1)));
        assert_eq!(answer.mer_order_id.as_deref(), Some("319420230831135026"));
        assert_eq!(answer.status, None);
        assert_eq!(answer.coupon_amount, Some(Lenient::Read(0)));
    }

    #[test]
    fn query_answers_read_every_shape_the_provider_sends() {
        let read = |json: &str| from_json::<MiniPreQueryResponse>(json.as_bytes()).unwrap();

        let as_string = read(
            r#"{"errCode":"SUCCESS","status":"TRADE_SUCCESS","billPayment":"{\"merOrderId\":\"1017B10\",\"totalAmount\":\"1\"}"}"#,
        );
        let empty = read(r#"{"errCode":"SUCCESS","billPayment":""}"#);
        let odd = read(
            r#"{"errCode":"SUCCESS","totalAmount":"1.00","couponAmount":"0.00","payTime":20240101}"#,
        );
        let no_err_code = read(r#"{"status":"TRADE_SUCCESS","totalAmount":"1"}"#);

        let payment = as_string
            .bill_payment
            .as_ref()
            .and_then(Lenient::read)
            .unwrap();
        assert_eq!(payment.mer_order_id.as_deref(), Some("1017B10"));
        assert_eq!(payment.total_amount, Some(Lenient::Read(1)));
        assert_eq!(empty.bill_payment, None);
        assert_eq!(odd.total_amount, Some(Lenient::Raw("1.00".into())));
        assert_eq!(odd.coupon_amount, Some(Lenient::Raw("0.00".into())));
        assert_eq!(odd.pay_time, Some(Lenient::Raw(20_240_101.into())));
        assert_eq!(no_err_code.err_code, "");
        assert_eq!(no_err_code.status, Some(TradeStatus::TradeSuccess));
        assert_eq!(no_err_code.total_amount, Some(Lenient::Read(1)));
    }
}
