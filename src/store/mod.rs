//! The store (docs/architecture.md §5): the pool, embedded migrations, and synchronous
//! queries that take `&mut Connection` so that callers compose them in one transaction.
//! What only SQLite has is in `sqlite`; [`Connection`] is the seam a second backend joins.
//! Rows are re-parsed into domain types on the way out. It must not decide transitions
//! (it applies `domain::order::decide`) nor run on the async executor (`Db::run` moves the
//! work to the blocking pool).

pub mod attempts;
pub mod auth;
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
mod sqlite;
pub mod synthetic;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::r2d2::{ConnectionManager, PooledConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::StoreSettings;

/// The migrations in `migrations/`, compiled in.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The connection every store function takes, and the one name the rest of the crate
/// uses for it: the seam for a second backend. Today SQLite's; the next issue makes it a
/// diesel `MultiConnection` over SQLite and PostgreSQL here, and nowhere else.
pub type Connection = diesel::sqlite::SqliteConnection;
/// A pool of connections.
pub type Pool = diesel::r2d2::Pool<ConnectionManager<Connection>>;
/// One pooled connection.
pub type Conn = PooledConnection<ConnectionManager<Connection>>;

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
    /// Whether this error says that the database does not take writes (a full disk, an I/O
    /// error, a lock held too long, a lost file, no connection), as opposed to what one
    /// write found (a lost compare-and-set, a row that does not parse, a constraint).
    pub fn is_write_failure(&self) -> bool {
        use diesel::result::{DatabaseErrorKind as Kind, Error as Diesel};
        !matches!(
            self,
            StoreError::Conflict(_)
                | StoreError::Corrupt { .. }
                | StoreError::Query(Diesel::NotFound)
                | StoreError::Query(Diesel::DatabaseError(
                    Kind::UniqueViolation
                        | Kind::ForeignKeyViolation
                        | Kind::NotNullViolation
                        | Kind::CheckViolation,
                    _,
                ))
        )
    }

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
    file: Arc<sqlite::FileWatch>,
    /// Write transactions of this process take turns here before they ask SQLite for its
    /// write lock. SQLite's own wait (`busy_timeout`) polls with sleeps that grow to 100 ms,
    /// so under many concurrent writers a waiter keeps missing the lock: with 16 or 64
    /// notifications in flight some waited 2.5-4.9 s, and past `busy_timeout` one is
    /// answered 500 (BENCHMARKS.md). Blocked on this mutex instead, a writer is woken as
    /// soon as the lock is free; the slowest waits under 200 ms, for the same throughput.
    writer: Arc<Mutex<()>>,
    /// Blocking tasks of this database queued or running. A stopped loop drops its future,
    /// not the task it handed to the blocking pool: [`Db::settle`] waits for those.
    tasks: Arc<AtomicUsize>,
    /// What the latest write attempts came to, for [`Db::writable`].
    writes: Arc<Mutex<WriteHealth>>,
}

/// How long the latest write's outcome stands for the store's readiness: past it with no
/// write, [`Db::writable`] writes a probe. Short enough that a gateway taken out of
/// rotation (so written to no more) is back within seconds of its disk recovering; long
/// enough that a readiness check polled every few seconds on a busy gateway costs nothing.
pub const WRITE_OUTCOME_STANDS: Duration = Duration::from_secs(10);

/// The outcome of the latest write attempts: a failed write sets `failing` (keeping the
/// time of the first failure), a successful one clears it.
#[derive(Default)]
struct WriteHealth {
    /// When the latest write succeeded.
    last_ok: Option<Instant>,
    /// Since when writes fail, when the latest one failed, and why.
    failing: Option<(Instant, Instant, String)>,
}

impl WriteHealth {
    /// Notes a write's outcome; logs the moment writes start failing and the one they
    /// succeed again.
    fn record(&mut self, failure: Option<&StoreError>, now: Instant) {
        match (failure, &mut self.failing) {
            (None, failing) => {
                if let Some((since, _, _)) = failing.take() {
                    log::info!(
                        "store: writes succeed again after failing for {} s",
                        now.duration_since(since).as_secs()
                    );
                }
                self.last_ok = Some(now);
            }
            (Some(e), Some((_, last, why))) => {
                (*last, *why) = (now, e.to_string());
            }
            (Some(e), failing @ None) => {
                log::error!(
                    "store: writes are failing (/readyz answers 503 until one succeeds): {e}"
                );
                *failing = Some((now, now, e.to_string()));
            }
        }
    }

    /// What the latest write says of the store at `now`, if it is recent enough to stand.
    fn standing(&self, now: Instant) -> Option<Result<(), String>> {
        let recent = |t: Instant| now.duration_since(t) < WRITE_OUTCOME_STANDS;
        match &self.failing {
            Some((since, last, why)) if recent(*last) => Some(Err(format!(
                "writes failing for {} s: {why}",
                now.duration_since(*since).as_secs()
            ))),
            Some(_) => None,
            None => self.last_ok.filter(|t| recent(*t)).map(|_| Ok(())),
        }
    }
}

/// How often [`Db::settle`] looks again: a write takes milliseconds.
const SETTLE_POLL: Duration = Duration::from_millis(10);

/// One blocking task counted in [`Db::tasks`] from its spawn to its end (a panic included).
struct Task(Arc<AtomicUsize>);

impl Task {
    fn start(tasks: &Arc<AtomicUsize>) -> Self {
        tasks.fetch_add(1, Ordering::AcqRel);
        Task(tasks.clone())
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
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
        let (builder, manager) = sqlite::prepare(settings)?;
        let pool = builder.build(manager)?;
        Ok(Db {
            pool,
            file: Arc::new(sqlite::FileWatch::open(&settings.path)),
            writer: Default::default(),
            tasks: Default::default(),
            writes: Default::default(),
        })
    }

    /// Copies the database at `settings.path` to `target` (which must not exist) while
    /// others may be writing: `VACUUM INTO` reads one consistent snapshot.
    pub fn backup(settings: &StoreSettings, target: &Path) -> Result<(), StoreError> {
        sqlite::backup(settings, target)
    }

    /// Whether the file this database was opened on is still the file at its path.
    pub fn check_file(&self) -> Result<(), StoreError> {
        self.file.check()
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
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (pool, task) = (self.pool.clone(), Task::start(&self.tasks));
        off_executor(move || {
            let _task = task;
            let mut conn = pool.get().map_err(StoreError::from)?;
            f(&mut conn)
        })
        .await
    }

    /// Waits until no task of this database is queued or running in the blocking pool.
    /// After a stop, the last write has then ended: its file may be moved or removed
    /// without the guard taking it for a file lost under a running gateway.
    pub async fn settle(&self) {
        while self.tasks.load(Ordering::Acquire) > 0 {
            tokio::time::sleep(SETTLE_POLL).await;
        }
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction, off the async executor, after the
    /// writes of this process queued before it. A write that reads first must take the write
    /// lock first, or two writers deadlock on lock upgrade.
    ///
    /// The file is checked before the commit (a write to a deleted file is rolled back) and
    /// after it (a deletion racing the commit): either way the caller gets
    /// [`StoreError::FileLost`], so nothing is acknowledged that is not in the file the
    /// operator sees. Every outcome is noted for [`Db::writable`].
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let (writer, pool, file) = (self.writer.clone(), self.pool.clone(), self.file.clone());
        let task = Task::start(&self.tasks);
        let done: Result<T, StoreError> = off_executor(move || {
            let _task = task;
            // The turn first, then a connection: writers waiting for their turn must not
            // hold pooled connections that readers need. The mutex guards no data:
            // poisoned by a write that panicked, it is still sound.
            let _turn = writer.lock().unwrap_or_else(PoisonError::into_inner);
            file.check()?;
            let mut conn = pool.get().map_err(StoreError::from)?;
            let done = sqlite::write_transaction(&mut conn, |c| {
                let done = f(c)?;
                file.check()?;
                Ok::<T, StoreError>(done)
            })?;
            file.check()?;
            Ok(done)
        })
        .await;
        let failure = done.as_ref().err().filter(|e| e.is_write_failure());
        self.writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(failure, Instant::now());
        done
    }

    /// Whether the store takes writes now: not if its file was lost; otherwise what the
    /// latest write came to, if one was attempted within [`WRITE_OUTCOME_STANDS`]; otherwise
    /// what a probe write (one page, synced) comes to. The error says why, in words.
    pub async fn writable(&self) -> Result<(), String> {
        self.check_file().map_err(|e| e.to_string())?;
        let standing = self
            .writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .standing(Instant::now());
        match standing {
            Some(outcome) => outcome,
            None => self.write(sqlite::probe).await.map_err(|e| e.to_string()),
        }
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

/// Runs pending migrations on one connection; returns their names (as in `migrations/`).
pub fn run_migrations(conn: &mut Connection) -> Result<Vec<String>, StoreError> {
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
    use diesel::connection::SimpleConnection;
    use diesel::sql_query;
    use diesel::RunQueryDsl;

    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }

    fn tables(conn: &mut Connection) -> Vec<String> {
        sql_query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != '__diesel_schema_migrations' ORDER BY name")
            .load::<Name>(conn)
            .unwrap()
            .into_iter()
            .map(|n| n.name)
            .collect()
    }

    #[test]
    fn only_the_databases_own_failures_mark_writes_failing_and_a_success_clears_them() {
        use diesel::result::{DatabaseErrorKind as Kind, Error as Diesel};
        let db = |kind| StoreError::Query(Diesel::DatabaseError(kind, Box::new("x".to_owned())));
        let full = db(Kind::Unknown);
        assert!(full.is_write_failure());
        assert!(StoreError::FileLost(PathBuf::from("x")).is_write_failure());
        for found in [
            StoreError::Conflict("1017".into()),
            StoreError::corrupt("orders", "1017", "status"),
            db(Kind::UniqueViolation),
        ] {
            assert!(!found.is_write_failure(), "{found}");
        }
        let (mut health, t0) = (WriteHealth::default(), Instant::now());
        let at = |s| t0 + Duration::from_secs(s);

        assert_eq!(health.standing(t0), None, "no write yet: a probe decides");
        health.record(Some(&full), at(1));
        health.record(Some(&full), at(5));
        let failing = health.standing(at(14));
        health.record(None, at(15));

        assert_eq!(
            failing,
            Some(Err("writes failing for 13 s: database query: x".into()))
        );
        assert_eq!(health.standing(at(16)), Some(Ok(())));
        assert_eq!(health.standing(at(25)), None, "too old to stand");
    }

    #[test]
    fn every_migration_runs_up_all_down_and_up_again() {
        let (db, _dir) = testing::temp_db();
        let mut conn = db.conn().unwrap();
        let all = [
            "console_sessions",
            "contracts",
            "deliveries",
            "delivery_attempts",
            "events",
            "notifications",
            "operator_failures",
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
        // The console sessions' migration, then the review one.
        conn.revert_last_migration(MIGRATIONS).unwrap();
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
}
