//! The five measurements of issue 7, each with the limit it is compared with, measured in
//! the same run: notification ingest, order reads, reconciliation, resolution under dropped
//! notifications, memory at 100,000 orders; and issue 13's genuine-notification latency
//! with slow clients held, against the same gateway without them; issue 15's time from a
//! notification to its webhook's 2xx and to a long-poll's answer, against the same
//! notifications' ingest latency. Every loop is bounded in count and in time.
//! Each run gets a fresh database under the work directory and its own gateway process.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use awc::http::Method;
use diesel::prelude::*;
use serde_json::json;
use umsgate::config::Settings;
use umsgate::domain::ids::MerOrderId;
use umsgate::domain::order::{OrderStatus, Source};
use umsgate::notify::payment::{self, Verdict};
use umsgate::notify::{BodyRead, Outcome, Received};
use umsgate::store::{events, orders, provider_calls, schema, Db, StoreError};

use crate::child::Server;
use crate::fixtures::{self, open_db, seed_orders, AMOUNT_FEN, FORM_CONTENT_TYPE};
use crate::load::{self, drive, percentile, Run};

/// Time limit of one measured load phase: long enough for thousands of requests and a
/// stable rate, short enough that the whole script stays within a few minutes.
const PHASE: Duration = Duration::from_secs(6);
/// Orders each gateway ingest phase may use up: the phase stops at this count or at
/// `PHASE`, whichever comes first; well above what 6 s of fsync-bound commits reach.
const INGEST_ORDERS: usize = 15_000;
/// Time limit of a limit-loop slice, and the orders a per-commit slice and the
/// group-commit slice may use up (again well above what the time limit lets through).
const LIMIT_SLICE: Duration = Duration::from_secs(4);
const LIMIT_ORDERS: usize = 10_000;
const GROUP_ORDERS: usize = 40_000;
/// Notifications per transaction in the group-commit variant of the ingest limit: enough
/// to amortise the fsync, small enough that a batch waits a few milliseconds at most.
const GROUP: usize = 32;
/// Connections of the order-read phases (issue 7).
const READ_CONNS: usize = 64;
/// Orders the read phases pick from (issue 7).
const READ_ORDERS: usize = 10_000;
/// Due orders of each reconciliation run (issue 7).
const RECONCILE_ORDERS: usize = 5_000;
/// The sandbox's query delay in the reconciliation runs, ms (issue 7).
const QUERY_DELAY_MS: u64 = 20;
/// `max_qps` that never binds: above what any concurrency here could reach (32 × 50).
const UNBOUND_QPS: u32 = 100_000;
/// The cap of the rate-cap run and its order count (about 4 s at the cap).
const CAP_QPS: u32 = 100;
const CAP_ORDERS: usize = 400;
/// Connections that set up orders at the sandbox or through the API, and the time limit
/// of a set-up (thousands of in-memory sandbox calls take a second or two).
const SETUP_CONNS: usize = 16;
const SETUP_LIMIT: Duration = Duration::from_secs(60);
/// Orders held by the memory run (issue 7's goal is stated at this size).
const MEMORY_ORDERS: usize = 100_000;
/// How many of them are read through the API in that run: as many as the read run's
/// orders, enough to bring pages of the whole table into SQLite's caches.
const MEMORY_READS: usize = 10_000;

/// A remote address for journal rows written without HTTP.
const LOOPBACK_PEER: &str = "127.0.0.1:40000";

/// A fresh database path for run `name` (its old file, WAL and log removed).
fn fresh(work: &Path, name: &str) -> PathBuf {
    let path = work.join(format!("{name}.db"));
    for ext in ["db", "db-wal", "db-shm", "log"] {
        let _ = std::fs::remove_file(path.with_extension(ext));
    }
    path
}

fn first_key(settings: &Settings) -> String {
    settings.notify.keys[0].expose().to_owned()
}

// ---------------------------------------------------------------- 1. notification ingest

/// A limit loop's figures.
pub struct Limit {
    /// Notifications per second.
    pub rate: f64,
    /// Notifications per transaction.
    pub per_commit: usize,
    /// Latency of one transaction (ms) at p50 and p99.
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// One concurrency level: the gateway, and the limit loop run just before it.
pub struct Level {
    pub conns: usize,
    pub run: Run,
    pub limit: Limit,
}

/// Notification ingest at each level, and the group-commit variant of the limit.
pub struct Ingest {
    pub levels: Vec<Level>,
    pub group: Limit,
    /// SUCCESS replies in all levels, and orders PAID in the gateway's database after.
    pub acked: usize,
    pub paid: i64,
    pub rss: u64,
}

/// Notifications for `ids` as the handler has them before its transaction: received,
/// parsed and verified (`payment::examine`) — outside any clock.
fn examined(settings: &Settings, ids: &[String]) -> Vec<(Received, Verdict)> {
    let key = first_key(settings);
    ids.iter()
        .map(|id| {
            let received = Received {
                at: umsgate::clock::Clock::system().now(),
                body: fixtures::paid_notification(settings, id, &key),
                read: BodyRead::Whole,
                content_type: Some(FORM_CONTENT_TYPE.into()),
                request_id: None,
                remote_addr: Some(LOOPBACK_PEER.into()),
            };
            let (mid, tid) = (&settings.provider.mid, &settings.provider.tid);
            let verdict = payment::examine(&received, &[key.as_str()], mid, tid);
            (received, verdict)
        })
        .collect()
}

/// The limit: what the gateway's transaction costs on this disk with nothing around it.
/// The clock runs over `payment::record` — the journal insert, `store::orders::apply` (the
/// order's compare-and-set update and its event) and the outcome — `per_commit` notices
/// per immediate transaction, on one connection, in a tight loop, for at most `limit`.
fn limit_loop(
    settings: &Settings,
    db: &Db,
    notices: &[(Received, Verdict)],
    per_commit: usize,
    limit: Duration,
) -> Limit {
    let timing = settings.reconcile.timing();
    let mut conn = db.conn().expect("connection");
    let mut latencies = Vec::new();
    let mut done = 0;
    let start = Instant::now();
    for chunk in notices.chunks(per_commit) {
        if start.elapsed() >= limit {
            break;
        }
        let t = Instant::now();
        umsgate::store::write_transaction(&mut conn, |c| {
            for (received, verdict) in chunk {
                let r = payment::record(
                    c,
                    received,
                    verdict,
                    &timing,
                    umsgate::clock::Clock::system().now(),
                )?;
                assert_eq!(r.outcome, Outcome::Applied, "limit loop: {r:?}");
            }
            Ok::<_, StoreError>(())
        })
        .expect("limit transaction");
        latencies.push(t.elapsed().as_micros() as u64);
        done += chunk.len();
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    Limit {
        rate: done as f64 / elapsed.as_secs_f64(),
        per_commit,
        p50_ms: percentile(&latencies, 50.0) as f64 / 1000.0,
        p99_ms: percentile(&latencies, 99.0) as f64 / 1000.0,
    }
}

/// Each level is a pair, so that a burst of noise on the machine hits both sides of its
/// ratio alike: the limit loop for `LIMIT_SLICE` on its own database, then the gateway
/// (running all along, idle in between) for `PHASE`.
pub async fn ingest(settings: &Settings, work: &Path) -> Ingest {
    let later = umsgate::clock::Clock::system().now() + chrono::Duration::hours(1);
    let limit_db = open_db(settings, &fresh(work, "ingest-limit"));
    let mut limit_notices = Vec::new();
    for tag in ["LA", "LB", "LC"] {
        limit_notices.push(examined(
            settings,
            &seed_orders(settings, &limit_db, tag, LIMIT_ORDERS, later),
        ));
    }
    let group_notices = examined(
        settings,
        &seed_orders(settings, &limit_db, "LG", GROUP_ORDERS, later),
    );

    let path = fresh(work, "ingest-gateway");
    let db = open_db(settings, &path);
    let key = first_key(settings);
    let mut bodies = Vec::new();
    for tag in ["IA", "IB", "IC"] {
        let ids = seed_orders(settings, &db, tag, INGEST_ORDERS, later);
        let level: Vec<Bytes> = ids
            .iter()
            .map(|id| Bytes::from(fixtures::paid_notification(settings, id, &key)))
            .collect();
        bodies.push(std::rc::Rc::new(level));
    }
    drop(db);
    let gw = Server::gateway(&path, &[]).await;
    let url = format!("{}/notify/payment", gw.notify);
    let mut levels = Vec::new();
    for ((conns, bodies), notices) in [1, 16, 64].into_iter().zip(bodies).zip(&limit_notices) {
        let limit = limit_loop(settings, &limit_db, notices, 1, LIMIT_SLICE);
        let client = load::client(conns);
        let url = url.clone();
        let run =
            drive(conns, bodies.len(), PHASE, move |i| {
                let (client, url, body) = (client.clone(), url.clone(), bodies[i].clone());
                async move {
                    load::post_expect(&client, &url, FORM_CONTENT_TYPE, body, b"SUCCESS").await
                }
            })
            .await;
        levels.push(Level { conns, run, limit });
    }
    let rss = gw.stop();
    let group = limit_loop(settings, &limit_db, &group_notices, GROUP, LIMIT_SLICE);
    let acked = levels.iter().map(|l| l.run.ok).sum();
    let db = open_db(settings, &path);
    let paid = paid_count(&db);
    Ingest {
        levels,
        group,
        acked,
        paid,
        rss,
    }
}

/// How many orders the database holds as PAID.
fn paid_count(db: &Db) -> i64 {
    orders::count_by_status(&mut db.conn().expect("connection"))
        .expect("count")
        .into_iter()
        .find(|(s, _)| *s == OrderStatus::Paid)
        .map_or(0, |(_, n)| n)
}

// --------------------------------------------------------------------- 2. order reads

pub struct Reads {
    pub gateway: Run,
    pub bare: Run,
    pub body_len: usize,
    pub gateway_rss: u64,
    pub bare_rss: u64,
}

/// Random `GET /orders/{id}` over `ids` at `conns` connections for `PHASE`.
async fn read_load(base: &str, ids: &[String], conns: usize, max: usize) -> Run {
    let client = load::client(conns);
    let urls: std::rc::Rc<Vec<String>> =
        std::rc::Rc::new(ids.iter().map(|id| format!("{base}/orders/{id}")).collect());
    drive(conns, max, PHASE, move |_| {
        let url = urls[rand::random_range(0..urls.len())].clone();
        let client = client.clone();
        async move { load::get_ok(&client, &url).await }
    })
    .await
}

pub async fn reads(settings: &Settings, work: &Path) -> Reads {
    let path = fresh(work, "reads");
    let db = open_db(settings, &path);
    let ids = seed_orders(
        settings,
        &db,
        "R",
        READ_ORDERS,
        umsgate::clock::Clock::system().now() + chrono::Duration::hours(1),
    );
    drop(db);
    let gw = Server::gateway(&path, &[]).await;
    let mut one = load::client(1)
        .get(format!("{}/orders/{}", gw.api, ids[0]))
        .send()
        .await
        .expect("an order reads");
    let body_len = one.body().await.expect("order body").len();
    // Bounded by time; the count bound only guards against a runaway.
    let gateway = read_load(&gw.api, &ids, READ_CONNS, 10_000_000).await;
    let gateway_rss = gw.stop();

    let bare = Server::bare(body_len, settings.api.listener.workers);
    let bare_run = read_load(&bare.api, &ids, READ_CONNS, 10_000_000).await;
    let bare_rss = bare.stop();
    Reads {
        gateway,
        bare: bare_run,
        body_len,
        gateway_rss,
        bare_rss,
    }
}

// ------------------------------------------------------------------- 3. reconciliation

/// POSTs each `(url, body)`, `SETUP_CONNS` at a time; how many were answered `status`.
async fn post_all(requests: Vec<(String, serde_json::Value)>, status: u16) -> usize {
    let client = load::client(SETUP_CONNS);
    let requests = std::rc::Rc::new(requests);
    let n = requests.len();
    drive(SETUP_CONNS, n, SETUP_LIMIT, move |i| {
        let (client, requests) = (client.clone(), requests.clone());
        async move {
            let (url, body) = &requests[i];
            load::json(&client, Method::POST, url, Some(body)).await.0 == status
        }
    })
    .await
    .ok
}

pub struct Reconcile {
    pub concurrency: u32,
    pub max_qps: u32,
    pub orders: usize,
    /// Queries answered and logged.
    pub queries: usize,
    /// Queries per second over the pass (first start to last answer).
    pub rate: f64,
    /// Starts per second from the first start to the last (what the cap governs).
    pub start_rate: f64,
    /// Milliseconds from the first start to the last.
    pub start_span_ms: i64,
    /// Most starts in any one-second window.
    pub max_in_1s: usize,
    /// Orders that moved to PAID (half were paid at the sandbox with the notification lost).
    pub moved: usize,
    pub rss: u64,
}

/// One reconciliation run: `n` orders, known to the sandbox (every other one paid there,
/// its notification lost), made due at once; the gateway's own scheduler (every second,
/// batch `n`) queries them with `concurrency` and `max_qps`; the rate is read from the
/// gateway's call log.
pub async fn reconcile(
    settings: &Settings,
    work: &Path,
    n: usize,
    concurrency: u32,
    max_qps: u32,
) -> Reconcile {
    let name = format!("reconcile-c{concurrency}-q{max_qps}");
    let path = fresh(work, &name);
    let db = open_db(settings, &path);
    let ids = seed_orders(
        settings,
        &db,
        "Q",
        n,
        umsgate::clock::Clock::system().now() + chrono::Duration::hours(1),
    );
    let gw = Server::gateway(
        &path,
        &[
            ("reconcile.concurrency", concurrency.to_string()),
            ("reconcile.max_qps", max_qps.to_string()),
            ("reconcile.batch", n.to_string()),
            ("reconcile.tick", "* * * * * *".into()),
            ("sandbox.faults.query_delay_ms", QUERY_DELAY_MS.to_string()),
        ],
    )
    .await;
    let sandbox = &gw.sandbox;
    let created = post_all(
        ids.iter()
            .map(|id| {
                (
                    format!("{sandbox}/_sandbox/orders"),
                    json!({"merOrderId": id, "totalAmount": AMOUNT_FEN}),
                )
            })
            .collect(),
        201,
    )
    .await;
    let paid = post_all(
        ids.iter()
            .step_by(2)
            .map(|id| {
                (
                    format!("{sandbox}/_sandbox/orders/{id}/pay"),
                    json!({"notify": false}),
                )
            })
            .collect(),
        200,
    )
    .await;
    assert_eq!((created, paid), (n, n.div_ceil(2)), "sandbox set-up");

    // Due now: a fixture write of the schedule column alone (the status is untouched).
    let now_ms = umsgate::clock::Clock::system().now().timestamp_millis();
    diesel::update(schema::orders::table)
        .filter(schema::orders::mer_order_id.eq_any(ids.iter()))
        .set(schema::orders::next_check_at.eq(Some(now_ms)))
        .execute(&mut db.conn().expect("connection"))
        .expect("orders made due");

    // Bounded: four times the pass at its limit, plus the scheduler's first tick.
    let limit_qps =
        (f64::from(concurrency) * 1000.0 / QUERY_DELAY_MS as f64).min(f64::from(max_qps));
    let bound = Duration::from_secs_f64(n as f64 / limit_qps * 4.0 + 10.0);
    let started = Instant::now();
    let count = |db: &Db| -> i64 {
        schema::provider_calls::table
            .filter(schema::provider_calls::operation.eq("mini-pre-query"))
            .count()
            .get_result(&mut db.conn().expect("connection"))
            .expect("count")
    };
    while (count(&db) as usize) < n && started.elapsed() < bound {
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    let rss = gw.stop();
    let mut conn = db.conn().expect("connection");
    let calls: Vec<_> = provider_calls::list(&mut conn, None)
        .expect("call log")
        .into_iter()
        .filter(|c| c.operation == "mini-pre-query")
        .collect();
    let mut starts: Vec<i64> = calls.iter().map(|c| c.at - c.latency_ms).collect();
    starts.sort_unstable();
    let ends = calls.iter().map(|c| c.at).max().unwrap_or(0);
    let span_ms = |a: i64, b: i64| ((b - a).max(1)) as f64;
    let (first, last) = (
        starts.first().copied().unwrap_or(0),
        starts.last().copied().unwrap_or(0),
    );
    let mut max_in_1s = 0;
    let mut lo = 0;
    for hi in 0..starts.len() {
        while starts[hi] - starts[lo] >= 1000 {
            lo += 1;
        }
        max_in_1s = max_in_1s.max(hi - lo + 1);
    }
    let moved = paid_count(&db) as usize;
    Reconcile {
        concurrency,
        max_qps,
        orders: n,
        queries: calls.len(),
        rate: calls.len() as f64 * 1000.0 / span_ms(first, ends),
        start_rate: (calls.len().saturating_sub(1)) as f64 * 1000.0 / span_ms(first, last),
        start_span_ms: last - first,
        max_in_1s,
        moved,
        rss,
    }
}

pub async fn reconciles(settings: &Settings, work: &Path) -> Vec<Reconcile> {
    let mut runs = Vec::new();
    for c in [8, 32] {
        runs.push(reconcile(settings, work, RECONCILE_ORDERS, c, UNBOUND_QPS).await);
    }
    runs.push(reconcile(settings, work, CAP_ORDERS, 8, CAP_QPS).await);
    runs
}

// ----------------------------------------------------------------------- 4. resolution

pub struct Resolution {
    pub schedule: &'static str,
    pub orders: usize,
    /// Orders that reached PAID within the bound.
    pub resolved: usize,
    /// Of those, settled by a notification and by a query.
    pub by_notify: usize,
    pub by_query: usize,
    /// Payment to PAID at the gateway, ms, sorted.
    pub times_ms: Vec<u64>,
    pub rss: u64,
}

/// Bound orders created through the API, each paid at the sandbox right after; 30% of the
/// notifications dropped. Time from the pay call to the gateway's PAID event.
pub async fn resolution(
    settings: &Settings,
    work: &Path,
    schedule: &'static str,
    n: usize,
    overrides: &[(&str, String)],
    bound: Duration,
) -> Resolution {
    let path = fresh(work, &format!("resolution-{schedule}"));
    let mut all = vec![("sandbox.faults.drop_notifications", "0.3".to_string())];
    all.extend(overrides.iter().cloned());
    let gw = Server::gateway(&path, &all).await;
    let client = load::client(SETUP_CONNS);
    let paid_at = std::rc::Rc::new(std::cell::RefCell::new(vec![0i64; n]));
    let (api, sandbox, pa) = (gw.api.clone(), gw.sandbox.clone(), paid_at.clone());
    let ids: Vec<String> = (0..n)
        .map(|i| fixtures::order_id(settings, "P", i))
        .collect();
    let ids = std::rc::Rc::new(ids);
    let ids2 = ids.clone();
    let setup = drive(SETUP_CONNS, n, SETUP_LIMIT, move |i| {
        let (client, api, sandbox, pa, id) = (
            client.clone(),
            api.clone(),
            sandbox.clone(),
            pa.clone(),
            ids2[i].clone(),
        );
        async move {
            let order =
                json!({"merOrderId": id, "amount": AMOUNT_FEN, "qrCodeId": format!("QR{id}")});
            if load::json(
                &client,
                Method::POST,
                &format!("{api}/orders"),
                Some(&order),
            )
            .await
            .0 != 201
            {
                return false;
            }
            pa.borrow_mut()[i] = umsgate::clock::Clock::system().now().timestamp_millis();
            load::json(
                &client,
                Method::POST,
                &format!("{sandbox}/_sandbox/orders/{id}/pay"),
                Some(&json!({})),
            )
            .await
            .0 == 200
        }
    })
    .await;
    assert_eq!(setup.ok, n, "resolution set-up");
    let db = open_db(settings, &path);
    let started = Instant::now();
    while (paid_count(&db) as usize) < n && started.elapsed() < bound {
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    let rss = gw.stop();
    let mut conn = db.conn().expect("connection");
    let (mut times_ms, mut by_notify, mut by_query) = (Vec::new(), 0, 0);
    for (i, id) in ids.iter().enumerate() {
        let id = MerOrderId::parse_stored(id).expect("id");
        let history = events::list_for(&mut conn, &id).expect("events");
        if let Some(e) = history.iter().find(|e| e.to == OrderStatus::Paid) {
            times_ms.push((e.at.timestamp_millis() - paid_at.borrow()[i]).max(0) as u64);
            match e.source {
                Source::Notify => by_notify += 1,
                _ => by_query += 1,
            }
        }
    }
    times_ms.sort_unstable();
    Resolution {
        schedule,
        orders: n,
        resolved: times_ms.len(),
        by_notify,
        by_query,
        times_ms,
        rss,
    }
}

/// The default schedule (first query 30 s after creation, a pass every 5 s: a small count,
/// since the dropped ones take over half a minute) and a compressed one (first query after
/// 1 s, a pass every second).
pub async fn resolutions(settings: &Settings, work: &Path) -> Vec<Resolution> {
    vec![
        resolution(settings, work, "default", 100, &[], Duration::from_secs(90)).await,
        resolution(
            settings,
            work,
            "compressed",
            300,
            &[
                ("reconcile.first_check_after", "1s".into()),
                ("reconcile.backoff", r#"["1s","2s","4s","8s"]"#.into()),
                ("reconcile.tick", "* * * * * *".into()),
            ],
            Duration::from_secs(30),
        )
        .await,
    ]
}

// ------------------------------------------------------------------------- 5. memory

pub struct Memory {
    pub reads: Run,
    pub rss: u64,
    pub seed_secs: f64,
}

/// 100,000 orders written through the store, then the gateway started on them: random
/// reads through the API, some list pages and metrics scrapes; its peak RSS.
pub async fn memory(settings: &Settings, work: &Path) -> Memory {
    let path = fresh(work, "memory");
    let db = open_db(settings, &path);
    let t = Instant::now();
    let ids = seed_orders(
        settings,
        &db,
        "M",
        MEMORY_ORDERS,
        umsgate::clock::Clock::system().now() + chrono::Duration::hours(1),
    );
    let seed_secs = t.elapsed().as_secs_f64();
    drop(db);
    let gw = Server::gateway(&path, &[]).await;
    let reads = read_load(&gw.api, &ids, READ_CONNS, MEMORY_READS).await;
    let client = load::client(1);
    let mut after: Option<String> = None;
    for _ in 0..20 {
        let q = after
            .as_ref()
            .map_or(String::new(), |a| format!("&after={a}"));
        let (_, page) = load::json(
            &client,
            Method::GET,
            &format!("{}/orders?limit=100{q}", gw.api),
            None,
        )
        .await;
        after = page["nextAfter"].as_str().map(str::to_owned);
    }
    for _ in 0..3 {
        assert!(
            load::get_ok(&client, &format!("{}/metrics", gw.api)).await,
            "metrics"
        );
    }
    Memory {
        reads,
        rss: gw.stop(),
        seed_secs,
    }
}

// ------------------------------------------------- 6. genuine notifications, slow clients

/// Slow-body clients held in the second phase (issue 13).
pub const SLOW_CLIENTS_HELD: usize = 200;
/// Genuine notifications per phase, one connection, one after another: each phase stops at
/// this count or at `SLOW_PHASE`, whichever comes first.
const SLOW_NOTICES: usize = 2_000;
/// Shorter than the notify listener's default `body_timeout` (10 s), so that the slow
/// clients are all still held when the phase ends.
const SLOW_PHASE: Duration = Duration::from_secs(5);

/// Genuine-notification latency without and with slow clients held, same gateway, same run.
pub struct SlowClients {
    pub without: Run,
    pub with: Run,
    /// Slow clients connected and still held (not answered, not closed) when the second
    /// phase ended.
    pub held: usize,
    pub rss: u64,
}

/// A connection that sends a notification's head announcing 1000 bytes, 10 of them, and
/// then nothing.
fn slow_client(addr: &str) -> Option<std::net::TcpStream> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.write_all(
        b"POST /notify/payment HTTP/1.1\r\nHost: gateway\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n\
          notifyId=s",
    )
    .ok()?;
    Some(s)
}

/// Whether the gateway has neither answered nor closed `s` yet.
fn still_held(s: &std::net::TcpStream) -> bool {
    let _ = s.set_nonblocking(true);
    let mut byte = [0u8; 1];
    matches!(s.peek(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// One connection posting genuine notifications for `bodies`, at most `SLOW_PHASE`.
async fn genuine(url: &str, bodies: Vec<Bytes>) -> Run {
    let client = load::client(1);
    let bodies = std::rc::Rc::new(bodies);
    let url = url.to_owned();
    drive(1, bodies.len(), SLOW_PHASE, move |i| {
        let (client, url, body) = (client.clone(), url.clone(), bodies[i].clone());
        async move { load::post_expect(&client, &url, FORM_CONTENT_TYPE, body, b"SUCCESS").await }
    })
    .await
}

pub async fn slow_clients(settings: &Settings, work: &Path) -> SlowClients {
    let later = umsgate::clock::Clock::system().now() + chrono::Duration::hours(1);
    let path = fresh(work, "slow-clients");
    let db = open_db(settings, &path);
    let key = first_key(settings);
    let bodies = |tag: &str| -> Vec<Bytes> {
        seed_orders(settings, &db, tag, SLOW_NOTICES, later)
            .iter()
            .map(|id| Bytes::from(fixtures::paid_notification(settings, id, &key)))
            .collect()
    };
    let (quiet, held) = (bodies("SQ"), bodies("SH"));
    drop(db);
    let gw = Server::gateway(&path, &[]).await;
    let url = format!("{}/notify/payment", gw.notify);
    let without = genuine(&url, quiet).await;
    let addr = gw.notify.trim_start_matches("http://").to_owned();
    let slow: Vec<std::net::TcpStream> = (0..SLOW_CLIENTS_HELD)
        .filter_map(|_| slow_client(&addr))
        .collect();
    let with = genuine(&url, held).await;
    let held = slow.iter().filter(|s| still_held(s)).count();
    drop(slow);
    let rss = gw.stop();
    SlowClients {
        without,
        with,
        held,
        rss,
    }
}

// ------------------------------------------ 7. webhooks and long-poll wake (issue 15)

/// Concurrent payments of the webhook levels (issue 15), and the most payments each level
/// may use up (it stops at this count or at `PHASE`, whichever comes first).
pub const WEBHOOK_LEVELS: [(usize, usize); 3] = [(1, 400), (16, 2_000), (64, 3_000)];
/// Concurrent long-polls of the wake runs, and the most payments each may use up.
pub const LONG_POLL_LEVELS: [(usize, usize); 2] = [(1, 200), (16, 800)];
/// How long a long-poll is held before its notification is sent: far longer than a
/// loopback request takes to reach its waiter, so that the poll is waiting when it is paid.
const HELD_BEFORE_NOTICE: Duration = Duration::from_millis(20);
/// Longest a payment waits for its webhook or its long-poll's answer before it counts as
/// failed.
const PUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// The receiver's secret (`whsec_` + base64 of 24 bytes).
const RECEIVER_SECRET: &str = "whsec_dW1zZ2F0ZS13ZWJob29rLXRlc3Qta2V5";

/// When the receiver answered 2xx to each order's `order.paid` webhook.
type Arrivals = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>>;

/// Notifications sent at one level: their ingest (`SUCCESS`) latency, and from each
/// notification being sent to its push (the webhook's 2xx, or the long-poll's answer).
pub struct Pushed {
    pub conns: usize,
    pub ingest: Run,
    pub pushed: Run,
}

/// Issue 15's figures: webhooks at each level, long-poll wake at each level.
pub struct Pushes {
    pub webhooks: Vec<Pushed>,
    pub long_polls: Vec<Pushed>,
    pub rss: u64,
}

/// The receiver: a one-worker actix-web server on loopback in this process, answering
/// every POST 204 and noting when it answered each `order.paid`. Its URL.
fn start_receiver(arrivals: Arrivals) -> String {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
    let port = listener.local_addr().expect("receiver address").port();
    let server = HttpServer::new(move || {
        let arrivals = arrivals.clone();
        App::new().default_service(web::to(move |body: Bytes| {
            let arrivals = arrivals.clone();
            async move {
                let event: serde_json::Value =
                    serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                if event["type"] == "order.paid" {
                    if let Some(id) = event["data"]["merOrderId"].as_str() {
                        arrivals
                            .lock()
                            .expect("arrivals")
                            .insert(id.to_owned(), Instant::now());
                    }
                }
                HttpResponse::NoContent().finish()
            }
        }))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("the receiver listens")
    .run();
    actix_web::rt::spawn(server);
    format!("http://127.0.0.1:{port}/hook")
}

/// Sorted latencies as a run's figures.
fn as_run(mut latencies_us: Vec<u64>, failed: usize, elapsed: Duration) -> Run {
    latencies_us.sort_unstable();
    Run {
        ok: latencies_us.len(),
        failed,
        elapsed,
        max_us: latencies_us.last().copied().unwrap_or(0),
        latencies_us,
    }
}

/// Micros from `from` to `to` (0 if `to` is earlier).
fn micros(from: Instant, to: Instant) -> u64 {
    to.saturating_duration_since(from).as_micros() as u64
}

/// `conns` loops, each paying one order at a time: the notification is sent, then the
/// loop waits for the receiver's 2xx to its `order.paid` webhook.
async fn webhook_level(
    url: &str,
    bodies: Vec<(String, Bytes)>,
    conns: usize,
    arrivals: &Arrivals,
) -> Pushed {
    let client = load::client(conns);
    let (bodies, url) = (std::rc::Rc::new(bodies), url.to_owned());
    let ingest = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let pushed = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let (i2, p2, a2) = (ingest.clone(), pushed.clone(), arrivals.clone());
    let run = drive(conns, bodies.len(), PHASE, move |i| {
        let (client, url, bodies) = (client.clone(), url.clone(), bodies.clone());
        let (ingest, pushed, arrivals) = (i2.clone(), p2.clone(), a2.clone());
        async move {
            let (id, body) = &bodies[i];
            let sent = Instant::now();
            if !load::post_expect(&client, &url, FORM_CONTENT_TYPE, body.clone(), b"SUCCESS").await
            {
                return false;
            }
            ingest.borrow_mut().push(micros(sent, Instant::now()));
            while sent.elapsed() < PUSH_TIMEOUT {
                if let Some(at) = arrivals.lock().expect("arrivals").remove(id) {
                    pushed.borrow_mut().push(micros(sent, at));
                    return true;
                }
                actix_web::rt::time::sleep(Duration::from_millis(1)).await;
            }
            false
        }
    })
    .await;
    Pushed {
        conns,
        ingest: as_run(ingest.take(), 0, run.elapsed),
        pushed: as_run(pushed.take(), run.failed, run.elapsed),
    }
}

/// `conns` loops, each holding `GET /orders/{id}?wait=30&after=<version>`, then sending
/// the order's notification `HELD_BEFORE_NOTICE` later and timing the poll's answer.
async fn long_poll_level(
    api: &str,
    notify_url: &str,
    bodies: Vec<(String, Bytes)>,
    version: i64,
    conns: usize,
) -> Pushed {
    // A poll and a notification at once per loop: two connections each.
    let client = load::client(2 * conns);
    let (bodies, url, api) = (
        std::rc::Rc::new(bodies),
        notify_url.to_owned(),
        api.to_owned(),
    );
    let ingest = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let pushed = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let (i2, p2) = (ingest.clone(), pushed.clone());
    let run = drive(conns, bodies.len(), PHASE, move |i| {
        let (client, url, api, bodies) = (client.clone(), url.clone(), api.clone(), bodies.clone());
        let (ingest, pushed) = (i2.clone(), p2.clone());
        async move {
            let (id, body) = &bodies[i];
            let poll_url = format!("{api}/orders/{id}?wait=30&after={version}");
            let poll_client = client.clone();
            let poll = actix_web::rt::spawn(async move {
                let (status, order) = load::json(&poll_client, Method::GET, &poll_url, None).await;
                (status == 200 && order["status"] == "PAID", Instant::now())
            });
            actix_web::rt::time::sleep(HELD_BEFORE_NOTICE).await;
            let sent = Instant::now();
            if !load::post_expect(&client, &url, FORM_CONTENT_TYPE, body.clone(), b"SUCCESS").await
            {
                return false;
            }
            ingest.borrow_mut().push(micros(sent, Instant::now()));
            match poll.await {
                Ok((true, answered)) => {
                    pushed.borrow_mut().push(micros(sent, answered));
                    true
                }
                _ => false,
            }
        }
    })
    .await;
    Pushed {
        conns,
        ingest: as_run(ingest.take(), 0, run.elapsed),
        pushed: as_run(pushed.take(), run.failed, run.elapsed),
    }
}

pub async fn pushes(settings: &Settings, work: &Path) -> Pushes {
    let later = umsgate::clock::Clock::system().now() + chrono::Duration::hours(1);
    let path = fresh(work, "pushes");
    let db = open_db(settings, &path);
    let key = first_key(settings);
    let bodies = |tag: &str, n: usize| -> Vec<(String, Bytes)> {
        seed_orders(settings, &db, tag, n, later)
            .into_iter()
            .map(|id| {
                let body = Bytes::from(fixtures::paid_notification(settings, &id, &key));
                (id, body)
            })
            .collect()
    };
    let webhook_bodies: Vec<_> = WEBHOOK_LEVELS
        .iter()
        .zip(["WA", "WB", "WC"])
        .map(|((_, n), tag)| bodies(tag, *n))
        .collect();
    let poll_bodies: Vec<_> = LONG_POLL_LEVELS
        .iter()
        .zip(["LA", "LB"])
        .map(|((_, n), tag)| bodies(tag, *n))
        .collect();
    let arrivals = Arrivals::default();
    let hook = start_receiver(arrivals.clone());
    // The endpoint as one configured after these orders were created: its cursor past their
    // `order.created` events, so that it receives only what the run's payments produce.
    {
        let mut conn = db.conn().expect("connection");
        let last: Option<i64> = schema::events::table
            .select(diesel::dsl::max(schema::events::id))
            .first(&mut conn)
            .expect("last event");
        diesel::insert_into(schema::webhook_cursors::table)
            .values((
                schema::webhook_cursors::endpoint.eq(&hook),
                schema::webhook_cursors::last_event_seq.eq(last.unwrap_or(0)),
            ))
            .execute(&mut conn)
            .expect("endpoint cursor");
    }
    drop(db);
    let gw = Server::gateway(
        &path,
        &[(
            "webhooks.endpoints",
            format!(r#"[{{url="{hook}",secret="{RECEIVER_SECRET}"}}]"#),
        )],
    )
    .await;
    let url = format!("{}/notify/payment", gw.notify);
    let mut webhooks = Vec::new();
    for ((conns, _), bodies) in WEBHOOK_LEVELS.iter().zip(webhook_bodies) {
        webhooks.push(webhook_level(&url, bodies, *conns, &arrivals).await);
    }
    let first = &poll_bodies[0][0].0;
    let (_, order) = load::json(
        &load::client(1),
        Method::GET,
        &format!("{}/orders/{first}", gw.api),
        None,
    )
    .await;
    let version = order["version"].as_i64().expect("an order's version");
    let mut long_polls = Vec::new();
    for ((conns, _), bodies) in LONG_POLL_LEVELS.iter().zip(poll_bodies) {
        long_polls.push(long_poll_level(&gw.api, &url, bodies, version, *conns).await);
    }
    let rss = gw.stop();
    Pushes {
        webhooks,
        long_polls,
        rss,
    }
}
