//! The `spool` Kafka-protocol tools against a spawned broker: topics, configs, produce,
//! consume and groups, checked with an independent client (rdkafka) where it matters.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::*;
use compat_tests::{broker_binary, SpawnedBroker};
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::Offset;
use serde_json::Value;

/// Runs `spool ARGS --bootstrap B` with `input` on stdin (bounded by `timeout`).
fn spool(broker: &SpawnedBroker, args: &[&str], input: &str) -> Output {
    let mut child = Command::new("timeout")
        .arg("60")
        .arg(broker_binary())
        .args(args)
        .args(["--bootstrap", &broker.bootstrap])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spool runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("write stdin");
    drop(stdin);
    child.wait_with_output().expect("spool finishes")
}

fn ok(broker: &SpawnedBroker, args: &[&str], input: &str) -> String {
    let output = spool(broker, args, input);
    assert!(
        output.status.success(),
        "spool {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn failed(broker: &SpawnedBroker, args: &[&str]) -> String {
    let output = spool(broker, args, "");
    assert!(!output.status.success(), "spool {args:?} succeeded");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

#[test]
fn topics_and_configs_round_trip() {
    let broker = SpawnedBroker::start("");
    ok(
        &broker,
        &[
            "topics",
            "create",
            "ledger",
            "-p",
            "2",
            "-c",
            "retention.ms=60000",
        ],
        "",
    );
    let error = failed(&broker, &["topics", "create", "ledger"]);
    assert!(error.contains("already exists"), "{error}");
    let error = failed(
        &broker,
        &["topics", "create", "bad", "-c", "retention.ms=soon"],
    );
    assert!(error.contains("retention.ms"), "{error}");

    let listed = json(&ok(&broker, &["topics", "list", "--json"], ""));
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ledger"], "internal topics only with --internal");
    let table = ok(&broker, &["topics", "list", "--internal"], "");
    assert!(
        table.starts_with("NAME") && table.contains("__consumer_offsets"),
        "{table}"
    );

    let described = json(&ok(
        &broker,
        &["topics", "describe", "ledger", "--json"],
        "",
    ));
    assert_eq!(described["partitions"].as_array().unwrap().len(), 2);
    assert_eq!(described["configs"][0]["name"], "retention.ms");
    assert_eq!(described["configs"][0]["source"], "DYNAMIC_TOPIC_CONFIG");

    ok(
        &broker,
        &["topics", "add-partitions", "ledger", "--num", "2"],
        "",
    );
    let consumer = consumer(&broker);
    let metadata = consumer.fetch_metadata(Some("ledger"), TIMEOUT).unwrap();
    assert_eq!(
        metadata.topics()[0].partitions().len(),
        4,
        "rdkafka sees the new partitions"
    );

    ok(
        &broker,
        &[
            "configs",
            "set",
            "topic",
            "ledger",
            "segment.bytes=4096",
            "--delete",
            "retention.ms",
        ],
        "",
    );
    let configs = json(&ok(
        &broker,
        &["configs", "get", "topic", "ledger", "--json"],
        "",
    ));
    let value = |name: &str| {
        configs
            .as_array()
            .unwrap()
            .iter()
            .find(|config| config["name"] == name)
            .map(|config| (config["value"].clone(), config["source"].clone()))
            .unwrap()
    };
    assert_eq!(
        value("segment.bytes"),
        ("4096".into(), "DYNAMIC_TOPIC_CONFIG".into())
    );
    assert_eq!(
        value("retention.ms"),
        ("604800000".into(), "DEFAULT_CONFIG".into())
    );
    let error = failed(
        &broker,
        &["configs", "set", "topic", "ledger", "segment.bytes=1"],
    );
    assert!(error.contains("segment.bytes"), "{error}");
    let error = failed(
        &broker,
        &["configs", "set", "broker", "0", "num.partitions=4"],
    );
    assert!(error.contains("dynamically"), "{error}");
    let broker_configs = ok(&broker, &["configs", "get", "broker", "0"], "");
    assert!(broker_configs.contains("num.partitions") && broker_configs.contains("read-only"));

    let deleted = spool(&broker, &["topics", "delete", "ledger", "missing"], "");
    assert!(!deleted.status.success(), "one of two deletes failed");
    let table = String::from_utf8_lossy(&deleted.stdout);
    assert!(
        table.contains("ledger") && table.contains("OK") && table.contains("missing"),
        "{table}"
    );
    assert!(consumer
        .fetch_metadata(Some("ledger"), TIMEOUT)
        .unwrap()
        .topics()[0]
        .error()
        .is_some());
}

#[tokio::test]
async fn produce_and_consume_round_trip_with_a_real_client() {
    let broker = SpawnedBroker::start("");
    ok(&broker, &["topics", "create", "lines", "-p", "3"], "");
    let input: String = (0..500)
        .map(|i| format!("key-{}|value-{i}\n", i % 7))
        .collect();
    let report = json(&ok(
        &broker,
        &["produce", "lines", "-k", "|", "--json"],
        &input,
    ));
    assert_eq!(report["records"], 500);

    // rdkafka reads what the tool wrote: same keys, values, and one partition per key.
    let mut seen = std::collections::HashMap::new();
    let mut count = 0;
    for (partition, range) in report["partitions"].as_object().unwrap() {
        let partition: i32 = partition.parse().unwrap();
        let (first, last) = (range[0].as_i64().unwrap(), range[1].as_i64().unwrap());
        assert_eq!(first, 0);
        let expected = (last + 1) as usize;
        for message in consume(&broker, "lines", partition, Offset::Beginning, expected) {
            let key = text(message.key());
            let value = text(message.payload());
            assert!(value.starts_with("value-"), "{value}");
            let previous = seen.insert(key.clone(), partition);
            assert!(
                previous.is_none_or(|p| p == partition),
                "{key} on two partitions"
            );
            count += 1;
        }
    }
    assert_eq!(count, 500);
    assert_eq!(seen.len(), 7);

    // The tool reads what rdkafka wrote.
    let producer = producer(&broker, &[]);
    produce(&producer, "lines", Some(2), 5).await;
    let lines = ok(
        &broker,
        &[
            "consume",
            "lines",
            "-p",
            "2",
            "--offset",
            "end",
            "--idle-timeout-ms",
            "1",
        ],
        "",
    );
    assert_eq!(lines, "", "nothing after the end");
    let all = ok(
        &broker,
        &["consume", "lines", "-n", "505", "--print-keys"],
        "",
    );
    assert_eq!(all.lines().count(), 505);
    assert!(
        all.lines().any(|line| line == "key-4\tvalue-4"),
        "key and value"
    );
    let records: Vec<Value> = ok(
        &broker,
        &[
            "consume",
            "lines",
            "-p",
            "2",
            "--json",
            "--idle-timeout-ms",
            "1000",
        ],
        "",
    )
    .lines()
    .map(json)
    .collect();
    let tool_written = report["partitions"]["2"][1]
        .as_i64()
        .map_or(0, |last| last + 1);
    assert_eq!(
        records.len() as i64,
        tool_written + 5,
        "the tool's records, then rdkafka's five"
    );
    assert!(records
        .iter()
        .all(|r| r["partition"] == 2 && r["topic"] == "lines"));
    let offsets: Vec<i64> = records
        .iter()
        .map(|r| r["offset"].as_i64().unwrap())
        .collect();
    assert!(
        offsets.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "{offsets:?}"
    );
    let error = failed(&broker, &["consume", "missing-topic", "-n", "1"]);
    assert!(error.contains("missing-topic"), "{error}");

    // A group with committed offsets and no members: listed, then deleted.
    let committer = consumer(&broker);
    let mut offsets = rdkafka::TopicPartitionList::new();
    offsets
        .add_partition_offset("lines", 0, Offset::Offset(1))
        .unwrap();
    committer
        .commit(&offsets, rdkafka::consumer::CommitMode::Sync)
        .unwrap();
    drop(committer);
    let groups = ok(&broker, &["groups", "list"], "");
    assert!(groups.contains("compat-tests"), "{groups}");
    ok(&broker, &["groups", "delete", "compat-tests"], "");
    let groups = json(&ok(&broker, &["groups", "list", "--json"], ""));
    assert_eq!(groups, serde_json::json!([]));
    let error = failed(&broker, &["groups", "delete", "compat-tests"]);
    assert!(error.contains("failed"), "{error}");
}
