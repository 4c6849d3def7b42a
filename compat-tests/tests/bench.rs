//! The benchmark's own bookkeeping, on a small workload: the consumers, each on its share of
//! the partitions, read back every produced message between them, and the figures it reports
//! are filled in.

use std::time::Duration;

use compat_tests::bench::{self, ConsumeMode, Workload};
use compat_tests::SpawnedBroker;

fn small(name: &str, consume: ConsumeMode, consumers: usize) -> Workload {
    Workload {
        messages: 3_000,
        partitions: 3,
        producers: 2,
        consume,
        consumers,
        max_duration: Duration::from_secs(60),
        ..Workload::new(name)
    }
}

#[test]
fn consumers_between_them_read_every_produced_message() {
    let mut broker = SpawnedBroker::start("\"metrics.listen\" = \"127.0.0.1:0\"\n");
    for (consume, consumers) in [
        (ConsumeMode::Concurrent, 3),
        (ConsumeMode::Concurrent, 1),
        (ConsumeMode::AfterProduce, 2),
    ] {
        let workload = small("smoke", consume, consumers);
        let results = bench::run(&broker.bootstrap, &workload, broker.pid())
            .unwrap_or_else(|error| panic!("{consume:?} x{consumers}: {error}"));
        assert_eq!(results.produce.messages, 3_000, "{consume:?} x{consumers}");
        let consumed = results.consume.expect("consume figures").messages;
        assert_eq!(consumed, 3_000, "{consume:?} x{consumers}");
        assert!(results.ack_latency.is_some());
        assert_eq!(
            results.end_to_end_latency.is_some(),
            consume == ConsumeMode::Concurrent
        );
        let cost = results.broker.expect("broker cost from /proc");
        // CPU time comes in clock ticks: a workload this small may not reach one.
        assert!(
            cost.cpu_seconds >= 0.0 && cost.peak_rss_mib > 0.0,
            "{cost:?}"
        );
    }
    broker.stop();
}
