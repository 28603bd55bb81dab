//! What a provider call came to ([`Outcome`], with the call-log row that recorded it) and
//! how one HTTP exchange is classified into it. It must not send anything or decide about
//! an order.

use super::answer::Answer;
use super::Exchange;
use crate::chinaums::status::ErrClass;
use crate::chinaums::wire::{self, AuthError, FieldError};
use crate::chinaums::CallOutcome;

/// A business refusal: the provider answered with an `errCode` other than `SUCCESS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The `errCode`.
    pub err_code: String,
    /// `errMsg` (or `errInfo`).
    pub err_msg: Option<String>,
    /// What the code means to a caller.
    pub class: ErrClass,
}

/// What became of a call.
#[derive(Clone, Debug)]
pub enum Outcome<T> {
    /// `errCode = SUCCESS`: the answer.
    Answer(T),
    /// The provider refused: no such order, transient trouble, or a request it will not do.
    Refused(Refusal),
    /// Our credentials or configuration are wrong (the auth layer refused, or a
    /// configuration `errCode`): nothing will work until an operator fixes it.
    Misconfigured {
        /// HTTP status of the answer.
        http_status: u16,
        /// The provider's code.
        err_code: Option<String>,
        /// The provider's words.
        err_info: Option<String>,
    },
    /// No answer, a timeout, or an unreadable answer: whether the provider acted is
    /// unknown, so it must be resolved by a query, never by repeating the call.
    Unknown(String),
    /// The request broke the provider's rules before it was sent (a bug on our side).
    Invalid(FieldError),
}

impl<T> Outcome<T> {
    /// What the call came to, as the call log and the metrics name it.
    pub fn call_outcome(&self) -> CallOutcome {
        match self {
            Outcome::Answer(_) => CallOutcome::Ok,
            Outcome::Refused(r) => match r.class {
                ErrClass::NoOrder => CallOutcome::NoOrder,
                ErrClass::Transient => CallOutcome::Transient,
                _ => CallOutcome::Refused,
            },
            Outcome::Misconfigured { .. } => CallOutcome::Config,
            Outcome::Unknown(_) => CallOutcome::Unknown,
            Outcome::Invalid(_) => CallOutcome::InvalidRequest,
        }
    }

    /// The stable outcome name used in the call log and metrics.
    pub fn label(&self) -> &'static str {
        self.call_outcome().as_str()
    }
}

/// An outcome and the call-log row that recorded it (the evidence reference of any
/// change it causes: `call:<id>`).
#[derive(Clone, Debug)]
pub struct Called<T> {
    /// What became of the call.
    pub outcome: Outcome<T>,
    /// Its `provider_calls` row, if it was written.
    pub call_id: Option<i64>,
}

impl<T> Called<T> {
    /// `call:<id>`, for `order_events.evidence`.
    pub fn evidence_ref(&self) -> Option<String> {
        self.call_id.map(|id| format!("call:{id}"))
    }

    pub(super) fn unsent(outcome: Outcome<T>) -> Self {
        Called {
            outcome,
            call_id: None,
        }
    }
}

/// Classifies an exchange. A call never sent is still reported as unknown to callers (they
/// resolve it by query, which then finds no order); the call log says it was not sent.
pub(super) fn classify<Resp: Answer>(exchange: &Exchange) -> Outcome<Resp> {
    let (status, body) = match exchange {
        Exchange::Failed(reason) => return Outcome::Unknown(reason.clone()),
        Exchange::NotSent(reason) => return Outcome::Unknown(format!("not sent: {reason}")),
        Exchange::Answered(status, body) => (*status, body),
    };
    if status != 200 {
        let auth: Option<AuthError> = serde_json::from_slice(body).ok();
        return match (status, auth) {
            // The auth layer's shape (docs/protocol.md §1), or a plain 401/403.
            (_, Some(a)) => Outcome::Misconfigured {
                http_status: status,
                err_code: Some(a.err_code),
                err_info: Some(a.err_info).filter(|i| !i.is_empty()),
            },
            (401 | 403, None) => Outcome::Misconfigured {
                http_status: status,
                err_code: None,
                err_info: None,
            },
            _ => Outcome::Unknown(format!("HTTP {status} without an answer")),
        };
    }
    match wire::from_json::<Resp>(body) {
        Err(e) => Outcome::Unknown(format!("unreadable answer: {e}")),
        // No errCode: a query answer that states a result is read as one (public answers
        // omit it); anything else says nothing.
        Ok(answer) if answer.err_code().is_empty() => {
            if answer.states_a_result() {
                Outcome::Answer(answer)
            } else {
                Outcome::Unknown("answer without errCode or a result".to_owned())
            }
        }
        Ok(answer) => match ErrClass::of(answer.err_code()) {
            ErrClass::Success => Outcome::Answer(answer),
            ErrClass::Config => Outcome::Misconfigured {
                http_status: status,
                err_code: Some(answer.err_code().to_owned()),
                err_info: answer.err_text().map(str::to_owned),
            },
            class => Outcome::Refused(Refusal {
                err_code: answer.err_code().to_owned(),
                err_msg: answer.err_text().map(str::to_owned),
                class,
            }),
        },
    }
}

/// The errCode and a one-line detail of an outcome, for the call log.
pub(super) fn describe<T>(outcome: &Outcome<T>) -> (Option<String>, Option<String>) {
    match outcome {
        Outcome::Answer(_) => (Some("SUCCESS".into()), None),
        Outcome::Refused(r) => (Some(r.err_code.clone()), r.err_msg.clone()),
        Outcome::Misconfigured {
            err_code,
            err_info,
            http_status,
        } => (
            err_code.clone(),
            Some(format!(
                "provider refused our credentials or configuration (HTTP {http_status}){}",
                err_info
                    .as_deref()
                    .map(|i| format!(": {i}"))
                    .unwrap_or_default()
            )),
        ),
        Outcome::Unknown(reason) => (None, Some(reason.clone())),
        Outcome::Invalid(e) => (None, Some(e.to_string())),
    }
}
