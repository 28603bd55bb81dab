//! The gateway's client for the provider: signs every call (OPEN-BODY-SIG, or a cached
//! OPEN-ACCESS-TOKEN), sends it with a timeout, classifies the answer, and records each
//! call (a `provider_calls` row, a log line, metrics). It must not decide anything about
//! orders, must not retry a call whose outcome is unknown except the read-only query, and
//! must never log or store a secret, token, signature or buyer field.
//!
//! Every call goes out on a fresh connection (`Connection: close`): a pooled connection may
//! have been closed by the provider's side (proxies, load balancers, `HTTP/1.0` servers),
//! and a request lost on it could not be told from one the provider received and never
//! answered. A call that fails before its request is written (no connection could be
//! made) is retried at once, up to [`SEND_ATTEMPTS`] times: nothing reached the provider,
//! so this is safe for every operation. Once the request is written, a missing answer is
//! an unknown outcome, as before. The call log's row says which it was.

mod token;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::chinaums::sign::{access_token_header, new_nonce, BodySig};
use crate::chinaums::status::ErrClass;
use crate::chinaums::time;
use crate::chinaums::wire::{
    self, AuthError, BillQueryRequest, BillQueryResponse, FieldError, MiniPreQueryRequest,
    MiniPreQueryResponse, PreauthedRequest, PreauthedResponse, UpdateQrcodeRequest,
    UpdateQrcodeResponse, BILL_QUERY_INST_MID,
};
use crate::clock::Clock;
use crate::config::{AuthMode, ProviderSettings};
use crate::metrics::Metrics;
use crate::store::provider_calls::{self, NewCall};
use crate::store::Db;
use token::TokenCache;

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
/// The call log's outcome of a call that never left this machine.
const LABEL_NOT_SENT: &str = "not_sent";

/// One of the provider's operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Bind a bill to a QR code.
    UpdateQrcode,
    /// Ask for an order's state.
    MiniPreQuery,
    /// Ask for a bill's state, by its own identity.
    BillQuery,
    /// Complete a pre-authorisation.
    Preauthed,
    /// Fetch an access token.
    Token,
}

impl Operation {
    /// Name in logs, metrics and the call log.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::UpdateQrcode => "update-qrcode",
            Operation::MiniPreQuery => "mini-pre-query",
            Operation::BillQuery => "bill-query",
            Operation::Preauthed => "preauthed",
            Operation::Token => "token",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Operation::UpdateQrcode => "/v1/netpay/bills/update-qrcode",
            Operation::MiniPreQuery => "/v1/netpay/wx/mini-pre-query",
            Operation::BillQuery => "/v1/netpay/bills/query",
            Operation::Preauthed => "/v1/netpay/preauthed",
            Operation::Token => "/v1/token/access",
        }
    }
}

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
    /// The stable outcome name used in the call log and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Answer(_) => "ok",
            Outcome::Refused(r) => match r.class {
                ErrClass::NoOrder => "no_order",
                ErrClass::Transient => "transient",
                _ => "refused",
            },
            Outcome::Misconfigured { .. } => "config",
            Outcome::Unknown(_) => "unknown",
            Outcome::Invalid(_) => "invalid_request",
        }
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

    fn unsent(outcome: Outcome<T>) -> Self {
        Called {
            outcome,
            call_id: None,
        }
    }
}

/// Answers that carry an `errCode`.
pub trait Answer: DeserializeOwned {
    /// The `errCode` (empty when the answer carries none).
    fn err_code(&self) -> &str;
    /// `errMsg` or `errInfo`.
    fn err_text(&self) -> Option<&str>;
    /// Whether the answer states a result (a query's `status`/`billStatus`): such an answer
    /// without `errCode` is still read.
    fn states_a_result(&self) -> bool {
        false
    }
    /// What the answer says it is about, to compare with the question.
    fn about(&self) -> About<'_> {
        About::default()
    }
}

/// What a query asks about, or what its answer names: the id (`merOrderId` or `billNo`),
/// `mid` and `tid`. An absent or empty field in an answer names nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct About<'a> {
    /// The id field's wire name and value.
    pub id: Option<(&'static str, &'a str)>,
    /// The merchant.
    pub mid: Option<&'a str>,
    /// The terminal.
    pub tid: Option<&'a str>,
}

impl About<'_> {
    /// The first field where `answer` names something other than `self` (the question),
    /// and a description of the difference. Fields the answer leaves out do not differ.
    fn differs(&self, answer: &About<'_>) -> Option<(&'static str, String)> {
        let pairs = [
            (
                self.id.map(|i| i.0).unwrap_or("merOrderId"),
                self.id.map(|i| i.1),
                answer.id.map(|i| i.1),
            ),
            ("mid", self.mid, answer.mid),
            ("tid", self.tid, answer.tid),
        ];
        pairs.into_iter().find_map(|(field, asked, said)| {
            match (asked, said.filter(|v| !v.is_empty())) {
                (Some(asked), Some(said)) if asked != said => Some((
                    field,
                    format!("answer is about {field} {said}, the question was about {asked}"),
                )),
                _ => None,
            }
        })
    }
}

macro_rules! answer {
    ($($t:ty),+) => {$(
        impl Answer for $t {
            fn err_code(&self) -> &str {
                &self.err_code
            }
            fn err_text(&self) -> Option<&str> {
                <$t>::err_text(self)
            }
        }
    )+};
}
answer!(UpdateQrcodeResponse, PreauthedResponse);

impl Answer for MiniPreQueryResponse {
    fn err_code(&self) -> &str {
        &self.err_code
    }
    fn err_text(&self) -> Option<&str> {
        MiniPreQueryResponse::err_text(self)
    }
    fn states_a_result(&self) -> bool {
        self.status.is_some()
    }
    fn about(&self) -> About<'_> {
        About {
            id: self.mer_order_id.as_deref().map(|v| ("merOrderId", v)),
            mid: self.mid.as_deref(),
            tid: self.tid.as_deref(),
        }
    }
}

impl Answer for BillQueryResponse {
    fn err_code(&self) -> &str {
        &self.err_code
    }
    fn err_text(&self) -> Option<&str> {
        BillQueryResponse::err_text(self)
    }
    fn states_a_result(&self) -> bool {
        self.bill_status.is_some()
    }
    fn about(&self) -> About<'_> {
        About {
            id: self.bill_no.as_deref().map(|v| ("billNo", v)),
            mid: self.mid.as_deref(),
            tid: self.tid.as_deref(),
        }
    }
}

/// What every per-thread client shares: settings, the token cache, the store and metrics.
pub struct ProviderShared {
    settings: ProviderSettings,
    base_url: String,
    tokens: TokenCache,
    db: Db,
    metrics: Arc<Metrics>,
    clock: Clock,
}

impl ProviderShared {
    /// Shared state for clients talking to `base_url`.
    pub fn new(
        settings: ProviderSettings,
        base_url: String,
        db: Db,
        metrics: Arc<Metrics>,
        clock: Clock,
    ) -> Arc<Self> {
        install_tls_provider();
        Arc::new(ProviderShared {
            settings,
            base_url,
            tokens: TokenCache::default(),
            db,
            metrics,
            clock,
        })
    }

    /// The settings the clients use.
    pub fn settings(&self) -> &ProviderSettings {
        &self.settings
    }
}

/// Installs ring as rustls's crypto provider, once per process (awc's rustls brings none).
pub fn install_tls_provider() {
    // An error means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client on the current thread (awc is not `Send`: make one per worker or task).
pub struct ProviderClient {
    http: awc::Client,
    shared: Arc<ProviderShared>,
}

/// What one HTTP exchange gave, before classification.
enum Exchange {
    /// An answer with its status and body.
    Answered(u16, Vec<u8>),
    /// The request was written (or may have been), but no usable answer came.
    Failed(String),
    /// No connection could be made: the request was never written.
    NotSent(String),
}

/// An exchange and the attempts before it that failed before their request was written.
struct Sent {
    exchange: Exchange,
    unsent: Vec<String>,
}

impl ProviderClient {
    /// A client for this thread.
    pub fn new(shared: Arc<ProviderShared>) -> Self {
        let http = awc::Client::builder()
            .timeout(shared.settings.timeout())
            .disable_redirects()
            .finish();
        ProviderClient { http, shared }
    }

    /// The shared state.
    pub fn shared(&self) -> &Arc<ProviderShared> {
        &self.shared
    }

    /// `update-qrcode`. Never retried: a bind whose outcome is unknown is resolved by query.
    pub async fn update_qrcode(
        &self,
        order: &str,
        req: &UpdateQrcodeRequest,
    ) -> Called<UpdateQrcodeResponse> {
        if let Err(e) = req.validate_to_send() {
            return Called::unsent(Outcome::Invalid(e));
        }
        self.call(Operation::UpdateQrcode, Some(order), req, None)
            .await
    }

    /// `preauthed`. Never retried: a completion whose outcome is unknown is resolved by
    /// querying its own order id.
    pub async fn preauthed(
        &self,
        order: &str,
        req: &PreauthedRequest,
    ) -> Called<PreauthedResponse> {
        if let Err(e) = req.validate() {
            return Called::unsent(Outcome::Invalid(e));
        }
        self.call(Operation::Preauthed, Some(order), req, None)
            .await
    }

    /// `mini-pre-query` for `mer_order_id` (on behalf of `order`). Read-only, so made up to
    /// `attempts` times while the outcome is unknown or transient.
    pub async fn mini_pre_query(
        &self,
        order: &str,
        mer_order_id: &str,
        inst_mid: Option<&str>,
        attempts: u32,
    ) -> Called<MiniPreQueryResponse> {
        let s = &self.shared.settings;
        let about = About {
            id: Some(("merOrderId", mer_order_id)),
            mid: Some(&s.mid),
            tid: Some(&s.tid),
        };
        self.read_only(
            Operation::MiniPreQuery,
            order,
            about,
            attempts,
            |timestamp| {
                let req = MiniPreQueryRequest {
                    request_timestamp: timestamp,
                    mid: s.mid.clone(),
                    tid: s.tid.clone(),
                    inst_mid: inst_mid.map(str::to_owned),
                    mer_order_id: Some(mer_order_id.to_owned()),
                    ..MiniPreQueryRequest::default()
                };
                req.validate().map(|()| req)
            },
        )
        .await
    }

    /// `bills/query` for the bill `bill_no` of `bill_date` (on behalf of `order`): the
    /// bill's own state. Read-only, so made up to `attempts` times while the outcome is
    /// unknown or transient.
    pub async fn bill_query(
        &self,
        order: &str,
        bill_no: &str,
        bill_date: &str,
        attempts: u32,
    ) -> Called<BillQueryResponse> {
        let s = &self.shared.settings;
        let about = About {
            id: Some(("billNo", bill_no)),
            mid: Some(&s.mid),
            tid: Some(&s.tid),
        };
        self.read_only(Operation::BillQuery, order, about, attempts, |timestamp| {
            let req = BillQueryRequest {
                request_timestamp: timestamp,
                mid: s.mid.clone(),
                tid: s.tid.clone(),
                inst_mid: BILL_QUERY_INST_MID.to_owned(),
                bill_no: bill_no.to_owned(),
                bill_date: bill_date.to_owned(),
                ..BillQueryRequest::default()
            };
            req.validate().map(|()| req)
        })
        .await
    }

    /// A read-only call about `about`: the request `build` makes for a fresh timestamp,
    /// asked again (after a pause, with a new timestamp) while the outcome is unknown or
    /// transient, `attempts` times at most.
    async fn read_only<Req: Serialize, Resp: Answer>(
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
    async fn call<Req: Serialize, Resp: Answer>(
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
    /// while no connection could be made, up to [`SEND_ATTEMPTS`] times.
    async fn exchange(&self, op: Operation, authorization: Option<String>, body: Vec<u8>) -> Sent {
        let mut unsent = Vec::new();
        loop {
            let exchange = self
                .exchange_once(op, authorization.clone(), body.clone())
                .await;
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

    /// The call log row, the log line, the metrics. Returns the row's id.
    async fn record<T>(
        &self,
        op: Operation,
        order: Option<&str>,
        sent: &Sent,
        outcome: &Outcome<T>,
        elapsed: Duration,
    ) -> Option<i64> {
        let (label, http_status) = match &sent.exchange {
            Exchange::Answered(s, _) => (outcome.label(), Some(*s)),
            Exchange::Failed(_) => (outcome.label(), None),
            Exchange::NotSent(_) => (LABEL_NOT_SENT, None),
        };
        let (err_code, mut detail) = describe(outcome);
        if !sent.unsent.is_empty() {
            let retried = format!(
                "{} attempt(s) not sent ({}), then sent on a fresh connection",
                sent.unsent.len(),
                sent.unsent.join("; ")
            );
            detail = Some(match detail {
                Some(d) if !matches!(sent.exchange, Exchange::NotSent(_)) => {
                    format!("{d}; {retried}")
                }
                Some(d) => format!("{d}; {} attempts in all", sent.unsent.len() + 1),
                None => retried,
            });
        }
        let latency_ms = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
        let m = &self.shared.metrics;
        m.provider_calls
            .with_label_values(&[op.as_str(), label])
            .inc();
        m.provider_call_seconds
            .with_label_values(&[op.as_str()])
            .observe(elapsed.as_secs_f64());
        let line = format!(
            "provider {} order={} http={} errCode={} outcome={label} {latency_ms}ms",
            op.as_str(),
            order.unwrap_or("-"),
            http_status.map_or("-".to_owned(), |s| s.to_string()),
            err_code.as_deref().unwrap_or("-"),
        );
        match outcome {
            Outcome::Answer(_) | Outcome::Refused(_) => log::info!("{line}"),
            Outcome::Misconfigured { .. } | Outcome::Invalid(_) => {
                log::error!("{line}: {}", detail.as_deref().unwrap_or(""))
            }
            Outcome::Unknown(_) => log::warn!("{line}: {}", detail.as_deref().unwrap_or("")),
        }
        if !sent.unsent.is_empty() && matches!(outcome, Outcome::Answer(_) | Outcome::Refused(_)) {
            log::info!("{line}: {}", detail.as_deref().unwrap_or(""));
        }
        let (op_name, order, label) = (op.as_str(), order.map(str::to_owned), label);
        // A write like any other: it takes its turn on the writer mutex (`Db::write`)
        // rather than polling for SQLite's lock.
        let at = self.shared.clock.now();
        let result = self
            .shared
            .db
            .write(move |c| {
                provider_calls::insert(
                    c,
                    &NewCall {
                        at,
                        operation: op_name,
                        mer_order_id: order.as_deref(),
                        http_status,
                        err_code: err_code.as_deref(),
                        latency_ms,
                        outcome: label,
                        detail: detail.as_deref(),
                    },
                )
            })
            .await;
        match result {
            Ok(id) => Some(id),
            Err(e) => {
                log::error!("provider call log not written: {e}");
                None
            }
        }
    }
}

/// Why a request got no answer, in words that carry no secret (awc's errors name the
/// peer and the failure, never the headers).
fn transport_reason(e: &awc::error::SendRequestError) -> String {
    match e {
        awc::error::SendRequestError::Timeout => "timed out".to_owned(),
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

/// Classifies an exchange. A call never sent is still reported as unknown to callers (they
/// resolve it by query, which then finds no order); the call log says it was not sent.
fn classify<Resp: Answer>(exchange: &Exchange) -> Outcome<Resp> {
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
fn describe<T>(outcome: &Outcome<T>) -> (Option<String>, Option<String>) {
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
