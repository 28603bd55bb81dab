//! The provider's signed payment notifications, as tests send them to the gateway: the
//! one builder of a paid bill's notification (`PaidBill`), and streams of them for crash
//! and load tests. It must not send anything.

use serde_json::json;
use umsgate::chinaums::notify_sign;

use super::settings::NOTIFY_KEY;

/// A payment notification body as the provider sends it: `fields` plus the random field
/// `extra` (name, value), signed with the configured key (MD5, `signType` absent), then
/// form-encoded with `sign` last.
pub fn signed_notice(fields: &[(&str, &str)], extra: (&str, &str)) -> Vec<u8> {
    let pairs: Vec<(&str, &str)> = fields.iter().copied().chain([extra]).collect();
    notify_sign::signed_form(&pairs, NOTIFY_KEY, notify_sign::SignType::Md5).into_bytes()
}

/// One payment notification of a stream and the order it pays.
pub struct Notice {
    /// The order (bill) it pays.
    pub order: String,
    /// Fen.
    pub amount: i64,
    /// Its `notifyId`.
    pub notify_id: String,
    /// The signed form body.
    pub body: Vec<u8>,
}

/// `count` orders and one distinct, correctly signed `PAID` bill notification for each,
/// every random part drawn from `rng`.
pub fn paid_notices(rng: &mut rand::rngs::StdRng, seed: u64, count: usize) -> Vec<Notice> {
    use rand::distr::{Alphanumeric, SampleString};
    use rand::Rng;
    (0..count)
        .map(|i| {
            let order = format!("1017CRASH{i:06}");
            let amount = rng.random_range(1..=1_000_000i64);
            let notify_id = format!("crash-{seed:016x}-{i:06}");
            // The provider's random extra field: an upper-case first letter never collides.
            let extra_name = format!("Q{}", Alphanumeric.sample_string(rng, 2));
            let extra_value = Alphanumeric.sample_string(rng, 6);
            let body = PaidBill::new(&order)
                .amount(amount)
                .notify_id(&notify_id)
                .extra(&extra_name, &extra_value)
                .form();
            Notice {
                order,
                amount,
                notify_id,
                body,
            }
        })
        .collect()
}

/// A correctly signed bill notification that pays `order` (`amount` fen), as the provider
/// sends it: `PaidBill::new(order).amount(amount).notify_id(notify_id).form()`.
pub fn paid_notice(order: &str, amount: i64, notify_id: &str) -> Vec<u8> {
    PaidBill::new(order)
        .amount(amount)
        .notify_id(notify_id)
        .form()
}

/// The merchant number of `config/default.toml` (the provider's public test merchant): the
/// `mid` of every notice built here.
const MID: &str = "898340149000005";

/// The terminal number of `config/default.toml` (the provider's public test terminal): the
/// `tid` of every notice built here.
const TID: &str = "88880001";

/// The fields of `billPayment` that only a payment has: a notice about a bill nobody paid
/// carries none of them.
const PAYMENT_FACTS: [&str; 6] = [
    "paySeqId",
    "buyerPayAmount",
    "payTime",
    "settleDate",
    "targetOrderId",
    "targetSys",
];

/// The one builder of a bill notification as the provider posts it when a bill is paid:
/// `PaidBill::new(order)` has every field the provider sends (100 fen, a fresh `notifyId`),
/// each call changes one thing, and `form()` signs it with the configured key and encodes
/// it. A test that changes what it asserts about says so in its chain:
/// `PaidBill::new(id).amount(1).form()`, `PaidBill::bare(id).field("mid", other).form()`.
#[derive(Clone, Debug)]
pub struct PaidBill {
    /// The fields in the order they are sent, `billPayment` as its JSON text.
    fields: Vec<(String, String)>,
    /// The field with a made-up name and value the provider adds to every notice (signed
    /// like the others).
    extra: (String, String),
    /// The digest `form` signs with.
    sign_type: notify_sign::SignType,
}

impl PaidBill {
    /// Every field the provider sends for `order` paid 100 fen by a wallet: a fresh
    /// `notifyId`; the bill (`billNo`, `billDate`, `billStatus=PAID`, `totalAmount`,
    /// `seqId`); the merchant (`mid`, `tid`, `instMid`); and the payment in `billPayment`
    /// (`TRADE_SUCCESS`, its sequence number, time, settlement date and wallet order).
    pub fn new(order: &str) -> PaidBill {
        let payment = json!({
            "merOrderId": format!("{order}1"),
            "totalAmount": 100,
            "status": "TRADE_SUCCESS",
            "paySeqId": "24112112000100",
            "buyerPayAmount": 100,
            "payTime": "2026-11-21 12:01:02",
            "settleDate": "2026-11-21",
            "targetOrderId": "4200001234202611210000000001",
            "targetSys": "WXPay",
        });
        Self::of(&[
            ("notifyId", &uuid::Uuid::new_v4().to_string()),
            ("billNo", order),
            ("billDate", "2026-11-21"),
            ("billStatus", "PAID"),
            ("totalAmount", "100"),
            ("seqId", "00151100146N"),
            ("mid", MID),
            ("tid", TID),
            ("instMid", "QRPAYDEFAULT"),
            ("billPayment", &payment.to_string()),
        ])
    }

    /// Only the fields the gateway needs to apply the payment of 100 fen to `order`: a fresh
    /// `notifyId`, `billNo`, `billStatus=PAID`, `totalAmount`, `mid` and `tid`; no
    /// `billPayment`.
    pub fn bare(order: &str) -> PaidBill {
        Self::of(&[
            ("notifyId", &uuid::Uuid::new_v4().to_string()),
            ("billNo", order),
            ("billStatus", "PAID"),
            ("totalAmount", "100"),
            ("mid", MID),
            ("tid", TID),
        ])
    }

    fn of(fields: &[(&str, &str)]) -> PaidBill {
        PaidBill {
            fields: fields
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            extra: ("Qx".to_owned(), "AbCd".to_owned()),
            sign_type: notify_sign::SignType::Md5,
        }
    }

    /// Paid `fen`: the bill's `totalAmount`, and the payment's `totalAmount` and
    /// `buyerPayAmount` when it has them.
    pub fn amount(self, fen: i64) -> PaidBill {
        self.field("totalAmount", &fen.to_string())
            .payment(|payment| {
                for name in ["totalAmount", "buyerPayAmount"] {
                    if let Some(value) = payment.get_mut(name) {
                        *value = json!(fen);
                    }
                }
            })
    }

    /// With `notifyId` `id` (a fresh one otherwise: a resend keeps its id).
    pub fn notify_id(self, id: &str) -> PaidBill {
        self.field("notifyId", id)
    }

    /// The same bill in `bill_status` (`REFUND`, `CLOSED`, `UNPAID`): `billStatus`, and the
    /// payment's `status` as the provider words it then (`TRADE_REFUND`, `TRADE_CLOSED`,
    /// `WAIT_BUYER_PAY`), with a payment's facts only when there was a payment.
    pub fn status(self, bill_status: &str) -> PaidBill {
        let status = match bill_status {
            "PAID" => "TRADE_SUCCESS",
            "REFUND" => "TRADE_REFUND",
            "CLOSED" => "TRADE_CLOSED",
            _ => "WAIT_BUYER_PAY",
        };
        self.field("billStatus", bill_status).payment(|payment| {
            payment.insert("status".to_owned(), json!(status));
            if !matches!(status, "TRADE_SUCCESS" | "TRADE_REFUND") {
                for name in PAYMENT_FACTS {
                    payment.remove(name);
                }
            }
        })
    }

    /// `name` set to `value`: in its place if the notice has it, else added last. Sent as
    /// given (`billPayment` too: its text is what is signed).
    pub fn field(mut self, name: &str, value: &str) -> PaidBill {
        match self.fields.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => value.clone_into(v),
            None => self.fields.push((name.to_owned(), value.to_owned())),
        }
        self
    }

    /// The random field the provider adds as `name=value` (`Qx=AbCd` otherwise).
    pub fn extra(mut self, name: &str, value: &str) -> PaidBill {
        self.extra = (name.to_owned(), value.to_owned());
        self
    }

    /// Signed with `sign_type` (MD5 otherwise, what an absent `signType` means); whether
    /// `signType` is sent is up to [`field`](Self::field).
    pub fn sign_type(mut self, sign_type: notify_sign::SignType) -> PaidBill {
        self.sign_type = sign_type;
        self
    }

    /// The value of the field `name` (empty if the notice has none).
    pub fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The fields, unsigned and without the random field: for a test that signs (or
    /// mis-signs) them its own way.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.fields.clone()
    }

    /// The body as the provider posts it: the fields, the random field, then `sign` under
    /// the configured key, form-encoded.
    pub fn form(&self) -> Vec<u8> {
        let mut pairs = self.pairs();
        pairs.push(self.extra.clone());
        notify_sign::signed_form(&pairs, NOTIFY_KEY, self.sign_type).into_bytes()
    }

    /// `change` applied to the `billPayment` object, if the notice has one that is JSON.
    fn payment(
        self,
        change: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
    ) -> PaidBill {
        let Ok(serde_json::Value::Object(mut payment)) =
            serde_json::from_str(self.get("billPayment"))
        else {
            return self;
        };
        change(&mut payment);
        let text = serde_json::Value::Object(payment).to_string();
        self.field("billPayment", &text)
    }
}
