//! The API's bearer guard for the backends (`api.tokens`) and for `/metrics` (those, or
//! `api.metrics_token`): a token compared in constant time by `operators::Roster`, the
//! backend's name put in the request's extensions for the access log. With no token
//! configured the API is open (configuration allows that only on a loopback `api.bind`, and
//! production only when waived). It must not log or answer a token, nor tell a near miss
//! from a wild guess.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, AUTHORIZATION};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};

use super::error::ApiError;
use super::AppState;
use crate::operators::Roster;

/// The backend (or scraper) a request was admitted for, by its configured name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend(pub String);

/// The token of `Authorization: Bearer <token>` (the scheme in any case, RFC 9110 §11.1).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Admits a request to the backends' routes with the token of one of `api.tokens`.
pub async fn require_backend<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    guard(req, next, |s| &s.backends).await
}

/// Admits a request to `/metrics` with `api.metrics_token` or a backend's token.
pub async fn require_scraper<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    guard(req, next, |s| &s.scrapers).await
}

/// Admits `req` if `roster` of the gateway is empty (the API is open) or holds the
/// presented token; otherwise answers 401 with `WWW-Authenticate: Bearer`. A refusal is an
/// answer, not an error, so that the access log and the request metrics still see it.
async fn guard<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
    roster: fn(&AppState) -> &Roster<String>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    // Without the settings nobody is known: refused, never open.
    let admitted = match req.app_data::<web::Data<AppState>>().map(|s| roster(s)) {
        Some(r) if r.is_empty() => Some(None),
        Some(r) => bearer(req.headers())
            .and_then(|t| r.authenticate(t.as_bytes()))
            .map(Some),
        None => None,
    };
    match admitted {
        Some(who) => {
            if let Some(name) = who {
                req.extensions_mut().insert(Backend(name));
            }
            Ok(next.call(req).await?.map_into_left_body())
        }
        None => Ok(req
            .into_response(ApiError::Unauthorized.error_response())
            .map_into_right_body()),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn a_bearer_token_is_read_with_the_scheme_in_any_case_and_nothing_else_is() {
        assert_eq!(bearer(&headers("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&headers("bearer abc")), Some("abc"));
        assert_eq!(bearer(&headers("Basic abc")), None);
        assert_eq!(bearer(&headers("Bearerabc")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}
