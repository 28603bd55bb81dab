//! What only SQLite has, in one place (PostgreSQL's counterpart is `store::postgres`):
//! the PRAGMAs every connection runs, the WAL switch of a new file, the file identity
//! guard ("deleted or replaced"), `BEGIN IMMEDIATE` write transactions, `VACUUM INTO`
//! backups, and the statements written in SQLite's own SQL (`?` placeholders,
//! `sqlite_master`, `substr`, `printf`, a recursive count). It must not decide what they
//! do: which rows retention keeps is `store::retention`'s, which deliveries are due
//! `store::deliveries`'; queries in diesel's DSL stay in the table modules.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection};
use diesel::r2d2::{Builder, CustomizeConnection};
use diesel::sql_types::BigInt;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection as _, RunQueryDsl};

use super::synthetic::Numbered;
use super::{Connection, Manager, StoreError};
use crate::config::StoreSettings;

/// PRAGMAs set on every connection the pool opens.
///
/// `synchronous = FULL`: WAL with `NORMAL` survives a process crash but can lose the last
/// commits on power loss, and a notification answered `SUCCESS` must never be lost, so
/// every commit is synced. The cost is measured in BENCHMARKS.md.
#[derive(Debug)]
pub(super) struct Pragmas {
    busy_timeout: Duration,
}

impl Pragmas {
    fn apply(&self, conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
             PRAGMA foreign_keys = ON;",
            self.busy_timeout.as_millis()
        ))
    }
}

impl CustomizeConnection<Connection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut Connection) -> Result<(), diesel::r2d2::Error> {
        match conn {
            Connection::Sqlite(c) => self.apply(c).map_err(diesel::r2d2::Error::QueryError),
            Connection::Pg(_) => Ok(()),
        }
    }
}

/// Creates the file and its directory and puts the file in WAL mode; returns the pool
/// to build, each of its connections set up by [`Pragmas`].
pub(super) fn prepare(settings: &StoreSettings) -> Result<Builder<Manager>, StoreError> {
    if let Some(dir) = settings.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let path = path_str(&settings.path);
    let pragmas = Pragmas {
        busy_timeout: settings.busy_timeout,
    };
    // One connection turns a new file to WAL before the pool opens its own: the switch
    // takes an exclusive lock that SQLite does not wait for (busy_timeout does not
    // apply), so pooled connections racing to switch a new file now and then failed
    // with "database is locked". On a file already in WAL the PRAGMA is a no-op.
    pragmas.apply(&mut SqliteConnection::establish(&path)?)?;
    Ok(diesel::r2d2::Pool::builder()
        .max_size(settings.pool_size)
        .connection_customizer(Box::new(pragmas)))
}

/// Copies the database at `settings.path` to `target` (which must not exist) while
/// others may be writing: `VACUUM INTO` reads one consistent snapshot.
pub(super) fn backup(settings: &StoreSettings, target: &Path) -> Result<(), StoreError> {
    if !settings.path.exists() {
        return Err(StoreError::Missing(settings.path.clone()));
    }
    if target.exists() {
        return Err(StoreError::Io(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} exists: a backup never overwrites", target.display()),
        )));
    }
    let mut conn = SqliteConnection::establish(&path_str(&settings.path))?;
    Pragmas {
        busy_timeout: settings.busy_timeout,
    }
    .apply(&mut conn)?;
    diesel::RunQueryDsl::execute(
        diesel::sql_query("VACUUM INTO ?").bind::<diesel::sql_types::Text, _>(path_str(target)),
        &mut conn,
    )?;
    Ok(())
}

/// Begins a write transaction with `BEGIN IMMEDIATE`: the write lock is taken at the
/// start, so a write that reads first cannot deadlock with another on the upgrade to
/// writing. `store::write_transaction` commits or rolls it back.
pub(super) fn begin_immediate(conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
    AnsiTransactionManager::begin_transaction_sql(conn, "BEGIN IMMEDIATE")
}

/// The user version, as `PRAGMA user_version` answers it.
#[derive(diesel::QueryableByName)]
struct UserVersion {
    #[diesel(sql_type = BigInt)]
    user_version: i64,
}

/// The readiness probe's write (run inside a write transaction): rewrites the header's
/// `user_version` with its own value (nothing reads it; migrations keep their own table),
/// so that the commit writes a page to the WAL and syncs it like any write. A full disk or
/// a read-only file fails it, where an empty transaction would pass.
pub(super) fn probe(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    let v = diesel::sql_query("PRAGMA user_version")
        .get_result::<UserVersion>(conn)?
        .user_version;
    conn.batch_execute(&format!("PRAGMA user_version = {v}"))?;
    Ok(())
}

/// Which file the database path named when it was opened: a path that later names
/// another file (deleted, or replaced by a restore or a stray `rm`) means that every
/// commit from then on lands in a file no one will open again.
pub(super) struct FileWatch {
    path: PathBuf,
    /// (device, inode) at open.
    identity: Option<(u64, u64)>,
    /// Set once the file is found gone; stays set (a restart opens the new file).
    lost: AtomicBool,
}

/// (device, inode) of the file at `path`, if there is one.
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(path).ok().map(|_| (0, 0))
    }
}

impl FileWatch {
    /// Notes the identity of the file at `path` now.
    pub(super) fn open(path: &Path) -> Self {
        FileWatch {
            path: path.to_path_buf(),
            identity: file_identity(path),
            lost: AtomicBool::new(false),
        }
    }

    /// Whether `path` still names the file it named at open; the first time it does not,
    /// one ERROR line.
    pub(super) fn check(&self) -> Result<(), StoreError> {
        if !self.lost.load(Ordering::Acquire) && file_identity(&self.path) == self.identity {
            return Ok(());
        }
        if !self.lost.swap(true, Ordering::AcqRel) {
            log::error!(
                "store: database file {} was deleted or replaced while serving: refusing every write (answered 503) until restart; restore the file from a backup if it was deleted",
                self.path.display()
            );
        }
        Err(StoreError::FileLost(self.path.clone()))
    }
}

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// `deliveries::claim_due`'s choice: the ids of at most `limit` pending deliveries due at
/// `now_ms`, earliest event first, none with an earlier pending event of its order to the
/// same endpoint (the write transaction holds the only write lock).
pub(super) fn due_deliveries(
    conn: &mut SqliteConnection,
    now_ms: i64,
    limit: i64,
) -> diesel::QueryResult<Vec<i64>> {
    Ok(diesel::sql_query(
        "SELECT d.id AS id FROM deliveries d \
         WHERE d.status = 'pending' AND d.next_attempt_at <= ? \
         AND NOT EXISTS (SELECT 1 FROM deliveries e \
             WHERE e.status = 'pending' AND e.endpoint = d.endpoint \
             AND e.mer_order_id = d.mer_order_id AND e.event_seq < d.event_seq) \
         ORDER BY d.event_seq, d.id LIMIT ?",
    )
    .bind::<BigInt, _>(now_ms)
    .bind::<BigInt, _>(limit)
    .load::<Id>(conn)?
    .into_iter()
    .map(|r| r.id)
    .collect())
}

/// The names of the tables, SQLite's and diesel's own excepted (the migration tests).
#[cfg(test)]
pub(super) fn tables(conn: &mut SqliteConnection) -> diesel::QueryResult<Vec<String>> {
    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    Ok(diesel::sql_query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name != '__diesel_schema_migrations' ORDER BY name",
    )
    .load::<Name>(conn)?
    .into_iter()
    .map(|n| n.name)
    .collect())
}

/// Deletes at most `batch` rejected or duplicate journal rows received before `cutoff_ms`
/// that nothing cites (an order event's or a refund's `notification:<id>`, a contract's
/// row) and that are not of an order in `not_final` (a query of `mer_order_id`s).
/// SQLite's own SQL: `substr` takes the id out of the evidence text.
pub(super) fn prune_journal(
    conn: &mut SqliteConnection,
    cutoff_ms: i64,
    batch: i64,
    not_final: &str,
) -> diesel::QueryResult<usize> {
    diesel::sql_query(format!(
        "DELETE FROM notifications WHERE id IN (
           SELECT n.id FROM notifications n
           WHERE n.received_at < ?1 AND n.outcome IN ('rejected', 'duplicate')
             AND n.id NOT IN (SELECT CAST(substr(evidence, 14) AS INTEGER) FROM order_events
                              WHERE evidence LIKE 'notification:%')
             AND n.id NOT IN (SELECT CAST(substr(evidence, 14) AS INTEGER) FROM refunds
                              WHERE evidence LIKE 'notification:%')
             AND n.id NOT IN (SELECT notification_id FROM contracts
                              WHERE notification_id IS NOT NULL)
             AND (n.order_ref IS NULL OR n.order_ref NOT IN ({not_final}))
           ORDER BY n.id LIMIT ?2)"
    ))
    .bind::<BigInt, _>(cutoff_ms)
    .bind::<BigInt, _>(batch)
    .execute(conn)
}

/// Deletes at most `batch` provider calls made before `cutoff_ms` that no order event
/// cites (`call:<id>`) and that are not of an order in `not_final`.
pub(super) fn prune_provider_calls(
    conn: &mut SqliteConnection,
    cutoff_ms: i64,
    batch: i64,
    not_final: &str,
) -> diesel::QueryResult<usize> {
    diesel::sql_query(format!(
        "DELETE FROM provider_calls WHERE id IN (
           SELECT p.id FROM provider_calls p
           WHERE p.at < ?1
             AND p.id NOT IN (SELECT CAST(substr(evidence, 6) AS INTEGER) FROM order_events
                              WHERE evidence LIKE 'call:%')
             AND (p.mer_order_id IS NULL OR p.mer_order_id NOT IN ({not_final}))
           ORDER BY p.id LIMIT ?2)"
    ))
    .bind::<BigInt, _>(cutoff_ms)
    .bind::<BigInt, _>(batch)
    .execute(conn)
}

/// Writes [`Numbered`] orders: a recursive count and `printf`.
pub(super) fn insert_numbered_orders(
    conn: &mut SqliteConnection,
    o: &Numbered<'_>,
) -> diesel::QueryResult<()> {
    let Numbered {
        prefix,
        n,
        status,
        expire_ms,
        next,
        now_ms,
    } = o;
    conn.batch_execute(&format!(
        "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < {n}) \
         INSERT INTO orders (mer_order_id, mid, tid, inst_mid, binding, amount_fen, status, \
           preauth, expire_at, next_check_at, request_digest, created_at, updated_at, version) \
         SELECT '{prefix}' || printf('%010d', i), '898340149000005', '88880001', 'MINIDEFAULT', \
           'none', 100, '{status}', 0, {expire_ms}, {next}, 'synthetic', {now_ms}, {now_ms}, 1 \
         FROM seq"
    ))
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use diesel::sql_query;

    use super::*;
    use crate::store::testing;

    #[test]
    fn nothing_outside_the_store_names_the_sqlite_connection() {
        // The seam holds only if the rest of the crate says `store::Connection`.
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let (mut dirs, mut named) = (vec![src.clone()], Vec::new());
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    if path != src.join("store") {
                        dirs.push(path);
                    }
                } else if std::fs::read_to_string(&path)
                    .unwrap_or_default()
                    .contains("SqliteConnection")
                {
                    named.push(path);
                }
            }
        }
        assert!(named.is_empty(), "{named:?}");
    }

    #[derive(diesel::QueryableByName)]
    struct Pragma {
        #[diesel(sql_type = diesel::sql_types::Text)]
        v: String,
    }

    #[test]
    fn a_new_pool_on_a_new_file_opens_every_connection_at_the_first_try() {
        // Arrange: fresh files, and a pool that counts the connections it failed to open
        // (r2d2 retries them, logging "database is locked" at ERROR).
        #[derive(Debug, Clone, Default)]
        struct Count(Arc<std::sync::atomic::AtomicUsize>);
        impl diesel::r2d2::HandleError<diesel::r2d2::Error> for Count {
            fn handle_error(&self, _: diesel::r2d2::Error) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let failed = Count::default();
        let dir = tempfile::tempdir().unwrap();

        // Act: 100 pools of 16 connections, each on a new file. (Without the WAL switch
        // first, 2 to 5 of the 100 had a connection fail.)
        for i in 0..100 {
            let path = dir.path().join(format!("{i}.db"));
            let mut settings = testing::sqlite_settings(path.clone());
            settings.pool_size = 16;
            let pool = prepare(&settings)
                .unwrap()
                .error_handler(Box::new(failed.clone()))
                .build(Manager {
                    target: super::super::Target::Sqlite(path),
                })
                .unwrap();
            assert_eq!(pool.state().connections, 16);
        }

        // Assert
        assert_eq!(failed.0.load(std::sync::atomic::Ordering::Relaxed), 0);
    }

    #[test]
    fn every_pooled_connection_has_wal_busy_timeout_foreign_keys_and_full_sync() {
        let (db, _dir) = testing::temp_sqlite_db();
        // Hold several connections at once so that more than one is opened.
        let mut conns: Vec<_> = (0..3).map(|_| db.conn().unwrap()).collect();
        for conn in &mut conns {
            let Connection::Sqlite(conn) = &mut **conn else {
                panic!("a SQLite database")
            };
            let q = |c: &mut SqliteConnection, p: &str| {
                let column = if p == "busy_timeout" { "timeout" } else { p };
                sql_query(format!(
                    "SELECT CAST({column} AS TEXT) AS v FROM pragma_{p}"
                ))
                .get_result::<Pragma>(c)
                .unwrap()
                .v
            };
            assert_eq!(q(conn, "journal_mode"), "wal");
            assert_eq!(q(conn, "foreign_keys"), "1");
            assert_eq!(q(conn, "busy_timeout"), "5000");
            assert_eq!(q(conn, "synchronous"), "2", "FULL");
        }
    }
}
