//! `make crash-test` and `make soak`: the crash test with its mixed workload (see
//! `compat_tests::crash`). Usage:
//! - `spool-crash-test [CYCLES] [SEED]`: CYCLES kill -9s (default 100), each after up to 1.5 s
//!   of writes;
//! - `spool-crash-test --soak SECONDS [SEED]`: kill -9s at random moments up to two minutes
//!   apart, for SECONDS, with the broker's memory before each kill reported.
//!
//! It prints the records acknowledged and checked, the transactions and how they ended, how far
//! retention and compaction went, and the broker's RSS before each kill.
//!
//! The seed defaults to one from the clock, printed so a failure can be replayed.

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use compat_tests::crash::{self, CrashConfig, CrashReport};

/// In a soak, the longest the producers write between two kills.
const SOAK_MAX_RUN: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (soak, rest) = match args.first().map(String::as_str) {
        Some("--soak") => {
            let Some(seconds) = args.get(1).and_then(|a| a.parse().ok()) else {
                eprintln!("usage: spool-crash-test --soak SECONDS [SEED]");
                return ExitCode::FAILURE;
            };
            (Some(Duration::from_secs(seconds)), &args[2..])
        }
        _ => (None, &args[..]),
    };
    let (cycles, seed) = match soak {
        Some(_) => (usize::MAX, rest.first()),
        None => (
            rest.first().and_then(|a| a.parse().ok()).unwrap_or(100),
            rest.get(1),
        ),
    };
    let seed = seed.and_then(|a| a.parse().ok()).unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |elapsed| elapsed.as_nanos() as u64)
    });
    let config = CrashConfig {
        cycles,
        max_run: soak.map_or(Duration::from_millis(1500), |_| SOAK_MAX_RUN),
        partitions: 3,
        producers: 4,
        // A soak writes 200 records/s per producer, so that an hour's acknowledgements (about
        // 2.9 million) stay in memory and are read back in seconds.
        records_per_cycle: if soak.is_some() { 1_000_000 } else { 3000 },
        round_pause: Duration::from_millis(if soak.is_some() { 100 } else { 10 }),
        torn_tail_every: 5,
        seed,
        until: soak,
    };
    match soak {
        Some(length) => println!(
            "soak: {} s of writes and kill -9s, seed {seed}",
            length.as_secs()
        ),
        None => println!("crash test: {cycles} kill -9 cycles, seed {seed}"),
    }
    let started = Instant::now();
    match crash::run(&config).await {
        Ok(report) => {
            print_report(&report, started.elapsed());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("crash test FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}

fn print_report(report: &CrashReport, took: Duration) {
    println!(
        "crash test passed in {:.0} s: {} cycles, {} records acknowledged, lost 0, duplicated \
         by an idempotent producer 0, {} acknowledged-record checks, {} torn tails recovered, {} \
         segment verifications",
        took.as_secs_f64(),
        report.cycles,
        report.acknowledged,
        report.records_checked,
        report.torn_tails_recovered,
        report.segments_verified
    );
    let txns = &report.transactions;
    println!(
        "transactions: {} committed, {} aborted, {} cut off by a kill ({} of them committed), \
         each all or nothing; retention moved the retained topic's log start to {}; \
         compaction removed {} acknowledged records, every key ({}) keeping its newest",
        txns.committed,
        txns.aborted,
        txns.in_doubt,
        txns.in_doubt_committed,
        report.retained_log_start,
        report.compacted.compacted_away,
        report.compacted.keys_checked
    );
    let members = &report.members;
    println!(
        "group members: {} records consumed, {} commits acknowledged, committed offsets \
         summed {}, never back",
        members.consumed, members.commits_acknowledged, members.committed
    );
    let rss: Vec<String> = report
        .rss_before_kill_mib
        .iter()
        .map(|mib| format!("{mib:.0}"))
        .collect();
    println!("broker RSS before each kill, MiB: {}", rss.join(" "));
}
