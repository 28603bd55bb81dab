//! Retention: the prune deletes old rejected and duplicate journal rows and provider calls,
//! and keeps every row an order's event cites and every row of an order that is not final.
//! "Old" is reached by pruning as of two days from now with a one-day age, not by waiting.

use std::process::{Command, Stdio};
use std::time::Duration;

use awc::http::StatusCode;
use diesel::{QueryableByName, RunQueryDsl};
use serde_json::json;
use umsgate::store::notifications;

use crate::helpers::{child_store_env, eventually, TestApp, TestDatabase, ADMIN_TOKEN};

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord, Clone)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::Text)]
    what: String,
}

/// Every journal row as `notification:<id> <outcome> <order>` and every call as
/// `call:<id> <operation> <order>`.
fn rows(app: &TestApp) -> Vec<String> {
    let mut rows: Vec<Row> = diesel::sql_query(
        "SELECT 'notification:' || id || ' ' || outcome || ' ' || coalesce(order_ref, '-') AS what
           FROM notifications
         UNION ALL
         SELECT 'call:' || id || ' ' || operation || ' ' || coalesce(mer_order_id, '-')
           FROM provider_calls",
    )
    .load(&mut app.db.conn().unwrap())
    .unwrap();
    rows.sort();
    rows.into_iter().map(|r| r.what).collect()
}

/// Every evidence reference the events hold.
fn cited(app: &TestApp) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Cited {
        #[diesel(sql_type = diesel::sql_types::Text)]
        evidence: String,
    }
    let cited: Vec<Cited> =
        diesel::sql_query("SELECT evidence FROM order_events WHERE evidence IS NOT NULL")
            .load(&mut app.db.conn().unwrap())
            .unwrap();
    cited.into_iter().map(|c| c.evidence).collect()
}

async fn bind(app: &TestApp, id: &str) {
    let (status, body) = app
        .post_json(
            "/orders",
            &json!({"merOrderId": id, "amount": 100, "qrCodeId": format!("QR{id}")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn forge(app: &TestApp, order: &str) {
    let body = format!("notifyId=forged-{order}&billNo={order}&billStatus=PAID&sign=BAD");
    let (status, _) = app
        .post_notify(
            "/notify/payment",
            body.into_bytes(),
            Some("application/x-www-form-urlencoded"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn prune_keeps_every_row_an_event_cites_and_removes_the_old_rejected_ones() {
    // Arrange: CLOSED (final) by its notification, CLOSED (final) by a query, PENDING.
    let app = TestApp::spawn().await;
    let (closed, queried, pending) = ("1017RET00001", "1017RET00002", "1017RET00003");
    for id in [closed, queried, pending] {
        bind(&app, id).await;
    }
    app.sandbox_post(&format!("/_sandbox/orders/{closed}/close"), &json!({}))
        .await;
    eventually("the close notification is applied", || async {
        app.order(closed).await["status"] == "CLOSED"
    })
    .await;
    app.sandbox_post(&format!("/_sandbox/orders/{queried}/expire"), &json!({}))
        .await;
    let (status, _) = app
        .admin_post(&format!("/admin/orders/{queried}/resync"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.order(queried).await["status"], "CLOSED");
    // A copy of the close notification again: a duplicate row.
    let applied = app
        .db
        .run(|c| {
            notifications::list(
                c,
                &notifications::Filter {
                    outcome: Some("applied".into()),
                    limit: 10,
                    ..Default::default()
                },
            )
        })
        .await
        .unwrap();
    let applied_id = applied[0].id;
    let raw = app
        .db
        .run(move |c| notifications::raw_body(c, applied_id))
        .await
        .unwrap()
        .unwrap();
    let (status, reply) = app
        .post_notify(
            "/notify/payment",
            raw,
            Some("application/x-www-form-urlencoded"),
        )
        .await;
    assert_eq!((status, reply.as_str()), (StatusCode::OK, "SUCCESS"));
    for order in [closed, pending, "1017NOSUCH01"] {
        forge(&app, order).await;
    }
    let before = rows(&app);
    let cited = cited(&app);
    assert!(cited.iter().any(|c| c.starts_with("call:")), "{cited:?}");
    assert!(
        cited.iter().any(|c| c.starts_with("notification:")),
        "{cited:?}"
    );

    // Act
    let later = umsgate::clock::Clock::system().now() + chrono::Duration::days(2);
    let pruned = umsgate::retention::prune(&app.db, Duration::from_secs(24 * 3600), later)
        .await
        .unwrap();
    let again = umsgate::retention::prune(&app.db, Duration::from_secs(24 * 3600), later)
        .await
        .unwrap();
    let kept_when_young =
        umsgate::retention::prune(&app.db, Duration::from_secs(3 * 24 * 3600), later)
            .await
            .unwrap();

    // Assert
    let after = rows(&app);
    for c in &cited {
        assert!(
            after.iter().any(|r| r.starts_with(&format!("{c} "))),
            "{c} is cited and was deleted: {after:?}"
        );
    }
    let gone: Vec<&String> = before.iter().filter(|r| !after.contains(r)).collect();
    let has = |rows: &[&String], what: &str| rows.iter().any(|r| r.ends_with(what));
    assert!(has(&gone, &format!("rejected {closed}")), "{gone:?}");
    assert!(has(&gone, "rejected 1017NOSUCH01"), "{gone:?}");
    assert!(has(&gone, &format!("duplicate {closed}")), "{gone:?}");
    assert!(has(&gone, &format!("update-qrcode {closed}")), "{gone:?}");
    let kept: Vec<&String> = after.iter().collect();
    assert!(
        has(&kept, &format!("rejected {pending}")),
        "not final: {kept:?}"
    );
    assert!(
        has(&kept, &format!("update-qrcode {pending}")),
        "not final: {kept:?}"
    );
    assert!(has(&kept, &format!("applied {closed}")), "{kept:?}");
    assert_eq!(pruned.total(), gone.len());
    assert_eq!((again.total(), kept_when_young.total()), (0, 0));
    app.stop().await;
}

#[actix_web::test]
async fn umsgate_prune_runs_from_the_command_line_and_says_what_it_deleted() {
    // Arrange: the suite's backend (a SQLite file, or a PostgreSQL database of its own).
    let db = TestDatabase::new();
    let mut command = Command::new(env!("CARGO_BIN_EXE_umsgate"));
    child_store_env(&mut command, &db);

    // Act
    let out = command
        .arg("--config-dir")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config"))
        .arg("prune")
        .env("UMSGATE__ADMIN__TOKEN", ADMIN_TOKEN)
        .env("UMSGATE__RETENTION__MAX_AGE", "30d")
        .stdin(Stdio::null())
        .output()
        .expect("umsgate prune runs");

    // Assert
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.trim(),
        "pruned 0 notifications and 0 provider calls older than 30days"
    );
}
