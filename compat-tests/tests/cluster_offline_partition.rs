//! A leader whose log fails an fsync takes no more writes to it (its partition is offline
//! there until a restart); it reports that in its cluster registration, and the controller
//! hands the partition to an in-sync replica, as Kafka does for a failed log directory
//! (KIP-858). Producers carry on against the new leader, Metadata lists the failed replica
//! as offline, and nothing acknowledged is lost.

mod common;

use std::collections::BTreeMap;

use common::cluster::leaders_and_isrs;
use common::{consume, producer, text, TIMEOUT};
use compat_tests::etcd::SpawnedEtcd;
use compat_tests::faults::{DiskFaults, Fault};
use compat_tests::wire::WireClient;
use compat_tests::{wait_for, SpawnedBroker};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset};

const SESSION_MS: u64 = 3000;
const TOPIC: &str = "offline";
/// Records acknowledged before the leader's disk fails, and after.
const RECORDS_BEFORE: usize = 20;
const RECORDS_AFTER: usize = 20;

/// (leader, sorted ISR) of the topic's partition as `broker` sees it.
fn view(broker: &SpawnedBroker) -> Option<(i32, Vec<i32>)> {
    leaders_and_isrs(broker, TOPIC, 1).map(|view| view[&0].clone())
}

/// The offline replicas Metadata v12 reports for the topic's partition.
fn offline_replicas(broker: &SpawnedBroker) -> Vec<i32> {
    let mut client = WireClient::connect(&broker.bootstrap);
    let topic = MetadataRequestTopic::default()
        .with_name(Some(TopicName(StrBytes::from_static_str(TOPIC))));
    let request = MetadataRequest::default().with_topics(Some(vec![topic]));
    let response = client.call(12, &request);
    let partition = &response.topics[0].partitions[0];
    partition.offline_replicas.iter().map(|id| id.0).collect()
}

/// Produces `count` records named `stage-i`, each of which must be acknowledged; returns
/// (offset, value) of each.
async fn produce(producer: &FutureProducer, stage: &str, count: usize) -> Vec<(i64, String)> {
    let mut acknowledged = Vec::with_capacity(count);
    for i in 0..count {
        let value = format!("{stage}-{i}");
        let record = FutureRecord::<(), _>::to(TOPIC)
            .payload(&value)
            .partition(0);
        let delivery = producer
            .send(record, TIMEOUT)
            .await
            .unwrap_or_else(|(error, _)| panic!("{value}: {error}"));
        acknowledged.push((delivery.offset, value));
    }
    acknowledged
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leader_whose_log_fails_an_fsync_hands_the_partition_to_an_in_sync_replica() {
    let etcd = SpawnedEtcd::start();
    let settings = |node_id: i32| {
        format!(
            "\"node.id\" = {node_id}\n\"cluster.url\" = \"{}\"\n\"inter.broker.listener.name\" = \
             \"PLAINTEXT\"\n\"broker.session.timeout.ms\" = {SESSION_MS}\n\
             \"auto.create.topics.enable\" = false\n",
            etcd.cluster_url("offline-partition")
        )
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    // Only the partition's directory on broker 1 fails: the broker's other files (its
    // metadata, checkpoints) stay writable, as with one failed log directory of several.
    let faults = DiskFaults::new(&data_dir.join(format!("{TOPIC}-0")));
    let mut brokers = vec![
        SpawnedBroker::start_in_with_env(&data_dir, &settings(1), faults.env()),
        SpawnedBroker::start(&settings(2)),
        SpawnedBroker::start(&settings(3)),
    ];
    let admin: AdminClient<DefaultClientContext> =
        brokers[1].client_config().create().expect("admin");
    let topic = NewTopic::new(TOPIC, 1, TopicReplication::Variable(&[&[1, 2, 3]]))
        .set("min.insync.replicas", "2");
    let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    let created = admin
        .create_topics(&[topic], &options)
        .await
        .expect("create topics");
    assert_eq!(created, [Ok(TOPIC.to_owned())]);
    wait_for(TIMEOUT, || {
        view(&brokers[1]).filter(|view| *view == (1, vec![1, 2, 3]))
    })
    .expect("broker 1 leads with every replica in sync");
    assert_eq!(offline_replicas(&brokers[1]), Vec::<i32>::new());

    let writer = producer(
        &brokers[1],
        &[
            ("acks", "all"),
            ("enable.idempotence", "true"),
            ("linger.ms", "0"),
        ],
    );
    let mut acknowledged = produce(&writer, "before", RECORDS_BEFORE).await;

    // Every fsync of broker 1's replica fails from now on: the leader's next flush (acks=all
    // waits for one) takes the replica offline.
    faults.set(Fault::SyncEio);
    acknowledged.extend(produce(&writer, "after", RECORDS_AFTER).await);
    let moved = wait_for(TIMEOUT, || {
        view(&brokers[1]).filter(|(leader, isr)| *leader != 1 && *isr == [2, 3])
    });
    assert!(
        moved.is_some(),
        "leadership left broker 1: {:?}",
        view(&brokers[1])
    );
    for broker in &brokers {
        assert_eq!(
            offline_replicas(broker),
            [1],
            "as broker {} sees it",
            broker.bootstrap
        );
    }
    drop(writer);

    // The new leader holds every acknowledged record, once, at the offset acknowledged.
    let end = acknowledged.last().expect("records").0 as usize + 1;
    let messages = consume(&brokers[1], TOPIC, 0, Offset::Beginning, end);
    let stored: BTreeMap<i64, String> = messages
        .iter()
        .map(|message| (message.offset(), text(message.payload())))
        .collect();
    assert_eq!(stored.len(), end, "dense offsets");
    for (offset, value) in &acknowledged {
        assert_eq!(stored.get(offset), Some(value), "offset {offset}");
    }
    let values: std::collections::BTreeSet<&String> = stored.values().collect();
    assert_eq!(values.len(), stored.len(), "no record stored twice");

    faults.set(Fault::None);
    for broker in &mut brokers {
        broker.stop();
    }
}
