//! What only PostgreSQL has, in one place (SQLite's counterpart is `store::sqlite`): the
//! session settings every connection runs (`statement_timeout`) and the connect timeout,
//! the row and advisory locks a read-then-write takes so that writers from several
//! processes stay correct, the feed's commit-order lock, and the statements written in
//! PostgreSQL's own SQL (`$n` placeholders, `FOR UPDATE SKIP LOCKED`, `generate_series`).
//! It must not decide what they do: which rows retention keeps is `store::retention`'s,
//! which deliveries are due `store::deliveries'`; queries in diesel's DSL stay in the table
//! modules.

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{Builder, CustomizeConnection};
use diesel::sql_types::{BigInt, Integer, Text};
use diesel::Connection as _;

use super::schema::orders;
use super::synthetic::Numbered;
use super::{Connection, Lockable, Manager};
use crate::config::StoreSettings;

/// The session settings of every pooled connection.
#[derive(Debug)]
struct Session {
    /// `statement_timeout`: a statement that hangs (a lock never released, a plan gone
    /// wrong) fails after this long instead of holding a connection and its request.
    statement_timeout_ms: u128,
}

impl CustomizeConnection<Connection, diesel::r2d2::Error> for Session {
    fn on_acquire(&self, conn: &mut Connection) -> Result<(), diesel::r2d2::Error> {
        match conn {
            Connection::Pg(c) => c
                .batch_execute(&format!(
                    "SET statement_timeout = {}",
                    self.statement_timeout_ms
                ))
                .map_err(diesel::r2d2::Error::QueryError),
            Connection::Sqlite(_) => Ok(()),
        }
    }
}

/// The pool to build for PostgreSQL and the URL its connections use: the settings' URL
/// with libpq's `connect_timeout` (`store.connect_timeout`, whole seconds, at least 1)
/// unless the URL sets its own.
pub(super) fn prepare(settings: &StoreSettings, url: &str) -> (Builder<Manager>, String) {
    let seconds = settings.connect_timeout.as_secs().max(1);
    let url = match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.query_pairs().any(|(k, _)| k == "connect_timeout") => {
            parsed
                .query_pairs_mut()
                .append_pair("connect_timeout", &seconds.to_string());
            parsed.to_string()
        }
        _ => url.to_owned(),
    };
    // A connection is waited for no longer than one is given to connect: with the server
    // gone, a notification is answered FAILED after that, not after r2d2's default 30 s
    // (longer than the provider waits for an answer).
    let builder = diesel::r2d2::Pool::builder()
        .max_size(settings.pool_size)
        .connection_timeout(
            settings
                .connect_timeout
                .max(std::time::Duration::from_secs(1)),
        )
        .connection_customizer(Box::new(Session {
            statement_timeout_ms: settings.statement_timeout.as_millis(),
        }));
    (builder, url)
}

/// The advisory lock (in the two-key space, apart from [`lock_row`]'s) that orders the
/// feed: "umsg" as a number, and 1 for the feed.
const FEED_LOCK: (i32, i32) = (0x756d_7367, 1);

/// The readiness probe's write (run inside a write transaction): draws a transaction id,
/// so that the commit writes and flushes a commit record to the WAL like any write. A
/// server that cannot write (a full disk, a read-only standby) fails it, where an empty
/// transaction would pass.
pub(super) fn probe(conn: &mut PgConnection) -> Result<(), super::StoreError> {
    conn.batch_execute("SELECT pg_current_xact_id()")?;
    Ok(())
}

/// Takes the feed's lock until this transaction ends. Every transaction takes it just
/// before it inserts into `events`, so the ids of `events` are drawn one transaction at
/// a time and each is committed (visible) before the next transaction draws one: a
/// reader that has seen id `n` has seen every committed id below it
/// (docs/architecture.md §5, "The feed with several writers").
pub(super) fn lock_feed(conn: &mut PgConnection) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind::<Integer, _>(FEED_LOCK.0)
        .bind::<Integer, _>(FEED_LOCK.1)
        .execute(conn)?;
    Ok(())
}

/// `SELECT … FOR UPDATE` of the order row `id`: held until the transaction ends.
pub(super) fn lock_order(conn: &mut PgConnection, id: &str) -> QueryResult<()> {
    orders::table
        .find(id)
        .select(orders::version)
        .for_update()
        .execute(conn)?;
    Ok(())
}

/// An advisory lock on `row`, held until the transaction ends: unlike `FOR UPDATE` it
/// also holds for a row that does not exist yet (the first notice of a contract, the first
/// pass of an endpoint), which two writers would otherwise both insert.
pub(super) fn lock_row(conn: &mut PgConnection, row: Lockable<'_>) -> QueryResult<()> {
    let key = match row {
        Lockable::Contract(no) => format!("contracts:{no}"),
        Lockable::WebhookCursor(endpoint) => format!("webhook_cursors:{endpoint}"),
    };
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind::<Text, _>(key)
        .execute(conn)?;
    Ok(())
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// `deliveries::claim_due`'s choice: the ids of at most `limit` pending deliveries due at
/// `now_ms`, earliest event first, none with an earlier pending event of its order to the
/// same endpoint, locked; rows another transaction has locked (another instance's claim
/// in flight) are skipped, not waited for.
pub(super) fn due_deliveries(
    conn: &mut PgConnection,
    now_ms: i64,
    limit: i64,
) -> QueryResult<Vec<i64>> {
    Ok(diesel::sql_query(
        "SELECT d.id AS id FROM deliveries d \
         WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
         AND NOT EXISTS (SELECT 1 FROM deliveries e \
             WHERE e.status = 'pending' AND e.endpoint = d.endpoint \
             AND e.mer_order_id = d.mer_order_id AND e.event_seq < d.event_seq) \
         ORDER BY d.event_seq, d.id LIMIT $2 FOR UPDATE OF d SKIP LOCKED",
    )
    .bind::<BigInt, _>(now_ms)
    .bind::<BigInt, _>(limit)
    .load::<Id>(conn)?
    .into_iter()
    .map(|r| r.id)
    .collect())
}

/// As `sqlite::prune_journal`, in PostgreSQL's SQL.
pub(super) fn prune_journal(
    conn: &mut PgConnection,
    cutoff_ms: i64,
    batch: i64,
    not_final: &str,
) -> QueryResult<usize> {
    diesel::sql_query(format!(
        "DELETE FROM notifications WHERE id IN (
           SELECT n.id FROM notifications n
           WHERE n.received_at < $1 AND n.outcome IN ('rejected', 'duplicate')
             AND n.id NOT IN (SELECT CAST(substr(evidence, 14) AS BIGINT) FROM order_events
                              WHERE evidence LIKE 'notification:%')
             AND n.id NOT IN (SELECT CAST(substr(evidence, 14) AS BIGINT) FROM refunds
                              WHERE evidence LIKE 'notification:%')
             AND n.id NOT IN (SELECT notification_id FROM contracts
                              WHERE notification_id IS NOT NULL)
             AND (n.order_ref IS NULL OR n.order_ref NOT IN ({not_final}))
           ORDER BY n.id LIMIT $2)"
    ))
    .bind::<BigInt, _>(cutoff_ms)
    .bind::<BigInt, _>(batch)
    .execute(conn)
}

/// As `sqlite::prune_provider_calls`, in PostgreSQL's SQL.
pub(super) fn prune_provider_calls(
    conn: &mut PgConnection,
    cutoff_ms: i64,
    batch: i64,
    not_final: &str,
) -> QueryResult<usize> {
    diesel::sql_query(format!(
        "DELETE FROM provider_calls WHERE id IN (
           SELECT p.id FROM provider_calls p
           WHERE p.at < $1
             AND p.id NOT IN (SELECT CAST(substr(evidence, 6) AS BIGINT) FROM order_events
                              WHERE evidence LIKE 'call:%')
             AND (p.mer_order_id IS NULL OR p.mer_order_id NOT IN ({not_final}))
           ORDER BY p.id LIMIT $2)"
    ))
    .bind::<BigInt, _>(cutoff_ms)
    .bind::<BigInt, _>(batch)
    .execute(conn)
}

/// As `sqlite::insert_numbered_orders`, with `generate_series` and `lpad`.
pub(super) fn insert_numbered_orders(conn: &mut PgConnection, o: &Numbered<'_>) -> QueryResult<()> {
    let Numbered {
        prefix,
        n,
        status,
        expire_ms,
        next,
        now_ms,
    } = o;
    conn.batch_execute(&format!(
        "INSERT INTO orders (mer_order_id, mid, tid, inst_mid, binding, amount_fen, status, \
           preauth, expire_at, next_check_at, request_digest, created_at, updated_at, version) \
         SELECT '{prefix}' || lpad(i::text, 10, '0'), '898340149000005', '88880001', \
           'MINIDEFAULT', 'none', 100, '{status}', false, {expire_ms}, {next}, 'synthetic', \
           {now_ms}, {now_ms}, 1 \
         FROM generate_series(1::bigint, {n}::bigint) AS i"
    ))
}

/// The names of the tables in the current schema, diesel's own excepted (the migration
/// tests).
#[cfg(test)]
pub(super) fn tables(conn: &mut PgConnection) -> QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }
    Ok(diesel::sql_query(
        "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() \
         AND tablename != '__diesel_schema_migrations' ORDER BY tablename",
    )
    .load::<Name>(conn)?
    .into_iter()
    .map(|n| n.name)
    .collect())
}

/// A throw-away PostgreSQL database for a test: created migrated, from a template this
/// process migrates once (`CREATE DATABASE … TEMPLATE`, milliseconds), dropped with the
/// value. Databases and templates left by a process that died (named with its pid) are
/// dropped by the next process's first one. Tests only: the gateway never calls it.
#[derive(Debug)]
pub struct ScratchDatabase {
    server: String,
    name: String,
    url: String,
}

/// Prefix of the scratch databases' names, so that the sweep touches nothing else.
const SCRATCH_PREFIX: &str = "umsgate_t_";

/// The template of this process: its name, once migrated (or why it failed).
static TEMPLATE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// `server` with its database replaced by `name`.
fn with_database(server: &str, name: &str) -> Result<String, super::StoreError> {
    let mut url = url::Url::parse(server)
        .map_err(|e| super::StoreError::Unreachable(format!("test database URL: {e}")))?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

fn admin(server: &str) -> Result<PgConnection, super::StoreError> {
    Ok(PgConnection::establish(server)?)
}

/// Drops the scratch databases of processes that are gone.
fn sweep(conn: &mut PgConnection) -> Result<(), super::StoreError> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let names = diesel::sql_query(format!(
        "SELECT datname AS name FROM pg_database WHERE datname LIKE '{SCRATCH_PREFIX}%'"
    ))
    .load::<Name>(conn)?;
    for Name { name } in names {
        let pid = name[SCRATCH_PREFIX.len()..]
            .trim_start_matches("tpl_")
            .split('_')
            .next()
            .unwrap_or_default()
            .to_owned();
        let alive = pid.is_empty() || Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
        }
    }
    Ok(())
}

impl ScratchDatabase {
    /// A new migrated database on the server `server` (a `postgres://` URL whose user may
    /// create databases).
    pub fn create(server: &str) -> Result<Self, super::StoreError> {
        let pid = std::process::id();
        let template = {
            let mut template = TEMPLATE
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match &*template {
                Some(name) => name.clone(),
                None => {
                    let mut conn = admin(server)?;
                    sweep(&mut conn)?;
                    let name = format!("{SCRATCH_PREFIX}tpl_{pid}");
                    // Two statements: neither may run inside a transaction block.
                    conn.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\""))?;
                    conn.batch_execute(&format!("CREATE DATABASE \"{name}\""))?;
                    let mut tpl =
                        Connection::Pg(PgConnection::establish(&with_database(server, &name)?)?);
                    super::run_migrations(&mut tpl)?;
                    drop(tpl);
                    *template = Some(name.clone());
                    name
                }
            }
        };
        let name = format!("{SCRATCH_PREFIX}{pid}_{}", uuid::Uuid::new_v4().simple());
        admin(server)?.batch_execute(&format!(
            "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
        ))?;
        Ok(ScratchDatabase {
            url: with_database(server, &name)?,
            server: server.to_owned(),
            name,
        })
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        // Connections of the gateway under test may still be open: FORCE ends them.
        if let Ok(mut conn) = admin(&self.server) {
            let _ = conn.batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ));
        }
    }
}
