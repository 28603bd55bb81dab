//! The operator's console under `/admin/console/` on the api listener: server-rendered
//! pages (templates in `templates/console/`, compiled in), an embedded stylesheet and
//! script, sign-in with an operator token into a session cookie, CSRF tokens on every
//! form, and a Content-Security-Policy without inline script. It owns the console's
//! routes, sessions and page rendering; it must not hold business rules nor write to the
//! store itself: actions go through the use cases (`flows`), as the JSON routes' do.

pub mod charts;
pub mod i18n;
pub mod pages;
pub mod session;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use askama::Template;

use crate::config::AdminSettings;
use crate::store::StoreError;
use i18n::Lang;
use session::{Flash, Session, SignInTokens, SIGN_IN_MAX_AGE_SECS};

pub use session::Sessions;

/// Where the console lives.
pub const PREFIX: &str = "/admin/console";
/// The session cookie.
pub const SESSION_COOKIE: &str = "umsgate_console";
/// The sign-in form's CSRF cookie: the same server-issued token as the form's hidden
/// `csrf` field (a double-submit token that only the server can make,
/// [`session::SignInTokens`]), so that another site cannot sign a browser in as the other
/// site's operator. SameSite=Strict keeps it off every cross-site POST.
pub const SIGN_IN_COOKIE: &str = "umsgate_sign_in";
/// The language cookie (`en` or `zh`).
pub const LANG_COOKIE: &str = "lang";
/// How long the language choice is remembered: a year.
const LANG_MAX_AGE_SECS: u32 = 365 * 24 * 3600;

/// The policy every console answer carries: scripts and styles only from the console's
/// own files (no inline script, no style attribute), images from itself or `data:`, no
/// framing, forms only to itself.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// Largest form body the console reads: a note is at most 500 characters (up to 4 bytes
/// each, percent-encoded up to 12 bytes), plus the CSRF token.
const MAX_FORM_BYTES: usize = 8 * 1024;

/// The console's state: its sessions (in the store) and its sign-in tokens (shared by
/// every worker; the sign-in limit is `http::limits`', in the store).
pub struct Console {
    /// The sessions.
    pub sessions: Sessions,
    /// The sign-in form's tokens.
    pub sign_in: SignInTokens,
}

impl Console {
    /// The console of the operators `admin` configures: sessions last
    /// `admin.session_ttl`; the sign-in tokens' key is derived from the operators' tokens.
    pub fn new(admin: &AdminSettings) -> Self {
        let secrets = admin
            .token
            .iter()
            .chain(admin.tokens.iter().map(|o| &o.token))
            .map(|t| t.expose().as_bytes());
        Console {
            sessions: Sessions::new(admin.session_ttl),
            sign_in: SignInTokens::derived_from(secrets),
        }
    }
}

/// The console's routes, with `console` as their state.
pub fn routes(console: web::Data<Console>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(
            web::scope(PREFIX)
                .app_data(console)
                .wrap(
                    DefaultHeaders::new()
                        .add((header::CONTENT_SECURITY_POLICY, CSP))
                        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                        .add((header::X_FRAME_OPTIONS, "DENY"))
                        .add((header::REFERRER_POLICY, "no-referrer"))
                        .add((header::CACHE_CONTROL, "no-store")),
                )
                .route("", web::get().to(pages::to_overview))
                .route("/", web::get().to(pages::overview))
                .route("/sign-in", web::get().to(pages::sign_in_form))
                .route("/sign-in", web::post().to(pages::sign_in))
                .route("/sign-out", web::post().to(pages::sign_out))
                .route("/orders", web::get().to(pages::orders))
                .route("/orders/{merOrderId}", web::get().to(pages::order))
                .route(
                    "/orders/{merOrderId}/acknowledge",
                    web::post().to(pages::acknowledge),
                )
                .route("/orders/{merOrderId}/resync", web::post().to(pages::resync))
                .route(
                    "/deliveries/{id}/redeliver",
                    web::post().to(pages::redeliver),
                )
                .route("/journal", web::get().to(pages::journal))
                .route("/assets/{name}", web::get().to(pages::asset))
                .default_service(web::to(pages::not_found)),
        );
    }
}

/// The value of cookie `name` in the request, if sent.
pub(crate) fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

/// The value of query parameter `name`, if given.
pub(crate) fn query_param(req: &HttpRequest, name: &str) -> Option<String> {
    form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The page's language: `?lang=` (which the answer then remembers in the cookie), else
/// the cookie, else English. The second value says whether to set the cookie.
pub(crate) fn lang_of(req: &HttpRequest) -> (Lang, bool) {
    if let Some(l) = query_param(req, "lang").as_deref().and_then(Lang::parse) {
        return (l, true);
    }
    let remembered = cookie(req, LANG_COOKIE)
        .as_deref()
        .and_then(Lang::parse)
        .unwrap_or_default();
    (remembered, false)
}

/// Whether the request came over https (as the connection or a proxy's headers say):
/// cookies are then `Secure`.
fn over_https(req: &HttpRequest) -> bool {
    req.connection_info().scheme() == "https"
}

/// The session cookie for `id`, lasting `max_age` seconds (0 clears it).
pub(crate) fn session_cookie(req: &HttpRequest, id: &str, max_age: i64) -> String {
    let secure = if over_https(req) { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path={PREFIX}; Max-Age={max_age}{secure}"
    )
}

/// The sign-in form's CSRF cookie holding `token`.
pub(crate) fn sign_in_cookie(req: &HttpRequest, token: &str) -> String {
    let secure = if over_https(req) { "; Secure" } else { "" };
    format!(
        "{SIGN_IN_COOKIE}={token}; HttpOnly; SameSite=Strict; Path={PREFIX}/sign-in; \
         Max-Age={SIGN_IN_MAX_AGE_SECS}{secure}"
    )
}

/// The language cookie for `lang`.
pub(crate) fn lang_cookie(req: &HttpRequest, lang: Lang) -> String {
    let secure = if over_https(req) { "; Secure" } else { "" };
    format!(
        "{LANG_COOKIE}={}; SameSite=Strict; Path={PREFIX}; Max-Age={LANG_MAX_AGE_SECS}{secure}",
        lang.code()
    )
}

/// A signed-in request: its session and its page language.
pub(crate) struct Who {
    /// The session id (the cookie).
    pub id: String,
    /// The session.
    pub session: Session,
    /// The page language.
    pub lang: Lang,
    /// Whether the answer must remember the language (`?lang=` was given).
    pub set_lang: bool,
    /// The message the last action left (taken for a page shown, not for an action).
    pub flash: Option<Flash>,
}

/// Why a console request was not answered with its page.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No open session: go and sign in.
    #[error("not signed in")]
    SignIn,
    /// A viewer tried to act.
    #[error("forbidden")]
    Forbidden(Lang),
    /// The form's CSRF token is missing or wrong.
    #[error("csrf")]
    Csrf(Lang),
    /// No such page or thing.
    #[error("not found")]
    NotFound(Lang),
    /// A bad request (body too large, too slow …), in the API's words.
    #[error("{1}")]
    Request(Lang, crate::http::error::ApiError),
    /// The store failed.
    #[error("{1}")]
    Store(Lang, StoreError),
}

/// The error page.
#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    t: &'static i18n::Labels,
    lang: &'static str,
    message: &'a str,
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn => StatusCode::SEE_OTHER,
            ConsoleError::Forbidden(_) | ConsoleError::Csrf(_) => StatusCode::FORBIDDEN,
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::Request(_, e) => e.status_code(),
            ConsoleError::Store(_, StoreError::FileLost(_)) => StatusCode::SERVICE_UNAVAILABLE,
            ConsoleError::Store(..) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (lang, message) = match self {
            ConsoleError::SignIn => {
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, format!("{PREFIX}/sign-in")))
                    .finish()
            }
            ConsoleError::Forbidden(l) => (*l, l.labels().forbidden.to_owned()),
            ConsoleError::Csrf(l) => (*l, l.labels().csrf_failed.to_owned()),
            ConsoleError::NotFound(l) => (*l, l.labels().not_found.to_owned()),
            ConsoleError::Request(l, e) => (*l, e.to_string()),
            ConsoleError::Store(l, StoreError::FileLost(_)) => {
                // Logged at ERROR once by the store.
                (*l, l.labels().unavailable.to_owned())
            }
            ConsoleError::Store(l, e) => {
                log::error!("console: internal error: {e}");
                (*l, l.labels().internal_error.to_owned())
            }
        };
        let page = ErrorPage {
            t: lang.labels(),
            lang: lang.code(),
            message: &message,
        };
        html(self.status_code(), page.render())
    }
}

/// An HTML answer with `status`, or an opaque 500 when the template failed.
pub(crate) fn html(status: StatusCode, rendered: askama::Result<String>) -> HttpResponse {
    match rendered {
        Ok(body) => HttpResponse::build(status)
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ))
            .body(body),
        Err(e) => {
            log::error!("console: a page did not render: {e}");
            HttpResponse::InternalServerError()
                .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
                .body("internal error")
        }
    }
}
