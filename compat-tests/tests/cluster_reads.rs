//! Fetch from the closest replica (KIP-392) on three brokers, each in a rack of its own,
//! with Kafka's `RackAwareReplicaSelector`: the leader sends a consumer that names a
//! follower's rack there, the follower serves consumers up to its high watermark (and
//! read_committed ones up to the last stable offset), and librdkafka's and Kafka's Java
//! consumers with `client.rack` read everything from the follower in their rack.

mod common;

use common::cluster::{create_replicated_topic, partition_leaders};
use common::{produce, producer, text, TIMEOUT};
use compat_tests::etcd::{start_brokers_with, SpawnedEtcd};
use compat_tests::kafka::tool;
use compat_tests::prometheus::scrape;
use compat_tests::wire::WireClient;
use compat_tests::{wait_for, SpawnedBroker};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};

const SESSION_MS: u64 = 6000;
const TOPIC: &str = "closest";
const RECORDS: usize = 200;
const RACK_AWARE_SELECTOR: &str = "org.apache.kafka.common.replica.RackAwareReplicaSelector";
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const UNKNOWN_LEADER_EPOCH: i16 = 75;
/// Fetch v11 added the consumer's rack and the preferred read replica.
const RACK_VERSION: i16 = 11;

fn rack_of(node_id: i32) -> String {
    format!("rack-{node_id}")
}

/// Brokers 1, 2 and 3 in racks `rack-1`, `rack-2` and `rack-3`, serving metrics.
fn start_racks(etcd: &SpawnedEtcd) -> Vec<SpawnedBroker> {
    start_brokers_with(etcd, "closest-replica", |node_id| {
        format!(
            "\"broker.session.timeout.ms\" = {SESSION_MS}\n\"broker.rack\" = \"{}\"\n\
             \"replica.selector.class\" = \"{RACK_AWARE_SELECTOR}\"\n\
             \"metrics.listen\" = \"127.0.0.1:0\"\n",
            rack_of(node_id)
        )
    })
}

/// A consumer's Fetch of partition 0 of [`TOPIC`].
#[derive(Clone)]
struct Read<'a> {
    version: i16,
    rack: &'a str,
    /// The leader epoch the consumer knows (-1: none).
    current_leader_epoch: i32,
    offset: i64,
    read_committed: bool,
}

impl Default for Read<'_> {
    fn default() -> Self {
        Self {
            version: RACK_VERSION,
            rack: "",
            current_leader_epoch: -1,
            offset: 0,
            read_committed: false,
        }
    }
}

/// `read`'s answer from `broker`.
fn fetch(broker: &SpawnedBroker, read: Read<'_>) -> PartitionData {
    let request = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_isolation_level(i8::from(read.read_committed))
        .with_rack_id(StrBytes::from_string(read.rack.to_owned()))
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(read.offset)
                .with_current_leader_epoch(read.current_leader_epoch)
                .with_partition_max_bytes(1 << 20)])]);
    let version = read.version;
    let mut client = WireClient::connect(&broker.bootstrap);
    let mut response = client.call(version, &request);
    response.responses.remove(0).partitions.remove(0)
}

fn has_records(answer: &PartitionData) -> bool {
    answer
        .records
        .as_ref()
        .is_some_and(|records| !records.is_empty())
}

/// The value of the sample `name` (0 if absent) on `broker`'s metrics endpoint.
fn sample(broker: &SpawnedBroker, name: &str) -> f64 {
    let url = broker.metrics_url().expect("metrics endpoint");
    scrape(&url).get(name).copied().unwrap_or(0.0)
}

/// The record bytes `broker` has sent consumers of [`TOPIC`].
fn bytes_out(broker: &SpawnedBroker) -> f64 {
    sample(
        broker,
        &format!("spool_topic_bytes_out_total{{topic=\"{TOPIC}\"}}"),
    )
}

#[tokio::test]
async fn consumers_read_from_the_replica_in_their_rack() {
    let etcd = SpawnedEtcd::start();
    let brokers = start_racks(&etcd);
    create_replicated_topic(&brokers[0], TOPIC, 1).await;
    let producer = producer(&brokers[0], &[("acks", "all")]);
    produce(&producer, TOPIC, Some(0), RECORDS).await;
    let leader = partition_leaders(&brokers[0], TOPIC, 1).expect("a leader")[&0];
    let followers: Vec<i32> = (1..=3).filter(|id| *id != leader).collect();
    let (near, far) = (followers[0], followers[1]);
    let broker = |id: i32| &brokers[id as usize - 1];
    let end = RECORDS as i64;
    // Replication is counted apart: out of the leader, into each follower.
    assert!(sample(broker(leader), "spool_replication_bytes_out_total") > 0.0);
    for follower in [near, far] {
        assert!(sample(broker(follower), "spool_replication_bytes_in_total") > 0.0);
        assert_eq!(
            sample(broker(follower), "spool_replication_bytes_out_total"),
            0.0
        );
    }

    // The leader sends a consumer in a follower's rack there, answering no records.
    let near_rack = rack_of(near);
    let sent = fetch(
        broker(leader),
        Read {
            rack: &near_rack,
            ..Read::default()
        },
    );
    assert_eq!(sent.error_code, 0);
    assert_eq!(sent.preferred_read_replica.0, near);
    assert!(
        !has_records(&sent),
        "a consumer sent elsewhere reads nothing here"
    );
    assert_eq!(
        (sent.high_watermark, sent.log_start_offset),
        (end, 0),
        "{sent:?}"
    );
    // It serves consumers in its own rack, in a rack without replicas, or in none.
    for rack in [rack_of(leader), "rack-elsewhere".to_owned(), String::new()] {
        let served = fetch(
            broker(leader),
            Read {
                rack: &rack,
                ..Read::default()
            },
        );
        assert_eq!(served.preferred_read_replica.0, -1, "{rack}");
        assert!(has_records(&served), "{rack}");
    }

    // A follower serves consumers from v11, up to the high watermark its leader gave it.
    let served = wait_for(TIMEOUT, || {
        Some(fetch(broker(near), Read::default())).filter(|a| a.high_watermark == end)
    })
    .expect("the follower learns the high watermark");
    assert_eq!(served.error_code, 0);
    assert!(has_records(&served));
    let fenced = fetch(
        broker(near),
        Read {
            current_leader_epoch: 1000,
            ..Read::default()
        },
    );
    assert_eq!(
        fenced.error_code, UNKNOWN_LEADER_EPOCH,
        "an epoch it has not seen"
    );
    let older = fetch(
        broker(near),
        Read {
            version: RACK_VERSION - 1,
            ..Read::default()
        },
    );
    assert_eq!(
        older.error_code, NOT_LEADER_OR_FOLLOWER,
        "before v11 only the leader serves consumers"
    );

    // librdkafka with `client.rack` reads everything from the follower in its rack: only
    // that broker's bytes sent to consumers grow.
    let before = [bytes_out(broker(leader)), bytes_out(broker(near))];
    let consumer: BaseConsumer = brokers[0]
        .client_config()
        .set("group.id", "closest-readers")
        .set("enable.auto.commit", "false")
        .set("client.rack", rack_of(near))
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(TOPIC, 0, Offset::Beginning)
        .expect("assignment");
    consumer.assign(&assignment).expect("assign");
    let mut values = Vec::with_capacity(RECORDS);
    let deadline = std::time::Instant::now() + TIMEOUT;
    while values.len() < RECORDS {
        assert!(
            std::time::Instant::now() < deadline,
            "read {} of {RECORDS}",
            values.len()
        );
        match consumer.poll(std::time::Duration::from_millis(100)) {
            Some(Ok(message)) => values.push(text(message.payload())),
            Some(Err(error)) => panic!("consume error: {error}"),
            None => {}
        }
    }
    let expected: Vec<String> = (0..RECORDS).map(|i| format!("value-{i}")).collect();
    assert_eq!(values, expected);
    let after = [bytes_out(broker(leader)), bytes_out(broker(near))];
    assert_eq!(
        after[0], before[0],
        "the leader sent the consumer no records"
    );
    assert!(
        after[1] > before[1],
        "the follower in its rack did: {before:?} → {after:?}"
    );
    assert_eq!(
        bytes_out(broker(far)),
        0.0,
        "the other follower served no consumer"
    );

    // Kafka's Java consumer (kafka-console-consumer) in the other follower's rack reads
    // everything there.
    let records = RECORDS.to_string();
    let consumed = tool(
        "kafka-console-consumer",
        &[
            "--bootstrap-server",
            &broker(leader).bootstrap,
            "--topic",
            TOPIC,
            "--from-beginning",
            "--max-messages",
            &records,
            "--command-property",
            &format!("client.rack={}", rack_of(far)),
        ],
        "",
    );
    let values: Vec<&str> = consumed.stdout.lines().collect();
    assert_eq!(values, expected, "{}", consumed.text());
    assert!(
        bytes_out(broker(far)) > 0.0,
        "served by the follower in its rack"
    );

    // A transaction left open: the follower's read_committed answers stop before it.
    let transactional: ThreadedProducer<DefaultProducerContext> = brokers[0]
        .client_config()
        .set("transactional.id", "closest-open")
        .create()
        .expect("transactional producer");
    transactional
        .init_transactions(TIMEOUT)
        .expect("init_transactions");
    transactional.begin_transaction().expect("begin");
    transactional
        .send(
            BaseRecord::<str, str>::to(TOPIC)
                .partition(0)
                .payload("open"),
        )
        .expect("enqueue");
    transactional.flush(TIMEOUT).expect("flush");
    let committed_view = Read {
        offset: end,
        read_committed: true,
        ..Read::default()
    };
    let open = wait_for(TIMEOUT, || {
        Some(fetch(broker(near), committed_view.clone())).filter(|a| a.high_watermark > end)
    })
    .expect("the follower has the open transaction's record");
    assert_eq!(open.last_stable_offset, end, "{open:?}");
    assert!(!has_records(&open), "nothing of the open transaction");
    let uncommitted = fetch(
        broker(near),
        Read {
            read_committed: false,
            ..committed_view
        },
    );
    assert!(has_records(&uncommitted), "read_uncommitted sees it");
}
