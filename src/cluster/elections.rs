//! Leader elections a client asks for (ElectLeaders, `kafka-leader-election`): preferred
//! (the first replica, if it is live and in sync) or unclean (any live replica of a
//! partition that has no leader). Any broker may write one: it is a compare-and-swap on the
//! partition's version, so a change the controller made meanwhile is never overwritten —
//! the election is decided again on the state as stored.

use thiserror::Error;
use uuid::Uuid;

use super::controller::{preferred_election, ElectionError};
use super::image::{ClusterImage, Keys, Partition, PartitionState, NO_LEADER};
use super::kv::{Condition, Kv, KvError, Op};

/// Compare-and-swap rounds before an election gives up to a partition that keeps changing.
const ATTEMPTS_MAX: usize = 5;

/// ElectLeaders' election types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionKind {
    Preferred,
    Unclean,
}

/// Why no election happened (Kafka's ElectLeaders errors).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ElectionRefused {
    #[error("no such partition")]
    UnknownPartition,
    #[error("leader election not needed for topic partition")]
    NotNeeded,
    #[error("the preferred replica is not live and in sync")]
    PreferredNotAvailable,
    #[error("no live replica can lead the partition")]
    EligibleNotAvailable,
    #[error("the partition kept changing during the election")]
    Contended,
    #[error(transparent)]
    Store(#[from] KvError),
}

/// The state in which a live replica of leaderless partition `key` leads, alone in sync.
fn unclean_election(
    replicas: &[i32],
    key: (Uuid, i32),
    partition: &Partition,
    image: &ClusterImage,
) -> Result<PartitionState, ElectionRefused> {
    if partition.state.leader != NO_LEADER {
        return Err(ElectionRefused::NotNeeded);
    }
    let leader = replicas
        .iter()
        .copied()
        .find(|&id| image.hosts(id, key.0, key.1))
        .ok_or(ElectionRefused::EligibleNotAvailable)?;
    Ok(PartitionState {
        leader,
        leader_epoch: partition.state.leader_epoch + 1,
        isr: vec![leader],
        leader_broker_epoch: image.broker_epoch(leader).unwrap_or_default(),
        ..partition.state.clone()
    })
}

/// Elects a leader of `topic`/`partition` as `kind` asks; returns the new state.
pub async fn elect(
    kv: &Kv,
    keys: &Keys,
    image: &ClusterImage,
    topic: &str,
    partition: i32,
    kind: ElectionKind,
) -> Result<PartitionState, ElectionRefused> {
    let record = image
        .topics
        .get(topic)
        .ok_or(ElectionRefused::UnknownPartition)?;
    let replicas = usize::try_from(partition)
        .ok()
        .and_then(|index| record.replicas.get(index))
        .ok_or(ElectionRefused::UnknownPartition)?;
    let key = keys.partition(record.id, partition);
    for _ in 0..ATTEMPTS_MAX {
        let snapshot = kv.get_prefix(&key).await?;
        let stored = snapshot
            .entries
            .iter()
            .find(|entry| entry.key == key)
            .and_then(|entry| {
                let state = serde_json::from_slice(&entry.value).ok()?;
                Some(Partition {
                    state,
                    version: entry.mod_revision,
                })
            })
            .ok_or(ElectionRefused::UnknownPartition)?;
        let next = match kind {
            ElectionKind::Preferred => {
                preferred_election(replicas, (record.id, partition), &stored, image).map_err(
                    |error| match error {
                        ElectionError::NotNeeded => ElectionRefused::NotNeeded,
                        ElectionError::PreferredNotAvailable => {
                            ElectionRefused::PreferredNotAvailable
                        }
                    },
                )?
            }
            ElectionKind::Unclean => {
                unclean_election(replicas, (record.id, partition), &stored, image)?
            }
        };
        let put = Op::Put {
            key: key.clone(),
            value: serde_json::to_vec(&next).unwrap_or_default(),
            lease: None,
        };
        let guard = Condition::ModRevision(key.clone(), stored.version);
        if kv.commit(vec![guard], vec![put]).await? {
            return Ok(next);
        }
    }
    Err(ElectionRefused::Contended)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::cluster::memory::MemoryKv;
    use crate::cluster::stored_image;
    use crate::cluster::topics::{create_topic, NewTopic};

    /// Writes a partition's state as the controller would have.
    async fn store(
        kv: &Kv,
        keys: &Keys,
        topic_id: uuid::Uuid,
        partition: i32,
        state: &PartitionState,
    ) {
        let put = Op::Put {
            key: keys.partition(topic_id, partition),
            value: serde_json::to_vec(state).unwrap(),
            lease: None,
        };
        kv.commit(Vec::new(), vec![put]).await.unwrap();
    }

    #[tokio::test]
    async fn preferred_and_unclean_elections_follow_kafkas_rules() {
        let kv = Kv::Memory(Arc::new(MemoryKv::new()));
        let keys = Keys::new("/elections");
        let brokers = ClusterImage::with_brokers(&[1, 2, 3]);
        let new = NewTopic {
            name: "t".into(),
            partitions: 2,
            replication_factor: 0,
            assignment: Some(vec![vec![1, 2], vec![3, 1]]),
            configs: BTreeMap::new(),
        };
        create_topic(&kv, &keys, &brokers, new).await.unwrap();
        let preferred = ElectionKind::Preferred;
        assert_eq!(
            elect(&kv, &keys, &brokers, "t", 0, preferred).await,
            Err(ElectionRefused::UnknownPartition),
            "the image does not know the topic yet"
        );
        let image = stored_image(&kv, &keys, &brokers).await;
        assert_eq!(
            elect(&kv, &keys, &image, "t", 0, preferred).await,
            Err(ElectionRefused::NotNeeded)
        );
        assert_eq!(
            elect(&kv, &keys, &image, "t", 7, preferred).await,
            Err(ElectionRefused::UnknownPartition)
        );
        // Broker 2 leads partition 0 for a while (as after a failover), broker 1 in sync.
        let topic = &image.topics["t"];
        let moved = PartitionState {
            leader: 2,
            leader_epoch: 1,
            isr: vec![1, 2],
            leader_broker_epoch: 1,
            ..PartitionState::default()
        };
        store(&kv, &keys, topic.id, 0, &moved).await;
        let back = elect(&kv, &keys, &image, "t", 0, preferred).await.unwrap();
        assert_eq!(
            (back.leader, back.leader_epoch, back.isr),
            (1, 2, vec![1, 2])
        );
        let stored = stored_image(&kv, &keys, &brokers).await;
        assert_eq!(stored.partition(topic, 0).unwrap().state.leader, 1);

        // Unclean: only for a partition without a leader, and only a live replica.
        let unclean = ElectionKind::Unclean;
        assert_eq!(
            elect(&kv, &keys, &stored, "t", 1, unclean).await,
            Err(ElectionRefused::NotNeeded)
        );
        let offline = PartitionState {
            leader: NO_LEADER,
            leader_epoch: 1,
            isr: vec![3],
            leader_broker_epoch: 0,
            ..PartitionState::default()
        };
        store(&kv, &keys, topic.id, 1, &offline).await;
        let mut replicas_dead = stored.clone();
        replicas_dead.brokers.remove(&3);
        replicas_dead.brokers.remove(&1);
        assert_eq!(
            elect(&kv, &keys, &replicas_dead, "t", 1, unclean).await,
            Err(ElectionRefused::EligibleNotAvailable)
        );
        assert_eq!(
            elect(&kv, &keys, &replicas_dead, "t", 1, preferred).await,
            Err(ElectionRefused::PreferredNotAvailable)
        );
        let elected = elect(&kv, &keys, &stored, "t", 1, unclean).await.unwrap();
        assert_eq!((elected.leader, elected.leader_epoch), (3, 2));
    }
}
