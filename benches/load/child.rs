//! The servers under load, each its own child process so that its memory is its own: the
//! real gateway (`target/release/umsgate`, configured through `UMSGATE__…` variables) and
//! the bare actix-web server the order-read limit is measured on (this binary, re-run with
//! `bare-server`). Owns starting them, finding their ports, their peak RSS, and stopping them.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a child may take to start serving: a cold start opens and migrates the
/// database; 100,000 rows take a second or two on a busy 2-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running child server.
pub struct Server {
    child: Child,
    /// The api listener (the only listener of the bare server).
    pub api: String,
    /// The notify listener.
    pub notify: String,
    /// The embedded provider sandbox.
    pub sandbox: String,
}

impl Server {
    /// Starts the gateway on `db` with the shipped configuration, every listener on port 0,
    /// and `overrides` (`("reconcile.max_qps", "100")`…) as `UMSGATE__…` variables. Its log
    /// (at the default level) goes to `<db>.log`.
    pub async fn gateway(db: &Path, overrides: &[(&str, String)]) -> Server {
        let log_path = db.with_extension("log");
        let log = std::fs::File::create(&log_path).expect("gateway log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_umsgate"));
        cmd.arg("--config-dir")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("config"))
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        // Nothing from the caller's environment may change what is measured.
        for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("UMSGATE")) {
            cmd.env_remove(name);
        }
        let base: [(&str, String); 5] = [
            ("api.bind", "127.0.0.1:0".into()),
            ("notify.bind", "127.0.0.1:0".into()),
            ("notify.public_url", "http://127.0.0.1:0".into()),
            ("sandbox.bind", "127.0.0.1:0".into()),
            ("store.path", db.display().to_string()),
        ];
        for (key, value) in base.iter().chain(overrides) {
            cmd.env(
                format!("UMSGATE__{}", key.replace('.', "__").to_uppercase()),
                value,
            );
        }
        let mut child = cmd.spawn().expect("start target/release/umsgate");
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Some((api, notify, sandbox)) = serving_line(&text) {
                return Server {
                    child,
                    api,
                    notify,
                    sandbox,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the gateway exited ({status}) before serving:\n{text}");
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "the gateway did not serve within {START_TIMEOUT:?}:\n{text}"
            );
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts this binary as the bare server: `workers` threads answering every
    /// `GET /orders/{id}` with `body_len` fixed bytes.
    pub fn bare(body_len: usize, workers: usize) -> Server {
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .args(["bare-server", &body_len.to_string(), &workers.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the bare server");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped");
        // One line, then the child prints nothing more; EOF if it died.
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("bare server output");
        let api = line.trim().to_owned();
        assert!(api.starts_with("http://"), "bare server said {line:?}");
        Server {
            child,
            api,
            notify: String::new(),
            sandbox: String::new(),
        }
    }

    /// Peak resident memory so far (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/<pid>/status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/<pid>/status");
        kib * 1024
    }

    /// Reads the peak RSS, then kills the child (nothing it holds is needed afterwards).
    pub fn stop(mut self) -> u64 {
        let peak = self.peak_rss();
        let _ = self.child.kill();
        let _ = self.child.wait();
        peak
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A panicking run must not leave a server behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `(api, notify, sandbox)` from `serving: api on http://…, notify on http://…, embedded
/// provider sandbox on http://…`.
fn serving_line(log: &str) -> Option<(String, String, String)> {
    let line = log.lines().find(|l| l.contains("serving: api on "))?;
    let url_after = |marker: &str| {
        let rest = line.split(marker).nth(1)?;
        Some(rest.split([',', ' ']).next()?.to_owned())
    };
    Some((
        url_after("api on ")?,
        url_after("notify on ")?,
        url_after("sandbox on ")?,
    ))
}

/// The bare server's main: binds port 0, prints its URL, serves until killed.
pub fn serve_bare(body_len: usize, workers: usize) -> std::io::Result<()> {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let body = web::Bytes::from(vec![b'x'; body_len]);
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            let body = body.clone();
            App::new().route(
                "/orders/{merOrderId}",
                web::get().to(move || {
                    let body = body.clone();
                    async move {
                        HttpResponse::Ok()
                            .content_type("application/json")
                            .body(body)
                    }
                }),
            )
        })
        .workers(workers)
        .disable_signals()
        .bind("127.0.0.1:0")?;
        println!("http://{}", server.addrs()[0]);
        server.run().await
    })
}
