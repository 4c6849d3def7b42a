//! Three `spool` brokers in one cluster on a real etcd, driven by librdkafka (rdkafka): a
//! topic created through one broker spreads its partitions over all three, every broker
//! answers Metadata with the same leaders, a producer bootstrapped on one broker writes to
//! every leader, a consumer group (coordinator found through FindCoordinator) reads every
//! record, a killed broker's partitions go offline and come back with a new leader epoch and
//! their data when it restarts, and a deleted topic's replicas are removed everywhere.
//! Coordinators are the leaders of the internal topics' partitions (NOT_COORDINATOR
//! elsewhere), transactions write markers through other brokers, Kafka's own tools see one
//! cluster, and an etcd restart under load costs no acknowledged write.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::cluster::{
    coordinated_by, coordinators, create_replicated_topic, isrs, partition_leaders,
    partition_views, signal, start_cluster,
};
use common::{produce, producer, TIMEOUT};
use compat_tests::etcd::SpawnedEtcd;
use compat_tests::kafka::tool;
use compat_tests::wire::WireClient;
use compat_tests::{wait_for, SpawnedBroker};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions as ElectTopicPartitions;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, ElectLeadersRequest, FetchRequest, FindCoordinatorRequest,
    GroupId, HeartbeatRequest, InitProducerIdRequest, MetadataRequest, ProduceRequest, TopicName,
    TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};
use spool::records::batch::testing::build_batch;

/// etcd's shortest practical lease: for the test that waits for a dead broker's session to
/// end.
const FAILOVER_SESSION_MS: u64 = 3000;
/// Kafka's default session, for the other tests: a machine loaded with three clusters and
/// JVMs must not end sessions the test does not mean to end.
const SESSION_MS: u64 = 9000;
const PARTITIONS: i32 = 6;
/// While etcd is down, one round of writes starts at most this often, so the outage is
/// measured in time on a fast machine too (CI once did 500 rounds in under 3 s).
const ETCD_OUTAGE_ROUND_MS: u64 = 10;
/// Bounds the produce loop while etcd is down: twice the rounds the outage takes when paced.
const ETCD_OUTAGE_ROUNDS_MAX: u64 = 2 * SESSION_MS / 3 / ETCD_OUTAGE_ROUND_MS;

fn admin(broker: &SpawnedBroker) -> AdminClient<DefaultClientContext> {
    broker.client_config().create().expect("admin client")
}

/// Partition → leader of `topic` (with `PARTITIONS` partitions), as `broker` sees it.
fn leaders(broker: &SpawnedBroker, topic: &str) -> Option<BTreeMap<i32, i32>> {
    partition_leaders(broker, topic, PARTITIONS)
}

/// `take` of each of `expected` messages `consumer` polls within `timeout`.
fn poll<T: std::fmt::Debug>(
    consumer: &BaseConsumer,
    expected: usize,
    timeout: Duration,
    take: impl Fn(&BorrowedMessage<'_>) -> T,
) -> Vec<T> {
    let deadline = Instant::now() + timeout;
    let mut values = Vec::with_capacity(expected);
    while values.len() < expected {
        assert!(
            Instant::now() < deadline,
            "read {} of {expected}: {values:?}",
            values.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => values.push(take(&message)),
            Some(Err(error)) => panic!("consume error: {error}"),
            None => {}
        }
    }
    values
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
    let values = poll(&consumer, expected, TIMEOUT * 2, |message| {
        (message.partition(), message.offset())
    });
    consumer
        .commit_consumer_state(rdkafka::consumer::CommitMode::Sync)
        .expect("offsets committed to the group's coordinator");
    values
}

/// A topic of replication factor 3: followers fetch from their leaders and join the ISR,
/// acks=all waits for them, and when a leader dies an in-sync follower takes over with every
/// acknowledged record; the dead broker comes back as a follower and catches up.
#[tokio::test(flavor = "multi_thread")]
async fn a_replicated_topic_keeps_every_acknowledged_record_through_a_leader_kill() {
    let etcd = SpawnedEtcd::start();
    let mut brokers = start_cluster(&etcd, "replication", FAILOVER_SESSION_MS);
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let created = admin(&brokers[0])
        .create_topics(
            &[NewTopic::new("triple", 3, TopicReplication::Fixed(3))
                .set("min.insync.replicas", "2")],
            &options,
        )
        .await
        .expect("create topics");
    assert_eq!(created, [Ok("triple".to_owned())]);
    let all_in_sync = |broker: &SpawnedBroker| {
        isrs(broker, "triple", 3).filter(|view| view.values().all(|isr| *isr == [1, 2, 3]))
    };
    wait_for(TIMEOUT, || all_in_sync(&brokers[0])).expect("every replica in sync");
    let before = wait_for(TIMEOUT, || {
        partition_leaders(&brokers[0], "triple", 3)
            .filter(|view| view.values().all(|leader| *leader > 0))
    })
    .expect("leaders");

    let writer = producer(&brokers[0], &[("acks", "all")]);
    let mut delivered = produce(&writer, "triple", None, 300).await;
    // Created while all three brokers live: its replication factor is 3.
    let mut wire = WireClient::connect(&brokers[0].bootstrap);
    coordinators(&mut wire, 0, &["replica-readers".to_owned()]);
    let victim = before[&0];
    brokers[victim as usize - 1].kill();
    let survivor = victim as usize % 3;
    let after = wait_for(TIMEOUT, || {
        partition_leaders(&brokers[survivor], "triple", 3)
            .filter(|view| view.values().all(|leader| *leader > 0 && *leader != victim))
    })
    .expect("an in-sync follower leads each of the dead broker's partitions");

    // Epoch 0 of partition 0 ends where the new leader took over (it held every acknowledged
    // record): a follower claiming more of epoch 0 is told where to truncate (KIP-320).
    let took_over_at = delivered
        .iter()
        .filter(|(partition, _)| *partition == 0)
        .count() as i64;
    // Asked only once the new leader has applied its own election: the survivor's Metadata
    // may be ahead of it.
    let new_leader_broker = &brokers[after[&0] as usize - 1];
    wait_for(TIMEOUT, || {
        partition_leaders(new_leader_broker, "triple", 3).filter(|view| view[&0] == after[&0])
    })
    .expect("the new leader of partition 0 knows it leads");
    let mut new_leader = WireClient::connect(&new_leader_broker.bootstrap);
    let claim = FetchRequest::default()
        .with_replica_id(BrokerId(victim))
        .with_max_wait_ms(0)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("triple")))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(took_over_at + 5)
                .with_last_fetched_epoch(0)
                .with_partition_max_bytes(1 << 20)])]);
    let answer = new_leader.call(12, &claim);
    let partition = &answer.responses[0].partitions[0];
    assert_eq!(
        (
            partition.error_code,
            partition.diverging_epoch.epoch,
            partition.diverging_epoch.end_offset
        ),
        (0, 0, took_over_at),
        "{answer:?}"
    );
    delivered.extend(produce(&writer, "triple", None, 300).await);

    let read = read_all(&brokers[survivor], "triple", "replica-readers", 600);
    let acknowledged: BTreeSet<(i32, i64)> = delivered.iter().copied().collect();
    assert_eq!(acknowledged.len(), 600);
    assert_eq!(read.iter().copied().collect::<BTreeSet<_>>(), acknowledged);

    // A second death leaves one in-sync replica, below min.insync.replicas: acks=all is
    // refused before anything is appended, acks=1 still goes through.
    let second = (survivor + 1) % 3;
    brokers[second].kill();
    let alone = survivor as i32 + 1;
    wait_for(TIMEOUT, || {
        // Leader and ISR from one Metadata answer: the controller changes them together.
        let view = partition_views(&brokers[survivor], "triple", 3, |partition| {
            (partition.leader(), partition.isr().to_vec())
        })?;
        view.values()
            .all(|(leader, isr)| *leader == alone && *isr == [alone])
            .then_some(())
    })
    .expect("the survivor leads, alone in sync");
    wire = WireClient::connect(&brokers[survivor].bootstrap);
    let produce_to = |acks: i16| {
        let data = TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("triple")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::from(build_batch(1, 0, b"x"))))]);
        ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(5000)
            .with_topic_data(vec![data])
    };
    let refused = wire.call(9, &produce_to(-1));
    assert_eq!(
        refused.responses[0].partition_responses[0].error_code,
        NOT_ENOUGH_REPLICAS
    );
    let accepted = wire.call(9, &produce_to(1));
    assert_eq!(accepted.responses[0].partition_responses[0].error_code, 0);

    brokers[victim as usize - 1].restart();
    brokers[second].restart();
    wait_for(TIMEOUT, || all_in_sync(&brokers[survivor])).expect("the restarted brokers catch up");
}

/// A follower's log start follows its leader's (DeleteRecords on the leader), and a
/// follower that was down while the leader's log start passed its log end starts its log
/// again at the leader's log start (Kafka's answer to OFFSET_OUT_OF_RANGE for a replica),
/// then catches up and rejoins the ISR.
#[tokio::test(flavor = "multi_thread")]
async fn a_follower_left_behind_the_leaders_log_start_starts_again_there() {
    let etcd = SpawnedEtcd::start();
    let mut brokers = start_cluster(&etcd, "left-behind", FAILOVER_SESSION_MS);
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let topic =
        NewTopic::new("trimmed", 1, TopicReplication::Fixed(3)).set("segment.bytes", "16384");
    let created = admin(&brokers[0])
        .create_topics(&[topic], &options)
        .await
        .expect("create topics");
    assert_eq!(created, [Ok("trimmed".to_owned())]);
    let in_sync = |broker: &SpawnedBroker, expected: &[i32]| {
        isrs(broker, "trimmed", 1).filter(|view| view[&0] == expected)
    };
    wait_for(TIMEOUT, || in_sync(&brokers[0], &[1, 2, 3])).expect("every replica in sync");
    let leader = wait_for(TIMEOUT, || {
        partition_leaders(&brokers[0], "trimmed", 1).filter(|view| view[&0] > 0)
    })
    .expect("a leader")[&0];
    let writer = producer(&brokers[0], &[("acks", "all")]);
    produce(&writer, "trimmed", Some(0), 100).await;

    let trim = |offset: i64| {
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset("trimmed", 0, Offset::Offset(offset))
            .expect("offsets");
        offsets
    };
    let bootstrap_admin = admin(&brokers[leader as usize - 1]);
    let trimmed = bootstrap_admin
        .delete_records(&trim(50), &options)
        .await
        .expect("delete_records");
    assert!(trimmed
        .find_partition("trimmed", 0)
        .is_some_and(|p| p.error().is_ok()));
    let follower = leader % 3 + 1;
    let follower_dir = brokers[follower as usize - 1].data_dir().join("trimmed-0");
    let log_start = |dir: &std::path::Path| {
        std::fs::read_to_string(dir.join("log-start-offset"))
            .ok()
            .and_then(|text| text.trim().parse::<i64>().ok())
    };
    wait_for(TIMEOUT, || {
        (log_start(&follower_dir) == Some(50)).then_some(())
    })
    .expect("the follower's log start follows the leader's");

    // Down while the leader's log moves on past it and starts after its end.
    brokers[follower as usize - 1].kill();
    let rest: Vec<i32> = (1..=3).filter(|id| *id != follower).collect();
    wait_for(TIMEOUT, || in_sync(&brokers[leader as usize - 1], &rest))
        .expect("the dead follower leaves the ISR");
    produce(&writer, "trimmed", Some(0), 400).await;
    let trimmed = bootstrap_admin
        .delete_records(&trim(450), &options)
        .await
        .expect("delete_records");
    assert!(trimmed
        .find_partition("trimmed", 0)
        .is_some_and(|p| p.error().is_ok()));
    brokers[follower as usize - 1].restart();
    wait_for(TIMEOUT * 2, || {
        in_sync(&brokers[leader as usize - 1], &[1, 2, 3])
    })
    .expect("the follower starts again at the leader's log start and catches up");
    assert_eq!(log_start(&follower_dir), Some(450));
    assert!(
        !follower_dir.join("00000000000000000000.log").exists(),
        "nothing older than the leader's log start is kept"
    );
    for broker in &mut brokers {
        broker.stop();
    }
}

/// A session far longer than failover may take when the dead broker's port refuses.
const LONG_SESSION_MS: u64 = 60_000;
/// How soon a killed leader's partitions must have a new leader: its followers' next fetch
/// (`replica.fetch.backoff.ms`, 1 s, after the failed one) is refused, they end its
/// session, the controller elects.
const REFUSED_FAILOVER_BOUND: Duration = Duration::from_secs(10);

/// A killed leader's followers find its port refusing connections and end its session, so
/// its partitions fail over about a fetch backoff after the kill, not a session timeout.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_leaders_partitions_fail_over_long_before_its_session_would_end() {
    let etcd = SpawnedEtcd::start();
    let mut brokers = start_cluster(&etcd, "refused", LONG_SESSION_MS);
    create_replicated_topic(&brokers[0], "refused", 3).await;
    let before = wait_for(TIMEOUT, || {
        partition_leaders(&brokers[0], "refused", 3)
            .filter(|view| view.values().all(|leader| *leader > 0))
    })
    .expect("leaders");
    let victim = before[&0];
    let survivor = victim as usize % 3;
    let killed = Instant::now();
    brokers[victim as usize - 1].kill();
    let after = wait_for(REFUSED_FAILOVER_BOUND, || {
        partition_leaders(&brokers[survivor], "refused", 3)
            .filter(|view| view.values().all(|leader| *leader > 0 && *leader != victim))
    })
    .expect("the dead leader's partitions led by survivors well before its session ends");
    eprintln!(
        "failed over in {:.2}s after kill -9 (session {} s): {after:?}",
        killed.elapsed().as_secs_f64(),
        LONG_SESSION_MS / 1000
    );
    // The dead broker is gone from the cluster too, not only from its partitions.
    let mut wire = WireClient::connect(&brokers[survivor].bootstrap);
    let brokers_seen = wire
        .call(
            12,
            &MetadataRequest::default().with_topics(Some(Vec::new())),
        )
        .brokers
        .iter()
        .map(|broker| broker.node_id.0)
        .collect::<BTreeSet<_>>();
    assert!(!brokers_seen.contains(&victim), "{brokers_seen:?}");

    // Restarted, it registers again at once (its old session has ended) and follows.
    brokers[victim as usize - 1].restart();
    wait_for(TIMEOUT, || {
        isrs(&brokers[survivor], "refused", 3)
            .filter(|view| view.values().all(|isr| isr.contains(&victim)))
    })
    .expect("the restarted broker back in every ISR");
}

/// A leader paused (SIGSTOP) past its session is deposed while it sleeps; resumed, it is a
/// zombie that still believes it leads: it must take no write (acks=all or acks=1), then
/// rejoin as a follower of the new leader with every acknowledged record.
#[tokio::test(flavor = "multi_thread")]
async fn a_leader_paused_past_its_session_takes_no_write_and_rejoins_as_a_follower() {
    let etcd = SpawnedEtcd::start();
    let mut brokers = start_cluster(&etcd, "zombie", FAILOVER_SESSION_MS);
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let topic =
        NewTopic::new("paused", 1, TopicReplication::Fixed(3)).set("min.insync.replicas", "2");
    let created = admin(&brokers[0])
        .create_topics(&[topic], &options)
        .await
        .expect("create topics");
    assert_eq!(created, [Ok("paused".to_owned())]);
    let view = |broker: &SpawnedBroker| {
        partition_views(broker, "paused", 1, |partition| {
            let mut isr = partition.isr().to_vec();
            isr.sort_unstable();
            (partition.leader(), isr)
        })
        .map(|view| view[&0].clone())
    };
    let (zombie, _) = wait_for(TIMEOUT, || {
        view(&brokers[0]).filter(|(leader, isr)| *leader > 0 && *isr == [1, 2, 3])
    })
    .expect("a leader with every replica in sync");
    let other = zombie as usize % 3;
    let writer = producer(&brokers[other], &[("acks", "all")]);
    let mut delivered = produce(&writer, "paused", Some(0), 50).await;
    let mut to_zombie = WireClient::connect(&brokers[zombie as usize - 1].bootstrap);

    signal(&brokers[zombie as usize - 1], libc::SIGSTOP);
    let deposed = wait_for(TIMEOUT, || {
        view(&brokers[other]).filter(|(leader, _)| *leader > 0 && *leader != zombie)
    });
    if deposed.is_none() {
        signal(&brokers[zombie as usize - 1], libc::SIGCONT);
        panic!("no new leader while broker {zombie} sleeps");
    }
    // A producer that has the sleeping leader's connection open would wait for its request
    // timeout (as with Kafka); a new one finds the new leader.
    drop(writer);
    let writer = producer(&brokers[other], &[("acks", "all")]);
    delivered.extend(produce(&writer, "paused", Some(0), 50).await);

    signal(&brokers[zombie as usize - 1], libc::SIGCONT);
    for acks in [-1, 1] {
        let data = TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("paused")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::from(build_batch(1, 0, b"zombie"))))]);
        let request = ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(5000)
            .with_topic_data(vec![data]);
        let answer = to_zombie.call(9, &request);
        let error = answer.responses[0].partition_responses[0].error_code;
        assert_ne!(error, 0, "the resumed zombie took a write with acks={acks}");
    }
    wait_for(TIMEOUT, || {
        view(&brokers[other]).filter(|(leader, isr)| *leader != zombie && *isr == [1, 2, 3])
    })
    .expect("the zombie rejoins the ISR as a follower");
    let read = read_all(&brokers[zombie as usize - 1], "paused", "after-zombie", 100);
    let acknowledged: BTreeSet<(i32, i64)> = delivered.into_iter().collect();
    assert_eq!(read.into_iter().collect::<BTreeSet<_>>(), acknowledged);
    for broker in &mut brokers {
        broker.stop();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_brokers_serve_a_topic_spread_over_them_through_a_broker_restart() {
    let etcd = SpawnedEtcd::start();
    let mut brokers = start_cluster(&etcd, "cluster-broker", FAILOVER_SESSION_MS);

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
    // Every broker tells the same story: three brokers, each leading some partitions.
    let seen = wait_for(TIMEOUT, || {
        let all: Vec<_> = brokers.iter().map(|b| leaders(b, "spread")).collect();
        let led = |view: &Option<BTreeMap<i32, i32>>| {
            view.as_ref()
                .is_some_and(|view| view.values().all(|leader| *leader > 0))
        };
        (all.iter().all(|view| led(view) && *view == all[0])).then(|| all[0].clone())
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
    // No replica can take them over: elections are refused with Kafka's errors.
    let mut wire = WireClient::connect(&brokers[0].bootstrap);
    for (election_type, expected) in [
        (0, PREFERRED_LEADER_NOT_AVAILABLE),
        (1, ELIGIBLE_LEADERS_NOT_AVAILABLE),
    ] {
        let request = ElectLeadersRequest::default()
            .with_election_type(election_type)
            .with_topic_partitions(Some(vec![ElectTopicPartitions::default()
                .with_topic(TopicName(StrBytes::from_static_str("spread")))
                .with_partitions(vec![on_2[0], elsewhere_first(&on_2)])]))
            .with_timeout_ms(10_000);
        let response = wire.call(2, &request);
        let results = &response.replica_election_results[0].partition_result;
        assert_eq!(results[0].error_code, expected, "{response:?}");
        assert_eq!(results[1].error_code, ELECTION_NOT_NEEDED, "{response:?}");
    }
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

const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const NOT_COORDINATOR: i16 = 16;
const NOT_ENOUGH_REPLICAS: i16 = 19;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const UNKNOWN_MEMBER_ID: i16 = 25;
const PREFERRED_LEADER_NOT_AVAILABLE: i16 = 80;
const ELIGIBLE_LEADERS_NOT_AVAILABLE: i16 = 83;
const ELECTION_NOT_NEEDED: i16 = 84;

/// Whether a coordinator request's answer is final rather than "retry": any broker may answer
/// COORDINATOR_LOAD_IN_PROGRESS until its image has the internal topic, and the coordinator
/// NOT_COORDINATOR until it applies the image that names it.
fn settled(code: i16, is_coordinator: bool) -> bool {
    code != COORDINATOR_LOAD_IN_PROGRESS && !(is_coordinator && code == NOT_COORDINATOR)
}

/// A partition of the first test's topic that broker 2 does not lead.
fn elsewhere_first(on_2: &[i32]) -> i32 {
    (0..PARTITIONS).find(|p| !on_2.contains(p)).unwrap_or(0)
}

#[test]
fn coordinators_and_leaders_are_where_the_cluster_says_and_nowhere_else() {
    let etcd = SpawnedEtcd::start();
    let brokers = start_cluster(&etcd, "coordinators", SESSION_MS);
    let mut clients: Vec<WireClient> = brokers
        .iter()
        .map(|broker| WireClient::connect(&broker.bootstrap))
        .collect();

    // Groups: spread over the brokers; any other broker refuses them.
    let groups: Vec<String> = (0..20).map(|i| format!("group-{i}")).collect();
    let by_group = coordinators(&mut clients[0], 0, &groups);
    assert_eq!(
        coordinators(&mut clients[2], 0, &groups),
        by_group,
        "every broker agrees"
    );
    let used: BTreeSet<i32> = by_group.values().copied().collect();
    assert_eq!(used, BTreeSet::from([1, 2, 3]), "{by_group:?}");
    for (group, coordinator) in &by_group {
        for (index, client) in clients.iter_mut().enumerate() {
            let heartbeat = HeartbeatRequest::default()
                .with_group_id(GroupId(StrBytes::from_string(group.clone())))
                .with_member_id(StrBytes::from_static_str("nobody"))
                .with_generation_id(1);
            let is_coordinator = index as i32 + 1 == *coordinator;
            let answered = wait_for(TIMEOUT, || {
                let code = client.call(4, &heartbeat).error_code;
                settled(code, is_coordinator).then_some(code)
            });
            let expected = if is_coordinator {
                UNKNOWN_MEMBER_ID
            } else {
                NOT_COORDINATOR
            };
            assert_eq!(answered, Some(expected), "{group}");
        }
    }

    // Transactional ids: likewise.
    let ids: Vec<String> = (0..10).map(|i| format!("txn-{i}")).collect();
    let by_id = coordinators(&mut clients[1], 1, &ids);
    for (id, coordinator) in &by_id {
        for (index, client) in clients.iter_mut().enumerate() {
            let init = InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(StrBytes::from_string(id.clone()))))
                .with_transaction_timeout_ms(10_000);
            let is_coordinator = index as i32 + 1 == *coordinator;
            let response = wait_for(TIMEOUT, || {
                Some(client.call(4, &init)).filter(|r| settled(r.error_code, is_coordinator))
            })
            .expect("an answer that is not a retry");
            let expected = if is_coordinator {
                (0, 0)
            } else {
                (NOT_COORDINATOR, response.producer_epoch)
            };
            assert_eq!(
                (response.error_code, response.producer_epoch),
                expected,
                "{id}"
            );
        }
    }

    // Produce to a partition led elsewhere: NOT_LEADER_OR_FOLLOWER with the leader (KIP-951).
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_static_str("hinted")))
        .with_num_partitions(3)
        .with_replication_factor(1);
    let created = clients[0].call(7, &CreateTopicsRequest::default().with_topics(vec![topic]));
    assert_eq!(created.topics[0].error_code, 0);
    let leaders = wait_for(TIMEOUT, || leaders_of(&brokers[1], "hinted")).expect("leaders");
    let (partition, leader) = leaders
        .iter()
        .find(|(_, leader)| **leader != 2)
        .map(|(p, l)| (*p, *l))
        .expect("a partition broker 2 does not lead");
    let data = TopicProduceData::default()
        .with_name(TopicName(StrBytes::from_static_str("hinted")))
        .with_partition_data(vec![PartitionProduceData::default()
            .with_index(partition)
            .with_records(Some(Bytes::from(build_batch(1, 0, b"x"))))]);
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![data]);
    let response = clients[1].call(11, &request);
    let answer = &response.responses[0].partition_responses[0];
    assert_eq!(answer.error_code, NOT_LEADER_OR_FOLLOWER);
    assert_eq!(answer.current_leader.leader_id.0, leader);
    let endpoint = &response.node_endpoints[0];
    assert_eq!(endpoint.node_id.0, leader);
    let expected = &brokers[leader as usize - 1].bootstrap;
    assert_eq!(
        &format!("{}:{}", endpoint.host.as_str(), endpoint.port),
        expected
    );
    // The leader may apply the new topic a moment after the broker that answered Metadata.
    let at_leader = wait_for(TIMEOUT, || {
        let response = clients[leader as usize - 1].call(11, &request);
        let error = response.responses[0].partition_responses[0].error_code;
        (error != UNKNOWN_TOPIC_OR_PARTITION).then_some(error)
    });
    assert_eq!(at_leader, Some(0));

    // Fetch likewise, from v12 (the leader) and v16 (its endpoint).
    let topic_id = created.topics[0].topic_id;
    let fetch = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic_id(topic_id)
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_partition_max_bytes(1 << 20)])]);
    let response = clients[1].call(16, &fetch);
    let answer = &response.responses[0].partitions[0];
    assert_eq!(answer.error_code, NOT_LEADER_OR_FOLLOWER);
    assert_eq!(answer.current_leader.leader_id.0, leader);
    assert_eq!(response.node_endpoints[0].node_id.0, leader);
    let at_leader = clients[leader as usize - 1].call(16, &fetch);
    let records = at_leader.responses[0].partitions[0].records.as_ref();
    assert!(
        records.is_some_and(|records| !records.is_empty()),
        "the leader serves it"
    );
}

/// Partition → leader of `topic` from a Metadata request, once every partition has one.
fn leaders_of(broker: &SpawnedBroker, topic: &str) -> Option<BTreeMap<i32, i32>> {
    partition_leaders(broker, topic, 3).filter(|view| view.values().all(|leader| *leader >= 0))
}

/// Values of every partition of `topic` a read_committed consumer sees, up to `expected`
/// records.
fn read_committed(broker: &SpawnedBroker, topic: &str, expected: usize) -> Vec<String> {
    let mut config = broker.client_config();
    config
        .set("group.id", "committed-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed");
    let consumer: BaseConsumer = config.create().expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");
    poll(&consumer, expected, TIMEOUT, |message| {
        String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned()
    })
}

#[test]
fn transactions_span_partitions_and_groups_led_by_other_brokers() {
    let etcd = SpawnedEtcd::start();
    let brokers = start_cluster(&etcd, "transactions", SESSION_MS);
    let mut client = WireClient::connect(&brokers[0].bootstrap);
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_static_str("txn-spread")))
        .with_num_partitions(PARTITIONS)
        .with_replication_factor(1);
    let created = client.call(7, &CreateTopicsRequest::default().with_topics(vec![topic]));
    assert_eq!(created.topics[0].error_code, 0);
    let leaders = wait_for(TIMEOUT, || {
        leaders(&brokers[2], "txn-spread").filter(|view| view.values().all(|leader| *leader > 0))
    })
    .expect("leaders");
    assert_eq!(
        leaders.values().collect::<BTreeSet<_>>().len(),
        3,
        "{leaders:?}"
    );

    let mut config = brokers[0].client_config();
    config
        .set("transactional.id", "spread-writer")
        .set("linger.ms", "1");
    let producer: ThreadedProducer<DefaultProducerContext> = config.create().expect("producer");
    producer
        .init_transactions(TIMEOUT)
        .expect("init_transactions");
    let send_batch = |prefix: &str| {
        for i in 0..(PARTITIONS * 5) {
            let value = format!("{prefix}-{i}");
            producer
                .send(
                    BaseRecord::<str, str>::to("txn-spread")
                        .partition(i % PARTITIONS)
                        .payload(&value),
                )
                .expect("enqueue");
        }
    };
    // Committed with offsets of a group whose coordinator may be any broker.
    producer.begin_transaction().expect("begin");
    send_batch("first");
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset("txn-spread", 0, Offset::Offset(7))
        .expect("offsets");
    let mut group_config = brokers[1].client_config();
    group_config.set("group.id", "eos-spread");
    let group_member: BaseConsumer = group_config.create().expect("consumer");
    producer
        .send_offsets_to_transaction(
            &offsets,
            &group_member.group_metadata().expect("group metadata"),
            TIMEOUT,
        )
        .expect("send offsets");
    producer.commit_transaction(TIMEOUT).expect("commit");
    // Aborted: its markers must reach every partition, or the last stable offsets stay
    // below it and the third transaction is never readable.
    producer.begin_transaction().expect("begin");
    send_batch("aborted");
    producer.flush(TIMEOUT).expect("flush");
    producer.abort_transaction(TIMEOUT).expect("abort");
    producer.begin_transaction().expect("begin");
    send_batch("third");
    producer.commit_transaction(TIMEOUT).expect("commit");

    let expected = 2 * (PARTITIONS * 5) as usize;
    let values = read_committed(&brokers[2], "txn-spread", expected);
    assert!(
        values.iter().all(|value| !value.starts_with("aborted")),
        "{values:?}"
    );
    let distinct: BTreeSet<&String> = values.iter().collect();
    assert_eq!(distinct.len(), expected);

    let mut wanted = TopicPartitionList::new();
    wanted.add_partition("txn-spread", 0);
    let committed = group_member
        .committed_offsets(wanted, TIMEOUT)
        .expect("committed offsets");
    let element = committed
        .find_partition("txn-spread", 0)
        .expect("partition 0");
    assert_eq!(element.offset(), Offset::Offset(7));
}

/// Group and transaction coordinators move with the leaders of their partitions of the
/// internal topics (replication factor 3): when the broker coordinating a consumer group, a
/// transactional id and the group its transaction commits offsets for dies with that
/// transaction open, the new leaders load them from their replicas: the transaction
/// commits through the new coordinator, its offsets appear, and the group resumes from
/// the offsets it committed before the kill.
#[tokio::test(flavor = "multi_thread")]
async fn coordinators_move_with_their_partitions_through_a_kill() {
    let etcd = SpawnedEtcd::start();
    let mut brokers = start_cluster(&etcd, "moving-coordinators", FAILOVER_SESSION_MS);
    let mut client = WireClient::connect(&brokers[0].bootstrap);
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_static_str("moving")))
        .with_num_partitions(PARTITIONS)
        .with_replication_factor(3);
    let created = client.call(7, &CreateTopicsRequest::default().with_topics(vec![topic]));
    assert_eq!(created.topics[0].error_code, 0);
    wait_for(TIMEOUT, || {
        isrs(&brokers[0], "moving", PARTITIONS as usize)
            .filter(|view| view.values().all(|isr| *isr == [1, 2, 3]))
    })
    .expect("every replica in sync");
    let writer = producer(&brokers[0], &[("acks", "all")]);
    let first: BTreeSet<(i32, i64)> = produce(&writer, "moving", None, 120)
        .await
        .into_iter()
        .collect();

    // The victim coordinates the reading group, a transactional id and the group that
    // id's transactions commit offsets for.
    let victim = coordinators(&mut client, 0, &["movers".to_owned()])["movers"];
    let txn_id = coordinated_by(&mut client, 1, "mover-txn", victim);
    let eos_group = coordinated_by(&mut client, 0, "eos-movers", victim);
    let read = read_all(&brokers[1], "moving", "movers", first.len());
    assert_eq!(read.into_iter().collect::<BTreeSet<_>>(), first);

    let mut config = brokers[0].client_config();
    config
        .set("transactional.id", &txn_id)
        .set("linger.ms", "1");
    let txn_producer: ThreadedProducer<DefaultProducerContext> = config.create().expect("producer");
    txn_producer.init_transactions(TIMEOUT).expect("init");
    let send = |prefix: &str| {
        for i in 0..PARTITIONS * 3 {
            let value = format!("{prefix}-{i}");
            let record = BaseRecord::<str, str>::to("moving")
                .partition(i % PARTITIONS)
                .payload(&value);
            txn_producer.send(record).expect("enqueue");
        }
    };
    txn_producer.begin_transaction().expect("begin");
    send("before");
    txn_producer.commit_transaction(TIMEOUT).expect("commit");
    // Open when the coordinator dies: records and offsets written, not yet committed.
    txn_producer.begin_transaction().expect("begin");
    send("across");
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset("moving", 1, Offset::Offset(11))
        .expect("offsets");
    let mut group_config = brokers[2].client_config();
    group_config.set("group.id", &eos_group);
    let group_member: BaseConsumer = group_config.create().expect("consumer");
    let metadata = group_member.group_metadata().expect("group metadata");
    txn_producer
        .send_offsets_to_transaction(&offsets, &metadata, TIMEOUT)
        .expect("send offsets");
    txn_producer.flush(TIMEOUT).expect("flush");

    brokers[victim as usize - 1].kill();
    let survivor = victim as usize % 3;
    let mut survivor_client = WireClient::connect(&brokers[survivor].bootstrap);
    let moved = wait_for(TIMEOUT, || {
        let request = FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![StrBytes::from_static_str("movers")]);
        let answer = survivor_client.call(4, &request);
        let found = &answer.coordinators[0];
        (found.error_code == 0 && found.node_id.0 != victim).then_some(found.node_id.0)
    });
    assert!(moved.is_some(), "a live broker coordinates the group");

    // The new coordinator has the open transaction: it commits (the client retries what
    // the dead one left unanswered).
    let deadline = Instant::now() + TIMEOUT * 2;
    loop {
        match txn_producer.commit_transaction(TIMEOUT) {
            Ok(()) => break,
            Err(KafkaError::Transaction(error))
                if error.is_retriable() && Instant::now() < deadline => {}
            Err(error) => panic!("commit across the failover: {error}"),
        }
    }
    let expected = 2 * (PARTITIONS * 3) as usize + first.len();
    let values = read_committed(&brokers[survivor], "moving", expected);
    let transactional = values
        .iter()
        .filter(|value| value.starts_with("before") || value.starts_with("across"))
        .count();
    assert_eq!(transactional, 2 * (PARTITIONS * 3) as usize, "{values:?}");

    let mut wanted = TopicPartitionList::new();
    wanted.add_partition("moving", 1);
    let committed = group_member
        .committed_offsets(wanted, TIMEOUT)
        .expect("committed offsets from the new coordinator");
    let element = committed.find_partition("moving", 1).expect("partition 1");
    assert_eq!(element.offset(), Offset::Offset(11));

    // The reading group resumes where it committed before the kill.
    let later = produce(&writer, "moving", None, 30).await;
    let unread = later.len() + 2 * (PARTITIONS * 3) as usize;
    let resumed = read_all(&brokers[survivor], "moving", "movers", unread);
    assert!(
        resumed.iter().all(|record| !first.contains(record)),
        "read again: {resumed:?}"
    );
    for broker in &mut brokers {
        broker.stop();
    }
}

/// `tool --bootstrap-server BOOTSTRAP ARGS`, which must exit 0.
fn kafka_tool(name: &str, bootstrap: &str, args: &[&str], input: &str) -> String {
    let mut all = vec!["--bootstrap-server", bootstrap];
    all.extend_from_slice(args);
    let run = tool(name, &all, input);
    assert!(run.success, "{name} {args:?}:\n{}", run.text());
    run.text()
}

#[test]
fn kafkas_own_tools_see_one_cluster_of_three_brokers() {
    let etcd = SpawnedEtcd::start();
    let brokers = start_cluster(&etcd, "kafka-tools", SESSION_MS);
    let bootstrap = brokers[1].bootstrap.as_str();
    let create = [
        "--create",
        "--topic",
        "tools",
        "--partitions",
        "3",
        "--replication-factor",
        "1",
    ];
    let created = kafka_tool("kafka-topics", bootstrap, &create, "");
    assert!(created.contains("Created topic tools."), "{created}");
    let triple = [
        "--create",
        "--topic",
        "triple",
        "--partitions",
        "1",
        "--replication-factor",
        "3",
    ];
    let created = kafka_tool("kafka-topics", bootstrap, &triple, "");
    assert!(created.contains("Created topic triple."), "{created}");
    // A replicated partition: three replicas, all in sync once the followers fetch.
    let described = wait_for(TIMEOUT, || {
        let text = kafka_tool(
            "kafka-topics",
            bootstrap,
            &["--describe", "--topic", "triple"],
            "",
        );
        let line = text.lines().find(|line| line.contains("Partition: 0\t"))?;
        let field = |name: &str| {
            let value = line
                .split(&format!("{name}: "))
                .nth(1)?
                .split('\t')
                .next()?;
            let mut ids: Vec<&str> = value.split(',').collect();
            ids.sort_unstable();
            Some(ids.join(","))
        };
        (field("Replicas")? == "1,2,3" && field("Isr")? == "1,2,3").then_some(text)
    });
    assert!(described.is_some(), "three replicas in sync");
    // Each broker reports its replica's log dir; the preferred replica already leads.
    let dirs = kafka_tool(
        "kafka-log-dirs",
        bootstrap,
        &["--describe", "--topic-list", "triple"],
        "",
    );
    for broker in 1..=3 {
        assert!(dirs.contains(&format!("\"broker\":{broker}")), "{dirs}");
    }
    assert_eq!(
        dirs.matches("\"partition\":\"triple-0\"").count(),
        3,
        "{dirs}"
    );
    let elected = kafka_tool(
        "kafka-leader-election",
        bootstrap,
        &[
            "--election-type",
            "preferred",
            "--topic",
            "triple",
            "--partition",
            "0",
        ],
        "",
    );
    assert!(
        elected.contains("Valid replica already elected for partitions triple-0"),
        "{elected}"
    );

    // Every partition on its own broker, as Metadata tells the tool (leader = replicas = ISR).
    let described = wait_for(TIMEOUT, || {
        let text = kafka_tool(
            "kafka-topics",
            bootstrap,
            &["--describe", "--topic", "tools"],
            "",
        );
        let leaders: BTreeSet<String> = (0..3)
            .filter_map(|partition| {
                let line = text
                    .lines()
                    .find(|line| line.contains(&format!("Partition: {partition}\t")))?;
                let leader = line
                    .split("Leader: ")
                    .nth(1)?
                    .split('\t')
                    .next()?
                    .to_owned();
                line.contains(&format!("Replicas: {leader}\tIsr: {leader}"))
                    .then_some(leader)
            })
            .collect();
        (leaders.len() == 3).then_some(text)
    });
    assert!(described.is_some(), "three leaders, one per broker");
    let cluster = kafka_tool("kafka-broker-api-versions", bootstrap, &[], "");
    for broker in &brokers {
        assert!(cluster.contains(&broker.bootstrap), "{cluster}");
    }

    let lines: String = (0..30).map(|i| format!("line-{i}\n")).collect();
    kafka_tool(
        "kafka-console-producer",
        &brokers[0].bootstrap,
        &["--topic", "tools"],
        &lines,
    );
    let consumed = kafka_tool(
        "kafka-console-consumer",
        &brokers[2].bootstrap,
        &[
            "--topic",
            "tools",
            "--from-beginning",
            "--max-messages",
            "30",
            "--group",
            "tool-readers",
        ],
        "",
    );
    assert!(
        consumed.contains("Processed a total of 30 messages"),
        "{consumed}"
    );
    let group = kafka_tool(
        "kafka-consumer-groups",
        bootstrap,
        &["--describe", "--group", "tool-readers"],
        "",
    );
    // Committed offsets of the partitions the console consumer read from: all 30 records.
    let committed: i64 = group
        .lines()
        .filter(|line| line.starts_with("tool-readers "))
        .filter_map(|line| line.split_whitespace().nth(3)?.parse::<i64>().ok())
        .sum();
    assert_eq!(committed, 30, "{group}");
}

#[tokio::test(flavor = "multi_thread")]
async fn brokers_keep_serving_through_an_etcd_restart_and_metadata_changes_resume() {
    let mut etcd = SpawnedEtcd::start();
    let brokers = start_cluster(&etcd, "etcd-restart", SESSION_MS);
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let topic = NewTopic::new("steady", PARTITIONS, TopicReplication::Fixed(1));
    let created = admin(&brokers[0])
        .create_topics(&[topic], &options)
        .await
        .expect("create");
    assert_eq!(created, [Ok("steady".to_owned())]);
    wait_for(TIMEOUT, || {
        partition_leaders(&brokers[1], "steady", PARTITIONS).filter(|v| v.values().all(|l| *l > 0))
    })
    .expect("leaders");
    let writer = producer(&brokers[1], &[("acks", "all")]);
    produce(&writer, "steady", None, 100).await;

    // etcd gone for a third of a session: writes go on, every one acknowledged.
    etcd.kill();
    let killed = Instant::now();
    let mut during = 0;
    let mut pace = tokio::time::interval(Duration::from_millis(ETCD_OUTAGE_ROUND_MS));
    for _ in 0..ETCD_OUTAGE_ROUNDS_MAX {
        pace.tick().await;
        during += produce(&writer, "steady", None, 20).await.len();
        if killed.elapsed() >= Duration::from_millis(SESSION_MS / 3) {
            break;
        }
    }
    assert!(
        killed.elapsed() >= Duration::from_millis(SESSION_MS / 3),
        "{during} records"
    );
    etcd.restart();
    produce(&writer, "steady", None, 100).await;

    // Metadata changes go through again.
    let after = NewTopic::new("after-restart", 2, TopicReplication::Fixed(1));
    let created = admin(&brokers[2])
        .create_topics(&[after], &options)
        .await
        .expect("create");
    assert_eq!(created, [Ok("after-restart".to_owned())]);
    let mut brokers = brokers;
    for broker in &mut brokers {
        broker.stop();
    }
}
