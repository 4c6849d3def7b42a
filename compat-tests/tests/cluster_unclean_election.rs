//! A topic's own `unclean.leader.election.enable`: a partition whose in-sync replicas are
//! all gone stays offline while the topic keeps Kafka's default (false), and its live,
//! out-of-sync replica takes over as soon as the topic allows it, with what it holds.

mod common;

use std::time::Duration;

use common::cluster::{leaders_and_isrs, signal, start_cluster};
use common::{produce, producer, TIMEOUT};
use compat_tests::etcd::SpawnedEtcd;
use compat_tests::{wait_for, SpawnedBroker};
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};

const SESSION_MS: u64 = 3000;
const TOPIC: &str = "unclean";
const NO_LEADER: i32 = -1;
/// Records every replica holds, and records only the first leader took.
const IN_SYNC_RECORDS: usize = 10;
const LEADER_ONLY_RECORDS: usize = 10;

fn admin(broker: &SpawnedBroker) -> AdminClient<DefaultClientContext> {
    broker.client_config().create().expect("admin client")
}

/// (leader, sorted ISR) of the topic's partition as `broker` sees it.
fn view(broker: &SpawnedBroker) -> Option<(i32, Vec<i32>)> {
    leaders_and_isrs(broker, TOPIC, 1).map(|view| view[&0].clone())
}

/// Whether `broker`'s Metadata lists broker `node_id`.
fn lists_broker(broker: &SpawnedBroker, node_id: i32) -> bool {
    let Ok(consumer) = broker.client_config().create::<BaseConsumer>() else {
        return false;
    };
    consumer
        .fetch_metadata(None, Duration::from_secs(5))
        .is_ok_and(|metadata| metadata.brokers().iter().any(|b| b.id() == node_id))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_out_of_sync_replica_leads_once_its_topic_allows_unclean_elections() {
    let etcd = SpawnedEtcd::start();
    let mut brokers = start_cluster(&etcd, "unclean-election", SESSION_MS);
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let topic = NewTopic::new(TOPIC, 1, TopicReplication::Variable(&[&[1, 2]]))
        .set("min.insync.replicas", "1");
    let created = admin(&brokers[2])
        .create_topics(&[topic], &options)
        .await
        .expect("create topics");
    assert_eq!(created, [Ok(TOPIC.to_owned())]);
    wait_for(TIMEOUT, || {
        view(&brokers[2]).filter(|view| *view == (1, vec![1, 2]))
    })
    .expect("broker 1 leads with 2 in sync");
    let writer = producer(&brokers[2], &[("acks", "all")]);
    produce(&writer, TOPIC, Some(0), IN_SYNC_RECORDS).await;

    // Broker 2 sleeps past its session: out of the ISR; broker 1 goes on alone, then dies.
    signal(&brokers[1], libc::SIGSTOP);
    let shrunk = wait_for(TIMEOUT, || {
        view(&brokers[2]).filter(|view| *view == (1, vec![1]))
    });
    if shrunk.is_none() {
        signal(&brokers[1], libc::SIGCONT);
        panic!("broker 2 stayed in the ISR while asleep");
    }
    produce(&writer, TOPIC, Some(0), LEADER_ONLY_RECORDS).await;
    drop(writer);
    brokers[0].kill();
    let offline = wait_for(TIMEOUT, || {
        view(&brokers[2]).filter(|(leader, _)| *leader == NO_LEADER)
    });
    signal(&brokers[1], libc::SIGCONT);
    assert_eq!(
        offline,
        Some((NO_LEADER, vec![1])),
        "the ISR keeps its last member"
    );
    wait_for(TIMEOUT, || lists_broker(&brokers[2], 2).then_some(()))
        .expect("broker 2 registers again");
    assert_eq!(
        view(&brokers[2]).map(|(leader, _)| leader),
        Some(NO_LEADER),
        "by default no replica outside the ISR leads"
    );

    let mut allow = AlterConfig::new(ResourceSpecifier::Topic(TOPIC));
    allow = allow.set("unclean.leader.election.enable", "true");
    let altered = admin(&brokers[2])
        .alter_configs(&[allow], &options)
        .await
        .expect("alter configs");
    assert!(altered.iter().all(Result::is_ok), "{altered:?}");
    wait_for(TIMEOUT, || {
        view(&brokers[2]).filter(|view| *view == (2, vec![2]))
    })
    .expect("broker 2 leads, alone in sync");

    // It serves what it held: the records written while it was in sync.
    let reader: BaseConsumer = brokers[2].client_config().create().expect("consumer");
    let (low, high) = reader
        .fetch_watermarks(TOPIC, 0, TIMEOUT)
        .expect("watermarks");
    assert_eq!((low, high), (0, IN_SYNC_RECORDS as i64));
    for broker in &mut brokers {
        broker.stop();
    }
}
