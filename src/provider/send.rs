//! Sending one call: sign it (OPEN-BODY-SIG, or the cached access token), POST it on a
//! fresh connection, make it again while no connection could be made, all within one
//! deadline (`provider.timeout_ms` from the first connect to the answer's last byte),
//! classify and record it; and the read-only retry of a query. It must not retry a call
//! whose request may have been written, but for the read-only query.

use std::time::{Duration, Instant};

use tokio::time::timeout_at;

use serde::Serialize;

use super::answer::{About, Answer};
use super::outcome::{classify, Called, Outcome};
use super::{Operation, ProviderClient};
use crate::chinaums::sign::{access_token_header, new_nonce, BodySig};
use crate::chinaums::status::ErrClass;
use crate::chinaums::time;
use crate::chinaums::wire::FieldError;
use crate::config::AuthMode;

/// Largest answer read from the provider; its answers are a few KB.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// Attempts of the read-only query when an operator or a caller waits for the answer and
/// the outcome is unknown or transient. (The reconciler makes one: its schedule retries.)
pub const QUERY_ATTEMPTS: u32 = 2;
/// Pause between query attempts.
const QUERY_RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Attempts to get a request onto a connection: a refused or reset connect is usually
/// a proxy recycling its sockets, gone by the next try; three bound a provider that is
/// down to three quick failures.
pub const SEND_ATTEMPTS: usize = 3;

/// The reason a call that ran out of time is recorded with, whichever part was late.
const TIMED_OUT: &str = "timed out";

/// What one HTTP exchange gave, before classification.
pub(super) enum Exchange {
    /// An answer with its status and body.
    Answered(u16, Vec<u8>),
    /// The request was written (or may have been), but no usable answer came.
    Failed(String),
    /// No connection could be made: the request was never written.
    NotSent(String),
}

/// An exchange and the attempts before it that failed before their request was written.
pub(super) struct Sent {
    pub(super) exchange: Exchange,
    pub(super) unsent: Vec<String>,
}

impl ProviderClient {
    /// A read-only call about `about`: the request `build` makes for a fresh timestamp,
    /// asked again (after a pause, with a new timestamp) while the outcome is unknown or
    /// transient, `attempts` times at most.
    pub(super) async fn read_only<Req: Serialize, Resp: Answer>(
        &self,
        op: Operation,
        order: &str,
        about: About<'_>,
        attempts: u32,
        build: impl Fn(String) -> Result<Req, FieldError>,
    ) -> Called<Resp> {
        let mut attempt = 1;
        loop {
            let req = match build(time::format_body(self.shared.clock.now())) {
                Ok(req) => req,
                Err(e) => return Called::unsent(Outcome::Invalid(e)),
            };
            let called = self.call(op, Some(order), &req, Some(about)).await;
            let retry = matches!(&called.outcome, Outcome::Unknown(_))
                || matches!(&called.outcome, Outcome::Refused(r) if r.class == ErrClass::Transient);
            if !retry || attempt >= attempts {
                return called;
            }
            attempt += 1;
            actix_web::rt::time::sleep(QUERY_RETRY_PAUSE).await;
        }
    }

    /// Signs, sends, classifies and records one call; in token mode, an auth failure drops
    /// the token and the call is made once more with a fresh one. For a query, `about` is
    /// the question: an answer about something else is an unknown outcome, counted.
    pub(super) async fn call<Req: Serialize, Resp: Answer>(
        &self,
        op: Operation,
        order: Option<&str>,
        req: &Req,
        about: Option<About<'_>>,
    ) -> Called<Resp> {
        // Serialise once; sign and send exactly these bytes.
        let body = match serde_json::to_vec(req) {
            Ok(b) => b,
            Err(e) => {
                return Called::unsent(Outcome::Invalid(FieldError {
                    field: "body".into(),
                    reason: e.to_string(),
                }))
            }
        };
        let token_mode = self.shared.settings.auth == AuthMode::Token;
        let mut retried = false;
        loop {
            let token = if token_mode {
                match self.shared.tokens.get(self).await {
                    Ok(t) => Some(t),
                    Err(failure) => return Called::unsent(failure.into_outcome()),
                }
            } else {
                None
            };
            let authorization = match &token {
                Some(t) => access_token_header(t.expose()),
                None => {
                    let s = &self.shared.settings;
                    let ts = time::format_compact(self.shared.clock.now());
                    BodySig::sign(&s.app_id, s.app_key.expose(), &ts, &new_nonce(), &body).header()
                }
            };
            let started = Instant::now();
            let sent = self.exchange(op, Some(authorization), body.clone()).await;
            let mut outcome: Outcome<Resp> = classify(&sent.exchange);
            if let (Outcome::Answer(answer), Some(asked)) = (&outcome, &about) {
                if let Some((field, reason)) = asked.differs(&answer.about()) {
                    self.shared
                        .metrics
                        .provider_answers_elsewhere
                        .with_label_values(&[op.as_str(), field])
                        .inc();
                    outcome = Outcome::Unknown(format!("answer about something else: {reason}"));
                }
            }
            let call_id = self
                .record(op, order, &sent, &outcome, started.elapsed())
                .await;
            match (&outcome, &token) {
                (Outcome::Misconfigured { http_status, .. }, Some(t))
                    if *http_status != 200 && !retried =>
                {
                    self.shared.tokens.invalidate(t).await;
                    retried = true;
                }
                _ => return Called { outcome, call_id },
            }
        }
    }

    /// One HTTP exchange: POST `body` as JSON on a fresh connection, made again at once
    /// while no connection could be made, up to [`SEND_ATTEMPTS`] times; connects, sends,
    /// the answer's head and its body all within one deadline, `provider.timeout_ms` from
    /// the start. (awc's own timeout covers only the head: a peer that trickles the body
    /// would hold the call, and the pass waiting on it, for as long as it likes.) Past the
    /// deadline the request may have been written, so the outcome is unknown: never
    /// "not sent".
    pub(super) async fn exchange(
        &self,
        op: Operation,
        authorization: Option<String>,
        body: Vec<u8>,
    ) -> Sent {
        let deadline = tokio::time::Instant::now() + self.shared.settings.timeout();
        let mut unsent = Vec::new();
        loop {
            let once = self.exchange_once(op, authorization.clone(), body.clone());
            let exchange = match timeout_at(deadline, once).await {
                Ok(exchange) => exchange,
                Err(_elapsed) => Exchange::Failed(TIMED_OUT.to_owned()),
            };
            match exchange {
                Exchange::NotSent(reason) if unsent.len() + 1 < SEND_ATTEMPTS => {
                    unsent.push(reason);
                }
                exchange => return Sent { exchange, unsent },
            }
        }
    }

    async fn exchange_once(
        &self,
        op: Operation,
        authorization: Option<String>,
        body: Vec<u8>,
    ) -> Exchange {
        let url = format!("{}{}", self.shared.base_url, op.path());
        let mut req = self
            .http
            .post(url)
            .force_close()
            .insert_header(("Content-Type", "application/json"));
        if let Some(a) = authorization {
            req = req.insert_header(("Authorization", a));
        }
        match req.send_body(body).await {
            Err(e) if !written(&e) => Exchange::NotSent(transport_reason(&e)),
            Err(e) => Exchange::Failed(transport_reason(&e)),
            Ok(mut res) => match res.body().limit(MAX_ANSWER_BYTES).await {
                Ok(bytes) => Exchange::Answered(res.status().as_u16(), bytes.to_vec()),
                Err(e) => Exchange::Failed(format!("answer unreadable: {e}")),
            },
        }
    }
}

/// Why a request got no answer, in words that carry no secret (awc's errors name the
/// peer and the failure, never the headers).
fn transport_reason(e: &awc::error::SendRequestError) -> String {
    match e {
        awc::error::SendRequestError::Timeout => TIMED_OUT.to_owned(),
        other => format!("no answer: {other}"),
    }
}

/// Whether a failed send may have written its request. Only a failure to connect proves it
/// was not: awc reports a connection closed before the answer's head as `Disconnected`,
/// which happens after the request was written.
fn written(e: &awc::error::SendRequestError) -> bool {
    use awc::error::{ConnectError, SendRequestError};
    !matches!(
        e,
        SendRequestError::Url(_)
            | SendRequestError::Connect(
                ConnectError::Resolver(_)
                    | ConnectError::NoRecords
                    | ConnectError::Timeout
                    | ConnectError::Io(_)
                    | ConnectError::Unresolved
                    | ConnectError::SslIsNotSupported
            )
    )
}
