//! The `console_sessions` and `operator_failures` tables: the console's open sessions
//! (kept by the SHA-256 of their cookie's secret, never the secret) and every refused
//! operator token by the address the limits count it under, so that every instance on the
//! database sees the same sessions and the same failures. It must not decide who may sign
//! in nor how many failures are too many (that is `http::limits` and `console::session`).

use chrono::{DateTime, Utc};
use diesel::dsl::count_star;
use diesel::prelude::*;

use super::schema::{console_sessions, operator_failures};
use super::{from_ms, to_ms, Connection, StoreError};
use crate::operators::{Operator, Role};

/// A session as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSession {
    /// Who signed in, with the role they had then.
    pub operator: Operator,
    /// The token every form of the session carries.
    pub csrf: String,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}

/// A session's message for its next page, as stored: its kind and its words (the console
/// reads them back into its `Flash`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFlash {
    /// `acknowledged`, `resynced`, `redelivered` or `failed` (the column's CHECK).
    pub kind: &'static str,
    /// What goes with it (a status, a count, a reason).
    pub detail: Option<String>,
}

/// The kinds a stored flash may have, as the column's CHECK lists them.
const FLASH_KINDS: [&str; 4] = ["acknowledged", "resynced", "redelivered", "failed"];

#[derive(Queryable, Selectable)]
#[diesel(table_name = console_sessions)]
#[diesel(check_for_backend(crate::store::MultiBackend))]
struct SessionRow {
    id_hash: String,
    operator: String,
    role: String,
    csrf: String,
    expires_at: i64,
}

/// Keeps a new session: `id_hash` (hex SHA-256 of the cookie's secret), who, its CSRF
/// token, when it was opened and when it ends.
pub fn insert_session(
    conn: &mut Connection,
    id_hash: &str,
    session: &StoredSession,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::insert_into(console_sessions::table)
        .values((
            console_sessions::id_hash.eq(id_hash),
            console_sessions::operator.eq(&session.operator.name),
            console_sessions::role.eq(session.operator.role.as_str()),
            console_sessions::csrf.eq(&session.csrf),
            console_sessions::created_at.eq(to_ms(now)),
            console_sessions::expires_at.eq(to_ms(session.expires_at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// The session `id_hash` names, if it is still open at `now`.
pub fn session(
    conn: &mut Connection,
    id_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<StoredSession>, StoreError> {
    let row: Option<SessionRow> = console_sessions::table
        .filter(console_sessions::id_hash.eq(id_hash))
        .filter(console_sessions::expires_at.gt(to_ms(now)))
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?;
    row.map(|r| {
        let role = match r.role.as_str() {
            "viewer" => Role::Viewer,
            "operator" => Role::Operator,
            other => {
                return Err(StoreError::corrupt(
                    "console_sessions",
                    &r.id_hash,
                    format!("role {other:?}"),
                ))
            }
        };
        Ok(StoredSession {
            operator: Operator {
                name: r.operator,
                role,
            },
            csrf: r.csrf,
            expires_at: from_ms("console_sessions", &r.id_hash, r.expires_at)?,
        })
    })
    .transpose()
}

/// Closes the session `id_hash` (sign-out); whether there was one.
pub fn delete_session(conn: &mut Connection, id_hash: &str) -> Result<bool, StoreError> {
    let n = diesel::delete(console_sessions::table.filter(console_sessions::id_hash.eq(id_hash)))
        .execute(conn)?;
    Ok(n > 0)
}

/// Deletes the sessions ended at `now`; how many.
pub fn delete_expired_sessions(
    conn: &mut Connection,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(console_sessions::table.filter(console_sessions::expires_at.le(to_ms(now))))
            .execute(conn)?,
    )
}

/// How many sessions are kept.
pub fn session_count(conn: &mut Connection) -> Result<i64, StoreError> {
    Ok(console_sessions::table.select(count_star()).first(conn)?)
}

/// The ids (hashes) of the `n` sessions closest to their end.
pub fn oldest_sessions(conn: &mut Connection, n: i64) -> Result<Vec<String>, StoreError> {
    Ok(console_sessions::table
        .order((
            console_sessions::expires_at.asc(),
            console_sessions::id_hash.asc(),
        ))
        .select(console_sessions::id_hash)
        .limit(n)
        .load(conn)?)
}

/// Deletes the sessions `id_hashes` names; how many.
pub fn delete_sessions(conn: &mut Connection, id_hashes: &[String]) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(console_sessions::table.filter(console_sessions::id_hash.eq_any(id_hashes)))
            .execute(conn)?,
    )
}

/// Sets (or with `None` clears) the session's message for its next page.
pub fn set_flash(
    conn: &mut Connection,
    id_hash: &str,
    flash: Option<&StoredFlash>,
) -> Result<(), StoreError> {
    diesel::update(console_sessions::table.filter(console_sessions::id_hash.eq(id_hash)))
        .set((
            console_sessions::flash_kind.eq(flash.map(|f| f.kind)),
            console_sessions::flash_detail.eq(flash.and_then(|f| f.detail.as_deref())),
        ))
        .execute(conn)?;
    Ok(())
}

/// The session's message for its next page, if one is left.
pub fn flash(conn: &mut Connection, id_hash: &str) -> Result<Option<StoredFlash>, StoreError> {
    let row: Option<(Option<String>, Option<String>)> = console_sessions::table
        .filter(console_sessions::id_hash.eq(id_hash))
        .select((console_sessions::flash_kind, console_sessions::flash_detail))
        .first(conn)
        .optional()?;
    let Some((Some(kind), detail)) = row else {
        return Ok(None);
    };
    let kind = FLASH_KINDS
        .into_iter()
        .find(|k| *k == kind)
        .ok_or_else(|| {
            StoreError::corrupt("console_sessions", id_hash, format!("flash {kind:?}"))
        })?;
    Ok(Some(StoredFlash { kind, detail }))
}

/// Records a refused operator token from `peer` (the address as the limits count it).
pub fn record_failure(
    conn: &mut Connection,
    peer: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::insert_into(operator_failures::table)
        .values((
            operator_failures::peer.eq(peer),
            operator_failures::at.eq(to_ms(at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Refused tokens from `peer` after `since`.
pub fn failures_since(
    conn: &mut Connection,
    peer: &str,
    since: DateTime<Utc>,
) -> Result<i64, StoreError> {
    Ok(operator_failures::table
        .filter(operator_failures::peer.eq(peer))
        .filter(operator_failures::at.gt(to_ms(since)))
        .select(count_star())
        .first(conn)?)
}

/// Refused tokens from every address after `since`.
pub fn all_failures_since(conn: &mut Connection, since: DateTime<Utc>) -> Result<i64, StoreError> {
    Ok(operator_failures::table
        .filter(operator_failures::at.gt(to_ms(since)))
        .select(count_star())
        .first(conn)?)
}

/// Forgets `peer`'s refused tokens (it signed in); how many.
pub fn forget_failures(conn: &mut Connection, peer: &str) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(operator_failures::table.filter(operator_failures::peer.eq(peer)))
            .execute(conn)?,
    )
}

/// Deletes the refused tokens at or before `before` (out of every window); how many.
pub fn delete_failures_before(
    conn: &mut Connection,
    before: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(operator_failures::table.filter(operator_failures::at.le(to_ms(before))))
            .execute(conn)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_db;
    use chrono::{Duration, TimeZone};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap()
    }

    fn stored(name: &str, ends: DateTime<Utc>) -> StoredSession {
        StoredSession {
            operator: Operator {
                name: name.into(),
                role: Role::Viewer,
            },
            csrf: "c".repeat(64),
            expires_at: ends,
        }
    }

    fn hash(c: char) -> String {
        c.to_string().repeat(64)
    }

    #[test]
    fn a_session_is_read_back_until_it_ends_and_the_oldest_go_first() {
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        let a = stored("alice", t0() + Duration::hours(1));
        insert_session(&mut conn, &hash('a'), &a, t0()).unwrap();
        insert_session(
            &mut conn,
            &hash('b'),
            &stored("bob", t0() + Duration::hours(2)),
            t0(),
        )
        .unwrap();

        let open = session(&mut conn, &hash('a'), t0()).unwrap();
        let ended = session(&mut conn, &hash('a'), t0() + Duration::hours(1)).unwrap();
        let oldest = oldest_sessions(&mut conn, 1).unwrap();
        let removed = delete_sessions(&mut conn, &oldest).unwrap();

        assert_eq!(open, Some(a));
        assert_eq!(ended, None);
        assert_eq!((oldest, removed), (vec![hash('a')], 1));
        assert_eq!(session_count(&mut conn).unwrap(), 1);
        assert!(session(&mut conn, &hash('b'), t0()).unwrap().is_some());
        assert_eq!(
            delete_expired_sessions(&mut conn, t0() + Duration::hours(2)).unwrap(),
            1
        );
    }

    #[test]
    fn a_flash_is_kept_until_cleared() {
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        insert_session(
            &mut conn,
            &hash('a'),
            &stored("alice", t0() + Duration::hours(1)),
            t0(),
        )
        .unwrap();
        let f = StoredFlash {
            kind: "redelivered",
            detail: Some("3".into()),
        };

        set_flash(&mut conn, &hash('a'), Some(&f)).unwrap();
        let kept = flash(&mut conn, &hash('a')).unwrap();
        set_flash(&mut conn, &hash('a'), None).unwrap();

        assert_eq!(kept, Some(f));
        assert_eq!(flash(&mut conn, &hash('a')).unwrap(), None);
    }

    #[test]
    fn failures_are_counted_per_peer_and_in_all_and_old_ones_deleted() {
        let (db, _dir) = temp_db();
        let mut conn = db.conn().unwrap();
        for s in 0..3 {
            record_failure(&mut conn, "203.0.113.7", t0() + Duration::seconds(s)).unwrap();
        }
        record_failure(&mut conn, "2001:db8:1:2::", t0()).unwrap();

        let peer = failures_since(&mut conn, "203.0.113.7", t0()).unwrap();
        let all = all_failures_since(&mut conn, t0() - Duration::seconds(1)).unwrap();
        let deleted = delete_failures_before(&mut conn, t0()).unwrap();
        let forgotten = forget_failures(&mut conn, "203.0.113.7").unwrap();

        assert_eq!((peer, all, deleted, forgotten), (2, 4, 2, 2));
        assert_eq!(
            all_failures_since(&mut conn, t0() - Duration::days(1)).unwrap(),
            0
        );
    }
}
