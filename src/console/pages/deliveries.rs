//! How a webhook delivery is shown in the table of an order's page, and its action:
//! redelivering the delivery's event through the use case. It must not change a delivery
//! itself.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{csrf_checked, form, order_href, see_other, store_error, when, who};
use crate::console::session::Flash;
use crate::console::{Console, ConsoleError, PREFIX};
use crate::flows::redeliver::Redelivered;
use crate::flows::FlowError;
use crate::http::AppState;
use crate::store::deliveries::Delivery;

/// A webhook delivery as the console shows it.
pub struct DeliveryRow {
    pub(super) id: i64,
    pub(super) endpoint: String,
    pub(super) event_type: String,
    pub(super) status: &'static str,
    pub(super) attempts: i32,
    pub(super) delivered_at: String,
    pub(super) next_attempt: String,
}

impl From<Delivery> for DeliveryRow {
    fn from(d: Delivery) -> Self {
        DeliveryRow {
            id: d.id,
            endpoint: crate::webhooks::label(&d.endpoint),
            event_type: d.kind,
            status: d.status.as_str(),
            attempts: d.attempts,
            delivered_at: d.delivered_at.map(when).unwrap_or_default(),
            next_attempt: d.next_attempt_at.map(when).unwrap_or_default(),
        }
    }
}

/// `POST /admin/console/deliveries/{id}/redeliver` (csrf): the delivery's event is
/// redelivered (every endpoint's delivery of it is pending again); back to the order.
pub async fn redeliver(
    req: HttpRequest,
    payload: web::Payload,
    gw: web::Data<AppState>,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let who = who(&req, &gw, &console).await?;
    let fields = form(&req, payload, who.lang).await?;
    csrf_checked(&who, &fields)?;
    let delivery: i64 = req
        .match_info()
        .get("id")
        .and_then(|v| v.parse().ok())
        .ok_or(ConsoleError::NotFound(who.lang))?;
    let by = &who.session.operator;
    let done = crate::flows::redeliver::redeliver_delivery(&gw, by, delivery)
        .await
        .map_err(|e| match e {
            FlowError::Store(e) => ConsoleError::Store(who.lang, e),
            _ => ConsoleError::Forbidden(who.lang),
        })?;
    let Some(Redelivered {
        event_id,
        order,
        deliveries: n,
    }) = done
    else {
        return Err(ConsoleError::NotFound(who.lang));
    };
    log::info!(
        "console: {} redelivered event {event_id} ({n} deliveries)",
        by.name
    );
    console
        .sessions
        .flash(&gw.db, &who.id, Flash::Redelivered(n))
        .await
        .map_err(store_error(who.lang))?;
    Ok(see_other(
        &order.map_or_else(|| format!("{PREFIX}/"), |o| order_href(&o)),
    ))
}
