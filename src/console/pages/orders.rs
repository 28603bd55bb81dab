//! The orders list: orders in id order, filtered by status and review flag, a page at a
//! time; a searched order id goes straight to its page. It only reads.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{chrome, order_href, page, see_other, store_error, when, who, Chrome, Money, PAGE};
use crate::console::{query_param, Console, ConsoleError};
use crate::domain::ids::MerOrderId;
use crate::domain::order::OrderStatus;
use crate::domain::record::Order;
use crate::http::AppState;
use crate::store::orders::{self, ListFilter};

/// An order in the orders list.
pub struct OrderRow {
    id: String,
    status: &'static str,
    amount: Money,
    created: String,
    review: Option<String>,
}

impl From<&Order> for OrderRow {
    fn from(o: &Order) -> Self {
        OrderRow {
            id: o.id.to_string(),
            status: o.status.as_str(),
            amount: Money::from(o.amount),
            created: when(o.created_at),
            review: o.review_reason().map(str::to_owned),
        }
    }
}

#[derive(Template)]
#[template(path = "console/orders.html")]
struct OrdersPage {
    c: Chrome,
    q: String,
    statuses: Vec<(&'static str, bool)>,
    status: String,
    review: String,
    rows: Vec<OrderRow>,
    next: Option<String>,
    not_found: bool,
}

/// `GET /admin/console/orders?q=&status=&review=&after=`: orders in id order, filtered;
/// `q` (an order id) goes straight to that order's page.
pub async fn orders(
    req: HttpRequest,
    gw: web::Data<AppState>,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let who = who(&req, &gw, &console).await?;
    let q = query_param(&req, "q").unwrap_or_default().trim().to_owned();
    let mut not_found = false;
    if !q.is_empty() {
        if let Ok(id) = MerOrderId::parse_stored(&q) {
            let shown = id.to_string();
            let found = gw
                .db
                .run(move |c| orders::find(c, &id))
                .await
                .map_err(store_error(who.lang))?;
            if found.is_some() {
                return Ok(see_other(&order_href(&shown)));
            }
        }
        not_found = true;
    }
    let status = query_param(&req, "status").unwrap_or_default();
    let review = query_param(&req, "review").unwrap_or_default();
    let filter = ListFilter {
        statuses: OrderStatus::parse(&status).into_iter().collect(),
        needs_review: match review.as_str() {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        },
        after: query_param(&req, "after").filter(|a| !a.is_empty()),
        limit: PAGE,
        ..ListFilter::default()
    };
    let list = gw
        .db
        .run(move |c| orders::list(c, &filter))
        .await
        .map_err(store_error(who.lang))?;
    let next = (list.len() == usize::try_from(PAGE).unwrap_or(usize::MAX))
        .then(|| list.last().map(|o| o.id.to_string()))
        .flatten();
    let p = OrdersPage {
        c: chrome(&who, |t| t.orders, "orders"),
        q,
        statuses: OrderStatus::ALL
            .iter()
            .map(|s| (s.as_str(), s.as_str() == status))
            .collect(),
        status,
        review,
        rows: list.iter().map(OrderRow::from).collect(),
        next,
        not_found,
    };
    Ok(page(&req, who.lang, who.set_lang, p.render()))
}
