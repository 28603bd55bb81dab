//! PostgreSQL as the store (`store.url`): the event feed read during many concurrent
//! writers misses nothing (run on the suite's backend, `UMSGATE_TEST_DATABASE_URL`: on
//! SQLite it holds by the single writer, on PostgreSQL by the feed's commit-order lock,
//! docs/architecture.md §5), and the real binary's commands with a `postgres://` URL:
//! `migrate` on the suite's backend, and what needs no server (the URL's scheme, its
//! password redacted, `backup` refused, a server that is not there).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use umsgate::domain::ids::MerOrderId;
use umsgate::domain::money::Amount;
use umsgate::domain::observe::{Observation, Seen, Timing};
use umsgate::domain::order::Source;
use umsgate::domain::record::{NewOrder, Order};
use umsgate::store::{orders, outbox, write_transaction, StoreError};

use crate::helpers::{umsgate, TestApp, TestDatabase};

/// Runs the real binary in `dir` with `store` as `UMSGATE__STORE__URL` (or SQLite's file
/// in `dir` when `None`) and `args`; its exit, stdout and stderr.
fn command(dir: &std::path::Path, store: Option<&str>, args: &[&str]) -> (bool, String, String) {
    let mut command = umsgate(dir);
    command.env("UMSGATE__STORE__PATH", dir.join("gateway.db"));
    if let Some(url) = store {
        command.env("UMSGATE__STORE__URL", url);
    }
    let out = command.args(args).output().expect("umsgate runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A URL with a password, of a server where nothing listens (port 1 on loopback).
const NOWHERE: &str = "postgresql://umsgate:s3cret-pass@127.0.0.1:1/umsgate?sslmode=require";

#[test]
fn migrate_on_the_suites_database_applies_nothing_to_a_migrated_one_and_names_it() {
    // Arrange: the suite's database (a scratch PostgreSQL database is created migrated).
    let db = TestDatabase::new();

    // Act
    let (ok, stdout, stderr) = command(db.path(), db.url(), &["migrate"]);
    let (again, second, _) = command(db.path(), db.url(), &["migrate"]);

    // Assert
    assert!(ok && again, "{stdout}{stderr}");
    assert!(second.contains("is up to date\n"), "{second}");
    if let Some(url) = db.url() {
        assert!(
            stdout.contains(url.rsplit('/').next().unwrap_or_default()),
            "{stdout}"
        );
    }
}

#[test]
fn check_config_shows_the_database_url_with_only_its_password_redacted() {
    let dir = tempfile::tempdir().unwrap();

    let (ok, stdout, stderr) = command(dir.path(), Some(NOWHERE), &["check-config"]);

    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(
            "store.url = \"postgresql://umsgate:[redacted]@127.0.0.1:1/umsgate?sslmode=require\""
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("s3cret") && !stderr.contains("s3cret"));
}

#[test]
fn a_store_url_of_another_scheme_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();

    let (ok, _, stderr) = command(
        dir.path(),
        Some("mysql://u:p@127.0.0.1/db"),
        &["check-config"],
    );

    assert!(!ok);
    assert!(
        stderr.contains(
            "`store.url` (UMSGATE__STORE__URL): must be a postgres:// or postgresql:// URL"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("u:p@"), "{stderr}");
}

#[test]
fn backup_on_postgresql_refuses_and_points_to_pg_dump() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("copy.db");

    let (ok, _, stderr) = command(
        dir.path(),
        Some(NOWHERE),
        &["backup", target.to_str().unwrap()],
    );

    assert!(!ok);
    assert!(
        stderr.contains("pg_dump") && stderr.contains("continuous archiving"),
        "{stderr}"
    );
    assert!(!target.exists());
}

#[test]
fn start_up_with_the_database_server_unreachable_fails_with_libpqs_reason_and_no_password() {
    let dir = tempfile::tempdir().unwrap();

    let (ok, _, stderr) = command(dir.path(), Some(NOWHERE), &["serve"]);

    assert!(!ok);
    assert!(stderr.contains("database unreachable"), "{stderr}");
    assert!(stderr.contains("127.0.0.1"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
}

/// Writer threads: more than the pool has connections, so writers also queue for those.
const WRITERS: usize = 12;
/// Orders each writer creates, one transaction each (each writes one event).
const ORDERS_EACH: usize = 25;

fn order(i: usize) -> Order {
    let now = umsgate::clock::Clock::system().now();
    Order::create(
        NewOrder {
            id: MerOrderId::parse_stored(&format!("1017FEED{i:08}")).expect("id"),
            mid: "898340149000005".into(),
            tid: "88880001".into(),
            inst_mid: "MINIDEFAULT".into(),
            qr_code_id: None,
            amount: Amount::from_fen(100).expect("amount"),
            description: None,
            preauth: false,
            expire_at: now + chrono::Duration::hours(1),
            request_digest: format!("feed-{i}"),
        },
        now,
        now + chrono::Duration::hours(1),
    )
}

#[actix_web::test]
async fn a_reader_following_the_feed_during_many_concurrent_writers_misses_no_event() {
    // Arrange: writers that each create orders in transactions that stay open a moment
    // after their event is written (as a payment's journal row or a slow commit would), so
    // that, without the feed's lock, a later id often commits before an earlier one.
    let app = TestApp::spawn_with(json!({"store": {"pool_size": 16}})).await;
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let db = app.db.clone();
            std::thread::spawn(move || {
                for k in 0..ORDERS_EACH {
                    let i = w * ORDERS_EACH + k;
                    let mut conn = db.conn().expect("connection");
                    write_transaction(&mut conn, |c| {
                        orders::create(c, &order(i))?;
                        std::thread::sleep(Duration::from_millis(
                            u64::try_from(i % 3).unwrap_or(0),
                        ));
                        Ok::<_, StoreError>(())
                    })
                    .expect("order written");
                }
            })
        })
        .collect();
    let finisher = {
        let done = done.clone();
        std::thread::spawn(move || {
            for w in writers {
                w.join().expect("writer");
            }
            done.store(true, Ordering::Release);
        })
    };

    // Act: follow the feed with `after=` throughout, and once more after the last commit.
    let mut seen = Vec::<String>::new();
    let mut after = "0".to_owned();
    loop {
        let finished = done.load(Ordering::Acquire);
        let (status, page) = app.get(&format!("/events?after={after}&limit=50")).await;
        assert_eq!(status, 200, "{page}");
        let events = page["events"].as_array().expect("events").clone();
        seen.extend(
            events
                .iter()
                .map(|e| e["id"].as_str().expect("id").to_owned()),
        );
        after = page["next"].as_str().expect("next").to_owned();
        if finished && events.is_empty() {
            break;
        }
        if events.is_empty() {
            actix_web::rt::time::sleep(Duration::from_millis(1)).await;
        }
    }
    finisher.join().expect("writers");

    // Assert: every event of the final table was seen, each once.
    let mut conn = app.db.conn().expect("connection");
    let table: Vec<String> = outbox::page(
        &mut conn,
        &outbox::FeedFilter {
            limit: 100_000,
            ..Default::default()
        },
    )
    .expect("feed")
    .into_iter()
    .map(|e| e.id)
    .collect();
    assert_eq!(table.len(), WRITERS * ORDERS_EACH);
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "an event was shown twice");
    let missed: Vec<&String> = table.iter().filter(|id| !unique.contains(id)).collect();
    assert!(
        missed.is_empty(),
        "the reader missed {} of {} events, e.g. {:?}",
        missed.len(),
        table.len(),
        missed.first()
    );
}

#[actix_web::test]
async fn concurrent_checks_of_one_order_each_apply_once_and_none_loses_its_compare_and_set() {
    // Arrange: one order, and threads that each record checks of it at once (as the
    // reconcilers of several instances and an operator's resync would). On PostgreSQL the
    // order's row lock makes a writer wait and read the new version; without it a writer
    // would read the same version as another and lose its compare-and-set (Conflict).
    let app = TestApp::spawn().await;
    let first = order(99_999_999);
    let mut conn = app.db.conn().unwrap();
    write_transaction(&mut conn, |c| orders::create(c, &first)).unwrap();
    drop(conn);
    const THREADS: usize = 8;
    const CHECKS_EACH: usize = 20;
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (db, id) = (app.db.clone(), first.id.clone());
            std::thread::spawn(move || {
                let timing = Timing {
                    expiry_grace: Duration::from_secs(120),
                    backoff: vec![Duration::from_secs(30)],
                    settled_backoff: Vec::new(),
                };
                let check = Observation::of(Seen::Nothing, Source::Query, None).as_check(0.5);
                let mut failures = Vec::new();
                for _ in 0..CHECKS_EACH {
                    let mut conn = db.conn().expect("connection");
                    let now = umsgate::clock::Clock::system().now();
                    if let Err(e) = write_transaction(&mut conn, |c| {
                        orders::apply(c, &id, &check, &timing, now)
                    }) {
                        failures.push(e.to_string());
                    }
                }
                failures
            })
        })
        .collect();

    // Act
    let failures: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("thread"))
        .collect();

    // Assert: every check applied, one version each.
    assert!(
        failures.is_empty(),
        "{} failed, e.g. {:?}",
        failures.len(),
        failures.first()
    );
    let mut conn = app.db.conn().unwrap();
    let after = orders::find(&mut conn, &first.id).unwrap().unwrap();
    assert_eq!(
        after.version,
        1 + i64::try_from(THREADS * CHECKS_EACH).unwrap()
    );
    assert_eq!(
        after.schedule.attempts,
        u32::try_from(THREADS * CHECKS_EACH).unwrap()
    );
}
