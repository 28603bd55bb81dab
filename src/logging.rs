//! Log line formats: `text` for people, `json` (one object per line: time, level, target,
//! message, fields) for log collectors. It owns only the format; what is logged, and that
//! no secret is, belongs to the callers.

use std::io::Write;

use crate::config::LogFormat;

/// Installs the process's logger: `RUST_LOG` sets the level (else `default_level`).
#[expect(
    clippy::disallowed_methods,
    reason = "a log line is stamped with the system's time, as env_logger stamps text lines, \
              not with a clock a test moved forward"
)]
pub fn init(format: LogFormat, default_level: &str) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level));
    if format == LogFormat::Json {
        builder.format(|buf, record| writeln!(buf, "{}", json_line(record, chrono::Utc::now())));
    }
    builder.init();
}

/// One record as a JSON object, its key-value pairs under `fields`.
pub fn json_line(record: &log::Record<'_>, at: chrono::DateTime<chrono::Utc>) -> String {
    struct Fields(serde_json::Map<String, serde_json::Value>);
    impl<'kvs> log::kv::VisitSource<'kvs> for Fields {
        fn visit_pair(
            &mut self,
            key: log::kv::Key<'kvs>,
            value: log::kv::Value<'kvs>,
        ) -> Result<(), log::kv::Error> {
            self.0.insert(key.to_string(), value.to_string().into());
            Ok(())
        }
    }
    let mut fields = Fields(serde_json::Map::new());
    // A visitor that never fails: nothing to handle.
    let _ = record.key_values().visit(&mut fields);
    serde_json::json!({
        "time": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "level": record.level().as_str(),
        "target": record.target(),
        "message": record.args().to_string(),
        "fields": fields.0,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_carries_level_target_message_and_fields() {
        let kvs: &[(&str, &str)] = &[("request_id", "abc-1")];
        let record = log::Record::builder()
            .level(log::Level::Warn)
            .target("umsgate::x")
            .args(format_args!("a \"quoted\" message"))
            .key_values(&kvs)
            .build();

        let line = json_line(&record, crate::clock::Clock::system().now());

        let v: serde_json::Value = serde_json::from_str(&line).expect("one JSON object");
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["target"], "umsgate::x");
        assert_eq!(v["message"], "a \"quoted\" message");
        assert_eq!(v["fields"]["request_id"], "abc-1");
        assert!(!line.contains('\n'));
    }
}
