//! What the runs are made of: the shipped settings, databases opened exactly as the gateway
//! opens them, orders written through the store, and signed payment notifications shaped
//! as the provider's bill notifications.

use std::path::Path;

use chrono::{DateTime, Utc};
use umsgate::chinaums::notify_sign::{self, SignType};
use umsgate::config::{Environment, Settings};
use umsgate::domain::ids::MerOrderId;
use umsgate::domain::money::Amount;
use umsgate::domain::record::{NewOrder, Order};
use umsgate::store::{orders, Db, StoreError};

/// Every order's amount, fen: what the notifications report as paid.
pub const AMOUNT_FEN: i64 = 100;

/// The content type the provider posts notifications with.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded;charset=UTF-8";

/// The shipped configuration (`config/default.toml`), as the gateway child reads it.
pub fn settings() -> Settings {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    Settings::from_figment(
        Settings::figment(&dir, Environment::Sandbox),
        Environment::Sandbox,
    )
    .expect("config/default.toml loads")
}

/// Opens (creating and migrating) `path` with the gateway's store settings: same pool, same
/// PRAGMAs (WAL, synchronous=FULL, busy_timeout, foreign keys).
pub fn open_db(settings: &Settings, path: &Path) -> Db {
    let mut store = settings.store.clone();
    store.path = path.to_owned();
    Db::open(&store).expect("database opens")
}

/// The id of the `i`-th order of a run: the source id, a tag naming the run, a number.
pub fn order_id(settings: &Settings, tag: &str, i: usize) -> String {
    format!("{}{tag}{i:08}", settings.provider.msg_src_id().as_str())
}

/// A tracked (unbound) pending order of [`AMOUNT_FEN`], first checked at `first_check`.
pub fn new_order(
    settings: &Settings,
    id: &str,
    now: DateTime<Utc>,
    first_check: DateTime<Utc>,
) -> Order {
    let p = &settings.provider;
    Order::create(
        NewOrder {
            id: MerOrderId::parse(id, &p.msg_src_id()).expect("valid id"),
            mid: p.mid.clone(),
            tid: p.tid.clone(),
            inst_mid: "MINIDEFAULT".into(),
            qr_code_id: None,
            amount: Amount::payment(AMOUNT_FEN, settings.orders.max_amount_fen).expect("amount"),
            description: Some("benchmark".into()),
            preauth: false,
            expire_at: now + chrono::Duration::hours(2),
            request_digest: format!("bench-{id}"),
        },
        now,
        first_check,
    )
}

/// Writes `n` orders tagged `tag` through `store::orders::create` (each with its creation
/// event), in one transaction; they are first due at `first_check`. Returns their ids.
pub fn seed_orders(
    settings: &Settings,
    db: &Db,
    tag: &str,
    n: usize,
    first_check: DateTime<Utc>,
) -> Vec<String> {
    let now = umsgate::clock::Clock::system().now();
    let ids: Vec<String> = (0..n).map(|i| order_id(settings, tag, i)).collect();
    let mut conn = db.conn().expect("connection");
    umsgate::store::write_transaction(&mut conn, |c| {
        for id in &ids {
            orders::create(c, &new_order(settings, id, now, first_check))?;
        }
        Ok::<_, StoreError>(())
    })
    .expect("orders written");
    ids
}

/// A PAID bill notification for `order`, as the sandbox sends one: bill fields, the
/// payment as a JSON string, a fresh `notifyId`, a random field, `signType=SHA256`, signed
/// with `key`; form-encoded.
pub fn paid_notification(settings: &Settings, order: &str, key: &str) -> Vec<u8> {
    let payment = serde_json::json!({
        "merOrderId": format!("{order}1"),
        "paySeqId": "24112112000100",
        "totalAmount": AMOUNT_FEN,
        "buyerPayAmount": AMOUNT_FEN,
        "receiptAmount": AMOUNT_FEN,
        "invoiceAmount": AMOUNT_FEN,
        "couponAmount": 0,
        "payTime": "2026-11-21 12:01:02",
        "settleDate": "2026-11-21",
        "status": "TRADE_SUCCESS",
        "targetOrderId": "4200001234202611210000000001",
        "targetSys": "WXPay",
        "billBizType": "bills",
        "payDetail": "现金支付1.00元。",
    })
    .to_string();
    let amount = AMOUNT_FEN.to_string();
    let notify_id = uuid::Uuid::new_v4().to_string();
    let fields: Vec<(String, String)> = [
        ("notifyId", notify_id.as_str()),
        ("billNo", order),
        ("billDate", "2026-11-21"),
        ("billStatus", "PAID"),
        ("totalAmount", &amount),
        ("seqId", "00151100146N"),
        ("mid", &settings.provider.mid),
        ("tid", &settings.provider.tid),
        ("instMid", "QRPAYDEFAULT"),
        ("merName", "银联商务沙箱测试商户"),
        ("billPayment", &payment),
        ("signType", "SHA256"),
        ("Qx", "AbCd"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    notify_sign::signed_form(&fields, key, SignType::Sha256).into_bytes()
}
