//! `GET /contracts/{contractNo}`: a contract's latest state, as the newest notice reported
//! it. Thin and read-only; it must not change anything (only a notice does, through
//! `notify::contract`).

use actix_web::{web, HttpRequest, HttpResponse};

use super::error::ApiError;
use super::views::ContractView;
use super::AppState;
use crate::store::contracts;

/// `contractNo` length of seed 004 (8..40).
const CONTRACT_NO_CHARS: std::ops::RangeInclusive<usize> = 8..=40;

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
    Ok(HttpResponse::Ok().json(ContractView::from(&contract)))
}
