//! The provider sandbox alone (`TestSandbox`), and calls to its provider routes signed with
//! OPEN-BODY-SIG as the gateway's client signs them. It must not start a gateway.

use awc::http::StatusCode;
use serde_json::{json, Value};
use umsgate::clock::Clock;
use umsgate::sandbox::{self, SandboxConfig, SandboxCredentials};

use super::http::json_answer;
use super::json::merged;

/// The provider sandbox alone, on port 0, playing the provider for the public test
/// credentials.
pub struct TestSandbox {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// What it plays the provider for.
    pub creds: SandboxCredentials,
    handle: actix_web::dev::ServerHandle,
    client: awc::Client,
}

impl TestSandbox {
    /// A sandbox with compressed time scales: notifications and contract notices are
    /// resent every 50 ms, five attempts in all; a held query answers after 3 s.
    pub async fn spawn() -> TestSandbox {
        Self::spawn_with(json!({})).await
    }

    /// The compressed sandbox with `overrides` (a JSON object shaped like `[sandbox]`).
    pub async fn spawn_with(overrides: Value) -> TestSandbox {
        let config = json!({
            "bind": "127.0.0.1:0",
            "notify_backoff": ["0s", "50ms", "50ms", "50ms", "50ms"],
            "contract_backoff": ["0s", "50ms", "50ms", "50ms", "50ms"],
            "notify_timeout": "2s",
            "query_timeout_hold": "3s",
        });
        let config: SandboxConfig =
            serde_json::from_value(merged(config, overrides)).expect("sandbox config");
        let creds = SandboxCredentials::public_test();
        let running = sandbox::start(config, creds.clone(), Clock::system())
            .await
            .expect("sandbox starts");
        let url = running.url();
        let handle = running.handle();
        actix_web::rt::spawn(running.into_server());
        TestSandbox {
            url,
            creds,
            handle,
            client: awc::Client::default(),
        }
    }

    /// POSTs `body` to `path` with an optional `Authorization` header.
    pub async fn post(
        &self,
        path: &str,
        body: Vec<u8>,
        authorization: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .post(format!("{}{path}", self.url))
            .insert_header(("Content-Type", "application/json"));
        if let Some(a) = authorization {
            req = req.insert_header(("Authorization", a));
        }
        json_answer(req.send_body(body)).await
    }

    /// GETs `path`.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        json_answer(self.client.get(format!("{}{path}", self.url)).send()).await
    }

    /// Stops it.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

/// An OPEN-BODY-SIG header for `body`, signed now with the test credentials.
pub fn body_sig(sandbox: &TestSandbox, body: &[u8]) -> String {
    use umsgate::chinaums::sign::{new_nonce, BodySig};
    let c = &sandbox.creds;
    BodySig::sign(
        &c.app_id,
        c.app_key.expose(),
        &umsgate::chinaums::time::format_compact(umsgate::clock::Clock::system().now()),
        &new_nonce(),
        body,
    )
    .header()
}

/// POSTs `body` to a provider route of `sandbox`, signed with OPEN-BODY-SIG; the answer,
/// which must be a 200.
pub async fn call(sandbox: &TestSandbox, path: &str, body: &Value) -> Value {
    let bytes = body.to_string().into_bytes();
    let header = body_sig(sandbox, &bytes);
    let (status, answer) = sandbox.post(path, bytes, Some(&header)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}
