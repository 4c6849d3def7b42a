//! Moving a partition's replicas (AlterPartitionReassignments, KIP-455), in Kafka's three
//! stages:
//!
//! 1. The replica list grows to the target followed by the replicas being removed; the
//!    state names the `adding` and `removing` replicas. The added ones open the partition
//!    and fetch from the leader like any follower.
//! 2. Once every target replica is in sync, the controller completes the move: the replica
//!    list becomes the target, the removed replicas leave the ISR (and delete their logs),
//!    a target replica takes over if the leader was among them, and the leader epoch grows
//!    because replicas left.
//! 3. A cancellation before that reverts to the original replicas.
//!
//! A move that needs no new replica (a reordering, a shrink of the replication factor)
//! completes at once. The replica list lives in the topic record and the stage in the
//! partition's state, so every change writes both in one transaction, guarded by both keys'
//! versions: a concurrent change of either is never overwritten.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use super::controller::unclean_allowed;
use super::image::{ClusterImage, Keys, Partition, PartitionState, TopicRecord, NO_LEADER};
use super::kv::{Condition, Kv, KvError, Op, MAX_OPS_PER_TXN};

/// Compare-and-swap rounds before a reassignment request gives up to a topic that keeps
/// changing.
const ATTEMPTS_MAX: usize = 5;

/// Why a partition's reassignment was refused (Kafka's errors).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReassignmentError {
    /// UNKNOWN_TOPIC_OR_PARTITION.
    #[error("Unable to find partition {0}.")]
    UnknownPartition(String),
    /// INVALID_REPLICA_ASSIGNMENT.
    #[error("{0}")]
    InvalidAssignment(String),
    /// INVALID_REPLICATION_FACTOR: the request did not allow a change of it (v1).
    #[error("The replication factor is changed from {from} to {to}")]
    ReplicationFactorChange { from: usize, to: usize },
    /// NO_REASSIGNMENT_IN_PROGRESS: a cancellation of nothing.
    #[error("No partition reassignment is in progress for the topic partition.")]
    NoneInProgress,
    /// REQUEST_TIMED_OUT: the topic kept changing under the request.
    #[error("the topic kept changing during the reassignment")]
    Contended,
    /// REQUEST_TIMED_OUT: the cluster store did not answer.
    #[error(transparent)]
    Store(#[from] KvError),
}

/// What a request asks for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Move to these replicas (the first one preferred as leader).
    Replicas(Vec<i32>),
    /// Revert the reassignment in progress.
    Cancel,
}

/// A partition's replica list and state after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assigned {
    pub replicas: Vec<i32>,
    pub state: PartitionState,
}

/// Whether a reassignment of the partition is under way.
pub fn in_progress(state: &PartitionState) -> bool {
    !state.adding_replicas.is_empty() || !state.removing_replicas.is_empty()
}

/// `list` without the members of `taken`, in its order.
fn without(list: &[i32], taken: &[i32]) -> Vec<i32> {
    list.iter()
        .copied()
        .filter(|id| !taken.contains(id))
        .collect()
}

/// Checks a target as Kafka checks a manual assignment: some replicas, none twice, all of
/// them registered brokers.
pub fn check_target(
    target: &[i32],
    registered: impl Fn(i32) -> bool,
) -> Result<(), ReassignmentError> {
    let invalid = |message: String| Err(ReassignmentError::InvalidAssignment(message));
    if target.is_empty() {
        return invalid("The manual partition assignment includes an empty replica list.".into());
    }
    if target.iter().collect::<BTreeSet<_>>().len() != target.len() {
        return invalid(format!(
            "The manual partition assignment includes duplicate replicas: {target:?}."
        ));
    }
    if let Some(unknown) = target.iter().find(|id| !registered(**id)) {
        return invalid(format!(
            "The manual partition assignment includes broker {unknown}, but no such broker is registered."
        ));
    }
    Ok(())
}

/// The replicas before the reassignment in progress, if any.
fn original(replicas: &[i32], state: &PartitionState) -> Vec<i32> {
    without(replicas, &state.adding_replicas)
}

/// Stage 1 for `target`, and stage 2 at once when the ISR already allows it. A new target
/// replaces a reassignment in progress: replicas it was adding that the new target does not
/// name leave at once (they never held the partition for good).
pub fn reassign(
    replicas: &[i32],
    state: &PartitionState,
    target: &[i32],
    image: &ClusterImage,
) -> Result<Assigned, ReassignmentError> {
    check_target(target, |id| image.brokers.contains_key(&id))?;
    let original = original(replicas, state);
    let removing = without(&original, target);
    let mut full = target.to_vec();
    full.extend(&removing);
    let started = PartitionState {
        isr: state
            .isr
            .iter()
            .copied()
            .filter(|id| full.contains(id))
            .collect(),
        adding_replicas: without(target, &original),
        removing_replicas: removing,
        ..state.clone()
    };
    Ok(
        complete(&full, &started, image).unwrap_or_else(|| Assigned {
            state: settle(replicas, state, &full, started, image),
            replicas: full,
        }),
    )
}

/// Stage 2, if every replica the partition keeps is in sync.
pub fn complete(
    replicas: &[i32],
    state: &PartitionState,
    image: &ClusterImage,
) -> Option<Assigned> {
    if !in_progress(state) {
        return None;
    }
    let kept = without(replicas, &state.removing_replicas);
    let isr = without(&state.isr, &state.removing_replicas);
    if kept.is_empty() || isr.is_empty() || !kept.iter().all(|id| isr.contains(id)) {
        return None;
    }
    let done = PartitionState {
        isr,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
        ..state.clone()
    };
    Some(Assigned {
        state: settle(replicas, state, &kept, done, image),
        replicas: kept,
    })
}

/// Stage 3: back to the replicas before the reassignment. If only added replicas are in
/// sync, the first original replica must lead without them — an unclean election, done only
/// where the topic allows one.
pub fn cancel(
    replicas: &[i32],
    state: &PartitionState,
    unclean_allowed: bool,
    partition_name: &str,
    image: &ClusterImage,
) -> Result<Assigned, ReassignmentError> {
    if !in_progress(state) {
        return Err(ReassignmentError::NoneInProgress);
    }
    let original = original(replicas, state);
    let mut isr = without(&state.isr, &state.adding_replicas);
    if isr.is_empty() {
        if !unclean_allowed {
            return Err(ReassignmentError::InvalidAssignment(format!(
                "Unable to revert partition assignment for {partition_name} because it would require an unclean leader election."
            )));
        }
        isr.extend(original.first());
    }
    let reverted = PartitionState {
        isr,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
        ..state.clone()
    };
    Ok(Assigned {
        state: settle(replicas, state, &original, reverted, image),
        replicas: original,
    })
}

/// `next` with a leader among `replicas`: the current one if it stays in sync, else the
/// first live in-sync replica (none: offline). The leader epoch grows when the leader
/// changes or replicas leave the list, so a removed replica's requests are fenced.
fn settle(
    before: &[i32],
    state: &PartitionState,
    replicas: &[i32],
    mut next: PartitionState,
    image: &ClusterImage,
) -> PartitionState {
    let eligible = |id: &i32| next.isr.contains(id) && image.brokers.contains_key(id);
    let keeps_leader = replicas.contains(&state.leader) && next.isr.contains(&state.leader);
    if !keeps_leader {
        next.leader = replicas.iter().copied().find(eligible).unwrap_or(NO_LEADER);
        next.leader_broker_epoch = image.broker_epoch(next.leader).unwrap_or_default();
    }
    if next.leader != state.leader || before.iter().any(|id| !replicas.contains(id)) {
        next.leader_epoch = state.leader_epoch + 1;
    }
    next
}

/// The per-partition outcome of one request for a topic.
pub type Outcomes = BTreeMap<i32, Result<(), ReassignmentError>>;

/// What a request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Altered {
    pub outcomes: Outcomes,
    /// The store revision of the last write, if anything was written.
    pub revision: Option<i64>,
}

/// Applies `targets` to the topic `topic` as stored now, in one transaction per
/// [`MAX_OPS_PER_TXN`] partitions, each guarded by the topic's and the partitions'
/// versions (again on the newer store when another writer won). `unclean_default` is the
/// broker's `unclean.leader.election.enable` (the topic's own setting wins); with
/// `keep_factor`, a target of another size than the partition's replicas is refused.
pub async fn alter_reassignments(
    kv: &Kv,
    keys: &Keys,
    image: &ClusterImage,
    topic: &str,
    targets: &[(i32, Target)],
    unclean_default: bool,
    keep_factor: bool,
) -> Result<Altered, KvError> {
    let mut outcomes = Outcomes::new();
    let mut revision = None;
    let mut pending: Vec<(i32, Target)> = targets.to_vec();
    for _ in 0..ATTEMPTS_MAX {
        let Some(stored) = StoredTopic::read(kv, keys, topic).await? else {
            for (partition, _) in pending.drain(..) {
                outcomes.insert(partition, Err(unknown(topic, partition)));
            }
            break;
        };
        let mut moves = Moves {
            topic: topic.to_owned(),
            before: stored.record.clone(),
            version: stored.version,
            after: stored.record.clone(),
            states: Vec::new(),
        };
        let unclean_allowed = unclean_allowed(&stored.record.configs, unclean_default);
        for (partition, target) in &pending {
            let result = stored
                .change(
                    *partition,
                    target,
                    unclean_allowed,
                    keep_factor,
                    topic,
                    image,
                )
                .map(|change| {
                    if let Some((assigned, version)) = change {
                        moves.after.replicas[*partition as usize] = assigned.replicas;
                        moves.states.push((*partition, version, assigned.state));
                    }
                });
            if let Err(refused) = result {
                outcomes.insert(*partition, Err(refused));
            }
        }
        pending.retain(|(partition, _)| !outcomes.contains_key(partition));
        // Written (or nothing to write): the revision of the write, if any.
        let written = match moves.states.is_empty() {
            true => Some(None),
            false => moves.commit(kv, keys, &[]).await?.map(Some),
        };
        if let Some(written) = written {
            revision = written;
            for (partition, _) in pending.drain(..) {
                outcomes.insert(partition, Ok(()));
            }
            break;
        }
    }
    for (partition, _) in pending {
        outcomes.insert(partition, Err(ReassignmentError::Contended));
    }
    Ok(Altered { outcomes, revision })
}

fn unknown(topic: &str, partition: i32) -> ReassignmentError {
    ReassignmentError::UnknownPartition(format!("{topic}:{partition}"))
}

/// A topic's record and partition states as the store holds them, with their versions.
struct StoredTopic {
    record: TopicRecord,
    version: i64,
    partitions: BTreeMap<i32, Partition>,
}

impl StoredTopic {
    async fn read(kv: &Kv, keys: &Keys, topic: &str) -> Result<Option<Self>, KvError> {
        let key = keys.topic(topic);
        let snapshot = kv.get_prefix(&key).await?;
        let Some(entry) = snapshot.entries.iter().find(|entry| entry.key == key) else {
            return Ok(None);
        };
        let Ok(record) = serde_json::from_slice::<TopicRecord>(&entry.value) else {
            return Ok(None);
        };
        let prefix = keys.partitions_of(record.id);
        let states = kv.get_prefix(&prefix).await?;
        let partitions = states
            .entries
            .iter()
            .filter_map(|entry| {
                let partition = entry.key.strip_prefix(&prefix)?.parse().ok()?;
                let state = serde_json::from_slice(&entry.value).ok()?;
                let version = entry.mod_revision;
                Some((partition, Partition { state, version }))
            })
            .collect();
        Ok(Some(Self {
            record,
            version: entry.mod_revision,
            partitions,
        }))
    }

    /// What `target` makes of `partition`: `None` when nothing changes.
    fn change(
        &self,
        partition: i32,
        target: &Target,
        unclean_allowed: bool,
        keep_factor: bool,
        topic: &str,
        image: &ClusterImage,
    ) -> Result<Option<(Assigned, i64)>, ReassignmentError> {
        let replicas = usize::try_from(partition)
            .ok()
            .and_then(|index| self.record.replicas.get(index))
            .ok_or_else(|| unknown(topic, partition))?;
        let current = self
            .partitions
            .get(&partition)
            .ok_or_else(|| unknown(topic, partition))?;
        let assigned = match target {
            Target::Cancel => {
                let name = format!("{topic}:{partition}");
                cancel(replicas, &current.state, unclean_allowed, &name, image)?
            }
            Target::Replicas(target) => {
                let original = original(replicas, &current.state);
                if keep_factor && target.len() != original.len() {
                    return Err(ReassignmentError::ReplicationFactorChange {
                        from: original.len(),
                        to: target.len(),
                    });
                }
                reassign(replicas, &current.state, target, image)?
            }
        };
        let unchanged = assigned.replicas == *replicas && assigned.state == current.state;
        Ok((!unchanged).then_some((assigned, current.version)))
    }
}

/// A change of a topic's replica lists with the partition states that go with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moves {
    pub topic: String,
    /// The topic record as it is, at `version`...
    pub before: TopicRecord,
    pub version: i64,
    /// ...and as it becomes.
    pub after: TopicRecord,
    /// Partition, the version its state is at, its new state.
    pub states: Vec<(i32, i64, PartitionState)>,
}

impl Moves {
    /// Writes the record and the states, one transaction per [`MAX_OPS_PER_TXN`] states,
    /// each guarded by `fence`, the record's version (as the previous transaction left it)
    /// and its partitions' versions. Returns `None`, having written only whole chunks, when a
    /// guard failed; the revision of the last write otherwise.
    pub async fn commit(
        &self,
        kv: &Kv,
        keys: &Keys,
        fence: &[Condition],
    ) -> Result<Option<i64>, KvError> {
        let topic_key = keys.topic(&self.topic);
        let mut version = self.version;
        let mut written = self.before.clone();
        for chunk in self.states.chunks(MAX_OPS_PER_TXN - 1) {
            let mut conditions = fence.to_vec();
            conditions.push(Condition::ModRevision(topic_key.clone(), version));
            let mut ops = Vec::with_capacity(chunk.len() + 1);
            for (partition, state_version, state) in chunk {
                let key = keys.partition(self.after.id, *partition);
                conditions.push(Condition::ModRevision(key.clone(), *state_version));
                ops.push(Op::Put {
                    key,
                    value: serde_json::to_vec(state).unwrap_or_default(),
                    lease: None,
                });
                let index = *partition as usize;
                written.replicas[index] = self.after.replicas[index].clone();
            }
            ops.push(Op::Put {
                key: topic_key.clone(),
                value: serde_json::to_vec(&written).unwrap_or_default(),
                lease: None,
            });
            match kv.commit_at(conditions, ops).await? {
                Some(revision) => version = revision,
                None => return Ok(None),
            }
        }
        Ok(Some(version))
    }
}

/// The reassignments `image` allows the controller to complete, per topic.
pub fn plan_completions(image: &ClusterImage) -> Vec<Moves> {
    let mut planned = Vec::new();
    for (name, topic) in &image.topics {
        let Some(&version) = image.topic_versions.get(name) else {
            continue;
        };
        let mut after = topic.clone();
        let mut states = Vec::new();
        for (index, replicas) in topic.replicas.iter().enumerate() {
            let partition = index as i32;
            let Some(current) = image.partition(topic, partition) else {
                continue;
            };
            if let Some(done) = complete(replicas, &current.state, image) {
                after.replicas[index] = done.replicas;
                states.push((partition, current.version, done.state));
            }
        }
        if !states.is_empty() {
            planned.push(Moves {
                topic: name.clone(),
                before: topic.clone(),
                version,
                after,
                states,
            });
        }
    }
    planned
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cluster::memory::MemoryKv;
    use crate::cluster::stored_image;
    use crate::cluster::topics::{create_topic, NewTopic};

    fn state(leader: i32, isr: &[i32]) -> PartitionState {
        PartitionState {
            leader,
            leader_epoch: 5,
            isr: isr.to_vec(),
            leader_broker_epoch: 1,
            ..PartitionState::default()
        }
    }

    fn moving(leader: i32, isr: &[i32], adding: &[i32], removing: &[i32]) -> PartitionState {
        PartitionState {
            adding_replicas: adding.to_vec(),
            removing_replicas: removing.to_vec(),
            ..state(leader, isr)
        }
    }

    #[test]
    fn a_move_adds_the_target_then_completes_once_it_is_in_sync() {
        let image = ClusterImage::with_brokers(&[1, 2, 3, 4]);
        // [1, 2] to [3, 2]: 3 joins, 1 leaves; nobody left yet, so no new epoch.
        let started = reassign(&[1, 2], &state(1, &[1, 2]), &[3, 2], &image).unwrap();
        let expected = Assigned {
            replicas: vec![3, 2, 1],
            state: moving(1, &[1, 2], &[3], &[1]),
        };
        assert_eq!(started, expected);
        assert_eq!(complete(&started.replicas, &started.state, &image), None);

        // 3 caught up: the target replaces the list, its first in-sync replica leads (1
        // left), at a new epoch.
        let caught_up = moving(1, &[1, 2, 3], &[3], &[1]);
        let done = complete(&[3, 2, 1], &caught_up, &image).unwrap();
        let led_by_3 = PartitionState {
            leader_epoch: 6,
            ..state(3, &[2, 3])
        };
        assert_eq!(
            done,
            Assigned {
                replicas: vec![3, 2],
                state: led_by_3
            }
        );
    }

    #[test]
    fn moves_that_need_no_new_replica_complete_at_once() {
        let image = ClusterImage::with_brokers(&[1, 2, 3]);
        // A reordering: same leader, same epoch, nothing in progress.
        let reordered = reassign(&[1, 2, 3], &state(1, &[1, 2, 3]), &[3, 1, 2], &image).unwrap();
        assert_eq!(reordered.replicas, [3, 1, 2]);
        assert_eq!(reordered.state, state(1, &[1, 2, 3]));
        // A shrink: the leader leaves, the first kept in-sync replica leads at a new epoch.
        let shrunk = reassign(&[1, 2, 3], &state(1, &[1, 2, 3]), &[3], &image).unwrap();
        assert_eq!(shrunk.replicas, [3]);
        assert_eq!(
            (
                shrunk.state.leader,
                shrunk.state.leader_epoch,
                shrunk.state.isr
            ),
            (3, 6, vec![3])
        );
        // A shrink to an out-of-sync replica waits for it.
        let waiting = reassign(&[1, 2], &state(1, &[1]), &[2], &image).unwrap();
        assert_eq!(waiting.replicas, [2, 1]);
        assert_eq!(waiting.state, moving(1, &[1], &[], &[1]));
    }

    #[test]
    fn targets_are_checked_as_kafka_checks_manual_assignments() {
        let image = ClusterImage::with_brokers(&[1, 2]);
        for bad in [&[][..], &[1, 1], &[1, 9]] {
            let refused = reassign(&[1], &state(1, &[1]), bad, &image);
            assert!(
                matches!(refused, Err(ReassignmentError::InvalidAssignment(_))),
                "{bad:?}: {refused:?}"
            );
        }
    }

    #[test]
    fn a_cancellation_reverts_to_the_original_replicas_and_needs_one_in_sync() {
        let image = ClusterImage::with_brokers(&[1, 2, 3]);
        assert_eq!(
            cancel(&[1, 2], &state(1, &[1, 2]), false, "t:0", &image),
            Err(ReassignmentError::NoneInProgress)
        );
        // [1, 2] → [3, 2] in progress, 3 in sync and leading.
        let in_progress = moving(3, &[1, 3], &[3], &[1]);
        let reverted = cancel(&[3, 2, 1], &in_progress, false, "t:0", &image).unwrap();
        assert_eq!(reverted.replicas, [2, 1]);
        assert_eq!(
            (
                reverted.state.leader,
                reverted.state.leader_epoch,
                reverted.state.isr
            ),
            (1, 6, vec![1])
        );
        // Only the added replica in sync: reverting is an unclean election.
        let only_added = moving(3, &[3], &[3], &[1]);
        assert!(matches!(
            cancel(&[3, 2, 1], &only_added, false, "t:0", &image),
            Err(ReassignmentError::InvalidAssignment(_))
        ));
        let unclean = cancel(&[3, 2, 1], &only_added, true, "t:0", &image).unwrap();
        assert_eq!((unclean.state.leader, unclean.state.isr), (2, vec![2]));
    }

    #[test]
    fn a_new_target_replaces_the_move_in_progress() {
        let image = ClusterImage::with_brokers(&[1, 2, 3, 4]);
        // [1, 2] → [3, 2] in progress, 3 in sync; now [4, 2]: 3 leaves at once, so the
        // epoch grows.
        let in_progress = moving(1, &[1, 2, 3], &[3], &[1]);
        let replaced = reassign(&[3, 2, 1], &in_progress, &[4, 2], &image).unwrap();
        assert_eq!(replaced.replicas, [4, 2, 1]);
        let expected = PartitionState {
            leader_epoch: 6,
            ..moving(1, &[1, 2], &[4], &[1])
        };
        assert_eq!(replaced.state, expected);
        // The same target again changes nothing.
        let again = reassign(&[4, 2, 1], &replaced.state, &[4, 2], &image).unwrap();
        assert_eq!(
            (again.replicas, again.state),
            (replaced.replicas, replaced.state)
        );
    }

    #[tokio::test]
    async fn the_controller_completes_moves_whose_new_replicas_are_in_sync() {
        let kv = Kv::Memory(Arc::new(MemoryKv::new()));
        let keys = Keys::new("/complete");
        let brokers = ClusterImage::with_brokers(&[1, 2, 3]);
        let new = NewTopic {
            name: "t".into(),
            partitions: 0,
            replication_factor: 0,
            assignment: Some(vec![vec![1], vec![2], vec![3]]),
            configs: BTreeMap::new(),
        };
        let topic = create_topic(&kv, &keys, &brokers, new).await.unwrap();
        let targets = [
            (0, Target::Replicas(vec![2])),
            (1, Target::Replicas(vec![3, 1])),
        ];
        alter_reassignments(&kv, &keys, &brokers, "t", &targets, false, false)
            .await
            .unwrap();
        let image = stored_image(&kv, &keys, &brokers).await;
        // Nothing new is in sync yet.
        assert_eq!(plan_completions(&image), []);

        // The new replicas of partitions 0 and 1 caught up: both complete in one change of
        // the topic.
        let mut caught_up = image.clone();
        for (partition, isr) in [(0, vec![1, 2]), (1, vec![1, 2, 3])] {
            let state = &mut caught_up
                .partitions
                .get_mut(&(topic.id, partition))
                .unwrap()
                .state;
            state.isr = isr;
        }
        let planned = plan_completions(&caught_up);
        assert_eq!(planned.len(), 1);
        assert_eq!(planned[0].after.replicas, [vec![2], vec![3, 1], vec![3]]);
        let leaders: Vec<(i32, i32)> = planned[0]
            .states
            .iter()
            .map(|(_, _, state)| (state.leader, state.leader_epoch))
            .collect();
        assert_eq!(leaders, [(2, 1), (3, 1)]);
        // Written against the store's versions, which the test's ISR change did not move.
        let written = planned[0].commit(&kv, &keys, &[]).await.unwrap();
        assert!(written.is_some());
        let done = stored_image(&kv, &keys, &brokers).await;
        assert_eq!(done.topics["t"].replicas, [vec![2], vec![3, 1], vec![3]]);
        assert!(done.partitions.values().all(|p| !in_progress(&p.state)));
        // A stale plan no longer applies.
        assert_eq!(planned[0].commit(&kv, &keys, &[]).await.unwrap(), None);
    }

    #[tokio::test]
    async fn requests_write_the_replica_list_and_the_state_together() {
        let kv = Kv::Memory(Arc::new(MemoryKv::new()));
        let keys = Keys::new("/moves");
        let brokers = ClusterImage::with_brokers(&[1, 2, 3]);
        let new = NewTopic {
            name: "t".into(),
            partitions: 0,
            replication_factor: 0,
            assignment: Some(vec![vec![1, 2], vec![2, 3]]),
            configs: BTreeMap::new(),
        };
        let topic = create_topic(&kv, &keys, &brokers, new).await.unwrap();
        let targets = [
            (0, Target::Replicas(vec![3, 2])),
            (1, Target::Cancel),
            (7, Target::Replicas(vec![1])),
        ];
        let outcomes = alter_reassignments(&kv, &keys, &brokers, "t", &targets, false, false)
            .await
            .unwrap()
            .outcomes;
        assert_eq!(outcomes[&0], Ok(()));
        assert_eq!(outcomes[&1], Err(ReassignmentError::NoneInProgress));
        assert_eq!(outcomes[&7], Err(unknown("t", 7)));
        let image = stored_image(&kv, &keys, &brokers).await;
        assert_eq!(image.topics["t"].replicas, [vec![3, 2, 1], vec![2, 3]]);
        let moved = &image.partition(&topic, 0).unwrap().state;
        assert_eq!(
            (&moved.adding_replicas, &moved.removing_replicas),
            (&vec![3], &vec![1])
        );

        let keep = [(0, Target::Replicas(vec![1, 2, 3]))];
        let refused = alter_reassignments(&kv, &keys, &image, "t", &keep, false, true).await;
        assert_eq!(
            refused.unwrap().outcomes[&0],
            Err(ReassignmentError::ReplicationFactorChange { from: 2, to: 3 })
        );
        let cancel = [(0, Target::Cancel)];
        let outcomes = alter_reassignments(&kv, &keys, &image, "t", &cancel, false, false)
            .await
            .unwrap()
            .outcomes;
        assert_eq!(outcomes[&0], Ok(()));
        let image = stored_image(&kv, &keys, &brokers).await;
        assert_eq!(image.topics["t"].replicas, [vec![2, 1], vec![2, 3]]);
        assert!(!in_progress(&image.partition(&topic, 0).unwrap().state));
        let gone = alter_reassignments(&kv, &keys, &image, "none", &cancel, false, false)
            .await
            .unwrap()
            .outcomes;
        assert_eq!(gone[&0], Err(unknown("none", 0)));
    }
}
