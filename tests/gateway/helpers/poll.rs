//! Long-polls of `GET /orders/{id}?wait=` for tests: the poll itself on a client of its
//! own, and the wait until a poll is known to be waiting.

use std::time::Duration;

use awc::http::StatusCode;
use serde_json::Value;

use super::app::TestApp;
use super::wait::eventually_some;

/// Longest a test waits for a long-poll that should be woken: half of the `wait` it asks
/// for, so that a poll that was not woken (and answered only at its end) fails the test.
pub const WOKEN_WITHIN: Duration = Duration::from_secs(30);

/// `GET /orders/{id}?<query>` as a long-poll (its own client: awc's default timeout is
/// 5 s): the status, the `Retry-After` header and the body.
pub async fn long_poll(
    app: &TestApp,
    id: &str,
    query: &str,
) -> (StatusCode, Option<String>, Value) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(90))
        .finish();
    let mut res = client
        .get(format!("{}/orders/{id}?{query}", app.api))
        .send()
        .await
        .expect("request sent");
    let retry_after = res
        .headers()
        .get("Retry-After")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = res.json::<Value>().await.expect("JSON body");
    (res.status(), retry_after, body)
}

/// Waits until a second long-poll on `id` is refused for want of room (so the first one
/// is waiting); its status and `Retry-After`.
pub async fn eventually_busy(app: &TestApp, id: &str) -> (StatusCode, Option<String>) {
    eventually_some("the first long-poll is waiting", || async {
        let (status, retry_after, _) = long_poll(app, id, "wait=0").await;
        (status == StatusCode::SERVICE_UNAVAILABLE).then_some((status, retry_after))
    })
    .await
}
