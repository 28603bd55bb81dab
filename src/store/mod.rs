//! SQLite storage (docs/architecture.md §5): the pool, embedded migrations, and synchronous queries
//! that take `&mut SqliteConnection` so that callers compose them in one transaction.
//! Rows are re-parsed into domain types on the way out. It must not decide transitions
//! (it applies `domain::order::decide`) nor run on the async executor (`Db::run` moves the
//! work to the blocking pool).

pub mod attempts;
pub mod console;
pub mod contracts;
pub mod deliveries;
pub mod events;
pub mod notifications;
pub mod orders;
pub mod outbox;
pub mod provider_calls;
pub mod refunds;
pub mod retention;
pub mod schema;
pub mod synthetic;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::StoreSettings;

/// The migrations in `migrations/`, compiled in.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// A pool of SQLite connections.
pub type Pool = diesel::r2d2::Pool<ConnectionManager<SqliteConnection>>;
/// One pooled connection.
pub type Conn = PooledConnection<ConnectionManager<SqliteConnection>>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No connection could be had.
    #[error("database pool: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    /// A query failed.
    #[error("database query: {0}")]
    Query(#[from] diesel::result::Error),
    /// Migrations failed.
    #[error("database migration: {0}")]
    Migration(String),
    /// A stored row does not parse back: the database was changed behind our back.
    #[error("stored {table} row {key} is invalid: {reason}")]
    Corrupt {
        /// Table.
        table: &'static str,
        /// Row key.
        key: String,
        /// What does not parse.
        reason: String,
    },
    /// The row changed since it was read (compare-and-set on `version` lost).
    #[error("order {0} changed concurrently")]
    Conflict(String),
    /// The blocking task did not complete.
    #[error("database task: {0}")]
    Blocking(String),
    /// The database file could not be opened.
    #[error("database open: {0}")]
    Open(#[from] diesel::ConnectionError),
    /// The database directory could not be created.
    #[error("database directory: {0}")]
    Io(#[from] std::io::Error),
    /// Start-up found no database file and may not create one.
    #[error("database file {} does not exist: run `umsgate migrate` to create it (or restore it from a backup; store.create_if_missing = true lets start-up create it)", .0.display())]
    Missing(PathBuf),
    /// The database file was deleted or replaced while the gateway served: writes would
    /// go to a file no one sees.
    #[error("database file {} was deleted or replaced while the gateway was running: writes are refused until it is restarted", .0.display())]
    FileLost(PathBuf),
}

impl StoreError {
    pub(crate) fn corrupt(
        table: &'static str,
        key: impl Into<String>,
        reason: impl ToString,
    ) -> Self {
        StoreError::Corrupt {
            table,
            key: key.into(),
            reason: reason.to_string(),
        }
    }
}

/// PRAGMAs set on every connection the pool opens.
///
/// `synchronous = FULL`: WAL with `NORMAL` survives a process crash but can lose the last
/// commits on power loss, and a notification answered `SUCCESS` must never be lost, so
/// every commit is synced. The cost is measured in BENCHMARKS.md.
#[derive(Debug)]
struct Pragmas {
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

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        self.apply(conn).map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Milliseconds since the Unix epoch, as stored.
pub fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Reads stored milliseconds back.
pub(crate) fn from_ms(
    table: &'static str,
    key: &str,
    ms: i64,
) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::corrupt(table, key, format!("time {ms} out of range")))
}

/// The database: a pool, and the way to use it from async code.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    /// The file as it was opened, to notice it being deleted or replaced.
    file: Arc<FileWatch>,
    /// Write transactions of this process take turns here before they ask SQLite for its
    /// write lock. SQLite's own wait (`busy_timeout`) polls with sleeps that grow to 100 ms,
    /// so under many concurrent writers a waiter keeps missing the lock: with 16 or 64
    /// notifications in flight some waited 2.5-4.9 s, and past `busy_timeout` one is
    /// answered 500 (BENCHMARKS.md). Blocked on this mutex instead, a writer is woken as
    /// soon as the lock is free; the slowest waits under 200 ms, for the same throughput.
    writer: Arc<Mutex<()>>,
}

/// Which file the database path named when it was opened: a path that later names
/// another file (deleted, or replaced by a restore or a stray `rm`) means that every
/// commit from then on lands in a file no one will open again.
struct FileWatch {
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
    fn check(&self) -> Result<(), StoreError> {
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

impl Db {
    /// Opens the database file (creating it and its directory only when
    /// `store.create_if_missing` says so), sets PRAGMAs on every connection, runs pending
    /// migrations and logs them by name.
    pub fn open(settings: &StoreSettings) -> Result<Self, StoreError> {
        let db = Self::connect(settings)?;
        for name in db.migrate()? {
            log::info!("store: applied migration {name}");
        }
        log::info!("store: database {}", settings.path.display());
        Ok(db)
    }

    /// Opens without migrating (for `umsgate migrate`, which reports what it applies).
    pub fn connect(settings: &StoreSettings) -> Result<Self, StoreError> {
        if !settings.create_if_missing && !settings.path.exists() {
            return Err(StoreError::Missing(settings.path.clone()));
        }
        let (builder, manager) = Self::prepare(settings)?;
        let pool = builder.build(manager)?;
        Ok(Db {
            pool,
            file: Arc::new(FileWatch {
                path: settings.path.clone(),
                identity: file_identity(&settings.path),
                lost: AtomicBool::new(false),
            }),
            writer: Default::default(),
        })
    }

    /// Copies the database at `settings.path` to `target` (which must not exist) while
    /// others may be writing: `VACUUM INTO` reads one consistent snapshot.
    pub fn backup(settings: &StoreSettings, target: &Path) -> Result<(), StoreError> {
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

    /// Whether the file this database was opened on is still the file at its path.
    pub fn check_file(&self) -> Result<(), StoreError> {
        self.file.check()
    }

    /// Creates the file and its directory and puts the file in WAL mode; returns the pool
    /// to build.
    fn prepare(
        settings: &StoreSettings,
    ) -> Result<
        (
            diesel::r2d2::Builder<ConnectionManager<SqliteConnection>>,
            ConnectionManager<SqliteConnection>,
        ),
        StoreError,
    > {
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
        let builder = diesel::r2d2::Pool::builder()
            .max_size(settings.pool_size)
            .connection_customizer(Box::new(pragmas));
        Ok((builder, ConnectionManager::new(path)))
    }

    /// Runs pending migrations; returns the versions applied.
    pub fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn()?;
        run_migrations(&mut conn)
    }

    /// A connection, for synchronous callers (CLI, tests, blocking tasks).
    pub fn conn(&self) -> Result<Conn, StoreError> {
        Ok(self.pool.get()?)
    }

    /// Runs `f` on a pooled connection in the blocking pool, off the async executor.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut SqliteConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        off_executor(move || {
            let mut conn = pool.get().map_err(StoreError::from)?;
            f(&mut conn)
        })
        .await
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction, off the async executor, after the
    /// writes of this process queued before it. A write that reads first must take the write
    /// lock first, or two writers deadlock on lock upgrade.
    ///
    /// The file is checked before the commit (a write to a deleted file is rolled back) and
    /// after it (a deletion racing the commit): either way the caller gets
    /// [`StoreError::FileLost`], so nothing is acknowledged that is not in the file the
    /// operator sees.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut SqliteConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + From<diesel::result::Error> + Send + 'static,
    {
        let (writer, pool, file) = (self.writer.clone(), self.pool.clone(), self.file.clone());
        off_executor(move || {
            // The turn first, then a connection: writers waiting for their turn must not
            // hold pooled connections that readers need. The mutex guards no data:
            // poisoned by a write that panicked, it is still sound.
            let _turn = writer.lock().unwrap_or_else(PoisonError::into_inner);
            file.check()?;
            let mut conn = pool.get().map_err(StoreError::from)?;
            let done = conn.immediate_transaction(|c| {
                let done = f(c)?;
                file.check()?;
                Ok::<T, E>(done)
            })?;
            file.check()?;
            Ok(done)
        })
        .await
    }
}

/// Runs blocking `f` in tokio's blocking pool; a panic in `f` becomes a `StoreError`.
async fn off_executor<T, E, F>(f: F) -> Result<T, E>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| E::from(StoreError::Blocking(e.to_string())))?
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Runs pending migrations on one connection; returns their names (as in `migrations/`).
pub fn run_migrations(conn: &mut SqliteConnection) -> Result<Vec<String>, StoreError> {
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
    let names: Vec<String> = conn
        .pending_migrations(MIGRATIONS)
        .map_err(failed)?
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    conn.run_pending_migrations(MIGRATIONS).map_err(failed)?;
    Ok(names)
}

#[cfg(test)]
pub(crate) mod testing {
    //! A store on a temporary file, for unit tests.
    use super::*;

    /// A database in a fresh temporary directory (kept alive by the returned guard).
    pub fn temp_db() -> (Db, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open(&StoreSettings {
            path: dir.path().join("test.db"),
            pool_size: 4,
            busy_timeout: Duration::from_secs(5),
            create_if_missing: true,
        })
        .expect("open db");
        (db, dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sql_query;
    use diesel::RunQueryDsl;

    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }

    fn tables(conn: &mut SqliteConnection) -> Vec<String> {
        sql_query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != '__diesel_schema_migrations' ORDER BY name")
            .load::<Name>(conn)
            .unwrap()
            .into_iter()
            .map(|n| n.name)
            .collect()
    }

    #[test]
    fn every_migration_runs_up_all_down_and_up_again() {
        let (db, _dir) = testing::temp_db();
        let mut conn = db.conn().unwrap();
        let all = [
            "contracts",
            "deliveries",
            "delivery_attempts",
            "events",
            "notifications",
            "order_events",
            "orders",
            "payment_attempts",
            "provider_calls",
            "refunds",
            "webhook_cursors",
        ];
        assert_eq!(tables(&mut conn), all);

        conn.revert_all_migrations(MIGRATIONS).unwrap();
        assert!(tables(&mut conn).is_empty());

        let applied = run_migrations(&mut conn).unwrap();
        assert!(!applied.is_empty());
        assert_eq!(tables(&mut conn), all);
        assert!(
            run_migrations(&mut conn).unwrap().is_empty(),
            "nothing left to apply"
        );
    }

    #[test]
    fn a_database_flagged_before_the_review_migration_keeps_its_flags_history_and_ids() {
        // Arrange: the schema as it was before operators and review times, with a flagged
        // order and two history entries.
        let (db, _dir) = testing::temp_db();
        let mut conn = db.conn().unwrap();
        conn.revert_last_migration(MIGRATIONS).unwrap();
        conn.batch_execute(
            "INSERT INTO orders (mer_order_id, mid, tid, inst_mid, binding, amount_fen, status, \
               refunded_amount_fen, preauth, expire_at, needs_review, review_reason, \
               check_attempts, request_digest, created_at, updated_at, version) \
             VALUES ('1017MIGR0001', '898340149000005', '88880001', 'QRPAYDEFAULT', 'none', 100, \
               'PENDING', 0, 0, 1800000000000, 1, 'amount mismatch', 0, 'd', \
               1700000000000, 1700000005000, 2); \
             INSERT INTO order_events (id, mer_order_id, to_status, source, reason, at) \
             VALUES (7, '1017MIGR0001', 'PENDING', 'api', 'created', 1700000000000), \
                    (9, '1017MIGR0001', 'PENDING', 'notify', 'review: amount mismatch', 1700000005000);",
        )
        .unwrap();

        // Act
        run_migrations(&mut conn).unwrap();

        // Assert
        let id = crate::domain::ids::MerOrderId::parse_stored("1017MIGR0001").unwrap();
        let order = orders::find(&mut conn, &id).unwrap().unwrap();
        let review = order.review.unwrap();
        assert_eq!(review.reason, "amount mismatch");
        assert_eq!(review.since.timestamp_millis(), 1_700_000_005_000);
        let ids: Vec<i64> = events::list_for(&mut conn, &id)
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, [7, 9]);
        conn.batch_execute(
            "INSERT INTO order_events (mer_order_id, to_status, source, at, operator, note) \
             VALUES ('1017MIGR0001', 'PENDING', 'operator', 1700000009000, 'alice', 'ok')",
        )
        .unwrap();
        let after = events::list_for(&mut conn, &id).unwrap();
        assert_eq!(after.last().map(|e| e.id), Some(10), "ids are never reused");
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
            let settings = StoreSettings {
                path: dir.path().join(format!("{i}.db")),
                pool_size: 16,
                busy_timeout: Duration::from_secs(5),
                create_if_missing: true,
            };
            let (builder, manager) = Db::prepare(&settings).unwrap();
            let pool = builder
                .error_handler(Box::new(failed.clone()))
                .build(manager)
                .unwrap();
            assert_eq!(pool.state().connections, 16);
        }

        // Assert
        assert_eq!(failed.0.load(std::sync::atomic::Ordering::Relaxed), 0);
    }

    #[test]
    fn every_pooled_connection_has_wal_busy_timeout_foreign_keys_and_full_sync() {
        let (db, _dir) = testing::temp_db();
        // Hold several connections at once so that more than one is opened.
        let mut conns: Vec<_> = (0..3).map(|_| db.conn().unwrap()).collect();
        for conn in &mut conns {
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
