//! The gateway's client for the provider: signs every call (OPEN-BODY-SIG, or a cached
//! OPEN-ACCESS-TOKEN), sends it within one deadline (`provider.timeout_ms` for the whole
//! exchange, the answer's body included), classifies the answer, and records each
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
//!
//! One job a file: `send` (sign, send with the timeout, the read-only retry), `outcome`
//! (what a call came to and how an exchange is classified), `answer` (what an answer says
//! it is about), `call_log` (the row, the log line, the metrics), `token` (the access-token
//! cache), and one file per operation (`update_qrcode`, `mini_pre_query`, `bill_query`,
//! `preauthed`).

mod answer;
mod bill_query;
mod call_log;
mod mini_pre_query;
mod outcome;
mod preauthed;
mod send;
mod token;
mod update_qrcode;

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::ProviderSettings;
use crate::metrics::Metrics;
use crate::store::Db;
use send::{Exchange, Sent};
use token::TokenCache;

pub use crate::chinaums::{CallOutcome, Merchant, Operation};
pub use answer::{About, Answer};
pub use outcome::{Called, Outcome, Refusal};
pub use send::{QUERY_ATTEMPTS, SEND_ATTEMPTS};

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
}
