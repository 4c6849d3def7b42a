//! Which partitions this broker holds a replica of, and in which role, from the cluster
//! image — and what changed between two images, so the broker opens, closes, promotes or
//! demotes exactly those logs (Kafka's local changes of a metadata delta).

use std::collections::BTreeMap;

use uuid::Uuid;

use super::image::{ClusterImage, NO_LEADER};

/// What this broker does for a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Takes writes at this leader epoch.
    Leader { leader_epoch: i32 },
    /// Fetches from `leader` ([`super::NO_LEADER`] while there is none).
    Follower { leader: i32, leader_epoch: i32 },
}

/// A partition this broker replicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReplica {
    pub topic: String,
    pub topic_id: Uuid,
    pub partition: i32,
    pub role: Role,
}

/// The replicas `node_id` holds in `image`, by topic id and partition (partitions without a
/// state yet are left out: nobody leads them).
pub fn local_replicas(image: &ClusterImage, node_id: i32) -> BTreeMap<(Uuid, i32), LocalReplica> {
    let mut local = BTreeMap::new();
    for (name, topic) in &image.topics {
        for (index, replicas) in topic.replicas.iter().enumerate() {
            let partition = index as i32;
            let Some(current) = image.partition(topic, partition) else {
                continue;
            };
            if !replicas.contains(&node_id) {
                continue;
            }
            let state = &current.state;
            let (leader, leader_epoch) = (state.leader, state.leader_epoch);
            let role = match leader == node_id {
                true if image.broker_epoch(node_id) == Some(state.leader_broker_epoch) => {
                    Role::Leader { leader_epoch }
                }
                // Elected before this broker registered again (it restarted, or its session
                // ended): the controller elects anew. Until then it must not write at the
                // old epoch, whose batches it may have lost while a follower holds them.
                true => Role::Follower {
                    leader: NO_LEADER,
                    leader_epoch,
                },
                false => Role::Follower {
                    leader,
                    leader_epoch,
                },
            };
            let topic_id = topic.id;
            let replica = LocalReplica {
                topic: name.clone(),
                topic_id,
                partition,
                role,
            };
            local.insert((topic_id, partition), replica);
        }
    }
    local
}

/// What changed for this broker from one image to the next.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalChanges {
    /// New replicas, and replicas whose role, leader or leader epoch changed.
    pub changed: Vec<LocalReplica>,
    /// Replicas this broker no longer holds (topic deleted, replica moved away).
    pub removed: Vec<LocalReplica>,
}

impl LocalChanges {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.removed.is_empty()
    }
}

/// The difference between `before` and `after` for `node_id`.
pub fn local_changes(before: &ClusterImage, after: &ClusterImage, node_id: i32) -> LocalChanges {
    let old = local_replicas(before, node_id);
    let new = local_replicas(after, node_id);
    let changed = new
        .iter()
        .filter(|(key, replica)| old.get(key) != Some(replica))
        .map(|(_, replica)| replica.clone())
        .collect();
    let removed = old
        .iter()
        .filter(|(key, _)| !new.contains_key(key))
        .map(|(_, replica)| replica.clone())
        .collect();
    LocalChanges { changed, removed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::image::{Partition, PartitionState, TopicRecord, NO_LEADER};

    const ID: Uuid = Uuid::from_u128(1);

    fn image(replicas: &[&[i32]], leaders: &[i32]) -> ClusterImage {
        let mut image = ClusterImage::with_brokers(&[1, 2, 3]);
        let replicas = replicas.iter().map(|replicas| replicas.to_vec()).collect();
        let topic = TopicRecord {
            id: ID,
            replicas,
            configs: BTreeMap::new(),
        };
        for (partition, &leader) in leaders.iter().enumerate() {
            let leader_epoch = leader.max(0);
            let state = PartitionState {
                leader,
                leader_epoch,
                isr: vec![],
                leader_broker_epoch: 1,
                ..PartitionState::default()
            };
            image
                .partitions
                .insert((ID, partition as i32), Partition { state, version: 1 });
        }
        image.topics.insert("t".into(), topic);
        image
    }

    fn replica(partition: i32, role: Role) -> LocalReplica {
        LocalReplica {
            topic: "t".into(),
            topic_id: ID,
            partition,
            role,
        }
    }

    #[test]
    fn roles_follow_leadership_and_only_changes_are_reported() {
        let before = image(&[&[1, 2], &[2, 3], &[3, 1]], &[1, 2, 3]);
        assert_eq!(
            local_replicas(&before, 1).into_values().collect::<Vec<_>>(),
            [
                replica(0, Role::Leader { leader_epoch: 1 }),
                replica(
                    2,
                    Role::Follower {
                        leader: 3,
                        leader_epoch: 3
                    }
                ),
            ]
        );
        // Broker 3 died: broker 1 leads partition 2; partition 1 goes offline.
        let after = image(&[&[1, 2], &[2, 3], &[3, 1]], &[1, NO_LEADER, 1]);
        assert_eq!(
            local_changes(&before, &after, 1),
            LocalChanges {
                changed: vec![replica(2, Role::Leader { leader_epoch: 1 })],
                removed: vec![],
            }
        );
        assert!(local_changes(&after, &after, 1).is_empty());
        // Partition 2 reassigned away from broker 1; the topic then deleted.
        let moved = image(&[&[1, 2], &[2, 3], &[3, 2]], &[1, 2, 3]);
        let removed = local_changes(&before, &moved, 1).removed;
        assert_eq!(
            removed,
            [replica(
                2,
                Role::Follower {
                    leader: 3,
                    leader_epoch: 3
                }
            )]
        );
        let mut deleted = moved.clone();
        deleted.topics.clear();
        assert_eq!(local_changes(&moved, &deleted, 1).removed.len(), 1);
    }

    #[test]
    fn a_broker_registered_again_since_its_election_does_not_lead_at_that_epoch() {
        let mut restarted = image(&[&[1, 2]], &[1]);
        restarted.broker_epochs.insert(1, 7);
        assert_eq!(
            local_replicas(&restarted, 1)
                .into_values()
                .collect::<Vec<_>>(),
            [replica(
                0,
                Role::Follower {
                    leader: NO_LEADER,
                    leader_epoch: 1
                }
            )]
        );
        // Its session ended and it has not registered again yet: the same.
        restarted.broker_epochs.remove(&1);
        assert!(matches!(
            local_replicas(&restarted, 1)[&(ID, 0)].role,
            Role::Follower {
                leader: NO_LEADER,
                ..
            }
        ));
    }
}
