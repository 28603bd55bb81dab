//! `GET /events`: the outbox as an ordered feed. A backend that keeps `next` and asks again
//! with `after=<next>` sees every event once, in commit order, across its own restarts.
//! Thin and read-only: it must not write anything.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::body::parse_query;
use super::error::ApiError;
use super::AppState;
use crate::domain::outbox::EventType;
use crate::store::outbox::{self, FeedFilter};

/// Default and largest page of `GET /events`.
const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1000;

/// `GET /events` query.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FeedQuery {
    after: Option<String>,
    limit: Option<i64>,
    #[serde(rename = "type")]
    kind: Option<String>,
    mer_order_id: Option<String>,
}

/// `GET /events?after=<cursor>&limit=<n>&type=<type>&merOrderId=<id>`: answers
/// `{"events":[…],"next":"<cursor>"}`; each event is its stored body, byte for byte what
/// webhooks send. `next` is the cursor of the last event shown (the `after` given when the
/// page is empty), so it can always be passed back.
pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let q: FeedQuery = parse_query(req.query_string())?;
    let after = match q.after.as_deref() {
        None | Some("") => 0,
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| ApiError::field("after", "must be a cursor this feed returned"))?,
    };
    let limit = crate::flows::page_limit(q.limit, DEFAULT_PAGE, MAX_PAGE)?;
    let kinds = q
        .kind
        .map(|k| {
            k.split(',')
                .map(|one| {
                    EventType::parse(one).ok_or_else(|| {
                        ApiError::field("type", format!("unknown event type {one:?}"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    let filter = FeedFilter {
        after,
        kinds,
        mer_order_id: q.mer_order_id,
        limit,
    };
    let page = state.db.run(move |c| outbox::page(c, &filter)).await?;
    let next = page.last().map_or(after, |e| e.seq);
    // The bodies are JSON as stored: spliced in, not parsed and printed again.
    let bodies: Vec<&str> = page.iter().map(|e| e.body.as_str()).collect();
    let json = format!(r#"{{"events":[{}],"next":"{next}"}}"#, bodies.join(","));
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(json))
}
