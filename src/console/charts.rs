//! The overview's two charts as server-rendered SVG bar charts: payments per hour over the
//! last 24 hours, and how long payments took from the provider's pay time to the gateway
//! recording PAID. Pure functions of the figures; no script, no style attribute (colours
//! come from the console's stylesheet through classes). It must not read the store.

use chrono::{DateTime, Duration, DurationRound, Utc};

/// Hours the payments chart covers (the current hour last).
pub const HOURS: usize = 24;

/// Upper bounds (seconds, inclusive) of the time-to-PAID buckets, with their labels; the
/// last bucket takes everything longer. Most payments reach their order within seconds (a
/// notification); the minutes are the reconciler's queries; hours mean something was lost.
pub const TIME_BUCKETS: [(i64, &str); 7] = [
    (5, "≤5s"),
    (30, "≤30s"),
    (60, "≤1m"),
    (300, "≤5m"),
    (1800, "≤30m"),
    (7200, "≤2h"),
    (i64::MAX, ">2h"),
];

/// Drawing area (the SVG scales to its container through `viewBox`).
const WIDTH: i64 = 960;
const HEIGHT: i64 = 200;
/// Room under the bars for the labels, and over them for the tallest bar's count.
const BOTTOM: i64 = 24;
const TOP: i64 = 16;

/// How many of `paid_at` fall in each of the [`HOURS`] hours ending with the hour of
/// `now` (UTC hour starts), oldest first; instants outside are not counted.
pub fn hourly_counts(now: DateTime<Utc>, paid_at: &[DateTime<Utc>]) -> Vec<(DateTime<Utc>, i64)> {
    let this_hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    let mut hours: Vec<(DateTime<Utc>, i64)> = (0..HOURS)
        .rev()
        .map(|back| {
            let back = i64::try_from(back).unwrap_or(0);
            (this_hour - Duration::hours(back), 0)
        })
        .collect();
    for t in paid_at {
        let hour = t.duration_trunc(Duration::hours(1)).unwrap_or(*t);
        if let Some(slot) = hours.iter_mut().find(|(h, _)| *h == hour) {
            slot.1 += 1;
        }
    }
    hours
}

/// How many of `seconds` fall in each of [`TIME_BUCKETS`].
pub fn time_histogram(seconds: &[i64]) -> Vec<(&'static str, i64)> {
    let mut counts: Vec<(&'static str, i64)> =
        TIME_BUCKETS.iter().map(|(_, label)| (*label, 0)).collect();
    for s in seconds {
        if let Some(i) = TIME_BUCKETS.iter().position(|(bound, _)| s <= bound) {
            counts[i].1 += 1;
        }
    }
    counts
}

/// The payments-per-hour chart (`svg#chart-payments-per-hour`).
pub fn payments_per_hour(
    now: DateTime<Utc>,
    paid_at: &[DateTime<Utc>],
    title: &str,
    desc: &str,
) -> String {
    let bars: Vec<(String, i64)> = hourly_counts(now, paid_at)
        .into_iter()
        .map(|(h, n)| (h.format("%H").to_string(), n))
        .collect();
    bar_chart("chart-payments-per-hour", title, desc, &bars, 3)
}

/// The time-from-payment-to-PAID chart (`svg#chart-time-to-final`).
pub fn time_to_final(seconds: &[i64], title: &str, desc: &str) -> String {
    let bars: Vec<(String, i64)> = time_histogram(seconds)
        .into_iter()
        .map(|(label, n)| (label.to_owned(), n))
        .collect();
    bar_chart("chart-time-to-final", title, desc, &bars, 1)
}

/// A bar chart: one bar per `(label, count)`, heights proportional to the largest count,
/// every `label_every`-th label written under its bar, each bar's count in its `<title>`
/// (a tooltip) and over the bar when it is not zero.
fn bar_chart(
    id: &str,
    title: &str,
    desc: &str,
    bars: &[(String, i64)],
    label_every: usize,
) -> String {
    let n = i64::try_from(bars.len().max(1)).unwrap_or(1);
    let max = bars.iter().map(|(_, c)| *c).max().unwrap_or(0).max(1);
    let slot = WIDTH / n;
    let gap = (slot / 6).max(1);
    let plot = HEIGHT - BOTTOM - TOP;
    let base = HEIGHT - BOTTOM;
    let mut svg = format!(
        "<svg id=\"{id}\" class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" \
         aria-labelledby=\"{id}-title {id}-desc\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>\
         <line class=\"axis\" x1=\"0\" y1=\"{base}\" x2=\"{WIDTH}\" y2=\"{base}\"/>",
        escape(title),
        escape(desc)
    );
    let mut x = 0;
    for (i, (label, count)) in bars.iter().enumerate() {
        let h = count * plot / max;
        let y = base - h;
        let w = slot - 2 * gap;
        let label = escape(label);
        svg.push_str(&format!(
            "<g class=\"bar\"><title>{label}: {count}</title>\
             <rect x=\"{}\" y=\"{y}\" width=\"{w}\" height=\"{h}\"/>",
            x + gap
        ));
        if *count > 0 {
            svg.push_str(&format!(
                "<text class=\"count\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{count}</text>",
                x + slot / 2,
                y - 3
            ));
        }
        svg.push_str("</g>");
        if i % label_every.max(1) == 0 {
            svg.push_str(&format!(
                "<text class=\"label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{label}</text>",
                x + slot / 2,
                HEIGHT - 6
            ));
        }
        x += slot;
    }
    svg.push_str("</svg>");
    svg
}

/// `text` safe inside SVG/HTML text and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 12, 40, 0).unwrap()
    }

    /// The `height` attribute of every bar, in order.
    fn heights(svg: &str) -> Vec<i64> {
        svg.split("<rect ")
            .skip(1)
            .map(|r| {
                let h = r.split("height=\"").nth(1).unwrap();
                h[..h.find('"').unwrap()].parse().unwrap()
            })
            .collect()
    }

    #[test]
    fn payments_fall_in_their_utc_hour_and_older_ones_are_left_out() {
        let paid = [
            now() - Duration::minutes(10), // 12:30, this hour
            now() - Duration::minutes(35), // 12:05, this hour
            now() - Duration::minutes(50), // 11:50
            now() - Duration::hours(23),   // 13:40 yesterday: the first hour
            now() - Duration::hours(25),   // outside
            now() + Duration::hours(2),    // in the future: outside
        ];

        let counts = hourly_counts(now(), &paid);

        assert_eq!(counts.len(), HOURS);
        assert_eq!(
            counts[0].0,
            Utc.with_ymd_and_hms(2026, 11, 29, 13, 0, 0).unwrap()
        );
        assert_eq!(counts[0].1, 1);
        assert_eq!(counts[22].1, 1);
        assert_eq!(
            counts[23],
            (Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap(), 2)
        );
        assert_eq!(counts.iter().map(|(_, n)| n).sum::<i64>(), 4);
    }

    #[test]
    fn the_payments_chart_has_one_bar_per_hour_the_busiest_full_height() {
        let paid = [now(), now(), now() - Duration::hours(1)];

        let svg = payments_per_hour(now(), &paid, "Payments", "per hour");

        assert!(svg.starts_with("<svg id=\"chart-payments-per-hour\""));
        let h = heights(&svg);
        assert_eq!(h.len(), HOURS);
        let plot = HEIGHT - BOTTOM - TOP;
        assert_eq!(h[23], plot);
        assert_eq!(h[22], plot / 2);
        assert!(h[..22].iter().all(|x| *x == 0));
        assert!(svg.contains("<title>12: 2</title>"), "{svg}");
    }

    #[test]
    fn times_to_paid_are_bucketed_by_their_upper_bound() {
        let secs = [0, 5, 6, 30, 59, 60, 61, 299, 1800, 7200, 7201, 90_000];

        let h = time_histogram(&secs);

        assert_eq!(
            h,
            vec![
                ("≤5s", 2),
                ("≤30s", 2),
                ("≤1m", 2),
                ("≤5m", 2),
                ("≤30m", 1),
                ("≤2h", 1),
                (">2h", 2),
            ]
        );
    }

    #[test]
    fn the_time_chart_has_a_bar_per_bucket_and_escapes_its_words() {
        let svg = time_to_final(&[1, 2, 400], "<b>Time</b> & \"more\"", "desc");

        assert!(svg.starts_with("<svg id=\"chart-time-to-final\""));
        assert_eq!(heights(&svg).len(), TIME_BUCKETS.len());
        assert!(svg.contains("&lt;b&gt;Time&lt;/b&gt; &amp; &quot;more&quot;"));
        assert!(!svg.contains("<b>"));
        assert!(
            !svg.contains("style="),
            "no style attribute: CSP style-src 'self'"
        );
    }

    #[test]
    fn an_empty_chart_draws_flat_bars_without_dividing_by_zero() {
        let svg = payments_per_hour(now(), &[], "t", "d");

        assert!(heights(&svg).iter().all(|h| *h == 0));
    }
}
