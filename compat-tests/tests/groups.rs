//! Consumer groups with rdkafka: subscribe, rebalances between members, commits (auto,
//! sync, async) and resuming exactly after the committed offset across broker restarts.

mod common;

use std::time::{Duration, Instant};

use common::*;
use compat_tests::{wait_for, SpawnedBroker};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

/// Broker settings for group tests: no initial rebalance delay.
const GROUP_CONFIG: &str = "\"group.initial.rebalance.delay.ms\" = 0";

async fn create_topic(broker: &SpawnedBroker, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = broker.client_config().create().expect("admin");
    let created = admin
        .create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .expect("create_topics");
    created[0].as_ref().expect("created");
}

fn group_consumer(broker: &SpawnedBroker, group: &str, settings: &[(&str, &str)]) -> BaseConsumer {
    let mut config = broker.client_config();
    config
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("enable.auto.commit", "false");
    for (key, value) in settings {
        config.set(*key, *value);
    }
    config.create().expect("consumer")
}

/// Polls `consumer` until it has received `count` messages; returns their offsets.
fn receive(consumer: &BaseConsumer, count: usize) -> Vec<(i32, i64)> {
    let deadline = Instant::now() + TIMEOUT;
    let mut received = Vec::with_capacity(count);
    while received.len() < count {
        assert!(
            Instant::now() < deadline,
            "received {} of {count}",
            received.len()
        );
        if let Some(result) = consumer.poll(Duration::from_millis(50)) {
            let message = result.expect("message");
            received.push((message.partition(), message.offset()));
        }
    }
    received
}

/// Polls all consumers until each has `expected` partitions assigned.
fn wait_for_assignment(consumers: &[&BaseConsumer], expected: &[usize]) {
    let settled = wait_for(TIMEOUT, || {
        for consumer in consumers {
            let _ = consumer.poll(Duration::from_millis(20));
        }
        let counts: Vec<usize> = consumers
            .iter()
            .map(|consumer| consumer.assignment().map_or(0, |tpl| tpl.count()))
            .collect();
        (counts == expected).then_some(())
    });
    let counts: Vec<usize> = consumers
        .iter()
        .map(|consumer| consumer.assignment().map_or(0, |tpl| tpl.count()))
        .collect();
    assert!(
        settled.is_some(),
        "assignment {counts:?}, expected {expected:?}"
    );
}

fn committed_offset(consumer: &BaseConsumer, topic: &str, partition: i32) -> Offset {
    let committed = consumer.committed(TIMEOUT).expect("committed");
    committed
        .find_partition(topic, partition)
        .map_or(Offset::Invalid, |element| element.offset())
}

#[tokio::test]
async fn commit_sync_then_kill_dash_nine_resumes_exactly_after_the_commit() {
    let mut broker = SpawnedBroker::start(GROUP_CONFIG);
    create_topic(&broker, "resume", 1).await;
    let producer = producer(&broker, &[("acks", "all")]);
    produce(&producer, "resume", Some(0), 100).await;

    let first = group_consumer(&broker, "resumers", &[]);
    first.subscribe(&["resume"]).unwrap();
    let received = receive(&first, 40);
    assert_eq!(
        received
            .iter()
            .map(|(_, offset)| *offset)
            .collect::<Vec<_>>(),
        (0..40).collect::<Vec<_>>()
    );
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset("resume", 0, Offset::Offset(40))
        .unwrap();
    first.commit(&commit, CommitMode::Sync).expect("commit");
    assert_eq!(committed_offset(&first, "resume", 0), Offset::Offset(40));
    drop(first);

    broker.kill();
    broker.restart();
    let second = group_consumer(&broker, "resumers", &[]);
    second.subscribe(&["resume"]).unwrap();
    let resumed = receive(&second, 60);
    assert_eq!(
        resumed.first(),
        Some(&(0, 40)),
        "resumes at the committed offset"
    );
    assert_eq!(resumed.last(), Some(&(0, 99)));
    assert_eq!(committed_offset(&second, "resume", 0), Offset::Offset(40));
}

#[tokio::test]
async fn auto_commit_and_async_commit_are_stored() {
    let broker = SpawnedBroker::start(GROUP_CONFIG);
    create_topic(&broker, "auto", 2).await;
    let producer = producer(&broker, &[("acks", "all")]);
    produce(&producer, "auto", Some(0), 30).await;
    produce(&producer, "auto", Some(1), 20).await;

    let auto = group_consumer(
        &broker,
        "auto-group",
        &[
            ("enable.auto.commit", "true"),
            ("auto.commit.interval.ms", "100"),
        ],
    );
    auto.subscribe(&["auto"]).unwrap();
    receive(&auto, 50);
    let committed = wait_for(TIMEOUT, || {
        let _ = auto.poll(Duration::from_millis(20));
        let both = (
            committed_offset(&auto, "auto", 0),
            committed_offset(&auto, "auto", 1),
        );
        (both == (Offset::Offset(30), Offset::Offset(20))).then_some(both)
    });
    assert!(
        committed.is_some(),
        "auto-commit stored the consumed positions"
    );
    drop(auto);

    let manual = group_consumer(&broker, "async-group", &[]);
    manual.subscribe(&["auto"]).unwrap();
    let received = receive(&manual, 50);
    for (partition, offset) in &received {
        let mut commit = TopicPartitionList::new();
        commit
            .add_partition_offset("auto", *partition, Offset::Offset(offset + 1))
            .unwrap();
        manual
            .commit(&commit, CommitMode::Async)
            .expect("async commit");
    }
    let stored = wait_for(TIMEOUT, || {
        let _ = manual.poll(Duration::from_millis(20));
        let both = (
            committed_offset(&manual, "auto", 0),
            committed_offset(&manual, "auto", 1),
        );
        (both == (Offset::Offset(30), Offset::Offset(20))).then_some(())
    });
    let last = (
        committed_offset(&manual, "auto", 0),
        committed_offset(&manual, "auto", 1),
    );
    assert!(stored.is_some(), "async commits stored: {last:?}");
}

#[tokio::test]
async fn three_members_share_six_partitions_and_take_over_when_one_leaves() {
    let broker = SpawnedBroker::start(GROUP_CONFIG);
    create_topic(&broker, "shared", 6).await;
    let consumers: Vec<BaseConsumer> = (0..3)
        .map(|_| group_consumer(&broker, "sharers", &[]))
        .collect();
    for consumer in &consumers {
        consumer.subscribe(&["shared"]).unwrap();
    }
    let refs: Vec<&BaseConsumer> = consumers.iter().collect();
    wait_for_assignment(&refs, &[2, 2, 2]);
    let mut assigned: Vec<i32> = consumers
        .iter()
        .flat_map(|consumer| {
            consumer
                .assignment()
                .unwrap()
                .elements()
                .iter()
                .map(|element| element.partition())
                .collect::<Vec<_>>()
        })
        .collect();
    assigned.sort_unstable();
    assert_eq!(
        assigned,
        (0..6).collect::<Vec<_>>(),
        "every partition exactly once"
    );

    let mut consumers = consumers;
    drop(consumers.pop()); // closes: LeaveGroup
    let refs: Vec<&BaseConsumer> = consumers.iter().collect();
    wait_for_assignment(&refs, &[3, 3]);

    // The survivors consume everything produced now.
    let producer = producer(&broker, &[("acks", "1")]);
    produce(&producer, "shared", None, 60).await;
    let deadline = Instant::now() + TIMEOUT;
    let mut total = 0;
    while total < 60 {
        assert!(Instant::now() < deadline, "received {total} of 60");
        for consumer in &consumers {
            if let Some(result) = consumer.poll(Duration::from_millis(20)) {
                result.expect("message");
                total += 1;
            }
        }
    }
}

#[tokio::test]
async fn a_new_group_gets_its_first_message_quickly() {
    for (delay_ms, budget) in [(0, Duration::from_secs(2)), (3000, Duration::from_secs(5))] {
        let broker = SpawnedBroker::start(&format!(
            "\"group.initial.rebalance.delay.ms\" = {delay_ms}"
        ));
        create_topic(&broker, "first", 1).await;
        let producer = producer(&broker, &[("acks", "all")]);
        produce(&producer, "first", Some(0), 1).await;
        let consumer = group_consumer(&broker, "fresh", &[]);
        let started = Instant::now();
        consumer.subscribe(&["first"]).unwrap();
        receive(&consumer, 1);
        let elapsed = started.elapsed();
        println!(
            "time to first message with group.initial.rebalance.delay.ms={delay_ms}: {elapsed:?}"
        );
        assert!(elapsed >= Duration::from_millis(delay_ms), "{elapsed:?}");
        assert!(elapsed < budget, "{elapsed:?} with delay {delay_ms} ms");
    }
}

#[tokio::test]
async fn a_killed_member_is_replaced_within_the_session_timeout() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let broker = SpawnedBroker::start(GROUP_CONFIG);
    create_topic(&broker, "crashy", 4).await;
    let binary =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/group-member");
    let mut child = Command::new(binary)
        .args([broker.bootstrap.as_str(), "crashers", "crashy"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("group-member runs (make build builds it)");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let survivor = group_consumer(&broker, "crashers", &[]);
    survivor.subscribe(&["crashy"]).unwrap();
    // Poll the survivor while reading the child's reports on another thread.
    let (reports, reported) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.by_ref().map_while(Result::ok) {
            let _ = reports.send(line);
        }
    });
    let mut child_assigned = 0;
    let split = wait_for(TIMEOUT, || {
        let _ = survivor.poll(Duration::from_millis(20));
        while let Ok(line) = reported.try_recv() {
            child_assigned = line.trim_start_matches("assigned ").parse().unwrap_or(0);
        }
        let mine = survivor.assignment().map_or(0, |tpl| tpl.count());
        (mine == 2 && child_assigned == 2).then_some(())
    });
    assert!(
        split.is_some(),
        "the two members split 4 partitions (child has {child_assigned})"
    );

    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let killed_at = Instant::now();
    wait_for_assignment(&[&survivor], &[4]);
    let took = killed_at.elapsed();
    println!("takeover after SIGKILL of a member: {took:?}");
    assert!(
        took < Duration::from_secs(6 + 5),
        "took {took:?} with a 6 s session timeout"
    );
}

#[tokio::test]
async fn list_describe_and_delete_groups() {
    let broker = SpawnedBroker::start(GROUP_CONFIG);
    create_topic(&broker, "listed", 2).await;
    create_topic(&broker, "other", 1).await;
    let active = group_consumer(&broker, "active", &[("client.id", "active-client")]);
    active.subscribe(&["listed"]).unwrap();
    wait_for_assignment(&[&active], &[2]);

    // A group-less commit (assign + commit, generation -1) creates an Empty group.
    let idle = group_consumer(&broker, "idle", &[]);
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset("other", 0, Offset::Offset(0))
        .unwrap();
    idle.assign(&assignment).unwrap();
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset("other", 0, Offset::Offset(7))
        .unwrap();
    idle.commit(&commit, CommitMode::Sync)
        .expect("group-less commit");
    assert_eq!(committed_offset(&idle, "other", 0), Offset::Offset(7));
    drop(idle);

    let groups = active.fetch_group_list(None, TIMEOUT).expect("group list");
    let mut listed: Vec<(String, String)> = groups
        .groups()
        .iter()
        .map(|group| (group.name().to_owned(), group.state().to_owned()))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            ("active".to_owned(), "Stable".to_owned()),
            ("idle".to_owned(), "Empty".to_owned())
        ]
    );
    let described = groups
        .groups()
        .iter()
        .find(|group| group.name() == "active")
        .unwrap();
    assert_eq!(described.protocol_type(), "consumer");
    assert_eq!(described.members().len(), 1);
    assert_eq!(described.members()[0].client_id(), "active-client");
    assert_eq!(described.members()[0].client_host(), "/127.0.0.1");

    let admin: AdminClient<DefaultClientContext> = broker.client_config().create().unwrap();
    let deleted = admin
        .delete_groups(&["active", "idle", "missing"], &AdminOptions::new())
        .await
        .unwrap();
    let codes: Vec<Option<rdkafka::types::RDKafkaErrorCode>> = deleted
        .into_iter()
        .map(|result| result.err().map(|(_, code)| code))
        .collect();
    assert_eq!(
        codes,
        [
            Some(rdkafka::types::RDKafkaErrorCode::NonEmptyGroup),
            None,
            Some(rdkafka::types::RDKafkaErrorCode::GroupIdNotFound)
        ]
    );
    let check = group_consumer(&broker, "idle", &[]);
    check.assign(&assignment).unwrap();
    assert_eq!(
        committed_offset(&check, "other", 0),
        Offset::Invalid,
        "deleted with the group"
    );
}

/// Runs the `spool` tool binary with `args`; returns stdout.
fn spool_tool(args: &[&str]) -> String {
    let output = std::process::Command::new(compat_tests::broker_binary())
        .args(args)
        .output()
        .expect("spool runs");
    assert!(
        output.status.success(),
        "spool {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

#[tokio::test]
async fn spool_groups_describe_shows_the_lag_a_client_computes() {
    let broker = SpawnedBroker::start(GROUP_CONFIG);
    create_topic(&broker, "lagged", 2).await;
    let producer = producer(&broker, &[("acks", "all")]);
    produce(&producer, "lagged", Some(0), 30).await;
    produce(&producer, "lagged", Some(1), 20).await;
    let consumer = group_consumer(&broker, "laggers", &[("client.id", "lag-client")]);
    consumer.subscribe(&["lagged"]).unwrap();
    receive(&consumer, 50);
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset("lagged", 0, Offset::Offset(10))
        .unwrap();
    commit
        .add_partition_offset("lagged", 1, Offset::Offset(20))
        .unwrap();
    consumer.commit(&commit, CommitMode::Sync).unwrap();

    let json = spool_tool(&[
        "groups",
        "describe",
        "laggers",
        "--bootstrap",
        &broker.bootstrap,
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(report["state"], "Stable");
    let rows = report["partitions"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        let partition = row["partition"].as_i64().unwrap() as i32;
        // What the client itself computes from its committed offsets and the watermarks.
        let committed = match committed_offset(&consumer, "lagged", partition) {
            Offset::Offset(offset) => offset,
            other => panic!("committed {other:?}"),
        };
        let (_, high) = consumer
            .fetch_watermarks("lagged", partition, TIMEOUT)
            .unwrap();
        assert_eq!(row["current_offset"].as_i64(), Some(committed));
        assert_eq!(row["log_end_offset"].as_i64(), Some(high));
        assert_eq!(row["lag"].as_i64(), Some(high - committed));
        assert_eq!(row["client_id"], "lag-client");
        assert_eq!(row["host"], "/127.0.0.1");
    }
    assert_eq!(rows[0]["lag"].as_i64(), Some(20));
    assert_eq!(rows[1]["lag"].as_i64(), Some(0));

    let table = spool_tool(&[
        "groups",
        "describe",
        "laggers",
        "--bootstrap",
        &broker.bootstrap,
    ]);
    assert!(
        table.contains("CURRENT-OFFSET  LOG-END-OFFSET  LAG"),
        "{table}"
    );
    let cells: Vec<Vec<&str>> = table
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert!(
        cells
            .iter()
            .any(|row| row.len() == 9 && row[..6] == ["laggers", "lagged", "0", "10", "30", "20"]),
        "{table}"
    );
    let listed = spool_tool(&["groups", "list", "--bootstrap", &broker.bootstrap]);
    assert!(
        listed.lines().any(|line| line == "laggers\tStable"),
        "{listed}"
    );
}

/// Counts the rebalances (revocations and assignments) a consumer goes through.
#[derive(Clone, Default)]
struct RebalanceCounter(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl rdkafka::client::ClientContext for RebalanceCounter {}

impl rdkafka::consumer::ConsumerContext for RebalanceCounter {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, _: &rdkafka::consumer::Rebalance<'_>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_restarted_static_member_gets_its_partitions_back_without_a_rebalance() {
    let broker = SpawnedBroker::start(GROUP_CONFIG);
    create_topic(&broker, "static", 4).await;
    let member = |instance: &str| {
        let mut config = broker.client_config();
        config
            .set("group.id", "statics")
            .set("group.instance.id", instance)
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "500")
            .set("enable.auto.commit", "false");
        config
    };
    let counter = RebalanceCounter::default();
    let steady: BaseConsumer<RebalanceCounter> = member("steady")
        .create_with_context(counter.clone())
        .unwrap();
    steady.subscribe(&["static"]).unwrap();
    let restarted: BaseConsumer = member("restarting").create().unwrap();
    restarted.subscribe(&["static"]).unwrap();
    let both = wait_for(TIMEOUT, || {
        let _ = steady.poll(Duration::from_millis(20));
        let _ = restarted.poll(Duration::from_millis(20));
        let counts = (
            steady.assignment().map_or(0, |a| a.count()),
            restarted.assignment().map_or(0, |a| a.count()),
        );
        (counts == (2, 2)).then_some(())
    });
    assert!(both.is_some(), "two static members split four partitions");
    let partitions_of = |assignment: TopicPartitionList| {
        let mut partitions: Vec<i32> = assignment
            .elements()
            .iter()
            .map(|element| element.partition())
            .collect();
        partitions.sort_unstable();
        partitions
    };
    let before = partitions_of(restarted.assignment().unwrap());
    let steady_partitions = partitions_of(steady.assignment().unwrap());
    let rebalances = counter.0.load(std::sync::atomic::Ordering::SeqCst);
    drop(restarted); // a static member sends no LeaveGroup (KIP-345)

    let again: BaseConsumer = member("restarting").create().unwrap();
    again.subscribe(&["static"]).unwrap();
    let back = wait_for(TIMEOUT, || {
        let _ = steady.poll(Duration::from_millis(20));
        let _ = again.poll(Duration::from_millis(20));
        (again.assignment().map_or(0, |a| a.count()) == 2).then_some(())
    });
    assert!(back.is_some(), "the restarted member is assigned again");
    assert_eq!(
        partitions_of(again.assignment().unwrap()),
        before,
        "same partitions as before the restart"
    );
    for _ in 0..20 {
        let _ = steady.poll(Duration::from_millis(50));
    }
    assert_eq!(
        partitions_of(steady.assignment().unwrap()),
        steady_partitions
    );
    assert_eq!(
        counter.0.load(std::sync::atomic::Ordering::SeqCst),
        rebalances,
        "the other member saw no rebalance"
    );
}

#[tokio::test]
async fn a_stable_group_survives_a_broker_restart_without_rebalancing() {
    let mut broker = SpawnedBroker::start(GROUP_CONFIG);
    create_topic(&broker, "survivor", 2).await;
    let counter = RebalanceCounter::default();
    let mut config = broker.client_config();
    config
        .set("group.id", "survivors")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "300")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false");
    let consumer: BaseConsumer<RebalanceCounter> =
        config.create_with_context(counter.clone()).unwrap();
    consumer.subscribe(&["survivor"]).unwrap();
    let assigned = wait_for(TIMEOUT, || {
        let _ = consumer.poll(Duration::from_millis(20));
        (consumer.assignment().map_or(0, |a| a.count()) == 2).then_some(())
    });
    assert!(assigned.is_some());
    let rebalances = counter.0.load(std::sync::atomic::Ordering::SeqCst);

    broker.kill();
    broker.restart();
    // The group (generation, members, assignment) was replayed from __consumer_offsets:
    // heartbeats keep succeeding and consumption goes on in the same generation.
    let producer = producer(&broker, &[("acks", "all")]);
    produce(&producer, "survivor", Some(1), 5).await;
    let deadline = Instant::now() + TIMEOUT;
    let mut received = 0;
    while received < 5 {
        assert!(
            Instant::now() < deadline,
            "received {received} of 5 after the restart"
        );
        match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(_)) => received += 1,
            // The restart itself is reported (all brokers down, then back): not fatal.
            Some(Err(error)) => eprintln!("while the broker restarted: {error}"),
            None => {}
        }
    }
    for _ in 0..20 {
        let _ = consumer.poll(Duration::from_millis(50));
    }
    assert_eq!(
        counter.0.load(std::sync::atomic::Ordering::SeqCst),
        rebalances,
        "no rebalance across the restart"
    );
}
