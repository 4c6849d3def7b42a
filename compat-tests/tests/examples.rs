//! Runs the classic producer/consumer programs of `examples/` (the Rust mirrors of
//! `examples/java`) against a spawned broker, in order, and checks what they print and what
//! the broker then holds: every record consumed exactly once per group, lag 0.

use std::path::PathBuf;
use std::process::Command;

use compat_tests::SpawnedBroker;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

const TOPIC: &str = "peter-basic01";
const GROUPS: [&str; 3] = [
    "peter-basic01-auto",
    "peter-basic01-sync",
    "peter-basic01-async",
];

fn example(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/release/examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: `make build` builds the examples",
        path.display()
    );
    path
}

fn run(name: &str, bootstrap: &str) -> String {
    let output = Command::new("timeout")
        .arg("120")
        .arg(example(name))
        .arg(bootstrap)
        .output()
        .expect("example runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn the_six_classic_patterns_run_unchanged() {
    let broker =
        SpawnedBroker::start("\"group.initial.rebalance.delay.ms\" = 0\n\"num.partitions\" = 3");
    let bootstrap = broker.bootstrap.as_str();
    assert!(run("producer_fire_forget", bootstrap).contains("sent 10 records"));
    let sync = run("producer_sync", bootstrap);
    assert_eq!(
        sync.lines()
            .filter(|line| line.starts_with("partition "))
            .count(),
        10,
        "{sync}"
    );
    let callbacks = run("producer_async", bootstrap);
    assert_eq!(
        callbacks
            .lines()
            .filter(|line| line.starts_with("callback: partition "))
            .count(),
        10,
        "{callbacks}"
    );

    // The three consumers use different groups; each must see all 30 records once.
    let consumers: Vec<_> = ["consumer_auto", "consumer_sync", "consumer_async"]
        .into_iter()
        .map(|name| {
            let bootstrap = bootstrap.to_owned();
            std::thread::spawn(move || run(name, &bootstrap))
        })
        .collect();
    for consumer in consumers {
        let output = consumer.join().expect("consumer thread");
        assert!(output.contains("consumed 30 records"), "{output}");
    }

    // endOffsets() equals the records produced, and every group's lag is 0.
    let check: BaseConsumer = broker
        .client_config()
        .set("group.id", "checker")
        .create()
        .unwrap();
    let metadata = check
        .fetch_metadata(Some(TOPIC), std::time::Duration::from_secs(30))
        .unwrap();
    let partitions = metadata.topics()[0].partitions().len() as i32;
    let ends: Vec<i64> = (0..partitions)
        .map(|partition| {
            check
                .fetch_watermarks(TOPIC, partition, std::time::Duration::from_secs(30))
                .unwrap()
                .1
        })
        .collect();
    assert_eq!(ends.iter().sum::<i64>(), 30);
    for group in GROUPS {
        let consumer: BaseConsumer = broker
            .client_config()
            .set("group.id", group)
            .create()
            .unwrap();
        let mut wanted = TopicPartitionList::new();
        for partition in 0..partitions {
            wanted.add_partition(TOPIC, partition);
        }
        let committed = consumer
            .committed_offsets(wanted, std::time::Duration::from_secs(30))
            .unwrap();
        for partition in 0..partitions {
            let offset = committed
                .find_partition(TOPIC, partition)
                .map(|element| element.offset());
            let end = ends[partition as usize];
            let expected = if end == 0 {
                vec![Offset::Invalid, Offset::Offset(0)]
            } else {
                vec![Offset::Offset(end)]
            };
            assert!(
                offset.is_some_and(|offset| expected.contains(&offset)),
                "{group} partition {partition}: {offset:?}, end {end}"
            );
        }
    }
}
