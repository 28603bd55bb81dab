//! `ApiError`: the one place errors become HTTP answers, with stable codes and
//! `{"code","message"}` bodies. 5xx bodies are opaque; their cause is logged here, once. It
//! must not put a secret or a buyer's personal field into a message.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::flows::FlowError;
use crate::store::StoreError;

/// An error answered to a caller.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON (or not the expected JSON shape as a whole).
    #[error("{0}")]
    InvalidJson(String),
    /// One field is wrong.
    #[error("{field}: {message}")]
    InvalidField {
        /// The field, as the caller spells it.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// No such thing.
    #[error("{0}")]
    NotFound(String),
    /// The route exists, but not for this method.
    #[error("this route answers only {allow}")]
    MethodNotAllowed {
        /// The methods it answers (the `Allow` header).
        allow: &'static str,
    },
    /// The request conflicts with what exists.
    #[error("{0}")]
    Conflict(String),
    /// An acknowledgement of a review that is no longer the order's: the message and the
    /// order's version and flag now.
    #[error("{message}")]
    ReviewChanged {
        /// In words.
        message: String,
        /// The order's version now.
        version: i64,
        /// Why it is flagged now.
        reason: String,
    },
    /// The body is not `application/json`.
    #[error("the request body must be sent as Content-Type: application/json")]
    UnsupportedMediaType,
    /// The body is larger than the limit.
    #[error("request body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit, bytes.
        limit: usize,
    },
    /// The body did not arrive within the listener's `body_timeout`.
    #[error("the request body did not arrive within {secs} s")]
    BodyTimeout {
        /// The limit, seconds.
        secs: f64,
    },
    /// Missing or wrong credentials.
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// Too many refused operator tokens lately (`http::limits`); the token was not looked at.
    #[error(
        "too many refused tokens from this address or in all; try again in {retry_after_secs} s"
    )]
    TooManyFailures {
        /// `Retry-After`, seconds.
        retry_after_secs: u64,
    },
    /// The route is disabled.
    #[error("{0}")]
    Forbidden(String),
    /// The provider refused the request.
    #[error("provider refused the request: {err_code}: {err_msg}")]
    ProviderRefused {
        /// The provider's `errCode`.
        err_code: String,
        /// The provider's message.
        err_msg: String,
    },
    /// The provider refuses the gateway's credentials or configuration.
    #[error("the provider refused the gateway's credentials or configuration{0}; an operator must check the provider settings")]
    ProviderMisconfigured(String),
    /// A dependency is not available now; try again.
    #[error("{0}")]
    Unavailable(String),
    /// Too many callers wait already; try again after this many seconds.
    #[error("{what}; try again in {retry_after_secs} s")]
    Busy {
        /// What is full.
        what: String,
        /// `Retry-After`, seconds.
        retry_after_secs: u64,
    },
    /// Anything else: answered as an opaque 500.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// A field error.
    pub fn field(field: &str, message: impl ToString) -> Self {
        ApiError::InvalidField {
            field: field.to_owned(),
            message: message.to_string(),
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::InvalidField { .. } => "invalid_field",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::ReviewChanged { .. } => "review_changed",
            ApiError::TooLarge { .. } => "payload_too_large",
            ApiError::BodyTimeout { .. } => "body_timeout",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Unauthorized => "unauthorized",
            ApiError::TooManyFailures { .. } => "too_many_failures",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::ProviderRefused { .. } => "provider_refused",
            ApiError::ProviderMisconfigured(_) => "provider_misconfigured",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Busy { .. } => "busy",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<FlowError> for ApiError {
    fn from(e: FlowError) -> Self {
        match e {
            FlowError::InvalidField { field, message } => ApiError::InvalidField { field, message },
            FlowError::NotFound(m) => ApiError::NotFound(m),
            FlowError::Conflict(m) => ApiError::Conflict(m),
            FlowError::ReviewChanged {
                version,
                ref reason,
                ..
            } => ApiError::ReviewChanged {
                message: e.to_string(),
                version,
                reason: reason.clone(),
            },
            FlowError::Forbidden(m) => ApiError::Forbidden(m),
            FlowError::ProviderRefused { err_code, err_msg } => {
                ApiError::ProviderRefused { err_code, err_msg }
            }
            FlowError::ProviderMisconfigured(m) => ApiError::ProviderMisconfigured(m),
            FlowError::ProviderUnavailable(_) => ApiError::Unavailable(e.to_string()),
            FlowError::Store(s) => s.into(),
            FlowError::Internal(m) => ApiError::Internal(m.into()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            // Logged at ERROR once by the store; the caller may retry after a restart.
            StoreError::FileLost(_) => {
                ApiError::Unavailable("the database is unavailable; try again later".into())
            }
            e => ApiError::Internal(Box::new(e)),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        StoreError::from(e).into()
    }
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(rename = "errCode", skip_serializing_if = "Option::is_none")]
    err_code: Option<&'a str>,
    /// A changed review: the order's version now.
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<i64>,
    /// A changed review: why the order is flagged now.
    #[serde(rename = "reviewReason", skip_serializing_if = "Option::is_none")]
    review_reason: Option<&'a str>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidJson(_) | ApiError::InvalidField { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) | ApiError::ReviewChanged { .. } => StatusCode::CONFLICT,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::TooManyFailures { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::ProviderRefused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::ProviderMisconfigured(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) | ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let message = if let ApiError::Internal(cause) = self {
            log::error!("internal error: {cause}");
            "internal error".to_owned()
        } else {
            self.to_string()
        };
        let mut res = HttpResponse::build(status);
        match self {
            ApiError::Unauthorized => {
                res.insert_header(("WWW-Authenticate", "Bearer"));
            }
            ApiError::MethodNotAllowed { allow } => {
                res.insert_header(("Allow", *allow));
            }
            ApiError::Busy {
                retry_after_secs, ..
            }
            | ApiError::TooManyFailures { retry_after_secs } => {
                res.insert_header(("Retry-After", retry_after_secs.to_string()));
            }
            _ => {}
        }
        res.json(Body {
            code: self.code(),
            message,
            field: match self {
                ApiError::InvalidField { field, .. } => Some(field),
                _ => None,
            },
            err_code: match self {
                ApiError::ProviderRefused { err_code, .. } => Some(err_code),
                _ => None,
            },
            version: match self {
                ApiError::ReviewChanged { version, .. } => Some(*version),
                _ => None,
            },
            review_reason: match self {
                ApiError::ReviewChanged { reason, .. } => Some(reason),
                _ => None,
            },
        })
    }
}
