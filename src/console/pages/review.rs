//! The review actions of an order's page: acknowledging a flagged order or asking the
//! provider now, each with the operator's note, through the review use case. It must not
//! decide what the order becomes.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{csrf_checked, form, order_href, see_other, store_error, who};
use crate::console::session::Flash;
use crate::console::{Console, ConsoleError};
use crate::flows::review::{review, ReviewAction, ReviewOutcome};
use crate::flows::FlowError;
use crate::http::AppState;
use crate::provider::ProviderClient;

/// `POST /admin/console/orders/{merOrderId}/acknowledge` (csrf, note, version): the review
/// use case clears the flag if the order is still at the version the page showed,
/// recording the operator and the note; back to the order, which shows the flag as it is
/// now when it changed meanwhile.
pub async fn acknowledge(
    req: HttpRequest,
    payload: web::Payload,
    gw: web::Data<AppState>,
    client: web::Data<ProviderClient>,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    review_action(req, payload, gw, client, console, ReviewAction::Acknowledge).await
}

/// `POST /admin/console/orders/{merOrderId}/resync` (csrf, note): the review use case asks
/// the provider now, recording the operator and the note; back to the order.
pub async fn resync(
    req: HttpRequest,
    payload: web::Payload,
    gw: web::Data<AppState>,
    client: web::Data<ProviderClient>,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    review_action(req, payload, gw, client, console, ReviewAction::Resync).await
}

async fn review_action(
    req: HttpRequest,
    payload: web::Payload,
    gw: web::Data<AppState>,
    client: web::Data<ProviderClient>,
    console: web::Data<Console>,
    action: ReviewAction,
) -> Result<HttpResponse, ConsoleError> {
    let who = who(&req, &gw, &console).await?;
    let fields = form(&req, payload, who.lang).await?;
    csrf_checked(&who, &fields)?;
    let id = crate::http::orders::path_id(&req).map_err(|_| ConsoleError::NotFound(who.lang))?;
    let href = order_href(id.as_str());
    let note = fields.get("note").map_or("", String::as_str);
    let by = &who.session.operator;
    let done = match reviewed(&fields) {
        Ok(version) => review(&gw, &client, by, id, action, note, version).await,
        Err(e) => Err(e),
    };
    let flash = match done {
        Ok(ReviewOutcome::Acknowledged(_)) => Flash::Acknowledged,
        Ok(ReviewOutcome::Resynced(check)) => {
            Flash::Resynced(check.after.status.as_str().to_owned())
        }
        Err(FlowError::NotFound(_)) => return Err(ConsoleError::NotFound(who.lang)),
        Err(FlowError::Forbidden(_)) => return Err(ConsoleError::Forbidden(who.lang)),
        Err(FlowError::Store(e)) => return Err(ConsoleError::Store(who.lang, e)),
        // A missing note, an order no longer flagged or flagged anew since the page was
        // read (the page then shows the flag now), the provider's refusal or silence: said
        // on the order's page, in the use case's words.
        Err(e) => Flash::Failed(e.to_string()),
    };
    log::info!(
        "console: {} ran {} on {}: {}",
        by.name,
        action.as_str(),
        href,
        if matches!(flash, Flash::Failed(_)) {
            "not done"
        } else {
            "done"
        }
    );
    console
        .sessions
        .flash(&gw.db, &who.id, flash)
        .await
        .map_err(store_error(who.lang))?;
    Ok(see_other(&href))
}

/// The form's `version` (the order's version the page showed), if it has one.
fn reviewed(fields: &std::collections::HashMap<String, String>) -> Result<Option<i64>, FlowError> {
    fields
        .get("version")
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| FlowError::field("version", "must be a whole number"))
        })
        .transpose()
}
