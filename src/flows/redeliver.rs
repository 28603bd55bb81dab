//! Redelivery of a webhook event: every delivery of it is pending again, due now, and the
//! worker is woken. The one path for the operators' JSON route and the console; it must
//! not send anything itself (the worker does, on its next pass).

use crate::flows::Gateway;
use crate::store::deliveries;
use crate::store::StoreError;

/// Makes every delivery of event `event_id` pending again, due now with a fresh back-off,
/// and wakes the webhook worker. Returns how many deliveries (0: no such event).
pub async fn redeliver_event(gw: &Gateway, event_id: String) -> Result<usize, StoreError> {
    let now = gw.now();
    let n = gw
        .db
        .write(move |c| deliveries::redeliver_event(c, &event_id, now))
        .await?;
    gw.events_written();
    Ok(n)
}
