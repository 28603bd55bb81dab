//! An operator's resync: one order, or many selected by status and creation time (with a
//! dry run that only lists them), asked about now whatever their schedule, through
//! `check`. The one path for the operators' JSON routes; it checks the operator may act
//! before anything else. It must not change an order but through the checks' observations,
//! nor ask faster than the reconciler's pace (`check::check_many`).

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::domain::ids::MerOrderId;
use crate::domain::order::{OrderStatus, Source};
use crate::flows::check::{self, Check, CheckOutcome, PassReport};
use crate::flows::{may_act, page_limit, FlowError, Gateway};
use crate::operators::Operator;
use crate::provider::{ProviderClient, QUERY_ATTEMPTS};
use crate::store::orders::{self, ListFilter};

/// Default resync batch when the request names none.
const DEFAULT_RESYNC: i64 = 100;
/// Largest resync batch: each order is one query, paced by `reconcile.max_qps`.
const MAX_RESYNC: i64 = 1000;

/// Asks the provider about the order `id` now, for the operator `by`, and applies the
/// answer. A viewer may not; a configuration refusal is an error (nothing changed).
pub async fn one(
    gw: &Gateway,
    client: &ProviderClient,
    by: &Operator,
    id: MerOrderId,
) -> Result<Check, FlowError> {
    may_act(by)?;
    let order = {
        let id = id.clone();
        gw.db.run(move |c| orders::find(c, &id)).await?
    }
    .ok_or_else(|| FlowError::NotFound(format!("no order {id}")))?;
    let actor = by.actor(None);
    let check = check::check(
        gw,
        client,
        order,
        Source::Admin,
        Some(&actor),
        QUERY_ATTEMPTS,
    )
    .await?;
    if check.outcome == CheckOutcome::Config {
        return Err(FlowError::ProviderMisconfigured(String::new()));
    }
    Ok(check)
}

/// Which orders a resync of many asks about, as the operator sent it (checked here, after
/// the operator's role).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Selection {
    /// Statuses to resync (default: the ones awaiting the provider).
    status: Option<Vec<String>>,
    /// Only orders created at or after this instant (RFC 3339).
    since: Option<String>,
    /// At most this many orders.
    limit: Option<i64>,
    /// Only list the orders that would be asked about.
    dry_run: Option<bool>,
}

/// What a resync of many came to.
#[derive(Debug)]
pub enum Resynced {
    /// A dry run: the orders it would ask about.
    DryRun(Vec<MerOrderId>),
    /// The checks made, and their report.
    Done(PassReport, Vec<Check>),
}

impl Selection {
    /// The store's filter for this selection, or the field that is wrong.
    fn filter(self) -> Result<(ListFilter, bool), FlowError> {
        let statuses = match self.status {
            None => vec![OrderStatus::Pending, OrderStatus::Authorized],
            Some(list) => list
                .iter()
                .map(|s| {
                    OrderStatus::parse(s).ok_or_else(|| {
                        FlowError::field(
                            "status",
                            "must list PENDING, AUTHORIZED, PAID, REFUNDED or CLOSED",
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let created_since = self
            .since
            .map(|s| {
                DateTime::parse_from_rfc3339(&s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        FlowError::field(
                            "since",
                            "must be an RFC 3339 time, e.g. 2026-11-21T04:00:00Z",
                        )
                    })
            })
            .transpose()?;
        let filter = ListFilter {
            statuses,
            created_since,
            needs_review: None,
            after: None,
            limit: page_limit(self.limit, DEFAULT_RESYNC, MAX_RESYNC)?,
        };
        Ok((filter, self.dry_run.unwrap_or(false)))
    }
}

/// Resyncs the orders `selection` names, for the operator `by`, with the reconciler's
/// concurrency and rate cap (stopping at a configuration refusal); a dry run only lists
/// them. A viewer may not, whatever the selection.
pub async fn many(
    gw: &Gateway,
    client: &ProviderClient,
    by: &Operator,
    selection: Selection,
) -> Result<Resynced, FlowError> {
    may_act(by)?;
    let (filter, dry_run) = selection.filter()?;
    let selected = gw.db.run(move |c| orders::list(c, &filter)).await?;
    if dry_run {
        return Ok(Resynced::DryRun(
            selected.into_iter().map(|o| o.id).collect(),
        ));
    }
    let actor = by.actor(None);
    let (report, checks) = check::check_many(
        gw,
        client,
        selected,
        Source::Admin,
        Some(&actor),
        &check::Pace::new(gw.settings.reconcile.max_qps),
    )
    .await?;
    Ok(Resynced::Done(report, checks))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selection(json: serde_json::Value) -> Selection {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn an_empty_selection_is_the_orders_awaiting_the_provider_a_hundred_at_most() {
        let (filter, dry_run) = Selection::default().filter().unwrap();

        assert_eq!(
            filter.statuses,
            [OrderStatus::Pending, OrderStatus::Authorized]
        );
        assert_eq!(
            (filter.limit, filter.created_since, dry_run),
            (100, None, false)
        );
    }

    #[test]
    fn a_selection_names_the_field_it_gets_wrong() {
        for (json, field) in [
            (serde_json::json!({"status": ["PAYED"]}), "status"),
            (serde_json::json!({"since": "yesterday"}), "since"),
            (serde_json::json!({"limit": 1001}), "limit"),
            (serde_json::json!({"limit": 0}), "limit"),
        ] {
            let e = selection(json.clone()).filter().unwrap_err();
            assert!(
                e.to_string().starts_with(&format!("{field}: ")),
                "{json}: {e}"
            );
        }
    }
}
