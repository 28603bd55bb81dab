//! Faults of a PostgreSQL server, caused by a TCP proxy written in the test between the
//! gateway and the real server (the shared server itself is never restarted): connections
//! cut and refused, then allowed again; and a statement held by a lock the test takes, which
//! `store.statement_timeout` cuts. PostgreSQL only: on SQLite (no
//! `UMSGATE_TEST_DATABASE_URL`) each test returns at once, saying so, since SQLite has no
//! server to lose; the PostgreSQL suite (README) runs them.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use awc::http::StatusCode;
use diesel::connection::SimpleConnection;
use diesel::Connection;
use serde_json::json;

use crate::helpers::{bound_bill, capture_logs, eventually, paid_notice, TestApp, TestDatabase};

/// A TCP proxy to `upstream` that can cut every connection and refuse new ones.
struct Proxy {
    port: u16,
    down: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (d, o) = (down.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if d.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                {
                    let mut o = o.lock().unwrap();
                    o.push(client.try_clone().unwrap());
                    o.push(server.try_clone().unwrap());
                }
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Proxy { port, down, open }
    }

    /// Closes every connection and refuses new ones (the server gone).
    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Lets connections through again (the server back).
    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

/// Copies bytes from `from` to `to` on a thread of its own until either side ends.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// A gateway on a database of its own whose connections pass through a [`Proxy`] (and
/// wait for one at most 1 s); `None` on SQLite, which has no server to lose.
async fn gateway_through_proxy() -> Option<(TestApp, Proxy)> {
    let db = TestDatabase::new();
    let mut through = url::Url::parse(db.url()?).unwrap();
    let upstream = format!(
        "{}:{}",
        through.host_str().unwrap(),
        through.port().unwrap_or(5432)
    );
    let proxy = Proxy::start(upstream);
    through.set_port(Some(proxy.port)).unwrap();
    let app = TestApp::spawn_on(
        db,
        json!({"store": {"url": through.to_string(), "connect_timeout": "1s"}}),
    )
    .await;
    Some((app, proxy))
}

#[actix_web::test]
async fn with_the_database_server_gone_a_notice_is_failed_readyz_is_503_and_both_recover_when_it_is_back(
) {
    // Arrange: a gateway whose database connections pass through the proxy.
    let Some((app, proxy)) = gateway_through_proxy().await else {
        eprintln!("pg_faults: on SQLite there is no server to lose; run the PostgreSQL suite");
        return;
    };
    let id = "1017PGDOWN0001";
    bound_bill(&app, id, 100).await;
    let form = Some("application/x-www-form-urlencoded");
    let notice = || paid_notice(id, 100, "N1017PGDOWN0001");

    // Act: the server goes away; the provider notifies; the server comes back and the
    // provider resends.
    proxy.cut();
    let (failed, failed_body) = app.post_notify("/notify/payment", notice(), form).await;
    let (ready_while_down, _) = app.get("/readyz").await;
    proxy.restore();
    eventually("readiness is back with the server", || async {
        app.get("/readyz").await.0 == StatusCode::OK
    })
    .await;
    let (resent, reply) = app.post_notify("/notify/payment", notice(), form).await;

    // Assert: never SUCCESS without the commit; the order PAID once the server is back.
    assert!(failed.is_server_error(), "{failed} {failed_body}");
    assert_eq!(failed_body, "FAILED");
    assert_eq!(ready_while_down, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!((resent, reply.as_str()), (StatusCode::OK, "SUCCESS"));
    assert_eq!(app.order(id).await["status"], "PAID");
}

#[actix_web::test]
async fn a_statement_held_by_a_lock_is_cut_by_the_statement_timeout_failed_and_logged_once() {
    // Arrange: a gateway with a short statement timeout; the test's own connection holds
    // every write to the notifications' journal behind a lock it never releases in time.
    let db = TestDatabase::new();
    let Some(direct) = db.url().map(str::to_owned) else {
        eprintln!("pg_faults: statement_timeout is PostgreSQL's; run the PostgreSQL suite");
        return;
    };
    let logs = capture_logs();
    let app = TestApp::spawn_on(db, json!({"store": {"statement_timeout": "1s"}})).await;
    let id = "1017PGHANG0001";
    bound_bill(&app, id, 100).await;
    let mut holder = diesel::PgConnection::establish(&direct).expect("the test's connection");
    holder
        .batch_execute("BEGIN; LOCK TABLE notifications IN ACCESS EXCLUSIVE MODE;")
        .expect("lock");
    let form = Some("application/x-www-form-urlencoded");

    // Act
    let (status, body) = app
        .post_notify(
            "/notify/payment",
            paid_notice(id, 100, "N1017PGHANG0001"),
            form,
        )
        .await;
    holder.batch_execute("ROLLBACK;").expect("release");

    // Assert: FAILED, never SUCCESS; the cause logged once; nothing applied.
    assert!(status.is_server_error(), "{status} {body}");
    assert_eq!(body, "FAILED");
    let cut = logs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .lines()
        .filter(|l| l.contains("statement timeout"))
        .map(str::to_owned)
        .collect::<Vec<_>>();
    assert_eq!(cut.len(), 1, "{cut:#?}");
    assert_ne!(app.order(id).await["status"], "PAID");
}

#[actix_web::test]
async fn under_a_stream_of_notices_the_server_lost_and_back_acknowledges_only_what_was_stored() {
    // Arrange: 48 bound bills; a gateway whose database connections pass through the proxy.
    let Some((app, proxy)) = gateway_through_proxy().await else {
        eprintln!("pg_faults: on SQLite there is no server to lose; run the PostgreSQL suite");
        return;
    };
    let ids: Vec<String> = (0..48).map(|i| format!("1017PGLOAD{i:04}")).collect();
    for id in &ids {
        bound_bill(&app, id, 100).await;
    }
    let form = Some("application/x-www-form-urlencoded");
    let notice = |id: &str| paid_notice(id, 100, &format!("N{id}"));
    let answers: Mutex<Vec<(String, StatusCode, String)>> = Mutex::default();

    // Act: 8 streams of notices. Once 12 are answered the server goes away; the stream
    // that cut it sends its next notice into the cut, waits for /readyz to say 503, and
    // brings the server back; the streams go on throughout.
    let stream = |chunk: &[String]| {
        let chunk = chunk.to_vec();
        let (app, proxy, answers) = (&app, &proxy, &answers);
        async move {
            let mut cut_by_me = false;
            for id in chunk {
                let (status, body) = app.post_notify("/notify/payment", notice(&id), form).await;
                let n = {
                    let mut a = answers.lock().unwrap();
                    a.push((id, status, body));
                    a.len()
                };
                if cut_by_me {
                    unready_then_restored(app, proxy).await;
                    cut_by_me = false;
                }
                if n == 12 {
                    proxy.cut();
                    cut_by_me = true;
                }
            }
            if cut_by_me {
                unready_then_restored(app, proxy).await;
            }
        }
    };
    futures_util::future::join_all(ids.chunks(6).map(stream)).await;
    eventually("readiness is back with the server", || async {
        app.get("/readyz").await.0 == StatusCode::OK
    })
    .await;
    let answers = answers.into_inner().unwrap();
    let mut statuses = Vec::new();
    for (id, _, _) in &answers {
        statuses.push(app.order(id).await["status"].as_str().unwrap().to_owned());
    }
    let unacknowledged: Vec<&String> = answers
        .iter()
        .filter(|(_, _, body)| body != "SUCCESS")
        .map(|(id, _, _)| id)
        .collect();
    let mut resent = Vec::new();
    for id in &unacknowledged {
        resent.push(app.post_notify("/notify/payment", notice(id), form).await);
    }

    // Assert: every SUCCESS was stored; every other answer a 5xx FAILED; some of each;
    // the resends all applied (readiness said 503 while cut: `unready_then_restored`).
    assert_eq!(answers.len(), ids.len());
    for ((id, status, body), now) in answers.iter().zip(&statuses) {
        if body == "SUCCESS" {
            assert_eq!(now, "PAID", "{id} was acknowledged and is {now}");
        } else {
            assert!(status.is_server_error(), "{id}: {status} {body}");
            assert_eq!(body, "FAILED", "{id}");
        }
    }
    assert!(!unacknowledged.is_empty(), "the cut failed no notice");
    assert!(unacknowledged.len() < ids.len(), "no notice was stored");
    for (status, reply) in &resent {
        assert_eq!((*status, reply.as_str()), (StatusCode::OK, "SUCCESS"));
    }
    for id in &ids {
        assert_eq!(app.order(id).await["status"], "PAID", "{id}");
    }
}

/// Waits (bounded) for `/readyz` to say 503 while the server is gone, then lets
/// connections through again.
async fn unready_then_restored(app: &TestApp, proxy: &Proxy) {
    eventually("readiness says 503 while the server is gone", || async {
        app.get("/readyz").await.0 == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    proxy.restore();
}
