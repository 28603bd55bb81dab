//! The access-token cache (docs/protocol.md §3): one token per appId, shared by every client in
//! the process, refreshed when less than five minutes of life remain, one refresh in flight
//! however many callers wait, dropped on an auth failure. It must never print a token.

use std::time::{Duration, Instant};

use super::{Exchange, Operation, Outcome, ProviderClient};
use crate::chinaums::sign::new_nonce;
use crate::chinaums::time;
use crate::chinaums::wire::TokenRequest;
use crate::secret::Secret;

/// Refresh when less than this much life remains (docs/protocol.md §3).
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

struct Cached {
    token: Secret,
    fetched: Instant,
    lifetime: Duration,
}

impl Cached {
    /// Still good for a call: more than the margin left. A token living less than twice
    /// the margin (a test provider's) is good for its first half, so that it is still
    /// reused rather than fetched on every call.
    fn fresh(&self, now: Instant) -> bool {
        let margin = REFRESH_MARGIN.min(self.lifetime / 2);
        now.duration_since(self.fetched) + margin < self.lifetime
    }
}

/// Why no token could be had.
pub(super) struct TokenFailure(Outcome<()>);

impl TokenFailure {
    /// The failure as the caller's outcome.
    pub(super) fn into_outcome<T>(self) -> Outcome<T> {
        match self.0 {
            Outcome::Answer(()) => {
                Outcome::Unknown("token endpoint answered without a token".into())
            }
            Outcome::Refused(r) => Outcome::Refused(r),
            Outcome::Misconfigured {
                http_status,
                err_code,
                err_info,
            } => Outcome::Misconfigured {
                http_status,
                err_code,
                err_info,
            },
            Outcome::Unknown(r) => Outcome::Unknown(r),
            Outcome::Invalid(e) => Outcome::Invalid(e),
        }
    }
}

/// The cache. The async mutex is held across the fetch: that is what makes concurrent
/// callers wait for the one refresh instead of each fetching a token.
#[derive(Default)]
pub(super) struct TokenCache {
    state: tokio::sync::Mutex<Option<Cached>>,
}

impl TokenCache {
    /// A token with life left, fetching one if needed.
    pub(super) async fn get(&self, client: &ProviderClient) -> Result<Secret, TokenFailure> {
        let mut state = self.state.lock().await;
        if let Some(c) = state.as_ref().filter(|c| c.fresh(Instant::now())) {
            return Ok(c.token.clone());
        }
        *state = None;
        let (token, lifetime) = fetch(client).await?;
        *state = Some(Cached {
            token: token.clone(),
            fetched: Instant::now(),
            lifetime,
        });
        Ok(token)
    }

    /// Drops `token` if it is still the cached one (a newer one is kept).
    pub(super) async fn invalidate(&self, token: &Secret) {
        let mut state = self.state.lock().await;
        if state.as_ref().is_some_and(|c| &c.token == token) {
            *state = None;
        }
    }
}

/// Asks the token endpoint for a token (unsigned request; the body carries its own
/// signature).
async fn fetch(client: &ProviderClient) -> Result<(Secret, Duration), TokenFailure> {
    let s = &client.shared.settings;
    let req = TokenRequest::new(
        &s.app_id,
        s.app_key.expose(),
        &time::format_compact(client.shared.clock.now()),
        &new_nonce(),
    );
    let body =
        serde_json::to_vec(&req).map_err(|e| TokenFailure(Outcome::Unknown(e.to_string())))?;
    let started = Instant::now();
    let sent = client.exchange(Operation::Token, None, body).await;
    let (outcome, token) = token_outcome(&sent.exchange);
    client
        .record(Operation::Token, None, &sent, &outcome, started.elapsed())
        .await;
    client.shared.metrics.token_refreshes.inc();
    match (outcome, token) {
        (Outcome::Answer(()), Some(t)) => Ok(t),
        (other, _) => Err(TokenFailure(other)),
    }
}

/// Reads the token endpoint's answer: success is `errCode "0000"` with a token.
pub(super) fn token_outcome(exchange: &Exchange) -> (Outcome<()>, Option<(Secret, Duration)>) {
    use crate::chinaums::wire::{AuthError, TokenResponse};
    let (status, body) = match exchange {
        Exchange::Failed(r) => return (Outcome::Unknown(r.clone()), None),
        Exchange::NotSent(r) => return (Outcome::Unknown(format!("not sent: {r}")), None),
        Exchange::Answered(s, b) => (*s, b),
    };
    match serde_json::from_slice::<TokenResponse>(body) {
        Ok(t) if status == 200 && t.is_success() => {
            let secs = t
                .expires_in
                .and_then(|s| u64::try_from(s).ok())
                .unwrap_or(3600);
            let token = t.access_token.unwrap_or_else(|| Secret::new(""));
            (
                Outcome::Answer(()),
                Some((token, Duration::from_secs(secs))),
            )
        }
        _ => {
            let auth: Option<AuthError> = serde_json::from_slice(body).ok();
            if auth.is_none() && status >= 500 {
                return (
                    Outcome::Unknown(format!("token endpoint answered HTTP {status}")),
                    None,
                );
            }
            (
                Outcome::Misconfigured {
                    http_status: status,
                    err_code: auth.as_ref().map(|a| a.err_code.clone()),
                    err_info: auth.map(|a| a.err_info).filter(|i| !i.is_empty()),
                },
                None,
            )
        }
    }
}
