//! The console's sessions and sign-in limit, in memory: a session is a random id (the
//! cookie) naming an operator, a CSRF token and an expiry on the gateway's clock; the
//! limit counts failed sign-ins per client address. A restart signs everyone out. It must
//! not keep the token an operator signed in with, nor log a session id or CSRF token.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::operators::Operator;

/// Random bytes in a session id and in a CSRF token: 256 bits, beyond guessing.
const RANDOM_BYTES: usize = 32;

/// Most sessions kept at once. Sessions are only opened with a valid token, so this is
/// far above any real team; past it, the session closest to its expiry is dropped so that
/// a script signing in in a loop cannot grow the map without end.
const MAX_SESSIONS: usize = 1000;

/// Failed sign-ins a client address may make within [`FAILURE_WINDOW`]; the next attempt
/// in the window is answered 429 without looking at the token. Five covers typos; a
/// guesser gets 7 200 tries a day, against tokens of 16+ random characters.
pub const MAX_FAILURES: u32 = 5;
/// The window of [`MAX_FAILURES`]: it starts at an address's first failure.
pub const FAILURE_WINDOW: Duration = Duration::seconds(60);
/// Most addresses tracked at once; past it, addresses whose window has passed are
/// forgotten first, then the oldest windows.
const MAX_TRACKED: usize = 10_000;

/// Something to tell the operator on the next page (after an action's redirect).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flash {
    /// The review was acknowledged.
    Acknowledged,
    /// The provider was asked; the order's status now.
    Resynced(String),
    /// This many deliveries are pending again.
    Redelivered(usize),
    /// The action was not done, and why (a use case's error, never a secret).
    Failed(String),
}

/// A signed-in operator's session.
#[derive(Clone, Debug)]
pub struct Session {
    /// Who.
    pub operator: Operator,
    /// The token every form of this session carries.
    pub csrf: String,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
    flash: Option<Flash>,
}

/// Every open session, by id.
pub struct Sessions {
    ttl: Duration,
    open: Mutex<HashMap<String, Session>>,
}

/// A fresh random token, hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; RANDOM_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Sessions {
    /// No session yet; each lasts `ttl`.
    pub fn new(ttl: std::time::Duration) -> Self {
        Sessions {
            ttl: Duration::from_std(ttl).unwrap_or(Duration::hours(8)),
            open: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // The map stays consistent whatever a panicking holder was doing.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens a session for `operator` at `now`; returns its id (the cookie's value).
    pub fn open(&self, operator: Operator, now: DateTime<Utc>) -> String {
        let id = random_token();
        let session = Session {
            operator,
            csrf: random_token(),
            expires_at: now + self.ttl,
            flash: None,
        };
        let mut open = self.lock();
        open.retain(|_, s| s.expires_at > now);
        while open.len() >= MAX_SESSIONS {
            let Some(first) = open
                .iter()
                .min_by_key(|(_, s)| s.expires_at)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            open.remove(&first);
        }
        open.insert(id.clone(), session);
        id
    }

    /// The session `id` names, if it is open at `now` (an expired one is closed).
    pub fn get(&self, id: &str, now: DateTime<Utc>) -> Option<Session> {
        let mut open = self.lock();
        match open.get(id) {
            Some(s) if s.expires_at > now => Some(s.clone()),
            Some(_) => {
                open.remove(id);
                None
            }
            None => None,
        }
    }

    /// Takes the session's message for the next page, if any.
    pub fn take_flash(&self, id: &str) -> Option<Flash> {
        self.lock().get_mut(id).and_then(|s| s.flash.take())
    }

    /// Leaves a message for the session's next page.
    pub fn flash(&self, id: &str, flash: Flash) {
        if let Some(s) = self.lock().get_mut(id) {
            s.flash = Some(flash);
        }
    }

    /// Closes the session (sign-out).
    pub fn close(&self, id: &str) {
        self.lock().remove(id);
    }

    /// How long a session lasts, in whole seconds (the cookie's `Max-Age`).
    pub fn ttl_secs(&self) -> i64 {
        self.ttl.num_seconds()
    }
}

/// Whether `presented` is the session's CSRF token, compared in constant time.
pub fn csrf_matches(session: &Session, presented: &str) -> bool {
    same_token(&session.csrf, presented)
}

/// Whether two tokens are equal, compared in constant time (for equal lengths; a token's
/// length is no secret).
pub fn same_token(ours: &str, presented: &str) -> bool {
    let (a, b) = (ours.as_bytes(), presented.as_bytes());
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Failed sign-ins per client address.
#[derive(Default)]
pub struct SignInLimit {
    failures: Mutex<HashMap<IpAddr, (DateTime<Utc>, u32)>>,
}

impl SignInLimit {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, (DateTime<Utc>, u32)>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `peer` has used up its failures in the current window at `now`.
    pub fn blocked(&self, peer: IpAddr, now: DateTime<Utc>) -> bool {
        self.lock()
            .get(&peer)
            .is_some_and(|(start, n)| now < *start + FAILURE_WINDOW && *n >= MAX_FAILURES)
    }

    /// Counts a failed sign-in from `peer` at `now`.
    pub fn failed(&self, peer: IpAddr, now: DateTime<Utc>) {
        let mut failures = self.lock();
        if failures.len() >= MAX_TRACKED && !failures.contains_key(&peer) {
            failures.retain(|_, (start, _)| now < *start + FAILURE_WINDOW);
            while failures.len() >= MAX_TRACKED {
                let Some(oldest) = failures
                    .iter()
                    .min_by_key(|(_, (start, _))| *start)
                    .map(|(ip, _)| *ip)
                else {
                    break;
                };
                failures.remove(&oldest);
            }
        }
        let entry = failures.entry(peer).or_insert((now, 0));
        if now >= entry.0 + FAILURE_WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    /// Forgets `peer`'s failures (it signed in).
    pub fn succeeded(&self, peer: IpAddr) {
        self.lock().remove(&peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operators::Role;

    fn alice() -> Operator {
        Operator {
            name: "alice".into(),
            role: Role::Operator,
        }
    }

    fn t0() -> DateTime<Utc> {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 30, 12, 0, 0).unwrap()
    }

    #[test]
    fn a_session_lasts_its_ttl_and_no_longer() {
        let sessions = Sessions::new(std::time::Duration::from_secs(3600));
        let id = sessions.open(alice(), t0());

        let during = sessions.get(&id, t0() + Duration::minutes(59));
        let after = sessions.get(&id, t0() + Duration::minutes(60));
        let again = sessions.get(&id, t0());

        assert_eq!(during.unwrap().operator, alice());
        assert!(after.is_none());
        assert!(again.is_none(), "an expired session is gone for good");
    }

    #[test]
    fn ids_and_csrf_tokens_are_random_and_long() {
        let sessions = Sessions::new(std::time::Duration::from_secs(3600));
        let a = sessions.open(alice(), t0());
        let b = sessions.open(alice(), t0());
        let (sa, sb) = (
            sessions.get(&a, t0()).unwrap(),
            sessions.get(&b, t0()).unwrap(),
        );

        assert_eq!(a.len(), 2 * RANDOM_BYTES);
        assert_ne!(a, b);
        assert_ne!(sa.csrf, sb.csrf);
        assert_ne!(sa.csrf, a);
    }

    #[test]
    fn only_the_sessions_own_csrf_token_matches() {
        let sessions = Sessions::new(std::time::Duration::from_secs(3600));
        let s = sessions.get(&sessions.open(alice(), t0()), t0()).unwrap();

        assert!(csrf_matches(&s, &s.csrf.clone()));
        assert!(!csrf_matches(&s, ""));
        assert!(!csrf_matches(&s, &s.csrf[..10]));
        assert!(!csrf_matches(&s, &format!("{}0", s.csrf)));
    }

    #[test]
    fn a_closed_session_is_gone_and_a_flash_is_shown_once() {
        let sessions = Sessions::new(std::time::Duration::from_secs(3600));
        let id = sessions.open(alice(), t0());

        sessions.flash(&id, Flash::Acknowledged);
        assert_eq!(sessions.take_flash(&id), Some(Flash::Acknowledged));
        assert_eq!(sessions.take_flash(&id), None);
        sessions.close(&id);

        assert!(sessions.get(&id, t0()).is_none());
    }

    #[test]
    fn sessions_are_bounded() {
        let sessions = Sessions::new(std::time::Duration::from_secs(3600));
        let first = sessions.open(alice(), t0());
        for i in 1..=MAX_SESSIONS {
            let at = t0() + Duration::seconds(i64::try_from(i).unwrap());
            sessions.open(alice(), at);
        }

        assert_eq!(sessions.lock().len(), MAX_SESSIONS);
        assert!(
            sessions.get(&first, t0()).is_none(),
            "the oldest went first"
        );
    }

    #[test]
    fn an_address_is_blocked_after_its_failures_until_the_window_passes() {
        let limit = SignInLimit::default();
        let peer: IpAddr = "203.0.113.7".parse().unwrap();
        let other: IpAddr = "203.0.113.8".parse().unwrap();

        for i in 0..MAX_FAILURES {
            assert!(!limit.blocked(peer, t0()), "after {i} failures");
            limit.failed(peer, t0());
        }

        assert!(limit.blocked(peer, t0() + Duration::seconds(59)));
        assert!(!limit.blocked(other, t0()));
        assert!(!limit.blocked(peer, t0() + FAILURE_WINDOW));
        limit.failed(peer, t0() + FAILURE_WINDOW);
        assert!(!limit.blocked(peer, t0() + FAILURE_WINDOW), "a new window");
    }

    #[test]
    fn a_sign_in_forgets_the_failures() {
        let limit = SignInLimit::default();
        let peer: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            limit.failed(peer, t0());
        }

        limit.succeeded(peer);

        assert!(!limit.blocked(peer, t0()));
    }
}
