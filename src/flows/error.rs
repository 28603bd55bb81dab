//! `FlowError`: why a use case could not do what was asked, in the caller's terms (which
//! field, which conflict, what the provider said). It must not know about HTTP: the
//! `http` layer maps it to answers, once.

use crate::provider::Outcome;
use crate::store::StoreError;

/// Why a use case failed.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// One field of the request is wrong.
    #[error("{field}: {message}")]
    InvalidField {
        /// The field, as the caller spells it.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// No such order.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this (a viewer asking to act).
    #[error("{0}")]
    Forbidden(String),
    /// The request conflicts with what exists or is under way.
    #[error("{0}")]
    Conflict(String),
    /// An acknowledgement of a review the operator saw at version `reviewed`, while the
    /// order is at `version` now, flagged for `reason`: nothing was cleared.
    #[error("the order changed since you reviewed it at version {reviewed}: it is at version {version} now, flagged: {reason}; review it again")]
    ReviewChanged {
        /// The version the operator reviewed.
        reviewed: i64,
        /// The order's version now.
        version: i64,
        /// Why it is flagged now.
        reason: String,
    },
    /// The provider refused the request.
    #[error("provider refused the request: {err_code}: {err_msg}")]
    ProviderRefused {
        /// The provider's `errCode`.
        err_code: String,
        /// The provider's message.
        err_msg: String,
    },
    /// The provider refuses the gateway's credentials or configuration; the words say
    /// what it answered (HTTP status, `errCode`).
    #[error("the provider refused the gateway's credentials or configuration{0}")]
    ProviderMisconfigured(String),
    /// The provider did not answer; try again.
    #[error("the provider did not answer: {0}")]
    ProviderUnavailable(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else (a request the gateway built and could not send).
    #[error("{0}")]
    Internal(String),
}

impl FlowError {
    /// A field error.
    pub fn field(field: &str, message: impl ToString) -> Self {
        FlowError::InvalidField {
            field: field.to_owned(),
            message: message.to_string(),
        }
    }

    /// The error for a provider outcome that is not an answer.
    pub fn from_outcome<T>(outcome: Outcome<T>) -> Self {
        match outcome {
            Outcome::Refused(r) => FlowError::ProviderRefused {
                err_code: r.err_code,
                err_msg: r.err_msg.unwrap_or_default(),
            },
            Outcome::Misconfigured {
                err_code,
                http_status,
                ..
            } => FlowError::ProviderMisconfigured(format!(
                " (HTTP {http_status}{})",
                err_code
                    .map(|c| format!(", errCode {c}"))
                    .unwrap_or_default()
            )),
            Outcome::Unknown(reason) => FlowError::ProviderUnavailable(reason.to_string()),
            Outcome::Invalid(e) => FlowError::Internal(format!("request not sent: {e}")),
            Outcome::Answer(_) => FlowError::Internal("an answer is not an error".into()),
        }
    }
}
