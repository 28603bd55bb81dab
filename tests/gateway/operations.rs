//! What operators rely on while the gateway serves: it notices its database file deleted
//! or replaced and acknowledges nothing more, every request carries an id from the access
//! log to the journal, and `/metrics` has every family from the first scrape, with a series
//! for every notice outcome and check outcome.

use awc::http::StatusCode;
use diesel::{QueryableByName, RunQueryDsl};
use serde_json::json;

use crate::helpers::{capture_logs, PaidBill, TestApp, TestDatabase};

/// Removes the database file and its WAL companions, as a stray `rm data/*` would.
fn delete_database(app: &TestApp) {
    let path = app.settings.store.path.clone();
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        let _ = std::fs::remove_file(file);
    }
}

async fn refuses_every_write(app: &TestApp) {
    let (status, body) = app
        .post_json(
            "/orders",
            &json!({"merOrderId": "1017OPS0002", "amount": 100}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "unavailable");
    let (status, _) = app.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, reply) = app
        .post_notify(
            "/notify/payment",
            PaidBill::new("1017OPS0001").notify_id("ops-n-1").form(),
            Some("application/x-www-form-urlencoded"),
        )
        .await;
    assert!(status.is_server_error(), "{status} {reply}");
    assert_ne!(reply, "SUCCESS");
}

#[actix_web::test]
async fn a_database_deleted_while_serving_acknowledges_nothing_and_is_not_ready() {
    // Arrange: a SQLite file whatever the suite's backend (the test is about the file).
    let logs = capture_logs();
    let app = TestApp::spawn_on(TestDatabase::sqlite(), json!({})).await;
    let (status, _) = app
        .post_json(
            "/orders",
            &json!({"merOrderId": "1017OPS0001", "amount": 100}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // Act
    delete_database(&app);

    // Assert
    refuses_every_write(&app).await;
    let path = app.settings.store.path.display().to_string();
    let lines = logs.lock().unwrap().clone();
    assert!(
        lines.lines().any(|l| l.starts_with("ERROR")
            && l.contains(&path)
            && l.contains("deleted or replaced")),
        "no ERROR line naming {path}"
    );
    app.stop().await;
}

#[actix_web::test]
async fn a_database_file_replaced_while_serving_is_noticed_too() {
    // Arrange: a copy of the file, put back in its place (a restore over a running gateway);
    // a SQLite file whatever the suite's backend.
    let app = TestApp::spawn_on(TestDatabase::sqlite(), json!({})).await;
    let path = app.settings.store.path.clone();
    let copy = path.with_extension("copy");
    std::fs::copy(&path, &copy).unwrap();

    // Act
    std::fs::rename(&copy, &path).unwrap();

    // Assert
    refuses_every_write(&app).await;
    app.stop().await;
}

#[derive(QueryableByName)]
struct RequestId {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    request_id: Option<String>,
}

#[actix_web::test]
async fn every_request_has_an_id_echoed_logged_and_journaled() {
    // Arrange
    let logs = capture_logs();
    let app = TestApp::spawn().await;
    app.post_json(
        "/orders",
        &json!({"merOrderId": "1017OPS0003", "amount": 100}),
    )
    .await;
    let client = awc::Client::default();
    let send = |id: Option<&str>| {
        let mut req = client
            .post(format!("{}/notify/payment", app.notify))
            .insert_header(("Content-Type", "application/x-www-form-urlencoded"));
        if let Some(id) = id {
            req = req.insert_header(("X-Request-Id", id));
        }
        req.send_body(PaidBill::new("1017OPS0003").notify_id("ops-n-3").form())
    };

    // Act: one id given, one absurd (replaced), one missing (generated).
    let given = send(Some("trace-42.a_b")).await.expect("sent");
    let absurd = send(Some(&"x".repeat(65))).await.expect("sent");
    let missing = send(None).await.expect("sent");

    // Assert
    let id = |res: &awc::ClientResponse<_>| {
        res.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .expect("x-request-id in the answer")
    };
    assert_eq!(id(&given), "trace-42.a_b");
    let (replaced, generated) = (id(&absurd), id(&missing));
    for generated in [&replaced, &generated] {
        assert_eq!(generated.len(), 32, "{generated}");
        assert!(generated.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    assert_ne!(replaced, generated);
    let journaled: Vec<Option<String>> =
        diesel::sql_query("SELECT request_id FROM notifications ORDER BY id")
            .load::<RequestId>(&mut app.db.conn().unwrap())
            .unwrap()
            .into_iter()
            .map(|r| r.request_id)
            .collect();
    assert_eq!(
        journaled,
        [Some("trace-42.a_b".into()), Some(replaced), Some(generated)]
    );
    crate::helpers::eventually("the access log line", || async {
        logs.lock()
            .unwrap()
            .contains("\"POST /notify/payment\" 200")
            && logs.lock().unwrap().contains("id=trace-42.a_b")
    })
    .await;
    app.stop().await;
}

#[actix_web::test]
async fn metrics_have_process_build_info_and_every_family_from_the_first_scrape() {
    let app = TestApp::spawn().await;

    let (status, text) = app.get_text(&app.api, "/metrics").await;

    assert_eq!(status, StatusCode::OK);
    for family in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "umsgate_http_requests_total",
        "umsgate_notifications_total",
        "umsgate_provider_calls_total",
        "umsgate_provider_call_seconds",
        "umsgate_provider_token_refreshes_total",
        "umsgate_reconcile_checks_total",
        "umsgate_payment_resolution_seconds",
        "umsgate_orders_pending_by_age",
        "umsgate_orders",
        "umsgate_orders_needing_review",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} missing:\n{text}"
        );
    }
    assert!(text.contains(
        "umsgate_notifications_total{kind=\"payment\",outcome=\"rejected_bad_signature\"} 0"
    ));
    for kind in umsgate::notify::KINDS {
        for outcome in umsgate::notify::metric_labels() {
            let series =
                format!("umsgate_notifications_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} 0");
            assert!(text.contains(&series), "{series} missing");
        }
    }
    for outcome in umsgate::flows::check::CheckOutcome::ALL {
        let series = format!(
            "umsgate_reconcile_checks_total{{outcome=\"{}\"}} 0",
            outcome.as_str()
        );
        assert!(text.contains(&series), "{series} missing");
    }
    let build = text
        .lines()
        .find(|l| l.starts_with("umsgate_build_info{"))
        .expect("build info");
    assert!(build.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))));
    assert!(
        build.contains("commit=\"") && build.ends_with("} 1"),
        "{build}"
    );
    app.stop().await;
}
