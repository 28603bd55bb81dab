//! The real `umsgate` binary as a child process (`ChildGateway`): its command, its
//! settings through the environment, its log, SIGTERM and SIGKILL. It must never leave a
//! child running: dropping one kills it.

use std::path::Path;

use super::database::TestDatabase;
use super::settings::ADMIN_TOKEN;

/// The real `umsgate` binary, run in `cwd` with none of the caller's `UMSGATE…` variables
/// and `RUST_LOG=info`; the caller adds its own arguments and settings.
pub fn umsgate(cwd: &Path) -> std::process::Command {
    umsgate_with_nofile(cwd, None)
}

/// [`umsgate`], with its open-files limit (soft and hard) set to `nofile` when given (run
/// through `bash -c 'ulimit -n …; exec …'`).
pub fn umsgate_with_nofile(cwd: &Path, nofile: Option<u32>) -> std::process::Command {
    let bin = env!("CARGO_BIN_EXE_umsgate");
    let mut command = match nofile {
        None => std::process::Command::new(bin),
        Some(n) => {
            let mut c = std::process::Command::new("bash");
            c.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$@\""))
                .arg("umsgate")
                .arg(bin);
            c
        }
    };
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("UMSGATE") {
            command.env_remove(name);
        }
    }
    command
        .current_dir(cwd)
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null());
    command
}

/// A child process's store on the test's database: `UMSGATE__STORE__URL` on PostgreSQL,
/// else `UMSGATE__STORE__PATH` = `gateway.db` in its directory.
pub fn child_store_env<'c>(
    command: &'c mut std::process::Command,
    db: &TestDatabase,
) -> &'c mut std::process::Command {
    match db.url() {
        Some(url) => command.env("UMSGATE__STORE__URL", url),
        None => command.env("UMSGATE__STORE__PATH", db.path().join("gateway.db")),
    }
}

/// A child gateway's settings on the test's database (`UMSGATE__STORE__URL` on PostgreSQL,
/// else `UMSGATE__STORE__PATH` = `gateway.db` in its directory): ports 0, no reconciler, the
/// admin token, and a remote provider on the discard port, where nothing listens: no call
/// can leave this machine (and tracked orders make none anyway).
pub fn child_gateway_env<'c>(
    command: &'c mut std::process::Command,
    db: &TestDatabase,
) -> &'c mut std::process::Command {
    child_store_env(command, db)
        .env("UMSGATE__API__BIND", "127.0.0.1:0")
        .env("UMSGATE__NOTIFY__BIND", "127.0.0.1:0")
        .env("UMSGATE__SANDBOX__BIND", "127.0.0.1:0")
        .env("UMSGATE__RECONCILE__ENABLED", "false")
        .env("UMSGATE__PROVIDER__MODE", "remote")
        .env("UMSGATE__PROVIDER__BASE_URL", "http://127.0.0.1:9")
        .env("UMSGATE__ADMIN__TOKEN", ADMIN_TOKEN)
}

/// A running `umsgate serve` child process. Dropping it kills it, so that a failing test
/// leaves no gateway behind.
pub struct ChildGateway {
    child: std::process::Child,
    /// `http://127.0.0.1:<api port>`.
    pub api: String,
    /// `http://127.0.0.1:<notify port>`.
    pub notify: String,
    log: std::path::PathBuf,
}

/// How long a child may take to start serving, or to stop after SIGTERM.
const CHILD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl ChildGateway {
    /// Spawns `command` (a `serve`) with its stderr in `log` and waits (bounded) for the
    /// line naming the bound ports; the log's tail if it exits first.
    pub async fn spawn(
        mut command: std::process::Command,
        log: std::path::PathBuf,
    ) -> Result<ChildGateway, String> {
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = command
            .stdout(std::process::Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("the gateway binary starts");
        let mut gateway = ChildGateway {
            child,
            api: String::new(),
            notify: String::new(),
            log,
        };
        let deadline = std::time::Instant::now() + CHILD_TIMEOUT;
        loop {
            if let Some((api, notify)) = serving_line(&gateway.log_text()) {
                gateway.api = api;
                gateway.notify = notify;
                return Ok(gateway);
            }
            if let Ok(Some(status)) = gateway.child.try_wait() {
                return Err(format!("exited ({status}):\n{}", gateway.log_tail()));
            }
            if std::time::Instant::now() > deadline {
                return Err(format!(
                    "no \"serving:\" line in time:\n{}",
                    gateway.log_tail()
                ));
            }
            actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (through `kill -TERM`), then waits (bounded) for it to exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -TERM");
        let deadline = std::time::Instant::now() + CHILD_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still running {CHILD_TIMEOUT:?} after SIGTERM:\n{}",
                self.log_tail()
            );
            actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its whole log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines of its log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for ChildGateway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `(api, notify)` base URLs from `serving: api on http://…, notify on http://…`.
fn serving_line(log: &str) -> Option<(String, String)> {
    let line = log.lines().find(|l| l.contains("serving: api on "))?;
    let rest = line.split("serving: api on ").nth(1)?;
    let (api, notify) = rest.split_once(", notify on ")?;
    let notify = notify.split(',').next()?;
    Some((api.trim().to_owned(), notify.trim().to_owned()))
}
