//! One order's page: its facts, its timeline, the journal rows and provider calls about
//! it, its webhook deliveries, and (for an operator) the action forms. It only reads; the
//! actions are in [`super::review`] and [`super::deliveries`].

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::calls::CallRow;
use super::deliveries::DeliveryRow;
use super::journal::JournalRow;
use super::{chrome, order_href, page, store_error, when, who, Chrome, Money, ROWS};
use crate::console::{Console, ConsoleError};
use crate::domain::record::{Order, OrderEvent};
use crate::flows::review::is_format;
use crate::http::AppState;
use crate::store::deliveries::{self, Delivery};
use crate::store::notifications::{self, Entry};
use crate::store::provider_calls::{self, Call};
use crate::store::{events, orders, StoreError};

/// One entry of an order's timeline.
pub struct EventRow {
    at: String,
    change: String,
    source: String,
    reason: Option<String>,
    note: Option<String>,
    evidence: Option<String>,
    /// The row of this page the evidence names (`#notification-<id>`, `#call-<id>`).
    evidence_anchor: Option<String>,
}

/// The anchor of the row an event's evidence names on the order's page, when it names a
/// journal row or a provider call by its numeric id.
fn evidence_anchor(evidence: &str) -> Option<String> {
    let (kind, id) = evidence.split_once(':')?;
    let kind = ["notification", "call"].into_iter().find(|k| *k == kind)?;
    id.parse::<i64>().ok().map(|id| format!("#{kind}-{id}"))
}

/// A note as the timeline shows it: a format character (a right-to-left override, a
/// zero-width space…), which notes kept from before they were refused may hold, is shown as
/// its code (`<U+202E>`), so that it cannot make the line read otherwise.
fn visible(note: &str) -> String {
    note.chars()
        .map(|c| {
            if is_format(c) {
                format!("<U+{:04X}>", u32::from(c))
            } else {
                c.to_string()
            }
        })
        .collect()
}

impl From<&OrderEvent> for EventRow {
    fn from(e: &OrderEvent) -> Self {
        EventRow {
            at: when(e.at),
            change: match e.from {
                Some(from) if from != e.to => format!("{} → {}", from.as_str(), e.to.as_str()),
                Some(_) => e.to.as_str().to_owned(),
                None => format!("→ {}", e.to.as_str()),
            },
            source: match &e.operator {
                Some(name) => format!("{}: {name}", e.source.as_str()),
                None => e.source.as_str().to_owned(),
            },
            reason: e.reason.clone(),
            note: e.note.as_deref().map(visible),
            evidence: e.evidence.clone(),
            evidence_anchor: e.evidence.as_deref().and_then(evidence_anchor),
        }
    }
}

#[derive(Template)]
#[template(path = "console/order.html")]
struct OrderPage {
    c: Chrome,
    id: String,
    href: String,
    status: &'static str,
    amount: Money,
    paid_amount: Option<Money>,
    refunded: Money,
    binding: &'static str,
    created: String,
    updated: String,
    expires: String,
    pay_time: String,
    wallet: String,
    review_reason: Option<String>,
    flagged_at: String,
    /// The order's version as shown: an acknowledgement clears only this version's flag.
    version: i64,
    events: Vec<EventRow>,
    journal: Vec<JournalRow>,
    calls: Vec<CallRow>,
    deliveries: Vec<DeliveryRow>,
}

/// Everything an order's page reads.
struct OrderData {
    order: Order,
    events: Vec<OrderEvent>,
    journal: Vec<Entry>,
    calls: Vec<Call>,
    deliveries: Vec<Delivery>,
}

/// `GET /admin/console/orders/{merOrderId}`: the order, its timeline, the journal rows and
/// provider calls about it, its webhook deliveries, and (for an operator) the actions.
pub async fn order(
    req: HttpRequest,
    gw: web::Data<AppState>,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let who = who(&req, &gw, &console).await?;
    let id = crate::http::orders::path_id(&req).map_err(|_| ConsoleError::NotFound(who.lang))?;
    let d = gw
        .db
        .run(move |c| {
            let Some(order) = orders::find(c, &id)? else {
                return Ok(None);
            };
            let key = id.to_string();
            Ok::<_, StoreError>(Some(OrderData {
                events: events::list_for(c, &id)?,
                journal: notifications::list(
                    c,
                    &notifications::Filter {
                        order_ref: Some(key.clone()),
                        limit: ROWS,
                        ..notifications::Filter::default()
                    },
                )?,
                calls: provider_calls::list(c, Some(&key))?,
                deliveries: deliveries::of_order(c, &key, ROWS)?,
                order,
            }))
        })
        .await
        .map_err(store_error(who.lang))?
        .ok_or(ConsoleError::NotFound(who.lang))?;
    let o = &d.order;
    let id = o.id.to_string();
    let p = OrderPage {
        c: chrome(&who, |t| t.order, "orders"),
        href: order_href(&id),
        id,
        status: o.status.as_str(),
        amount: Money::from(o.amount),
        paid_amount: o.paid_amount.map(Money::from),
        refunded: Money::from(o.refunded),
        binding: o.binding.as_str(),
        created: when(o.created_at),
        updated: when(o.updated_at),
        expires: when(o.expire_at),
        pay_time: o.facts.pay_time.clone().unwrap_or_default(),
        wallet: o.facts.target_sys.clone().unwrap_or_default(),
        review_reason: o.review_reason().map(str::to_owned),
        flagged_at: o.review.as_ref().map(|r| when(r.since)).unwrap_or_default(),
        version: o.version,
        events: d.events.iter().map(EventRow::from).collect(),
        journal: d.journal.into_iter().map(JournalRow::from).collect(),
        calls: d
            .calls
            .into_iter()
            .rev()
            .take(usize::try_from(ROWS).unwrap_or(usize::MAX))
            .map(CallRow::from)
            .collect(),
        deliveries: d.deliveries.into_iter().map(DeliveryRow::from).collect(),
    };
    Ok(page(&req, who.lang, who.set_lang, p.render()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_note_shows_its_format_characters_by_their_code() {
        assert_eq!(
            visible("refunded \u{202E}dnah yb\u{200B}"),
            "refunded <U+202E>dnah yb<U+200B>"
        );
        assert_eq!(visible("退款 1 分\nchecked"), "退款 1 分\nchecked");
    }

    #[test]
    fn evidence_that_names_a_row_links_to_it() {
        assert_eq!(
            evidence_anchor("notification:42").as_deref(),
            Some("#notification-42")
        );
        assert_eq!(evidence_anchor("call:7").as_deref(), Some("#call-7"));
        assert_eq!(evidence_anchor("call:x"), None);
        assert_eq!(evidence_anchor("operator:alice"), None);
        assert_eq!(evidence_anchor("created"), None);
    }
}
