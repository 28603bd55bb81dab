//! The console's sessions and its sign-in tokens. A session is a random secret (the
//! cookie) naming an operator, a CSRF token and an expiry on the gateway's clock, kept in
//! the store by the secret's SHA-256 (`store::auth`), so that a sign-in holds on every
//! instance on the database and survives a restart, and reading the database signs no one
//! in. The sign-in form's token is issued by the server: an HMAC, under a key derived from
//! the configured operator tokens (the same on every instance), of its issue time and a
//! nonce. It must not keep the token an operator signed in with, nor log a session id or a
//! CSRF token.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::operators::Operator;
use crate::store::auth::{self, StoredFlash, StoredSession};
use crate::store::{Db, StoreError};

/// Random bytes in a session id and in a CSRF token: 256 bits, beyond guessing.
const RANDOM_BYTES: usize = 32;
/// Random bytes in a sign-in token's nonce: 128 bits, so that no two forms share one.
const NONCE_BYTES: usize = 16;

/// Most sessions kept at once. Sessions are only opened with a valid token, so this is
/// far above any real team; past it, the sessions closest to their expiry are dropped so
/// that a script signing in in a loop cannot grow the table without end.
const MAX_SESSIONS: i64 = 1000;

/// How long a sign-in form stays usable: an hour.
pub const SIGN_IN_MAX_AGE_SECS: u32 = 3600;
/// How far in the future a sign-in token's issue time may be: instances' clocks differ
/// by a little (NTP keeps them within a second; a minute is generous).
const SIGN_IN_CLOCK_SKEW_SECS: i64 = 60;
/// What the sign-in key is derived for, so that it serves no other purpose.
const SIGN_IN_KEY_PURPOSE: &[u8] = b"umsgate console sign-in token v1";

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

impl Flash {
    fn stored(&self) -> StoredFlash {
        let (kind, detail) = match self {
            Flash::Acknowledged => ("acknowledged", None),
            Flash::Resynced(status) => ("resynced", Some(status.clone())),
            Flash::Redelivered(n) => ("redelivered", Some(n.to_string())),
            Flash::Failed(why) => ("failed", Some(why.clone())),
        };
        StoredFlash { kind, detail }
    }

    /// Reads a stored message back; `None` for one that does not parse (it is only words
    /// for a page, and is dropped).
    fn from_stored(f: StoredFlash) -> Option<Flash> {
        match (f.kind, f.detail) {
            ("acknowledged", _) => Some(Flash::Acknowledged),
            ("resynced", Some(status)) => Some(Flash::Resynced(status)),
            ("redelivered", Some(n)) => n.parse().ok().map(Flash::Redelivered),
            ("failed", Some(why)) => Some(Flash::Failed(why)),
            _ => None,
        }
    }
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
}

/// The sessions, in the store; each lasts `ttl`.
pub struct Sessions {
    ttl: Duration,
}

/// A fresh random token, hex.
pub fn random_token() -> String {
    random_hex(RANDOM_BYTES)
}

fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the store keeps of a session id: its SHA-256, hex.
fn id_hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

impl Sessions {
    /// Sessions that last `ttl`.
    pub fn new(ttl: std::time::Duration) -> Self {
        Sessions {
            ttl: Duration::from_std(ttl).unwrap_or(Duration::hours(8)),
        }
    }

    /// Opens a session for `operator` at `now`; returns its id (the cookie's value). Ended
    /// sessions are deleted first, and past [`MAX_SESSIONS`] the ones closest to their end.
    pub async fn open(
        &self,
        db: &Db,
        operator: Operator,
        now: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        let id = random_token();
        let (hash, session) = (
            id_hash(&id),
            StoredSession {
                operator,
                csrf: random_token(),
                expires_at: now + self.ttl,
            },
        );
        db.write(move |conn| {
            auth::delete_expired_sessions(conn, now)?;
            let over = auth::session_count(conn)? - (MAX_SESSIONS - 1);
            if over > 0 {
                let oldest = auth::oldest_sessions(conn, over)?;
                auth::delete_sessions(conn, &oldest)?;
            }
            auth::insert_session(conn, &hash, &session, now)
        })
        .await?;
        Ok(id)
    }

    /// The session `id` names, if it is open at `now`.
    pub async fn get(
        &self,
        db: &Db,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        let hash = id_hash(id);
        let stored = db.run(move |conn| auth::session(conn, &hash, now)).await?;
        Ok(stored.map(|s| Session {
            operator: s.operator,
            csrf: s.csrf,
            expires_at: s.expires_at,
        }))
    }

    /// Takes the session's message for the next page, if any: a read, and a write only
    /// when there is one to clear (every page view asks).
    pub async fn take_flash(&self, db: &Db, id: &str) -> Result<Option<Flash>, StoreError> {
        let hash = id_hash(id);
        let read = hash.clone();
        let Some(stored) = db.run(move |conn| auth::flash(conn, &read)).await? else {
            return Ok(None);
        };
        db.write(move |conn| auth::set_flash(conn, &hash, None))
            .await?;
        Ok(Flash::from_stored(stored))
    }

    /// Leaves a message for the session's next page.
    pub async fn flash(&self, db: &Db, id: &str, flash: Flash) -> Result<(), StoreError> {
        let (hash, stored) = (id_hash(id), flash.stored());
        db.write(move |conn| auth::set_flash(conn, &hash, Some(&stored)))
            .await
    }

    /// Closes the session (sign-out).
    pub async fn close(&self, db: &Db, id: &str) -> Result<(), StoreError> {
        let hash = id_hash(id);
        db.write(move |conn| auth::delete_session(conn, &hash).map(drop))
            .await
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

/// An HMAC-SHA256 under `key`.
fn hmac_under(key: &[u8]) -> Hmac<Sha256> {
    #[expect(
        clippy::expect_used,
        reason = "HMAC takes a key of any length (RFC 2104): `new_from_slice` cannot fail"
    )]
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length")
}

/// The sign-in form's tokens: `<issued, unix seconds>.<nonce>.<HMAC-SHA256 of the two>`,
/// issued by the server and checked on the sign-in POST, so that a cookie and field
/// planted together (from a sibling subdomain) are refused: only the key's holder can make
/// one. The key is derived from the configured operator tokens, so every instance with the
/// same `[admin]` issues and accepts the same tokens; changing an operator token voids the
/// forms already shown.
pub struct SignInTokens {
    key: [u8; 32],
}

impl SignInTokens {
    /// The tokens under a key derived from `secrets` (every configured operator token).
    pub fn derived_from<'a>(secrets: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut mac = hmac_under(SIGN_IN_KEY_PURPOSE);
        for s in secrets {
            // Each secret with its length, so that no two rosters run together alike.
            mac.update(&u64::try_from(s.len()).unwrap_or(u64::MAX).to_be_bytes());
            mac.update(s);
        }
        SignInTokens {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, signed: &str) -> String {
        let mut mac = hmac_under(&self.key);
        mac.update(signed.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A fresh token issued at `now`.
    pub fn issue(&self, now: DateTime<Utc>) -> String {
        let signed = format!("{}.{}", now.timestamp(), random_hex(NONCE_BYTES));
        let mac = self.mac(&signed);
        format!("{signed}.{mac}")
    }

    /// Whether `token` was issued with this key at most [`SIGN_IN_MAX_AGE_SECS`] before
    /// `now` (and not more than a clock's skew after it).
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> bool {
        let Some((signed, mac)) = token.rsplit_once('.') else {
            return false;
        };
        let Some(issued) = signed
            .split_once('.')
            .and_then(|(t, _)| t.parse::<i64>().ok())
        else {
            return false;
        };
        let age = now.timestamp().saturating_sub(issued);
        let fresh = (-SIGN_IN_CLOCK_SKEW_SECS..=i64::from(SIGN_IN_MAX_AGE_SECS)).contains(&age);
        same_token(&self.mac(signed), mac) && fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operators::Role;
    use crate::store::testing::temp_db;

    fn alice() -> Operator {
        Operator {
            name: "alice".into(),
            role: Role::Operator,
        }
    }

    fn t0() -> DateTime<Utc> {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 30, 12, 0, 0).unwrap()
    }

    #[actix_web::test]
    async fn a_session_lasts_its_ttl_and_no_longer() {
        let (db, _dir) = temp_db();
        let sessions = Sessions::new(std::time::Duration::from_secs(3600));
        let id = sessions.open(&db, alice(), t0()).await.unwrap();

        let during = sessions.get(&db, &id, t0() + Duration::minutes(59)).await;
        let after = sessions.get(&db, &id, t0() + Duration::minutes(60)).await;

        assert_eq!(during.unwrap().unwrap().operator, alice());
        assert!(after.unwrap().is_none());
    }

    #[actix_web::test]
    async fn ids_and_csrf_tokens_are_random_and_long_and_only_a_hash_is_stored() {
        let (db, _dir) = temp_db();
        let sessions = Sessions::new(std::time::Duration::from_secs(3600));
        let a = sessions.open(&db, alice(), t0()).await.unwrap();
        let b = sessions.open(&db, alice(), t0()).await.unwrap();
        let sa = sessions.get(&db, &a, t0()).await.unwrap().unwrap();
        let sb = sessions.get(&db, &b, t0()).await.unwrap().unwrap();
        let mut conn = db.conn().unwrap();

        assert_eq!(a.len(), 2 * RANDOM_BYTES);
        assert_ne!(a, b);
        assert_ne!(sa.csrf, sb.csrf);
        assert_ne!(sa.csrf, a);
        assert!(auth::session(&mut conn, &a, t0()).unwrap().is_none());
        assert!(auth::session(&mut conn, &id_hash(&a), t0())
            .unwrap()
            .is_some());
    }

    #[actix_web::test]
    async fn a_closed_session_is_gone_and_a_flash_is_shown_once() {
        let (db, _dir) = temp_db();
        let sessions = Sessions::new(std::time::Duration::from_secs(3600));
        let id = sessions.open(&db, alice(), t0()).await.unwrap();

        for flash in [
            Flash::Acknowledged,
            Flash::Resynced("PAID".into()),
            Flash::Redelivered(3),
            Flash::Failed("no".into()),
        ] {
            sessions.flash(&db, &id, flash.clone()).await.unwrap();
            assert_eq!(sessions.take_flash(&db, &id).await.unwrap(), Some(flash));
            assert_eq!(sessions.take_flash(&db, &id).await.unwrap(), None);
        }
        sessions.close(&db, &id).await.unwrap();

        assert!(sessions.get(&db, &id, t0()).await.unwrap().is_none());
    }

    #[actix_web::test]
    async fn sessions_are_bounded_and_the_oldest_go_first() {
        let (db, _dir) = temp_db();
        let sessions = Sessions::new(std::time::Duration::from_secs(3600));
        let first = sessions.open(&db, alice(), t0()).await.unwrap();
        for i in 1..=MAX_SESSIONS {
            let hash = id_hash(&random_token());
            let s = StoredSession {
                operator: alice(),
                csrf: random_token(),
                expires_at: t0() + Duration::hours(1) + Duration::seconds(i),
            };
            auth::insert_session(&mut db.conn().unwrap(), &hash, &s, t0()).unwrap();
        }

        let last = sessions
            .open(&db, alice(), t0() + Duration::seconds(1))
            .await;

        let mut conn = db.conn().unwrap();
        assert_eq!(auth::session_count(&mut conn).unwrap(), MAX_SESSIONS);
        assert!(sessions.get(&db, &first, t0()).await.unwrap().is_none());
        assert!(sessions
            .get(&db, &last.unwrap(), t0())
            .await
            .unwrap()
            .is_some());
    }

    #[test]
    fn a_sign_in_token_verifies_under_its_key_within_the_hour_and_nothing_else_does() {
        let tokens = SignInTokens::derived_from([b"operator-token-0123".as_slice()]);
        let other = SignInTokens::derived_from([b"another-token-01234".as_slice()]);
        let token = tokens.issue(t0());
        let hour = Duration::seconds(i64::from(SIGN_IN_MAX_AGE_SECS));

        assert!(tokens.verify(&token, t0()));
        assert!(tokens.verify(&token, t0() + hour));
        assert!(!tokens.verify(&token, t0() + hour + Duration::seconds(1)));
        assert!(!tokens.verify(&token, t0() - Duration::minutes(2)));
        assert!(!other.verify(&token, t0()), "another key");
        assert!(!tokens.verify(&random_token(), t0()), "a planted value");
        let (signed, _) = token.rsplit_once('.').unwrap();
        let later = format!(
            "{}{}",
            t0().timestamp() + 1,
            &signed[signed.find('.').unwrap()..]
        );
        assert!(!tokens.verify(&format!("{later}.{}", &token[token.len() - 64..]), t0()));
        assert_ne!(tokens.issue(t0()), token, "a fresh nonce each time");
    }
}
