//! Moving partitions' replicas between the brokers of a three-broker cluster
//! (AlterPartitionReassignments, ListPartitionReassignments): over the wire with Kafka's
//! errors, through a leader that leaves its own partition, while a new replica cannot catch
//! up (listed, then cancelled), and with Kafka's own `kafka-reassign-partitions`. Every
//! acknowledged record stays readable, and a broker that lost its replica deletes its log.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::cluster::{partition_views, signal, start_cluster};
use common::{committed_reader, produce, producer, read_to_ends, TIMEOUT};
use compat_tests::etcd::SpawnedEtcd;
use compat_tests::kafka::tool;
use compat_tests::wire::WireClient;
use compat_tests::{wait_for, SpawnedBroker};
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, CreateTopicsRequest,
    ListPartitionReassignmentsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::Message;

/// Kafka's default session: the test that stops a broker stays well inside it.
const SESSION_MS: u64 = 9000;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_REPLICATION_FACTOR: i16 = 38;
const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

/// Creates `topic` with the replicas of each partition as `assignment` lists them.
fn create(client: &mut WireClient, topic: &str, assignment: &[&[i32]]) {
    let assignments = assignment
        .iter()
        .enumerate()
        .map(|(partition, replicas)| {
            CreatableReplicaAssignment::default()
                .with_partition_index(partition as i32)
                .with_broker_ids(replicas.iter().copied().map(BrokerId).collect())
        })
        .collect();
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(topic))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(assignments)]);
    let created = client.call(5, &request);
    assert_eq!(created.topics[0].error_code, 0, "{created:?}");
}

/// AlterPartitionReassignments at `version` for `topic`: partition → target (`None`
/// cancels); the answer's partition → error code.
fn alter(
    client: &mut WireClient,
    version: i16,
    topic: &str,
    targets: &[(i32, Option<&[i32]>)],
    allow_factor_change: bool,
) -> BTreeMap<i32, i16> {
    let partitions = targets
        .iter()
        .map(|(partition, target)| {
            ReassignablePartition::default()
                .with_partition_index(*partition)
                .with_replicas(target.map(|ids| ids.iter().copied().map(BrokerId).collect()))
        })
        .collect();
    let request = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(30_000)
        .with_allow_replication_factor_change(allow_factor_change)
        .with_topics(vec![ReassignableTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(partitions)]);
    let response = client.call(version, &request);
    assert_eq!(response.error_code, 0, "{response:?}");
    response.responses[0]
        .partitions
        .iter()
        .map(|partition| (partition.partition_index, partition.error_code))
        .collect()
}

/// (replicas, adding, removing) of a reassignment in progress.
type Moving = (Vec<i32>, Vec<i32>, Vec<i32>);

/// ListPartitionReassignments of every topic (`asked` = `None`) or of the named partitions.
fn listed(
    client: &mut WireClient,
    asked: Option<(&str, &[i32])>,
) -> BTreeMap<(String, i32), Moving> {
    let topics = asked.map(|(topic, partitions)| {
        vec![ListPartitionReassignmentsTopics::default()
            .with_name(topic_name(topic))
            .with_partition_indexes(partitions.to_vec())]
    });
    let request = ListPartitionReassignmentsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(topics);
    let response = client.call(0, &request);
    assert_eq!(response.error_code, 0, "{response:?}");
    let ids = |brokers: &[BrokerId]| brokers.iter().map(|id| id.0).collect::<Vec<_>>();
    response
        .topics
        .iter()
        .flat_map(|topic| {
            topic.partitions.iter().map(|partition| {
                let moving = (
                    ids(&partition.replicas),
                    ids(&partition.adding_replicas),
                    ids(&partition.removing_replicas),
                );
                ((topic.name.to_string(), partition.partition_index), moving)
            })
        })
        .collect()
}

/// Partition → (replicas in order, leader, ISR sorted).
type Placement = BTreeMap<i32, (Vec<i32>, i32, Vec<i32>)>;

/// The placement of `topic` in `broker`'s Metadata.
fn placement(broker: &SpawnedBroker, topic: &str, partitions: usize) -> Option<Placement> {
    partition_views(broker, topic, partitions, |partition| {
        let mut isr = partition.isr().to_vec();
        isr.sort_unstable();
        (partition.replicas().to_vec(), partition.leader(), isr)
    })
}

/// Waits until `broker`'s Metadata places `topic`'s partitions as `expected` says.
fn wait_placed(broker: &SpawnedBroker, topic: &str, expected: &Placement) {
    let placed = wait_for(TIMEOUT, || {
        placement(broker, topic, expected.len()).filter(|placed| placed == expected)
    });
    assert!(
        placed.is_some(),
        "{topic}: {:?}, not {expected:?}",
        placement(broker, topic, expected.len())
    );
}

/// (partition, offset) of every record of `topic` a new reader gets through `broker`.
fn read_back(broker: &SpawnedBroker, topic: &str, partitions: i32) -> BTreeSet<(i32, i64)> {
    let (consumer, ends) = committed_reader(broker, topic, partitions, "readers");
    read_to_ends(&consumer, topic, &ends, TIMEOUT)
        .iter()
        .map(|message| (message.partition(), message.offset()))
        .collect()
}

/// Each partition's only replica moves to two other brokers (Kafka, like spool, wants one
/// replication factor for all partitions of a topic at creation): each new replica copies
/// the log from the leader, joins the ISR, and the controller completes the move (the
/// replica list becomes the target, a target replica leads, the removed brokers delete
/// their logs). Every record
/// acknowledged before and after reads back; Kafka's errors for bad requests.
#[tokio::test(flavor = "multi_thread")]
async fn replicas_move_to_other_brokers_with_every_acknowledged_record() {
    let etcd = SpawnedEtcd::start();
    let brokers = start_cluster(&etcd, "reassign", SESSION_MS);
    let mut client = WireClient::connect(&brokers[0].bootstrap);
    create(&mut client, "moving", &[&[1], &[2]]);
    let before = BTreeMap::from([(0, (vec![1], 1, vec![1])), (1, (vec![2], 2, vec![2]))]);
    wait_placed(&brokers[0], "moving", &before);
    let writer = producer(&brokers[2], &[("acks", "all")]);
    let mut acknowledged: BTreeSet<(i32, i64)> = BTreeSet::new();
    for partition in 0..2 {
        acknowledged.extend(produce(&writer, "moving", Some(partition), 200).await);
    }

    let outcomes = alter(
        &mut client,
        1,
        "moving",
        &[(0, Some(&[2, 3])), (1, Some(&[3, 1]))],
        true,
    );
    assert_eq!(outcomes, BTreeMap::from([(0, 0), (1, 0)]));
    let after = BTreeMap::from([
        (0, (vec![2, 3], 2, vec![2, 3])),
        (1, (vec![3, 1], 3, vec![1, 3])),
    ]);
    for broker in &brokers {
        wait_placed(broker, "moving", &after);
    }
    assert_eq!(listed(&mut client, None), BTreeMap::new());
    let gone = |broker: &SpawnedBroker, dir: &str| !broker.data_dir().join(dir).exists();
    let deleted = wait_for(TIMEOUT, || {
        (gone(&brokers[0], "moving-0") && gone(&brokers[1], "moving-1")).then_some(())
    });
    assert!(deleted.is_some(), "the removed replicas' logs are deleted");
    assert!(!gone(&brokers[0], "moving-1") && !gone(&brokers[2], "moving-0"));

    // The producer finds the new leaders; everything acknowledged reads back.
    for partition in 0..2 {
        acknowledged.extend(produce(&writer, "moving", Some(partition), 200).await);
    }
    assert_eq!(acknowledged.len(), 800);
    assert_eq!(read_back(&brokers[1], "moving", 2), acknowledged);

    // Kafka's answers to what cannot be done.
    let refused = alter(
        &mut client,
        1,
        "moving",
        &[(0, Some(&[1, 1])), (1, Some(&[1, 9])), (2, Some(&[1]))],
        true,
    );
    assert_eq!(
        refused,
        BTreeMap::from([
            (0, INVALID_REPLICA_ASSIGNMENT),
            (1, INVALID_REPLICA_ASSIGNMENT),
            (2, UNKNOWN_TOPIC_OR_PARTITION),
        ])
    );
    let cancelled = alter(&mut client, 0, "moving", &[(0, None)], true);
    assert_eq!(cancelled[&0], NO_REASSIGNMENT_IN_PROGRESS);
    let kept = alter(&mut client, 1, "moving", &[(1, Some(&[1, 2, 3]))], false);
    assert_eq!(kept[&1], INVALID_REPLICATION_FACTOR);
    let unknown = alter(&mut client, 1, "nowhere", &[(0, Some(&[1]))], true);
    assert_eq!(unknown[&0], UNKNOWN_TOPIC_OR_PARTITION);
    wait_placed(&brokers[2], "moving", &after);
}

/// A new replica on a stopped broker cannot catch up: the move stays in progress (listed
/// with its adding and removing replicas, writes go on with the old ISR) until it is
/// cancelled, which restores the original replicas.
#[tokio::test(flavor = "multi_thread")]
async fn a_move_to_a_stopped_broker_is_listed_until_cancelled() {
    let etcd = SpawnedEtcd::start();
    let brokers = start_cluster(&etcd, "reassign-cancel", SESSION_MS);
    let mut client = WireClient::connect(&brokers[0].bootstrap);
    create(&mut client, "waiting", &[&[1, 2]]);
    let original = BTreeMap::from([(0, (vec![1, 2], 1, vec![1, 2]))]);
    wait_placed(&brokers[0], "waiting", &original);
    let writer = producer(&brokers[0], &[("acks", "all")]);
    let mut acknowledged: BTreeSet<(i32, i64)> = produce(&writer, "waiting", Some(0), 50)
        .await
        .into_iter()
        .collect();

    signal(&brokers[2], libc::SIGSTOP);
    let moved = alter(&mut client, 1, "waiting", &[(0, Some(&[1, 3]))], true);
    let listing = listed(&mut client, Some(("waiting", &[0, 1])));
    acknowledged.extend(produce(&writer, "waiting", Some(0), 50).await);
    let reassigning = placement(&brokers[1], "waiting", 1);
    let cancelled = alter(&mut client, 1, "waiting", &[(0, None)], true);
    let listing_after = listed(&mut client, None);
    signal(&brokers[2], libc::SIGCONT);

    assert_eq!(moved, BTreeMap::from([(0, 0)]));
    let in_progress = (vec![1, 3, 2], vec![3], vec![2]);
    assert_eq!(
        listing,
        BTreeMap::from([(("waiting".to_owned(), 0), in_progress)])
    );
    let expected = BTreeMap::from([(0, (vec![1, 3, 2], 1, vec![1, 2]))]);
    assert_eq!(reassigning, Some(expected));
    assert_eq!(cancelled, BTreeMap::from([(0, 0)]));
    assert_eq!(listing_after, BTreeMap::new());
    wait_placed(&brokers[2], "waiting", &original);
    let removed = wait_for(TIMEOUT, || {
        (!brokers[2].data_dir().join("waiting-0").exists()).then_some(())
    });
    assert!(
        removed.is_some(),
        "broker 3 deleted the replica it never completed"
    );
    acknowledged.extend(produce(&writer, "waiting", Some(0), 50).await);
    assert_eq!(read_back(&brokers[1], "waiting", 1), acknowledged);
}

/// `kafka-reassign-partitions`: --generate proposes a placement on the named brokers,
/// --execute starts it (printing the current one for a rollback), --verify reports each
/// partition completed once the cluster has moved it.
#[tokio::test(flavor = "multi_thread")]
async fn kafkas_reassign_partitions_tool_moves_a_topic() {
    let etcd = SpawnedEtcd::start();
    let brokers = start_cluster(&etcd, "reassign-tool", SESSION_MS);
    let bootstrap = brokers[0].bootstrap.as_str();
    let mut client = WireClient::connect(bootstrap);
    create(&mut client, "tooled", &[&[1, 2], &[2, 1]]);
    wait_placed(
        &brokers[0],
        "tooled",
        &BTreeMap::from([
            (0, (vec![1, 2], 1, vec![1, 2])),
            (1, (vec![2, 1], 2, vec![1, 2])),
        ]),
    );
    let writer = producer(&brokers[0], &[("acks", "all")]);
    let mut acknowledged: BTreeSet<(i32, i64)> = BTreeSet::new();
    for partition in 0..2 {
        acknowledged.extend(produce(&writer, "tooled", Some(partition), 100).await);
    }
    let files = tempfile::tempdir().expect("temp dir");
    let topics = files.path().join("topics.json");
    std::fs::write(&topics, r#"{"version":1,"topics":[{"topic":"tooled"}]}"#).expect("write");
    let generated = run_tool(&[
        "--bootstrap-server",
        bootstrap,
        "--generate",
        "--topics-to-move-json-file",
        path(&topics),
        "--broker-list",
        "2,3",
    ]);
    assert!(
        generated.contains("Current partition replica assignment")
            && generated.contains("Proposed partition reassignment configuration"),
        "{generated}"
    );

    let plan = files.path().join("plan.json");
    std::fs::write(
        &plan,
        r#"{"version":1,"partitions":[
            {"topic":"tooled","partition":0,"replicas":[3,2],"log_dirs":["any","any"]},
            {"topic":"tooled","partition":1,"replicas":[2,3],"log_dirs":["any","any"]}]}"#,
    )
    .expect("write");
    let plan_arguments = plan_arguments(bootstrap, &plan);
    let executed = run_tool(&[&plan_arguments[..], &["--execute"]].concat());
    assert!(
        executed.contains("Successfully started partition reassignments for tooled-0,tooled-1"),
        "{executed}"
    );
    let verified = wait_for(TIMEOUT, || {
        let text = run_tool(&[&plan_arguments[..], &["--verify"]].concat());
        (text.contains("Reassignment of partition tooled-0 is completed")
            && text.contains("Reassignment of partition tooled-1 is completed"))
        .then_some(text)
    });
    assert!(verified.is_some(), "the tool sees both moves completed");
    let moved = BTreeMap::from([
        (0, (vec![3, 2], 3, vec![2, 3])),
        (1, (vec![2, 3], 2, vec![2, 3])),
    ]);
    wait_placed(&brokers[1], "tooled", &moved);
    for partition in 0..2 {
        acknowledged.extend(produce(&writer, "tooled", Some(partition), 100).await);
    }
    assert_eq!(read_back(&brokers[2], "tooled", 2), acknowledged);
}

/// The tool's arguments that name the cluster and the reassignment plan file.
fn plan_arguments<'a>(bootstrap: &'a str, plan: &'a std::path::Path) -> [&'a str; 4] {
    [
        "--bootstrap-server",
        bootstrap,
        "--reassignment-json-file",
        path(plan),
    ]
}

fn path(path: &std::path::Path) -> &str {
    path.to_str().expect("a UTF-8 temp path")
}

/// `kafka-reassign-partitions ARGS`, which must exit 0; its output.
fn run_tool(args: &[&str]) -> String {
    let run = tool("kafka-reassign-partitions", args, "");
    assert!(
        run.success,
        "kafka-reassign-partitions {args:?}:\n{}",
        run.text()
    );
    run.text()
}

/// `kafka-reassign-partitions --execute --throttle RATE`: the tool sets the brokers' throttle
/// rates and the topic's throttled replica lists, the new replica copies the log no faster
/// than the rate allows (yet does catch up), `kafka-configs` shows the throttles, and
/// `--verify` lifts them once the move is complete.
#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_reassignment_copies_at_the_rate_and_verify_lifts_the_throttle() {
    /// 6 MB to copy at 600 kB/s: ten seconds or more (a fetch may take 1 MiB before the
    /// rate is measured over it); unthrottled, the move takes about two and a half here.
    const RECORDS: usize = 600;
    const RECORD_BYTES: usize = 10 * 1024;
    const RATE: u64 = 600_000;
    let etcd = SpawnedEtcd::start();
    let brokers = start_cluster(&etcd, "reassign-throttled", SESSION_MS);
    let bootstrap = brokers[0].bootstrap.as_str();
    let mut client = WireClient::connect(bootstrap);
    create(&mut client, "throttled", &[&[1]]);
    wait_placed(
        &brokers[0],
        "throttled",
        &BTreeMap::from([(0, (vec![1], 1, vec![1]))]),
    );
    let writer = producer(&brokers[0], &[("acks", "all")]);
    let payload = vec![b'x'; RECORD_BYTES];
    let sends: Vec<_> = (0..RECORDS)
        .map(|_| {
            let record = rdkafka::producer::FutureRecord::<(), [u8]>::to("throttled")
                .partition(0)
                .payload(&payload);
            writer
                .send_result(record)
                .unwrap_or_else(|(error, _)| panic!("enqueue: {error}"))
        })
        .collect();
    let mut acknowledged = BTreeSet::new();
    for send in sends {
        let delivery = send.await.expect("delivery canceled").expect("delivered");
        acknowledged.insert((delivery.partition, delivery.offset));
    }

    let files = tempfile::tempdir().expect("temp dir");
    let plan = files.path().join("plan.json");
    std::fs::write(
        &plan,
        r#"{"version":1,"partitions":[{"topic":"throttled","partition":0,"replicas":[1,2]}]}"#,
    )
    .expect("write");
    let plan_arguments = plan_arguments(bootstrap, &plan);
    let rate = RATE.to_string();
    let executed = run_tool(&[&plan_arguments[..], &["--execute", "--throttle", &rate]].concat());
    // The tool sets the throttles, then starts the move just before it exits: the copy is
    // timed from here, so the tool's own start-up does not count.
    let started = std::time::Instant::now();
    assert!(
        executed.contains(&format!(
            "The inter-broker throttle limit was set to {RATE} B/s"
        )),
        "{executed}"
    );
    for broker in ["1", "2"] {
        let described = configs(bootstrap, "brokers", broker);
        for side in ["leader", "follower"] {
            let line = format!("{side}.replication.throttled.rate={RATE}");
            assert!(described.contains(&line), "broker {broker}: {described}");
        }
    }
    let topic = configs(bootstrap, "topics", "throttled");
    assert!(
        topic.contains("leader.replication.throttled.replicas=0:1")
            && topic.contains("follower.replication.throttled.replicas=0:2"),
        "{topic}"
    );

    let moved = BTreeMap::from([(0, (vec![1, 2], 1, vec![1, 2]))]);
    let caught_up = wait_for(std::time::Duration::from_secs(60), || {
        (placement(&brokers[0], "throttled", 1).as_ref() == Some(&moved)).then(|| started.elapsed())
    })
    .expect("the new replica catches up under the throttle");
    let total = (RECORDS * RECORD_BYTES) as f64;
    eprintln!("{total} bytes copied in {caught_up:?} under a throttle of {RATE} B/s");
    let floor = total / RATE as f64 * 0.6;
    assert!(
        caught_up.as_secs_f64() >= floor,
        "{total} bytes copied in {caught_up:?} at a throttle of {RATE} B/s (at least {floor:.1} s expected)"
    );

    let verified = run_tool(&[&plan_arguments[..], &["--verify"]].concat());
    assert!(
        verified.contains("Reassignment of partition throttled-0 is completed"),
        "{verified}"
    );
    for broker in ["1", "2"] {
        let described = configs(bootstrap, "brokers", broker);
        assert!(
            !described.contains("throttled.rate"),
            "broker {broker}: {described}"
        );
    }
    let topic = configs(bootstrap, "topics", "throttled");
    assert!(!topic.contains("throttled.replicas"), "{topic}");
    assert_eq!(read_back(&brokers[1], "throttled", 1), acknowledged);
}

/// `kafka-configs --describe` of one entity.
fn configs(bootstrap: &str, entity_type: &str, name: &str) -> String {
    let run = tool(
        "kafka-configs",
        &[
            "--bootstrap-server",
            bootstrap,
            "--describe",
            "--entity-type",
            entity_type,
            "--entity-name",
            name,
        ],
        "",
    );
    assert!(
        run.success,
        "kafka-configs {entity_type} {name}:\n{}",
        run.text()
    );
    run.text()
}
