//! The group coordinator: every group's state machine behind one lock, the timer tick, and
//! offset commits made durable in `__consumer_offsets` before they are acknowledged.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use kafka_protocol::ResponseError;
use tokio::sync::oneshot;

use super::offsets::{self, CommittedOffset, OffsetSlot, OffsetStore, OffsetUpdate};
use super::state::{Group, GroupState, JoinRequest, JoinResponse, SyncRequest, SyncResponse};
use super::{group_record, GroupConfig, OFFSETS_TOPIC};
use crate::clock::SharedClock;
use crate::log::{AppendInfo, LogError, LogManager, Partition};
use crate::records::BatchView;

/// How often timers (sessions, rebalance deadlines, the initial delay) are checked.
const TICK: std::time::Duration = std::time::Duration::from_millis(20);

/// A group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: GroupState,
    /// Rebalances started since the broker loaded the group.
    pub rebalances: u64,
}

/// A member as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: bytes::Bytes,
    pub assignment: bytes::Bytes,
}

/// A group as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol_name: String,
    pub members: Vec<MemberDescription>,
}

/// Who is committing offsets, as OffsetCommit says.
#[derive(Debug, Clone)]
pub struct Committer {
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// Offset commits written to the log and waiting to become durable.
#[derive(Debug)]
pub struct AppendedCommit {
    log: Arc<Partition>,
    group_id: String,
    entries: Vec<OffsetUpdate>,
    appended: AppendInfo,
}

/// OffsetDelete's outcome: each partition's refusal (None: deleted), and the tombstones
/// appended for the deleted ones.
pub type OffsetDeletion = (
    Vec<(OffsetSlot, Option<ResponseError>)>,
    Option<AppendedCommit>,
);

/// The groups this broker coordinates: those of the `__consumer_offsets` partitions it has
/// loaded (all of them on a single node; in a cluster, those it leads).
#[derive(Debug)]
pub struct GroupCoordinator {
    config: GroupConfig,
    clock: SharedClock,
    logs: Arc<LogManager>,
    groups: Mutex<HashMap<String, Group>>,
    offsets: OffsetStore,
    /// The `__consumer_offsets` partitions whose groups and offsets are loaded.
    loaded: Mutex<BTreeSet<i32>>,
    /// When offset retention was last checked (`offsets.retention.check.interval.ms`).
    retention_checked_ms: std::sync::atomic::AtomicI64,
}

impl GroupCoordinator {
    /// A coordinator of no group yet: partitions are taken in with [`Self::load`].
    pub fn new(config: GroupConfig, clock: SharedClock, logs: Arc<LogManager>) -> Self {
        let now = clock.now_ms();
        Self {
            config,
            clock,
            logs,
            groups: Mutex::new(HashMap::new()),
            offsets: OffsetStore::default(),
            loaded: Mutex::new(BTreeSet::new()),
            retention_checked_ms: std::sync::atomic::AtomicI64::new(now),
        }
    }

    /// A single node's coordinator: every partition of `__consumer_offsets` (which must be
    /// open) loaded.
    pub fn open(
        config: GroupConfig,
        clock: SharedClock,
        logs: Arc<LogManager>,
    ) -> Result<Self, LogError> {
        let coordinator = Self::new(config, clock, logs);
        for partition in 0..config.offsets_topic_partitions {
            coordinator.load(partition)?;
        }
        Ok(coordinator)
    }

    /// Takes in the groups of `__consumer_offsets` partition `partition` by replaying it
    /// (its leader became this broker): their offsets and last metadata.
    pub fn load(&self, partition: i32) -> Result<(), LogError> {
        self.unload(partition);
        let snapshots = self.offsets.load(&self.logs, OFFSETS_TOPIC, partition)?;
        let now = self.clock.now_ms();
        let mut groups = self.lock();
        for (id, snapshot) in snapshots {
            let group = Group::restore(&id, snapshot, now);
            groups.insert(id, group);
        }
        self.loaded_partitions().insert(partition);
        Ok(())
    }

    /// Lets go of the groups of partition `partition` (another broker leads it now): their
    /// waiting members are answered NOT_COORDINATOR and look the new coordinator up.
    pub fn unload(&self, partition: i32) {
        self.loaded_partitions().remove(&partition);
        let in_partition = |group_id: &str| self.partition_of(group_id) == partition;
        self.lock().retain(|group_id, group| {
            let stays = !in_partition(group_id);
            if !stays {
                group.abandon_waiters(ResponseError::NotCoordinator);
            }
            stays
        });
        self.offsets.unload(partition, in_partition);
    }

    /// Whether `group_id`'s partition is loaded here (COORDINATOR_LOAD_IN_PROGRESS while
    /// its leader is this broker but it is not).
    pub fn is_loaded(&self, group_id: &str) -> bool {
        self.loaded_partitions()
            .contains(&self.partition_of(group_id))
    }

    fn loaded_partitions(&self) -> MutexGuard<'_, BTreeSet<i32>> {
        self.loaded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The `__consumer_offsets` partition of `group_id`.
    fn partition_of(&self, group_id: &str) -> i32 {
        offsets::partition_for(group_id, self.config.offsets_topic_partitions)
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Group>> {
        self.groups
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts a JoinGroup; the receiver resolves when the group answers.
    pub fn join(&self, group_id: &str, request: JoinRequest) -> oneshot::Receiver<JoinResponse> {
        let (waiter, answer) = oneshot::channel();
        let session = request.session_timeout_ms;
        let refuse = |error: ResponseError| JoinResponse::error(error, &request.member_id);
        if group_id.is_empty() {
            let _ = waiter.send(refuse(ResponseError::InvalidGroupId));
        } else if session < self.config.min_session_timeout_ms
            || session > self.config.max_session_timeout_ms
        {
            let _ = waiter.send(refuse(ResponseError::InvalidSessionTimeout));
        } else {
            self.with_group(group_id, true, |group, now| {
                group.join(request, waiter, now, &self.config)
            });
        }
        answer
    }

    /// Starts a SyncGroup; the receiver resolves when the leader's assignment is in.
    pub fn sync(&self, group_id: &str, request: SyncRequest) -> oneshot::Receiver<SyncResponse> {
        let (waiter, answer) = oneshot::channel();
        let mut waiter = Some(waiter);
        let known = self.with_group(group_id, false, |group, now| {
            if let Some(waiter) = waiter.take() {
                group.sync(request, waiter, now);
            }
        });
        if let (None, Some(waiter)) = (known, waiter) {
            let _ = waiter.send(SyncResponse::error(ResponseError::UnknownMemberId));
        }
        answer
    }

    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        generation_id: i32,
        instance_id: Option<&str>,
    ) -> Result<(), ResponseError> {
        self.with_group(group_id, false, |group, now| {
            group.heartbeat(member_id, generation_id, instance_id, now)
        })
        .unwrap_or(Err(ResponseError::UnknownMemberId))
    }

    /// Removes members; the outer error is for the whole request (unknown group).
    pub fn leave(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> Result<Vec<Result<(), ResponseError>>, ResponseError> {
        self.with_group(group_id, false, |group, now| {
            group.leave(members, now, &self.config)
        })
        .ok_or(ResponseError::UnknownMemberId)
    }

    /// Runs `operation` on a group (created if `create`), then records the group's metadata
    /// if the operation made it Stable or Empty.
    fn with_group<T>(
        &self,
        group_id: &str,
        create: bool,
        operation: impl FnOnce(&mut Group, i64) -> T,
    ) -> Option<T> {
        let now = self.clock.now_ms();
        let mut groups = self.lock();
        if create && !groups.contains_key(group_id) {
            groups.insert(group_id.to_owned(), Group::new(group_id));
        }
        let group = groups.get_mut(group_id)?;
        let before = (group.state(), group.generation_id());
        let result = operation(group, now);
        self.record_transition(group, before, now);
        Some(result)
    }

    /// Appends the group's metadata record when it has just become Stable or Empty. Not
    /// awaited: the next fsync of the partition makes it durable, and a lost record only
    /// makes members rejoin.
    fn record_transition(&self, group: &Group, before: (GroupState, i32), now: i64) {
        let after = (group.state(), group.generation_id());
        if after == before || !matches!(after.0, GroupState::Stable | GroupState::Empty) {
            return;
        }
        let record = (
            group_record::encode_key(&group.id),
            Some(group_record::encode_value(&group.snapshot(now))),
        );
        if let Err(error) = self.append_records(&group.id, vec![record], None) {
            tracing::error!(group = %group.id, %error, "writing group metadata failed");
        }
    }

    /// The `__consumer_offsets` partition that holds `group_id`'s records.
    fn offsets_log(&self, group_id: &str) -> Result<Arc<Partition>, LogError> {
        let partition = self.partition_of(group_id);
        self.logs
            .partition(OFFSETS_TOPIC, partition)
            .ok_or_else(|| {
                LogError::Io(std::io::Error::other(format!(
                    "{OFFSETS_TOPIC}-{partition} is not open"
                )))
            })
    }

    /// Appends records for `group_id` (as a transaction's with `producer`), when enough
    /// replicas are in sync to acknowledge them.
    fn append_records(
        &self,
        group_id: &str,
        records: Vec<(bytes::Bytes, Option<bytes::Bytes>)>,
        producer: Option<(i64, i16)>,
    ) -> Result<(Arc<Partition>, AppendInfo), LogError> {
        let log = self.offsets_log(group_id)?;
        log.check_in_sync_replicas()?;
        let batch = offsets::records_batch(records, producer, self.clock.now_ms())
            .map_err(|message| LogError::Io(std::io::Error::other(message)))?;
        let appended = log.append(&BatchView::parse(&batch)?)?;
        Ok((log, appended))
    }

    /// Waits until appended records are durable and, when the partition is replicated, on
    /// every in-sync replica (at most `offsets.commit.timeout.ms`).
    async fn stored(&self, log: &Partition, appended: &AppendInfo) -> Result<(), LogError> {
        let timeout = std::time::Duration::from_millis(self.config.offsets_commit_timeout_ms);
        log.wait_stored(appended, timeout).await
    }

    /// Runs until the process ends: calls [`GroupCoordinator::tick`] every `TICK`.
    pub async fn run_timers(&self) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.tick();
        }
    }

    /// Expires sessions and ends rebalances whose time is up; every
    /// `offsets.retention.check.interval.ms`, expires offsets and then forgets empty groups
    /// left with none. As in Kafka, an empty group stays listed (state Empty) until then.
    pub fn tick(&self) {
        let now = self.clock.now_ms();
        let mut groups = self.lock();
        for group in groups.values_mut() {
            let before = (group.state(), group.generation_id());
            group.tick(now, &self.config);
            self.record_transition(group, before, now);
        }
        drop(groups);
        let checked = self
            .retention_checked_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        if now - checked >= self.config.offsets_retention_check_interval_ms {
            self.retention_checked_ms
                .store(now, std::sync::atomic::Ordering::Relaxed);
            self.expire_offsets(now);
            self.lock()
                .retain(|group_id, group| !group.is_idle() || self.offsets.has_group(group_id));
        }
    }

    /// Deletes the offsets of groups nobody consumes with (KIP-211): an Empty group's offsets
    /// once it has been empty, and the offset unchanged, for `offsets.retention.minutes`; a
    /// group-less committer's offsets once they are that old.
    fn expire_offsets(&self, now: i64) {
        let retention = self.config.offsets_retention_ms;
        for group_id in self.offsets.groups() {
            let empty_since = match self.lock().get(&group_id) {
                Some(group) => match group.empty_since_ms() {
                    Some(since) => since,
                    None if group.is_idle() => i64::MIN,
                    None => continue,
                },
                None => i64::MIN,
            };
            let expired: Vec<OffsetUpdate> = self
                .offsets
                .group_offsets(&group_id)
                .into_iter()
                .filter(|(_, committed)| {
                    committed
                        .commit_timestamp_ms
                        .max(empty_since)
                        .saturating_add(retention)
                        <= now
                })
                .map(|(slot, _)| (slot, None))
                .collect();
            let count = expired.len();
            match self.append_commit(&group_id, expired) {
                Ok(Some(commit)) => {
                    self.offsets.apply(
                        &commit.group_id,
                        commit.entries,
                        commit.appended.base_offset,
                    );
                    tracing::info!(group = %group_id, count, "expired committed offsets");
                }
                Ok(None) => {}
                Err(error) => tracing::error!(group = %group_id, %error, "expiring offsets failed"),
            }
        }
    }

    /// Answers every waiting JoinGroup/SyncGroup with NOT_COORDINATOR, so that a shutting
    /// down broker does not hold connections open for a rebalance timeout.
    pub fn shutdown(&self) {
        for group in self.lock().values_mut() {
            group.abandon_waiters(ResponseError::NotCoordinator);
        }
    }

    /// Checks whether `committer` may commit for `group_id` (Kafka's rules, including simple
    /// group-less commits with generation -1).
    pub fn check_commit(&self, group_id: &str, committer: &Committer) -> Result<(), ResponseError> {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        let groups = self.lock();
        let Some(group) = groups.get(group_id) else {
            return if committer.generation_id < 0 {
                Ok(())
            } else {
                Err(ResponseError::IllegalGeneration)
            };
        };
        if group.is_fenced(&committer.member_id, committer.group_instance_id.as_deref()) {
            return Err(ResponseError::FencedInstanceId);
        }
        if committer.generation_id < 0 && group.state() == GroupState::Empty {
            return Ok(());
        }
        if !group.has_member(&committer.member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        if committer.generation_id != group.generation_id() {
            return Err(ResponseError::IllegalGeneration);
        }
        match group.state() {
            GroupState::CompletingRebalance => Err(ResponseError::RebalanceInProgress),
            _ => Ok(()),
        }
    }

    /// Writes commits to `__consumer_offsets`. Called in the dispatch stage, so commits are
    /// logged in request order; [`GroupCoordinator::complete_commit`] then waits for them.
    pub fn append_commit(
        &self,
        group_id: &str,
        entries: Vec<OffsetUpdate>,
    ) -> Result<Option<AppendedCommit>, LogError> {
        if entries.is_empty() {
            return Ok(None);
        }
        let records = entries.iter().map(|((topic, partition), committed)| {
            (
                offsets::encode_key(group_id, topic, *partition),
                committed.as_ref().map(offsets::encode_value),
            )
        });
        let (log, appended) = self.append_records(group_id, records.collect(), None)?;
        Ok(Some(AppendedCommit {
            log,
            group_id: group_id.to_owned(),
            entries,
            appended,
        }))
    }

    /// Deletes an empty group and its committed offsets (tombstones, appended now).
    pub fn delete_group(&self, group_id: &str) -> Result<Option<AppendedCommit>, ResponseError> {
        {
            let mut groups = self.lock();
            match groups.get(group_id) {
                Some(group) if group.state() != GroupState::Empty => {
                    return Err(ResponseError::NonEmptyGroup)
                }
                None if !self.offsets.has_group(group_id) => {
                    return Err(ResponseError::GroupIdNotFound)
                }
                _ => {}
            }
            groups.remove(group_id);
        }
        if let Err(error) = self.append_records(
            group_id,
            vec![(group_record::encode_key(group_id), None)],
            None,
        ) {
            tracing::error!(group = %group_id, %error, "writing the group tombstone failed");
            return Err(super::coordinator_write_error(&error));
        }
        let tombstones = self
            .offsets
            .group_offsets(group_id)
            .into_iter()
            .map(|(slot, _)| (slot, None))
            .collect();
        self.append_commit(group_id, tombstones).map_err(|error| {
            tracing::error!(group = %group_id, %error, "writing group tombstones failed");
            super::coordinator_write_error(&error)
        })
    }

    /// Deletes committed offsets of partitions the group does not consume (OffsetDelete);
    /// the per-partition answer is None when the offset is deleted.
    pub fn delete_offsets(
        &self,
        group_id: &str,
        slots: Vec<OffsetSlot>,
    ) -> Result<OffsetDeletion, ResponseError> {
        let subscribed = {
            let groups = self.lock();
            match groups.get(group_id) {
                None if !self.offsets.has_group(group_id) => {
                    return Err(ResponseError::GroupIdNotFound)
                }
                Some(group) if group.state() != GroupState::Empty => {
                    Some(group.subscribed_topics())
                }
                _ => None,
            }
        };
        let results: Vec<(OffsetSlot, Option<ResponseError>)> = slots
            .into_iter()
            .map(|slot| {
                let in_use = match &subscribed {
                    Some(Some(topics)) => topics.contains(&slot.0),
                    Some(None) => true,
                    None => false,
                };
                let error = in_use.then_some(ResponseError::GroupSubscribedToTopic);
                (slot, error)
            })
            .collect();
        let tombstones = results
            .iter()
            .filter(|(_, error)| error.is_none())
            .map(|(slot, _)| (slot.clone(), None))
            .collect();
        let appended = self.append_commit(group_id, tombstones).map_err(|error| {
            tracing::error!(group = %group_id, %error, "writing offset tombstones failed");
            super::coordinator_write_error(&error)
        })?;
        Ok((results, appended))
    }

    /// TxnOffsetCommit: writes the commits as part of `producer_id`'s transaction and keeps
    /// them pending until the transaction's marker (see [`Self::complete_transaction`]).
    pub async fn commit_transactional(
        &self,
        group_id: &str,
        producer_id: i64,
        epoch: i16,
        entries: Vec<OffsetUpdate>,
    ) -> Result<(), LogError> {
        if entries.is_empty() {
            return Ok(());
        }
        let records: Vec<_> = entries
            .iter()
            .map(|((topic, partition), committed)| {
                (
                    offsets::encode_key(group_id, topic, *partition),
                    committed.as_ref().map(offsets::encode_value),
                )
            })
            .collect();
        let (log, appended) = self.append_records(group_id, records, Some((producer_id, epoch)))?;
        self.stored(&log, &appended).await?;
        for (update, log_offset) in entries.into_iter().zip(appended.base_offset..) {
            let pending = offsets::PendingCommit {
                group_id: group_id.to_owned(),
                update,
                partition: log.index(),
                log_offset,
            };
            self.offsets.add_pending(producer_id, pending);
        }
        Ok(())
    }

    /// A transaction's marker was written into `__consumer_offsets` partition `partition`:
    /// its pending offset commits there take effect (commit) or vanish.
    pub fn complete_transaction(&self, producer_id: i64, partition: i32, commit: bool) {
        self.offsets
            .complete_transaction(producer_id, partition, commit);
    }

    /// Waits until an appended commit is stored (see [`Self::stored`]), then makes it
    /// visible to OffsetFetch.
    pub async fn complete_commit(&self, commit: AppendedCommit) -> Result<(), LogError> {
        self.stored(&commit.log, &commit.appended).await?;
        self.offsets.apply(
            &commit.group_id,
            commit.entries,
            commit.appended.base_offset,
        );
        Ok(())
    }

    /// The committed offset of one partition, if any.
    pub fn committed(
        &self,
        group_id: &str,
        topic: &str,
        partition: i32,
    ) -> Option<CommittedOffset> {
        self.offsets.get(group_id, topic, partition)
    }

    /// Whether an open transaction commits an offset of the group's partition.
    pub fn has_pending_commit(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        self.offsets.has_pending(group_id, topic, partition)
    }

    /// Every committed offset of a group.
    pub fn group_offsets(&self, group_id: &str) -> Vec<(OffsetSlot, CommittedOffset)> {
        self.offsets.group_offsets(group_id)
    }

    /// Every group, live or known only by its committed offsets, sorted by id (ListGroups).
    pub fn list_groups(&self) -> Vec<GroupListing> {
        let groups = self.lock();
        let mut listings: Vec<GroupListing> = groups
            .values()
            .map(|group| GroupListing {
                group_id: group.id.clone(),
                protocol_type: group.protocol_type().unwrap_or("consumer").to_owned(),
                state: group.state(),
                rebalances: group.rebalances(),
            })
            .collect();
        for group_id in self.offsets.groups() {
            if !groups.contains_key(&group_id) {
                listings.push(GroupListing {
                    group_id,
                    protocol_type: "consumer".to_owned(),
                    state: GroupState::Empty,
                    rebalances: 0,
                });
            }
        }
        listings.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        listings
    }

    /// A group's description; `Dead` with no members for an unknown group, as Kafka answers.
    pub fn describe(&self, group_id: &str) -> GroupDescription {
        let groups = self.lock();
        let Some(group) = groups.get(group_id) else {
            let state = if self.offsets.has_group(group_id) {
                GroupState::Empty
            } else {
                GroupState::Dead
            };
            let protocol_type = if state == GroupState::Empty {
                "consumer"
            } else {
                ""
            };
            return GroupDescription {
                state,
                protocol_type: protocol_type.to_owned(),
                protocol_name: String::new(),
                members: Vec::new(),
            };
        };
        let protocol_name = group.protocol_name().unwrap_or_default().to_owned();
        let stable = matches!(group.state(), GroupState::Stable);
        let members = group
            .members()
            .map(|member| MemberDescription {
                member_id: member.id.clone(),
                group_instance_id: member.group_instance_id.clone(),
                client_id: member.client_id.clone(),
                client_host: member.client_host.clone(),
                metadata: member
                    .protocols
                    .iter()
                    .find(|(name, _)| *name == protocol_name)
                    .map(|(_, m)| m.clone())
                    .unwrap_or_default(),
                assignment: if stable {
                    member.assignment.clone()
                } else {
                    bytes::Bytes::new()
                },
            })
            .collect();
        GroupDescription {
            state: group.state(),
            protocol_type: group.protocol_type().unwrap_or_default().to_owned(),
            protocol_name,
            members,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::log::partition::testing::test_config;
    use crate::log::LogConfig;

    const MINUTE: i64 = 60_000;

    fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> GroupCoordinator {
        // Kafka's defaults, but two partitions, offsets kept for a minute and no join delay.
        let config = GroupConfig {
            initial_rebalance_delay_ms: 0,
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            offsets_topic_partitions: 2,
            offsets_topic_replication_factor: 1,
            offsets_commit_timeout_ms: 5_000,
            offset_metadata_max_bytes: 4_096,
            offsets_retention_ms: MINUTE,
            offsets_retention_check_interval_ms: 1_000,
        };
        let logs = Arc::new(LogManager::open(dir, clock.clone()).unwrap());
        let log_config = Arc::new(LogConfig {
            segment_bytes: 1 << 20,
            ..test_config()
        });
        logs.open_topic(OFFSETS_TOPIC, uuid::Uuid::from_u128(1), 0..2, &log_config)
            .unwrap();
        GroupCoordinator::open(config, clock.clone(), logs).unwrap()
    }

    #[tokio::test]
    async fn a_partition_let_go_of_is_forgotten_and_loaded_again_from_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(10 * MINUTE));
        let coordinator = open(dir.path(), &clock);
        let committed = |offset: i64| CommittedOffset {
            offset,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: clock.now_ms(),
        };
        for (group, offset) in [("a", 3), ("b", 4), ("c", 5)] {
            let commit = coordinator
                .append_commit(group, vec![(("t".into(), 0), Some(committed(offset)))])
                .unwrap()
                .unwrap();
            coordinator.complete_commit(commit).await.unwrap();
        }
        let partition = coordinator.partition_of("a");
        let moved: Vec<&str> = ["a", "b", "c"]
            .into_iter()
            .filter(|group| coordinator.partition_of(group) == partition)
            .collect();
        let stayed: Vec<&str> = ["a", "b", "c"]
            .into_iter()
            .filter(|group| coordinator.partition_of(group) != partition)
            .collect();
        assert!(!stayed.is_empty(), "two partitions hold the three groups");

        coordinator.unload(partition);
        for group in &moved {
            assert!(!coordinator.is_loaded(group));
            assert_eq!(coordinator.committed(group, "t", 0), None);
        }
        for group in &stayed {
            assert!(coordinator.is_loaded(group));
            assert!(coordinator.committed(group, "t", 0).is_some());
        }

        coordinator.load(partition).unwrap();
        coordinator.load(partition).unwrap();
        for (group, offset) in [("a", 3), ("b", 4), ("c", 5)] {
            assert!(coordinator.is_loaded(group));
            let found = coordinator.committed(group, "t", 0).map(|c| c.offset);
            assert_eq!(found, Some(offset), "{group}");
        }
    }

    #[tokio::test]
    async fn a_follower_log_refuses_commits_as_not_leading() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(10 * MINUTE));
        let coordinator = open(dir.path(), &clock);
        let log = coordinator.offsets_log("g").unwrap();
        log.follow();
        let committed = CommittedOffset {
            offset: 1,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: clock.now_ms(),
        };
        let refused = coordinator
            .append_commit("g", vec![(("t".into(), 0), Some(committed))])
            .unwrap_err();
        assert!(matches!(refused, LogError::NotLeading), "{refused}");
        assert_eq!(
            crate::group::coordinator_write_error(&refused),
            ResponseError::NotCoordinator
        );
    }

    #[tokio::test]
    async fn group_less_offsets_expire_after_retention_and_stay_gone() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(10 * MINUTE));
        let coordinator = open(dir.path(), &clock);
        let committed = CommittedOffset {
            offset: 5,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: clock.now_ms(),
        };
        let commit = coordinator
            .append_commit("standalone", vec![(("t".into(), 0), Some(committed))])
            .unwrap()
            .unwrap();
        coordinator.complete_commit(commit).await.unwrap();
        clock.advance(MINUTE - 1_000);
        coordinator.tick();
        assert_eq!(
            coordinator
                .committed("standalone", "t", 0)
                .map(|c| c.offset),
            Some(5)
        );
        clock.advance(2_000);
        coordinator.tick();
        assert_eq!(coordinator.committed("standalone", "t", 0), None, "expired");
        assert!(coordinator.list_groups().is_empty());
        drop(coordinator);
        let reopened = open(dir.path(), &clock);
        assert_eq!(
            reopened.committed("standalone", "t", 0),
            None,
            "the tombstone was replayed"
        );
    }

    #[tokio::test]
    async fn an_active_group_keeps_its_offsets_until_it_has_been_empty_for_retention() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(10 * MINUTE));
        let coordinator = open(dir.path(), &clock);
        let join = JoinRequest {
            member_id: String::new(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 10 * MINUTE as i32,
            rebalance_timeout_ms: MINUTE as i32,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), bytes::Bytes::new())],
            require_known_member_id: false,
        };
        let joined = coordinator.join("active", join).await.unwrap();
        let sync = SyncRequest {
            member_id: joined.member_id.clone(),
            generation_id: joined.generation_id,
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments: Vec::new(),
        };
        assert_eq!(coordinator.sync("active", sync).await.unwrap().error, None);
        let committed = CommittedOffset {
            offset: 9,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: clock.now_ms(),
        };
        let commit = coordinator
            .append_commit("active", vec![(("t".into(), 1), Some(committed))])
            .unwrap()
            .unwrap();
        coordinator.complete_commit(commit).await.unwrap();
        clock.advance(2 * MINUTE);
        coordinator.tick();
        assert!(
            coordinator.committed("active", "t", 1).is_some(),
            "a group with members keeps its offsets"
        );
        coordinator
            .leave("active", &[(joined.member_id.clone(), None)])
            .unwrap();
        clock.advance(MINUTE - 1_000);
        coordinator.tick();
        assert!(
            coordinator.committed("active", "t", 1).is_some(),
            "empty for less than the retention"
        );
        clock.advance(2_000);
        coordinator.tick();
        assert_eq!(coordinator.committed("active", "t", 1), None);
    }
}
