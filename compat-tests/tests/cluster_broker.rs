//! Three `spool` brokers in one cluster on a real etcd, driven by librdkafka (rdkafka): a
//! topic created through one broker spreads its partitions over all three, every broker
//! answers Metadata with the same leaders, a producer bootstrapped on one broker writes to
//! every leader, a consumer group (coordinator found through FindCoordinator) reads every
//! record, a killed broker's partitions go offline and come back with a new leader epoch and
//! their data when it restarts, and a deleted topic's replicas are removed everywhere.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{produce, producer, TIMEOUT};
use compat_tests::etcd::SpawnedEtcd;
use compat_tests::{wait_for, SpawnedBroker};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::Message;

/// etcd's shortest practical lease; keeps failover waits short.
const SESSION_MS: u64 = 3000;
const PARTITIONS: i32 = 6;

fn start_cluster(etcd: &SpawnedEtcd, root: &str) -> Vec<SpawnedBroker> {
    (1..=3)
        .map(|node_id| {
            SpawnedBroker::start(&format!(
                // Without auto-creation, clients that still know a deleted topic cannot bring
                // it back.
                "\"node.id\" = {node_id}\n\"cluster.url\" = \"{}\"\n\"broker.session.timeout.ms\" = {SESSION_MS}\n\"auto.create.topics.enable\" = false\n",
                etcd.cluster_url(root)
            ))
        })
        .collect()
}

fn admin(broker: &SpawnedBroker) -> AdminClient<DefaultClientContext> {
    broker.client_config().create().expect("admin client")
}

/// Partition → (leader, leader epoch as the wire reports it) of `topic`, as `broker` sees it.
fn leaders(broker: &SpawnedBroker, topic: &str) -> Option<BTreeMap<i32, i32>> {
    let consumer: BaseConsumer = broker.client_config().create().ok()?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .ok()?;
    let found = metadata.topics().iter().find(|t| t.name() == topic)?;
    if found.error().is_some() || found.partitions().len() != PARTITIONS as usize {
        return None;
    }
    Some(
        found
            .partitions()
            .iter()
            .map(|partition| (partition.id(), partition.leader()))
            .collect(),
    )
}

/// `expected` records of `topic` (partition, offset) read by a new member of `group` from
/// its committed offsets (or the beginning), which it commits.
fn read_all(broker: &SpawnedBroker, topic: &str, group: &str, expected: usize) -> Vec<(i32, i64)> {
    let mut config = broker.client_config();
    config
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false");
    let consumer: BaseConsumer = config.create().expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + TIMEOUT * 2;
    let mut values = Vec::new();
    while values.len() < expected {
        assert!(
            Instant::now() < deadline,
            "group {group} read {} of {expected}",
            values.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => values.push((message.partition(), message.offset())),
            Some(Err(error)) => panic!("consume error: {error}"),
            None => {}
        }
    }
    consumer
        .commit_consumer_state(rdkafka::consumer::CommitMode::Sync)
        .expect("offsets committed to the group's coordinator");
    values
}

#[tokio::test(flavor = "multi_thread")]
async fn three_brokers_serve_a_topic_spread_over_them_through_a_broker_restart() {
    let etcd = SpawnedEtcd::start();
    let mut brokers = start_cluster(&etcd, "cluster-broker");

    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let created = admin(&brokers[0])
        .create_topics(
            &[NewTopic::new(
                "spread",
                PARTITIONS,
                TopicReplication::Fixed(1),
            )],
            &options,
        )
        .await
        .expect("create topics");
    assert_eq!(created, [Ok("spread".to_owned())]);
    let replicated = admin(&brokers[0])
        .create_topics(
            &[NewTopic::new("replicated", 1, TopicReplication::Fixed(3))],
            &options,
        )
        .await
        .expect("create topics");
    assert_eq!(
        replicated,
        [Err((
            "replicated".to_owned(),
            RDKafkaErrorCode::InvalidReplicationFactor
        ))],
        "replication is not there yet: refused, not faked"
    );

    // Every broker tells the same story: three brokers, each leading some partitions.
    let seen = wait_for(TIMEOUT, || {
        let all: Vec<_> = brokers.iter().map(|b| leaders(b, "spread")).collect();
        (all.iter().all(|view| view.is_some() && *view == all[0])).then(|| all[0].clone())
    })
    .flatten()
    .expect("every broker reports the topic's leaders");
    let leading: BTreeSet<i32> = seen.values().copied().collect();
    assert_eq!(leading, BTreeSet::from([1, 2, 3]), "{seen:?}");
    let consumer: BaseConsumer = brokers[1].client_config().create().expect("client");
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(5))
        .expect("metadata");
    assert_eq!(metadata.brokers().len(), 3);

    // A producer that knows only broker 3 writes to all three leaders.
    let writer = producer(&brokers[2], &[("acks", "all")]);
    let delivered = produce(&writer, "spread", None, 600).await;
    let partitions: BTreeSet<i32> = delivered.iter().map(|(p, _)| *p).collect();
    assert_eq!(partitions.len(), PARTITIONS as usize);
    let read = read_all(&brokers[0], "spread", "readers", 600);
    let first: BTreeSet<(i32, i64)> = delivered.iter().copied().collect();
    assert_eq!(read.iter().copied().collect::<BTreeSet<_>>(), first);

    // Broker 2 dies: after its session its partitions have no leader; the others serve on.
    let on_2: Vec<i32> = seen
        .iter()
        .filter(|(_, leader)| **leader == 2)
        .map(|(partition, _)| *partition)
        .collect();
    brokers[1].kill();
    let offline = wait_for(TIMEOUT, || {
        let view = leaders(&brokers[0], "spread")?;
        on_2.iter().all(|p| view[p] == -1).then_some(view)
    });
    assert!(offline.is_some(), "broker 2's partitions go offline");
    let elsewhere: Vec<i32> = (0..PARTITIONS).filter(|p| !on_2.contains(p)).collect();
    for &partition in &elsewhere {
        produce(&writer, "spread", Some(partition), 10).await;
    }

    // Back again: it leads its partitions anew, with its data.
    brokers[1].restart();
    let back = wait_for(TIMEOUT, || {
        let view = leaders(&brokers[2], "spread")?;
        on_2.iter().all(|p| view[p] == 2).then_some(view)
    });
    assert!(back.is_some(), "broker 2 leads its partitions again");
    for &partition in &on_2 {
        produce(&writer, "spread", Some(partition), 10).await;
    }
    let total = 600 + 10 * PARTITIONS as usize;
    let again: BTreeSet<(i32, i64)> = read_all(&brokers[2], "spread", "late-readers", total)
        .into_iter()
        .collect();
    assert_eq!(again.len(), total, "nothing lost, nothing read twice");
    // The first group resumes after its committed offsets: only the new records.
    let resumed = read_all(&brokers[1], "spread", "readers", 10 * PARTITIONS as usize);
    assert!(resumed.iter().all(|record| !first.contains(record)));

    // Deleted through broker 3: gone from every broker's metadata and disk.
    drop(writer);
    let deleted = admin(&brokers[2])
        .delete_topics(&["spread"], &options)
        .await
        .expect("delete topics");
    assert_eq!(deleted, [Ok("spread".to_owned())]);
    let gone = wait_for(TIMEOUT, || {
        brokers
            .iter()
            .all(|broker| {
                std::fs::read_dir(broker.data_dir())
                    .map(|dir| {
                        dir.filter_map(Result::ok).all(|entry| {
                            !entry.file_name().to_string_lossy().starts_with("spread-")
                        })
                    })
                    .unwrap_or(false)
            })
            .then_some(())
    });
    assert!(gone.is_some(), "every replica directory is removed");
    for broker in &brokers {
        let consumer: BaseConsumer = broker.client_config().create().expect("client");
        let metadata = consumer
            .fetch_metadata(None, Duration::from_secs(5))
            .expect("metadata");
        assert!(metadata
            .topics()
            .iter()
            .all(|topic| topic.name() != "spread"));
    }
    for broker in &mut brokers {
        broker.stop();
    }
}
