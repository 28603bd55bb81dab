//! The operator's console in a real browser: the gateway and its sandbox as in every other
//! test, driven through headless Chromium by chromedriver (WebDriver). Owns the browser
//! harness; it must not reach into the gateway other than over HTTP and the JSON API.
//!
//! Ignored by `cargo test` (a fresh machine has no browser); run with
//! `cargo test --test gateway browser:: -- --ignored`, where a missing Chromium or
//! chromedriver FAILS the test with what to install, never skips it. Screenshots go to
//! `target/test-output/console/`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use awc::http::StatusCode;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::helpers::{
    bound_bill, delivered, eventually, receive, start_peer, Receiver, TestApp, OPERATOR_TOKEN,
    SECRET, VIEWER_TOKEN,
};

/// Debian's paths (`apt-get install chromium chromium-driver`); `UMSGATE_CHROMIUM` and
/// `UMSGATE_CHROMEDRIVER` override them.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long chromedriver may take to answer `/status`, and a page or element to appear: a
/// cold browser on a busy two-core machine takes seconds; a broken one never comes.
const PATIENCE: Duration = Duration::from_secs(60);

/// Tallest screenshot, in CSS pixels: a whole console page, but not an endless list.
const TALLEST_SHOT: u64 = 2400;

/// What to do about a missing browser or driver: in every failure message about one.
const HOW_TO_RUN: &str = "install Chromium and its driver (Debian: `apt-get install chromium \
     chromium-driver`) or point UMSGATE_CHROMIUM / UMSGATE_CHROMEDRIVER at them; see the \
     README, \"Browser tests\"";

/// A chromedriver child process on a free loopback port. Dropping it kills it and the
/// browsers it started (its own process group), so that a failing test leaves none behind.
struct Chromedriver {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Chromedriver {
    /// Starts `UMSGATE_CHROMEDRIVER` (or Debian's) and waits until `/status` says ready.
    async fn start(dir: &Path) -> Chromedriver {
        use std::os::unix::process::CommandExt;
        let path = std::env::var("UMSGATE_CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.into());
        let port = free_port();
        let log = dir.join("chromedriver.log");
        let child = Command::new(&path)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run chromedriver at {path}: {e}; {HOW_TO_RUN}"));
        let mut driver = Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let client = awc::Client::default();
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            if let Ok(mut res) = client.get(format!("{}/status", driver.url)).send().await {
                if let Ok(status) = res.json::<Value>().await {
                    if status["value"]["ready"] == true {
                        return driver;
                    }
                }
            }
            if let Ok(Some(exit)) = driver.child.try_wait() {
                panic!("chromedriver exited ({exit}):\n{}", driver.log_tail());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "chromedriver did not answer /status within {PATIENCE:?}:\n{}",
                driver.log_tail()
            );
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The whole group: chromedriver and the Chromium processes it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now (the OS's pick for a socket closed at once).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// One headless Chromium session with a fresh profile, on one gateway's api listener.
struct Browser {
    client: Client,
    /// `http://127.0.0.1:<api port>`.
    api: String,
    // Dropped after the client: the driver (and browser) first, then the profile.
    _driver: Chromedriver,
    _profile: TempDir,
}

impl Browser {
    /// A browser on `app`'s console. Panics (with what to install) when Chromium or the
    /// driver is missing.
    async fn open(app: &TestApp) -> Browser {
        let chromium = std::env::var("UMSGATE_CHROMIUM").unwrap_or_else(|_| CHROMIUM.into());
        assert!(
            Path::new(&chromium).is_file(),
            "Chromium not found at {chromium}; {HOW_TO_RUN}"
        );
        let profile = tempfile::tempdir().expect("profile dir");
        let driver = Chromedriver::start(profile.path()).await;
        let user_data = profile.path().join("user-data");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--disable-component-update",
                    "--disable-sync",
                    format!("--user-data-dir={}", user_data.display()),
                    "--window-size=1280,900",
                ],
            },
        });
        let capabilities: serde_json::Map<String, Value> =
            serde_json::from_value(capabilities).expect("the capabilities are a JSON object");
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "no browser session (Chromium at {chromium}): {e}\n{}",
                    driver.log_tail()
                )
            });
        Browser {
            client,
            api: app.api.clone(),
            _driver: driver,
            _profile: profile,
        }
    }

    /// Loads `path` of the api listener.
    async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.api))
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    }

    /// The element matching `css`, waiting for it to appear (a page loading after a
    /// click).
    async fn find(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "no `{css}` on {} ({e}):\n{}",
                self.url().await,
                self.page_text().await
            ),
        }
    }

    /// Every element matching `css` now (the page is loaded: call after [`Browser::find`]).
    async fn all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find `{css}`: {e}"))
    }

    /// The text of the element matching `css` (waited for), trimmed.
    async fn text(&self, css: &str) -> String {
        text_of(&self.find(css).await).await
    }

    /// The page's URL.
    async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    /// The visible text of the page, for failure messages.
    async fn page_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Signs in on the form with `token`, and waits for the overview.
    async fn sign_in(&self, token: &str) {
        self.goto("/admin/console/sign-in").await;
        self.find("form#sign-in input[name=token]")
            .await
            .send_keys(token)
            .await
            .expect("type the token");
        self.find("form#sign-in button[type=submit]")
            .await
            .click()
            .await
            .expect("submit");
        self.find("#signed-in-as").await;
    }

    /// Signs out with the page's form, and waits for the sign-in form.
    async fn sign_out(&self) {
        self.find("form#sign-out [type=submit]")
            .await
            .click()
            .await
            .expect("sign out");
        self.find("form#sign-in").await;
    }

    /// Writes the whole page (the window stretched to its height for the shot, at most
    /// [`TALLEST_SHOT`]) as `target/test-output/console/<name>.png`; prints and returns
    /// the path.
    async fn screenshot(&self, name: &str) -> PathBuf {
        let sizes = self
            .client
            .execute(
                "return [window.outerHeight - window.innerHeight, \
                         document.documentElement.scrollHeight];",
                vec![],
            )
            .await
            .expect("page sizes");
        let chrome = sizes[0].as_u64().expect("a height");
        let page = sizes[1].as_u64().expect("a height").min(TALLEST_SHOT);
        let (width, height) = self.client.get_window_size().await.expect("window size");
        self.client
            .set_window_size(
                u32::try_from(width).expect("a width"),
                u32::try_from(page + chrome).expect("a height"),
            )
            .await
            .expect("window stretched");
        let png = self.client.screenshot().await.expect("screenshot");
        self.client
            .set_window_size(
                u32::try_from(width).expect("a width"),
                u32::try_from(height).expect("a height"),
            )
            .await
            .expect("window restored");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-output/console");
        std::fs::create_dir_all(&dir).expect("test-output dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("screenshot written");
        println!("screenshot: {}", path.display());
        path
    }

    /// POSTs `body` (form-encoded) to `path` from the page with `fetch`, as a script on a
    /// page of the console could: the browser adds the session cookie, the script adds
    /// nothing. The status (0 for a redirect, which is not followed).
    async fn fetch_post(&self, path: &str, body: &str) -> Value {
        let script = "const [url, body, done] = arguments;
            fetch(url, {method: 'POST', body, redirect: 'manual', credentials: 'same-origin',
                        headers: {'Content-Type': 'application/x-www-form-urlencoded'}})
              .then(r => done(r.status), e => done('fetch failed: ' + e));";
        self.client
            .execute_async(
                script,
                vec![json!(format!("{}{path}", self.api)), json!(body)],
            )
            .await
            .expect("script runs")
    }

    /// Ends the session (the driver is killed on drop either way).
    async fn close(self) {
        let Browser {
            client,
            _driver,
            _profile,
            ..
        } = self;
        client.close().await.expect("session closed");
    }
}

/// The element's text, trimmed.
async fn text_of(element: &Element) -> String {
    element
        .text()
        .await
        .expect("element text")
        .trim()
        .to_owned()
}

/// A gateway (with its operator `alice` and viewer `victor`) and a webhook receiver (so that
/// orders have deliveries to show).
async fn console_app() -> TestApp {
    let url = start_peer(Arc::new(Receiver::default()), receive);
    TestApp::spawn_with(json!({
        "webhooks": {
            "endpoints": [{"url": format!("{url}/hook"), "secret": SECRET}],
            "tick": "20ms",
        },
    }))
    .await
}

/// Creates a bound bill of 100 fen that the sandbox's buyer pays 1 fen: the provider's
/// signed notification names another total, and the gateway flags the order for review.
async fn mismatched_order(app: &TestApp, id: &str) {
    bound_bill(app, id, 100).await;
    let (status, body) = app
        .sandbox_post(&format!("/_sandbox/orders/{id}/pay"), &json!({"amount": 1}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    delivered(app, id).await;
    let order = app.order(id).await;
    assert_eq!(order["needsReview"], true, "{order}");
    assert_eq!(order["status"], "PENDING", "{order}");
}

/// Orders paid in full, so that the overview's counts and charts have something to show.
async fn paid_orders(app: &TestApp, ids: &[&str]) {
    for (i, id) in ids.iter().enumerate() {
        bound_bill(app, id, 100 * (i64::try_from(i).expect("few") + 1)).await;
        app.sandbox_post(&format!("/_sandbox/orders/{id}/pay"), &json!({}))
            .await;
    }
    for id in ids {
        eventually(&format!("{id} is paid"), || async {
            app.order(id).await["status"] == "PAID"
        })
        .await;
    }
}

/// Whether the text holds a CJK ideograph.
fn has_chinese(text: &str) -> bool {
    text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver: see README (browser tests)"]
async fn an_operator_acknowledges_an_amount_mismatch_with_a_note_and_the_review_queue_empties() {
    // Arrange: paid orders, one pending, one flagged by a notification of another amount.
    let app = console_app().await;
    paid_orders(&app, &["1017BRPAID01", "1017BRPAID02", "1017BRPAID03"]).await;
    bound_bill(&app, "1017BRPEND01", 250).await;
    let id = "1017BRMISM01";
    mismatched_order(&app, id).await;
    let browser = Browser::open(&app).await;
    let note = "Buyer paid 0.01 by mistake; refunded by the shop, order stays unpaid.";

    // Act: sign in (a wrong token first), find the order in the queue, open it.
    browser.goto("/admin/console/sign-in").await;
    browser.find("form#sign-in").await;
    browser.screenshot("sign-in").await;
    browser
        .find("form#sign-in input[name=token]")
        .await
        .send_keys("not-a-token-of-anyone")
        .await
        .unwrap();
    browser
        .find("form#sign-in button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let refused = browser.text("#sign-in-error").await;
    browser.sign_in(OPERATOR_TOKEN).await;
    let signed_in_as = browser.text("#signed-in-as").await;
    browser.find("svg#chart-payments-per-hour").await;
    browser.find("svg#chart-time-to-final").await;
    let queue_row = browser
        .find(&format!("table#review-queue tr[data-order=\"{id}\"]"))
        .await;
    browser.screenshot("overview").await;
    queue_row
        .find(Locator::Css("a.order-link"))
        .await
        .expect("a link to the order")
        .click()
        .await
        .unwrap();
    let order_id = browser.text("#order-id").await;
    let reason = browser.text("#review-reason").await;
    let sources_before: Vec<String> = {
        let mut sources = Vec::new();
        for e in browser.all("ol#timeline li.event .event-source").await {
            sources.push(text_of(&e).await);
        }
        sources
    };
    browser.find("table#deliveries").await;
    browser.screenshot("order").await;

    // Act: acknowledge with a note.
    browser
        .find("form#acknowledge textarea[name=note]")
        .await
        .send_keys(note)
        .await
        .unwrap();
    browser
        .find("form#acknowledge [type=submit]")
        .await
        .click()
        .await
        .unwrap();
    browser.find("#flash").await;
    browser.screenshot("order-acknowledged").await;

    // Assert: the sign-in, the queue and the page before.
    assert!(!refused.is_empty(), "a wrong token is told so");
    assert!(signed_in_as.contains("alice"), "{signed_in_as}");
    assert_eq!(order_id, id);
    assert!(reason.contains("amount mismatch"), "{reason}");
    assert!(
        sources_before.iter().any(|s| s.contains("notify")),
        "the timeline shows the notification: {sources_before:?}"
    );
    // The page after: no flag, no acknowledge form, the operator's event with the note.
    assert!(browser.all("#review-reason").await.is_empty());
    assert!(browser.all("form#acknowledge").await.is_empty());
    let mut by_alice = Vec::new();
    for event in browser.all("ol#timeline li.event").await {
        let source = match event.find(Locator::Css(".event-source")).await {
            Ok(s) => text_of(&s).await,
            Err(_) => continue,
        };
        if source == "operator: alice" {
            let shown = event
                .find(Locator::Css(".event-note"))
                .await
                .expect("the event shows its note");
            by_alice.push(text_of(&shown).await);
        }
    }
    assert_eq!(by_alice, [note], "one event by alice, with the note");
    // The overview's queue is empty.
    browser.goto("/admin/console/").await;
    browser.find("#review-queue-empty").await;
    assert!(browser
        .all(&format!("tr[data-order=\"{id}\"]"))
        .await
        .is_empty());
    // The JSON API agrees, and money did not move: the order is still unpaid.
    let order = app.order(id).await;
    assert_eq!(order["needsReview"], false, "{order}");
    assert_eq!(order["status"], "PENDING", "{order}");
    let events = app.events(id).await;
    let acknowledged: Vec<&Value> = events.iter().filter(|e| e["operator"] == "alice").collect();
    assert_eq!(acknowledged.len(), 1, "{events:?}");
    assert_eq!(acknowledged[0]["source"], "operator");
    assert_eq!(acknowledged[0]["note"], note);
    browser.close().await;
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver: see README (browser tests)"]
async fn a_viewer_sees_the_order_page_with_no_action_forms_where_an_operator_sees_them() {
    // Arrange: a flagged order with webhook deliveries.
    let app = console_app().await;
    let id = "1017BRVIEW01";
    mismatched_order(&app, id).await;
    eventually("the order's webhooks are delivered", || async {
        let (_, list) = app
            .admin_get("/admin/webhooks/deliveries?status=delivered")
            .await;
        list["deliveries"].as_array().is_some_and(|d| !d.is_empty())
    })
    .await;
    let browser = Browser::open(&app).await;
    let page = format!("/admin/console/orders/{id}");
    let forms = "form#acknowledge, form#resync, form.redeliver";

    // Act: the operator's page, then the viewer's.
    browser.sign_in(OPERATOR_TOKEN).await;
    browser.goto(&page).await;
    browser.find("#review-reason").await;
    let operator_forms = browser.all(forms).await.len();
    let operator_csrf = browser
        .all("form input[type=hidden][name=csrf]")
        .await
        .len();
    browser.sign_out().await;
    browser.sign_in(VIEWER_TOKEN).await;
    let signed_in_as = browser.text("#signed-in-as").await;
    browser.goto(&page).await;
    let order_id = browser.text("#order-id").await;
    browser.find("#review-reason").await;
    browser.find("ol#timeline li.event").await;
    let delivery_rows = browser.all("table#deliveries tbody tr").await.len();
    let viewer_forms = browser.all(forms).await.len();

    // Assert
    assert!(
        operator_forms >= 3,
        "acknowledge, resync and a redeliver per delivery: {operator_forms}"
    );
    assert!(
        operator_csrf >= operator_forms,
        "every action form carries the CSRF token"
    );
    assert!(signed_in_as.contains("victor"), "{signed_in_as}");
    assert_eq!(order_id, id);
    assert!(delivery_rows > 0, "the viewer sees the deliveries");
    assert_eq!(viewer_forms, 0, "a viewer sees no action form");
    browser.close().await;
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver: see README (browser tests)"]
async fn a_post_without_the_csrf_token_is_refused_with_403_and_the_order_stays_flagged() {
    // Arrange: alice signed in, on the flagged order's page.
    let app = console_app().await;
    let id = "1017BRCSRF01";
    mismatched_order(&app, id).await;
    let browser = Browser::open(&app).await;
    browser.sign_in(OPERATOR_TOKEN).await;
    browser.goto(&format!("/admin/console/orders/{id}")).await;
    browser.find("form#acknowledge").await;
    let action = format!("/admin/console/orders/{id}/acknowledge");
    let session: Vec<String> = browser
        .client
        .get_all_cookies()
        .await
        .expect("cookies")
        .iter()
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect();
    let cookie = session.join("; ");
    let client = awc::Client::builder().disable_redirects().finish();

    // Act: from the page with the browser's cookie, with no token and with a made-up one;
    // then from another client with the session cookie read through WebDriver.
    let no_token = browser.fetch_post(&action, "note=forged").await;
    let made_up = browser
        .fetch_post(&action, "note=forged&csrf=0123456789abcdef")
        .await;
    let outside = client
        .post(format!("{}{action}", app.api))
        .insert_header(("Cookie", cookie.as_str()))
        .send_form(&[("note", "forged")])
        .await
        .expect("request sent")
        .status();
    let same_cookie_reads = client
        .get(format!("{}/admin/console/orders/{id}", app.api))
        .insert_header(("Cookie", cookie.as_str()))
        .send()
        .await
        .expect("request sent")
        .status();

    // Assert: refused each time, and nothing changed.
    assert_eq!(no_token, 403);
    assert_eq!(made_up, 403);
    assert_eq!(outside, StatusCode::FORBIDDEN);
    assert_eq!(
        same_cookie_reads,
        StatusCode::OK,
        "the cookie is a valid session: the refusals were for the token"
    );
    let order = app.order(id).await;
    assert_eq!(order["needsReview"], true, "{order}");
    assert!(
        app.events(id).await.iter().all(|e| e["operator"].is_null()),
        "no operator event"
    );
    browser.goto(&format!("/admin/console/orders/{id}")).await;
    browser.find("#review-reason").await;
    browser.find("form#acknowledge").await;
    browser.close().await;
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver: see README (browser tests)"]
async fn the_chinese_switch_shows_chinese_labels_and_the_english_one_english() {
    // Arrange
    let app = console_app().await;
    let browser = Browser::open(&app).await;
    browser.sign_in(VIEWER_TOKEN).await;
    let english = browser.text("a#nav-orders").await;

    // Act
    browser.find("a#lang-zh").await.click().await.unwrap();
    browser.find("html[lang=zh] nav").await;
    let chinese = browser.text("nav").await;
    browser.screenshot("overview-zh").await;
    browser.goto("/admin/console/journal").await;
    let chinese_elsewhere = browser.text("a#nav-journal").await;
    browser.find("a#lang-en").await.click().await.unwrap();
    browser.find("html[lang=en] nav").await;
    let back = browser.text("a#nav-orders").await;

    // Assert
    assert!(!has_chinese(&english), "{english}");
    assert!(chinese.contains("订单"), "{chinese}");
    assert!(
        has_chinese(&chinese_elsewhere),
        "the choice is kept: {chinese_elsewhere}"
    );
    assert_eq!(back, english);
    browser.close().await;
}
