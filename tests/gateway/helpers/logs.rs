//! The log lines of the whole test binary, captured so that a test can assert that no
//! secret reached any of them. It must not filter or format what it captures beyond one
//! line per record.

/// Every log line any test in this binary has written since [`capture_logs`] was first
/// called: a process-wide logger at trace level, so that a secret reaching any line, at
/// any level, from any test, is caught.
pub fn capture_logs() -> &'static std::sync::Mutex<String> {
    use std::sync::{Mutex, OnceLock};
    static LINES: OnceLock<&'static Mutex<String>> = OnceLock::new();
    LINES.get_or_init(|| {
        struct Capture(&'static Mutex<String>);
        impl log::Log for Capture {
            fn enabled(&self, _: &log::Metadata<'_>) -> bool {
                true
            }
            fn log(&self, record: &log::Record<'_>) {
                let line = format!(
                    "{} {}: {}\n",
                    record.level(),
                    record.target(),
                    record.args()
                );
                self.0
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&line);
            }
            fn flush(&self) {}
        }
        let lines: &'static Mutex<String> = Box::leak(Box::new(Mutex::new(String::new())));
        if log::set_boxed_logger(Box::new(Capture(lines))).is_ok() {
            log::set_max_level(log::LevelFilter::Trace);
        }
        lines
    })
}
