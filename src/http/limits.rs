//! The bounds of both listeners: the open-files limit raised at start, and each
//! listener's connection cap sized below it, so that slow or hostile clients can never take
//! the descriptors the database and the outbound calls need. It must not serve anything.

use std::time::Duration;

use crate::config::Settings;

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
