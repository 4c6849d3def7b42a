//! The short form of the crash test (`make crash-test` runs 100 cycles): producers with
//! acks=all (to a plain, a retained and a compacted topic), a transactional producer and a
//! consumer group's members, the broker SIGKILLed at random moments, every acknowledged record,
//! transaction and group commit checked after each restart, torn tails appended and recovered.

use std::time::Duration;

use compat_tests::crash::{self, CrashConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_survive_kill_dash_nine() {
    let seed = std::env::var("SPOOL_CRASH_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(0x5EED);
    let config = CrashConfig {
        cycles: 6,
        max_run: Duration::from_millis(800),
        partitions: 3,
        producers: 4,
        records_per_cycle: 1500,
        round_pause: Duration::from_millis(10),
        torn_tail_every: 3,
        seed,
        until: None,
    };
    let report = crash::run(&config)
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    eprintln!("{report:?}");
    assert_eq!(report.cycles, 6);
    assert_eq!(report.torn_tails_recovered, 2);
    assert!(report.acknowledged > 0 && report.records_checked >= report.acknowledged);
    assert!(report.transactions.committed > 0 && report.transactions.aborted > 0);
    assert!(report.members.commits_acknowledged > 0);
}
