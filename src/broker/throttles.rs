//! The replication throttles a broker runs with, as each applied image says: the partitions
//! the topics' `leader/follower.replication.throttled.replicas` name on this broker, the
//! out-of-sync replicas each side slows there, and this broker's throttled rates.

use std::collections::BTreeSet;

use super::Broker;
use crate::cluster::ClusterImage;
use crate::config::dynamic::{
    DynamicBrokerConfigs, FOLLOWER_REPLICATION_THROTTLED_RATE, LEADER_REPLICATION_THROTTLED_RATE,
};
use crate::config::{ThrottledReplicas, FOLLOWER_THROTTLED_REPLICAS, LEADER_THROTTLED_REPLICAS};
use crate::replication::{Throttle, ThrottledPartitions};

/// The partitions broker `node_id` throttles as leader and as follower under `image`.
/// A leader slows the followers its ISR lacks; a follower slows itself while out of sync.
fn throttled_partitions(
    image: &ClusterImage,
    node_id: i32,
) -> (ThrottledPartitions, ThrottledPartitions) {
    let mut leading = ThrottledPartitions::new();
    let mut following = ThrottledPartitions::new();
    for (name, record) in &image.topics {
        let list = |key: &str| {
            let value = record.configs.get(key)?;
            ThrottledReplicas::parse(key, value).ok()
        };
        let (leader_list, follower_list) = (
            list(LEADER_THROTTLED_REPLICAS),
            list(FOLLOWER_THROTTLED_REPLICAS),
        );
        if leader_list.is_none() && follower_list.is_none() {
            continue;
        }
        for (index, replicas) in (0..).zip(&record.replicas) {
            let Some(current) = image.partition(record, index) else {
                continue;
            };
            let state = &current.state;
            let throttles = |list: &Option<ThrottledReplicas>| {
                list.as_ref()
                    .is_some_and(|list| list.throttles(index, node_id))
            };
            if state.leader == node_id && throttles(&leader_list) {
                let out_of_sync: BTreeSet<i32> = replicas
                    .iter()
                    .copied()
                    .filter(|replica| !state.isr.contains(replica))
                    .collect();
                leading
                    .entry(name.clone())
                    .or_default()
                    .insert(index, out_of_sync);
            } else if state.leader != node_id
                && replicas.contains(&node_id)
                && throttles(&follower_list)
            {
                let slowed = if state.isr.contains(&node_id) {
                    BTreeSet::new()
                } else {
                    BTreeSet::from([node_id])
                };
                following
                    .entry(name.clone())
                    .or_default()
                    .insert(index, slowed);
            }
        }
    }
    (leading, following)
}

impl Broker {
    /// The throttle on what this broker's leaders send to followers (in a cluster).
    pub fn leader_throttle(&self) -> Option<&Throttle> {
        self.cluster.as_ref().map(|node| &node.throttles.leader)
    }

    /// Sets this broker's replication throttles from the applied `image` and the dynamic
    /// broker configs of the metadata.
    pub(super) fn apply_throttles(&self, image: &ClusterImage) {
        let Some(node) = &self.cluster else {
            return;
        };
        let node_id = self.config.node_id;
        let (leading, following) = throttled_partitions(image, node_id);
        let configs: &DynamicBrokerConfigs = &self.metadata.image().dynamic_configs;
        node.throttles.leader.set(
            leading,
            configs.rate(node_id, LEADER_REPLICATION_THROTTLED_RATE),
        );
        node.throttles.follower.set(
            following,
            configs.rate(node_id, FOLLOWER_REPLICATION_THROTTLED_RATE),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use uuid::Uuid;

    use super::*;
    use crate::cluster::{Partition, PartitionState, TopicRecord};

    fn image(configs: &[(&str, &str)]) -> ClusterImage {
        let mut image = ClusterImage::with_brokers(&[1, 2, 3]);
        let id = Uuid::new_v4();
        let record = TopicRecord {
            id,
            replicas: vec![vec![1, 2, 3], vec![2, 1, 3]],
            configs: configs
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
        };
        image.topics.insert("t".into(), record);
        for (index, leader) in [(0, 1), (1, 2)] {
            let state = PartitionState {
                leader,
                leader_epoch: 1,
                isr: vec![1, 2],
                ..PartitionState::default()
            };
            image
                .partitions
                .insert((id, index), Partition { state, version: 1 });
        }
        image
    }

    fn slowed(partitions: &ThrottledPartitions) -> BTreeMap<i32, Vec<i32>> {
        partitions
            .get("t")
            .map(|topic| {
                topic
                    .iter()
                    .map(|(index, replicas)| (*index, replicas.iter().copied().collect()))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn leaders_slow_their_out_of_sync_followers_and_followers_themselves() {
        let listed = image(&[
            (LEADER_THROTTLED_REPLICAS, "0:1,1:1"),
            (FOLLOWER_THROTTLED_REPLICAS, "0:3,1:3,1:1"),
        ]);
        // Broker 1 leads 0 (listed: slows 3, out of sync); it follows 1 in sync.
        let (leading, following) = throttled_partitions(&listed, 1);
        assert_eq!(slowed(&leading), BTreeMap::from([(0, vec![3])]));
        assert_eq!(slowed(&following), BTreeMap::from([(1, vec![])]));
        // Broker 3 follows both, out of sync; it leads nothing.
        let (leading, following) = throttled_partitions(&listed, 3);
        assert!(leading.is_empty());
        assert_eq!(
            slowed(&following),
            BTreeMap::from([(0, vec![3]), (1, vec![3])])
        );
        // Broker 2 is in no list.
        let (leading, following) = throttled_partitions(&listed, 2);
        assert!(leading.is_empty() && following.is_empty());

        let everything = image(&[(LEADER_THROTTLED_REPLICAS, "*")]);
        let (leading, following) = throttled_partitions(&everything, 2);
        assert_eq!(slowed(&leading), BTreeMap::from([(1, vec![3])]));
        assert!(following.is_empty());
        assert!(throttled_partitions(&image(&[]), 1).0.is_empty());
    }
}
