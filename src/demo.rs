//! `umsgate demo`: a scripted lifecycle against the embedded sandbox, on a throw-away
//! database with the reconciler's schedule compressed to seconds, printed as a short table.
//! It drives the gateway only through its HTTP API, as a backend would; it must not reach
//! into the store.

use std::path::Path;
use std::time::{Duration, Instant};

use figment::providers::Serialized;
use serde_json::{json, Value};

use crate::chinaums::notify_sign::{self, SignType};
use crate::config::{Environment, Settings};
use crate::startup::Application;

/// Longest the demo waits for one order to reach its final state.
const PATIENCE: Duration = Duration::from_secs(30);

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// The order.
    pub order: String,
    /// What was played.
    pub scenario: &'static str,
    /// Its final state.
    pub outcome: String,
    /// What brought it there (the last event's source and reason).
    pub via: String,
    /// How long it took.
    pub took: Duration,
    /// The webhooks the order produced, as the demo's receiver got them (signature
    /// verified): each type with its arrival after the order was created.
    pub webhooks: String,
}

/// The demo receiver's secret (`whsec_` + base64 of "umsgate-demo-webhook-key").
const DEMO_SECRET: &str = "whsec_dW1zZ2F0ZS1kZW1vLXdlYmhvb2sta2V5";

/// What the demo's webhook receiver got: order, type, when, whether the signature held.
type Inbox = std::sync::Arc<std::sync::Mutex<Vec<(String, String, Instant, bool)>>>;

/// Starts the demo's webhook receiver on `127.0.0.1:0`; its URL.
fn start_receiver(inbox: Inbox) -> std::io::Result<String> {
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let keys: Vec<Vec<u8>> = crate::config::decode_secret(DEMO_SECRET)
        .into_iter()
        .collect();
    let server = HttpServer::new(move || {
        let (inbox, keys) = (inbox.clone(), keys.clone());
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let (inbox, keys) = (inbox.clone(), keys.clone());
            async move {
                let h = |n: &str| {
                    req.headers()
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let text = String::from_utf8_lossy(&body);
                let ts = h("webhook-timestamp").parse::<i64>().unwrap_or_default();
                let expected = crate::webhooks::sign::signature(&keys, &h("webhook-id"), ts, &text);
                let verified = h("webhook-signature").split(' ').any(|s| s == expected);
                let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                if let Ok(mut got) = inbox.lock() {
                    got.push((
                        event["data"]["merOrderId"]
                            .as_str()
                            .unwrap_or("?")
                            .to_owned(),
                        event["type"].as_str().unwrap_or("?").to_owned(),
                        Instant::now(),
                        verified,
                    ));
                }
                HttpResponse::NoContent().finish()
            }
        }))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    actix_web::rt::spawn(server);
    Ok(url)
}

/// Prints the rows as a table.
pub fn print(rows: &[Row]) {
    println!(
        "{:<18} {:<40} {:<28} {:<40} {:>7}  webhooks (arrival after creation)",
        "order", "scenario", "final state", "reached via", "took"
    );
    for r in rows {
        println!(
            "{:<18} {:<40} {:<28} {:<40} {:>6.2}s  {}",
            r.order,
            r.scenario,
            r.outcome,
            r.via,
            r.took.as_secs_f64(),
            r.webhooks
        );
    }
    println!("\n(reconciler schedule compressed for the demo: first check after 2 s, then 1 s, 2 s, 4 s)");
}

/// Runs the demo on the built-in defaults and the files of `config_dir`, if given.
/// Returns one row per scenario.
pub async fn run(config_dir: Option<&Path>) -> Result<Vec<Row>, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let inbox = Inbox::default();
    let hook = start_receiver(inbox.clone())?;
    let figment =
        Settings::layers(config_dir, Environment::Sandbox).merge(Serialized::defaults(json!({
            "api": {"bind": "127.0.0.1:0", "workers": 1},
            "notify": {"bind": "127.0.0.1:0", "workers": 1, "public_url": "http://127.0.0.1:0"},
            "sandbox": {"bind": "127.0.0.1:0", "notify_backoff": ["0s", "1s", "2s"]},
            "store": {"path": dir.path().join("demo.db")},
            "reconcile": {
                "tick": "* * * * * *",
                "first_check_after": "2s",
                "backoff": ["1s", "2s", "4s"],
                "expiry_grace": "0s",
            },
            "webhooks": {
                "endpoints": [{"url": hook, "secret": DEMO_SECRET}],
                "tick": "100ms",
            },
        })));
    let settings = Settings::from_figment(figment, Environment::Sandbox)?;
    let app = Application::build(settings).await?;
    let api = format!("http://127.0.0.1:{}", app.api_port());
    let notify = format!("http://127.0.0.1:{}", app.notify_port());
    let sandbox = app.sandbox_url().unwrap_or_default().to_owned();
    let handle = app.handle();
    let stamp = app.clock().now().format("%H%M%S").to_string();
    let running = actix_web::rt::spawn(app.run_until_stopped());
    let played = play(&api, &notify, &sandbox, &stamp, &inbox).await;
    // Everything stops before the throw-away database goes: the listeners, then (awaited)
    // the reconciler, the webhook worker and the sandbox, and with them the pool. A file
    // removed under a gateway still writing is "deleted or replaced while serving" (ERROR).
    handle.stop(true).await;
    running.await??;
    dir.close()?;
    played
}

/// Plays the four scenarios against a running gateway; one row each.
async fn play(
    api: &str,
    notify: &str,
    sandbox: &str,
    stamp: &str,
    inbox: &Inbox,
) -> Result<Vec<Row>, Box<dyn std::error::Error>> {
    let http = awc::Client::default();
    let call = |method: &'static str, url: String, body: Value| {
        let http = &http;
        async move {
            let req = if method == "GET" {
                http.get(url)
            } else {
                http.post(url)
            };
            let mut res = req.send_json(&body).await.map_err(|e| e.to_string())?;
            let bytes = res.body().await.map_err(|e| e.to_string())?;
            Ok::<_, String>((
                res.status().as_u16(),
                serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
            ))
        }
    };
    let id = |n: u8| format!("1017DEMO{stamp}{n}");
    let settle = |order: String, want: &'static [&'static str]| {
        let call = &call;
        let api = &api;
        async move {
            let started = Instant::now();
            loop {
                let (_, o) = call("GET", format!("{api}/orders/{order}"), Value::Null).await?;
                let status = o["status"].as_str().unwrap_or("?").to_owned();
                if want.contains(&status.as_str()) || started.elapsed() > PATIENCE {
                    let (_, ev) =
                        call("GET", format!("{api}/orders/{order}/events"), Value::Null).await?;
                    let via = ev["events"]
                        .as_array()
                        .and_then(|e| e.last())
                        .map(|e| {
                            format!(
                                "{} ({})",
                                e["source"].as_str().unwrap_or("?"),
                                e["reason"].as_str().unwrap_or("")
                            )
                        })
                        .unwrap_or_default();
                    return Ok::<_, String>((status, via, started.elapsed()));
                }
                actix_web::rt::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let bill = |order: &str, extra: Value| {
        let mut body = json!({"merOrderId": order, "amount": 100, "qrCodeId": format!("QR{order}"), "description": "demo"});
        if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
            b.extend(e);
        }
        body
    };
    let mut rows = Vec::new();
    let demo_started = Instant::now();
    let mut created_at = std::collections::HashMap::new();

    println!(
        "umsgate demo: gateway api {api}, notify {notify}, embedded provider sandbox {sandbox}\n"
    );

    // 1. Paid, and the provider's notification arrives.
    let a = id(1);
    created_at.insert(a.clone(), Instant::now());
    call("POST", format!("{api}/orders"), bill(&a, json!({}))).await?;
    call(
        "POST",
        format!("{sandbox}/_sandbox/orders/{a}/pay"),
        json!({}),
    )
    .await?;
    let (outcome, via, took) = settle(a.clone(), &["PAID"]).await?;
    rows.push(Row {
        order: a,
        scenario: "paid; notification delivered",
        outcome,
        via,
        took,
        webhooks: String::new(),
    });

    // 2. Paid, but the notification is lost: the reconciler's query finds the payment.
    let b = id(2);
    created_at.insert(b.clone(), Instant::now());
    call("POST", format!("{api}/orders"), bill(&b, json!({}))).await?;
    call(
        "POST",
        format!("{sandbox}/_sandbox/orders/{b}/pay"),
        json!({"notify": false}),
    )
    .await?;
    let (outcome, via, took) = settle(b.clone(), &["PAID"]).await?;
    rows.push(Row {
        order: b,
        scenario: "paid; notification lost, found by query",
        outcome,
        via,
        took,
        webhooks: String::new(),
    });

    // 3. Never paid; it expires and is closed.
    let c = id(3);
    created_at.insert(c.clone(), Instant::now());
    call(
        "POST",
        format!("{api}/orders"),
        bill(&c, json!({"expiresInSeconds": 2})),
    )
    .await?;
    let (outcome, via, took) = settle(c.clone(), &["CLOSED"]).await?;
    rows.push(Row {
        order: c,
        scenario: "never paid; expired",
        outcome,
        via,
        took,
        webhooks: String::new(),
    });

    // 4. A forged "paid" notification (signed with a key that is not ours) is refused.
    let d = id(4);
    created_at.insert(d.clone(), Instant::now());
    call("POST", format!("{api}/orders"), bill(&d, json!({}))).await?;
    let started = Instant::now();
    let fields = [
        ("billNo", d.as_str()),
        ("billStatus", "PAID"),
        ("totalAmount", "100"),
        ("notifyId", "demo-forged-0001"),
        ("mid", "898340149000005"),
    ];
    let forged = notify_sign::signed_form(&fields, "not-the-notification-key", SignType::Md5);
    let mut res = http
        .post(format!("{notify}/notify/payment"))
        .content_type("application/x-www-form-urlencoded")
        .send_body(forged)
        .await
        .map_err(|e| e.to_string())?;
    let reply = String::from_utf8_lossy(&res.body().await.map_err(|e| e.to_string())?).into_owned();
    let (_, o) = call("GET", format!("{api}/orders/{d}"), Value::Null).await?;
    rows.push(Row {
        order: d,
        scenario: "forged paid notification",
        outcome: format!(
            "{} (order stays {})",
            reply.trim(),
            o["status"].as_str().unwrap_or("?")
        ),
        via: format!(
            "notify (HTTP {}, journaled rejected)",
            res.status().as_u16()
        ),
        took: started.elapsed(),
        webhooks: String::new(),
    });

    // The webhooks each order produced: wait (bounded) for the one of its final state.
    let finals = ["order.paid", "order.closed"];
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        let got = inbox.lock().map(|g| g.clone()).unwrap_or_default();
        let done = rows.iter().take(3).all(|r| {
            got.iter()
                .any(|(o, t, _, _)| *o == r.order && finals.contains(&t.as_str()))
        });
        if done {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let got = inbox.lock().map(|g| g.clone()).unwrap_or_default();
    for r in &mut rows {
        let created = created_at.get(&r.order).copied().unwrap_or(demo_started);
        r.webhooks = got
            .iter()
            .filter(|(o, ..)| *o == r.order)
            .map(|(_, t, at, verified)| {
                format!(
                    "{}{} +{:.2}s",
                    t.trim_start_matches("order."),
                    if *verified { "" } else { " (BAD SIGNATURE)" },
                    at.saturating_duration_since(created).as_secs_f64()
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
    }

    Ok(rows)
}
