//! Creating an order and binding it at the provider: the request validated against the
//! provider's rules (so that what the provider would refuse is refused before anything is
//! stored), the order stored, then `update-qrcode` sent and its answer (read by
//! `domain::reading`) applied as an observation. It must not set a status: the bind answer only changes the binding.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::chinaums::time;
use crate::chinaums::wire::{Base64Secret, Goods, RetCommParams, UpdateQrcodeRequest};
use crate::chinaums::{INST_MID_BILL, INST_MID_MINI};
use crate::config::Settings;
use crate::domain::ids::{MerOrderId, MsgSrcId};
use crate::domain::money::Amount;
use crate::domain::observe::{BindAnswer, Observation, Seen};
use crate::domain::order::Source;
use crate::domain::reading;
use crate::domain::record::{Binding, NewOrder, Order};
use crate::flows::{FlowError, Gateway};
use crate::provider::{Outcome, ProviderClient};
use crate::secret::Secret;
use crate::store::orders;

/// Longest expiry the provider allows for a one-time code (seed 002: "最长为90天").
const MAX_EXPIRY: chrono::Duration = chrono::Duration::days(90);
/// `billDesc` limit of seed 002, in bytes.
const MAX_DESCRIPTION_BYTES: usize = 255;
/// `qrCodeId` limit of seed 002.
const MAX_QR_CODE_ID: usize = 32;
/// What the backend asks for (`POST /orders`), as it sends it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateOrder {
    amount: Option<serde_json::Value>,
    mer_order_id: Option<String>,
    description: Option<String>,
    expire_time: Option<String>,
    expires_in_seconds: Option<i64>,
    qr_code_id: Option<String>,
    inst_mid: Option<String>,
    preauth: Option<bool>,
    // The optional update-qrcode fields (seed 002), accepted only with `qrCodeId`. Not
    // stored: they matter only to the one bind call. (Listed here rather than flattened
    // from a struct: serde ignores `deny_unknown_fields` with `flatten`.)
    goods: Option<Vec<Goods>>,
    member_id: Option<String>,
    counter_no: Option<String>,
    wallet_option: Option<String>,
    buyer: Option<Buyer>,
    ret_comm_params: Option<RetCommParams>,
    attached_data: Option<String>,
    src_reserve: Option<String>,
    msg_id: Option<String>,
    return_url: Option<String>,
    system_id: Option<String>,
    secure_transaction: Option<bool>,
    client_ip: Option<String>,
    installment_number: Option<i64>,
    sub_mchnt_info: Option<String>,
    is_efrc_ps: Option<bool>,
    ps_ppt: Option<String>,
}

/// The buyer, for real-name checks. Held as secrets: never logged, sent Base64-encoded.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Buyer {
    name: Option<Secret>,
    mobile: Option<Secret>,
    cert_type: Option<String>,
    cert_no: Option<Secret>,
    /// Only the named buyer may pay (`fixBuyer = T`).
    fix_buyer: Option<bool>,
}

impl CreateOrder {
    /// The first bind field given, if any (they need `qrCodeId`).
    fn first_given(&self) -> Option<&'static str> {
        [
            ("goods", self.goods.is_some()),
            ("memberId", self.member_id.is_some()),
            ("counterNo", self.counter_no.is_some()),
            ("walletOption", self.wallet_option.is_some()),
            ("buyer", self.buyer.is_some()),
            ("retCommParams", self.ret_comm_params.is_some()),
            ("attachedData", self.attached_data.is_some()),
            ("srcReserve", self.src_reserve.is_some()),
            ("msgId", self.msg_id.is_some()),
            ("returnUrl", self.return_url.is_some()),
            ("systemId", self.system_id.is_some()),
            ("secureTransaction", self.secure_transaction.is_some()),
            ("clientIp", self.client_ip.is_some()),
            ("installmentNumber", self.installment_number.is_some()),
            ("subMchntInfo", self.sub_mchnt_info.is_some()),
            ("isEfrcPs", self.is_efrc_ps.is_some()),
            ("psPpt", self.ps_ppt.is_some()),
        ]
        .into_iter()
        .find_map(|(name, given)| given.then_some(name))
    }
}

/// The update-qrcode request for a new bill, validated against the seed's rules (so that
/// a request the provider would refuse is refused before anything is stored).
fn bind_request(
    order: &Order,
    bind: CreateOrder,
    s: &Settings,
    now: DateTime<Utc>,
) -> Result<UpdateQrcodeRequest, FlowError> {
    let buyer = bind.buyer.unwrap_or_default();
    let flag = |b: bool| if b { "true" } else { "false" }.to_owned();
    let req = UpdateQrcodeRequest {
        request_timestamp: time::format_body(now),
        mid: order.mid.clone(),
        tid: order.tid.clone(),
        inst_mid: order.inst_mid.clone(),
        qr_code_id: order.qr_code_id.clone().unwrap_or_default(),
        bill_no: order.bill_no().map(str::to_owned),
        bill_date: order.bill_date(),
        bill_desc: order.description.clone(),
        total_amount: Some(order.amount.fen()),
        expire_time: Some(time::format_body(order.expire_at)),
        notify_url: Some(format!("{}/notify/payment", s.notify.public_url)),
        preauth_transaction: order.preauth.then(|| flag(true)),
        goods: bind.goods,
        member_id: bind.member_id,
        counter_no: bind.counter_no,
        wallet_option: bind.wallet_option,
        name: buyer.name.map(|v| Base64Secret::new(v.expose())),
        mobile: buyer.mobile.map(|v| Base64Secret::new(v.expose())),
        cert_type: buyer.cert_type,
        cert_no: buyer.cert_no.map(|v| Base64Secret::new(v.expose())),
        fix_buyer: buyer.fix_buyer.filter(|f| *f).map(|_| "T".to_owned()),
        ret_comm_params: bind.ret_comm_params,
        attached_data: bind.attached_data,
        src_reserve: bind.src_reserve,
        msg_id: bind.msg_id,
        return_url: bind.return_url,
        system_id: bind.system_id,
        secure_transaction: bind.secure_transaction.map(flag),
        client_ip: bind.client_ip,
        installment_number: bind.installment_number,
        sub_mchnt_info: bind.sub_mchnt_info,
        is_efrc_ps: bind.is_efrc_ps,
        ps_ppt: bind.ps_ppt,
    };
    req.validate_to_send().map_err(|e| {
        // Name the field as the caller spelled it.
        let field = match e.field.as_str() {
            "name" | "mobile" | "certNo" | "certType" | "fixBuyer" => format!("buyer.{}", e.field),
            "billDesc" => "description".into(),
            "totalAmount" => "amount".into(),
            "billNo" => "merOrderId".into(),
            other => other.to_owned(),
        };
        FlowError::field(&field, e.reason)
    })?;
    Ok(req)
}

/// Validates a create request into a new order.
fn new_order(
    body: &CreateOrder,
    digest: String,
    s: &Settings,
    now: DateTime<Utc>,
) -> Result<NewOrder, FlowError> {
    let src: MsgSrcId = s.provider.msg_src_id();
    let raw_amount = body
        .amount
        .as_ref()
        .ok_or_else(|| FlowError::field("amount", "is required"))?;
    let amount = Amount::parse_json(raw_amount)
        .and_then(|a| Amount::payment(a.fen(), s.orders.max_amount_fen))
        .map_err(|e| FlowError::field("amount", e))?;
    let id = match &body.mer_order_id {
        Some(raw) => MerOrderId::parse(raw, &src).map_err(|e| FlowError::field("merOrderId", e))?,
        None => MerOrderId::generate(&src, now),
    };
    if let Some(q) = &body.qr_code_id {
        if q.is_empty()
            || q.chars().count() > MAX_QR_CODE_ID
            || !q.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(FlowError::field(
                "qrCodeId",
                format!("must be 1 to {MAX_QR_CODE_ID} printable characters"),
            ));
        }
        if id.as_str().len() > MerOrderId::MAX_BILL_NO_LEN {
            return Err(FlowError::field(
                "merOrderId",
                format!(
                    "is the bill number of a bound order, so must be at most {} characters",
                    MerOrderId::MAX_BILL_NO_LEN
                ),
            ));
        }
    }
    if body
        .description
        .as_ref()
        .is_some_and(|d| d.len() > MAX_DESCRIPTION_BYTES)
    {
        return Err(FlowError::field(
            "description",
            format!("must be at most {MAX_DESCRIPTION_BYTES} bytes of UTF-8"),
        ));
    }
    let expire_at = match (&body.expire_time, body.expires_in_seconds) {
        (Some(_), Some(_)) => {
            return Err(FlowError::field(
                "expireTime",
                "give expireTime or expiresInSeconds, not both",
            ))
        }
        (Some(t), None) => {
            let at = time::parse_body(t).ok_or_else(|| {
                FlowError::field("expireTime", "must be yyyy-MM-dd HH:mm:ss in Beijing time")
            })?;
            if at <= now || at > now + MAX_EXPIRY {
                return Err(FlowError::field(
                    "expireTime",
                    "must be in the future and at most 90 days away",
                ));
            }
            at
        }
        (None, Some(secs)) => {
            if secs <= 0 || secs > MAX_EXPIRY.num_seconds() {
                return Err(FlowError::field(
                    "expiresInSeconds",
                    format!("must be between 1 and {}", MAX_EXPIRY.num_seconds()),
                ));
            }
            now + chrono::Duration::seconds(secs)
        }
        (None, None) => {
            now + chrono::Duration::from_std(s.orders.default_expiry)
                .unwrap_or(MAX_EXPIRY)
                .min(MAX_EXPIRY)
        }
    };
    let inst_mid = match body.inst_mid.clone() {
        Some(m) => {
            if !(8..=32).contains(&m.len()) || !m.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(FlowError::field(
                    "instMid",
                    "must be 8 to 32 letters or digits",
                ));
            }
            m
        }
        None if body.qr_code_id.is_some() => INST_MID_BILL.to_owned(),
        None => INST_MID_MINI.to_owned(),
    };
    Ok(NewOrder {
        id,
        mid: s.provider.mid.clone(),
        tid: s.provider.tid.clone(),
        inst_mid,
        qr_code_id: body.qr_code_id.clone(),
        amount,
        description: body.description.clone(),
        preauth: body.preauth.unwrap_or(false),
        expire_at,
        request_digest: digest,
    })
}

/// SHA-256 of the request's JSON with object keys sorted: the same content sent again,
/// in any key order or spacing, is the same request.
fn request_digest(value: &serde_json::Value) -> String {
    fn canonical(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let mut keys: Vec<_> = m.keys().collect();
                keys.sort();
                serde_json::Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), canonical(&m[k])))
                        .collect(),
                )
            }
            serde_json::Value::Array(a) => {
                serde_json::Value::Array(a.iter().map(canonical).collect())
            }
            other => other.clone(),
        }
    }
    hex::encode(Sha256::digest(canonical(value).to_string().as_bytes()))
}

/// What a create came to.
#[derive(Debug)]
pub enum Created {
    /// A new order, bound at the provider (or only tracked, without `qrCodeId`).
    New(Order),
    /// The same request was made before: the order it made.
    Existing(Order),
    /// Stored, but the bind's outcome is unknown: the reconciler's query settles it.
    BindUnknown(Order),
}

/// Creates the order `request` asks for (`raw` is the request as JSON, for its digest),
/// and with `qrCodeId` binds it at the provider. The order is stored before the bind is
/// sent, so that a crash in between is settled by the reconciler. A refused bind keeps the
/// order (marked refused) and answers the provider's refusal.
pub async fn create(
    gw: &Gateway,
    client: &ProviderClient,
    request: CreateOrder,
    raw: &serde_json::Value,
) -> Result<Created, FlowError> {
    if request.qr_code_id.is_none() {
        if let Some(field) = request.first_given() {
            return Err(FlowError::field(
                field,
                "applies only to an order bound to a QR code (qrCodeId)",
            ));
        }
    }
    let now = gw.now();
    let new = new_order(&request, request_digest(raw), &gw.settings, now)?;
    let first_check = now
        + chrono::Duration::from_std(gw.settings.reconcile.first_check_after).unwrap_or_default();
    let order = Order::create(new, now, first_check);
    let bind_req = match order.binding {
        Binding::Unknown => Some(bind_request(&order, request, &gw.settings, now)?),
        _ => None,
    };
    let order = match gw.db.write(move |c| orders::create(c, &order)).await? {
        orders::Created::New(o) => o,
        orders::Created::Existing(o) => return Ok(Created::Existing(o)),
        orders::Created::Conflict(o) => {
            return Err(FlowError::Conflict(format!(
                "order {} exists with a different request",
                o.id
            )))
        }
    };
    // Its `order.created` event committed with it.
    gw.events_written();
    match bind_req {
        None => Ok(Created::New(order)),
        Some(req) => bind(gw, client, order, req).await,
    }
}

/// Binds a stored order's bill at the provider and records what came of it.
async fn bind(
    gw: &Gateway,
    client: &ProviderClient,
    order: Order,
    mut req: UpdateQrcodeRequest,
) -> Result<Created, FlowError> {
    req.request_timestamp = time::format_body(gw.now());
    let called = client.update_qrcode(order.id.as_str(), &req).await;
    let evidence_ref = called.evidence_ref();
    let seen = match &called.outcome {
        Outcome::Answer(a) => reading::bound(a),
        Outcome::Refused(r) => reading::bind_refused(&r.err_code, r.err_msg.as_deref()),
        Outcome::Misconfigured { err_code, .. } => reading::bind_misconfigured(err_code.as_deref()),
        // Not known: left for the reconciler's query.
        Outcome::Unknown(_) => Seen::Bind(BindAnswer::Unknown),
        // Never sent: the provider said nothing.
        Outcome::Invalid(e) => Seen::Bind(BindAnswer::Refused(format!("not sent: {e}"))),
    };
    let obs = Observation::of(seen, Source::Api, evidence_ref);
    let updated = gw
        .observe(&order.id, obs)
        .await?
        .map_or(order, |a| a.change.after);
    match called.outcome {
        Outcome::Answer(_) => Ok(Created::New(updated)),
        Outcome::Unknown(_) => Ok(Created::BindUnknown(updated)),
        other => Err(FlowError::from_outcome(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_ignores_key_order_and_spacing_but_not_values() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"amount":100,"x":{"b":1,"a":2}}"#).unwrap();
        let b: serde_json::Value =
            serde_json::from_str(r#"{ "x": {"a":2, "b":1}, "amount": 100 }"#).unwrap();
        let c: serde_json::Value =
            serde_json::from_str(r#"{"amount":101,"x":{"b":1,"a":2}}"#).unwrap();
        assert_eq!(request_digest(&a), request_digest(&b));
        assert_ne!(request_digest(&a), request_digest(&c));
    }

    /// The create-order body, from arbitrary bytes and from arbitrary field sets, through
    /// the same steps as `create` short of the store: parse, the bind-field rule, the
    /// validation into a new order, and the update-qrcode request. Nothing panics, and
    /// what is accepted is within the limits.
    mod arbitrary {
        use std::path::Path;

        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        use serde_json::{json, Value};

        use super::super::*;
        use crate::config::Environment;

        fn settings() -> Settings {
            let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
            Settings::from_figment(
                Settings::figment(&config, Environment::Sandbox),
                Environment::Sandbox,
            )
            .expect("shipped settings")
        }

        fn any_json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                "\\PC{0,40}".prop_map(Value::from),
            ];
            leaf.prop_recursive(4, 24, 4, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                    proptest::collection::btree_map("\\PC{0,8}", inner, 0..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        /// A value for `field`: mostly one of its plausible shapes, sometimes anything.
        fn value_for(field: &'static str) -> BoxedStrategy<Value> {
            let plausible: BoxedStrategy<Value> = match field {
                "amount" => prop_oneof![
                    6 => (1i64..=1_000_000).prop_map(Value::from),
                    1 => (-5i64..2_000_000).prop_map(Value::from),
                    1 => "-?[0-9]{1,25}(\\.[0-9]{0,3})?".prop_map(Value::from),
                    1 => Just(json!(1e300)),
                ]
                .boxed(),
                "merOrderId" => prop_oneof![
                    4 => "1017[A-Za-z0-9]{2,24}",
                    1 => "[A-Za-z0-9-]{0,40}",
                ]
                .prop_map(Value::from)
                .boxed(),
                "expireTime" => prop_oneof![
                    "20[0-9]{2}-[01][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9]",
                    "\\PC{0,20}",
                ]
                .prop_map(Value::from)
                .boxed(),
                "expiresInSeconds" | "installmentNumber" => {
                    any::<i64>().prop_map(Value::from).boxed()
                }
                "qrCodeId" | "instMid" | "memberId" | "counterNo" => {
                    prop_oneof![4 => "[!-~]{1,32}", 1 => "[ -~]{0,40}"]
                        .prop_map(Value::from)
                        .boxed()
                }
                "preauth" | "secureTransaction" | "isEfrcPs" => {
                    any::<bool>().prop_map(Value::from).boxed()
                }
                "buyer" => (
                    proptest::collection::btree_map(
                        prop::sample::select(vec!["name", "mobile", "certType", "certNo"]),
                        "\\PC{0,20}".prop_map(Value::from),
                        0..4,
                    ),
                    proptest::option::of(any::<bool>()),
                )
                    .prop_map(|(m, fix)| {
                        let mut o: serde_json::Map<String, Value> =
                            m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                        if let Some(fix) = fix {
                            o.insert("fixBuyer".into(), fix.into());
                        }
                        Value::Object(o)
                    })
                    .boxed(),
                "retCommParams" => proptest::collection::btree_map(
                    prop::sample::select(vec!["foodOrderType", "brandId", "storeId", "tableNo"]),
                    "\\PC{0,40}".prop_map(Value::from),
                    0..4,
                )
                .prop_map(|m| {
                    Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                })
                .boxed(),
                "goods" => proptest::collection::vec(
                    proptest::collection::btree_map(
                        prop::sample::select(vec![
                            "goodsId",
                            "goodsName",
                            "quantity",
                            "price",
                            "body",
                        ]),
                        "\\PC{0,12}".prop_map(Value::from),
                        0..4,
                    )
                    .prop_map(|m| {
                        Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                    }),
                    0..3,
                )
                .prop_map(Value::from)
                .boxed(),
                _ => prop_oneof![4 => "\\PC{0,60}", 1 => "\\PC{0,300}"]
                    .prop_map(Value::from)
                    .boxed(),
            };
            prop_oneof![12 => plausible, 1 => any_json()].boxed()
        }

        const FIELDS: [&str; 28] = [
            "amount",
            "merOrderId",
            "description",
            "expireTime",
            "expiresInSeconds",
            "qrCodeId",
            "instMid",
            "preauth",
            "goods",
            "memberId",
            "counterNo",
            "walletOption",
            "buyer",
            "retCommParams",
            "attachedData",
            "srcReserve",
            "msgId",
            "returnUrl",
            "systemId",
            "secureTransaction",
            "clientIp",
            "installmentNumber",
            "subMchntInfo",
            "isEfrcPs",
            "psPpt",
            "amount",
            "amount",
            "surprise",
        ];

        fn any_body() -> impl Strategy<Value = Vec<u8>> {
            let field = |names: Vec<&'static str>| {
                prop::sample::select(names)
                    .prop_flat_map(|f| value_for(f).prop_map(move |v| (f, v)))
            };
            let fields = (
                proptest::option::weighted(0.9, field(vec!["amount"])),
                proptest::collection::vec(field(FIELDS.to_vec()), 0..5),
            )
                .prop_map(|(amount, rest)| amount.into_iter().chain(rest).collect::<Vec<_>>())
                .prop_map(|pairs| {
                    let object: serde_json::Map<String, Value> =
                        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                    Value::Object(object).to_string().into_bytes()
                });
            prop_oneof![
                1 => proptest::collection::vec(any::<u8>(), 0..256),
                1 => any_json().prop_map(|v| v.to_string().into_bytes()),
                6 => fields,
            ]
        }

        #[test]
        fn any_create_order_body_is_validated_without_panicking_and_within_the_limits() {
            let settings = settings();
            let max = settings.orders.max_amount_fen;
            let mut runner = TestRunner::new(Config {
                failure_persistence: None,
                ..Config::default()
            });

            let result = runner.run(&any_body(), |body| {
                let Ok(value) = serde_json::from_slice::<Value>(&body) else {
                    return Ok(());
                };
                let Ok(parsed) = serde_json::from_value::<CreateOrder>(value.clone()) else {
                    return Ok(());
                };
                if parsed.qr_code_id.is_none() && parsed.first_given().is_some() {
                    return Ok(());
                }
                let now = crate::clock::Clock::system().now();
                let Ok(new) = new_order(&parsed, request_digest(&value), &settings, now) else {
                    return Ok(());
                };
                prop_assert!((1..=max).contains(&new.amount.fen()));
                prop_assert!(new.expire_at > now && new.expire_at <= now + MAX_EXPIRY);
                prop_assert!(new.id.as_str().starts_with("1017"));
                let order = Order::create(new, now, now);
                if order.binding == Binding::Unknown {
                    let _ = bind_request(&order, parsed, &settings, now);
                }
                Ok(())
            });

            result.unwrap();
        }
    }
}
