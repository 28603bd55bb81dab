//! The sign-in form, signing in (the operator's token for a session, refused without our
//! own form's CSRF cookie and limited per address) and signing out. It must not keep or
//! log the presented token.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{form, who};
use crate::console::i18n::{Labels, Lang};
use crate::console::session::{csrf_matches, random_token, same_token};
use crate::console::{
    client_ip, cookie, html, lang_cookie, lang_of, session_cookie, sign_in_cookie, Console,
    ConsoleError, PREFIX, SIGN_IN_COOKIE,
};
use crate::http::AppState;

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
