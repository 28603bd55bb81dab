//! What the listeners survive from clients they do not control: slow bodies holding
//! connections under a small open-files limit, declared lengths past the limit, floods of
//! forged notifications, forged forwarding headers. The slow-client test runs the real
//! binary as a child under `ulimit -n 256`; the others run the gateway in-process. Every
//! wait is bounded; nothing is timed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use awc::http::StatusCode;
use diesel::RunQueryDsl;
use serde_json::json;

use crate::helpers::{
    capture_logs, child_gateway_env, paid_notice, raw_http, umsgate_with_nofile, ChildGateway,
    TestApp, TestDatabase, ADMIN_TOKEN,
};

/// Slow-body connections held at once: more than a 256-descriptor process can hold.
const SLOW_CLIENTS: usize = 250;
/// Bound of every wait on an answer: far past the body timeout the tests configure.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens a connection to `addr` (`host:port`) that sends a notification's head announcing
/// 1000 bytes, and 10 of them, then nothing.
fn slow_body(addr: &str) -> Option<TcpStream> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(ANSWER_TIMEOUT)).ok()?;
    s.write_all(
        b"POST /notify/payment HTTP/1.1\r\nHost: gateway\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n\
          notifyId=s",
    )
    .ok()?;
    Some(s)
}

/// Whether the server has closed `s` (after an answer or without one) within the read
/// timeout; what it answered, if anything.
fn closed_by_server(mut s: TcpStream) -> (bool, String) {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (true, String::from_utf8_lossy(&got).into_owned()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (true, String::from_utf8_lossy(&got).into_owned())
            }
            Err(_) => return (false, String::from_utf8_lossy(&got).into_owned()),
        }
    }
}

#[actix_web::test]
async fn with_256_open_files_and_slow_bodies_held_a_genuine_notification_and_healthz_still_get_through(
) {
    // Arrange: the real binary with 256 descriptors, a 1 s body deadline.
    let dir = TestDatabase::new();
    let mut command = umsgate_with_nofile(dir.path(), Some(256));
    child_gateway_env(&mut command, &dir)
        .arg("serve")
        .env("UMSGATE__NOTIFY__BODY_TIMEOUT", "1s")
        .env("UMSGATE__API__WORKERS", "1")
        .env("UMSGATE__NOTIFY__WORKERS", "1");
    let gateway = ChildGateway::spawn(command, dir.path().join("gateway.log"))
        .await
        .unwrap_or_else(|e| panic!("the gateway did not start: {e}"));
    let client = awc::Client::builder().timeout(ANSWER_TIMEOUT).finish();
    let order = "1017SLOW000001";
    let res = client
        .post(format!("{}/orders", gateway.api))
        .send_json(&json!({"merOrderId": order, "amount": 100}))
        .await
        .expect("order created");
    assert_eq!(res.status(), StatusCode::CREATED);
    let notify_addr = gateway.notify.trim_start_matches("http://").to_owned();
    let slow = tokio::task::spawn_blocking(move || {
        (0..SLOW_CLIENTS)
            .filter_map(|_| slow_body(&notify_addr))
            .collect::<Vec<_>>()
    })
    .await
    .expect("slow clients");
    assert_eq!(slow.len(), SLOW_CLIENTS, "every slow client connected");

    // Act
    let mut notified = client
        .post(format!("{}/notify/payment", gateway.notify))
        .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
        .send_body(paid_notice(order, 100, "slow-genuine-1"))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the genuine notification got no answer: {e}\n{}",
                gateway.log_tail()
            )
        });
    let reply = notified.body().await.expect("reply");
    let health = client
        .get(format!("{}/healthz", gateway.api))
        .send()
        .await
        .expect("healthz answered");

    // Assert
    assert_eq!(
        (notified.status(), &reply[..]),
        (StatusCode::OK, &b"SUCCESS"[..])
    );
    assert_eq!(health.status(), StatusCode::OK);
    let mut order_now = client
        .get(format!("{}/orders/{order}", gateway.api))
        .send()
        .await
        .expect("order read");
    let order_now: serde_json::Value = order_now.json().await.expect("order JSON");
    assert_eq!(order_now["status"], "PAID");
    let closed = tokio::task::spawn_blocking(move || {
        slow.into_iter().map(closed_by_server).collect::<Vec<_>>()
    })
    .await
    .expect("slow clients read");
    let open: Vec<&(bool, String)> = closed.iter().filter(|(c, _)| !c).collect();
    assert!(
        open.is_empty(),
        "{} slow connections never closed",
        open.len()
    );
    let answered_408 = closed
        .iter()
        .filter(|(_, a)| a.starts_with("HTTP/1.1 408"))
        .count();
    assert_eq!(answered_408, SLOW_CLIENTS, "each slow body is answered 408");
}

#[actix_web::test]
async fn a_declared_length_over_the_limit_is_refused_at_once_without_reading() {
    // Arrange
    let app = TestApp::spawn().await;
    let head = |path: &str, content_type: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: gateway\r\nContent-Type: {content_type}\r\n\
             Content-Length: 99999999999\r\n\r\n"
        )
        .into_bytes()
    };

    // Act: the head alone; the body never comes.
    let notify = raw_http(
        &app.notify,
        head("/notify/payment", "application/x-www-form-urlencoded"),
    )
    .await;
    let api = raw_http(&app.api, head("/orders", "application/json")).await;

    // Assert
    assert_eq!(notify.status, 413);
    assert_eq!(notify.body, b"FAILED");
    assert_eq!(api.status, 413, "{:?}", api.json());
    app.stop().await;
}

#[actix_web::test]
async fn a_body_slower_than_the_api_body_timeout_is_answered_408() {
    // Arrange
    let app = TestApp::spawn_with(json!({"api": {"body_timeout": "300ms"}})).await;
    let addr = app.api.trim_start_matches("http://").to_owned();

    // Act: the head and half the body, then nothing.
    let (closed, answer) = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(ANSWER_TIMEOUT)).expect("timeout");
        s.write_all(
            b"POST /orders HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n\
              Content-Length: 40\r\n\r\n{\"merOrderId\":",
        )
        .expect("write");
        closed_by_server(s)
    })
    .await
    .expect("slow client");

    // Assert
    assert!(closed, "the connection is closed");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    app.stop().await;
}

/// The database's size once its WAL is folded in.
fn database_bytes(app: &TestApp) -> u64 {
    let mut conn = app.db.conn().expect("connection");
    diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .expect("checkpoint");
    std::fs::metadata(&app.settings.store.path)
        .expect("database file")
        .len()
}

#[actix_web::test]
async fn three_hundred_forged_60kb_notifications_cost_under_a_megabyte_and_get_429_past_the_budget()
{
    // Arrange: a budget of 20 refusals an hour; forgeries from 127.0.0.1, the provider
    // on 127.0.0.2. A SQLite file whatever the suite's backend: the cost is read as the
    // file's size.
    let app = TestApp::spawn_on(
        TestDatabase::sqlite(),
        json!({"notify": {"rejected_budget": 20, "rejected_window": "1h"}}),
    )
    .await;
    for id in ["1017FLOOD00001", "1017FLOOD00002"] {
        let (status, body) = app
            .post_json("/orders", &json!({"merOrderId": id, "amount": 100}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let provider = awc::Client::builder()
        .connector(awc::Connector::new().local_address("127.0.0.2".parse().unwrap()))
        .finish();
    let mut forged = b"notifyId=forged&billNo=1017FLOOD00001&billStatus=PAID&memo=".to_vec();
    forged.resize(60 * 1024 - 9, b'x');
    forged.extend_from_slice(b"&sign=BAD");
    let before = database_bytes(&app);

    // Act
    let mut statuses = Vec::new();
    for i in 0..300 {
        let (status, _) = app
            .post_notify(
                "/notify/payment",
                forged.clone(),
                Some("application/x-www-form-urlencoded"),
            )
            .await;
        statuses.push(status);
        if i == 150 {
            let mut res = provider
                .post(format!("{}/notify/payment", app.notify))
                .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
                .send_body(paid_notice("1017FLOOD00001", 100, "flood-genuine-1"))
                .await
                .expect("genuine answered");
            assert_eq!(res.status(), StatusCode::OK);
            assert_eq!(&res.body().await.unwrap()[..], b"SUCCESS");
        }
    }
    // The flooding peer's own genuine notification is not held back by its spent budget.
    let (own_status, own_reply) = app
        .post_notify(
            "/notify/payment",
            paid_notice("1017FLOOD00002", 100, "flood-genuine-2"),
            Some("application/x-www-form-urlencoded"),
        )
        .await;
    let after = database_bytes(&app);

    // Assert
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::BAD_REQUEST)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((refused, limited), (20, 280), "{statuses:?}");
    assert!(
        statuses[20..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "429 from the 21st on"
    );
    assert_eq!(
        (own_status, own_reply.as_str()),
        (StatusCode::OK, "SUCCESS")
    );
    assert_eq!(app.order("1017FLOOD00001").await["status"], "PAID");
    assert_eq!(app.order("1017FLOOD00002").await["status"], "PAID");
    assert!(
        after.saturating_sub(before) < 1024 * 1024,
        "the database grew by {} bytes",
        after - before
    );
    let (_, journal) = app
        .admin_get("/admin/notifications?limit=500&outcome=rejected")
        .await;
    let rows = journal["notifications"].as_array().expect("rows");
    assert_eq!(
        rows.len(),
        20,
        "one journal row per refusal within the budget"
    );
    let detail = rows[0]["detail"].as_str().unwrap();
    assert!(detail.contains("body 61440 bytes, sha256 "), "{detail}");
    let (_, metrics) = app.get_text(&app.api, "/metrics").await;
    assert!(
        metrics
            .contains("umsgate_notifications_total{kind=\"payment\",outcome=\"over_budget\"} 280"),
        "{metrics}"
    );
    app.stop().await;
}

#[actix_web::test]
async fn a_forged_x_forwarded_for_from_an_untrusted_peer_is_not_the_logged_client() {
    // Arrange: one gateway trusting nobody, one trusting 127.0.0.1 as its proxy.
    let logs = capture_logs();
    let open = TestApp::spawn().await;
    let proxied = TestApp::spawn_with(json!({"api": {"trusted_proxies": ["127.0.0.1"]}})).await;
    let get = |forwarded: &str| {
        format!(
            "GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Forwarded-For: {forwarded}\r\n\
             Connection: close\r\n\r\n"
        )
        .into_bytes()
    };

    // Act
    let a = raw_http(&open.api, get("6.6.6.6")).await;
    let b = raw_http(&proxied.api, get("6.6.6.6, 198.51.100.77")).await;

    // Assert
    assert_eq!((a.status, b.status), (200, 200));
    let text = logs.lock().unwrap().clone();
    assert!(
        !text.contains("6.6.6.6"),
        "a forged hop was logged:\n{text}"
    );
    assert!(
        text.contains("198.51.100.77 \"GET /healthz\""),
        "behind a trusted proxy, the last untrusted hop is the client"
    );
    open.stop().await;
    proxied.stop().await;
}

/// An awc client whose connections leave from `local` (a loopback address 127.0.0.x).
fn client_from(local: &str) -> awc::Client {
    awc::Client::builder()
        .connector(awc::Connector::new().local_address(local.parse().expect("an address")))
        .finish()
}

/// `GET /admin/notifications` from `local` with bearer `token` and, when given, an
/// `X-Forwarded-For`: the status and the `Retry-After`.
async fn admin_from(
    app: &TestApp,
    local: &str,
    forwarded: Option<&str>,
    token: &str,
) -> (StatusCode, Option<String>) {
    let mut req = client_from(local)
        .get(format!("{}/admin/notifications?limit=1", app.api))
        .insert_header(("Authorization", format!("Bearer {token}")));
    if let Some(f) = forwarded {
        req = req.insert_header(("X-Forwarded-For", f));
    }
    let mut res = req.send().await.expect("answered");
    let _ = res.body().await;
    let retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (res.status(), retry)
}

#[actix_web::test]
async fn three_hundred_wrong_admin_tokens_get_429_past_five_on_this_instance_and_on_a_second_one() {
    // Arrange: two gateways on one database file.
    let app = TestApp::spawn().await;
    let second = TestApp::start(app.settings.clone(), app.dir.clone()).await;

    // Act
    let mut statuses = Vec::new();
    for _ in 0..300 {
        statuses.push(admin_from(&app, "127.0.0.1", None, "wrong-token-0123456789").await);
    }
    let right_here = admin_from(&app, "127.0.0.1", None, ADMIN_TOKEN).await;
    let right_there = admin_from(&second, "127.0.0.1", None, ADMIN_TOKEN).await;
    second.advance_ms(61_000);
    let a_minute_later = admin_from(&second, "127.0.0.1", None, ADMIN_TOKEN).await;

    // Assert
    let unauthorized = statuses
        .iter()
        .filter(|(s, _)| *s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(unauthorized, 5, "{statuses:?}");
    assert!(statuses[5..]
        .iter()
        .all(|(s, retry)| *s == StatusCode::TOO_MANY_REQUESTS && retry.as_deref() == Some("60")));
    assert_eq!(
        right_here.0,
        StatusCode::TOO_MANY_REQUESTS,
        "the token is not looked at"
    );
    assert_eq!(
        right_there.0,
        StatusCode::TOO_MANY_REQUESTS,
        "the instances share it"
    );
    assert_eq!(a_minute_later.0, StatusCode::OK);
    second.stop().await;
    app.stop().await;
}

#[actix_web::test]
async fn two_ipv6_addresses_in_one_64_share_a_limit_and_another_64_has_its_own() {
    // Arrange: behind a trusted proxy on 127.0.0.1, clients named by X-Forwarded-For.
    let app = TestApp::spawn_with(json!({"api": {"trusted_proxies": ["127.0.0.1"]}})).await;
    for _ in 0..5 {
        let (status, _) = admin_from(
            &app,
            "127.0.0.1",
            Some("2001:db8:1:2::1"),
            "wrong-token-0123456789",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    // Act
    let same_64 = admin_from(&app, "127.0.0.1", Some("2001:db8:1:2:ffff::9"), ADMIN_TOKEN).await;
    let other_64 = admin_from(&app, "127.0.0.1", Some("2001:db8:1:3::1"), ADMIN_TOKEN).await;

    // Assert
    assert_eq!(same_64.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(other_64.0, StatusCode::OK);
    app.stop().await;
}

#[actix_web::test]
async fn eleven_addresses_get_no_more_admin_guesses_than_four() {
    // Arrange: ten loopback addresses and an IPv6 client behind the trusted proxy.
    let app = TestApp::spawn_with(json!({"api": {"trusted_proxies": ["127.0.0.1"]}})).await;
    let clients: Vec<(String, Option<&str>)> = (2..=11)
        .map(|i| (format!("127.0.0.{i}"), None))
        .chain([("127.0.0.1".to_owned(), Some("2001:db8:5::1"))])
        .collect();

    // Act: five guesses from each.
    let mut unauthorized = 0;
    for _ in 0..5 {
        for (local, forwarded) in &clients {
            let (status, _) = admin_from(&app, local, *forwarded, "wrong-token-0123456789").await;
            unauthorized += usize::from(status == StatusCode::UNAUTHORIZED);
        }
    }
    let fresh = admin_from(&app, "127.0.0.12", None, ADMIN_TOKEN).await;

    // Assert: 4 × 5 guesses looked at, not 11 × 5.
    assert_eq!(unauthorized, 20);
    assert_eq!(
        fresh.0,
        StatusCode::TOO_MANY_REQUESTS,
        "the ceiling holds for all"
    );
    app.stop().await;
}

#[actix_web::test]
async fn twenty_addresses_journal_no_more_refused_notices_than_the_ceiling_of_four_peers() {
    // Arrange: a budget of 5 refusals an hour per peer, so a ceiling of 20 in all.
    let app = TestApp::spawn_with(json!({
        "notify": {"rejected_budget": 5, "rejected_window": "1h"}
    }))
    .await;
    let peers: Vec<awc::Client> = (2..=21)
        .map(|i| client_from(&format!("127.0.0.{i}")))
        .collect();
    let forged = "notifyId=forged&billNo=1017CEIL00001&billStatus=PAID&sign=BAD";

    // Act: five forgeries from each of 20 addresses, every address within its own budget.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        for peer in &peers {
            let res = peer
                .post(format!("{}/notify/payment", app.notify))
                .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
                .send_body(forged)
                .await
                .expect("answered");
            statuses.push(res.status());
        }
    }

    // Assert
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::BAD_REQUEST)
        .count();
    assert_eq!(refused, 20, "{statuses:?}");
    let (_, journal) = app
        .admin_get("/admin/notifications?limit=500&outcome=rejected")
        .await;
    assert_eq!(journal["notifications"].as_array().expect("rows").len(), 20);
    let (_, metrics) = app.get_text(&app.api, "/metrics").await;
    assert!(
        metrics
            .contains("umsgate_notifications_total{kind=\"payment\",outcome=\"over_ceiling\"} 80"),
        "{metrics}"
    );
    app.stop().await;
}
