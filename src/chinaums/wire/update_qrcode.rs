//! `update-qrcode` (seed 002): binding a bill to a QR code; the request, its goods and
//! parameters, the answer, and their validation. Owns the field table; it must not decide
//! what an answer means beyond its `errCode`.

use serde::{Deserialize, Serialize};

use super::{
    amount, int, lenient, one_of, opt_text, opt_timestamp, text, timestamp, Base64Secret,
    FieldError,
};
use crate::chinaums::time;

/// update-qrcode's `totalAmount` range (seed 002): 1 fen to 10 000 yuan.
pub const UPDATE_QRCODE_AMOUNT_FEN: std::ops::RangeInclusive<i64> = 1..=1_000_000;
/// update-qrcode's `installmentNumber` values the gateway sends (seed 002's table, "3612"):
/// Huabei's 3, 6, 12 months. The seed's own example sends 10, so received requests are only
/// held to a positive number.
const INSTALLMENTS: [i64; 3] = [3, 6, 12];

/// `POST /v1/netpay/bills/update-qrcode`: binds a bill to a QR code (seed 002).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateQrcodeRequest {
    /// Sub-merchant info, a JSON text (≤100).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_mchnt_info: Option<String>,
    /// `yyyy-MM-dd HH:mm:ss`, Beijing time. Required.
    #[serde(default)]
    pub request_timestamp: String,
    /// Merchant number, 15 characters. Required.
    #[serde(default)]
    pub mid: String,
    /// Terminal number, 8 characters. Required.
    #[serde(default)]
    pub tid: String,
    /// Business type, `QRPAYDEFAULT` (8..32). Required.
    #[serde(default)]
    pub inst_mid: String,
    /// The QR code to bind (≤32). Required.
    #[serde(default)]
    pub qr_code_id: String,
    /// Message id, echoed (≤64).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub msg_id: Option<String>,
    /// Reserved, echoed (≤255).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub src_reserve: Option<String>,
    /// Bill number (≤31), different from the code's previous bill.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bill_no: Option<String>,
    /// `yyyy-MM-dd`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bill_date: Option<String>,
    /// Bill description (≤255).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bill_desc: Option<String>,
    /// Amount in fen, 1..1000000.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "int::opt"
    )]
    pub total_amount: Option<i64>,
    /// The goods. Read also as JSON text (the seed's example sends it so).
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "lenient::structured"
    )]
    pub goods: Option<Vec<Goods>>,
    /// Member number, echoed in the notification (≤32).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub member_id: Option<String>,
    /// Table, counter or room number, echoed in the notification (≤32).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub counter_no: Option<String>,
    /// `yyyy-MM-dd HH:mm:ss`, Beijing time.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expire_time: Option<String>,
    /// Where the payment notification goes.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub notify_url: Option<String>,
    /// Where the buyer's page returns to.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub return_url: Option<String>,
    /// System id, echoed (≤32).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub system_id: Option<String>,
    /// Guaranteed transaction: `true` or `false`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub secure_transaction: Option<String>,
    /// `SINGLE` or `MULTIPLE`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub wallet_option: Option<String>,
    /// Buyer's name for real-name checks; Base64 on the wire (≤32 encoded).
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "lenient::opt"
    )]
    pub name: Option<Base64Secret>,
    /// Buyer's mobile; Base64 on the wire (≤20 encoded).
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "lenient::opt"
    )]
    pub mobile: Option<Base64Secret>,
    /// Certificate type, e.g. `IDENTITY_CARD`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cert_type: Option<String>,
    /// Buyer's certificate number; Base64 on the wire (≤32 encoded).
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "lenient::opt"
    )]
    pub cert_no: Option<Base64Secret>,
    /// `T` when the buyer must be the named one (≤32).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fix_buyer: Option<String>,
    /// Pre-authorisation: `true` or `false`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub preauth_transaction: Option<String>,
    /// Huabei instalments: 3, 6 or 12 (Alipay only).
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "int::opt"
    )]
    pub installment_number: Option<i64>,
    /// Order-at-table parameters. Read also as JSON text (the seed's example sends it so).
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "lenient::structured"
    )]
    pub ret_comm_params: Option<RetCommParams>,
    /// Merchant data (≤255).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub attached_data: Option<String>,
    /// The buyer's client IP.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client_ip: Option<String>,
    /// Whether the buyer must enter a note. Read also from `"true"`/`"false"`; `""` (as in
    /// the seed's example) is absent.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "lenient::flag"
    )]
    pub is_efrc_ps: Option<bool>,
    /// The note's prompt (≤60).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ps_ppt: Option<String>,
}

/// One item of update-qrcode's `goods`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Goods {
    /// Goods id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub goods_id: Option<String>,
    /// Goods name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub goods_name: Option<String>,
    /// Quantity, as text.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub quantity: Option<String>,
    /// Unit price in fen, as text.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub price: Option<String>,
    /// Category.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub goods_category: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub body: Option<String>,
}

/// update-qrcode's `retCommParams`: order-at-table parameters, each ≤32.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetCommParams {
    /// `qr_order`, `pre_order`, `home_delivery`, `direct_payment` or `other`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub food_order_type: Option<String>,
    /// Brand.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub brand_id: Option<String>,
    /// Store.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub store_id: Option<String>,
    /// Table.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub table_no: Option<String>,
    /// Car park.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub park_id: Option<String>,
    /// Vehicle plate.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub vehicle_no: Option<String>,
}

impl UpdateQrcodeRequest {
    /// What the gateway checks before sending: [`validate`](Self::validate), and the
    /// table's reading of the fields its example contradicts (`installmentNumber` is 3, 6
    /// or 12), so that the gateway sends only what the table allows.
    pub fn validate_to_send(&self) -> Result<(), FieldError> {
        self.validate()?;
        match self.installment_number {
            Some(n) if !INSTALLMENTS.contains(&n) => {
                Err(FieldError::new("installmentNumber", "must be 3, 6 or 12"))
            }
            _ => Ok(()),
        }
    }

    /// Checks seed 002's required fields, lengths, ranges and value sets, as the provider
    /// holds a received request to them (its own example passes).
    pub fn validate(&self) -> Result<(), FieldError> {
        timestamp("requestTimestamp", &self.request_timestamp)?;
        text("mid", &self.mid, 15..=15)?;
        text("tid", &self.tid, 8..=8)?;
        text("instMid", &self.inst_mid, 8..=32)?;
        text("qrCodeId", &self.qr_code_id, 1..=32)?;
        opt_text("subMchntInfo", self.sub_mchnt_info.as_deref(), 1..=100)?;
        opt_text("msgId", self.msg_id.as_deref(), 1..=64)?;
        opt_text("srcReserve", self.src_reserve.as_deref(), 1..=255)?;
        opt_text("billNo", self.bill_no.as_deref(), 1..=31)?;
        if let Some(date) = self.bill_date.as_deref().filter(|d| !d.is_empty()) {
            if time::parse_date(date).is_none() {
                return Err(FieldError::new("billDate", "must be a date as yyyy-MM-dd"));
            }
        }
        opt_text("billDesc", self.bill_desc.as_deref(), 1..=255)?;
        if let Some(fen) = self.total_amount {
            amount("totalAmount", fen, UPDATE_QRCODE_AMOUNT_FEN)?;
        }
        opt_text("memberId", self.member_id.as_deref(), 1..=32)?;
        opt_text("counterNo", self.counter_no.as_deref(), 1..=32)?;
        opt_timestamp("expireTime", self.expire_time.as_deref())?;
        opt_text("systemId", self.system_id.as_deref(), 1..=32)?;
        one_of(
            "secureTransaction",
            self.secure_transaction.as_deref(),
            &["true", "false"],
        )?;
        one_of(
            "walletOption",
            self.wallet_option.as_deref(),
            &["SINGLE", "MULTIPLE"],
        )?;
        for (field, secret, max) in [
            ("name", &self.name, 32),
            ("mobile", &self.mobile, 20),
            ("certNo", &self.cert_no, 32),
        ] {
            opt_text(
                field,
                secret.as_ref().map(Base64Secret::encoded).as_deref(),
                1..=max,
            )?;
        }
        opt_text("fixBuyer", self.fix_buyer.as_deref(), 1..=32)?;
        one_of(
            "preauthTransaction",
            self.preauth_transaction.as_deref(),
            &["true", "false"],
        )?;
        if self.installment_number == Some(0) {
            return Err(FieldError::new("installmentNumber", "must be positive"));
        }
        if let Some(p) = &self.ret_comm_params {
            for (field, value) in [
                ("retCommParams.foodOrderType", &p.food_order_type),
                ("retCommParams.brandId", &p.brand_id),
                ("retCommParams.storeId", &p.store_id),
                ("retCommParams.tableNo", &p.table_no),
                ("retCommParams.parkId", &p.park_id),
                ("retCommParams.vehicleNo", &p.vehicle_no),
            ] {
                opt_text(field, value.as_deref(), 1..=32)?;
            }
        }
        opt_text("attachedData", self.attached_data.as_deref(), 1..=255)?;
        opt_text("psPpt", self.ps_ppt.as_deref(), 1..=60)
    }
}

/// update-qrcode's answer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateQrcodeResponse {
    /// `SUCCESS` or a business error code.
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
    /// The bill's QR code URL.
    #[serde(
        rename = "billQRCode",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub bill_qr_code: Option<String>,
    /// Echoed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub system_id: Option<String>,
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
    /// Echoed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bill_no: Option<String>,
    /// Echoed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bill_date: Option<String>,
}

business_answer!(UpdateQrcodeResponse);

#[cfg(test)]
mod tests {
    use super::super::{field_of, from_json, Breakage};
    use super::*;
    use crate::chinaums::status::ErrClass;

    fn update_qrcode() -> UpdateQrcodeRequest {
        UpdateQrcodeRequest {
            request_timestamp: "2020-02-26 13:36:00".into(),
            mid: "898340149000005".into(),
            tid: "00000001".into(),
            inst_mid: "QRPAYDEFAULT".into(),
            qr_code_id: "31942002267733902130410550".into(),
            bill_no: Some("101720200226133600000001234".into()),
            bill_date: Some("2020-02-26".into()),
            bill_desc: Some("测试".into()),
            total_amount: Some(26),
            name: Some(Base64Secret::new("张*三")),
            installment_number: Some(12),
            ..UpdateQrcodeRequest::default()
        }
    }

    #[test]
    fn the_seed_request_is_valid() {
        assert_eq!(update_qrcode().validate(), Ok(()));
    }

    #[test]
    fn update_qrcode_refuses_missing_long_or_out_of_range_fields() {
        let cases: Vec<Breakage<UpdateQrcodeRequest>> = vec![
            ("qrCodeId", |r| r.qr_code_id.clear()),
            ("requestTimestamp", |r| {
                r.request_timestamp = "2020-02-26T13:36:00".into()
            }),
            ("mid", |r| r.mid.push('0')),
            ("tid", |r| r.tid = "0000001".into()),
            ("billNo", |r| r.bill_no = Some("1".repeat(32))),
            ("billDesc", |r| r.bill_desc = Some("测".repeat(128))),
            ("billDate", |r| r.bill_date = Some("2020-02-30".into())),
            ("totalAmount", |r| r.total_amount = Some(0)),
            ("totalAmount", |r| r.total_amount = Some(1_000_001)),
            ("name", |r| r.name = Some(Base64Secret::new("x".repeat(25)))),
            ("walletOption", |r| r.wallet_option = Some("ALL".into())),
            ("installmentNumber", |r| r.installment_number = Some(0)),
            ("retCommParams.tableNo", |r| {
                r.ret_comm_params = Some(RetCommParams {
                    table_no: Some("9".repeat(33)),
                    ..RetCommParams::default()
                })
            }),
        ];

        for (field, break_it) in cases {
            let mut request = update_qrcode();
            break_it(&mut request);

            assert_eq!(field_of(request.validate()), field);
        }
    }

    #[test]
    fn the_gateway_sends_only_the_tables_instalment_terms_but_reads_the_examples() {
        let mut request = update_qrcode();
        request.installment_number = Some(10);

        assert_eq!(request.validate(), Ok(()));
        assert_eq!(field_of(request.validate_to_send()), "installmentNumber");
        assert_eq!(update_qrcode().validate_to_send(), Ok(()));
    }

    #[test]
    fn requests_serialise_amounts_as_numbers_and_personal_fields_as_base64() {
        let json = serde_json::to_value(update_qrcode()).unwrap();

        assert_eq!(json["totalAmount"], 26);
        assert_eq!(json["name"], "5bygKuS4iQ==");
        assert_eq!(json["qrCodeId"], "31942002267733902130410550");
        assert!(json.get("mobile").is_none());
        assert!(!format!("{:?}", update_qrcode()).contains("张"));
    }

    #[test]
    fn a_request_reads_back_from_its_own_json_with_the_clear_personal_fields() {
        let sent = serde_json::to_vec(&update_qrcode()).unwrap();

        let received: UpdateQrcodeRequest = from_json(&sent).unwrap();

        assert_eq!(received, update_qrcode());
    }

    #[test]
    fn an_error_answer_is_classified_and_its_text_found_in_err_info() {
        let answer: UpdateQrcodeResponse =
            from_json(r#"{"errCode":"NO_MERCHANT","errMsg":"","errInfo":"商户不存在"}"#.as_bytes())
                .unwrap();

        assert_eq!(answer.err_class(), ErrClass::Config);
        assert_eq!(answer.err_text(), Some("商户不存在"));
    }
}
