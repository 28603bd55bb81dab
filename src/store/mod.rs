//! The store (docs/architecture.md §5): the pool, embedded migrations, and synchronous
//! queries that take `&mut Connection` so that callers compose them in one transaction.
//! [`Connection`] is SQLite's or PostgreSQL's; every query is written once, in diesel's
//! DSL, for both. What only one backend has is in `sqlite` or `postgres`, and nowhere
//! else. Rows are re-parsed into domain types on the way out. It must not decide
//! transitions (it applies `domain::order::decide`) nor run on the async executor
//! (`Db::run` moves the work to the blocking pool).

/// Runs one diesel statement that diesel's multi-backend cannot build (`ON CONFLICT`,
/// which it does not support) on the connection of whichever backend `$conn` is: the
/// same DSL expression, compiled once for each, so there is still one query text.
macro_rules! per_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::Connection::Sqlite($c) => $body,
            $crate::store::Connection::Pg($c) => $body,
        }
    };
}

pub mod attempts;
pub mod auth;
pub mod console;
pub mod contracts;
pub mod deliveries;
pub mod events;
pub mod notifications;
pub mod orders;
pub mod outbox;
mod postgres;
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
use diesel::connection::TransactionManager;
use diesel::r2d2::{ManageConnection, PooledConnection, R2D2Connection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::StoreSettings;

pub use postgres::ScratchDatabase;

/// SQLite's migrations (`migrations/sqlite/`), compiled in.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
/// PostgreSQL's migrations (`migrations/postgres/`), compiled in: the same versions, in
/// PostgreSQL's own DDL.
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// The connection every store function takes, and the one name the rest of the crate
/// uses for it: SQLite's (`store.path`) or PostgreSQL's (`store.url`). Diesel's
/// `MultiConnection` makes one query in its DSL run on either.
pub type Connection = AnyConnection;

pub use any::{AnyConnection, MultiBackend};

mod any {
    //! [`AnyConnection`] alone: its derive glob-imports diesel's `Connection` trait and
    //! everything of its parent module, so no other `Connection` may be in scope here.

    /// [`super::Connection`]'s enum (say `Connection` everywhere else).
    #[derive(diesel::MultiConnection)]
    pub enum AnyConnection {
        /// The embedded default.
        Sqlite(diesel::sqlite::SqliteConnection),
        /// A PostgreSQL server, shared by several gateways.
        Pg(diesel::pg::PgConnection),
    }
}

/// A pool of connections.
pub type Pool = diesel::r2d2::Pool<Manager>;
/// One pooled connection.
pub type Conn = PooledConnection<Manager>;

/// Which database the settings name: a PostgreSQL URL (`store.url`) or else the SQLite
/// file at `store.path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The file.
    Sqlite(PathBuf),
    /// The server (the URL holds the password: never shown).
    Postgres(crate::secret::Secret),
}

impl Target {
    /// What `settings` select.
    pub fn of(settings: &StoreSettings) -> Self {
        match &settings.url {
            Some(url) => Target::Postgres(url.clone()),
            None => Target::Sqlite(settings.path.clone()),
        }
    }

    /// For log lines: the file's path, or the URL with its password `[redacted]`.
    pub fn shown(&self) -> String {
        match self {
            Target::Sqlite(path) => path.display().to_string(),
            Target::Postgres(url) => crate::config::redacted_url(url.expose()),
        }
    }
}

/// Opens connections of the backend the settings name, never another: diesel's own
/// `establish` tries each backend in turn, and SQLite would take a `postgres://` URL for
/// a file name.
#[derive(Debug)]
pub struct Manager {
    target: Target,
}

impl ManageConnection for Manager {
    type Connection = Connection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Connection, Self::Error> {
        use diesel::Connection as _;
        match &self.target {
            Target::Sqlite(path) => {
                diesel::sqlite::SqliteConnection::establish(&path.to_string_lossy())
                    .map(Connection::Sqlite)
            }
            Target::Postgres(url) => {
                diesel::pg::PgConnection::establish(url.expose()).map(Connection::Pg)
            }
        }
        .map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut Connection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut Connection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

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
    /// The pool could not open its connections at start: the server is down or
    /// unreachable, or refuses the credentials (libpq's words; never the password).
    #[error("database unreachable: {0}")]
    Unreachable(String),
    /// `umsgate backup` on PostgreSQL: the server's own tools do that.
    #[error("umsgate backup copies a SQLite file; a PostgreSQL database is backed up with the server's own tools: pg_dump for a consistent dump, or continuous archiving (base backup plus WAL) for point-in-time recovery (docs/operations.md, \"Backups\")")]
    BackupElsewhere,
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
    /// SQLite: the file as it was opened, to notice it being deleted or replaced.
    file: Option<Arc<sqlite::FileWatch>>,
    /// SQLite: write transactions of this process take turns here before they ask SQLite
    /// for its write lock. SQLite's own wait (`busy_timeout`) polls with sleeps that grow
    /// to 100 ms, so under many concurrent writers a waiter keeps missing the lock: with 16
    /// or 64 notifications in flight some waited 2.5-4.9 s, and past `busy_timeout` one is
    /// answered 500 (BENCHMARKS.md). Blocked on this mutex instead, a writer is woken as
    /// soon as the lock is free; the slowest waits under 200 ms, for the same throughput.
    /// PostgreSQL has none: its writers run side by side, from every process, and take
    /// row locks where they read before they write.
    writer: Option<Arc<Mutex<()>>>,
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
                // The cause is the failed request's own to log (once, where it is
                // answered); this line says only that readiness changed.
                log::error!(
                    "store: writes are failing (/readyz answers 503 until one succeeds; each failed write logs its cause)"
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
    /// Opens the database (SQLite: creating the file and its directory only when
    /// `store.create_if_missing` says so), sets up every connection, runs pending
    /// migrations and logs them by name.
    pub fn open(settings: &StoreSettings) -> Result<Self, StoreError> {
        let db = Self::connect(settings)?;
        for name in db.migrate()? {
            log::info!("store: applied migration {name}");
        }
        log::info!("store: database {}", Target::of(settings).shown());
        Ok(db)
    }

    /// Opens without migrating (for `umsgate migrate`, which reports what it applies).
    pub fn connect(settings: &StoreSettings) -> Result<Self, StoreError> {
        let (manager, builder, file, writer) = match Target::of(settings) {
            Target::Sqlite(path) => {
                if !settings.create_if_missing && !path.exists() {
                    return Err(StoreError::Missing(path));
                }
                let builder = sqlite::prepare(settings)?;
                let file = Arc::new(sqlite::FileWatch::open(&path));
                let manager = Manager {
                    target: Target::Sqlite(path),
                };
                (manager, builder, Some(file), Some(Arc::default()))
            }
            Target::Postgres(url) => {
                let (builder, url) = postgres::prepare(settings, url.expose());
                let manager = Manager {
                    target: Target::Postgres(crate::secret::Secret::new(url)),
                };
                // One connection first, so that a server down or refusing us fails
                // start-up within the connect timeout with libpq's reason, rather than
                // after the pool's wait with r2d2's.
                manager
                    .connect()
                    .map_err(|e| StoreError::Unreachable(e.to_string()))?;
                (manager, builder, None, None)
            }
        };
        let pool = builder
            .build(manager)
            .map_err(|e| StoreError::Unreachable(e.to_string()))?;
        Ok(Db {
            pool,
            file,
            writer,
            tasks: Default::default(),
            writes: Default::default(),
        })
    }

    /// Copies the SQLite database at `settings.path` to `target` (which must not exist)
    /// while others may be writing: `VACUUM INTO` reads one consistent snapshot. On
    /// PostgreSQL it refuses: the server's own tools back it up (docs/operations.md).
    pub fn backup(settings: &StoreSettings, target: &Path) -> Result<(), StoreError> {
        match Target::of(settings) {
            Target::Sqlite(_) => sqlite::backup(settings, target),
            Target::Postgres(_) => Err(StoreError::BackupElsewhere),
        }
    }

    /// Whether the file this database was opened on is still the file at its path
    /// (always, on PostgreSQL).
    pub fn check_file(&self) -> Result<(), StoreError> {
        self.file.as_ref().map_or(Ok(()), |f| f.check())
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

    /// Runs `f` in one write transaction, off the async executor. SQLite: `BEGIN
    /// IMMEDIATE`, after the writes of this process queued before it (a write that reads
    /// first must take the write lock first, or two writers deadlock on lock upgrade).
    /// PostgreSQL: `BEGIN` (read committed), side by side with every other writer; the
    /// store functions lock the rows they read before writing.
    ///
    /// SQLite's file is checked before the commit (a write to a deleted file is rolled
    /// back) and after it (a deletion racing the commit): either way the caller gets
    /// [`StoreError::FileLost`], so nothing is acknowledged that is not in the file the
    /// operator sees. Every outcome is noted for [`Db::writable`].
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let (writer, pool, db) = (self.writer.clone(), self.pool.clone(), self.clone());
        let task = Task::start(&self.tasks);
        let done: Result<T, StoreError> = off_executor(move || {
            let _task = task;
            // The turn first, then a connection: writers waiting for their turn must not
            // hold pooled connections that readers need. The mutex guards no data:
            // poisoned by a write that panicked, it is still sound.
            let _turn = writer
                .as_ref()
                .map(|w| w.lock().unwrap_or_else(PoisonError::into_inner));
            db.check_file()?;
            let mut conn = pool.get().map_err(StoreError::from)?;
            let done = write_transaction(&mut conn, |c| {
                let done = f(c)?;
                db.check_file()?;
                Ok::<T, StoreError>(done)
            })?;
            db.check_file()?;
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
            None => self
                .write(|conn| match conn {
                    Connection::Sqlite(c) => sqlite::probe(c),
                    Connection::Pg(c) => postgres::probe(c),
                })
                .await
                .map_err(|e| e.to_string()),
        }
    }
}

/// Runs `f` in one write transaction of `conn`'s backend (see [`Db::write`]); rolled back
/// when it fails.
pub fn write_transaction<T, E, F>(conn: &mut Connection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut Connection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        Connection::Sqlite(c) => sqlite::begin_immediate(c)?,
        Connection::Pg(_) => Connection::begin_transaction(conn)?,
    }
    match f(conn) {
        Ok(done) => {
            Connection::commit_transaction(conn)?;
            Ok(done)
        }
        Err(e) => match Connection::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(e),
            Err(rollback) => Err(rollback.into()),
        },
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

/// The migrations of `conn`'s backend.
pub fn migrations(conn: &Connection) -> EmbeddedMigrations {
    match conn {
        Connection::Sqlite(_) => SQLITE_MIGRATIONS,
        Connection::Pg(_) => POSTGRES_MIGRATIONS,
    }
}

/// Runs pending migrations on one connection; returns their names (as in
/// `migrations/<backend>/`).
pub fn run_migrations(conn: &mut Connection) -> Result<Vec<String>, StoreError> {
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
    let names: Vec<String> = conn
        .pending_migrations(migrations(conn))
        .map_err(failed)?
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    conn.run_pending_migrations(migrations(conn))
        .map_err(failed)?;
    Ok(names)
}

/// Makes the rows this transaction inserts into the feed (`events`) visible in the order
/// of their ids: called just before such an insert, it waits for every other transaction
/// that has inserted one to end (PostgreSQL; SQLite's one writer at a time already does).
pub(crate) fn lock_feed(conn: &mut Connection) -> Result<(), StoreError> {
    match conn {
        Connection::Sqlite(_) => Ok(()),
        Connection::Pg(c) => Ok(postgres::lock_feed(c)?),
    }
}

/// Locks the order row `id` until the end of this transaction (PostgreSQL: `FOR UPDATE`;
/// SQLite's write transaction holds the whole file already), so that a read-then-write
/// of the order sees the last committed version and no one else's in between.
pub(crate) fn lock_order(conn: &mut Connection, id: &str) -> Result<(), StoreError> {
    match conn {
        Connection::Sqlite(_) => Ok(()),
        Connection::Pg(c) => Ok(postgres::lock_order(c, id)?),
    }
}

/// Locks the row keyed `key` of `table` (one of [`Lockable`]) until the end of this
/// transaction, as [`lock_order`] does.
pub(crate) fn lock_row(conn: &mut Connection, row: Lockable<'_>) -> Result<(), StoreError> {
    match conn {
        Connection::Sqlite(_) => Ok(()),
        Connection::Pg(c) => Ok(postgres::lock_row(c, row)?),
    }
}

/// A row a read-then-write locks on PostgreSQL.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Lockable<'a> {
    /// A contract's stored state, by `contract_no` (it may not exist yet).
    Contract(&'a str),
    /// A webhook endpoint's cursor, by endpoint (it may not exist yet).
    WebhookCursor(&'a str),
}

/// The variable naming a PostgreSQL server for the tests (`postgres://…/test`): set, the
/// store's unit tests and the integration suite run on PostgreSQL, each test in a fresh
/// database of its own ([`ScratchDatabase`]); unset, on SQLite files.
pub const TEST_DATABASE_URL: &str = "UMSGATE_TEST_DATABASE_URL";

#[cfg(test)]
pub(crate) mod testing {
    //! A store for unit tests: a temporary SQLite file, or a scratch PostgreSQL database
    //! when [`TEST_DATABASE_URL`] is set.
    use super::*;

    /// What keeps a test database alive; dropping it removes the database.
    #[derive(Debug)]
    pub enum Guard {
        /// The SQLite file's directory.
        Dir {
            /// Removed when dropped.
            _dir: tempfile::TempDir,
        },
        /// The PostgreSQL database.
        Pg {
            /// Dropped when dropped.
            _db: ScratchDatabase,
        },
    }

    /// Settings of a SQLite file at `path`.
    pub fn sqlite_settings(path: PathBuf) -> StoreSettings {
        StoreSettings {
            url: None,
            path,
            pool_size: 4,
            busy_timeout: Duration::from_secs(5),
            create_if_missing: true,
            statement_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// A fresh database: on the server [`TEST_DATABASE_URL`] names, else a SQLite file.
    pub fn temp_db() -> (Db, Guard) {
        match std::env::var(TEST_DATABASE_URL) {
            Ok(server) if !server.is_empty() => {
                let scratch = ScratchDatabase::create(&server).expect("scratch database");
                let mut settings = sqlite_settings(PathBuf::from("unused.db"));
                settings.url = Some(crate::secret::Secret::new(scratch.url()));
                let db = Db::open(&settings).expect("open db");
                (db, Guard::Pg { _db: scratch })
            }
            _ => {
                let (db, dir) = temp_sqlite_db();
                (db, Guard::Dir { _dir: dir })
            }
        }
    }

    /// A database in a fresh temporary directory (kept alive by the returned guard), for
    /// the tests about SQLite itself.
    pub fn temp_sqlite_db() -> (Db, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open(&sqlite_settings(dir.path().join("test.db"))).expect("open db");
        (db, dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::SimpleConnection;

    fn tables(conn: &mut Connection) -> Vec<String> {
        match conn {
            Connection::Sqlite(c) => sqlite::tables(c).unwrap(),
            Connection::Pg(c) => postgres::tables(c).unwrap(),
        }
    }

    #[test]
    fn both_backends_have_the_same_migration_versions_as_before_the_split() {
        // The SQLite versions are those of the single migrations/ directory before the
        // split, so an existing file finds nothing to apply; PostgreSQL has the same ones.
        use diesel::migration::MigrationSource;
        let versions = |m: EmbeddedMigrations| -> Vec<String> {
            MigrationSource::<diesel::sqlite::Sqlite>::migrations(&m)
                .unwrap()
                .iter()
                .map(|m| m.name().version().to_string())
                .collect()
        };
        let sqlite = versions(SQLITE_MIGRATIONS);
        assert_eq!(
            sqlite[..6],
            [
                "20261121000001",
                "20261130000001",
                "20261130000014",
                "20261130000015",
                "20261130000016",
                "20261130000017"
            ]
        );
        assert_eq!(versions(POSTGRES_MIGRATIONS), sqlite);
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

        conn.revert_all_migrations(migrations(&conn)).unwrap();
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
        // The gateway refunds' migration, the console sessions', then the review one.
        conn.revert_last_migration(migrations(&conn)).unwrap();
        conn.revert_last_migration(migrations(&conn)).unwrap();
        conn.revert_last_migration(migrations(&conn)).unwrap();
        conn.batch_execute(
            "INSERT INTO orders (mer_order_id, mid, tid, inst_mid, binding, amount_fen, status, \
               refunded_amount_fen, preauth, expire_at, needs_review, review_reason, \
               check_attempts, request_digest, created_at, updated_at, version) \
             VALUES ('1017MIGR0001', '898340149000005', '88880001', 'QRPAYDEFAULT', 'none', 100, \
               'PENDING', 0, false, 1800000000000, true, 'amount mismatch', 0, 'd', \
               1700000000000, 1700000005000, 2); \
             INSERT INTO order_events (mer_order_id, to_status, source, reason, at) \
             VALUES ('1017MIGR0001', 'PENDING', 'api', 'created', 1700000000000), \
                    ('1017MIGR0001', 'PENDING', 'notify', 'review: amount mismatch', 1700000005000);",
        )
        .unwrap();

        let id = crate::domain::ids::MerOrderId::parse_stored("1017MIGR0001").unwrap();
        // Only the id column: the others of the newest schema are not there yet.
        let ids = |conn: &mut Connection| -> Vec<i64> {
            use diesel::{QueryDsl, RunQueryDsl};
            schema::order_events::table
                .select(schema::order_events::id)
                .order(schema::order_events::id)
                .load(conn)
                .unwrap()
        };
        let before = ids(&mut conn);

        // Act
        run_migrations(&mut conn).unwrap();

        // Assert
        let order = orders::find(&mut conn, &id).unwrap().unwrap();
        let review = order.review.unwrap();
        assert_eq!(review.reason, "amount mismatch");
        assert_eq!(review.since.timestamp_millis(), 1_700_000_005_000);
        assert_eq!(before.len(), 2);
        assert_eq!(ids(&mut conn), before);
        conn.batch_execute(
            "INSERT INTO order_events (mer_order_id, to_status, source, at, operator, note) \
             VALUES ('1017MIGR0001', 'PENDING', 'operator', 1700000009000, 'alice', 'ok')",
        )
        .unwrap();
        let after = events::list_for(&mut conn, &id).unwrap();
        assert!(
            after.last().map(|e| e.id) > before.last().copied(),
            "ids are never reused"
        );
    }
}
