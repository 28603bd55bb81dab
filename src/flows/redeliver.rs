//! Redelivery of webhook events, by event or since a time: every delivery concerned is
//! pending again, due now with a fresh back-off, and the worker is woken. The one path for
//! the operators' JSON route and the console; it checks the operator may act before
//! anything else. It must not send anything itself (the worker does, on its next pass).

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::flows::{may_act, FlowError, Gateway};
use crate::operators::Operator;
use crate::store::deliveries;

/// What to redeliver, as the operator sent it: `eventId` alone, or `since` with `status`
/// `"failed"` (checked here, after the operator's role).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Redelivery {
    /// Every delivery of this event, whatever its status.
    event_id: Option<String>,
    /// Every failed delivery of an event committed since.
    since: Option<DateTime<Utc>>,
    /// With `since`: must be `failed`.
    status: Option<String>,
}

/// What a [`Redelivery`] asks, once checked.
enum Asked {
    Event(String),
    FailedSince(DateTime<Utc>),
}

impl Redelivery {
    fn asked(self) -> Result<Asked, FlowError> {
        match (self.event_id, self.since, self.status.as_deref()) {
            (Some(id), None, None) => Ok(Asked::Event(id)),
            (None, Some(since), Some("failed")) => Ok(Asked::FailedSince(since)),
            (None, Some(_), _) => Err(FlowError::field("status", "must be \"failed\" with since")),
            _ => Err(FlowError::field(
                "eventId",
                "give eventId alone, or since with status \"failed\"",
            )),
        }
    }
}

/// Redelivers what `ask` names, for the operator `by`, and wakes the webhook worker.
/// Returns how many deliveries are pending again. A viewer may not, whatever is asked.
pub async fn redeliver(gw: &Gateway, by: &Operator, ask: Redelivery) -> Result<usize, FlowError> {
    may_act(by)?;
    match ask.asked()? {
        Asked::Event(id) => redeliver_event(gw, by, id).await,
        Asked::FailedSince(since) => {
            let now = gw.now();
            let n = gw
                .db
                .write(move |c| deliveries::redeliver_failed_since(c, since, now))
                .await?;
            gw.events_written();
            Ok(n)
        }
    }
}

/// What redelivering one delivery's event came to (the console's action on a delivery row).
#[derive(Debug)]
pub struct Redelivered {
    /// The event whose deliveries are pending again.
    pub event_id: String,
    /// The order the event is about, if any.
    pub order: Option<String>,
    /// How many deliveries are pending again.
    pub deliveries: usize,
}

/// Redelivers the event of delivery `delivery` (every endpoint's delivery of it), for the
/// operator `by`. `None`: no such delivery. A viewer may not, whether or not it exists.
pub async fn redeliver_delivery(
    gw: &Gateway,
    by: &Operator,
    delivery: i64,
) -> Result<Option<Redelivered>, FlowError> {
    may_act(by)?;
    let Some((event_id, order)) = gw
        .db
        .run(move |c| deliveries::event_of(c, delivery))
        .await?
    else {
        return Ok(None);
    };
    let deliveries = redeliver_event(gw, by, event_id.clone()).await?;
    Ok(Some(Redelivered {
        event_id,
        order,
        deliveries,
    }))
}

/// Makes every delivery of event `event_id` pending again, due now with a fresh back-off,
/// for the operator `by`, and wakes the webhook worker. Returns how many deliveries (0: no
/// such event). A viewer may not.
async fn redeliver_event(
    gw: &Gateway,
    by: &Operator,
    event_id: String,
) -> Result<usize, FlowError> {
    may_act(by)?;
    let now = gw.now();
    let n = gw
        .db
        .write(move |c| deliveries::redeliver_event(c, &event_id, now))
        .await?;
    gw.events_written();
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(json: serde_json::Value) -> Result<Asked, FlowError> {
        serde_json::from_value::<Redelivery>(json).unwrap().asked()
    }

    #[test]
    fn a_redelivery_is_an_event_alone_or_failed_deliveries_since_a_time() {
        let since = "2026-11-21T04:00:00Z";

        assert!(
            matches!(asked(serde_json::json!({"eventId": "evt_1"})), Ok(Asked::Event(id)) if id == "evt_1")
        );
        assert!(matches!(
            asked(serde_json::json!({"since": since, "status": "failed"})),
            Ok(Asked::FailedSince(_))
        ));
        for (json, field) in [
            (serde_json::json!({"since": since}), "status"),
            (
                serde_json::json!({"since": since, "status": "pending"}),
                "status",
            ),
            (serde_json::json!({"status": "failed"}), "eventId"),
            (
                serde_json::json!({"eventId": "evt_1", "since": since}),
                "eventId",
            ),
            (serde_json::json!({}), "eventId"),
        ] {
            let e = asked(json.clone()).err().expect("refused");
            assert!(
                e.to_string().starts_with(&format!("{field}: ")),
                "{json}: {e}"
            );
        }
    }
}
