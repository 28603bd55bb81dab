//! The figures as Markdown: one table with each figure next to its limit and goal, the
//! memory of every run, and a sentence on why for each figure that misses its goal.

use std::fmt::Write;
use std::path::PathBuf;
use std::time::Duration;

use crate::load::{percentile, Run};
use crate::scenarios::{Ingest, Memory, Pushed, Pushes, Reads, Reconcile, Resolution, SlowClients};

/// Goals of issue 7.
const INGEST_GOAL: f64 = 0.6;
const READS_GOAL: f64 = 0.7;
const RECONCILE_GOAL: f64 = 0.8;
const RSS_GOAL_BYTES: u64 = 64_000_000;

/// What was measured (`--only` leaves some out).
pub struct Figures {
    pub ingest: Option<Ingest>,
    pub reads: Option<Reads>,
    pub reconcile: Vec<Reconcile>,
    pub resolution: Vec<Resolution>,
    pub memory: Option<Memory>,
    pub slow: Option<SlowClients>,
    pub pushes: Option<Pushes>,
    pub binary: PathBuf,
}

impl Figures {
    pub fn new(binary: PathBuf) -> Self {
        Figures {
            ingest: None,
            reads: None,
            reconcile: Vec::new(),
            resolution: Vec::new(),
            memory: None,
            slow: None,
            pushes: None,
            binary,
        }
    }
}

fn rate(r: f64) -> String {
    let n = r.round() as u64;
    if n >= 1000 {
        format!("{},{:03}/s", n / 1000, n % 1000)
    } else {
        format!("{n}/s")
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn latency(run: &Run) -> String {
    format!(
        "p50 {:.1} ms · p99 {:.1} ms · max {:.0} ms",
        run.pct_ms(50.0),
        run.pct_ms(99.0),
        run.max_us as f64 / 1000.0,
    )
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "meets"
    } else {
        "**misses**"
    }
}

fn secs(ms: u64) -> String {
    if ms >= 1000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

/// Size of the binary as built and stripped (when `strip` is there).
fn binary_sizes(path: &PathBuf) -> (u64, Option<u64>) {
    let built = std::fs::metadata(path).map_or(0, |m| m.len());
    let stripped_path =
        std::env::temp_dir().join(format!("umsgate-stripped-{}", std::process::id()));
    let stripped = std::process::Command::new("strip")
        .arg("-o")
        .arg(&stripped_path)
        .arg(path)
        .status()
        .ok()
        .filter(|s| s.success())
        .and_then(|_| std::fs::metadata(&stripped_path).ok())
        .map(|m| m.len());
    let _ = std::fs::remove_file(&stripped_path);
    (built, stripped)
}

pub fn render(f: &Figures, took: Duration) -> String {
    let mut md = String::new();
    let mut rss = String::new();
    let mut checks: Vec<String> = Vec::new();
    let mut misses: Vec<String> = Vec::new();
    md.push_str(
        "| figure | measured | limit, same run | ratio | goal | |\n|---|---|---|---|---|---|\n",
    );
    if let Some(i) = &f.ingest {
        for l in &i.levels {
            let ratio = l.run.rate() / l.limit.rate;
            let _ = writeln!(
                md,
                "| 1. ingest, {} connection{} | {} `SUCCESS` · {} | {} (loop just before: one commit per notification, p50 {:.1} ms) | {ratio:.2} | ≥ {INGEST_GOAL} | {} |",
                l.conns,
                if l.conns == 1 { "" } else { "s" },
                rate(l.run.rate()),
                latency(&l.run),
                rate(l.limit.rate),
                l.limit.p50_ms,
                verdict(ratio >= INGEST_GOAL),
            );
            if ratio < INGEST_GOAL {
                misses.push(format!("ingest at {} connection(s)", l.conns));
            }
        }
        let best = i.levels.iter().map(|l| l.run.rate()).fold(0.0, f64::max);
        let _ = writeln!(
            md,
            "| 1. ingest limit with group commit | {} ({} notifications per commit; p50 {:.1} ms, p99 {:.1} ms per commit) | one commit per notification: {} | group / per-commit: ×{:.1}; best gateway level / group: {:.2} | shown, not a goal | |",
            rate(i.group.rate),
            i.group.per_commit,
            i.group.p50_ms,
            i.group.p99_ms,
            i.levels.iter().map(|l| rate(l.limit.rate)).collect::<Vec<_>>().join(", "),
            i.group.rate / i.levels.iter().map(|l| l.limit.rate).fold(0.0, f64::max),
            best / i.group.rate,
        );
        let _ = writeln!(
            rss,
            "| gateway, ingest (3 levels, {} notifications) | {} |",
            i.acked,
            mb(i.rss)
        );
        checks.push(format!(
            "{} notifications acknowledged `SUCCESS`, {} orders `PAID` in the gateway's database afterwards{}; {} failed",
            i.acked,
            i.paid,
            if i.paid as usize == i.acked { " (every acknowledgement applied)" } else { " (**they differ**)" },
            i.levels.iter().map(|l| l.run.failed).sum::<usize>(),
        ));
    }
    if let Some(r) = &f.reads {
        let ratio = r.gateway.rate() / r.bare.rate();
        let _ = writeln!(
            md,
            "| 2. `GET /orders/{{id}}`, 64 connections, 10,000 orders | {} · {} | {} · {} (bare handler, same {}-byte body) | {ratio:.2} | ≥ {READS_GOAL} | {} |",
            rate(r.gateway.rate()),
            latency(&r.gateway),
            rate(r.bare.rate()),
            latency(&r.bare),
            r.body_len,
            verdict(ratio >= READS_GOAL),
        );
        if ratio < READS_GOAL {
            misses.push("order reads".into());
        }
        let _ = writeln!(
            rss,
            "| gateway, reads (10,000 orders) | {} |",
            mb(r.gateway_rss)
        );
        let _ = writeln!(rss, "| bare actix-web server, reads | {} |", mb(r.bare_rss));
        checks.push(format!(
            "reads failed: {} (gateway), {} (bare)",
            r.gateway.failed, r.bare.failed
        ));
    }
    for q in &f.reconcile {
        let limit = f64::from(q.concurrency) * 1000.0 / 20.0;
        if f64::from(q.max_qps) < limit {
            // A start is read as its answer's time less its latency, both in whole
            // milliseconds: up to 2 ms off, so the span is given 2 ms and a 1 s window one
            // start more.
            let allowed = f64::from(q.max_qps) * (q.start_span_ms + 2) as f64 / 1000.0;
            let ok = q.queries.saturating_sub(1) as f64 <= allowed
                && q.max_in_1s <= q.max_qps as usize + 1;
            let _ = writeln!(
                md,
                "| 3. rate cap: C = {}, `max_qps` = {}, {} orders | {:.2} queries started/s (ms clock); at most {} in any 1 s | cap {}/s | {:.2} of the cap | ≤ cap | {} |",
                q.concurrency, q.max_qps, q.orders, q.start_rate, q.max_in_1s, q.max_qps,
                q.start_rate / f64::from(q.max_qps), verdict(ok),
            );
            if !ok {
                misses.push("the rate cap".into());
            }
        } else {
            let ratio = q.rate / limit;
            let _ = writeln!(
                md,
                "| 3. reconcile, C = {}, {} due orders, query delay 20 ms | {} queries ({} of {} answered, {} moved to `PAID`; at most {} started in any 1 s) | C × 1000 / 20 = {} | {ratio:.2} | ≥ {RECONCILE_GOAL} | {} |",
                q.concurrency, q.orders, rate(q.rate), q.queries, q.orders, q.moved, q.max_in_1s, rate(limit),
                verdict(ratio >= RECONCILE_GOAL),
            );
            if ratio < RECONCILE_GOAL {
                misses.push(format!("reconciliation at C = {}", q.concurrency));
            }
        }
        let _ = writeln!(
            rss,
            "| gateway, reconcile C = {}, `max_qps` = {} ({} orders) | {} |",
            q.concurrency,
            q.max_qps,
            q.orders,
            mb(q.rss)
        );
    }
    for s in &f.resolution {
        let t = &s.times_ms;
        let _ = writeln!(
            md,
            "| 4. resolution, {} schedule, {} orders, 30% of notifications dropped | p50 {} · p99 {} · max {} ({} resolved: {} by notification, {} by query) | — | — | reported | {} |",
            s.schedule, s.orders,
            secs(percentile(t, 50.0)), secs(percentile(t, 99.0)), secs(t.last().copied().unwrap_or(0)),
            s.resolved, s.by_notify, s.by_query,
            if s.resolved == s.orders { "all resolved" } else { "**not all resolved**" },
        );
        if s.resolved < s.orders {
            misses.push(format!("resolution ({} schedule)", s.schedule));
        }
        let _ = writeln!(
            rss,
            "| gateway, resolution, {} schedule ({} orders) | {} |",
            s.schedule,
            s.orders,
            mb(s.rss)
        );
    }
    if let Some(m) = &f.memory {
        let _ = writeln!(
            md,
            "| 5. peak RSS with 100,000 orders (after {} random reads at 64 connections — {} —, 20 list pages, 3 metrics scrapes) | {} | — | — | ≤ {} | {} |",
            m.reads.ok, rate(m.reads.rate()), mb(m.rss), mb(RSS_GOAL_BYTES), verdict(m.rss <= RSS_GOAL_BYTES),
        );
        if m.rss > RSS_GOAL_BYTES {
            misses.push("memory at 100,000 orders".into());
        }
        let _ = writeln!(rss, "| gateway, 100,000 orders | {} |", mb(m.rss));
        checks.push(format!(
            "the 100,000 orders were written through the store in {:.1} s",
            m.seed_secs
        ));
    }
    if let Some(s) = &f.slow {
        let ratio = s.with.pct_ms(99.0) / s.without.pct_ms(99.0).max(1e-9);
        let _ = writeln!(
            md,
            "| 6. genuine notifications, 1 connection, while {} slow-body clients are held ({} still held at the end) | {} `SUCCESS` · {} | {} · {} (same gateway, no slow clients, just before) | p99 ×{ratio:.2} | reported | {} failed |",
            crate::scenarios::SLOW_CLIENTS_HELD,
            s.held,
            s.with.ok,
            latency(&s.with),
            s.without.ok,
            latency(&s.without),
            s.with.failed + s.without.failed,
        );
        let _ = writeln!(
            rss,
            "| gateway, genuine notifications with slow clients | {} |",
            mb(s.rss)
        );
    }
    if let Some(p) = &f.pushes {
        let line = |md: &mut String, what: String, l: &Pushed| {
            let _ = writeln!(
                md,
                "| {what} | {} pushed · {} | ingest of the same notifications (`SUCCESS`): {} | p50 ×{:.2} · p99 ×{:.2} | reported | {} failed |",
                l.pushed.ok,
                latency(&l.pushed),
                latency(&l.ingest),
                l.pushed.pct_ms(50.0) / l.ingest.pct_ms(50.0).max(1e-9),
                l.pushed.pct_ms(99.0) / l.ingest.pct_ms(99.0).max(1e-9),
                l.pushed.failed,
            );
        };
        for l in &p.webhooks {
            line(
                &mut md,
                format!(
                    "7. notification sent → webhook receiver's 2xx, {} concurrent payment{}",
                    l.conns,
                    if l.conns == 1 { "" } else { "s" }
                ),
                l,
            );
        }
        for l in &p.long_polls {
            line(
                &mut md,
                format!(
                    "7. long-poll wake: notification sent → `GET /orders/{{id}}?wait=30&after=<v>` answered, {} concurrent poll{}",
                    l.conns,
                    if l.conns == 1 { "" } else { "s" }
                ),
                l,
            );
        }
        let _ = writeln!(rss, "| gateway, webhooks and long-polls | {} |", mb(p.rss));
    }
    let _ = write!(md, "\nPeak RSS (`VmHWM`) of each process, read just before it was stopped:\n\n| run | peak RSS |\n|---|---|\n{rss}");
    let (built, stripped) = binary_sizes(&f.binary);
    let _ = writeln!(
        md,
        "\nBinary `target/release/umsgate`: {} as built (release profile, line tables kept){}.",
        mb(built),
        stripped.map_or(String::new(), |s| format!(", {} stripped", mb(s))),
    );
    checks.push(format!("the measurements took {:.0} s", took.as_secs_f64()));
    let _ = writeln!(md, "\nChecks: {}.", checks.join("; "));
    if misses.is_empty() {
        md.push_str("\nEvery goal is met in this run.\n");
    } else {
        let _ = writeln!(
            md,
            "\nMissed in this run: {}. Why: *Where the time goes*, below.",
            misses.join(", ")
        );
    }
    md
}
