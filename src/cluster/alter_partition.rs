//! A leader's change of its partition's ISR, as Kafka's AlterPartition (KIP-497, KIP-704):
//! the leader drops followers that fell behind and adds those that caught up. The leader
//! writes it to the store itself, by compare-and-swap on the partition's version, so it
//! cannot overwrite a controller decision (a new leader, a shrink for a dead broker) it has
//! not seen: it then gets `InvalidUpdateVersion` and waits for its image to catch up.

use thiserror::Error;

use super::image::{ClusterImage, Keys, Partition, PartitionState, TopicRecord};
use super::kv::{Condition, Kv, KvError, Op};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AlterPartitionError {
    /// UNKNOWN_TOPIC_OR_PARTITION.
    #[error("no such partition")]
    UnknownPartition,
    /// INVALID_REQUEST: only the leader changes its ISR.
    #[error("broker {0} does not lead the partition")]
    NotLeader(i32),
    /// FENCED_LEADER_EPOCH: the leader's epoch is not the current one.
    #[error("leader epoch {requested} is not the current {current}")]
    FencedLeaderEpoch { requested: i32, current: i32 },
    /// INVALID_UPDATE_VERSION: the state changed since the leader read it.
    #[error("the partition changed since version {0}")]
    InvalidUpdateVersion(i64),
    /// INELIGIBLE_REPLICA: a replica to add is not a live replica of the partition.
    #[error("broker {0} cannot join the ISR")]
    IneligibleReplica(i32),
    /// INVALID_REQUEST: the ISR must hold the leader.
    #[error("the ISR must hold the leader")]
    LeaderNotInIsr,
    #[error(transparent)]
    Store(#[from] KvError),
}

/// What the leader asks for: the new ISR of a partition it read at `leader_epoch` and
/// `version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterIsr {
    pub leader: i32,
    pub partition: i32,
    pub leader_epoch: i32,
    pub version: i64,
    pub isr: Vec<i32>,
}

/// Checks `request` against `image` and writes it; returns the partition as it now is.
pub async fn alter_isr(
    kv: &Kv,
    keys: &Keys,
    image: &ClusterImage,
    topic: &TopicRecord,
    request: AlterIsr,
) -> Result<Partition, AlterPartitionError> {
    let index = usize::try_from(request.partition).ok();
    let replicas = index
        .and_then(|index| topic.replicas.get(index))
        .ok_or(AlterPartitionError::UnknownPartition)?;
    let current = image
        .partition(topic, request.partition)
        .ok_or(AlterPartitionError::UnknownPartition)?;
    let state = &current.state;
    if state.leader_epoch != request.leader_epoch {
        return Err(AlterPartitionError::FencedLeaderEpoch {
            requested: request.leader_epoch,
            current: state.leader_epoch,
        });
    }
    if state.leader != request.leader {
        return Err(AlterPartitionError::NotLeader(request.leader));
    }
    if current.version != request.version {
        return Err(AlterPartitionError::InvalidUpdateVersion(request.version));
    }
    if !request.isr.contains(&request.leader) {
        return Err(AlterPartitionError::LeaderNotInIsr);
    }
    let added = request.isr.iter().filter(|id| !state.isr.contains(id));
    if let Some(&ineligible) = added
        .into_iter()
        .find(|&&id| !replicas.contains(&id) || !image.hosts(id, topic.id, request.partition))
    {
        return Err(AlterPartitionError::IneligibleReplica(ineligible));
    }
    let next = PartitionState {
        isr: request.isr,
        ..state.clone()
    };
    let key = keys.partition(topic.id, request.partition);
    let put = Op::Put {
        key: key.clone(),
        value: serde_json::to_vec(&next).unwrap_or_default(),
        lease: None,
    };
    let guard = Condition::ModRevision(key, request.version);
    match kv.commit_at(vec![guard], vec![put]).await? {
        Some(version) => Ok(Partition {
            state: next,
            version,
        }),
        None => Err(AlterPartitionError::InvalidUpdateVersion(request.version)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cluster::memory::MemoryKv;
    use crate::cluster::stored_image;
    use crate::cluster::topics::{create_topic, NewTopic};

    #[tokio::test]
    async fn the_leader_shrinks_and_expands_its_isr_by_compare_and_swap() {
        let kv = Kv::Memory(Arc::new(MemoryKv::new()));
        let keys = Keys::new("/t");
        let brokers = ClusterImage::with_brokers(&[1, 2, 3, 4]);
        let new = NewTopic {
            name: "t".into(),
            partitions: 1,
            replication_factor: 0,
            assignment: Some(vec![vec![1, 2, 3]]),
            configs: Default::default(),
        };
        let topic = create_topic(&kv, &keys, &brokers, new).await.unwrap();
        let image = stored_image(&kv, &keys, &brokers).await;
        let read = image.partition(&topic, 0).unwrap().clone();
        let request = |isr: Vec<i32>, leader: i32, leader_epoch: i32, version: i64| AlterIsr {
            leader,
            partition: 0,
            leader_epoch,
            version,
            isr,
        };

        let shrunk = alter_isr(
            &kv,
            &keys,
            &image,
            &topic,
            request(vec![1, 3], 1, 0, read.version),
        )
        .await
        .unwrap();
        assert_eq!(shrunk.state.isr, [1, 3]);
        assert!(shrunk.version > read.version);
        // Acting on the old read again: the version moved on.
        assert_eq!(
            alter_isr(
                &kv,
                &keys,
                &image,
                &topic,
                request(vec![1], 1, 0, read.version)
            )
            .await,
            Err(AlterPartitionError::InvalidUpdateVersion(read.version))
        );

        let image = stored_image(&kv, &keys, &brokers).await;
        let version = shrunk.version;
        let refused = [
            (
                request(vec![1, 3], 1, 1, version),
                AlterPartitionError::FencedLeaderEpoch {
                    requested: 1,
                    current: 0,
                },
            ),
            (
                request(vec![2, 3], 2, 0, version),
                AlterPartitionError::NotLeader(2),
            ),
            (
                request(vec![3], 1, 0, version),
                AlterPartitionError::LeaderNotInIsr,
            ),
            (
                request(vec![1, 4], 1, 0, version),
                AlterPartitionError::IneligibleReplica(4),
            ),
            (
                AlterIsr {
                    partition: 1,
                    ..request(vec![1], 1, 0, version)
                },
                AlterPartitionError::UnknownPartition,
            ),
        ];
        for (request, error) in refused {
            assert_eq!(
                alter_isr(&kv, &keys, &image, &topic, request).await,
                Err(error)
            );
        }
        let mut without_2 = image.clone();
        without_2.brokers.remove(&2);
        assert_eq!(
            alter_isr(
                &kv,
                &keys,
                &without_2,
                &topic,
                request(vec![1, 2, 3], 1, 0, version)
            )
            .await,
            Err(AlterPartitionError::IneligibleReplica(2))
        );
        // Broker 2 reported its replica offline: it cannot rejoin the ISR.
        let mut offline_2 = image.clone();
        let broker_2 = offline_2.brokers.get_mut(&2).expect("broker 2 registered");
        broker_2.offline.push((topic.id, 0));
        assert_eq!(
            alter_isr(
                &kv,
                &keys,
                &offline_2,
                &topic,
                request(vec![1, 2, 3], 1, 0, version)
            )
            .await,
            Err(AlterPartitionError::IneligibleReplica(2))
        );
        let expanded = alter_isr(
            &kv,
            &keys,
            &image,
            &topic,
            request(vec![1, 3, 2], 1, 0, version),
        )
        .await
        .unwrap();
        assert_eq!(
            stored_image(&kv, &keys, &brokers)
                .await
                .partition(&topic, 0),
            Some(&expanded)
        );
    }
}
