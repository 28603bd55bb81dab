//! The console's handlers: sign-in and sign-out, the overview, orders, one order, the
//! journal, the actions and the embedded assets. Thin: check the session (and for a POST
//! its CSRF token and role), read off the executor, render a template. Actions call the
//! use cases; no handler writes to the store itself. No page shows a notification's body,
//! a secret, or a buyer's personal field.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use askama::Template;
use chrono::{DateTime, Duration, Utc};

use super::i18n::{Labels, Lang};
use super::session::{csrf_matches, random_token, same_token, Flash};
use super::{
    charts, client_ip, cookie, html, lang_cookie, lang_of, query_param, session_cookie,
    sign_in_cookie, Console, ConsoleError, Who, MAX_FORM_BYTES, PREFIX, SESSION_COOKIE,
    SIGN_IN_COOKIE,
};
use crate::domain::ids::MerOrderId;
use crate::domain::order::OrderStatus;
use crate::domain::record::{Order, OrderEvent};
use crate::flows::review::{review, ReviewAction, ReviewOutcome};
use crate::flows::FlowError;
use crate::http::body::read_limited;
use crate::http::AppState;
use crate::provider::ProviderClient;
use crate::store::console as figures;
use crate::store::deliveries::{self, Delivery};
use crate::store::notifications::{self, Entry};
use crate::store::orders::{self, ListFilter};
use crate::store::provider_calls::{self, Call};
use crate::store::{events, StoreError};

/// The window of the overview's figures and charts.
const WINDOW_HOURS: i64 = 24;
/// Most orders in the overview's review queue and on one page of the orders list.
const PAGE: i64 = 100;
/// Most rows of the journal page, and of each table of an order's page.
const ROWS: i64 = 200;
/// The journal outcomes the journal page filters on (the ones an operator looks into).
const JOURNAL_OUTCOMES: [&str; 4] = ["rejected", "orphan", "review", "misrouted"];

/// A time as the console shows it.
fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// What every signed-in page shows around its content.
pub struct Chrome {
    /// Labels.
    pub t: &'static Labels,
    /// `<html lang>`.
    pub lang: &'static str,
    /// The page's title.
    pub title: &'static str,
    /// Which navigation link is the current page.
    pub nav: &'static str,
    /// Who is signed in.
    pub operator: String,
    /// Their role, in words.
    pub role: &'static str,
    /// Whether they may act (action forms are rendered only then).
    pub can_act: bool,
    /// The session's CSRF token, for every form.
    pub csrf: String,
    /// A message from the last action.
    pub flash: Option<String>,
    /// Whether that message says it failed.
    pub flash_failed: bool,
}

/// The signed-in request's session, or [`ConsoleError::SignIn`].
fn who(req: &HttpRequest, gw: &AppState, console: &Console) -> Result<Who, ConsoleError> {
    let (lang, set_lang) = lang_of(req);
    let id = cookie(req, SESSION_COOKIE).ok_or(ConsoleError::SignIn)?;
    let session = console
        .sessions
        .get(&id, gw.now())
        .ok_or(ConsoleError::SignIn)?;
    Ok(Who {
        id,
        session,
        lang,
        set_lang,
    })
}

fn chrome(
    who: &Who,
    console: &Console,
    title: fn(&Labels) -> &'static str,
    nav: &'static str,
) -> Chrome {
    let t = who.lang.labels();
    let flash = console.sessions.take_flash(&who.id);
    let flash_failed = matches!(flash, Some(Flash::Failed(_)));
    Chrome {
        t,
        lang: who.lang.code(),
        title: title(t),
        nav,
        operator: who.session.operator.name.clone(),
        role: if who.session.operator.can_act() {
            t.role_operator
        } else {
            t.role_viewer
        },
        can_act: who.session.operator.can_act(),
        csrf: who.session.csrf.clone(),
        flash: flash.map(|f| match f {
            Flash::Acknowledged => t.flash_acknowledged.to_owned(),
            Flash::Resynced(status) => format!("{} {status}", t.flash_resynced),
            Flash::Redelivered(n) => format!("{} {n}", t.flash_redelivered),
            Flash::Failed(why) => format!("{} {why}", t.flash_failed),
        }),
        flash_failed,
    }
}

/// A page's 200 answer, remembering the language when `?lang=` chose it.
fn page(
    req: &HttpRequest,
    lang: Lang,
    set_lang: bool,
    rendered: askama::Result<String>,
) -> HttpResponse {
    let mut res = html(StatusCode::OK, rendered);
    if set_lang {
        if let Ok(v) = header::HeaderValue::from_str(&lang_cookie(req, lang)) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

/// A 303 to `location`.
fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}

/// A form body's fields (the last value of a repeated field counts).
async fn form(
    req: &HttpRequest,
    payload: web::Payload,
    lang: Lang,
) -> Result<HashMap<String, String>, ConsoleError> {
    let body = read_limited(req, payload, MAX_FORM_BYTES)
        .await
        .map_err(|e| ConsoleError::Request(lang, e))?;
    Ok(form_urlencoded::parse(&body).into_owned().collect())
}

/// The session's acting operator, once the form's CSRF token matched and the role may act.
fn may_act(who: &Who, fields: &HashMap<String, String>) -> Result<(), ConsoleError> {
    let presented = fields.get("csrf").map_or("", String::as_str);
    if !csrf_matches(&who.session, presented) {
        return Err(ConsoleError::Csrf(who.lang));
    }
    if !who.session.operator.can_act() {
        return Err(ConsoleError::Forbidden(who.lang));
    }
    Ok(())
}

fn store_error(lang: Lang) -> impl Fn(StoreError) -> ConsoleError {
    move |e| ConsoleError::Store(lang, e)
}

// ---------------------------------------------------------------- sign-in and sign-out

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    t: &'static Labels,
    lang: &'static str,
    error: Option<&'static str>,
    csrf: String,
}

/// The sign-in form with a fresh CSRF token, in its hidden field and in its cookie.
fn sign_in_page(
    req: &HttpRequest,
    lang: Lang,
    status: StatusCode,
    error: Option<&'static str>,
) -> HttpResponse {
    let csrf = random_token();
    let mut res = html(
        status,
        SignInPage {
            t: lang.labels(),
            lang: lang.code(),
            error,
            csrf: csrf.clone(),
        }
        .render(),
    );
    if let Ok(v) = header::HeaderValue::from_str(&sign_in_cookie(req, &csrf)) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// `GET /admin/console/sign-in`: the form.
pub async fn sign_in_form(req: HttpRequest) -> HttpResponse {
    let (lang, set_lang) = lang_of(&req);
    let mut res = sign_in_page(&req, lang, StatusCode::OK, None);
    if set_lang {
        if let Ok(v) = header::HeaderValue::from_str(&lang_cookie(&req, lang)) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

/// `POST /admin/console/sign-in` (form `token`): a session and its cookie, then the
/// overview; the form again with 401 for a token no operator has, or 429 once the address
/// has failed too often ([`super::session::MAX_FAILURES`] a minute). The token itself is
/// neither kept nor logged.
pub async fn sign_in(
    req: HttpRequest,
    payload: web::Payload,
    gw: web::Data<AppState>,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let (lang, _) = lang_of(&req);
    let t = lang.labels();
    let now = gw.now();
    let peer = client_ip(&req);
    if peer.is_some_and(|p| console.limit.blocked(p, now)) {
        return Ok(sign_in_page(
            &req,
            lang,
            StatusCode::TOO_MANY_REQUESTS,
            Some(t.rate_limited),
        ));
    }
    let fields = form(&req, payload, lang).await?;
    // A sign-in must come from our own form (login CSRF): its cookie and its field agree.
    let form_csrf = fields.get("csrf").map_or("", String::as_str);
    let from_our_form =
        cookie(&req, SIGN_IN_COOKIE).is_some_and(|c| !c.is_empty() && same_token(&c, form_csrf));
    if !from_our_form {
        return Err(ConsoleError::Csrf(lang));
    }
    let presented = fields.get("token").map_or("", |v| v.trim());
    let operator = (!presented.is_empty())
        .then(|| {
            gw.settings
                .admin
                .roster()
                .authenticate(presented.as_bytes())
        })
        .flatten();
    let Some(operator) = operator else {
        if let Some(p) = peer {
            console.limit.failed(p, now);
        }
        log::warn!(
            "console: sign-in refused from {}",
            peer.map_or_else(|| "-".to_owned(), |p| p.to_string())
        );
        return Ok(sign_in_page(
            &req,
            lang,
            StatusCode::UNAUTHORIZED,
            Some(t.sign_in_failed),
        ));
    };
    if let Some(p) = peer {
        console.limit.succeeded(p);
    }
    log::info!(
        "console: {} ({}) signed in",
        operator.name,
        operator.role.as_str()
    );
    let id = console.sessions.open(operator, now);
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("{PREFIX}/")))
        .insert_header((
            header::SET_COOKIE,
            session_cookie(&req, &id, console.sessions.ttl_secs()),
        ))
        .finish())
}

/// `POST /admin/console/sign-out` (csrf): the session is closed and its cookie cleared.
pub async fn sign_out(
    req: HttpRequest,
    payload: web::Payload,
    gw: web::Data<AppState>,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let who = who(&req, &gw, &console)?;
    let fields = form(&req, payload, who.lang).await?;
    if !csrf_matches(&who.session, fields.get("csrf").map_or("", String::as_str)) {
        return Err(ConsoleError::Csrf(who.lang));
    }
    console.sessions.close(&who.id);
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("{PREFIX}/sign-in")))
        .insert_header((header::SET_COOKIE, session_cookie(&req, "", 0)))
        .finish())
}

// ---------------------------------------------------------------- overview

/// A flagged order in the review queue.
pub struct QueueRow {
    id: String,
    status: &'static str,
    amount: String,
    reason: String,
    flagged_at: String,
}

impl From<&Order> for QueueRow {
    fn from(o: &Order) -> Self {
        QueueRow {
            id: o.id.to_string(),
            status: o.status.as_str(),
            amount: o.amount.to_string(),
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
    let who = who(&req, &gw, &console)?;
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
    let c = chrome(&who, &console, |t| t.overview, "overview");
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

// ---------------------------------------------------------------- orders

/// An order in the orders list.
pub struct OrderRow {
    id: String,
    status: &'static str,
    amount: String,
    created: String,
    review: Option<String>,
}

impl From<&Order> for OrderRow {
    fn from(o: &Order) -> Self {
        OrderRow {
            id: o.id.to_string(),
            status: o.status.as_str(),
            amount: o.amount.to_string(),
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
    let who = who(&req, &gw, &console)?;
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
        c: chrome(&who, &console, |t| t.orders, "orders"),
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

/// The console address of an order's page.
fn order_href(id: &str) -> String {
    format!(
        "{PREFIX}/orders/{}",
        percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
    )
}

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
            note: e.note.clone(),
            evidence: e.evidence.clone(),
            evidence_anchor: e.evidence.as_deref().and_then(evidence_anchor),
        }
    }
}

/// A journal row as the console shows it: never the body.
pub struct JournalRow {
    id: i64,
    received: String,
    kind: String,
    outcome: String,
    detail: String,
    peer: String,
    order_ref: Option<String>,
    notify_id: String,
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

/// A provider call as the console shows it.
pub struct CallRow {
    id: i64,
    at: String,
    operation: String,
    http_status: String,
    err_code: String,
    latency_ms: i64,
    outcome: String,
    detail: String,
}

impl From<Call> for CallRow {
    fn from(c: Call) -> Self {
        CallRow {
            id: c.id,
            at: DateTime::from_timestamp_millis(c.at).map_or_else(String::new, when),
            operation: c.operation,
            http_status: c.http_status.map(|s| s.to_string()).unwrap_or_default(),
            err_code: c.err_code.unwrap_or_default(),
            latency_ms: c.latency_ms,
            outcome: c.outcome,
            detail: c.detail.unwrap_or_default(),
        }
    }
}

/// A webhook delivery as the console shows it.
pub struct DeliveryRow {
    id: i64,
    endpoint: String,
    event_type: String,
    status: &'static str,
    attempts: i32,
    delivered_at: String,
    next_attempt: String,
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

#[derive(Template)]
#[template(path = "console/order.html")]
struct OrderPage {
    c: Chrome,
    id: String,
    href: String,
    status: &'static str,
    amount: String,
    paid_amount: String,
    refunded: String,
    binding: &'static str,
    created: String,
    updated: String,
    expires: String,
    pay_time: String,
    wallet: String,
    review_reason: Option<String>,
    flagged_at: String,
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
    let who = who(&req, &gw, &console)?;
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
        c: chrome(&who, &console, |t| t.order, "orders"),
        href: order_href(&id),
        id,
        status: o.status.as_str(),
        amount: o.amount.to_string(),
        paid_amount: o.paid_amount.map(|a| a.to_string()).unwrap_or_default(),
        refunded: o.refunded.to_string(),
        binding: o.binding.as_str(),
        created: when(o.created_at),
        updated: when(o.updated_at),
        expires: when(o.expire_at),
        pay_time: o.facts.pay_time.clone().unwrap_or_default(),
        wallet: o.facts.target_sys.clone().unwrap_or_default(),
        review_reason: o.review_reason().map(str::to_owned),
        flagged_at: o.review.as_ref().map(|r| when(r.since)).unwrap_or_default(),
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

// ---------------------------------------------------------------- actions

/// `POST /admin/console/orders/{merOrderId}/acknowledge` (csrf, note): the review use case
/// clears the flag, recording the operator and the note; back to the order.
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
    let who = who(&req, &gw, &console)?;
    let fields = form(&req, payload, who.lang).await?;
    may_act(&who, &fields)?;
    let id = crate::http::orders::path_id(&req).map_err(|_| ConsoleError::NotFound(who.lang))?;
    let href = order_href(id.as_str());
    let note = fields.get("note").map_or("", String::as_str);
    let by = &who.session.operator;
    let flash = match review(&gw, &client, by, id, action, note).await {
        Ok(ReviewOutcome::Acknowledged(_)) => Flash::Acknowledged,
        Ok(ReviewOutcome::Resynced(check)) => {
            Flash::Resynced(check.after.status.as_str().to_owned())
        }
        Err(FlowError::NotFound(_)) => return Err(ConsoleError::NotFound(who.lang)),
        Err(FlowError::Forbidden(_)) => return Err(ConsoleError::Forbidden(who.lang)),
        Err(FlowError::Store(e)) => return Err(ConsoleError::Store(who.lang, e)),
        // A missing note, an order no longer flagged, the provider's refusal or silence:
        // said on the order's page, in the use case's words.
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
    console.sessions.flash(&who.id, flash);
    Ok(see_other(&href))
}

/// `POST /admin/console/deliveries/{id}/redeliver` (csrf): the delivery's event is
/// redelivered (every endpoint's delivery of it is pending again); back to the order.
pub async fn redeliver(
    req: HttpRequest,
    payload: web::Payload,
    gw: web::Data<AppState>,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let who = who(&req, &gw, &console)?;
    let fields = form(&req, payload, who.lang).await?;
    may_act(&who, &fields)?;
    let delivery: i64 = req
        .match_info()
        .get("id")
        .and_then(|v| v.parse().ok())
        .ok_or(ConsoleError::NotFound(who.lang))?;
    let found = gw
        .db
        .run(move |c| deliveries::event_of(c, delivery))
        .await
        .map_err(store_error(who.lang))?;
    let Some((event, order)) = found else {
        return Err(ConsoleError::NotFound(who.lang));
    };
    let by = &who.session.operator;
    let n = crate::flows::redeliver::redeliver_event(&gw, by, event.clone())
        .await
        .map_err(|e| match e {
            FlowError::Store(e) => ConsoleError::Store(who.lang, e),
            _ => ConsoleError::Forbidden(who.lang),
        })?;
    log::info!(
        "console: {} redelivered event {event} ({n} deliveries)",
        who.session.operator.name
    );
    console.sessions.flash(&who.id, Flash::Redelivered(n));
    Ok(see_other(
        &order.map_or_else(|| format!("{PREFIX}/"), |o| order_href(&o)),
    ))
}

// ---------------------------------------------------------------- journal

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
    let who = who(&req, &gw, &console)?;
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
        c: chrome(&who, &console, |t| t.journal, "journal"),
        outcomes: JOURNAL_OUTCOMES
            .into_iter()
            .map(|o| (o, o == outcome))
            .collect(),
        outcome,
        rows: rows.into_iter().map(JournalRow::from).collect(),
    };
    Ok(page(&req, who.lang, who.set_lang, p.render()))
}

// ---------------------------------------------------------------- assets and 404

/// The console's stylesheet.
const CSS: &str = include_str!("../../assets/console/console.css");
/// The console's script (progressive: every page works without it).
const JS: &str = include_str!("../../assets/console/console.js");
/// Assets change only with the binary; their names do not, so a day of caching keeps a
/// new release's look at most a day behind.
const ASSET_CACHE: &str = "public, max-age=86400";

/// `GET /admin/console/assets/{name}`: the embedded stylesheet and script.
pub async fn asset(req: HttpRequest) -> HttpResponse {
    let (body, kind) = match req.match_info().get("name") {
        Some("console.css") => (CSS, "text/css; charset=utf-8"),
        Some("console.js") => (JS, "text/javascript; charset=utf-8"),
        _ => return ConsoleError::NotFound(lang_of(&req).0).error_response(),
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, kind))
        .insert_header((header::CACHE_CONTROL, ASSET_CACHE))
        .body(body)
}

/// Any other address under the console: 404 page.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    ConsoleError::NotFound(lang_of(&req).0).error_response()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn an_order_link_escapes_what_is_not_alphanumeric() {
        assert_eq!(order_href("1017ABC"), "/admin/console/orders/1017ABC");
        assert_eq!(order_href("a/b?c"), "/admin/console/orders/a%2Fb%3Fc");
    }
}
