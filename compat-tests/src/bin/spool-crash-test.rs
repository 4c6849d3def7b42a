//! `make crash-test`: the long crash test (see `compat_tests::crash`). Usage:
//! `spool-crash-test [CYCLES] [SEED]` (defaults: 100 cycles, a seed from the clock, printed so
//! a failure can be replayed).

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use compat_tests::crash::{self, CrashConfig};

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let cycles = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let seed = args.next().and_then(|a| a.parse().ok()).unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |elapsed| elapsed.as_nanos() as u64)
    });
    let config = CrashConfig {
        cycles,
        max_run: Duration::from_millis(1500),
        partitions: 3,
        producers: 4,
        records_per_cycle: 3000,
        torn_tail_every: 5,
        seed,
    };
    println!("crash test: {cycles} kill -9 cycles, seed {seed}");
    let started = Instant::now();
    match crash::run(&config).await {
        Ok(report) => {
            println!(
                "crash test passed in {:.0} s: {} cycles, {} records acknowledged, {} acknowledged-record checks, {} torn tails recovered, {} segment verifications",
                started.elapsed().as_secs_f64(),
                report.cycles,
                report.acknowledged,
                report.records_checked,
                report.torn_tails_recovered,
                report.segments_verified
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("crash test FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}
