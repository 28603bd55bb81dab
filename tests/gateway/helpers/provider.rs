//! `TestProvider`: a small independent provider answering with a test's hand-written JSON,
//! for shapes the sandbox cannot produce. It must check nothing it receives.

use serde_json::{json, Value};

use super::app::TestApp;
use super::settings::test_settings;

/// What a [`TestProvider`] answers: for a provider path and the request's JSON, the raw
/// answer body (HTTP 200), written by hand in the test.
pub type Script = dyn Fn(&str, &Value) -> String + Send + Sync;

/// A small independent provider for shapes the sandbox cannot produce: it answers every
/// POST with the test's hand-written JSON, checks nothing, and keeps every request.
pub struct TestProvider {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>,
}

impl TestProvider {
    /// Starts one answering with `script`.
    pub fn start(script: impl Fn(&str, &Value) -> String + Send + Sync + 'static) -> TestProvider {
        use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
        type State = (
            std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>,
            std::sync::Arc<Script>,
        );
        async fn answer(
            req: HttpRequest,
            body: web::Bytes,
            state: web::Data<State>,
        ) -> HttpResponse {
            let path = req.path().to_owned();
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let text = (state.1)(&path, &request);
            state.0.lock().expect("lock").push((path, request));
            HttpResponse::Ok()
                .content_type("application/json")
                .body(text)
        }
        let requests = std::sync::Arc::default();
        let script: std::sync::Arc<Script> = std::sync::Arc::new(script);
        let state = web::Data::new((std::sync::Arc::clone(&requests), script));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .default_service(web::to(answer))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        actix_web::rt::spawn(server);
        TestProvider {
            url: format!("http://127.0.0.1:{port}"),
            requests,
        }
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

    /// A gateway in remote mode against this provider, with `overrides` merged into the
    /// test settings.
    pub async fn gateway(&self, overrides: Value) -> TestApp {
        let dir = std::rc::Rc::new(tempfile::tempdir().expect("temp dir"));
        let mut settings =
            json!({"provider": {"mode": "remote", "base_url": self.url, "timeout_ms": 2000}});
        merge(&mut settings, overrides);
        TestApp::start(test_settings(dir.path(), settings), dir).await
    }
}

/// Merges `from` into `into`, object by object.
fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}
