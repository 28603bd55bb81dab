//! The journal page: the newest notifications the gateway rejected, could not place,
//! flagged or found misrouted, and how a journal row is shown (also on an order's page).
//! It only reads, and never shows a notification's body.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{chrome, page, store_error, when, who, Chrome, JOURNAL_OUTCOMES, ROWS};
use crate::console::{query_param, Console, ConsoleError};
use crate::http::AppState;
use crate::store::notifications::{self, Entry};
use crate::store::StoreError;

/// A journal row as the console shows it: never the body.
pub struct JournalRow {
    pub(super) id: i64,
    pub(super) received: String,
    pub(super) kind: String,
    pub(super) outcome: String,
    pub(super) detail: String,
    pub(super) peer: String,
    pub(super) order_ref: Option<String>,
    pub(super) notify_id: String,
}

impl From<Entry> for JournalRow {
    fn from(e: Entry) -> Self {
        JournalRow {
            id: e.id,
            received: when(e.received_at),
            kind: e.kind,
            outcome: e.outcome,
            detail: e.detail.unwrap_or_default(),
            peer: e.remote_addr.unwrap_or_default(),
            order_ref: e.order_ref,
            notify_id: e.notify_id.unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/journal.html")]
struct JournalPage {
    c: Chrome,
    outcomes: Vec<(&'static str, bool)>,
    outcome: String,
    rows: Vec<JournalRow>,
}

/// `GET /admin/console/journal?outcome=rejected|orphan|review|misrouted`: the newest
/// journal rows of those outcomes (all four when none is chosen), without their bodies.
pub async fn journal(
    req: HttpRequest,
    gw: web::Data<AppState>,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let who = who(&req, &gw, &console).await?;
    let outcome = query_param(&req, "outcome")
        .filter(|o| JOURNAL_OUTCOMES.contains(&o.as_str()))
        .unwrap_or_default();
    let chosen: Vec<&'static str> = JOURNAL_OUTCOMES
        .into_iter()
        .filter(|o| outcome.is_empty() || *o == outcome)
        .collect();
    let rows = gw
        .db
        .run(move |c| {
            let mut rows = Vec::new();
            for o in chosen {
                rows.extend(notifications::list(
                    c,
                    &notifications::Filter {
                        outcome: Some(o.to_owned()),
                        newest_first: true,
                        limit: ROWS,
                        ..notifications::Filter::default()
                    },
                )?);
            }
            rows.sort_by_key(|r| std::cmp::Reverse(r.id));
            rows.truncate(usize::try_from(ROWS).unwrap_or(usize::MAX));
            Ok::<_, StoreError>(rows)
        })
        .await
        .map_err(store_error(who.lang))?;
    let p = JournalPage {
        c: chrome(&who, |t| t.journal, "journal"),
        outcomes: JOURNAL_OUTCOMES
            .into_iter()
            .map(|o| (o, o == outcome))
            .collect(),
        outcome,
        rows: rows.into_iter().map(JournalRow::from).collect(),
    };
    Ok(page(&req, who.lang, who.set_lang, p.render()))
}
