//! A cluster of three `spool` brokers on one etcd, and what its Metadata says.

use std::collections::BTreeMap;
use std::time::Duration;

use compat_tests::etcd::SpawnedEtcd;
use compat_tests::SpawnedBroker;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::metadata::MetadataPartition;

/// Brokers 1, 2 and 3 under `root` of `etcd`, with sessions of `session_ms`.
pub fn start_cluster(etcd: &SpawnedEtcd, root: &str, session_ms: u64) -> Vec<SpawnedBroker> {
    (1..=3)
        .map(|node_id| {
            SpawnedBroker::start(&format!(
                // Without auto-creation, clients that still know a deleted topic cannot bring
                // it back.
                "\"node.id\" = {node_id}\n\"cluster.url\" = \"{}\"\n\"broker.session.timeout.ms\" = {session_ms}\n\"auto.create.topics.enable\" = false\n",
                etcd.cluster_url(root)
            ))
        })
        .collect()
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
