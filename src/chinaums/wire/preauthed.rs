//! `preauthed` (seed 003): completing a pre-authorisation; the request, the answer, and
//! their validation. Owns the field table; it must not decide what an answer means beyond
//! its `errCode`.

use serde::{Deserialize, Serialize};

use super::{amount, int, non_empty, opt_text, text, timestamp, FieldError};
use crate::chinaums::status::TradeStatus;

/// preauthed's `totalAmt` range (seed 003): 1 fen to 1 000 000 yuan.
pub const PREAUTHED_AMOUNT_FEN: std::ops::RangeInclusive<i64> = 1..=100_000_000;
/// `POST /v1/netpay/preauthed`: completes a pre-authorisation (seed 003).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreauthedRequest {
    /// `yyyy-MM-dd HH:mm:ss`, Beijing time. Required.
    #[serde(default)]
    pub req_ts: String,
    /// The completion's own order id (6..32). Required.
    #[serde(default)]
    pub mchnt_order_id: String,
    /// The pre-authorised order's id (6..32). Required.
    #[serde(default)]
    pub preauth_order_id: String,
    /// The notification's `authIdRespCd` (6..255). Required.
    #[serde(default)]
    pub auth_id_resp_code: String,
    /// Business type, as the pre-authorised order's `instMid` (8..32). Required.
    #[serde(default)]
    pub biz_type: String,
    /// Merchant number (8..32). Required.
    #[serde(default)]
    pub mchnt_no: String,
    /// Terminal number (2..32). Required.
    #[serde(default)]
    pub term_no: String,
    /// Amount to complete, in fen, 1..100000000; may be less than authorised. Required
    /// (absent reads as 0, which is out of range).
    #[serde(default, deserialize_with = "int::deserialize")]
    pub total_amt: i64,
    /// Message id, echoed (≤64).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub msg_id: Option<String>,
    /// Reserved, echoed (≤255).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub src_reserve: Option<String>,
    /// Order description (≤255).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub order_desc: Option<String>,
}

impl PreauthedRequest {
    /// Checks seed 003's required fields, lengths and range.
    pub fn validate(&self) -> Result<(), FieldError> {
        timestamp("reqTs", &self.req_ts)?;
        text("mchntOrderId", &self.mchnt_order_id, 6..=32)?;
        text("preauthOrderId", &self.preauth_order_id, 6..=32)?;
        text("authIdRespCode", &self.auth_id_resp_code, 6..=255)?;
        text("bizType", &self.biz_type, 8..=32)?;
        text("mchntNo", &self.mchnt_no, 8..=32)?;
        text("termNo", &self.term_no, 2..=32)?;
        amount("totalAmt", self.total_amt, PREAUTHED_AMOUNT_FEN)?;
        opt_text("msgId", self.msg_id.as_deref(), 1..=64)?;
        opt_text("srcReserve", self.src_reserve.as_deref(), 1..=255)?;
        opt_text("orderDesc", self.order_desc.as_deref(), 1..=255)
    }
}

/// preauthed's answer. Buyer fields (`buyerId`, `usrCardNo`, `buyerUsrname`, …) are
/// deliberately not read.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreauthedResponse {
    /// `SUCCESS` or a business error code.
    pub err_code: String,
    /// The error's text.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub err_msg: Option<String>,
    /// The error's text, as some layers spell it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub err_info: Option<String>,
    /// `yyyy-MM-dd HH:mm:ss`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resp_ts: Option<String>,
    /// Echoed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mchnt_no: Option<String>,
    /// Echoed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub term_no: Option<String>,
    /// Echoed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub msg_id: Option<String>,
    /// Echoed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub src_reserve: Option<String>,
    /// Echoed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub biz_type: Option<String>,
    /// Additional data.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub addi_data: Option<String>,
    /// Platform serial number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub plat_ssn: Option<String>,
    /// Clearing id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stl_id: Option<String>,
    /// Retrieval reference number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ref_id: Option<String>,
    /// `TRADE_SUCCESS` when completed; `""` reads as absent.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "non_empty"
    )]
    pub status: Option<TradeStatus>,
    /// Guarantee state, e.g. `AUTHED`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub secure_status: Option<String>,
    /// Completed amount, in fen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "int::opt"
    )]
    pub total_amt: Option<i64>,
    /// Merchant name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mchnt_name: Option<String>,
    /// The merchant's order id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mchnt_order_id: Option<String>,
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
    pub pay_mchnt_no: Option<String>,
    /// Bank information.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bank_info: Option<String>,
    /// Funding channels.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target_list: Option<String>,
    /// Funding channels, described.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target_list_desc: Option<String>,
    /// What the buyer paid, in fen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "int::opt"
    )]
    pub pay_amt: Option<i64>,
    /// Channel discount, in fen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "int::opt"
    )]
    pub coupon_amt: Option<i64>,
    /// Invoiceable amount, in fen.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "int::opt"
    )]
    pub invoice_amt: Option<i64>,
    /// `yyyy-MM-dd HH:mm:ss`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pay_ts: Option<String>,
    /// `yyyy-MM-dd`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stl_date: Option<String>,
}

business_answer!(PreauthedResponse);

#[cfg(test)]
mod tests {
    use super::super::{field_of, from_json, Breakage};
    use super::*;

    fn preauthed() -> PreauthedRequest {
        PreauthedRequest {
            req_ts: "2023-08-03 09:50:36".into(),
            mchnt_order_id: "1017202308030947148248612792".into(),
            preauth_order_id: "101720230803094714824861279211".into(),
            auth_id_resp_code: "384822".into(),
            biz_type: "QRPAYDEFAULT".into(),
            mchnt_no: "898201612345678".into(),
            term_no: "88880001".into(),
            total_amt: 1,
            order_desc: Some("测试".into()),
            ..PreauthedRequest::default()
        }
    }

    #[test]
    fn the_seed_request_is_valid() {
        assert_eq!(preauthed().validate(), Ok(()));
    }

    #[test]
    fn preauthed_refuses_missing_short_or_out_of_range_fields() {
        let cases: Vec<Breakage<PreauthedRequest>> = vec![
            ("reqTs", |r| r.req_ts.clear()),
            ("mchntOrderId", |r| r.mchnt_order_id = "12345".into()),
            ("preauthOrderId", |r| r.preauth_order_id = "1".repeat(33)),
            ("authIdRespCode", |r| r.auth_id_resp_code = "38482".into()),
            ("bizType", |r| r.biz_type.clear()),
            ("mchntNo", |r| r.mchnt_no = "1234567".into()),
            ("termNo", |r| r.term_no = "1".into()),
            ("totalAmt", |r| r.total_amt = 0),
            ("totalAmt", |r| r.total_amt = 100_000_001),
            ("orderDesc", |r| r.order_desc = Some("x".repeat(256))),
        ];

        for (field, break_it) in cases {
            let mut request = preauthed();
            break_it(&mut request);

            assert_eq!(field_of(request.validate()), field);
        }
    }

    #[test]
    fn a_missing_amount_in_a_received_preauthed_request_is_out_of_range() {
        let received: PreauthedRequest = from_json(br#"{"reqTs":"2023-08-03 09:50:36"}"#).unwrap();

        assert_eq!(field_of(received.validate()), "mchntOrderId");
        assert_eq!(received.total_amt, 0);
    }

    #[test]
    fn the_seed_preauthed_answer_reads_amounts_given_as_strings() {
        let body = r#"{"errCode":"SUCCESS","respTs":"2023-08-03 09:48:24","status":"TRADE_SUCCESS",
            "secureStatus":"AUTHED","totalAmt":"1","payAmt":"1","couponAmt":"0","buyerUsrname":"测试用户"}"#;

        let answer: PreauthedResponse = from_json(body.as_bytes()).unwrap();

        assert_eq!(answer.status, Some(TradeStatus::TradeSuccess));
        assert_eq!(
            (answer.total_amt, answer.pay_amt, answer.coupon_amt),
            (Some(1), Some(1), Some(0))
        );
        assert!(!format!("{answer:?}").contains("测试用户"));
    }
}
