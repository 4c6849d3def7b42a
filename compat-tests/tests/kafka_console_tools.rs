//! Kafka's own command-line tools (Java, from the Kafka distribution `make test-deps` builds
//! from Maven Central, or `KAFKA_HOME`) against spool: every tool that has a meaning for one
//! broker, each with its output and exit code checked. Tools that need what spool does not
//! offer (ACLs, a KRaft quorum) must fail with Kafka's own clean error. No tool may hang
//! (bounded runs) or print a stack trace unless Kafka's tool prints one for that error itself.

use std::time::Duration;

use compat_tests::kafka::{tool, Run};
use compat_tests::{wait_for, SpawnedBroker};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

struct Tools {
    broker: SpawnedBroker,
}

impl Tools {
    fn start() -> Self {
        Self {
            broker: SpawnedBroker::start("\"group.initial.rebalance.delay.ms\" = 0"),
        }
    }

    fn bootstrap(&self) -> &str {
        &self.broker.bootstrap
    }

    /// `tool --bootstrap-server B ARGS` with `input` on stdin.
    fn run(&self, name: &str, args: &[&str], input: &str) -> Run {
        let mut all = vec!["--bootstrap-server", self.bootstrap()];
        all.extend_from_slice(args);
        tool(name, &all, input)
    }

    /// Runs a tool that must exit 0 and print `expected` (on either stream).
    fn ok(&self, name: &str, args: &[&str], expected: &str) -> Run {
        self.ok_with_input(name, args, "", expected)
    }

    fn ok_with_input(&self, name: &str, args: &[&str], input: &str, expected: &str) -> Run {
        let run = self.run(name, args, input);
        assert!(
            run.success,
            "{name} {args:?} exited with {:?}:\n{}",
            run.code,
            run.text()
        );
        assert!(
            run.text().contains(expected),
            "{name} {args:?}: no `{expected}` in:\n{}",
            run.text()
        );
        run
    }

    /// Runs a tool that must fail (exit code not 0) with `error` in what it prints.
    fn fails(&self, name: &str, args: &[&str], error: &str) -> Run {
        let run = self.run(name, args, "");
        assert!(!run.success, "{name} {args:?} should fail:\n{}", run.text());
        assert!(
            run.text().contains(error),
            "{name} {args:?}: no `{error}` in:\n{}",
            run.text()
        );
        run
    }

    fn create_topic(&self, topic: &str, partitions: &str) {
        self.ok(
            "kafka-topics",
            &["--create", "--topic", topic, "--partitions", partitions],
            &format!("Created topic {topic}."),
        );
    }
}

/// `TOPIC:PARTITION:OFFSET` lines of kafka-get-offsets, as (partition, offset).
fn offsets(run: &Run, topic: &str) -> Vec<(i32, i64)> {
    let mut offsets: Vec<(i32, i64)> = run
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(topic)?.strip_prefix(':')?;
            let (partition, offset) = rest.split_once(':')?;
            Some((partition.parse().ok()?, offset.parse().ok()?))
        })
        .collect();
    offsets.sort_unstable();
    offsets
}

/// Whitespace-separated columns of the table row that starts with `first` and whose second
/// column starts with `second`.
fn row<'a>(run: &'a Run, first: &str, second: &str) -> Vec<&'a str> {
    run.lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|columns| columns.len() > 1 && columns[0] == first && columns[1].starts_with(second))
        .unwrap_or_else(|| panic!("no row `{first} {second}` in:\n{}", run.stdout))
}

#[test]
fn topics_configs_and_cluster_tools() {
    let tools = Tools::start();
    let topic = "console-topics";

    tools.ok("kafka-broker-api-versions", &[], "Produce(0): 3 to 13");
    tools.ok(
        "kafka-topics",
        &[
            "--create",
            "--topic",
            topic,
            "--partitions",
            "3",
            "--replication-factor",
            "1",
            "--config",
            "retention.ms=3600000",
            "--config",
            "cleanup.policy=compact",
        ],
        "Created topic console-topics.",
    );
    tools.ok("kafka-topics", &["--list"], topic);
    let listed = tools.ok("kafka-topics", &["--list", "--exclude-internal"], topic);
    assert!(
        !listed.lines().any(|line| line.starts_with("__")),
        "{}",
        listed.stdout
    );
    let described = tools.ok(
        "kafka-topics",
        &["--describe", "--topic", topic],
        "PartitionCount: 3\tReplicationFactor: 1",
    );
    described.assert_prints(&["Configs: cleanup.policy=compact,retention.ms=3600000"]);
    for partition in 0..3 {
        described.assert_prints(&[&format!(
            "Partition: {partition}\tLeader: 0\tReplicas: 0\tIsr: 0"
        )]);
    }
    tools.fails(
        "kafka-topics",
        &["--create", "--topic", topic, "--partitions", "1"],
        "already exists",
    );
    tools.ok(
        "kafka-topics",
        &["--alter", "--topic", topic, "--partitions", "4"],
        "",
    );
    tools.ok(
        "kafka-topics",
        &["--describe", "--topic", topic],
        "PartitionCount: 4",
    );
    tools.fails(
        "kafka-topics",
        &["--alter", "--topic", topic, "--partitions", "2"],
        "InvalidPartitionsException",
    );

    let entity = |extra: &[&'static str]| -> Vec<&str> {
        let mut args = vec!["--entity-type", "topics", "--entity-name", topic];
        args.extend_from_slice(extra);
        args
    };
    tools.ok(
        "kafka-configs",
        &entity(&[
            "--alter",
            "--add-config",
            "retention.ms=1000,max.message.bytes=2048",
        ]),
        "Completed updating config for topic console-topics.",
    );
    let configs = tools.ok(
        "kafka-configs",
        &entity(&["--describe"]),
        "Dynamic configs for topic console-topics are:",
    );
    configs.assert_prints(&[
        "retention.ms=1000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=1000, DEFAULT_CONFIG:log.retention.hours=168}",
        "max.message.bytes=2048 sensitive=false",
        "cleanup.policy=compact sensitive=false",
    ]);
    tools.ok(
        "kafka-configs",
        &entity(&["--alter", "--delete-config", "retention.ms"]),
        "Completed updating config for topic console-topics.",
    );
    let after = tools.ok("kafka-configs", &entity(&["--describe"]), "");
    assert!(!after.stdout.contains("retention.ms="), "{}", after.stdout);
    tools.fails(
        "kafka-configs",
        &entity(&["--alter", "--add-config", "no.such.config=1"]),
        "no.such.config",
    );
    let broker = tools.ok(
        "kafka-configs",
        &[
            "--entity-type",
            "brokers",
            "--entity-name",
            "0",
            "--describe",
            "--all",
        ],
        "All configs for broker 0 are:",
    );
    broker.assert_prints(&[
        "num.partitions=1",
        "log.segment.bytes=1073741824",
        "auto.create.topics.enable=true",
    ]);

    let dirs = tools.ok(
        "kafka-log-dirs",
        &["--describe", "--topic-list", topic],
        "\"partition\":\"console-topics-3\"",
    );
    dirs.assert_prints(&["\"broker\":0"]);
    tools.ok(
        "kafka-leader-election",
        &[
            "--election-type",
            "preferred",
            "--topic",
            topic,
            "--partition",
            "0",
        ],
        "Valid replica already elected for partitions console-topics-0",
    );
    tools.ok(
        "kafka-leader-election",
        &["--election-type", "unclean", "--all-topic-partitions"],
        "",
    );
    let cluster_id = tool(
        "kafka-cluster",
        &["cluster-id", "--bootstrap-server", tools.bootstrap()],
        "",
    );
    assert!(cluster_id.success, "{}", cluster_id.text());
    let id = cluster_id
        .stdout
        .trim()
        .strip_prefix("Cluster ID: ")
        .unwrap_or_else(|| panic!("{}", cluster_id.stdout));
    assert_eq!(id.len(), 22, "a base64 UUID: {id}");
    // spool finalizes no feature flags (so clients keep the classic group protocol and
    // transactions v1): the tool lists none and succeeds.
    let features = tools.ok("kafka-features", &["describe"], "");
    assert_eq!(features.stdout.trim(), "", "{}", features.stdout);

    // What spool does not offer: Kafka's clean errors (AclCommand prints its own trace).
    tools.fails(
        "kafka-acls",
        &["--list"],
        "SecurityDisabledException: No Authorizer is configured on the broker",
    );
    tools.fails(
        "kafka-metadata-quorum",
        &["describe", "--status"],
        "UnsupportedVersionException: The node does not support DESCRIBE_QUORUM",
    );

    tools.ok("kafka-topics", &["--delete", "--topic", topic], "");
    let listed = tools.ok("kafka-topics", &["--list"], "");
    assert!(
        !listed.lines().any(|line| line == topic),
        "{}",
        listed.stdout
    );
}

#[test]
fn console_producer_consumer_offsets_and_delete_records() {
    let tools = Tools::start();
    let topic = "console-records";
    tools.create_topic(topic, "2");

    // Keys and headers, one partition each way of keying: records with the same key land together.
    let lines: String = (0..10)
        .map(|i| format!("source:cli,n:{i}|key-{}|value-{i}\n", i % 2))
        .collect();
    tools.ok_with_input(
        "kafka-console-producer",
        &[
            "--topic",
            topic,
            "--reader-property",
            "parse.key=true",
            "--reader-property",
            "parse.headers=true",
            "--reader-property",
            "key.separator=|",
            "--reader-property",
            "headers.delimiter=|",
        ],
        &lines,
        "",
    );
    let consumed = tools.ok(
        "kafka-console-consumer",
        &[
            "--topic",
            topic,
            "--from-beginning",
            "--max-messages",
            "10",
            "--group",
            "console-readers",
            "--isolation-level",
            "read_committed",
            "--formatter-property",
            "print.key=true",
            "--formatter-property",
            "print.headers=true",
            "--formatter-property",
            "print.offset=true",
            "--formatter-property",
            "print.timestamp=true",
            "--formatter-property",
            "print.partition=true",
        ],
        "Processed a total of 10 messages",
    );
    let records: Vec<Vec<&str>> = consumed
        .lines()
        .filter(|line| line.starts_with("CreateTime:"))
        .map(|line| line.split('\t').collect())
        .collect();
    assert_eq!(records.len(), 10, "{}", consumed.stdout);
    for record in &records {
        // CreateTime:T  Partition:P  Offset:O  headers  key  value
        let [time, partition, offset, headers, key, value] = record[..] else {
            panic!("{record:?}");
        };
        let i: i64 = value
            .strip_prefix("value-")
            .and_then(|n| n.parse().ok())
            .expect(value);
        assert!(
            time["CreateTime:".len()..]
                .parse::<i64>()
                .is_ok_and(|t| t > 0),
            "{time}"
        );
        assert!(partition.starts_with("Partition:"), "{partition}");
        assert!(offset["Offset:".len()..].parse::<i64>().is_ok(), "{offset}");
        assert_eq!(headers, format!("source:cli,n:{i}"));
        assert_eq!(key, format!("key-{}", i % 2));
    }
    let partitions_of = |key: &str| -> std::collections::BTreeSet<&str> {
        records
            .iter()
            .filter(|r| r[4] == key)
            .map(|r| r[1])
            .collect()
    };
    assert_eq!(partitions_of("key-0").len(), 1, "same key, same partition");
    assert_eq!(partitions_of("key-1").len(), 1, "same key, same partition");

    let latest = offsets(
        &tools.ok("kafka-get-offsets", &["--topic", topic], ""),
        topic,
    );
    assert_eq!(
        latest.iter().map(|(_, offset)| offset).sum::<i64>(),
        10,
        "{latest:?}"
    );
    let earliest = offsets(
        &tools.ok("kafka-get-offsets", &["--topic", topic, "--time", "-2"], ""),
        topic,
    );
    assert!(
        earliest.iter().all(|(_, offset)| *offset == 0),
        "{earliest:?}"
    );
    // Max timestamp (KIP-734): the offset of the record with the largest timestamp, per partition.
    let max = offsets(
        &tools.ok("kafka-get-offsets", &["--topic", topic, "--time", "-3"], ""),
        topic,
    );
    assert!(!max.is_empty(), "{max:?}");
    for (partition, offset) in &max {
        let end = latest.iter().find(|(p, _)| p == partition).map(|(_, o)| *o);
        assert!(
            Some(*offset) < end,
            "partition {partition}: {offset} vs end {end:?}"
        );
    }
    // By time: before every record → 0; after every record → none (no line printed).
    let before = offsets(
        &tools.ok("kafka-get-offsets", &["--topic", topic, "--time", "1"], ""),
        topic,
    );
    assert!(
        !before.is_empty() && before.iter().all(|(_, o)| *o == 0),
        "{before:?}"
    );
    let future = "4102444800000"; // 2100-01-01
    let after = offsets(
        &tools.ok(
            "kafka-get-offsets",
            &["--topic", topic, "--time", future],
            "",
        ),
        topic,
    );
    assert!(after.is_empty(), "{after:?}");

    // Delete the first two records of every partition that has them.
    let json = format!(
        r#"{{"partitions":[{}],"version":1}}"#,
        latest
            .iter()
            .filter(|(_, end)| *end >= 2)
            .map(|(partition, _)| format!(
                r#"{{"topic":"{topic}","partition":{partition},"offset":2}}"#
            ))
            .collect::<Vec<_>>()
            .join(",")
    );
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), json).expect("offsets file");
    let path = file.path().to_string_lossy().into_owned();
    tools.ok(
        "kafka-delete-records",
        &["--offset-json-file", &path],
        "low_watermark: 2",
    );
    let earliest = offsets(
        &tools.ok("kafka-get-offsets", &["--topic", topic, "--time", "-2"], ""),
        topic,
    );
    for (partition, end) in &latest {
        let start = earliest
            .iter()
            .find(|(p, _)| p == partition)
            .map(|(_, o)| *o);
        assert_eq!(
            start,
            Some(if *end >= 2 { 2 } else { 0 }),
            "partition {partition}"
        );
    }
}

#[test]
fn consumer_groups_tool() {
    let tools = Tools::start();
    let topic = "console-groups";
    let group = "console-group";
    tools.create_topic(topic, "2");
    let lines: String = (0..20).map(|i| format!("line-{i}\n")).collect();
    tools.ok_with_input("kafka-console-producer", &["--topic", topic], &lines, "");
    tools.ok(
        "kafka-console-consumer",
        &[
            "--topic",
            topic,
            "--from-beginning",
            "--max-messages",
            "20",
            "--group",
            group,
        ],
        "Processed a total of 20 messages",
    );

    tools.ok("kafka-consumer-groups", &["--list"], group);
    let by_partition = |run: &Run| -> Vec<(String, i64, i64, i64)> {
        let mut rows: Vec<_> = run
            .lines()
            .filter_map(|line| {
                let c: Vec<&str> = line.split_whitespace().collect();
                (c.len() >= 6 && c[0] == group && c[1] == topic).then(|| {
                    let number = |s: &str| s.parse::<i64>().unwrap_or(-1);
                    (c[2].to_owned(), number(c[3]), number(c[4]), number(c[5]))
                })
            })
            .collect();
        rows.sort();
        rows
    };
    let described = tools.ok(
        "kafka-consumer-groups",
        &["--describe", "--group", group, "--offsets"],
        "CURRENT-OFFSET  LOG-END-OFFSET  LAG",
    );
    let rows = by_partition(&described);
    assert_eq!(rows.len(), 2, "{}", described.stdout);
    assert!(
        rows.iter()
            .all(|(_, current, end, lag)| current == end && *lag == 0),
        "{rows:?}"
    );
    assert_eq!(rows.iter().map(|r| r.2).sum::<i64>(), 20);
    let state = tools.ok(
        "kafka-consumer-groups",
        &["--describe", "--group", group, "--state"],
        "ASSIGNMENT-STRATEGY",
    );
    let columns = row(&state, group, "127.0.0.1:");
    assert_eq!(
        columns[columns.len() - 2..],
        ["Empty", "0"],
        "{}",
        state.stdout
    );
    tools.ok(
        "kafka-consumer-groups",
        &["--describe", "--group", group, "--members"],
        "Consumer group 'console-group' has no active members.",
    );

    // Members: a console consumer stays in the group while the tool describes it.
    let bootstrap = tools.bootstrap().to_owned();
    let member = std::thread::spawn(move || {
        tool(
            "kafka-console-consumer",
            &[
                "--bootstrap-server",
                &bootstrap,
                "--topic",
                topic,
                "--group",
                group,
                "--timeout-ms",
                "8000",
            ],
            "",
        )
    });
    let members = wait_for(Duration::from_secs(60), || {
        let run = tools.run(
            "kafka-consumer-groups",
            &["--describe", "--group", group, "--members"],
            "",
        );
        // A member shows up while its group rebalances, before it has its partitions.
        let assigned = run.success
            && run.stdout.contains("console-consumer")
            && row(&run, group, "console-consumer").contains(&"2");
        assigned.then_some(run)
    })
    .expect("the console consumer shows up as the one member, with both partitions");
    let columns = row(&members, group, "console-consumer");
    assert!(
        columns.contains(&"2"),
        "one member, both partitions: {}",
        members.stdout
    );
    // Kafka's tool refuses (printing the error, exit code 0) while the group has members.
    let refused = tools.run(
        "kafka-consumer-groups",
        &[
            "--reset-offsets",
            "--group",
            group,
            "--topic",
            topic,
            "--to-earliest",
            "--execute",
        ],
        "",
    );
    assert!(
        refused.text().contains("Error: Assignments can only be reset if the group 'console-group' is inactive, but the current state is Stable."),
        "{}",
        refused.text()
    );
    let idle = member.join().expect("member thread");
    assert!(
        idle.text().contains("Processed a total of 0 messages"),
        "{}",
        idle.text()
    );

    let reset = |how: &[&str]| -> Vec<(String, i64)> {
        let mut args = vec!["--reset-offsets", "--group", group, "--topic", topic];
        args.extend_from_slice(how);
        args.push("--execute");
        let run = tools.ok("kafka-consumer-groups", &args, "NEW-OFFSET");
        let mut rows: Vec<_> = run
            .lines()
            .filter_map(|line| {
                let c: Vec<&str> = line.split_whitespace().collect();
                (c.len() == 4 && c[0] == group)
                    .then(|| (c[2].to_owned(), c[3].parse().unwrap_or(-1)))
            })
            .collect();
        rows.sort();
        rows
    };
    let ends: Vec<i64> = rows.iter().map(|r| r.2).collect();
    assert_eq!(
        reset(&["--to-earliest"])
            .iter()
            .map(|r| r.1)
            .collect::<Vec<_>>(),
        [0, 0]
    );
    assert_eq!(
        reset(&["--shift-by", "3"])
            .iter()
            .map(|r| r.1)
            .collect::<Vec<_>>(),
        ends.iter().map(|end| 3.min(*end)).collect::<Vec<_>>()
    );
    assert_eq!(
        reset(&["--to-datetime", "2100-01-01T00:00:00.000"])
            .iter()
            .map(|r| r.1)
            .collect::<Vec<_>>(),
        ends,
        "after every record: the log end"
    );
    assert_eq!(
        reset(&["--to-datetime", "2000-01-01T00:00:00.000"])
            .iter()
            .map(|r| r.1)
            .collect::<Vec<_>>(),
        [0, 0],
        "before every record: the first"
    );
    assert_eq!(
        reset(&["--shift-by", "-5"])
            .iter()
            .map(|r| r.1)
            .collect::<Vec<_>>(),
        [0, 0],
        "not below the log start"
    );
    let described = tools.ok(
        "kafka-consumer-groups",
        &["--describe", "--group", group, "--offsets"],
        "",
    );
    assert_eq!(
        by_partition(&described).iter().map(|r| r.3).sum::<i64>(),
        20,
        "lag after the reset"
    );

    tools.ok(
        "kafka-consumer-groups",
        &[
            "--delete-offsets",
            "--group",
            group,
            "--topic",
            &format!("{topic}:0"),
        ],
        "Request succeeded for deleting offsets from group console-group.",
    );
    let described = tools.ok(
        "kafka-consumer-groups",
        &["--describe", "--group", group, "--offsets"],
        "",
    );
    let left = by_partition(&described);
    assert!(
        left.iter().all(|r| r.0 != "0" || r.1 == -1),
        "partition 0's offset is gone: {left:?}"
    );
    tools.ok(
        "kafka-consumer-groups",
        &["--delete", "--group", group],
        "Deletion of requested consumer groups ('console-group') was successful.",
    );
    let listed = tools.ok("kafka-consumer-groups", &["--list"], "");
    assert!(
        !listed.lines().any(|line| line == group),
        "{}",
        listed.stdout
    );
    let gone = tools.run(
        "kafka-consumer-groups",
        &["--describe", "--group", group, "--state"],
        "",
    );
    assert!(
        gone.text()
            .contains("GroupIdNotFoundException: Group console-group not found."),
        "{}",
        gone.text()
    );
}

#[test]
fn transactions_tool_finds_and_aborts_an_open_transaction() {
    let tools = Tools::start();
    let topic = "console-txn";
    tools.create_topic(topic, "1");

    // A transaction left open: its records hold the last stable offset back.
    let producer: BaseProducer = tools
        .broker
        .client_config()
        .set("transactional.id", "console-tx")
        .create()
        .expect("transactional producer");
    producer
        .init_transactions(Duration::from_secs(30))
        .expect("init");
    producer.begin_transaction().expect("begin");
    for i in 0..3 {
        producer
            .send(
                BaseRecord::<str, str>::to(topic)
                    .partition(0)
                    .payload(&format!("open-{i}")),
            )
            .expect("send");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");

    let listed = tools.ok("kafka-transactions", &["list"], "TransactionState");
    let columns = row(&listed, "console-tx", "0");
    assert_eq!(columns[3], "Ongoing", "{}", listed.stdout);
    let described = tools.ok(
        "kafka-transactions",
        &["describe", "--transactional-id", "console-tx"],
        "console-txn-0",
    );
    described.assert_prints(&["Ongoing"]);
    tools.fails(
        "kafka-transactions",
        &["describe", "--transactional-id", "no-such-tx"],
        "could not be found",
    );
    let producers = tools.ok(
        "kafka-transactions",
        &["describe-producers", "--topic", topic, "--partition", "0"],
        "CurrentTransactionStartOffset",
    );
    let state = producers
        .lines()
        .nth(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .unwrap_or_default();
    assert_eq!(
        state.last(),
        Some(&"0"),
        "the open transaction starts at 0: {}",
        producers.stdout
    );

    // The coordinator knows this transaction, so it is not hanging however long it has run.
    let hanging = tools.ok(
        "kafka-transactions",
        &[
            "find-hanging",
            "--broker-id",
            "0",
            "--max-transaction-timeout",
            "0",
        ],
        "Topic\tPartition\tProducerId",
    );
    assert_eq!(hanging.lines().count(), 1, "{}", hanging.stdout);

    // An operator aborts it in the partition: the marker lets read_committed readers past.
    tools.ok(
        "kafka-transactions",
        &[
            "abort",
            "--topic",
            topic,
            "--partition",
            "0",
            "--start-offset",
            "0",
        ],
        "",
    );
    let producers = tools.ok(
        "kafka-transactions",
        &["describe-producers", "--topic", topic, "--partition", "0"],
        "None",
    );
    assert!(
        producers
            .lines()
            .nth(1)
            .is_some_and(|line| line.ends_with("None")),
        "{}",
        producers.stdout
    );
    tools.fails(
        "kafka-transactions",
        &[
            "abort",
            "--topic",
            topic,
            "--partition",
            "0",
            "--start-offset",
            "0",
        ],
        "Could not find any open transactions starting at offset 0 on partition console-txn-0",
    );
    let latest = offsets(
        &tools.ok("kafka-get-offsets", &["--topic", topic], ""),
        topic,
    );
    assert_eq!(latest, [(0, 4)], "three records and the ABORT marker");
    let consumed = tools.ok(
        "kafka-console-consumer",
        &[
            "--topic",
            topic,
            "--from-beginning",
            "--isolation-level",
            "read_committed",
            "--timeout-ms",
            "3000",
        ],
        "Processed a total of 0 messages",
    );
    assert!(!consumed.stdout.contains("open-"), "{}", consumed.stdout);
    drop(producer);
}

#[test]
fn verifiable_clients_and_perf_tests() {
    let tools = Tools::start();
    let topic = "console-perf";
    tools.create_topic(topic, "2");

    let produced = tools.ok(
        "kafka-verifiable-producer",
        &["--topic", topic, "--max-messages", "200", "--acks", "-1"],
        "\"name\":\"tool_data\"",
    );
    produced.assert_prints(&["\"sent\":200,\"acked\":200"]);
    let consumed = tools.ok(
        "kafka-verifiable-consumer",
        &[
            "--topic",
            topic,
            "--group-id",
            "verifiable",
            "--max-messages",
            "200",
            "--reset-policy",
            "earliest",
        ],
        "\"name\":\"shutdown_complete\"",
    );
    let received: i64 = consumed
        .lines()
        .filter(|line| line.contains("\"name\":\"records_consumed\""))
        .filter_map(|line| {
            line.split("\"count\":")
                .nth(1)?
                .split([',', '}'])
                .next()?
                .parse::<i64>()
                .ok()
        })
        .sum();
    assert_eq!(received, 200, "{}", consumed.stdout);
    consumed.assert_prints(&["\"name\":\"offsets_committed\""]);

    let perf = tools.ok(
        "kafka-producer-perf-test",
        &[
            "--topic",
            topic,
            "--num-records",
            "20000",
            "--record-size",
            "100",
            "--throughput",
            "-1",
        ],
        "20000 records sent",
    );
    perf.assert_prints(&["99th"]);
    let perf = tools.ok(
        "kafka-consumer-perf-test",
        &[
            "--topic",
            topic,
            "--num-records",
            "20200",
            "--timeout",
            "60000",
        ],
        "data.consumed.in.nMsg",
    );
    let figures: Vec<&str> = perf
        .lines()
        .last()
        .map(|line| line.split(", ").collect())
        .unwrap_or_default();
    assert_eq!(figures.get(4), Some(&"20200"), "{}", perf.stdout);
}

#[test]
fn dump_log_reads_spools_segment_files_and_other_tools() {
    let tools = Tools::start();
    let topic = "console-dump";
    tools.create_topic(topic, "1");
    // Enough records for the sparse indexes (an entry per index.interval.bytes, 4 KiB) to hold
    // entries, each batch its own request.
    for batch in 0..4 {
        let lines: String = (0..50)
            .map(|i| format!("key-{batch}-{i}|{}\n", "v".repeat(100)))
            .collect();
        tools.ok_with_input(
            "kafka-console-producer",
            &[
                "--topic",
                topic,
                "--reader-property",
                "parse.key=true",
                "--reader-property",
                "key.separator=|",
            ],
            &lines,
            "",
        );
    }
    // Kafka's own reader of segment files understands spool's (Kafka's on-disk format).
    let dir = tools.broker.data_dir().join(format!("{topic}-0"));
    let file = |extension: &str| {
        dir.join(format!("00000000000000000000.{extension}"))
            .to_string_lossy()
            .into_owned()
    };
    let dumped = tool(
        "kafka-dump-log",
        &["--files", &file("log"), "--print-data-log"],
        "",
    );
    assert!(dumped.success, "{}", dumped.text());
    let records: Vec<&str> = dumped
        .lines()
        .filter(|line| line.starts_with("| offset: "))
        .collect();
    assert_eq!(records.len(), 200, "{}", dumped.stdout);
    assert!(records[0].contains("| offset: 0 ") && records[0].contains("key: key-0-0"));
    assert!(records[199].contains("| offset: 199 ") && records[199].contains("key: key-3-49"));
    assert!(
        dumped
            .lines()
            .filter(|line| line.starts_with("baseOffset: "))
            .all(|line| line.contains("isvalid: true") && line.contains("magic: 2")),
        "{}",
        dumped.stdout
    );
    let indexes = format!("{},{}", file("index"), file("timeindex"));
    let checked = tool(
        "kafka-dump-log",
        &["--files", &indexes, "--index-sanity-check"],
        "",
    );
    assert!(checked.success, "{}", checked.text());
    assert_eq!(
        checked.stdout.matches("passed sanity check").count(),
        2,
        "{}",
        checked.stdout
    );
    let index = tool("kafka-dump-log", &["--files", &file("index")], "");
    assert!(
        index.lines().any(|line| line.starts_with("offset: ")),
        "the offset index has entries: {}",
        index.stdout
    );

    let latency = tools.ok(
        "kafka-e2e-latency",
        &[
            "--topic",
            topic,
            "--num-records",
            "200",
            "--producer-acks",
            "all",
            "--record-size",
            "100",
        ],
        "Avg latency:",
    );
    latency.assert_prints(&["Percentiles: 50th = "]);
    let groups = tools.ok("kafka-groups", &["--list"], "TYPE");
    assert!(
        groups
            .lines()
            .any(|line| line.contains("Classic") && line.ends_with("consumer")),
        "{}",
        groups.stdout
    );
    tools.ok(
        "kafka-reassign-partitions",
        &["--list"],
        "No partition reassignments found.",
    );
}
