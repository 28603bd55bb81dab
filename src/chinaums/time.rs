//! Beijing time (UTC+8, no daylight saving) in the provider's two timestamp formats and its
//! date format. Owns formatting and parsing only; it must not read the clock itself.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// `requestTimestamp`, `expireTime`, `payTime`: `yyyy-MM-dd HH:mm:ss`.
pub const BODY_FORMAT: &str = "%Y-%m-%d %H:%M:%S";
/// OPEN-BODY-SIG and token timestamps: `yyyyMMddHHmmss`.
pub const COMPACT_FORMAT: &str = "%Y%m%d%H%M%S";
/// `billDate`, `settleDate`: `yyyy-MM-dd`.
pub const DATE_FORMAT: &str = "%Y-%m-%d";

/// Beijing's offset. China has used UTC+8 all year since 1991.
#[expect(clippy::expect_used, reason = "UTC+8 is a valid offset: cannot fail")]
pub fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("8 hours is a valid offset")
}

/// `yyyy-MM-dd HH:mm:ss` in Beijing time.
pub fn format_body(t: DateTime<Utc>) -> String {
    t.with_timezone(&beijing()).format(BODY_FORMAT).to_string()
}

/// `yyyyMMddHHmmss` in Beijing time.
pub fn format_compact(t: DateTime<Utc>) -> String {
    t.with_timezone(&beijing())
        .format(COMPACT_FORMAT)
        .to_string()
}

/// `yyyy-MM-dd`, the Beijing calendar date of `t`.
pub fn format_date(t: DateTime<Utc>) -> String {
    t.with_timezone(&beijing()).format(DATE_FORMAT).to_string()
}

/// Parses `yyyy-MM-dd HH:mm:ss` as Beijing time.
pub fn parse_body(s: &str) -> Option<DateTime<Utc>> {
    parse_with(s, BODY_FORMAT, 19)
}

/// Parses `yyyyMMddHHmmss` as Beijing time.
pub fn parse_compact(s: &str) -> Option<DateTime<Utc>> {
    parse_with(s, COMPACT_FORMAT, 14)
}

/// Parses `yyyy-MM-dd`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, DATE_FORMAT).ok()
}

fn parse_with(s: &str, format: &str, len: usize) -> Option<DateTime<Utc>> {
    // chrono accepts unpadded fields; the provider's formats are fixed-width.
    if s.len() != len {
        return None;
    }
    let naive = NaiveDateTime::parse_from_str(s, format).ok()?;
    beijing()
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_round_trip_through_beijing_time() {
        let t = Utc.with_ymd_and_hms(2026, 11, 21, 16, 30, 5).unwrap();
        assert_eq!(format_body(t), "2026-11-22 00:30:05");
        assert_eq!(format_compact(t), "20261122003005");
        assert_eq!(format_date(t), "2026-11-22");
        assert_eq!(parse_body("2026-11-22 00:30:05"), Some(t));
        assert_eq!(parse_compact("20261122003005"), Some(t));
    }

    #[test]
    fn malformed_timestamps_do_not_parse() {
        for bad in [
            "",
            "2026-11-22",
            "2026-11-22T00:30:05",
            "2026-13-22 00:30:05",
            "2026-1-2 0:3:5",
            "2026-11-22 00:30:05Z",
        ] {
            assert_eq!(parse_body(bad), None, "{bad}");
        }
        for bad in ["", "2026112200300", "202611220030051", "2026112a003005"] {
            assert_eq!(parse_compact(bad), None, "{bad}");
        }
        assert_eq!(parse_date("2026-02-30"), None);
    }
}
