//! What every operation's answer shares: the business codes, the answer with its `errCode`
//! for the call log, the stamp and the echo of what the request let it echo, the one
//! refusal path, the reading of a request, and the merchant check. It must not decide an
//! operation's outcome.

use actix_web::HttpResponse;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::chinaums::time;
use crate::chinaums::wire::{
    self, BillQueryResponse, MiniPreQueryResponse, PreauthedResponse, UpdateQrcodeResponse,
};

use super::Shared;

pub(super) const SUCCESS: &str = "SUCCESS";
pub(super) const BAD_REQUEST: &str = "BAD_REQUEST";
pub(super) const NO_ORDER: &str = "NO_ORDER";
const NO_MERCHANT: &str = "NO_MERCHANT";
pub(super) const DUP_ORDER: &str = "DUP_ORDER";
pub(super) const OPERATION_NOT_ALLOWED: &str = "OPERATION_NOT_ALLOWED";

/// A business answer: its `errCode` (for the call log) and its JSON.
pub(super) struct Answer {
    /// `errCode`, for the call log.
    pub(super) err_code: String,
    /// The answer as sent.
    pub(super) body: HttpResponse,
}

impl Answer {
    /// An HTTP 200 JSON answer.
    pub(super) fn json<T: Serialize>(err_code: &str, value: &T) -> Answer {
        Answer {
            err_code: err_code.to_owned(),
            body: HttpResponse::Ok().json(value),
        }
    }
}

/// An operation's answer type: the one refusal path ([`refuse`]) fills its error fields and
/// its stamp, whichever operation it is.
pub(super) trait Reply: Serialize + Default {
    /// An empty answer stamped with `now` (each operation names its stamp differently).
    fn stamped(now: DateTime<Utc>) -> Self;
    /// Sets `errCode` and `errMsg`.
    fn set_error(&mut self, code: &str, message: String);
}

macro_rules! reply {
    ($($answer:ty => $stamp:ident),+) => {$(
        impl Reply for $answer {
            fn stamped(now: DateTime<Utc>) -> Self {
                Self {
                    $stamp: Some(time::format_body(now)),
                    ..Self::default()
                }
            }
            fn set_error(&mut self, code: &str, message: String) {
                self.err_code = code.to_owned();
                self.err_msg = Some(message);
            }
        }
    )+};
}

reply!(
    UpdateQrcodeResponse => response_timestamp,
    MiniPreQueryResponse => response_timestamp,
    BillQueryResponse => response_timestamp,
    PreauthedResponse => resp_ts
);

/// The refusal of every operation: `echo` (what the request let it echo, stamped) with
/// `errCode` and `errMsg`.
pub(super) fn refuse<R: Reply>(mut echo: R, code: &str, message: impl Into<String>) -> Answer {
    echo.set_error(code, message.into());
    Answer::json(code, &echo)
}

/// The merchant checks every operation makes: an unknown merchant is `NO_MERCHANT`, a
/// terminal not the merchant's is `BAD_REQUEST` naming the field.
pub(super) fn merchant(
    shared: &Shared,
    (mid_field, mid): (&str, &str),
    (tid_field, tid): (&str, &str),
) -> Result<(), (&'static str, String)> {
    if mid != shared.creds.mid {
        return Err((
            NO_MERCHANT,
            format!("{mid_field}: not a merchant of this appId"),
        ));
    }
    if tid != shared.creds.tid {
        return Err((
            BAD_REQUEST,
            format!("{tid_field}: not a terminal of this merchant"),
        ));
    }
    Ok(())
}

/// Reads an operation's request `Q`, with the empty answer `R` stamped `now` that its echo
/// starts from; a body that does not read is refused in that answer, echoing nothing.
pub(super) fn read<Q: DeserializeOwned, R: Reply>(
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(Q, R), Box<Answer>> {
    let stamp = R::stamped(now);
    match wire::from_json::<Q>(body) {
        Ok(req) => Ok((req, stamp)),
        Err(e) => Err(Box::new(refuse(stamp, BAD_REQUEST, e.to_string()))),
    }
}
