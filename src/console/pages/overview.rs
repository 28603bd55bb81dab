//! The overview: orders by status, those awaiting the provider by age, the review queue,
//! the journal's outcomes, provider calls and the webhook backlog of the last day, and
//! its two charts. It only reads.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{DateTime, Duration, Utc};

use super::{
    chrome, page, see_other, store_error, when, who, Chrome, Money, JOURNAL_OUTCOMES, PAGE,
};
use crate::console::i18n::Labels;
use crate::console::{charts, Console, ConsoleError, PREFIX};
use crate::domain::order::OrderStatus;
use crate::domain::record::Order;
use crate::http::AppState;
use crate::store::console as figures;
use crate::store::deliveries;
use crate::store::orders;
use crate::store::StoreError;

/// The window of the overview's figures and charts.
const WINDOW_HOURS: i64 = 24;

/// A flagged order in the review queue.
pub struct QueueRow {
    id: String,
    status: &'static str,
    amount: Money,
    reason: String,
    flagged_at: String,
}

impl From<&Order> for QueueRow {
    fn from(o: &Order) -> Self {
        QueueRow {
            id: o.id.to_string(),
            status: o.status.as_str(),
            amount: Money::from(o.amount),
            reason: o.review_reason().unwrap_or_default().to_owned(),
            flagged_at: o.review.as_ref().map(|r| when(r.since)).unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage {
    c: Chrome,
    statuses: Vec<(&'static str, i64)>,
    ages: Vec<(&'static str, i64)>,
    queue: Vec<QueueRow>,
    journal: Vec<(String, i64, bool)>,
    calls: figures::CallStats,
    backlog: Vec<(String, i64, String)>,
    chart_payments: String,
    chart_time: String,
}

/// Age buckets (from `orders::AGE_BUCKETS`) as the overview labels them.
fn age_label(bucket: &str, t: &'static Labels) -> &'static str {
    match bucket {
        "lt_1m" => t.age_lt_1m,
        "lt_5m" => t.age_lt_5m,
        "lt_30m" => t.age_lt_30m,
        "lt_2h" => t.age_lt_2h,
        "lt_24h" => t.age_lt_24h,
        _ => t.age_ge_24h,
    }
}

/// Everything the overview reads, in one blocking task.
struct OverviewData {
    statuses: Vec<(OrderStatus, i64)>,
    ages: Vec<(&'static str, i64)>,
    queue: Vec<Order>,
    journal: Vec<(String, i64)>,
    calls: figures::CallStats,
    backlog: Vec<(String, i64, DateTime<Utc>)>,
    paid: Vec<figures::PaidMove>,
}

/// `GET /admin/console` → the overview's canonical address.
pub async fn to_overview() -> HttpResponse {
    see_other(&format!("{PREFIX}/"))
}

/// `GET /admin/console/`: the overview.
pub async fn overview(
    req: HttpRequest,
    gw: web::Data<AppState>,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let who = who(&req, &gw, &console).await?;
    let now = gw.now();
    let since = now - Duration::hours(WINDOW_HOURS);
    let d = gw
        .db
        .run(move |c| {
            Ok::<_, StoreError>(OverviewData {
                statuses: orders::count_by_status(c)?,
                ages: orders::awaiting_by_age(c, now)?,
                queue: orders::review_queue(c, PAGE)?,
                journal: figures::journal_outcomes(c, since)?,
                calls: figures::provider_calls_since(c, since)?,
                backlog: deliveries::undelivered(c)?,
                paid: figures::paid_moves_since(c, since)?,
            })
        })
        .await
        .map_err(store_error(who.lang))?;
    let c = chrome(&who, |t| t.overview, "overview");
    let p = OverviewPage {
        chart_payments: charts::payments_per_hour(
            now,
            &d.paid.iter().map(|m| m.at).collect::<Vec<_>>(),
            c.t.chart_payments,
            c.t.chart_payments_desc,
        ),
        chart_time: charts::time_to_final(
            &d.paid
                .iter()
                .filter_map(|m| m.seconds_from_payment)
                .collect::<Vec<_>>(),
            c.t.chart_time_to_final,
            c.t.chart_time_desc,
        ),
        c,
        statuses: d
            .statuses
            .into_iter()
            .map(|(s, n)| (s.as_str(), n))
            .collect(),
        ages: d
            .ages
            .into_iter()
            .map(|(b, n)| (age_label(b, who.lang.labels()), n))
            .collect(),
        queue: d.queue.iter().map(QueueRow::from).collect(),
        journal: d
            .journal
            .into_iter()
            .map(|(o, n)| {
                let linked = JOURNAL_OUTCOMES.contains(&o.as_str());
                (o, n, linked)
            })
            .collect(),
        calls: d.calls,
        backlog: d
            .backlog
            .into_iter()
            .map(|(e, n, oldest)| (crate::webhooks::label(&e), n, when(oldest)))
            .collect(),
    };
    Ok(page(&req, who.lang, who.set_lang, p.render()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::i18n::Lang;

    #[test]
    fn every_age_bucket_of_the_store_has_its_own_label() {
        for lang in [Lang::En, Lang::Zh] {
            let mut labels: Vec<&str> = orders::AGE_BUCKETS
                .iter()
                .map(|(bucket, _)| age_label(bucket, lang.labels()))
                .collect();
            labels.sort_unstable();
            labels.dedup();
            assert_eq!(labels.len(), orders::AGE_BUCKETS.len(), "{lang:?}");
        }
    }
}
