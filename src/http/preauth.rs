//! `POST /orders/{merOrderId}/preauth-completion`: parses the request, runs the completion
//! use case (`flows::preauth`), renders the order: 200 once completed, 202 while its
//! outcome is not known yet.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::body::{parse_json, read_json_request};
use super::error::ApiError;
use super::orders::path_id;
use super::views::OrderView;
use super::AppState;
use crate::flows::preauth::{self, Completion};
use crate::provider::ProviderClient;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CompletionBody {
    /// Fen to take; the whole authorised amount when absent.
    amount: Option<serde_json::Value>,
}

/// `POST /orders/{merOrderId}/preauth-completion` `{amount?}`.
pub async fn complete(
    state: web::Data<AppState>,
    client: web::Data<ProviderClient>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&req)?;
    let body = read_json_request(&req, payload, state.settings.api.listener.max_body_bytes).await?;
    let parsed: CompletionBody = if body.is_empty() {
        CompletionBody { amount: None }
    } else {
        parse_json(&body)?.0
    };
    Ok(
        match preauth::complete(&state, &client, id, parsed.amount).await? {
            Completion::Done(o) => HttpResponse::Ok().json(OrderView::from(&o)),
            Completion::Pending(o) => HttpResponse::Accepted().json(OrderView::from(&o)),
        },
    )
}
