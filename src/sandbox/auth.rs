//! The provider's auth layer as the sandbox plays it (docs/protocol.md §2–3): checking the
//! `Authorization` header of every operation (OPEN-BODY-SIG or OPEN-ACCESS-TOKEN),
//! refusing replayed nonces, issuing access tokens, and the auth layer's error codes. It
//! must not look at what an operation asks, and never puts a key, token or signature in a
//! message or a log line.
//!
//! Auth failures are answered as the provider's auth layer does: a non-200 HTTP status and
//! `{"errCode": "<digits>", "errInfo": "…"}`. The codes are the sandbox's own (the provider
//! publishes none); a client should treat any of them as "not authenticated":
//!
//! | errCode | HTTP | when |
//! | --- | --- | --- |
//! | `1000` | 401 | no `Authorization` header |
//! | `1001` | 401 | the header is neither a well-formed OPEN-BODY-SIG nor OPEN-ACCESS-TOKEN |
//! | `1002` | 401 | the appId is unknown |
//! | `1003` | 401 | the timestamp is not `yyyyMMddHHmmss` or is further than `clock_skew` from now |
//! | `1004` | 401 | the signature does not verify |
//! | `1005` | 401 | the access token is unknown or expired (tokens live `token_ttl`) |
//! | `1006` | 401 | the nonce was already used by a verified request within `clock_skew` |
//! | `1007` | 400 | the token request's body is malformed (the message names the field) |

use std::collections::{HashMap, VecDeque};

use actix_web::http::StatusCode;
use chrono::{DateTime, Duration, Utc};

use crate::chinaums::sign::{parse_access_token_header, BodySig, ACCESS_TOKEN_SCHEME};
use crate::chinaums::time;
use crate::secret::Secret;

use super::config::SandboxCredentials;

/// Why a request was not authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header.
    MissingHeader,
    /// A header of neither scheme, or malformed (the reason names the parameter).
    MalformedHeader(String),
    /// An appId the sandbox does not know.
    UnknownApp,
    /// A timestamp unreadable or too far from now.
    StaleTimestamp,
    /// A signature that does not verify.
    BadSignature,
    /// An access token unknown or expired.
    BadToken,
    /// A nonce already used.
    ReusedNonce,
    /// A token request body that is not well-formed (field and reason).
    BadTokenRequest(String),
}

impl AuthFailure {
    /// The auth layer's numeric `errCode`.
    pub fn code(&self) -> &'static str {
        match self {
            AuthFailure::MissingHeader => "1000",
            AuthFailure::MalformedHeader(_) => "1001",
            AuthFailure::UnknownApp => "1002",
            AuthFailure::StaleTimestamp => "1003",
            AuthFailure::BadSignature => "1004",
            AuthFailure::BadToken => "1005",
            AuthFailure::ReusedNonce => "1006",
            AuthFailure::BadTokenRequest(_) => "1007",
        }
    }

    /// The HTTP status it is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthFailure::BadTokenRequest(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// `errInfo`: what is wrong, naming parameters, never their values.
    pub fn info(&self) -> String {
        match self {
            AuthFailure::MissingHeader => "Authorization header is missing".into(),
            AuthFailure::MalformedHeader(reason) => format!("Authorization header: {reason}"),
            AuthFailure::UnknownApp => "AppId is unknown".into(),
            AuthFailure::StaleTimestamp => {
                "Timestamp is not yyyyMMddHHmmss Beijing time within the allowed clock skew".into()
            }
            AuthFailure::BadSignature => "Signature does not verify".into(),
            AuthFailure::BadToken => "AccessToken is unknown or expired".into(),
            AuthFailure::ReusedNonce => "Nonce was already used".into(),
            AuthFailure::BadTokenRequest(reason) => reason.clone(),
        }
    }
}

/// Which scheme a request used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// OPEN-BODY-SIG.
    BodySig,
    /// OPEN-ACCESS-TOKEN.
    Token,
}

impl Scheme {
    /// Its name in the call log.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::BodySig => "body-sig",
            Scheme::Token => "token",
        }
    }
}

/// What the auth layer made of a request: the appId it named (if any, even when it
/// failed), the scheme, and the verdict.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The appId named by the header or found by the token.
    pub app_id: Option<String>,
    /// The scheme, when recognised.
    pub scheme: Option<Scheme>,
    /// Verified, or why not.
    pub verdict: Result<(), AuthFailure>,
}

impl Checked {
    /// A request refused before it named an appId or a scheme.
    pub fn refused(failure: AuthFailure) -> Self {
        Checked {
            app_id: None,
            scheme: None,
            verdict: Err(failure),
        }
    }
}

/// One issued token.
#[derive(Clone, Debug)]
struct Issued {
    token: Secret,
    expires_at: DateTime<Utc>,
}

/// The auth layer's memory: live tokens per appId and recently used nonces.
#[derive(Debug, Default)]
pub struct AuthState {
    tokens: HashMap<String, VecDeque<Issued>>,
    nonces: HashMap<String, DateTime<Utc>>,
}

/// The rules the auth layer applies.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Tolerated distance between a request's timestamp and now.
    pub clock_skew: Duration,
    /// How long a token lives.
    pub token_ttl: Duration,
    /// Live tokens per appId.
    pub max_tokens: usize,
}

impl AuthState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks a request's `Authorization` header against `creds`, for the exact `body`.
    pub fn check(
        &mut self,
        header: Option<&str>,
        body: &[u8],
        creds: &SandboxCredentials,
        policy: Policy,
        now: DateTime<Utc>,
    ) -> Checked {
        let Some(header) = header else {
            return Checked::refused(AuthFailure::MissingHeader);
        };
        if header.trim_start().starts_with(ACCESS_TOKEN_SCHEME) {
            return self.check_token(header, now);
        }
        let sig = match BodySig::parse(header) {
            Ok(sig) => sig,
            Err(e) => return Checked::refused(AuthFailure::MalformedHeader(e.to_string())),
        };
        let verdict = self.check_body_sig(&sig, body, creds, policy, now);
        Checked {
            app_id: Some(sig.app_id),
            scheme: Some(Scheme::BodySig),
            verdict,
        }
    }

    fn check_body_sig(
        &mut self,
        sig: &BodySig,
        body: &[u8],
        creds: &SandboxCredentials,
        policy: Policy,
        now: DateTime<Utc>,
    ) -> Result<(), AuthFailure> {
        if sig.app_id != creds.app_id {
            return Err(AuthFailure::UnknownApp);
        }
        fresh(&sig.timestamp, policy, now)?;
        if !sig.verify(creds.app_key.expose(), body) {
            return Err(AuthFailure::BadSignature);
        }
        self.use_nonce(&sig.app_id, &sig.nonce, policy, now)
    }

    fn check_token(&mut self, header: &str, now: DateTime<Utc>) -> Checked {
        let Some(token) = parse_access_token_header(header) else {
            return Checked {
                app_id: None,
                scheme: Some(Scheme::Token),
                verdict: Err(AuthFailure::MalformedHeader(
                    "not OPEN-ACCESS-TOKEN AccessToken=<token>".into(),
                )),
            };
        };
        self.purge_tokens(now);
        let owner = self.tokens.iter().find_map(|(app_id, issued)| {
            issued
                .iter()
                .any(|i| i.token.matches(token.as_bytes()))
                .then(|| app_id.clone())
        });
        Checked {
            verdict: owner.as_ref().map(|_| ()).ok_or(AuthFailure::BadToken),
            app_id: owner,
            scheme: Some(Scheme::Token),
        }
    }

    /// Records a nonce; refuses one already used within the clock skew (older ones are
    /// forgotten: their timestamps would be refused anyway).
    fn use_nonce(
        &mut self,
        app_id: &str,
        nonce: &str,
        policy: Policy,
        now: DateTime<Utc>,
    ) -> Result<(), AuthFailure> {
        let window = policy.clock_skew.checked_mul(2).unwrap_or(Duration::MAX);
        let horizon = now
            .checked_sub_signed(window)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        self.nonces.retain(|_, seen| *seen > horizon);
        match self.nonces.insert(format!("{app_id}\n{nonce}"), now) {
            Some(_) => Err(AuthFailure::ReusedNonce),
            None => Ok(()),
        }
    }

    fn purge_tokens(&mut self, now: DateTime<Utc>) {
        for issued in self.tokens.values_mut() {
            issued.retain(|i| i.expires_at > now);
        }
    }

    /// Handles a token request (`POST /v1/token/access`) that reads as `{appId, timestamp,
    /// nonce, signMethod, signature}`, already checked for shape. Issues a token living
    /// `token_ttl`; when the appId already has `max_tokens` live ones, the oldest is
    /// expired to make room (the provider caps live tokens; a client that fetches a token
    /// per call thereby invalidates its own earlier ones). Answers the token and its life
    /// in seconds.
    #[expect(
        clippy::too_many_arguments,
        reason = "the token request's parts, each checked in turn"
    )]
    pub fn issue(
        &mut self,
        app_id: &str,
        timestamp: &str,
        nonce: &str,
        signature_verifies: impl FnOnce(&str) -> bool,
        creds: &SandboxCredentials,
        policy: Policy,
        now: DateTime<Utc>,
    ) -> Result<(String, i64), AuthFailure> {
        if app_id != creds.app_id {
            return Err(AuthFailure::UnknownApp);
        }
        fresh(timestamp, policy, now)?;
        if !signature_verifies(creds.app_key.expose()) {
            return Err(AuthFailure::BadSignature);
        }
        self.use_nonce(app_id, nonce, policy, now)?;
        self.purge_tokens(now);
        let live = self.tokens.entry(app_id.to_owned()).or_default();
        while live.len() >= policy.max_tokens {
            live.pop_front();
        }
        let token = hex::encode(rand::random::<[u8; 16]>());
        live.push_back(Issued {
            token: Secret::new(token.clone()),
            expires_at: now
                .checked_add_signed(policy.token_ttl)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        });
        Ok((token, policy.token_ttl.num_seconds()))
    }
}

/// A `yyyyMMddHHmmss` timestamp within the clock skew of now.
fn fresh(timestamp: &str, policy: Policy, now: DateTime<Utc>) -> Result<(), AuthFailure> {
    let at = time::parse_compact(timestamp).ok_or(AuthFailure::StaleTimestamp)?;
    let distance = if at > now { at - now } else { now - at };
    if distance > policy.clock_skew {
        return Err(AuthFailure::StaleTimestamp);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::chinaums::sign::{access_token_header, new_nonce, token_signature};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 4, 0, 0).unwrap()
    }

    fn policy() -> Policy {
        Policy {
            clock_skew: Duration::minutes(10),
            token_ttl: Duration::hours(1),
            max_tokens: 3,
        }
    }

    fn creds() -> SandboxCredentials {
        SandboxCredentials::public_test()
    }

    fn signed(body: &[u8], at: DateTime<Utc>, nonce: &str) -> String {
        let c = creds();
        BodySig::sign(
            &c.app_id,
            c.app_key.expose(),
            &time::format_compact(at),
            nonce,
            body,
        )
        .header()
    }

    fn check(state: &mut AuthState, header: Option<&str>, body: &[u8]) -> Result<(), String> {
        state
            .check(header, body, &creds(), policy(), now())
            .verdict
            .map_err(|f| f.code().to_owned())
    }

    fn issue(state: &mut AuthState, at: DateTime<Utc>) -> Result<String, AuthFailure> {
        issue_stamped(state, at, at)
    }

    fn issue_stamped(
        state: &mut AuthState,
        stamped: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<String, AuthFailure> {
        let c = creds();
        let ts = time::format_compact(stamped);
        let nonce = new_nonce();
        let signature = token_signature(&c.app_id, &ts, &nonce, c.app_key.expose());
        state
            .issue(
                &c.app_id,
                &ts,
                &nonce,
                |key| token_signature(&c.app_id, &ts, &nonce, key) == signature,
                &c,
                policy(),
                at,
            )
            .map(|(token, _)| token)
    }

    #[test]
    fn a_correctly_signed_request_verifies_once_and_its_nonce_cannot_be_replayed() {
        let mut state = AuthState::new();
        let header = signed(b"{}", now(), &new_nonce());

        assert_eq!(check(&mut state, Some(&header), b"{}"), Ok(()));
        assert_eq!(check(&mut state, Some(&header), b"{}"), Err("1006".into()));
    }

    #[test]
    fn each_auth_failure_has_its_own_code() {
        let mut state = AuthState::new();
        let other_app = signed(b"{}", now(), "n1").replace(&creds().app_id, "unknown-app");
        let stale = signed(b"{}", now() - Duration::minutes(11), "n2");
        let future = signed(b"{}", now() + Duration::minutes(11), "n3");
        let other_body = signed(b"{\"a\":1}", now(), "n4");

        assert_eq!(check(&mut state, None, b"{}"), Err("1000".into()));
        assert_eq!(
            check(&mut state, Some("Basic abc"), b"{}"),
            Err("1001".into())
        );
        assert_eq!(
            check(&mut state, Some(&other_app), b"{}"),
            Err("1002".into())
        );
        assert_eq!(check(&mut state, Some(&stale), b"{}"), Err("1003".into()));
        assert_eq!(check(&mut state, Some(&future), b"{}"), Err("1003".into()));
        assert_eq!(
            check(&mut state, Some(&other_body), b"{}"),
            Err("1004".into())
        );
        let unknown_token = access_token_header("0123456789abcdef");
        assert_eq!(
            check(&mut state, Some(&unknown_token), b"{}"),
            Err("1005".into())
        );
        assert_eq!(
            check(&mut state, Some("OPEN-ACCESS-TOKEN Token=x"), b"{}"),
            Err("1001".into())
        );
    }

    #[test]
    fn a_signature_refused_does_not_use_up_its_nonce() {
        let mut state = AuthState::new();
        let forged = signed(b"{\"a\":1}", now(), "same-nonce");
        let genuine = signed(b"{}", now(), "same-nonce");

        assert_eq!(check(&mut state, Some(&forged), b"{}"), Err("1004".into()));
        assert_eq!(check(&mut state, Some(&genuine), b"{}"), Ok(()));
    }

    #[test]
    fn an_issued_token_authenticates_until_it_expires() {
        let mut state = AuthState::new();
        let token = issue(&mut state, now()).unwrap();
        let header = access_token_header(&token);

        let fresh = state.check(Some(&header), b"", &creds(), policy(), now());
        let expired = state.check(
            Some(&header),
            b"",
            &creds(),
            policy(),
            now() + Duration::hours(1),
        );

        assert_eq!(fresh.verdict, Ok(()));
        assert_eq!(fresh.app_id.as_deref(), Some(creds().app_id.as_str()));
        assert_eq!(expired.verdict, Err(AuthFailure::BadToken));
    }

    #[test]
    fn issuing_past_the_cap_expires_the_oldest_token() {
        let mut state = AuthState::new();
        let tokens: Vec<String> = (0..4).map(|_| issue(&mut state, now()).unwrap()).collect();

        let verdicts: Vec<bool> = tokens
            .iter()
            .map(|t| {
                let header = access_token_header(t);
                state
                    .check(Some(&header), b"", &creds(), policy(), now())
                    .verdict
                    .is_ok()
            })
            .collect();

        assert_eq!(verdicts, [false, true, true, true]);
    }

    #[test]
    fn a_token_request_with_a_wrong_signature_or_stale_time_is_refused() {
        let mut state = AuthState::new();
        let c = creds();
        let ts = time::format_compact(now());

        let bad = state.issue(&c.app_id, &ts, "n", |_| false, &c, policy(), now());
        let stale = issue_stamped(&mut state, now() - Duration::minutes(11), now());
        let unknown = state.issue("other", &ts, "n", |_| true, &c, policy(), now());

        assert_eq!(bad.unwrap_err(), AuthFailure::BadSignature);
        assert_eq!(stale.unwrap_err(), AuthFailure::StaleTimestamp);
        assert_eq!(unknown.unwrap_err(), AuthFailure::UnknownApp);
    }

    #[test]
    fn failure_messages_never_carry_the_credentials() {
        let c = creds();
        for failure in [
            AuthFailure::MissingHeader,
            AuthFailure::MalformedHeader("x".into()),
            AuthFailure::UnknownApp,
            AuthFailure::StaleTimestamp,
            AuthFailure::BadSignature,
            AuthFailure::BadToken,
            AuthFailure::ReusedNonce,
        ] {
            assert!(!failure.info().contains(c.app_key.expose()));
            assert!(failure.code().bytes().all(|b| b.is_ascii_digit()));
        }
    }
}
