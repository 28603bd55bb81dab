//! Completing a pre-authorised payment (`preauthed`): only for an AUTHORIZED order with its
//! authorisation code, one completion per order in flight in this process, and never a
//! second completion whose first one's outcome is unknown without querying it first. What
//! the provider answers (read by `domain::reading`) is applied as an observation. It must not call the provider for an
//! order that is not AUTHORIZED.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use crate::chinaums::status::{ErrClass, TradeStatus};
use crate::chinaums::time;
use crate::chinaums::wire::PreauthedRequest;
use crate::domain::ids::MerOrderId;
use crate::domain::money::Amount;
use crate::domain::observe::{Observation, Seen};
use crate::domain::order::{OrderStatus, Source};
use crate::domain::reading;
use crate::domain::record::Order;
use crate::flows::{FlowError, Gateway};
use crate::provider::{Outcome, ProviderClient, QUERY_ATTEMPTS};
use crate::store::orders;

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

/// What a completion came to.
#[derive(Debug)]
pub enum Completion {
    /// Completed (now, or by an earlier request): the order is PAID.
    Done(Order),
    /// Sent, but not completed yet or not answered: the reconciler queries the
    /// completion's own id until it knows.
    Pending(Order),
}

/// Applies what the provider said about the completion and reads the order back.
async fn apply(
    gw: &Gateway,
    id: &MerOrderId,
    seen: Seen,
    evidence_ref: Option<String>,
) -> Result<Order, FlowError> {
    gw.observe(id, Observation::of(seen, Source::Preauth, evidence_ref))
        .await?
        .map(|a| a.change.after)
        .ok_or_else(|| FlowError::NotFound(format!("no order {id}")))
}

/// Completes the AUTHORIZED order `id` for `amount` fen (`None`: the whole authorised
/// amount; the raw JSON value, checked here).
pub async fn complete(
    gw: &Gateway,
    client: &ProviderClient,
    id: MerOrderId,
    amount: Option<serde_json::Value>,
) -> Result<Completion, FlowError> {
    // Claimed before the order is read, so that what is read is after any earlier
    // request's outcome.
    let Some(_claim) = gw.completions.claim(&id) else {
        return Err(FlowError::Conflict(format!(
            "a completion of order {id} is in progress; retry to learn its outcome"
        )));
    };
    let order = load(gw, &id).await?;
    // Asking again after a completion went through (its answer was lost, or the caller
    // retried) gets the completed order, not an error.
    if order.status == OrderStatus::Paid && order.completion_order_id.is_some() {
        return Ok(Completion::Done(order));
    }
    if order.status != OrderStatus::Authorized {
        return Err(FlowError::Conflict(format!(
            "order {id} is {}; only an AUTHORIZED order can be completed",
            order.status
        )));
    }
    let Some(auth_code) = order.facts.auth_id_resp_code.clone() else {
        return Err(FlowError::Conflict(format!(
            "order {id} has no authorisation code yet (authIdRespCd arrives with the payment notification)"
        )));
    };
    let amount = match &amount {
        None => order.amount,
        Some(v) => Amount::parse_json(v)
            .and_then(|a| Amount::payment(a.fen(), order.amount.fen()))
            .map_err(|e| FlowError::field("amount", format!("{e} (the authorised amount)")))?,
    };

    // A previous attempt whose outcome is unknown: ask before trying again.
    let completion_id = match order.completion_order_id.clone() {
        Some(previous) => {
            let called = client
                .mini_pre_query(id.as_str(), &previous, &order.merchant(), QUERY_ATTEMPTS)
                .await;
            let evidence_ref = called.evidence_ref();
            match called.outcome {
                Outcome::Answer(a) if a.status == Some(TradeStatus::TradeSuccess) => {
                    let seen = reading::completion_answer(&a);
                    return Ok(Completion::Done(apply(gw, &id, seen, evidence_ref).await?));
                }
                Outcome::Refused(r) if r.class == ErrClass::NoOrder => previous,
                Outcome::Answer(_) => previous,
                other => return Err(FlowError::from_outcome(other)),
            }
        }
        None => {
            let fresh = MerOrderId::generate(&gw.settings.provider.msg_src_id(), gw.now());
            // Kept before the call, so that a crash after it can still be resolved.
            let started = Seen::CompletionStarted(fresh.to_string());
            apply(gw, &id, started, None).await?;
            fresh.to_string()
        }
    };

    let request = PreauthedRequest {
        req_ts: time::format_body(gw.now()),
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
            let seen = reading::preauthed_answer(&a, amount);
            Ok(Completion::Done(apply(gw, &id, seen, evidence_ref).await?))
        }
        // Answered, but not completed yet, or no answer: the reconciler queries the
        // completion's own id until it knows.
        Outcome::Answer(_) | Outcome::Unknown(_) => Ok(Completion::Pending(load(gw, &id).await?)),
        other => Err(FlowError::from_outcome(other)),
    }
}

/// The order `id`, or not found.
async fn load(gw: &Gateway, id: &MerOrderId) -> Result<Order, FlowError> {
    let key = id.clone();
    gw.db
        .run(move |c| orders::find(c, &key))
        .await?
        .ok_or_else(|| FlowError::NotFound(format!("no order {id}")))
}
