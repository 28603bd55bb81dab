//! The sign-in form (with a server-issued token in its field and its cookie), signing in
//! (the operator's token for a session, refused without both our form's token and its
//! cookie, and within the operators' failure limit, `http::limits`) and signing out. It
//! must not keep or log the presented token.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{form, store_error, who};
use crate::console::i18n::{Labels, Lang};
use crate::console::session::{csrf_matches, same_token};
use crate::console::{
    cookie, html, lang_cookie, lang_of, session_cookie, sign_in_cookie, Console, ConsoleError,
    PREFIX, SIGN_IN_COOKIE,
};
use crate::http::client_addr::client_of;
use crate::http::limits::{self, Admission};
use crate::http::AppState;

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    t: &'static Labels,
    lang: &'static str,
    error: Option<&'static str>,
    csrf: String,
}

/// The sign-in form with a fresh server-issued token, in its hidden field and in its
/// cookie.
fn sign_in_page(
    req: &HttpRequest,
    console: &Console,
    gw: &AppState,
    lang: Lang,
    status: StatusCode,
    error: Option<&'static str>,
) -> HttpResponse {
    let csrf = console.sign_in.issue(gw.now());
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
pub async fn sign_in_form(
    req: HttpRequest,
    gw: web::Data<AppState>,
    console: web::Data<Console>,
) -> HttpResponse {
    let (lang, set_lang) = lang_of(&req);
    let mut res = sign_in_page(&req, &console, &gw, lang, StatusCode::OK, None);
    if set_lang {
        if let Ok(v) = header::HeaderValue::from_str(&lang_cookie(&req, lang)) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

/// `POST /admin/console/sign-in` (form `token`): a session and its cookie, then the
/// overview; the form again with 401 for a token no operator has, with 403 for a form
/// this gateway did not issue (a cookie and field planted together, or older than an
/// hour), or with 429 past the operators' failure limit (`http::limits`: per address and
/// in all, on every instance). The token itself is neither kept nor logged.
pub async fn sign_in(
    req: HttpRequest,
    payload: web::Payload,
    gw: web::Data<AppState>,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let (lang, _) = lang_of(&req);
    let t = lang.labels();
    let now = gw.now();
    let peer = client_of(&req);
    let again = |status, error| sign_in_page(&req, &console, &gw, lang, status, Some(error));
    let admission = limits::operator_admission(&gw.db, peer, now)
        .await
        .map_err(store_error(lang))?;
    if let Admission::Limited { retry_after_secs } = admission {
        let mut res = again(StatusCode::TOO_MANY_REQUESTS, t.rate_limited);
        res.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(retry_after_secs),
        );
        return Ok(res);
    }
    let fields = form(&req, payload, lang).await?;
    // A sign-in must come from a form this gateway issued (login CSRF): its cookie and its
    // field agree, and the server made the token.
    let form_csrf = fields.get("csrf").map_or("", String::as_str);
    let from_our_form =
        cookie(&req, SIGN_IN_COOKIE).is_some_and(|c| !c.is_empty() && same_token(&c, form_csrf));
    if !from_our_form {
        return Err(ConsoleError::Csrf(lang));
    }
    if !console.sign_in.verify(form_csrf, now) {
        log::warn!(
            "console: sign-in with a form this gateway did not issue (or older than an hour) \
             from {}",
            peer.map_or_else(|| "-".to_owned(), |p| p.to_string())
        );
        return Ok(again(StatusCode::FORBIDDEN, t.csrf_failed));
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
        // A wrong token is a guess, and counted; an empty field guesses nothing.
        if !presented.is_empty() {
            limits::operator_refused(&gw.db, peer, now)
                .await
                .map_err(store_error(lang))?;
        }
        log::warn!(
            "console: sign-in refused from {}",
            peer.map_or_else(|| "-".to_owned(), |p| p.to_string())
        );
        return Ok(again(StatusCode::UNAUTHORIZED, t.sign_in_failed));
    };
    limits::operator_admitted(&gw.db, peer)
        .await
        .map_err(store_error(lang))?;
    log::info!(
        "console: {} ({}) signed in",
        operator.name,
        operator.role.as_str()
    );
    let id = console
        .sessions
        .open(&gw.db, operator, now)
        .await
        .map_err(store_error(lang))?;
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
    let who = who(&req, &gw, &console).await?;
    let fields = form(&req, payload, who.lang).await?;
    if !csrf_matches(&who.session, fields.get("csrf").map_or("", String::as_str)) {
        return Err(ConsoleError::Csrf(who.lang));
    }
    console
        .sessions
        .close(&gw.db, &who.id)
        .await
        .map_err(store_error(who.lang))?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("{PREFIX}/sign-in")))
        .insert_header((header::SET_COOKIE, session_cookie(&req, "", 0)))
        .finish())
}
