//! The four operations' requests and responses (seeds 001–003, and bills/query, which no
//! seed covers) and their validation.
//! Owns the field tables; it must not decide what a response means beyond its `errCode`.

use serde::{Deserialize, Serialize};

use super::{
    amount, int, lenient, non_empty, one_of, opt_text, opt_timestamp, text, timestamp, tolerant,
    Base64Secret, BillPayment, FieldError, Lenient,
};
use crate::chinaums::status::{BillStatus, ErrClass, TradeStatus};
use crate::chinaums::time;

/// update-qrcode's `totalAmount` range (seed 002): 1 fen to 10 000 yuan.
pub const UPDATE_QRCODE_AMOUNT_FEN: std::ops::RangeInclusive<i64> = 1..=1_000_000;
/// preauthed's `totalAmt` range (seed 003): 1 fen to 1 000 000 yuan.
pub const PREAUTHED_AMOUNT_FEN: std::ops::RangeInclusive<i64> = 1..=100_000_000;
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

/// The bill query's business type: bills are `QRPAYDEFAULT` (as update-qrcode's).
pub const BILL_QUERY_INST_MID: &str = "QRPAYDEFAULT";

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
    /// Business type, [`BILL_QUERY_INST_MID`] (8..32). Required.
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

/// The `errCode` helpers every business answer shares.
macro_rules! business_answer {
    ($($answer:ty),+) => {$(
        impl $answer {
            /// What `errCode` tells the caller to do.
            pub fn err_class(&self) -> ErrClass {
                ErrClass::of(&self.err_code)
            }

            /// The error's text: `errMsg`, or `errInfo` when that is absent or empty.
            pub fn err_text(&self) -> Option<&str> {
                [&self.err_msg, &self.err_info]
                    .into_iter()
                    .find_map(|t| t.as_deref().filter(|t| !t.is_empty()))
            }
        }
    )+};
}

business_answer!(
    UpdateQrcodeResponse,
    MiniPreQueryResponse,
    BillQueryResponse,
    PreauthedResponse
);

#[cfg(test)]
mod tests {
    use super::super::{from_json, Breakage};
    use super::*;

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

    fn bill_query() -> BillQueryRequest {
        BillQueryRequest {
            request_timestamp: "2024-01-01 12:00:00".into(),
            mid: "898340149000005".into(),
            tid: "88880001".into(),
            inst_mid: BILL_QUERY_INST_MID.into(),
            bill_no: "101720240101120000000001234".into(),
            bill_date: "2024-01-01".into(),
            ..BillQueryRequest::default()
        }
    }

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

    fn field_of(result: Result<(), FieldError>) -> String {
        result.map_or_else(|e| e.field, |()| "<valid>".into())
    }

    #[test]
    fn the_seed_examples_are_valid() {
        assert_eq!(update_qrcode().validate(), Ok(()));
        assert_eq!(mini_pre_query().validate(), Ok(()));
        assert_eq!(bill_query().validate(), Ok(()));
        assert_eq!(preauthed().validate(), Ok(()));
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
    fn a_missing_amount_in_a_received_preauthed_request_is_out_of_range() {
        let received: PreauthedRequest = from_json(br#"{"reqTs":"2023-08-03 09:50:36"}"#).unwrap();

        assert_eq!(field_of(received.validate()), "mchntOrderId");
        assert_eq!(received.total_amt, 0);
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

    #[test]
    fn an_error_answer_is_classified_and_its_text_found_in_err_info() {
        let answer: UpdateQrcodeResponse =
            from_json(r#"{"errCode":"NO_MERCHANT","errMsg":"","errInfo":"商户不存在"}"#.as_bytes())
                .unwrap();

        assert_eq!(answer.err_class(), ErrClass::Config);
        assert_eq!(answer.err_text(), Some("商户不存在"));
    }
}
