//! `TestProvider`: a small independent provider answering with a test's hand-written JSON,
//! for shapes the sandbox cannot produce. It must check nothing it receives.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::app::TestApp;
use super::http::start_peer;
use super::json::merged;

/// What a [`TestProvider`] answers: for a provider path and the request's JSON, the raw
/// answer body (HTTP 200), written by hand in the test.
pub type Script = dyn Fn(&str, &Value) -> String + Send + Sync;

/// Every request a [`TestProvider`] received: its path and its JSON, oldest first.
type Requests = Arc<Mutex<Vec<(String, Value)>>>;

/// A small independent provider for shapes the sandbox cannot produce: it answers every
/// POST with the test's hand-written JSON, checks nothing, and keeps every request.
pub struct TestProvider {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    requests: Requests,
}

impl TestProvider {
    /// Starts one answering with `script`.
    pub fn start(script: impl Fn(&str, &Value) -> String + Send + Sync + 'static) -> TestProvider {
        use actix_web::{web, HttpRequest, HttpResponse};
        async fn answer(
            req: HttpRequest,
            body: web::Bytes,
            state: web::Data<(Requests, Arc<Script>)>,
        ) -> HttpResponse {
            let path = req.path().to_owned();
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let text = (state.1)(&path, &request);
            state.0.lock().expect("lock").push((path, request));
            HttpResponse::Ok()
                .content_type("application/json")
                .body(text)
        }
        let requests = Requests::default();
        let script: Arc<Script> = Arc::new(script);
        let url = start_peer((Arc::clone(&requests), script), answer);
        TestProvider { url, requests }
    }

    /// Every request received on `path`, oldest first.
    pub fn requests(&self, path: &str) -> Vec<Value> {
        self.requests
            .lock()
            .expect("lock")
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// A gateway in remote mode against this provider (2 s call timeout), with `overrides`
    /// merged into the test settings.
    pub async fn gateway(&self, overrides: Value) -> TestApp {
        let timeout = json!({"provider": {"timeout_ms": 2000}});
        TestApp::on_remote(&self.url, merged(timeout, overrides)).await
    }
}
