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
            let payment = json!({
                "merOrderId": format!("{order}1"),
                "paySeqId": format!("P{i:08}"),
                "totalAmount": amount,
                "payTime": "2026-11-21 12:01:02",
                "settleDate": "2026-11-21",
                "status": "TRADE_SUCCESS",
                "targetOrderId": format!("T{i:08}"),
                "targetSys": "WXPay",
            })
            .to_string();
            let amount_text = amount.to_string();
            // The provider's random extra field: an upper-case first letter never collides.
            let extra_name = format!("Q{}", Alphanumeric.sample_string(rng, 2));
            let extra_value = Alphanumeric.sample_string(rng, 6);
            let body = signed_notice(
                &[
                    ("notifyId", &notify_id),
                    ("billNo", &order),
                    ("billDate", "2026-11-21"),
                    ("billStatus", "PAID"),
                    ("totalAmount", &amount_text),
                    ("mid", "898340149000005"),
                    ("tid", "88880001"),
                    ("instMid", "QRPAYDEFAULT"),
                    ("billPayment", &payment),
                ],
                (&extra_name, &extra_value),
            );
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
/// sends it.
pub fn paid_notice(order: &str, amount: i64, notify_id: &str) -> Vec<u8> {
    let payment = json!({
        "merOrderId": format!("{order}1"),
        "paySeqId": "P00000001",
        "totalAmount": amount,
        "payTime": "2026-11-21 12:01:02",
        "settleDate": "2026-11-21",
        "status": "TRADE_SUCCESS",
        "targetOrderId": "T00000001",
        "targetSys": "WXPay",
    })
    .to_string();
    signed_notice(
        &[
            ("notifyId", notify_id),
            ("billNo", order),
            ("billDate", "2026-11-21"),
            ("billStatus", "PAID"),
            ("totalAmount", &amount.to_string()),
            ("mid", "898340149000005"),
            ("tid", "88880001"),
            ("instMid", "QRPAYDEFAULT"),
            ("billPayment", &payment),
        ],
        ("Qx", "AbCd"),
    )
}
