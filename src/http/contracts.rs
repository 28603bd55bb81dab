//! `GET /contracts/{contractNo}`: a contract's latest state, as the newest notice reported
//! it. Thin and read-only; it must not change anything (only a notice does, through
//! `notify::contract`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::error::ApiError;
use super::views::rfc3339;
use super::AppState;
use crate::chinaums::time;
use crate::domain::contract::Contract;
use crate::store::contracts;

/// `contractNo` length of seed 004 (8..40).
const CONTRACT_NO_CHARS: std::ops::RangeInclusive<usize> = 8..=40;

/// A contract as the API shows it: the provider's fields as sent, plus when and from which
/// journal row it was stored.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ContractView {
    contract_no: String,
    mid: String,
    contract_id: Option<String>,
    contract_state: String,
    contract_signed_time: Option<String>,
    contract_expired_time: Option<String>,
    single_limit_amt: Option<String>,
    avl_num: Option<String>,
    plan_id: Option<String>,
    /// The notice's `requestTimestamp` (Beijing time, as the provider writes it).
    request_timestamp: String,
    notification_id: Option<i64>,
    updated_at: String,
}

impl From<Contract> for ContractView {
    fn from(c: Contract) -> Self {
        ContractView {
            request_timestamp: time::format_body(c.request_ts),
            updated_at: rfc3339(c.updated_at),
            contract_state: c.state.as_str().to_owned(),
            contract_no: c.contract_no,
            mid: c.mid,
            contract_id: c.contract_id,
            contract_signed_time: c.signed_time,
            contract_expired_time: c.expired_time,
            single_limit_amt: c.single_limit_amt,
            avl_num: c.avl_num,
            plan_id: c.plan_id,
            notification_id: c.notification_id,
        }
    }
}

/// `GET /contracts/{contractNo}`: 404 if no notice named it.
pub async fn get(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let no = req
        .match_info()
        .get("contractNo")
        .unwrap_or_default()
        .to_owned();
    if !CONTRACT_NO_CHARS.contains(&no.chars().count()) {
        return Err(ApiError::field(
            "contractNo",
            format!(
                "must be {} to {} characters",
                CONTRACT_NO_CHARS.start(),
                CONTRACT_NO_CHARS.end()
            ),
        ));
    }
    let key = no.clone();
    let found = state.db.run(move |c| contracts::find(c, &key)).await?;
    let contract = found.ok_or_else(|| ApiError::NotFound(format!("no contract {no}")))?;
    Ok(HttpResponse::Ok().json(ContractView::from(contract)))
}
