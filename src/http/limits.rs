//! The bounds of both listeners: the open-files limit raised at start, each listener's
//! connection cap sized below it, so that slow or hostile clients can never take the
//! descriptors the database and the outbound calls need; and the operators' failure limit
//! (refused tokens at the console's sign-in and on the `/admin` bearer routes, counted in
//! the store so that every instance on the database shares it). It must not serve anything
//! nor look at a token.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::client_addr::counted_as;
use crate::config::Settings;
use crate::store::{auth, Db, StoreError};

/// Refused operator tokens one address (an IPv6 /64) may present within
/// [`FAILURE_WINDOW`]; the next attempt is answered 429 without looking at its token. Five
/// covers typos; a guesser gets 7 200 tries a day, against tokens of 16+ random characters.
pub const MAX_FAILURES: i64 = 5;
/// Refused operator tokens from all addresses together within [`FAILURE_WINDOW`], on every
/// instance of the database: four addresses' worth, so that eleven (or a thousand) addresses
/// get no more guesses than four. Past it every address is answered 429 until the window
/// slides on (a flood closes sign-in for its duration; open sessions keep working).
pub const MAX_FAILURES_ALL: i64 = 4 * MAX_FAILURES;
/// The window both limits look back over: the last minute.
pub const FAILURE_WINDOW: chrono::Duration = chrono::Duration::seconds(60);

/// Whether an operator's token may be looked at now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Under both limits.
    Open,
    /// Over one: answer 429 with `Retry-After`.
    Limited {
        /// Seconds until the window has surely slid past every failure counted now.
        retry_after_secs: u64,
    },
}

/// The key of `peer` in the failures table: the address it is counted as (`-` when the
/// request had no address, which only the limit of all counts).
fn peer_key(peer: Option<IpAddr>) -> String {
    peer.map_or_else(|| "-".to_owned(), |p| counted_as(p).to_string())
}

/// Whether a request from `peer` at `now` may present an operator's token: fewer than
/// [`MAX_FAILURES`] refusals from its address and fewer than [`MAX_FAILURES_ALL`] from all
/// within [`FAILURE_WINDOW`].
pub async fn operator_admission(
    db: &Db,
    peer: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<Admission, StoreError> {
    let key = peer_key(peer);
    let since = now - FAILURE_WINDOW;
    let (own, all) = db
        .run(move |conn| {
            let own = match peer {
                Some(_) => auth::failures_since(conn, &key, since)?,
                None => 0,
            };
            Ok::<_, StoreError>((own, auth::all_failures_since(conn, since)?))
        })
        .await?;
    Ok(if own >= MAX_FAILURES || all >= MAX_FAILURES_ALL {
        Admission::Limited {
            retry_after_secs: u64::try_from(FAILURE_WINDOW.num_seconds()).unwrap_or(60),
        }
    } else {
        Admission::Open
    })
}

/// Counts a refused operator token from `peer` at `now`, and deletes the refusals that
/// every window has left behind (so the table holds about one window's worth).
pub async fn operator_refused(
    db: &Db,
    peer: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let key = peer_key(peer);
    db.write(move |conn| {
        auth::delete_failures_before(conn, now - FAILURE_WINDOW)?;
        auth::record_failure(conn, &key, now)
    })
    .await
}

/// Forgets `peer`'s refusals: it signed in to the console.
pub async fn operator_admitted(db: &Db, peer: Option<IpAddr>) -> Result<(), StoreError> {
    if peer.is_none() {
        return Ok(());
    }
    let key = peer_key(peer);
    db.write(move |conn| auth::forget_failures(conn, &key).map(drop))
        .await
}

/// Descriptors the process needs besides its clients and its pool: stdio, the log, the
/// listeners, the runtime's epoll and event fds per worker thread, the embedded sandbox
/// and its clients, the migration connection. Counted generously (~30 in a quiet process).
const BASE_RESERVE: u64 = 64;
/// Descriptors per pooled SQLite connection in WAL mode: the database, `-wal` and `-shm`.
const FDS_PER_DB_CONNECTION: u64 = 3;
/// Outbound calls in flight besides the reconciler's (binds and completions the api makes,
/// the token fetch): one socket each.
const OUTBOUND_RESERVE: u64 = 64;

/// The whole body of a request must arrive within this time (app data of each listener,
/// read by `http::body::read_up_to`).
#[derive(Clone, Copy, Debug)]
pub struct BodyTimeout(pub Duration);

/// The connection caps in force, per listener (all workers together).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// The open-files soft limit after raising it.
    pub nofile: u64,
    /// Descriptors kept for everything but clients.
    pub reserve: u64,
    /// The api listener's cap.
    pub api: usize,
    /// The notify listener's cap.
    pub notify: usize,
}

/// Raises the open-files soft limit to the hard limit (logging both), then returns it.
/// Where the platform has no such limit, a large stand-in.
pub fn raise_nofile() -> u64 {
    match rlimit::Resource::NOFILE.get() {
        Ok((soft, hard)) => {
            let raised = rlimit::increase_nofile_limit(hard).unwrap_or(soft);
            log::info!("open files: soft limit {soft}, hard limit {hard}; now {raised}");
            raised
        }
        Err(e) => {
            log::warn!("open files: limit not readable ({e}); assuming 65536");
            65536
        }
    }
}

/// The caps: the configured ones, lowered when together they would not fit in `nofile`
/// minus the reserve: `BASE_RESERVE + FDS_PER_DB_CONNECTION × store.pool_size +
/// reconcile.concurrency + OUTBOUND_RESERVE`. What is left is shared in proportion to the
/// configured caps, each at least one connection per worker.
pub fn caps(settings: &Settings, nofile: u64) -> Caps {
    let reserve = BASE_RESERVE
        + FDS_PER_DB_CONNECTION * u64::from(settings.store.pool_size)
        + u64::from(settings.reconcile.concurrency)
        + OUTBOUND_RESERVE;
    let room = usize::try_from(nofile.saturating_sub(reserve)).unwrap_or(usize::MAX);
    let (api, notify) = (
        settings.api.listener.max_connections,
        settings.notify.listener.max_connections,
    );
    let wanted = api.saturating_add(notify);
    let (api, notify) = if wanted <= room {
        (api, notify)
    } else {
        // Proportional share, rounded down: the sum stays within `room`.
        let share = |n: usize| n.saturating_mul(room) / wanted.max(1);
        (share(api), share(notify))
    };
    Caps {
        nofile,
        reserve,
        api: api.max(settings.api.listener.workers),
        notify: notify.max(settings.notify.listener.workers),
    }
}

/// actix counts `max_connections` per worker: a listener's cap shared by its workers.
pub fn per_worker(cap: usize, workers: usize) -> usize {
    (cap / workers.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::{Format, Toml};
    use figment::Figment;

    fn settings() -> Settings {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let f = Figment::new().merge(Toml::file_exact(dir.join("default.toml")));
        Settings::from_figment(f, crate::config::Environment::Sandbox).unwrap()
    }

    #[test]
    fn caps_fit_below_the_open_files_limit_with_the_reserve_kept() {
        let s = settings();

        let roomy = caps(&s, 1_000_000);
        let default = caps(&s, 1024);
        let small = caps(&s, 256);

        assert_eq!((roomy.api, roomy.notify), (1000, 1000));
        // 64 + 3 × 8 + 8 + 64 = 160 kept; 864 shared in proportion.
        assert_eq!(
            (default.reserve, default.api, default.notify),
            (160, 432, 432)
        );
        assert_eq!((small.api, small.notify), (48, 48));
        assert!(small.api + small.notify + usize::try_from(small.reserve).unwrap() <= 256);
    }

    #[test]
    fn actix_counts_connections_per_worker() {
        assert_eq!(per_worker(48, 2), 24);
        assert_eq!(per_worker(1, 4), 1);
    }
}
