//! The two HTTP faces: the `api` listener (backend and operators) and the `notify`
//! listener (the provider, from the internet). Routes, access log, request metrics, the
//! admin guard and the views live here; handlers stay thin: parse, call one use case
//! (`flows`), render. It must not hold business rules: those are in `domain`, run by
//! `flows`.

pub mod admin;
pub mod auth;
pub mod body;
pub mod client_addr;
pub mod contracts;
pub mod error;
pub mod feed;
pub mod health;
pub mod limits;
pub mod notify;
pub mod orders;
pub mod preauth;
pub mod views;
pub mod webhooks;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Logger, Next};
use actix_web::{web, HttpResponse, Resource, ResponseError};

use error::ApiError;

/// What every handler can reach: the use cases' context.
pub use crate::flows::Gateway as AppState;

/// Which listener a request came in on (a metrics label).
#[derive(Clone, Copy)]
pub struct Listener(pub &'static str);

/// Routes of the `api` listener: `/healthz` and `/readyz` open, `/metrics` behind the
/// scrapers' guard, `/admin` behind the operators' (`admin::require_token`), and every
/// other route, an unknown one too, behind the backends' (`auth::require_backend`).
pub fn api_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz", "GET").get(health::healthz))
        .service(resource("/readyz", "GET").get(health::readyz))
        .service(
            resource("/metrics", "GET")
                .wrap(from_fn(auth::require_scraper))
                .get(health::metrics),
        )
        .service(
            web::scope("/admin")
                .wrap(from_fn(admin::require_token))
                .service(resource("/notifications", "GET").get(admin::notifications))
                .service(resource("/orders/{merOrderId}/resync", "POST").post(admin::resync_one))
                .service(resource("/orders/{merOrderId}/review", "POST").post(admin::review))
                .service(resource("/resync", "POST").post(admin::resync_many))
                .service(resource("/webhooks/deliveries", "GET").get(webhooks::deliveries))
                .service(resource("/webhooks/redeliver", "POST").post(webhooks::redeliver)),
        )
        // Last: an empty prefix takes every path the routes above did not.
        .service(
            web::scope("")
                .wrap(from_fn(auth::require_backend))
                .service(
                    resource("/orders", "GET, POST")
                        .post(orders::create)
                        .get(orders::list),
                )
                .service(resource("/orders/{merOrderId}", "GET").get(orders::get))
                .service(resource("/orders/{merOrderId}/events", "GET").get(orders::events))
                .service(resource("/contracts/{contractNo}", "GET").get(contracts::get))
                .service(resource("/events", "GET").get(feed::list))
                .service(
                    resource("/orders/{merOrderId}/preauth-completion", "POST")
                        .post(preauth::complete),
                ),
        )
        .default_service(web::to(not_found));
}

/// A route answering the methods in `allow` (as the handlers added to it say) and a
/// JSON 405 with that `Allow` header to any other method.
fn resource(path: &str, allow: &'static str) -> Resource {
    web::resource(path).default_service(web::to(move || async move {
        ApiError::MethodNotAllowed { allow }.error_response()
    }))
}

/// Routes of the `notify` listener: notification intake and nothing else.
pub fn notify_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/notify/payment", web::post().to(notify::payment))
        .route("/notify/contract/{token}", web::post().to(notify::contract))
        .default_service(web::to(not_found));
}

/// The answer for an unknown route (also what a wrong contract token gets, so that the
/// two cannot be told apart).
pub(crate) async fn not_found() -> HttpResponse {
    ApiError::NotFound("no such route".into()).error_response()
}

/// The header a request's id travels in, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Longest `X-Request-Id` taken as given: a UUID is 36 characters, and the id goes into
/// every log line and journal row of the request.
const MAX_REQUEST_ID_LEN: usize = 64;

/// The id of a request: the caller's `X-Request-Id` when it is sane (1 to 64 letters,
/// digits, `-`, `_`, `.`), else a generated one.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

impl RequestId {
    /// The id [`request_id`] gave `req`.
    pub fn of(req: &actix_web::HttpRequest) -> Option<String> {
        actix_web::HttpMessage::extensions(req)
            .get::<RequestId>()
            .map(|r| r.0.clone())
    }

    fn sane(v: &str) -> bool {
        (1..=MAX_REQUEST_ID_LEN).contains(&v.len())
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    }
}

/// Gives every request an id (see [`RequestId`]) and echoes it in the answer's
/// `X-Request-Id`, where the access log reads it.
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| RequestId::sane(v))
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned);
    actix_web::HttpMessage::extensions_mut(&req).insert(RequestId(id.clone()));
    let mut res = next.call(req).await?;
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&id) {
        res.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static(REQUEST_ID_HEADER),
            value,
        );
    }
    Ok(res)
}

/// Path segment that follows this prefix is a secret and is never logged.
const SECRET_PATH_PREFIX: &str = "/notify/contract/";

/// The access log: one line per request, with the client address (`client_addr`: the TCP
/// peer unless it is a trusted proxy), its request id, the backend the API's guard admitted
/// it for by name (`-`: none), the contract token masked and no request headers (so no
/// Authorization), no query string and no body.
pub fn access_log(trusted: client_addr::TrustedProxies) -> Logger {
    Logger::new("%{client}xi \"%{request}xi\" %s %b %Dms id=%{x-request-id}o backend=%{backend}xo")
        .custom_response_replace("backend", |res| {
            actix_web::HttpMessage::extensions(res.request())
                .get::<auth::Backend>()
                .map_or_else(|| "-".to_owned(), |b| b.0.clone())
        })
        .custom_request_replace("client", move |req| {
            trusted
                .client(req.peer_addr(), req.headers())
                .map_or_else(|| "-".to_owned(), |ip| ip.to_string())
        })
        .custom_request_replace("request", |req| {
            // Routing matches the percent-decoded path: `/notify/%63ontract/<token>` reaches
            // the contract route too, so both forms are checked.
            let path = req.path();
            let secret = [path, req.match_info().as_str()]
                .iter()
                .any(|p| p.starts_with(SECRET_PATH_PREFIX));
            let shown = if secret {
                format!("{SECRET_PATH_PREFIX}[redacted]")
            } else {
                path.to_owned()
            };
            format!("{} {shown}", req.method())
        })
}

/// Counts every answered request by listener, method, route pattern and status.
pub async fn count_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let listener = req.app_data::<Listener>().map_or("unknown", |l| l.0);
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    let method = req.method().as_str().to_owned();
    let res = next.call(req).await;
    if let Some(m) = metrics {
        let (route, status) = match &res {
            Ok(r) => (
                r.request()
                    .match_pattern()
                    .unwrap_or_else(|| "unmatched".into()),
                r.status().as_u16(),
            ),
            Err(e) => (
                "unmatched".into(),
                e.as_response_error().status_code().as_u16(),
            ),
        };
        m.http_requests
            .with_label_values(&[
                listener,
                method.as_str(),
                route.as_str(),
                &status.to_string(),
            ])
            .inc();
    }
    res
}
