//! Crash safety: the real `umsgate` binary as a child process, killed with SIGKILL at random
//! points while correctly signed payment notifications stream in from several concurrent
//! senders, restarted on the same database each time. Owns the promise that a notification
//! answered `SUCCESS` is never lost: after every restart each of them is applied (order
//! `PAID`, journal row `applied`), no payment moves an order twice, and the database passes
//! `PRAGMA integrity_check`.
//!
//! Replay a failure with the seed it printed: `UMSGATE_CRASH_SEED=<seed> cargo test --test
//! gateway crash -- --nocapture`. More kills by hand: `UMSGATE_CRASH_KILLS=20`.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix_web::rt::time::sleep;
use diesel::connection::SimpleConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::helpers::{
    child_gateway_env, paid_notices, umsgate, ChildGateway, Notice, TestDatabase, ADMIN_TOKEN,
};

/// Kills in CI; `UMSGATE_CRASH_KILLS` sets another count.
const DEFAULT_KILLS: usize = 3;
/// Notifications per life of the gateway: the stream is `(kills + 1) × this` long.
const NOTICES_PER_LIFE: usize = 100;
/// A life is killed after this many `SUCCESS` replies (drawn per life), plus a random delay.
const ACKS_BEFORE_KILL: std::ops::RangeInclusive<usize> = 5..=60;
/// The random delay after the ack threshold, in microseconds.
const KILL_JITTER_MICROS: std::ops::Range<u64> = 0..4000;
/// Concurrent senders, each with one request in flight.
const SENDERS: usize = 8;
/// Bounded waits.
const LIFE_TIMEOUT: Duration = Duration::from_secs(120);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {v:?}"))
    })
}

/// A running `umsgate serve` child (killed when dropped).
type Gateway = ChildGateway;

/// Starts the binary on `db`, its log in `gateway-<life>.log` in its directory.
async fn start(db: &TestDatabase, life: usize) -> Gateway {
    let log = db.path().join(format!("gateway-{life}.log"));
    let mut command = umsgate(db.path());
    child_gateway_env(&mut command, db).arg("serve");
    ChildGateway::spawn(command, log)
        .await
        .unwrap_or_else(|tail| panic!("life {life}: the gateway did not start:\n{tail}"))
}

/// What the senders share within one life, and across lives through `acked`.
struct Stream {
    /// Notices to send: never acknowledged, not in flight.
    queue: VecDeque<usize>,
    /// The life in which each notice got its `SUCCESS`.
    acked: Vec<Option<usize>>,
    acks_this_life: usize,
    /// Set once the gateway of this life is killed: senders stop taking notices.
    dead: bool,
    requests: usize,
    successes: usize,
    failed_5xx: usize,
    transport_errors: usize,
    /// Answers a correctly signed notice must never get (a refusal, a 2xx without SUCCESS).
    wrong: Vec<String>,
}

impl Stream {
    fn all_acked(&self) -> bool {
        self.acked.iter().all(Option::is_some)
    }
}

/// One sender: takes a notice, posts it, records the answer; a notice that got no
/// `SUCCESS` goes back in the queue, as the provider resends it.
async fn sender(stream: Rc<RefCell<Stream>>, notices: Rc<Vec<Notice>>, url: String, life: usize) {
    let client = awc::Client::builder().timeout(REQUEST_TIMEOUT).finish();
    loop {
        let next = {
            let mut s = stream.borrow_mut();
            if s.dead || s.all_acked() {
                return;
            }
            s.queue.pop_front()
        };
        let Some(i) = next else {
            // The rest are in flight with other senders; one may come back.
            sleep(Duration::from_millis(2)).await;
            continue;
        };
        let answer = match client
            .post(&url)
            .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
            .send_body(notices[i].body.clone())
            .await
        {
            Ok(mut res) => match res.body().await {
                Ok(body) => Ok((res.status().as_u16(), body)),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        // A transport error while the gateway should be up: pause before the next try.
        let pause = record(&mut stream.borrow_mut(), &notices[i], i, life, answer);
        if pause {
            sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Records the answer to notice `i`; whether the sender should pause.
fn record(
    s: &mut Stream,
    notice: &Notice,
    i: usize,
    life: usize,
    answer: Result<(u16, actix_web::web::Bytes), String>,
) -> bool {
    s.requests += 1;
    match answer {
        // Even when read after the kill: the gateway wrote it, so it promised.
        Ok((200, body)) if body.as_ref() == b"SUCCESS" => {
            if s.acked[i].is_none() {
                s.acked[i] = Some(life);
                s.acks_this_life += 1;
            }
            s.successes += 1;
            false
        }
        Ok((status, _)) if status >= 500 => {
            s.failed_5xx += 1;
            s.queue.push_back(i);
            false
        }
        Ok((status, body)) => {
            let text = String::from_utf8_lossy(&body).into_owned();
            s.wrong
                .push(format!("{}: {status} {text:?}", notice.notify_id));
            s.queue.push_back(i);
            false
        }
        Err(_) => {
            s.transport_errors += 1;
            s.queue.push_back(i);
            !s.dead
        }
    }
}

/// Streams until the gateway is killed (`kill_after` acks, then a random delay) or, with
/// no kill, until every notice is acknowledged.
async fn live(
    gateway: &mut Gateway,
    stream: &Rc<RefCell<Stream>>,
    notices: &Rc<Vec<Notice>>,
    life: usize,
    kill_after: Option<(usize, Duration)>,
) {
    {
        let mut s = stream.borrow_mut();
        s.dead = false;
        s.acks_this_life = 0;
    }
    let url = format!("{}/notify/payment", gateway.notify);
    let senders = futures_util::future::join_all(
        (0..SENDERS).map(|_| sender(stream.clone(), notices.clone(), url.clone(), life)),
    );
    let killer = async {
        let Some((acks, jitter)) = kill_after else {
            return;
        };
        while stream.borrow().acks_this_life < acks && !stream.borrow().all_acked() {
            sleep(Duration::from_millis(1)).await;
        }
        sleep(jitter).await;
        gateway.kill();
        stream.borrow_mut().dead = true;
    };
    let bounded =
        actix_web::rt::time::timeout(LIFE_TIMEOUT, futures_util::future::join(senders, killer))
            .await;
    if bounded.is_err() {
        let s = stream.borrow();
        let left = s.acked.iter().filter(|a| a.is_none()).count();
        panic!(
            "life {life}: not done within {LIFE_TIMEOUT:?} ({left} notices unacknowledged, {} \
             acks this life, gateway running: {}):\n{}",
            s.acks_this_life,
            gateway.running(),
            gateway.log_tail()
        );
    }
}

/// GETs JSON from the api listener with the admin token.
async fn get(client: &awc::Client, gateway: &Gateway, path: &str) -> Value {
    let mut res = client
        .get(format!("{}{path}", gateway.api))
        .insert_header(("Authorization", format!("Bearer {ADMIN_TOKEN}")))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let body = res
        .body()
        .limit(64 * 1024 * 1024)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(res.status().as_u16(), 200, "GET {path}: {body:?}");
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// Every journal row, oldest first.
async fn journal(client: &awc::Client, gateway: &Gateway) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut after = 0i64;
    loop {
        let page = get(
            client,
            gateway,
            &format!("/admin/notifications?limit=500&after={after}"),
        )
        .await;
        let batch = page["notifications"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if batch.is_empty() {
            return rows;
        }
        after = batch.last().and_then(|r| r["id"].as_i64()).expect("row id");
        rows.extend(batch);
    }
}

/// The statuses of every order.
async fn statuses(client: &awc::Client, gateway: &Gateway) -> HashMap<String, Value> {
    let mut orders = HashMap::new();
    let mut after = String::new();
    loop {
        let page = get(client, gateway, &format!("/orders?limit=500{after}")).await;
        for o in page["orders"].as_array().cloned().unwrap_or_default() {
            orders.insert(o["merOrderId"].as_str().expect("id").to_owned(), o);
        }
        match page["nextAfter"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => return orders,
        }
    }
}

/// Every notice acknowledged so far must be applied now: its order `PAID` for its amount,
/// and exactly one `applied` journal row for its `notifyId`, on its order, every other copy
/// a `duplicate`. Returns every failure, not just the first.
async fn acknowledged_are_applied(
    gateway: &Gateway,
    notices: &[Notice],
    acked: &[Option<usize>],
) -> Vec<String> {
    let client = awc::Client::builder().timeout(REQUEST_TIMEOUT).finish();
    let rows = journal(&client, gateway).await;
    let orders = statuses(&client, gateway).await;
    let mut by_notify: HashMap<&str, Vec<&Value>> = HashMap::new();
    for row in &rows {
        if let Some(id) = row["notifyId"].as_str() {
            by_notify.entry(id).or_default().push(row);
        }
    }
    let mut failures = Vec::new();
    for (n, life) in notices.iter().zip(acked) {
        let Some(life) = life else { continue };
        let copies = by_notify
            .get(n.notify_id.as_str())
            .cloned()
            .unwrap_or_default();
        let applied: Vec<_> = copies
            .iter()
            .filter(|r| r["outcome"] == "applied")
            .collect();
        let others: Vec<_> = copies
            .iter()
            .filter(|r| r["outcome"] != "applied" && r["outcome"] != "duplicate")
            .map(|r| r["outcome"].clone())
            .collect();
        if applied.len() != 1 || !others.is_empty() {
            failures.push(format!(
                "{} (SUCCESS in life {life}): {} applied journal rows, other outcomes {others:?}",
                n.notify_id,
                applied.len()
            ));
        } else if applied[0]["orderRef"] != n.order.as_str() {
            failures.push(format!(
                "{}: applied to {}",
                n.notify_id, applied[0]["orderRef"]
            ));
        }
        match orders.get(&n.order) {
            Some(o) if o["status"] == "PAID" && o["paidAmount"] == n.amount => {}
            Some(o) => failures.push(format!(
                "{} (SUCCESS in life {life}): order {} is {} paid {}",
                n.notify_id, n.order, o["status"], o["paidAmount"]
            )),
            None => failures.push(format!("{}: order {} is gone", n.notify_id, n.order)),
        }
    }
    failures
}

/// No payment moved an order twice: each order has its creation and one `PENDING → PAID`
/// by notification, proved by the journal row that applied it, and nothing else.
async fn each_order_moved_once(gateway: &Gateway, notices: &[Notice]) -> Vec<String> {
    let client = awc::Client::builder().timeout(REQUEST_TIMEOUT).finish();
    let applied: HashMap<String, i64> = journal(&client, gateway)
        .await
        .iter()
        .filter(|r| r["outcome"] == "applied")
        .map(|r| {
            (
                r["notifyId"].as_str().unwrap_or_default().to_owned(),
                r["id"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    let mut failures = Vec::new();
    for n in notices {
        let events = get(&client, gateway, &format!("/orders/{}/events", n.order)).await;
        let shape: Vec<(Value, Value, Value, Value)> = events["events"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                (
                    e["from"].clone(),
                    e["to"].clone(),
                    e["source"].clone(),
                    e["evidence"].clone(),
                )
            })
            .collect();
        let proof = applied
            .get(&n.notify_id)
            .map(|id| json!(format!("notification:{id}")));
        let expected = vec![
            (Value::Null, json!("PENDING"), json!("api"), Value::Null),
            (
                json!("PENDING"),
                json!("PAID"),
                json!("notify"),
                proof.unwrap_or(Value::Null),
            ),
        ];
        if shape != expected {
            failures.push(format!("{}: events {shape:?}", n.order));
        }
    }
    failures
}

#[derive(QueryableByName)]
struct Check {
    #[diesel(sql_type = diesel::sql_types::Text)]
    integrity_check: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[actix_web::test]
async fn every_notification_answered_success_survives_repeated_kill_9_applied_exactly_once() {
    // Arrange
    let kills = env_number("UMSGATE_CRASH_KILLS").map_or(DEFAULT_KILLS, |k| k as usize);
    let seed = env_number("UMSGATE_CRASH_SEED").unwrap_or_else(rand::random);
    println!("crash test: seed {seed} (replay: UMSGATE_CRASH_SEED={seed}), {kills} kills");
    let mut rng = StdRng::seed_from_u64(seed);
    // SQLite whatever the suite's backend: the test ends with the file's integrity_check.
    let dir = TestDatabase::sqlite();
    let notices = Rc::new(paid_notices(&mut rng, seed, (kills + 1) * NOTICES_PER_LIFE));
    let mut gateway = start(&dir, 0).await;
    let client = awc::Client::builder().timeout(REQUEST_TIMEOUT).finish();
    for batch in notices.chunks(SENDERS) {
        let creates = futures_util::future::join_all(batch.iter().map(|n| async {
            let mut res = client
                .post(format!("{}/orders", gateway.api))
                .send_json(&json!({"merOrderId": n.order, "amount": n.amount}))
                .await
                .unwrap_or_else(|e| panic!("create {}: {e}", n.order));
            let body = res.body().await.unwrap_or_default();
            (res.status().as_u16(), body)
        }))
        .await;
        for (n, (status, body)) in batch.iter().zip(creates) {
            assert_eq!(status, 201, "create {}: {body:?}", n.order);
        }
    }
    let stream = Rc::new(RefCell::new(Stream {
        queue: (0..notices.len()).collect(),
        acked: vec![None; notices.len()],
        acks_this_life: 0,
        dead: false,
        requests: 0,
        successes: 0,
        failed_5xx: 0,
        transport_errors: 0,
        wrong: Vec::new(),
    }));
    let started = Instant::now();

    // Act: stream, kill -9 at a random point, restart on the same database; check after
    // every restart, before anything is resent, that every SUCCESS so far was kept.
    let mut per_life = Vec::new();
    for life in 0..kills {
        let kill_after = (
            rng.random_range(ACKS_BEFORE_KILL),
            Duration::from_micros(rng.random_range(KILL_JITTER_MICROS)),
        );
        live(&mut gateway, &stream, &notices, life, Some(kill_after)).await;
        per_life.push(stream.borrow().acks_this_life);
        drop(gateway);
        gateway = start(&dir, life + 1).await;
        let acked = stream.borrow().acked.clone();
        let lost = acknowledged_are_applied(&gateway, &notices, &acked).await;
        assert!(
            lost.is_empty(),
            "seed {seed}: after kill {} these SUCCESS replies were not kept:\n{}",
            life + 1,
            lost.join("\n")
        );
    }
    live(&mut gateway, &stream, &notices, kills, None).await;
    per_life.push(stream.borrow().acks_this_life);

    // Assert
    let s = Rc::try_unwrap(stream)
        .ok()
        .expect("the senders are done")
        .into_inner();
    assert!(
        s.all_acked(),
        "seed {seed}: every notice is acknowledged in the end"
    );
    assert!(
        s.wrong.is_empty(),
        "seed {seed}: correctly signed notices were refused:\n{}",
        s.wrong.join("\n")
    );
    let mut failures = acknowledged_are_applied(&gateway, &notices, &s.acked).await;
    failures.extend(each_order_moved_once(&gateway, &notices).await);
    let rows = journal(&client, &gateway).await;
    let duplicates = rows.iter().filter(|r| r["outcome"] == "duplicate").count();
    assert!(
        failures.is_empty(),
        "seed {seed}: {} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // One last crash, then the file itself.
    gateway.kill();
    let db = dir.path().join("gateway.db");
    let mut conn = SqliteConnection::establish(db.to_str().expect("utf-8 path"))
        .expect("the database opens after the last kill");
    conn.batch_execute("PRAGMA busy_timeout = 5000;")
        .expect("pragma");
    let checks: Vec<Check> = diesel::sql_query("PRAGMA integrity_check")
        .load(&mut conn)
        .expect("integrity_check runs");
    let verdicts: Vec<&str> = checks.iter().map(|c| c.integrity_check.as_str()).collect();
    assert_eq!(verdicts, ["ok"], "seed {seed}: PRAGMA integrity_check");
    let first_copies: Count =
        diesel::sql_query("SELECT COUNT(*) AS n FROM notifications WHERE dedup_key IS NOT NULL")
            .get_result(&mut conn)
            .expect("count");
    assert_eq!(
        first_copies.n as usize,
        notices.len(),
        "one applying copy each"
    );
    println!(
        "crash test: seed {seed}: {kills} kills, {} notifications, {} requests, {} SUCCESS \
         replies (per life {per_life:?}), {} FAILED 5xx, {} transport errors, {} duplicates \
         journaled; all {} applied once; integrity_check ok; {:.1}s",
        notices.len(),
        s.requests,
        s.successes,
        s.failed_5xx,
        s.transport_errors,
        duplicates,
        notices.len(),
        started.elapsed().as_secs_f64()
    );
}
