//! The operator's console over real HTTP: sign-in and its cookie, the sign-in limit,
//! session expiry on the gateway's clock, CSRF and roles on the actions, the CSP on every
//! answer, and pages that show what they must and nothing they must not.

use std::cell::RefCell;
use std::collections::HashMap;

use awc::http::StatusCode;
use serde_json::json;
use umsgate::store::deliveries::{self, DeliveryStatus};

use crate::helpers::{
    bound_bill, capture_logs, delivered_to, eventually, paid_notice, with_receiver, PaidBill,
    Receiver, TestApp, ADMIN_TOKEN, OPERATOR_TOKEN, VIEWER_TOKEN,
};

/// An answer of the console.
struct Page {
    status: StatusCode,
    location: Option<String>,
    set_cookies: Vec<String>,
    csp: Option<String>,
    body: String,
}

impl Page {
    /// The CSRF token of the page's forms.
    fn csrf(&self) -> String {
        self.field("csrf")
    }

    /// The value of the page's first form field `name`.
    fn field(&self, name: &str) -> String {
        let key = format!("name=\"{name}\" value=\"");
        let at = self
            .body
            .find(&key)
            .unwrap_or_else(|| panic!("no {name} field in {}", self.body));
        let rest = &self.body[at + key.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }

    /// The session cookie this answer set, whole (`umsgate_console=…; HttpOnly; …`).
    fn session_cookie(&self) -> Option<&str> {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with("umsgate_console="))
            .map(String::as_str)
    }
}

/// A browser without a browser: keeps cookies, follows no redirect.
struct Browser {
    base: String,
    client: awc::Client,
    cookies: RefCell<HashMap<String, String>>,
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Browser {
            base: app.api.clone(),
            client: awc::Client::builder().disable_redirects().finish(),
            cookies: RefCell::default(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .borrow()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn read<S>(&self, mut res: awc::ClientResponse<S>) -> Page
    where
        S: futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>>
            + Unpin,
    {
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let location = header("location");
        let csp = header("content-security-policy");
        let set_cookies: Vec<String> = res
            .headers()
            .get_all("set-cookie")
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        for c in &set_cookies {
            let pair = c.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if c.contains("Max-Age=0") {
                self.cookies.borrow_mut().remove(k);
            } else {
                self.cookies.borrow_mut().insert(k.to_owned(), v.to_owned());
            }
        }
        let body = res.body().limit(4 * 1024 * 1024).await.expect("body read");
        Page {
            status: res.status(),
            location,
            set_cookies,
            csp,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    async fn get(&self, path: &str) -> Page {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .insert_header(("Cookie", self.cookie_header()))
            .send()
            .await
            .expect("request sent");
        self.read(res).await
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .insert_header(("Cookie", self.cookie_header()))
            .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
            .send_body(body)
            .await
            .expect("request sent");
        self.read(res).await
    }

    /// Opens the sign-in form and submits it with `token`, as a browser does.
    async fn sign_in(&self, token: &str) -> Page {
        let csrf = self.get("/admin/console/sign-in").await.csrf();
        self.post(
            "/admin/console/sign-in",
            &[("csrf", csrf.as_str()), ("token", token)],
        )
        .await
    }

    /// Signs in with `token` and answers the overview.
    async fn signed_in(app: &TestApp, token: &str) -> Browser {
        let b = Browser::new(app);
        let res = b.sign_in(token).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
        b
    }
}

#[actix_web::test]
async fn signing_in_sets_an_httponly_samesite_strict_session_cookie_and_names_the_operator() {
    // Arrange
    let logs = capture_logs();
    let app = TestApp::spawn().await;
    let b = Browser::new(&app);

    // Act
    let form = b.get("/admin/console/sign-in").await;
    let signed = b.sign_in(ADMIN_TOKEN).await;
    let overview = b.get("/admin/console/").await;

    // Assert
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("<form id=\"sign-in\" method=\"post\""));
    assert!(form.body.contains("name=\"token\" type=\"password\""));
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    assert_eq!(signed.location.as_deref(), Some("/admin/console/"));
    let cookie = signed.session_cookie().expect("a session cookie");
    for part in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/admin/console",
        "Max-Age=28800",
    ] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    assert_eq!(overview.status, StatusCode::OK);
    assert!(overview.body.contains("id=\"signed-in-as\""));
    assert!(overview.body.contains("<strong>admin</strong> (operator)"));
    // Neither the token nor the session's secrets reach a log line.
    let session = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
    let lines = logs.lock().unwrap().clone();
    assert!(lines.contains("console: admin (operator) signed in"));
    for secret in [ADMIN_TOKEN, session, overview.csrf().as_str()] {
        assert!(!lines.contains(secret), "a console secret reached the log");
    }
}

#[actix_web::test]
async fn over_https_the_session_cookie_is_secure() {
    let app = TestApp::spawn().await;
    let b = Browser::new(&app);
    let csrf = b.get("/admin/console/sign-in").await.csrf();

    let res = b
        .client
        .post(format!("{}/admin/console/sign-in", app.api))
        .insert_header(("Cookie", b.cookie_header()))
        .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
        .insert_header(("X-Forwarded-Proto", "https"))
        .send_body(format!("csrf={csrf}&token={ADMIN_TOKEN}"))
        .await
        .unwrap();
    let page = b.read(res).await;

    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.session_cookie().unwrap().contains("; Secure"));
}

#[actix_web::test]
async fn a_sign_in_posted_from_anywhere_but_our_own_form_is_refused_even_with_a_good_token() {
    // Arrange: another site's form can post a token (its own operator's) but can neither
    // read our form's token nor send our SameSite=Strict cookie.
    let app = TestApp::spawn().await;
    let own_form = Browser::new(&app);
    let csrf = own_form.get("/admin/console/sign-in").await.csrf();
    let elsewhere = Browser::new(&app);

    // Act
    let no_token = elsewhere
        .post("/admin/console/sign-in", &[("token", ADMIN_TOKEN)])
        .await;
    let guessed = elsewhere
        .post(
            "/admin/console/sign-in",
            &[("csrf", csrf.as_str()), ("token", ADMIN_TOKEN)],
        )
        .await;
    let other_field = own_form
        .post(
            "/admin/console/sign-in",
            &[("csrf", "0".repeat(64).as_str()), ("token", ADMIN_TOKEN)],
        )
        .await;
    let own = own_form
        .post(
            "/admin/console/sign-in",
            &[("csrf", csrf.as_str()), ("token", ADMIN_TOKEN)],
        )
        .await;

    // Assert
    for refused in [&no_token, &guessed, &other_field] {
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        assert!(refused.session_cookie().is_none());
    }
    assert_eq!(own.status, StatusCode::SEE_OTHER);
    assert!(own.session_cookie().is_some());
}

#[actix_web::test]
async fn a_wrong_token_gets_the_form_again_with_401_and_no_cookie() {
    let app = TestApp::spawn().await;
    let b = Browser::new(&app);

    let res = b.sign_in("not-the-token-at-all-0123").await;
    let after = b.get("/admin/console/").await;

    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(res.session_cookie().is_none());
    assert!(res.body.contains("id=\"sign-in-error\""));
    assert!(!res.body.contains("not-the-token-at-all"), "not echoed");
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(after.location.as_deref(), Some("/admin/console/sign-in"));
}

#[actix_web::test]
async fn after_five_failures_an_address_gets_429_even_with_the_right_token_until_a_minute_passes() {
    // Arrange
    let app = TestApp::spawn().await;
    let b = Browser::new(&app);
    for _ in 0..5 {
        assert_eq!(
            b.sign_in("wrong-token-0123456789").await.status,
            StatusCode::UNAUTHORIZED
        );
    }

    // Act
    let limited = b.sign_in(ADMIN_TOKEN).await;
    app.advance_ms(61_000);
    let later = b.sign_in(ADMIN_TOKEN).await;

    // Assert
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.session_cookie().is_none());
    assert!(limited.body.contains("id=\"sign-in-error\""));
    assert_eq!(later.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn an_expired_session_is_sent_back_to_sign_in() {
    let app = TestApp::spawn_with(json!({"admin": {"session_ttl": "10m"}})).await;
    let b = Browser::signed_in(&app, ADMIN_TOKEN).await;
    assert_eq!(b.get("/admin/console/").await.status, StatusCode::OK);

    app.advance_ms(10 * 60 * 1000 + 1000);
    let expired = b.get("/admin/console/").await;

    assert_eq!(expired.status, StatusCode::SEE_OTHER);
    assert_eq!(expired.location.as_deref(), Some("/admin/console/sign-in"));
}

#[actix_web::test]
async fn pages_and_actions_without_a_session_go_to_sign_in() {
    let app = TestApp::spawn().await;
    let b = Browser::new(&app);

    for path in [
        "/admin/console/",
        "/admin/console/orders",
        "/admin/console/orders/1017CONS000001",
        "/admin/console/journal",
    ] {
        let res = b.get(path).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(res.location.as_deref(), Some("/admin/console/sign-in"));
    }
    let post = b
        .post("/admin/console/deliveries/1/redeliver", &[("csrf", "x")])
        .await;
    assert_eq!(post.status, StatusCode::SEE_OTHER);
    assert_eq!(post.location.as_deref(), Some("/admin/console/sign-in"));
    let bare = b.get("/admin/console").await;
    assert_eq!(bare.status, StatusCode::SEE_OTHER);
    assert_eq!(bare.location.as_deref(), Some("/admin/console/"));
}

#[actix_web::test]
async fn sign_out_drops_the_session() {
    let app = TestApp::spawn().await;
    let b = Browser::signed_in(&app, ADMIN_TOKEN).await;
    let session = b.cookies.borrow()["umsgate_console"].clone();
    let csrf = b.get("/admin/console/").await.csrf();

    let out = b.post("/admin/console/sign-out", &[("csrf", &csrf)]).await;
    // The old cookie, sent again as a thief would.
    b.cookies
        .borrow_mut()
        .insert("umsgate_console".into(), session);
    let after = b.get("/admin/console/").await;

    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location.as_deref(), Some("/admin/console/sign-in"));
    assert!(out.session_cookie().unwrap().contains("Max-Age=0"));
    assert_eq!(after.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn the_overview_lists_a_flagged_order_in_the_review_queue_and_draws_its_charts() {
    // Arrange
    let app = TestApp::spawn().await;
    let id = "1017CONSREV001";
    app.flag_by_amount_mismatch(id).await;
    let b = Browser::signed_in(&app, ADMIN_TOKEN).await;

    // Act
    let page = b.get("/admin/console/").await;

    // Assert
    assert_eq!(page.status, StatusCode::OK);
    let queue = &page.body[page.body.find("<table id=\"review-queue\"").unwrap()..];
    let queue = &queue[..queue.find("</table>").unwrap()];
    assert!(
        queue.contains(&format!("<tr data-order=\"{id}\">")),
        "{queue}"
    );
    assert!(queue.contains(&format!(
        "<a class=\"order-link\" href=\"/admin/console/orders/{id}\">"
    )));
    assert!(queue.contains("amount mismatch"));
    assert!(!page.body.contains("id=\"review-queue-empty\""));
    assert!(page.body.contains("<table id=\"status-counts\""));
    assert!(page.body.contains("<tr data-status=\"PENDING\"><td><a href=\"/admin/console/orders?status=PENDING\">PENDING</a></td><td class=\"num\">1</td>"));
    assert!(page.body.contains("<svg id=\"chart-payments-per-hour\""));
    assert!(page.body.contains("<svg id=\"chart-time-to-final\""));
    assert!(page
        .body
        .contains("<tr data-outcome=\"review\" class=\"attention\">"));
}

#[actix_web::test]
async fn a_paid_order_is_a_bar_of_the_payments_chart() {
    let app = TestApp::spawn().await;
    let id = "1017CONSPAID01";
    bound_bill(&app, id, 100).await;
    let (status, _) = app
        .post_notify(
            "/notify/payment",
            paid_notice(id, 100, "NCONSPAID01"),
            Some("application/x-www-form-urlencoded"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.order(id).await["status"], "PAID");
    let b = Browser::signed_in(&app, ADMIN_TOKEN).await;

    let page = b.get("/admin/console/").await;

    let hour = app.clock.now().format("%H").to_string();
    assert!(
        page.body.contains(&format!("<title>{hour}: 1</title>")),
        "one payment in this hour's bar"
    );
    assert!(page.body.contains("id=\"review-queue-empty\""));
}

#[actix_web::test]
async fn every_console_answer_carries_the_csp_and_no_page_has_inline_script() {
    // Arrange
    let app = TestApp::spawn().await;
    let id = "1017CONSCSP001";
    app.flag_by_amount_mismatch(id).await;
    let anonymous = Browser::new(&app);
    let b = Browser::signed_in(&app, ADMIN_TOKEN).await;

    // Act
    let mut pages = vec![
        ("sign-in", anonymous.get("/admin/console/sign-in").await),
        ("refused", anonymous.sign_in("wrong-token-0123456789").await),
        ("redirect", anonymous.get("/admin/console/").await),
    ];
    let order_page = format!("/admin/console/orders/{id}");
    for path in [
        "/admin/console/",
        "/admin/console/?lang=zh",
        "/admin/console/orders",
        "/admin/console/orders?status=PENDING&review=yes",
        &order_page,
        "/admin/console/orders/1017NOSUCH0001",
        "/admin/console/journal?outcome=review",
        "/admin/console/no-such-page",
        "/admin/console/assets/console.css",
        "/admin/console/assets/console.js",
    ] {
        pages.push((path, b.get(path).await));
    }
    pages.push((
        "forged",
        b.post(
            &format!("/admin/console/orders/{id}/resync"),
            &[("note", "x")],
        )
        .await,
    ));

    // Assert
    for (what, page) in &pages {
        let csp = page
            .csp
            .as_deref()
            .unwrap_or_else(|| panic!("{what}: no CSP"));
        assert!(csp.contains("script-src 'self'"), "{what}: {csp}");
        assert!(csp.contains("style-src 'self'"), "{what}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        for (at, _) in page.body.match_indices("<script") {
            let tag = &page.body[at..at + page.body[at..].find('>').unwrap()];
            assert!(tag.contains(" src=\""), "{what}: inline script {tag}");
        }
        assert!(
            !page.body.contains(" style=\""),
            "{what}: a style attribute"
        );
        assert!(!page.body.contains("<style"), "{what}: a style element");
        assert!(
            !page.body.contains(" onclick="),
            "{what}: an inline handler"
        );
    }
    let status = |what: &str| pages.iter().find(|(w, _)| *w == what).unwrap().1.status;
    assert_eq!(
        status("/admin/console/orders/1017NOSUCH0001"),
        StatusCode::NOT_FOUND
    );
    assert_eq!(status("/admin/console/no-such-page"), StatusCode::NOT_FOUND);
    assert_eq!(status("forged"), StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn chinese_is_chosen_with_lang_and_remembered_in_a_cookie() {
    let app = TestApp::spawn().await;
    let b = Browser::signed_in(&app, ADMIN_TOKEN).await;

    let zh = b.get("/admin/console/?lang=zh").await;
    let next = b.get("/admin/console/orders").await;
    let en = b.get("/admin/console/journal?lang=en").await;

    assert!(zh.body.contains("<html lang=\"zh\">"));
    assert!(zh.body.contains("待复核队列"));
    assert!(zh
        .set_cookies
        .iter()
        .any(|c| c.starts_with("lang=zh;") && c.contains("Path=/admin/console")));
    assert!(next.body.contains("<html lang=\"zh\">"), "remembered");
    assert!(en.body.contains("<html lang=\"en\">"));
    assert!(en.body.contains("Notification journal"));
}

#[actix_web::test]
async fn an_action_without_the_csrf_token_is_refused_and_changes_nothing() {
    // Arrange: an order with a webhook delivery that was delivered.
    let app = TestApp::spawn().await;
    let id = "1017CONSCSRF01";
    app.flag_by_amount_mismatch(id).await;
    let b = Browser::signed_in(&app, ADMIN_TOKEN).await;
    let page = b.get(&format!("/admin/console/orders/{id}")).await;
    let csrf = page.csrf();

    // Act
    let none = b
        .post(
            &format!("/admin/console/orders/{id}/resync"),
            &[("note", "n")],
        )
        .await;
    let wrong = b
        .post(
            &format!("/admin/console/orders/{id}/resync"),
            &[("note", "n"), ("csrf", &"0".repeat(csrf.len()))],
        )
        .await;
    let calls_before = provider_calls(&app, id);
    let sign_out = b.post("/admin/console/sign-out", &[("note", "")]).await;

    // Assert
    for res in [&none, &wrong] {
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        assert!(res.body.contains("id=\"error\""));
    }
    assert_eq!(provider_calls(&app, id), calls_before, "no query was made");
    assert_eq!(app.order(id).await["needsReview"], true);
    assert_eq!(sign_out.status, StatusCode::FORBIDDEN);
    assert_eq!(
        b.get("/admin/console/").await.status,
        StatusCode::OK,
        "a forged sign-out does not sign out"
    );
}

/// How many provider calls name order `id`.
fn provider_calls(app: &TestApp, id: &str) -> usize {
    let mut conn = app.db.conn().unwrap();
    umsgate::store::provider_calls::list(&mut conn, Some(id))
        .unwrap()
        .len()
}

#[actix_web::test]
async fn a_viewer_sees_no_action_forms_and_its_posts_are_refused() {
    // Arrange
    let app = TestApp::spawn().await;
    let id = "1017CONSVIEW01";
    app.flag_by_amount_mismatch(id).await;
    let b = Browser::signed_in(&app, VIEWER_TOKEN).await;

    // Act
    let page = b.get(&format!("/admin/console/orders/{id}")).await;
    let csrf = page.csrf();
    let posts = [
        b.post(
            &format!("/admin/console/orders/{id}/resync"),
            &[("note", "n"), ("csrf", &csrf)],
        )
        .await,
        b.post(
            &format!("/admin/console/orders/{id}/acknowledge"),
            &[("note", "n"), ("csrf", &csrf)],
        )
        .await,
        b.post("/admin/console/deliveries/1/redeliver", &[("csrf", &csrf)])
            .await,
    ];

    // Assert
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<strong>victor</strong> (viewer)"));
    assert!(page.body.contains("id=\"review-reason\""));
    for form in ["id=\"acknowledge\"", "id=\"resync\"", "class=\"redeliver\""] {
        assert!(!page.body.contains(form), "a viewer's page has no {form}");
    }
    assert!(page.body.contains("<form id=\"sign-out\""), "only sign-out");
    for res in &posts {
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
    }
    assert_eq!(app.order(id).await["needsReview"], true);
}

#[actix_web::test]
async fn the_order_page_shows_its_timeline_journal_rows_and_provider_calls() {
    let app = TestApp::spawn().await;
    let id = "1017CONSPAGE01";
    app.flag_by_amount_mismatch(id).await;
    let b = Browser::signed_in(&app, ADMIN_TOKEN).await;

    let page = b.get(&format!("/admin/console/orders/{id}")).await;

    assert_eq!(page.status, StatusCode::OK);
    assert!(page
        .body
        .contains(&format!("<span id=\"order-id\">{id}</span>")));
    assert!(page.body.contains("<dd id=\"order-status\">PENDING</dd>"));
    assert!(page
        .body
        .contains("<span id=\"review-reason\">amount mismatch"));
    assert!(page.body.contains("<ol id=\"timeline\">"));
    assert!(page
        .body
        .contains("<span class=\"event-source\">api</span>"));
    assert!(page
        .body
        .contains("<span class=\"event-source\">notify</span>"));
    let journal = &page.body[page.body.find("<table id=\"journal-rows\"").unwrap()..];
    let row = journal
        .find("data-outcome=\"review\">")
        .expect("the review row");
    let row_id = &journal[journal[..row].rfind("id=\"notification-").unwrap() + 4..row - 2];
    assert!(
        page.body
            .contains(&format!("<a class=\"event-evidence\" href=\"#{row_id}\">")),
        "the flagging event links to the notification that flagged it: {row_id}"
    );
    let calls = &page.body[page.body.find("<table id=\"provider-calls\"").unwrap()..];
    assert!(calls.contains("<td>update-qrcode</td>"), "the bind call");
    assert!(page.body.contains("<form id=\"acknowledge\""));
    assert!(page.body.contains("<form id=\"resync\""));
}

#[actix_web::test]
async fn an_orders_amount_reads_as_yuan_on_the_console_with_its_fen_while_the_api_keeps_fen() {
    let app = TestApp::spawn().await;
    let id = "1017CONSYUAN01";
    bound_bill(&app, id, 12345).await;
    let b = Browser::signed_in(&app, ADMIN_TOKEN).await;

    let order = b.get(&format!("/admin/console/orders/{id}")).await;
    let list = b.get("/admin/console/orders").await;
    let zh = b.get(&format!("/admin/console/orders/{id}?lang=zh")).await;

    assert_eq!(order.status, StatusCode::OK);
    assert!(
        order.body.contains(
            "<dd id=\"order-amount\"><span class=\"amount\" title=\"12345 fen\">¥123.45</span> \
             <span class=\"muted\">12345 fen</span></dd>"
        ),
        "{}",
        order.body
    );
    assert!(order
        .body
        .contains("<dd id=\"order-refunded\"><span class=\"amount\" title=\"0 fen\">¥0.00</span>"));
    assert!(list
        .body
        .contains("<span class=\"amount\" title=\"12345 fen\">¥123.45</span>"));
    assert!(zh
        .body
        .contains("<span class=\"amount\" title=\"12345 分\">¥123.45</span>"));
    assert!(zh.body.contains("<span class=\"muted\">12345 分</span>"));
    assert_eq!(app.order(id).await["amount"], 12345, "the API stays in fen");
}

#[actix_web::test]
async fn the_journal_shows_who_sent_what_and_why_but_never_the_body_or_a_buyers_mobile() {
    // Arrange: a notice with a bad signature that carries a buyer's mobile and name.
    let app = TestApp::spawn().await;
    let mut body = PaidBill::bare("1017CONSJRNL01")
        .notify_id("NCONSJRNL01")
        .field("mobile", "13912345678")
        .field("name", "ZHANGSANBUYER")
        .form();
    body.extend_from_slice(b"&tampered=1");
    let (status, _) = app
        .post_notify(
            "/notify/payment",
            body,
            Some("application/x-www-form-urlencoded"),
        )
        .await;
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let b = Browser::signed_in(&app, ADMIN_TOKEN).await;

    // Act
    let page = b.get("/admin/console/journal?outcome=rejected").await;

    // Assert
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("<tr data-outcome=\"rejected\">"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<td>127.0.0.1:"),
        "the peer: {}",
        page.body
    );
    assert!(page.body.contains("NCONSJRNL01"), "the notify id");
    for secret in ["13912345678", "ZHANGSANBUYER", "tampered", "billStatus"] {
        assert!(!page.body.contains(secret), "{secret} on the journal page");
    }
}

#[actix_web::test]
async fn an_operator_acknowledges_a_review_with_a_note_and_the_timeline_names_them() {
    // Arrange
    let app = TestApp::spawn().await;
    let id = "1017CONSACK001";
    app.flag_by_amount_mismatch(id).await;
    let b = Browser::signed_in(&app, OPERATOR_TOKEN).await;
    let read = b.get(&format!("/admin/console/orders/{id}")).await;
    let (csrf, version) = (read.csrf(), read.field("version"));

    // Act
    let done = b
        .post(
            &format!("/admin/console/orders/{id}/acknowledge"),
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("note", "  refunded the 1 fen by hand  "),
            ],
        )
        .await;
    let page = b.get(&format!("/admin/console/orders/{id}")).await;
    let again = b.get(&format!("/admin/console/orders/{id}")).await;
    let overview = b.get("/admin/console/").await;

    // Assert
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some(format!("/admin/console/orders/{id}").as_str())
    );
    assert!(
        page.body.contains("<p id=\"flash\" class=\"flash\""),
        "{}",
        page.body
    );
    assert!(
        !again.body.contains("id=\"flash\""),
        "a flash is shown once"
    );
    assert!(!page.body.contains("id=\"review-reason\""));
    assert!(
        !page.body.contains("<form id=\"acknowledge\""),
        "nothing left to acknowledge"
    );
    assert!(page
        .body
        .contains("<span class=\"event-source\">operator: alice</span>"));
    assert!(page
        .body
        .contains("<q class=\"event-note\">refunded the 1 fen by hand</q>"));
    let order = app.order(id).await;
    assert_eq!(order["needsReview"], false);
    assert_eq!(order["status"], "PENDING", "money state untouched");
    assert!(overview.body.contains("id=\"review-queue-empty\""));
    assert!(!overview.body.contains(&format!("data-order=\"{id}\"")));
}

#[actix_web::test]
async fn an_acknowledgement_without_a_note_is_not_done_and_says_why() {
    let app = TestApp::spawn().await;
    let id = "1017CONSNOTE01";
    app.flag_by_amount_mismatch(id).await;
    let b = Browser::signed_in(&app, ADMIN_TOKEN).await;
    let csrf = b.get(&format!("/admin/console/orders/{id}")).await.csrf();

    let done = b
        .post(
            &format!("/admin/console/orders/{id}/acknowledge"),
            &[("csrf", &csrf), ("note", "   ")],
        )
        .await;
    let page = b.get(&format!("/admin/console/orders/{id}")).await;

    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert!(page.body.contains("<p id=\"flash\" class=\"flash failed\""));
    assert!(page.body.contains("note: is required"), "{}", page.body);
    assert_eq!(app.order(id).await["needsReview"], true);
}

#[actix_web::test]
async fn a_resync_from_the_console_asks_the_provider_and_records_the_operator() {
    let app = TestApp::spawn().await;
    let id = "1017CONSSYNC01";
    bound_bill(&app, id, 100).await;
    let calls_before = provider_calls(&app, id);
    let b = Browser::signed_in(&app, ADMIN_TOKEN).await;
    let csrf = b.get(&format!("/admin/console/orders/{id}")).await.csrf();

    let done = b
        .post(
            &format!("/admin/console/orders/{id}/resync"),
            &[("csrf", &csrf), ("note", "buyer says they paid")],
        )
        .await;
    let page = b.get(&format!("/admin/console/orders/{id}")).await;

    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert!(
        provider_calls(&app, id) > calls_before,
        "the provider was asked"
    );
    assert!(
        page.body.contains("<p id=\"flash\" class=\"flash\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("PENDING"));
    let events = app.events(id).await;
    assert!(
        events
            .iter()
            .any(|e| e["operator"] == "admin" && e["note"] == "buyer says they paid"),
        "{events:?}"
    );
}

#[actix_web::test]
async fn redelivering_from_the_order_page_sends_the_event_again() {
    // Arrange: the order's creation event delivered once.
    let receiver = std::sync::Arc::new(Receiver::default());
    let app = with_receiver(&receiver, &["10ms"]).await;
    let id = "1017CONSHOOK01";
    bound_bill(&app, id, 100).await;
    // Created, then bound: both delivered, nothing pending.
    eventually("both events of the order are delivered", || async {
        let mut conn = app.db.conn().unwrap();
        let pending = deliveries::list(&mut conn, Some(DeliveryStatus::Pending), 10).unwrap();
        delivered_to(&receiver).len() == 2 && pending.is_empty()
    })
    .await;
    let sent = delivered_to(&receiver).len();
    let b = Browser::signed_in(&app, ADMIN_TOKEN).await;
    let page = b.get(&format!("/admin/console/orders/{id}")).await;
    let at = page
        .body
        .find("<tr data-delivery=\"")
        .expect("a delivery row");
    let rest = &page.body[at + "<tr data-delivery=\"".len()..];
    let delivery = &rest[..rest.find('"').unwrap()];
    assert!(page.body.contains("<form class=\"redeliver\""));

    // Act
    let done = b
        .post(
            &format!("/admin/console/deliveries/{delivery}/redeliver"),
            &[("csrf", &page.csrf())],
        )
        .await;

    // Assert
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some(format!("/admin/console/orders/{id}").as_str())
    );
    eventually("an event arrives a second time", || async {
        let got = delivered_to(&receiver);
        got.len() == sent + 1 && got[..sent].iter().any(|g| g.id == got[sent].id)
    })
    .await;
    let after = b.get(&format!("/admin/console/orders/{id}")).await;
    assert!(after.body.contains("<p id=\"flash\" class=\"flash\""));
}

#[actix_web::test]
async fn an_acknowledgement_from_a_page_read_before_a_newer_flag_clears_nothing_and_the_page_shows_the_new_reason(
) {
    // Arrange: alice reads the order flagged for 1 fen; a new notice flags it for 99 fen.
    let app = TestApp::spawn().await;
    let id = "1017CONSRACE01";
    app.flag_by_amount_mismatch(id).await;
    let b = Browser::signed_in(&app, OPERATOR_TOKEN).await;
    let read = b.get(&format!("/admin/console/orders/{id}")).await;
    let now = crate::review::flag_again_for_99_fen(&app, id).await;
    let acknowledge = |page: &Page| {
        let (csrf, version) = (page.csrf(), page.field("version"));
        let path = format!("/admin/console/orders/{id}/acknowledge");
        let b = &b;
        async move {
            b.post(
                &path,
                &[("csrf", &csrf), ("version", &version), ("note", "refunded")],
            )
            .await
        }
    };

    // Act: the form of the page read before, then the form of the page shown after it.
    let stale = acknowledge(&read).await;
    let shown = b.get(&format!("/admin/console/orders/{id}")).await;
    let still_flagged = app.order(id).await["needsReview"].clone();
    let fresh = acknowledge(&shown).await;

    // Assert
    assert_eq!(stale.status, StatusCode::SEE_OTHER, "{}", stale.body);
    assert!(
        shown
            .body
            .contains("<p id=\"flash\" class=\"flash failed\""),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("review it again"), "{}", shown.body);
    assert!(shown.body.contains(
        "<span id=\"review-reason\">amount mismatch: order is 100 fen, provider reports 99 fen</span>"
    ));
    assert_eq!(shown.field("version"), now["version"].to_string());
    assert_eq!(still_flagged, true, "the stale form cleared nothing");
    assert_eq!(fresh.status, StatusCode::SEE_OTHER);
    assert_eq!(app.order(id).await["needsReview"], false);
}

#[actix_web::test]
async fn a_note_with_a_right_to_left_override_is_refused_on_the_page_and_the_flag_stays() {
    // Arrange
    let app = TestApp::spawn().await;
    let id = "1017CONSSPOOF1";
    app.flag_by_amount_mismatch(id).await;
    let b = Browser::signed_in(&app, OPERATOR_TOKEN).await;
    let read = b.get(&format!("/admin/console/orders/{id}")).await;

    // Act
    let done = b
        .post(
            &format!("/admin/console/orders/{id}/acknowledge"),
            &[
                ("csrf", &read.csrf()),
                ("version", &read.field("version")),
                ("note", "refunded \u{202E}dnah yb"),
            ],
        )
        .await;
    let page = b.get(&format!("/admin/console/orders/{id}")).await;

    // Assert
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert!(page.body.contains("<p id=\"flash\" class=\"flash failed\""));
    assert!(
        page.body
            .contains("note: must not contain invisible format characters (found U+202E)"),
        "{}",
        page.body
    );
    assert!(!page.body.contains('\u{202E}'), "the note is shown nowhere");
    assert_eq!(app.order(id).await["needsReview"], true);
}

#[actix_web::test]
async fn a_note_kept_from_before_with_a_right_to_left_override_shows_it_by_its_code() {
    use diesel::connection::SimpleConnection;
    // Arrange: an operator's note written before notes refused format characters.
    let app = TestApp::spawn().await;
    let id = "1017CONSOLDRLO";
    bound_bill(&app, id, 100).await;
    app.db
        .conn()
        .unwrap()
        .batch_execute(&format!(
            "INSERT INTO order_events (mer_order_id, from_status, to_status, source, reason, at, operator, note) \
             VALUES ('{id}', 'PENDING', 'PENDING', 'operator', 'checked by an operator: nothing new', 0, 'alice', \
                     'refunded \u{202E}dnah yb')"
        ))
        .unwrap();
    let b = Browser::signed_in(&app, ADMIN_TOKEN).await;

    // Act
    let page = b.get(&format!("/admin/console/orders/{id}")).await;

    // Assert
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("<q class=\"event-note\">refunded &#60;U+202E&#62;dnah yb</q>"),
        "{}",
        page.body
    );
    assert!(!page.body.contains('\u{202E}'));
}

impl Browser {
    /// A browser on `app` whose connections leave from `local` (a loopback 127.0.0.x).
    fn from_address(app: &TestApp, local: &str) -> Browser {
        let connector = awc::Connector::new().local_address(local.parse().expect("an address"));
        Browser {
            base: app.api.clone(),
            client: awc::Client::builder()
                .disable_redirects()
                .connector(connector)
                .finish(),
            cookies: RefCell::default(),
        }
    }

    /// The same cookies, sent to `app` instead.
    fn on(&self, app: &TestApp) -> Browser {
        Browser {
            base: app.api.clone(),
            client: awc::Client::builder().disable_redirects().finish(),
            cookies: RefCell::new(self.cookies.borrow().clone()),
        }
    }
}

#[actix_web::test]
async fn a_session_opened_on_one_gateway_is_valid_on_a_second_on_the_same_database_and_after_a_restart(
) {
    // Arrange: two gateways on one database file; an operator signs in on the first.
    let first = TestApp::spawn().await;
    let second = TestApp::start(first.settings.clone(), first.dir.clone()).await;
    let b = Browser::signed_in(&first, ADMIN_TOKEN).await;

    // Act
    let there = b.on(&second).get("/admin/console/").await;
    first.stop().await;
    second.stop().await;
    let restarted = TestApp::start(first.settings.clone(), first.dir.clone()).await;
    let after_restart = b.on(&restarted).get("/admin/console/").await;

    // Assert
    assert_eq!(there.status, StatusCode::OK, "{}", there.body);
    assert!(there.body.contains("admin"));
    assert_eq!(after_restart.status, StatusCode::OK);
    let stored: Vec<String> = {
        use diesel::prelude::*;
        use umsgate::store::schema::console_sessions;
        console_sessions::table
            .select(console_sessions::id_hash)
            .load(&mut restarted.db.conn().unwrap())
            .unwrap()
    };
    let cookie = b.cookies.borrow()["umsgate_console"].clone();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], cookie, "the store keeps a hash, not the secret");
    restarted.stop().await;
}

#[actix_web::test]
async fn a_planted_equal_cookie_and_field_pair_is_refused_while_the_servers_token_signs_in() {
    // Arrange: a sibling subdomain can plant a cookie and post a field of its choosing.
    let app = TestApp::spawn().await;
    let planted = Browser::new(&app);
    let value = "a".repeat(64);
    planted
        .cookies
        .borrow_mut()
        .insert("umsgate_sign_in".into(), value.clone());
    let own = Browser::new(&app);

    // Act
    let forged = planted
        .post(
            "/admin/console/sign-in",
            &[("csrf", value.as_str()), ("token", ADMIN_TOKEN)],
        )
        .await;
    let issued = own.sign_in(ADMIN_TOKEN).await;

    // Assert
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    assert!(forged.session_cookie().is_none());
    assert!(
        forged
            .body
            .contains("This form was not sent from this console session"),
        "the page says why: {}",
        forged.body
    );
    assert_eq!(issued.status, StatusCode::SEE_OTHER);
    assert!(issued.session_cookie().is_some());
}

#[actix_web::test]
async fn eleven_addresses_get_no_more_sign_in_guesses_than_four() {
    // Arrange: eleven loopback addresses, each with its own browser.
    let app = TestApp::spawn().await;
    let browsers: Vec<Browser> = (1..=11)
        .map(|i| Browser::from_address(&app, &format!("127.0.0.{i}")))
        .collect();

    // Act: five wrong tokens from each.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        for b in &browsers {
            statuses.push(b.sign_in("wrong-token-0123456789").await.status);
        }
    }
    let fresh = Browser::from_address(&app, "127.0.0.12")
        .sign_in(ADMIN_TOKEN)
        .await;

    // Assert: 20 guesses looked at (four addresses' worth), not 55.
    let looked_at = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(looked_at, 20, "{statuses:?}");
    assert_eq!(fresh.status, StatusCode::TOO_MANY_REQUESTS);
}
