//! What an unverified, refused notice may cost: a small journal row (its digest, size and a
//! bounded excerpt instead of the whole body) and a per-peer budget of such refusals,
//! past which a peer is answered `429` with no journal row, counted, and logged at most
//! once a minute. It must never hold back a verified notice: only refusals spend or
//! consult the budget.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Bytes of an unverified refused body kept in the journal: enough to see what a sender
/// tried (its field names and first values), little enough that a flood costs nothing.
pub const EXCERPT_BYTES: usize = 512;
/// Peers tracked at most: past it, peers whose budget is whole again are forgotten first
/// (they lose nothing), then all, so that spoofed sources cannot grow the map.
const MAX_PEERS: usize = 10_000;
/// A throttled peer is logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// The journal's view of a refused body: its first [`EXCERPT_BYTES`], and the words that
/// say what the rest was.
pub fn excerpt(body: &[u8]) -> (&[u8], String) {
    let kept = body.len().min(EXCERPT_BYTES);
    let digest = hex::encode(Sha256::digest(body));
    (
        &body[..kept],
        format!(
            "body {} bytes, sha256 {digest}, first {kept} bytes journaled",
            body.len()
        ),
    )
}

/// A peer's spent budget.
struct Bucket {
    /// Refusals left, refilled continuously.
    tokens: f64,
    refilled: Instant,
    last_log: Option<Instant>,
}

/// What [`Budget::spend`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spent {
    /// Within the budget: journal the refusal as usual.
    Within,
    /// Over it: answer 429; `log` says whether this is the peer's one log line this minute.
    Over {
        /// Log this one.
        log: bool,
    },
}

/// Per-peer token buckets: `budget` refusals, refilled evenly over `window`.
pub struct Budget {
    budget: f64,
    per_second: f64,
    peers: Mutex<HashMap<IpAddr, Bucket>>,
}

impl Budget {
    /// `budget` refusals per `window` and peer.
    pub fn new(budget: u32, window: Duration) -> Self {
        let budget = f64::from(budget);
        Budget {
            budget,
            per_second: budget / window.as_secs_f64().max(f64::MIN_POSITIVE),
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// Spends one refusal of `peer`'s budget at `now`.
    pub fn spend(&self, peer: IpAddr, now: Instant) -> Spent {
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        if peers.len() >= MAX_PEERS && !peers.contains_key(&peer) {
            let (budget, rate) = (self.budget, self.per_second);
            peers.retain(|_, b| b.level(now, rate, budget) < budget);
            if peers.len() >= MAX_PEERS {
                peers.clear();
            }
        }
        let bucket = peers.entry(peer).or_insert(Bucket {
            tokens: self.budget,
            refilled: now,
            last_log: None,
        });
        bucket.tokens = bucket.level(now, self.per_second, self.budget);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Spent::Within;
        }
        let log = bucket
            .last_log
            .is_none_or(|at| now.duration_since(at) >= LOG_EVERY);
        if log {
            bucket.last_log = Some(now);
        }
        Spent::Over { log }
    }
}

impl Bucket {
    fn level(&self, now: Instant, per_second: f64, budget: f64) -> f64 {
        let refill = now.duration_since(self.refilled).as_secs_f64() * per_second;
        (self.tokens + refill).min(budget)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_past_its_budget_is_over_it_and_logged_once_a_minute() {
        let budget = Budget::new(3, Duration::from_secs(60));
        let (peer, other) = (
            "198.51.100.1".parse().unwrap(),
            "198.51.100.2".parse().unwrap(),
        );
        let t0 = Instant::now();

        let first: Vec<Spent> = (0..5).map(|_| budget.spend(peer, t0)).collect();

        assert_eq!(
            first,
            [
                Spent::Within,
                Spent::Within,
                Spent::Within,
                Spent::Over { log: true },
                Spent::Over { log: false }
            ]
        );
        assert_eq!(budget.spend(other, t0), Spent::Within);
        // 20 s refill one refusal; the log line waits for the minute.
        assert_eq!(
            budget.spend(peer, t0 + Duration::from_secs(20)),
            Spent::Within
        );
        assert_eq!(
            budget.spend(peer, t0 + Duration::from_secs(21)),
            Spent::Over { log: false }
        );
        // 40 s more refill two; the minute since the log line has passed.
        let later = t0 + Duration::from_secs(61);
        assert_eq!(budget.spend(peer, later), Spent::Within);
        assert_eq!(budget.spend(peer, later), Spent::Within);
        assert_eq!(budget.spend(peer, later), Spent::Over { log: true });
    }

    #[test]
    fn an_excerpt_keeps_the_first_bytes_and_names_size_and_digest() {
        let body = vec![b'a'; 60_000];

        let (kept, words) = excerpt(&body);

        assert_eq!(kept.len(), EXCERPT_BYTES);
        assert!(words.starts_with("body 60000 bytes, sha256 "), "{words}");
        assert!(words.contains(&hex::encode(Sha256::digest(&body))));
    }
}
