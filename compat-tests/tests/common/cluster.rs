//! A cluster of three `spool` brokers on one etcd, and what its Metadata says.

use std::collections::BTreeMap;
use std::time::Duration;

use compat_tests::etcd::{start_brokers, SpawnedEtcd};
use compat_tests::wire::WireClient;
use compat_tests::{wait_for, SpawnedBroker};
use kafka_protocol::messages::FindCoordinatorRequest;
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::metadata::MetadataPartition;

/// Brokers 1, 2 and 3 under `root` of `etcd`, with sessions of `session_ms`.
pub fn start_cluster(etcd: &SpawnedEtcd, root: &str, session_ms: u64) -> Vec<SpawnedBroker> {
    // Without auto-creation, clients that still know a deleted topic cannot bring it back.
    start_brokers(
        etcd,
        root,
        &format!(
            "\"broker.session.timeout.ms\" = {session_ms}\n\"auto.create.topics.enable\" = false\n"
        ),
    )
}

/// Sends `signal` to `broker`'s process (SIGSTOP, SIGCONT: a broker that sleeps).
pub fn signal(broker: &SpawnedBroker, signal: libc::c_int) {
    let pid = broker.pid().expect("a running broker") as libc::pid_t;
    // SAFETY: kill(2) with a child's pid and a valid signal has no memory effects here.
    assert_eq!(
        unsafe { libc::kill(pid, signal) },
        0,
        "kill({pid}, {signal})"
    );
}

/// Creates `topic` through `broker` with `partitions` partitions of three replicas and
/// `min.insync.replicas=2`, and waits until every replica is in sync.
pub async fn create_replicated_topic(broker: &SpawnedBroker, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = broker.client_config().create().expect("admin");
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(3))
        .set("min.insync.replicas", "2");
    for created in admin
        .create_topics(&[new_topic], &AdminOptions::new())
        .await
        .expect("CreateTopics")
    {
        created.expect("topic created");
    }
    wait_for(super::TIMEOUT, || {
        isrs(broker, topic, partitions as usize)
            .filter(|view| view.values().all(|isr| *isr == [1, 2, 3]))
    })
    .expect("every replica in sync");
}

/// Partition → leader of `topic` (with `partitions` partitions), as `broker` sees it.
pub fn partition_leaders(
    broker: &SpawnedBroker,
    topic: &str,
    partitions: i32,
) -> Option<BTreeMap<i32, i32>> {
    partition_views(broker, topic, partitions as usize, |partition| {
        partition.leader()
    })
}

/// Partition → `view` of each partition of `topic` in `broker`'s Metadata, once the topic
/// has its `partitions` partitions.
pub fn partition_views<T>(
    broker: &SpawnedBroker,
    topic: &str,
    partitions: usize,
    view: impl Fn(&MetadataPartition) -> T,
) -> Option<BTreeMap<i32, T>> {
    let consumer: BaseConsumer = broker.client_config().create().ok()?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .ok()?;
    let found = metadata.topics().iter().find(|t| t.name() == topic)?;
    if found.error().is_some() || found.partitions().len() != partitions {
        return None;
    }
    Some(
        found
            .partitions()
            .iter()
            .map(|partition| (partition.id(), view(partition)))
            .collect(),
    )
}

/// Partition → (leader, sorted ISR) of `topic` (with `partitions` partitions), as `broker`
/// sees it.
pub fn leaders_and_isrs(
    broker: &SpawnedBroker,
    topic: &str,
    partitions: usize,
) -> Option<BTreeMap<i32, (i32, Vec<i32>)>> {
    partition_views(broker, topic, partitions, |partition| {
        let mut isr = partition.isr().to_vec();
        isr.sort_unstable();
        (partition.leader(), isr)
    })
}

/// Partition → in-sync replicas (sorted) of `topic` (with `partitions` partitions), as
/// `broker` sees it.
pub fn isrs(
    broker: &SpawnedBroker,
    topic: &str,
    partitions: usize,
) -> Option<BTreeMap<i32, Vec<i32>>> {
    partition_views(broker, topic, partitions, |partition| {
        let mut isr = partition.isr().to_vec();
        isr.sort_unstable();
        isr
    })
}

/// FindCoordinator (batched, v4) for `keys` of `key_type` on `client`; key → coordinator
/// node id. The first answer must name every coordinator: the broker waits for an internal
/// topic it creates on first use rather than answering COORDINATOR_NOT_AVAILABLE, which
/// some clients retry only a few times.
pub fn coordinators(
    client: &mut WireClient,
    key_type: i8,
    keys: &[String],
) -> BTreeMap<String, i32> {
    let request = FindCoordinatorRequest::default()
        .with_key_type(key_type)
        .with_coordinator_keys(
            keys.iter()
                .map(|key| StrBytes::from_string(key.clone()))
                .collect(),
        );
    let response = client.call(4, &request);
    assert!(
        response.coordinators.iter().all(|c| c.error_code == 0),
        "{response:?}"
    );
    response
        .coordinators
        .iter()
        .map(|c| (c.key.to_string(), c.node_id.0))
        .collect()
}

/// The first of `candidates` (keys of `key_type`) that broker `node_id` coordinates.
pub fn coordinated_by(client: &mut WireClient, key_type: i8, prefix: &str, node_id: i32) -> String {
    let candidates: Vec<String> = (0..60).map(|i| format!("{prefix}-{i}")).collect();
    coordinators(client, key_type, &candidates)
        .into_iter()
        .find(|(_, coordinator)| *coordinator == node_id)
        .map(|(key, _)| key)
        .unwrap_or_else(|| panic!("no {prefix} key is coordinated by broker {node_id}"))
}
