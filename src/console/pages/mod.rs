//! The console's handlers, one file per page (the overview, the orders list, one order,
//! the journal, sign-in), one for the review actions, one for the webhook deliveries and
//! their redelivery, one for the provider calls, and one for the embedded assets; this
//! file holds only what they share (the page chrome, the session check, form reading,
//! time and money as the pages show them). Thin: check the session (and for a POST its
//! CSRF token and role), read off the executor, render a template. Actions call the use
//! cases; no handler writes to the store itself. No page shows a notification's body, a
//! secret, or a buyer's personal field.

pub mod assets;
pub mod calls;
pub mod deliveries;
pub mod journal;
pub mod order;
pub mod orders;
pub mod overview;
pub mod review;
pub mod sign_in;

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};

use super::i18n::{Labels, Lang};
use super::session::{csrf_matches, Flash};
use super::{
    cookie, html, lang_cookie, lang_of, Console, ConsoleError, Who, MAX_FORM_BYTES, PREFIX,
    SESSION_COOKIE,
};
use crate::domain::money::Amount;
use crate::http::body::read_limited;
use crate::http::AppState;
use crate::store::StoreError;

pub use assets::{asset, not_found};
pub use deliveries::redeliver;
pub use journal::journal;
pub use order::order;
pub use orders::orders;
pub use overview::{overview, to_overview};
pub use review::{acknowledge, resync};
pub use sign_in::{sign_in, sign_in_form, sign_out};

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

/// An amount as the pages show it: yuan as people read them, with the exact fen beside or
/// on hover (the JSON API keeps integer fen).
pub struct Money {
    /// `¥123.45`.
    pub yuan: String,
    /// `12345`.
    pub fen: i64,
}

impl From<Amount> for Money {
    fn from(a: Amount) -> Self {
        Money {
            yuan: a.yuan(),
            fen: a.fen(),
        }
    }
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

/// The signed-in request's session, or [`ConsoleError::SignIn`]: a session open in the
/// store whose operator is still configured (with the role configured now). A page shown
/// (a GET) takes the session's message; an action leaves it for the page it redirects to.
async fn who(req: &HttpRequest, gw: &AppState, console: &Console) -> Result<Who, ConsoleError> {
    let (lang, set_lang) = lang_of(req);
    let id = cookie(req, SESSION_COOKIE).ok_or(ConsoleError::SignIn)?;
    let mut session = console
        .sessions
        .get(&gw.db, &id, gw.now())
        .await
        .map_err(store_error(lang))?
        .ok_or(ConsoleError::SignIn)?;
    session.operator = gw
        .settings
        .admin
        .roster()
        .named(&session.operator.name)
        .ok_or(ConsoleError::SignIn)?;
    let flash = if req.method() == actix_web::http::Method::GET {
        console
            .sessions
            .take_flash(&gw.db, &id)
            .await
            .map_err(store_error(lang))?
    } else {
        None
    };
    Ok(Who {
        id,
        session,
        lang,
        set_lang,
        flash,
    })
}

fn chrome(who: &Who, title: fn(&Labels) -> &'static str, nav: &'static str) -> Chrome {
    let t = who.lang.labels();
    let flash = who.flash.clone();
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

/// A form that may act: its CSRF token is the session's. (Whether the operator may act is
/// the use case's to say, once: `flows::may_act`.)
fn csrf_checked(who: &Who, fields: &HashMap<String, String>) -> Result<(), ConsoleError> {
    let presented = fields.get("csrf").map_or("", String::as_str);
    if !csrf_matches(&who.session, presented) {
        return Err(ConsoleError::Csrf(who.lang));
    }
    Ok(())
}

fn store_error(lang: Lang) -> impl Fn(StoreError) -> ConsoleError {
    move |e| ConsoleError::Store(lang, e)
}

/// The console address of an order's page.
fn order_href(id: &str) -> String {
    format!(
        "{PREFIX}/orders/{}",
        percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_link_escapes_what_is_not_alphanumeric() {
        assert_eq!(order_href("1017ABC"), "/admin/console/orders/1017ABC");
        assert_eq!(order_href("a/b?c"), "/admin/console/orders/a%2Fb%3Fc");
    }
}
