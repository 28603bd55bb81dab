//! `POST /orders/{merOrderId}/preauth-completion`: completes an AUTHORIZED order's
//! pre-authorisation with `preauthed` and applies the answer through the state machine. It
//! must not call the provider for an order that is not AUTHORIZED, and must not repeat a
//! completion whose outcome is unknown without first querying it.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Deserialize;

use super::body::{parse_json, read_json_request};
use super::error::ApiError;
use super::orders::{load, path_id, provider_error, OrderView};
use super::AppState;
use crate::chinaums::status::{ErrClass, TradeStatus};
use crate::chinaums::time;
use crate::chinaums::wire::PreauthedRequest;
use crate::domain::ids::MerOrderId;
use crate::domain::money::Amount;
use crate::domain::order::{Evidence, OrderStatus, Report, Source};
use crate::domain::record::{Order, ProviderFacts};
use crate::provider::{Outcome, ProviderClient, QUERY_ATTEMPTS};
use crate::store::orders::{self, Observation, Timing};

/// The orders whose completion a request of this process is working on. A second request
/// for one of them is answered 409 rather than racing the first to the provider: two
/// completions of one authorisation must never be sent.
#[derive(Debug, Default)]
pub struct InFlight(Mutex<HashSet<String>>);

impl InFlight {
    /// Claims `id` until the returned claim is dropped; `None` if it is claimed already.
    fn claim(&self, id: &MerOrderId) -> Option<Claim<'_>> {
        let id = id.to_string();
        // The set guards no invariant a panic could break: a poisoned lock is still sound.
        let fresh = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.clone());
        // Built only when the claim is new: a claim dropped here would release the other's.
        fresh.then(|| Claim { by: self, id })
    }
}

/// A claim on one order's completion; released when dropped, however the request ends.
struct Claim<'a> {
    by: &'a InFlight,
    id: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut claimed = self.by.0.lock().unwrap_or_else(PoisonError::into_inner);
        claimed.remove(&self.id);
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CompletionBody {
    /// Fen to take; the whole authorised amount when absent.
    amount: Option<serde_json::Value>,
}

/// What a completion attempt proved.
pub(crate) struct Completed {
    /// The completed amount.
    pub amount: Option<Amount>,
    /// The provider's facts.
    pub facts: ProviderFacts,
}

/// Applies proof of completion to the order (source `preauth` or `query`).
pub(crate) async fn apply_completion(
    state: &AppState,
    order: &MerOrderId,
    done: Completed,
    source: Source,
    evidence_ref: Option<String>,
) -> Result<Order, ApiError> {
    let mut evidence = Evidence::of(Report::Completed);
    evidence.amount = done.amount;
    let obs = Observation {
        order: order.clone(),
        evidence,
        facts: done.facts,
        source,
        evidence_ref,
        timing: Timing::from(&state.settings.reconcile),
    };
    let applied = state
        .db
        .write(move |c| orders::apply(c, &obs, Utc::now()))
        .await?;
    applied
        .map(|a| a.after)
        .ok_or_else(|| ApiError::NotFound(format!("no order {order}")))
}

/// `POST /orders/{merOrderId}/preauth-completion` `{amount?}`.
pub async fn complete(
    state: web::Data<AppState>,
    client: web::Data<ProviderClient>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&req)?;
    let body = read_json_request(&req, payload, state.settings.api.max_body_bytes).await?;
    let parsed: CompletionBody = if body.is_empty() {
        CompletionBody { amount: None }
    } else {
        parse_json(&body)?.0
    };
    // Claimed before the order is read, so that what is read is after any earlier
    // request's outcome.
    let Some(_claim) = state.completions.claim(&id) else {
        return Err(ApiError::Conflict(format!(
            "a completion of order {id} is in progress; retry to learn its outcome"
        )));
    };
    let order = load(&state, id.clone()).await?;
    // Asking again after a completion went through (its answer was lost, or the caller
    // retried) gets the completed order, not an error.
    if order.status == OrderStatus::Paid && order.completion_order_id.is_some() {
        return Ok(HttpResponse::Ok().json(OrderView::from(&order)));
    }
    if order.status != OrderStatus::Authorized {
        return Err(ApiError::Conflict(format!(
            "order {id} is {}; only an AUTHORIZED order can be completed",
            order.status
        )));
    }
    let Some(auth_code) = order.facts.auth_id_resp_code.clone() else {
        return Err(ApiError::Conflict(format!(
            "order {id} has no authorisation code yet (authIdRespCd arrives with the payment notification)"
        )));
    };
    let amount = match &parsed.amount {
        None => order.amount,
        Some(v) => Amount::parse_json(v)
            .and_then(|a| Amount::payment(a.fen(), order.amount.fen()))
            .map_err(|e| ApiError::field("amount", format!("{e} (the authorised amount)")))?,
    };

    // A previous attempt whose outcome is unknown: ask before trying again.
    let completion_id = match order.completion_order_id.clone() {
        Some(previous) => {
            let called = client
                .mini_pre_query(
                    id.as_str(),
                    &previous,
                    Some(&order.inst_mid),
                    QUERY_ATTEMPTS,
                )
                .await;
            let evidence_ref = called.evidence_ref();
            match called.outcome {
                Outcome::Answer(a) if a.status == Some(TradeStatus::TradeSuccess) => {
                    let done = Completed {
                        amount: crate::chinaums::wire::read(&a.total_amount)
                            .and_then(|f| Amount::from_fen(f).ok()),
                        facts: crate::reconcile::facts_of(&a),
                    };
                    let after =
                        apply_completion(&state, &id, done, Source::Preauth, evidence_ref).await?;
                    return Ok(HttpResponse::Ok().json(OrderView::from(&after)));
                }
                Outcome::Refused(r) if r.class == ErrClass::NoOrder => previous,
                Outcome::Answer(_) => previous,
                other => return Err(provider_error(other)),
            }
        }
        None => {
            let fresh = MerOrderId::generate(&state.settings.provider.msg_src_id(), Utc::now());
            let (oid, cid) = (id.clone(), fresh.to_string());
            // Stored before the call, so that a crash after it can still be resolved.
            state
                .db
                .write(move |c| {
                    orders::update(c, &oid, Utc::now(), |o| o.completion_order_id = Some(cid))
                })
                .await?;
            fresh.to_string()
        }
    };

    let request = PreauthedRequest {
        req_ts: time::format_body(Utc::now()),
        mchnt_order_id: completion_id,
        preauth_order_id: id.to_string(),
        auth_id_resp_code: auth_code,
        biz_type: order.inst_mid.clone(),
        mchnt_no: order.mid.clone(),
        term_no: order.tid.clone(),
        total_amt: amount.fen(),
        order_desc: order.description.clone(),
        ..PreauthedRequest::default()
    };
    let called = client.preauthed(id.as_str(), &request).await;
    let evidence_ref = called.evidence_ref();
    match called.outcome {
        Outcome::Answer(a) if a.status == Some(TradeStatus::TradeSuccess) => {
            let done = Completed {
                amount: Some(
                    a.total_amt
                        .and_then(|f| Amount::from_fen(f).ok())
                        .unwrap_or(amount),
                ),
                facts: ProviderFacts {
                    provider_status: Some(TradeStatus::TradeSuccess.as_str().to_owned()),
                    seq_id: a.plat_ssn,
                    target_order_id: a.target_order_id,
                    target_sys: a.target_sys,
                    pay_time: a.pay_ts,
                    settle_date: a.stl_date,
                    auth_id_resp_code: None,
                },
            };
            let after = apply_completion(&state, &id, done, Source::Preauth, evidence_ref).await?;
            Ok(HttpResponse::Ok().json(OrderView::from(&after)))
        }
        // Answered, but not completed yet, or no answer: the reconciler queries the
        // completion's own id until it knows.
        Outcome::Answer(_) | Outcome::Unknown(_) => {
            let now = load(&state, id).await?;
            Ok(HttpResponse::Accepted().json(OrderView::from(&now)))
        }
        other => Err(provider_error(other)),
    }
}
