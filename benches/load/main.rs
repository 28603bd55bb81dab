//! The load generator behind `scripts/bench.sh` (BENCHMARKS.md): runs the five measurements
//! of issue 7, issue 13's slow-client line and issue 15's push latencies (webhooks,
//! long-poll wake) against the release gateway, each next to a
//! limit or baseline measured in the same run, and writes the figures as Markdown. A
//! `[[bench]]` with `harness = false`, so `cargo test` never builds it: `cargo bench --bench
//! load -- --out <file>`.
//! `load bare-server <body bytes> <workers>` is the bare actix-web server of the read limit.

#![expect(
    clippy::expect_used,
    clippy::as_conversions,
    reason = "a load generator: its statistics are f64, and a broken set-up stops the run loudly"
)]

mod child;
mod fixtures;
mod load;
mod report;
mod scenarios;

use std::path::{Path, PathBuf};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("bare-server") {
        let num = |i: usize| {
            args.get(i)
                .and_then(|a| a.parse().ok())
                .expect("bare-server <body bytes> <workers>")
        };
        child::serve_bare(num(1), num(2)).expect("bare server");
        return;
    }
    // `cargo bench` adds `--bench`; `--out <file>` is where the Markdown goes.
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench/results.md"));
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&work).expect("work directory");
    let settings = fixtures::settings();

    // `--only ingest,reads,reconcile,resolution,slow,pushes,memory` runs some of them (to look at one
    // figure again); the script runs all.
    let only: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|list| list.split(',').map(str::to_owned).collect());
    let wanted = |name: &str| only.as_ref().is_none_or(|o| o.iter().any(|n| n == name));

    let started = Instant::now();
    let step = |what: &str| eprintln!("[{:>5.1}s] {what}", started.elapsed().as_secs_f64());
    let figures = actix_web::rt::System::new().block_on(async {
        let mut f = report::Figures::new(Path::new(env!("CARGO_BIN_EXE_umsgate")).to_owned());
        if wanted("ingest") {
            step("notification ingest: the limit loop and the gateway, at 1, 16, 64 connections");
            f.ingest = Some(scenarios::ingest(&settings, &work).await);
        }
        if wanted("reads") {
            step("order reads: the gateway, then the bare handler, 64 connections");
            f.reads = Some(scenarios::reads(&settings, &work).await);
        }
        if wanted("reconcile") {
            step("reconciliation: concurrency 8 and 32 unbounded, then a capped run");
            f.reconcile = scenarios::reconciles(&settings, &work).await;
        }
        if wanted("resolution") {
            step("resolution, 30% of notifications dropped: default schedule (about a minute), compressed");
            f.resolution = scenarios::resolutions(&settings, &work).await;
        }
        if wanted("slow") {
            step("genuine notifications alone, then with 200 slow clients held");
            f.slow = Some(scenarios::slow_clients(&settings, &work).await);
        }
        if wanted("pushes") {
            step("webhooks at 1, 16, 64 concurrent payments, then long-poll wake at 1 and 16");
            f.pushes = Some(scenarios::pushes(&settings, &work).await);
        }
        if wanted("memory") {
            step("memory at 100,000 orders");
            f.memory = Some(scenarios::memory(&settings, &work).await);
        }
        f
    });
    step("done");
    let markdown = report::render(&figures, started.elapsed());
    std::fs::write(&out, &markdown).expect("write the results");
    println!("{markdown}");
}
