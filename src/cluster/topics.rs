//! Creating and deleting topics in the cluster store. Any broker may do it: etcd orders the
//! transactions, and create-if-absent on the topic key settles races between brokers.
//!
//! A topic is its record plus one state key per partition. etcd caps the operations of one
//! transaction, so a large topic is written in several: the record with the first partition
//! states, then the rest, each created only if absent. A creator that dies half-way leaves
//! partitions without a state, which the controller creates; states left by a deleted topic
//! are removed by the controller too (they are keyed by topic id, so a new topic of the same
//! name never sees them).

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;
use uuid::Uuid;

use super::image::{ClusterImage, Keys, PartitionState, TopicRecord, NO_LEADER};
use super::kv::{Condition, Kv, KvError, Op, MAX_OPS_PER_TXN};
use super::placement::{assign_replicas, Candidate, PlacementError};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TopicError {
    #[error("topic '{0}' already exists")]
    AlreadyExists(String),
    #[error("topic '{0}' does not exist")]
    UnknownTopic(String),
    #[error(transparent)]
    Placement(#[from] PlacementError),
    /// Kafka's INVALID_REPLICA_ASSIGNMENT.
    #[error("invalid replica assignment: {0}")]
    InvalidAssignment(String),
    #[error(transparent)]
    Store(#[from] KvError),
}

/// A topic to create: either a partition count and replication factor, or an explicit
/// assignment (CreateTopics' `assignments`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i16,
    pub assignment: Option<Vec<Vec<i32>>>,
    pub configs: BTreeMap<String, String>,
}

/// The live brokers as placement candidates.
pub fn candidates(image: &ClusterImage) -> Vec<Candidate> {
    image
        .brokers
        .values()
        .map(|broker| Candidate {
            node_id: broker.node_id,
            rack: broker.rack.clone(),
        })
        .collect()
}

/// The first state of a partition: the live replicas in sync, the first of them leading.
pub fn initial_state(replicas: &[i32], image: &ClusterImage) -> PartitionState {
    let isr: Vec<i32> = replicas
        .iter()
        .copied()
        .filter(|replica| image.brokers.contains_key(replica))
        .collect();
    let leader = isr.first().copied().unwrap_or(NO_LEADER);
    PartitionState {
        leader,
        leader_epoch: 0,
        isr,
        leader_broker_epoch: image.broker_epoch(leader).unwrap_or_default(),
        ..PartitionState::default()
    }
}

/// Checks an explicit assignment as Kafka does: every partition has the same number of
/// distinct replicas, all of them registered brokers.
fn check_assignment(assignment: &[Vec<i32>], image: &ClusterImage) -> Result<(), TopicError> {
    let invalid = |message: String| Err(TopicError::InvalidAssignment(message));
    let Some(first) = assignment.first() else {
        return invalid("no partitions".into());
    };
    for (partition, replicas) in assignment.iter().enumerate() {
        if replicas.is_empty() || replicas.len() != first.len() {
            return invalid(format!(
                "partition {partition} has {} replicas, partition 0 has {}",
                replicas.len(),
                first.len()
            ));
        }
        if replicas.iter().collect::<BTreeSet<_>>().len() != replicas.len() {
            return invalid(format!("partition {partition} names a broker twice"));
        }
        if let Some(unknown) = replicas.iter().find(|id| !image.brokers.contains_key(id)) {
            return invalid(format!("broker {unknown} is not registered"));
        }
    }
    Ok(())
}

/// Creates the topic (record and partition states) unless one of that name exists.
pub async fn create_topic(
    kv: &Kv,
    keys: &Keys,
    image: &ClusterImage,
    new: NewTopic,
) -> Result<TopicRecord, TopicError> {
    if image.topics.contains_key(&new.name) {
        return Err(TopicError::AlreadyExists(new.name));
    }
    let id = Uuid::new_v4();
    let replicas = match new.assignment {
        Some(assignment) => {
            check_assignment(&assignment, image)?;
            assignment
        }
        None => assign_replicas(
            &candidates(image),
            0,
            new.partitions,
            new.replication_factor,
            // Where the round starts differs from topic to topic, as in Kafka.
            id.as_u128() as usize,
        )?,
    };
    let topic = TopicRecord {
        id,
        replicas,
        configs: new.configs,
    };
    let mut states = partition_puts(keys, &topic, image);
    let rest = states.split_off(states.len().min(MAX_OPS_PER_TXN - 1));
    let mut ops = vec![Op::Put {
        key: keys.topic(&new.name),
        value: serde_json::to_vec(&topic).unwrap_or_default(),
        lease: None,
    }];
    ops.extend(states.into_iter().map(|(_, op)| op));
    if !kv
        .commit(vec![Condition::Absent(keys.topic(&new.name))], ops)
        .await?
    {
        return Err(TopicError::AlreadyExists(new.name));
    }
    // Each only if absent, so a state the controller created meanwhile is kept.
    kv.commit_each(&[], rest).await?;
    Ok(topic)
}

/// Puts of the first states of `topic`'s partitions, each with the condition that its key
/// is absent.
fn partition_puts(keys: &Keys, topic: &TopicRecord, image: &ClusterImage) -> Vec<(Condition, Op)> {
    topic
        .replicas
        .iter()
        .enumerate()
        .map(|(partition, replicas)| {
            let key = keys.partition(topic.id, partition as i32);
            let value = serde_json::to_vec(&initial_state(replicas, image)).unwrap_or_default();
            let put = Op::Put {
                key: key.clone(),
                value,
                lease: None,
            };
            (Condition::Absent(key), put)
        })
        .collect()
}

/// Deletes the topic: its record at once (so it is gone for everyone), then its partition
/// states.
pub async fn delete_topic(
    kv: &Kv,
    keys: &Keys,
    image: &ClusterImage,
    name: &str,
) -> Result<TopicRecord, TopicError> {
    let topic = image
        .topics
        .get(name)
        .cloned()
        .ok_or_else(|| TopicError::UnknownTopic(name.to_owned()))?;
    kv.commit(Vec::new(), vec![Op::Delete(keys.topic(name))])
        .await?;
    let states: Vec<Op> = (0..topic.replicas.len())
        .map(|partition| Op::Delete(keys.partition(topic.id, partition as i32)))
        .collect();
    for chunk in states.chunks(MAX_OPS_PER_TXN) {
        kv.commit(Vec::new(), chunk.to_vec()).await?;
    }
    Ok(topic)
}

/// Changes a topic's record by compare-and-swap on its key's revision, so a concurrent
/// change from another broker is never lost: `change` is applied to the record as stored,
/// again whenever another writer won the compare. States of added partitions are created.
pub async fn update_topic<E: From<TopicError>>(
    kv: &Kv,
    keys: &Keys,
    image: &ClusterImage,
    name: &str,
    change: impl Fn(&TopicRecord) -> Result<TopicRecord, E>,
) -> Result<TopicRecord, E> {
    let key = keys.topic(name);
    let unknown = || TopicError::UnknownTopic(name.to_owned());
    loop {
        let snapshot = kv.get_prefix(&key).await.map_err(TopicError::from)?;
        let entry = snapshot
            .entries
            .iter()
            .find(|entry| entry.key == key)
            .ok_or_else(unknown)?;
        let current: TopicRecord = serde_json::from_slice(&entry.value).map_err(|_| unknown())?;
        let next = change(&current)?;
        let added = partition_puts(keys, &next, image).split_off(current.replicas.len());
        let put = Op::Put {
            key: key.clone(),
            value: serde_json::to_vec(&next).unwrap_or_default(),
            lease: None,
        };
        let guard = Condition::ModRevision(key.clone(), entry.mod_revision);
        if kv
            .commit(vec![guard], vec![put])
            .await
            .map_err(TopicError::from)?
        {
            // Each only if absent; the controller creates any a crash leaves out.
            kv.commit_each(&[], added).await.map_err(TopicError::from)?;
            return Ok(next);
        }
    }
}

/// `current` grown to `count` partitions: the new ones on `assignment`, or placed like a new
/// topic's with the topic's replication factor.
pub fn with_partitions(
    current: &TopicRecord,
    image: &ClusterImage,
    count: i32,
    assignment: Option<&[Vec<i32>]>,
) -> Result<TopicRecord, TopicError> {
    let existing = current.replicas.len() as i32;
    let added = match assignment {
        Some(assignment) => {
            check_assignment(assignment, image)?;
            assignment.to_vec()
        }
        None => assign_replicas(
            &candidates(image),
            existing,
            count - existing,
            current
                .replicas
                .first()
                .map_or(1, |replicas| replicas.len() as i16),
            current.id.as_u128() as usize,
        )?,
    };
    let mut next = current.clone();
    next.replicas.extend(added);
    Ok(next)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cluster::memory::MemoryKv;
    use crate::cluster::stored_image;

    fn cluster(brokers: &[i32]) -> (Kv, Keys, ClusterImage) {
        let image = ClusterImage::with_brokers(brokers);
        (
            Kv::Memory(Arc::new(MemoryKv::new())),
            Keys::new("/t"),
            image,
        )
    }

    fn new_topic(partitions: i32, factor: i16, assignment: Option<Vec<Vec<i32>>>) -> NewTopic {
        NewTopic {
            name: "big".into(),
            partitions,
            replication_factor: factor,
            assignment,
            configs: BTreeMap::from([("retention.ms".into(), "1000".into())]),
        }
    }

    #[tokio::test]
    async fn a_topic_larger_than_one_transaction_is_stored_whole_and_deleted_whole() {
        let (kv, keys, image) = cluster(&[1, 2, 3]);
        let topic = create_topic(&kv, &keys, &image, new_topic(250, 2, None))
            .await
            .unwrap();
        let after = stored_image(&kv, &keys, &image).await;
        assert_eq!(after.topics["big"], topic);
        assert_eq!(after.partitions.len(), 250);
        let first = &after.partitions[&(topic.id, 249)].state;
        assert_eq!(
            (first.leader, &first.isr),
            (topic.replicas[249][0], &topic.replicas[249])
        );
        assert_eq!(
            create_topic(&kv, &keys, &after, new_topic(1, 1, None)).await,
            Err(TopicError::AlreadyExists("big".into()))
        );
        // A racing creator that has not seen the topic yet loses on the compare.
        assert_eq!(
            create_topic(&kv, &keys, &image, new_topic(1, 1, None)).await,
            Err(TopicError::AlreadyExists("big".into()))
        );

        delete_topic(&kv, &keys, &after, "big").await.unwrap();
        let deleted = stored_image(&kv, &keys, &image).await;
        assert!(deleted.topics.is_empty() && deleted.partitions.is_empty());
        assert_eq!(
            delete_topic(&kv, &keys, &deleted, "big").await,
            Err(TopicError::UnknownTopic("big".into()))
        );
    }

    #[tokio::test]
    async fn explicit_assignments_are_checked_and_dead_replicas_start_out_of_sync() {
        let (kv, keys, image) = cluster(&[1, 2]);
        for bad in [
            vec![vec![1, 1]],
            vec![vec![1, 2], vec![1]],
            vec![vec![1, 9]],
            vec![],
        ] {
            let result = create_topic(&kv, &keys, &image, new_topic(0, 0, Some(bad))).await;
            assert!(
                matches!(result, Err(TopicError::InvalidAssignment(_))),
                "{result:?}"
            );
        }
        let too_many = create_topic(&kv, &keys, &image, new_topic(1, 3, None)).await;
        assert!(matches!(too_many, Err(TopicError::Placement(_))));

        let topic = create_topic(&kv, &keys, &image, new_topic(0, 0, Some(vec![vec![2, 1]])))
            .await
            .unwrap();
        let mut without_2 = image.clone();
        without_2.brokers.remove(&2);
        assert_eq!(
            initial_state(&topic.replicas[0], &without_2),
            PartitionState {
                leader: 1,
                leader_epoch: 0,
                isr: vec![1],
                leader_broker_epoch: 1,
                ..PartitionState::default()
            }
        );
    }

    #[tokio::test]
    async fn topic_changes_swap_the_record_and_add_partition_states() {
        let (kv, keys, image) = cluster(&[1, 2, 3]);
        let topic = create_topic(&kv, &keys, &image, new_topic(2, 1, None))
            .await
            .unwrap();
        let configs = BTreeMap::from([("retention.ms".into(), "5".into())]);
        let set_configs = |record: &TopicRecord| {
            let mut next = record.clone();
            next.configs = configs.clone();
            Ok::<_, TopicError>(next)
        };
        let changed = update_topic(&kv, &keys, &image, "big", set_configs)
            .await
            .unwrap();
        assert_eq!((&changed.configs, changed.replicas.len()), (&configs, 2));
        let grow = |record: &TopicRecord| with_partitions(record, &image, 5, None);
        let grown = update_topic(&kv, &keys, &image, "big", grow).await.unwrap();
        assert_eq!(grown.replicas[..2], topic.replicas[..]);
        assert_eq!((grown.replicas.len(), &grown.configs), (5, &configs));
        let after = stored_image(&kv, &keys, &image).await;
        assert_eq!(after.topics["big"], grown);
        assert_eq!(after.partitions.len(), 5);
        let unknown_broker = [vec![9]];
        let given =
            |record: &TopicRecord| with_partitions(record, &image, 6, Some(&unknown_broker));
        assert!(matches!(
            update_topic(&kv, &keys, &image, "big", given).await,
            Err(TopicError::InvalidAssignment(_))
        ));
        let missing = update_topic(&kv, &keys, &image, "none", set_configs).await;
        assert_eq!(missing, Err(TopicError::UnknownTopic("none".into())));
    }
}
