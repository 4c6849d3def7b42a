//! The group coordinator: every group's state machine behind one lock, the timer tick, and
//! offset commits made durable in `__consumer_offsets` before they are acknowledged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use kafka_protocol::ResponseError;
use tokio::sync::oneshot;

use super::offsets::{self, CommittedOffset, OffsetSlot, OffsetStore, OffsetUpdate};
use super::state::{Group, GroupState, JoinRequest, JoinResponse, SyncRequest, SyncResponse};
use super::{GroupConfig, OFFSETS_TOPIC};
use crate::clock::SharedClock;
use crate::log::{LogError, LogManager, Partition};
use crate::records::BatchView;

/// How often timers (sessions, rebalance deadlines, the initial delay) are checked.
const TICK: std::time::Duration = std::time::Duration::from_millis(20);

/// A group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: GroupState,
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
    first_log_offset: i64,
}

/// OffsetDelete's outcome: each partition's refusal (None: deleted), and the tombstones
/// appended for the deleted ones.
pub type OffsetDeletion = (
    Vec<(OffsetSlot, Option<ResponseError>)>,
    Option<AppendedCommit>,
);

/// All groups of this broker.
#[derive(Debug)]
pub struct GroupCoordinator {
    config: GroupConfig,
    clock: SharedClock,
    logs: Arc<LogManager>,
    groups: Mutex<HashMap<String, Group>>,
    offsets: OffsetStore,
}

impl GroupCoordinator {
    /// Rebuilds committed offsets from `__consumer_offsets` (which must be open).
    pub fn open(
        config: GroupConfig,
        clock: SharedClock,
        logs: Arc<LogManager>,
    ) -> Result<Self, LogError> {
        let offsets = OffsetStore::replay(&logs, OFFSETS_TOPIC, config.offsets_topic_partitions)?;
        Ok(Self {
            config,
            clock,
            logs,
            groups: Mutex::new(HashMap::new()),
            offsets,
        })
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
        let refuse = |error: ResponseError| JoinResponse {
            error: Some(error),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader_id: String::new(),
            member_id: request.member_id.clone(),
            members: Vec::new(),
            skip_assignment: false,
        };
        if group_id.is_empty() {
            let _ = waiter.send(refuse(ResponseError::InvalidGroupId));
        } else if session < self.config.min_session_timeout_ms
            || session > self.config.max_session_timeout_ms
        {
            let _ = waiter.send(refuse(ResponseError::InvalidSessionTimeout));
        } else {
            let now = self.clock.now_ms();
            let mut groups = self.lock();
            let group = groups
                .entry(group_id.to_owned())
                .or_insert_with(|| Group::new(group_id));
            group.join(request, waiter, now, &self.config);
        }
        answer
    }

    /// Starts a SyncGroup; the receiver resolves when the leader's assignment is in.
    pub fn sync(&self, group_id: &str, request: SyncRequest) -> oneshot::Receiver<SyncResponse> {
        let (waiter, answer) = oneshot::channel();
        let now = self.clock.now_ms();
        match self.lock().get_mut(group_id) {
            Some(group) => group.sync(request, waiter, now),
            None => {
                let _ = waiter.send(SyncResponse {
                    error: Some(ResponseError::UnknownMemberId),
                    protocol_type: None,
                    protocol_name: None,
                    assignment: bytes::Bytes::new(),
                });
            }
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
        let now = self.clock.now_ms();
        match self.lock().get_mut(group_id) {
            Some(group) => group.heartbeat(member_id, generation_id, instance_id, now),
            None => Err(ResponseError::UnknownMemberId),
        }
    }

    /// Removes members; the outer error is for the whole request (unknown group).
    pub fn leave(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> Result<Vec<Result<(), ResponseError>>, ResponseError> {
        let now = self.clock.now_ms();
        match self.lock().get_mut(group_id) {
            Some(group) => Ok(group.leave(members, now, &self.config)),
            None => Err(ResponseError::UnknownMemberId),
        }
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

    /// Expires sessions and ends rebalances whose time is up; forgets empty groups that have
    /// no committed offsets.
    pub fn tick(&self) {
        let now = self.clock.now_ms();
        let mut groups = self.lock();
        for group in groups.values_mut() {
            group.tick(now, &self.config);
        }
        groups.retain(|group_id, group| !group.is_idle() || self.offsets.has_group(group_id));
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
        let partition = offsets::partition_for(group_id, self.config.offsets_topic_partitions);
        let log = self
            .logs
            .partition(OFFSETS_TOPIC, partition)
            .ok_or_else(|| {
                LogError::Io(std::io::Error::other(format!(
                    "{OFFSETS_TOPIC}-{partition} is not open"
                )))
            })?;
        let batch = offsets::offsets_batch(group_id, &entries, self.clock.now_ms())
            .map_err(|message| LogError::Io(std::io::Error::other(message)))?;
        let appended = log.append(&BatchView::parse(&batch)?)?;
        Ok(Some(AppendedCommit {
            log,
            group_id: group_id.to_owned(),
            entries,
            first_log_offset: appended.base_offset,
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
        let tombstones = self
            .offsets
            .group_offsets(group_id)
            .into_iter()
            .map(|(slot, _)| (slot, None))
            .collect();
        self.append_commit(group_id, tombstones).map_err(|error| {
            tracing::error!(group = %group_id, %error, "writing group tombstones failed");
            ResponseError::CoordinatorNotAvailable
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
            ResponseError::CoordinatorNotAvailable
        })?;
        Ok((results, appended))
    }

    /// Waits until an appended commit is durable, then makes it visible to OffsetFetch.
    pub async fn complete_commit(&self, commit: AppendedCommit) -> Result<(), LogError> {
        let end = commit.first_log_offset + commit.entries.len() as i64;
        commit.log.flush(end).await?;
        self.offsets
            .apply(&commit.group_id, commit.entries, commit.first_log_offset);
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

    /// Every committed offset of a group.
    pub fn group_offsets(&self, group_id: &str) -> Vec<(OffsetSlot, CommittedOffset)> {
        self.offsets.group_offsets(group_id)
    }

    /// Whether the group is mid-rebalance (OffsetFetch `require_stable` has nothing pending
    /// without transactions, so only unknown groups and states matter there).
    pub fn list_groups(&self) -> Vec<GroupListing> {
        let groups = self.lock();
        let mut listings: Vec<GroupListing> = groups
            .values()
            .map(|group| GroupListing {
                group_id: group.id.clone(),
                protocol_type: group.protocol_type().unwrap_or("consumer").to_owned(),
                state: group.state(),
            })
            .collect();
        for group_id in self.offsets.groups() {
            if !groups.contains_key(&group_id) {
                listings.push(GroupListing {
                    group_id,
                    protocol_type: "consumer".to_owned(),
                    state: GroupState::Empty,
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
