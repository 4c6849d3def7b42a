//! One consumer group's state machine (Kafka's classic protocol): Empty → PreparingRebalance →
//! CompletingRebalance → Stable, with KIP-394 member ids, KIP-345 static members and
//! session/rebalance timers. Pure and synchronous: every call takes `now`; JoinGroup and
//! SyncGroup callers leave a oneshot sender that is answered when the group gets there.

use std::collections::HashMap;

use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::ResponseError;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::group_record::{GroupSnapshot, MemberSnapshot};
use super::{consumer_protocol, GroupConfig};

/// Where a group is in the rebalance protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// Kafka's name for the state, as ListGroups/DescribeGroups report it.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// A JoinGroup request, as the state machine needs it.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    /// Protocol names with their metadata, in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a new dynamic member first gets MEMBER_ID_REQUIRED (KIP-394).
    pub require_known_member_id: bool,
}

/// A member as listed to the leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

/// The answer to a JoinGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResponse {
    pub error: Option<ResponseError>,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader_id: String,
    pub member_id: String,
    /// Every member, for the leader only.
    pub members: Vec<JoinedMember>,
    /// KIP-345: a static leader rejoining a stable group keeps the current assignment.
    pub skip_assignment: bool,
}

impl JoinResponse {
    /// An answer carrying only `error` (and the member id, for MEMBER_ID_REQUIRED).
    pub fn error(error: ResponseError, member_id: &str) -> Self {
        Self {
            error: Some(error),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader_id: String::new(),
            member_id: member_id.to_owned(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

/// The answer to a SyncGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResponse {
    pub error: Option<ResponseError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResponse {
    /// An answer carrying only `error`.
    pub fn error(error: ResponseError) -> Self {
        Self {
            error: Some(error),
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

pub type JoinWaiter = oneshot::Sender<JoinResponse>;
pub type SyncWaiter = oneshot::Sender<SyncResponse>;

/// A SyncGroup request, as the state machine needs it.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub member_id: String,
    pub generation_id: i32,
    pub group_instance_id: Option<String>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

/// One member of a group.
#[derive(Debug)]
pub struct Member {
    pub id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    join_waiter: Option<JoinWaiter>,
    sync_waiter: Option<SyncWaiter>,
    last_heartbeat_ms: i64,
}

impl Member {
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata.clone())
            .unwrap_or_default()
    }

    /// Kept alive while it waits for a JoinGroup or SyncGroup answer.
    fn is_waiting(&self) -> bool {
        self.join_waiter.is_some() || self.sync_waiter.is_some()
    }
}

/// A consumer group.
#[derive(Debug)]
pub struct Group {
    pub id: String,
    state: GroupState,
    generation_id: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader_id: Option<String>,
    /// In join order; the first is leader when a new one is needed.
    members: IndexMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED and their expiry time.
    pending_members: HashMap<String, i64>,
    /// group.instance.id → member id.
    static_members: HashMap<String, String>,
    rebalance_deadline_ms: i64,
    /// While set, the first rebalance of an empty group waits for more members.
    initial_delay_until_ms: Option<i64>,
    initial_delay_started_ms: i64,
    /// When the group last became Empty (for offset retention, KIP-211).
    empty_since_ms: Option<i64>,
    /// Rebalances started since the group was loaded (metrics).
    rebalances: u64,
}

impl Group {
    /// Rebalances this group started since it was loaded.
    pub fn rebalances(&self) -> u64 {
        self.rebalances
    }

    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            state: GroupState::Empty,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: IndexMap::new(),
            pending_members: HashMap::new(),
            static_members: HashMap::new(),
            rebalance_deadline_ms: 0,
            initial_delay_until_ms: None,
            initial_delay_started_ms: 0,
            empty_since_ms: None,
            rebalances: 0,
        }
    }

    /// When the group became Empty, if it is.
    pub fn empty_since_ms(&self) -> Option<i64> {
        self.empty_since_ms
            .filter(|_| self.state == GroupState::Empty)
    }

    /// What a group metadata record stores of this group.
    pub fn snapshot(&self, now: i64) -> GroupSnapshot {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        GroupSnapshot {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation_id: self.generation_id,
            protocol_name: self.protocol_name.clone(),
            leader_id: self.leader_id.clone(),
            state_timestamp_ms: now,
            members: self
                .members
                .values()
                .map(|member| MemberSnapshot {
                    member_id: member.id.clone(),
                    group_instance_id: member.group_instance_id.clone(),
                    client_id: member.client_id.clone(),
                    client_host: member.client_host.clone(),
                    rebalance_timeout_ms: member.rebalance_timeout_ms,
                    session_timeout_ms: member.session_timeout_ms,
                    subscription: member.metadata_for(&protocol),
                    assignment: member.assignment.clone(),
                })
                .collect(),
        }
    }

    /// Rebuilds a group from its last metadata record: Stable with its members (who have a
    /// session timeout from `now` to heartbeat again) or Empty.
    pub fn restore(id: &str, snapshot: GroupSnapshot, now: i64) -> Self {
        let mut group = Self::new(id);
        group.generation_id = snapshot.generation_id;
        if snapshot.members.is_empty() {
            group.empty_since_ms = Some(snapshot.state_timestamp_ms);
            return group;
        }
        let protocol = snapshot.protocol_name.clone().unwrap_or_default();
        for member in snapshot.members {
            if let Some(instance) = &member.group_instance_id {
                group
                    .static_members
                    .insert(instance.clone(), member.member_id.clone());
            }
            group.members.insert(
                member.member_id.clone(),
                Member {
                    id: member.member_id,
                    group_instance_id: member.group_instance_id,
                    client_id: member.client_id,
                    client_host: member.client_host,
                    session_timeout_ms: member.session_timeout_ms,
                    rebalance_timeout_ms: member.rebalance_timeout_ms,
                    protocols: vec![(protocol.clone(), member.subscription)],
                    assignment: member.assignment,
                    join_waiter: None,
                    sync_waiter: None,
                    last_heartbeat_ms: now,
                },
            );
        }
        group.state = GroupState::Stable;
        group.protocol_type = Some(snapshot.protocol_type);
        group.protocol_name = snapshot.protocol_name;
        group.leader_id = snapshot
            .leader_id
            .filter(|leader| group.members.contains_key(leader));
        group
    }

    pub fn state(&self) -> GroupState {
        self.state
    }
    pub fn generation_id(&self) -> i32 {
        self.generation_id
    }
    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }
    pub fn protocol_name(&self) -> Option<&str> {
        self.protocol_name.as_deref()
    }
    pub fn leader_id(&self) -> Option<&str> {
        self.leader_id.as_deref()
    }
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }
    /// Empty with nobody about to join: the group can be forgotten if it has no offsets.
    pub fn is_idle(&self) -> bool {
        self.state == GroupState::Empty
            && self.members.is_empty()
            && self.pending_members.is_empty()
    }

    /// Answers every waiting JoinGroup and SyncGroup with `error` (the coordinator is going
    /// away); members rejoin wherever the group is coordinated next.
    pub fn abandon_waiters(&mut self, error: ResponseError) {
        for member in self.members.values_mut() {
            if let Some(waiter) = member.join_waiter.take() {
                let _ = waiter.send(JoinResponse::error(error, &member.id));
            }
            if let Some(waiter) = member.sync_waiter.take() {
                let _ = waiter.send(SyncResponse::error(error));
            }
        }
    }

    pub fn has_member(&self, member_id: &str) -> bool {
        self.members.contains_key(member_id)
    }

    /// Topics the members subscribe to; `None` when that cannot be known (another protocol
    /// type, or unreadable metadata), which callers treat as "possibly any topic".
    pub fn subscribed_topics(&self) -> Option<std::collections::HashSet<String>> {
        if self.protocol_type.as_deref() != Some(consumer_protocol::CONSUMER_PROTOCOL_TYPE) {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = std::collections::HashSet::new();
        for member in self.members.values() {
            topics.extend(consumer_protocol::subscription_topics(
                &member.metadata_for(protocol),
            )?);
        }
        Some(topics)
    }

    /// Whether `instance_id` is bound to a member other than `member_id` (KIP-345).
    pub fn is_fenced(&self, member_id: &str, instance_id: Option<&str>) -> bool {
        instance_id
            .and_then(|instance| self.static_members.get(instance))
            .is_some_and(|bound| bound != member_id)
    }

    /// Protocol names every member supports.
    fn common_protocols(&self) -> Vec<String> {
        let mut members = self.members.values();
        let Some(first) = members.next() else {
            return Vec::new();
        };
        let mut common: Vec<String> = first
            .protocols
            .iter()
            .map(|(name, _)| name.clone())
            .collect();
        for member in members {
            common.retain(|name| member.protocols.iter().any(|(other, _)| other == name));
        }
        common
    }

    fn accepts(&self, request: &JoinRequest) -> bool {
        if request.protocol_type.is_empty() || request.protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        let common = self.common_protocols();
        self.protocol_type.as_deref() == Some(request.protocol_type.as_str())
            && request
                .protocols
                .iter()
                .any(|(name, _)| common.contains(name))
    }

    /// Handles a JoinGroup; `waiter` is answered now or when the rebalance completes.
    pub fn join(
        &mut self,
        request: JoinRequest,
        waiter: JoinWaiter,
        now: i64,
        config: &GroupConfig,
    ) {
        if self.state == GroupState::Dead {
            let _ = waiter.send(JoinResponse::error(
                ResponseError::CoordinatorNotAvailable,
                &request.member_id,
            ));
            return;
        }
        if !self.accepts(&request) {
            let _ = waiter.send(JoinResponse::error(
                ResponseError::InconsistentGroupProtocol,
                &request.member_id,
            ));
            return;
        }
        if request.member_id.is_empty() {
            self.join_new_member(request, waiter, now, config);
        } else {
            self.join_known_member(request, waiter, now, config);
        }
        self.try_complete_join(now);
    }

    fn join_new_member(
        &mut self,
        request: JoinRequest,
        waiter: JoinWaiter,
        now: i64,
        config: &GroupConfig,
    ) {
        let prefix = request
            .group_instance_id
            .as_deref()
            .unwrap_or(&request.client_id);
        let member_id = format!("{prefix}-{}", Uuid::new_v4());
        if let Some(instance) = request.group_instance_id.clone() {
            if let Some(old_id) = self.static_members.get(&instance).cloned() {
                self.replace_static_member(&old_id, member_id, request, waiter, now, config);
                return;
            }
            self.static_members.insert(instance, member_id.clone());
        } else if request.require_known_member_id {
            let expiry = now + i64::from(request.session_timeout_ms);
            self.pending_members.insert(member_id.clone(), expiry);
            let _ = waiter.send(JoinResponse::error(
                ResponseError::MemberIdRequired,
                &member_id,
            ));
            return;
        }
        self.add_member(member_id, request, waiter, now, config);
    }

    fn join_known_member(
        &mut self,
        request: JoinRequest,
        waiter: JoinWaiter,
        now: i64,
        config: &GroupConfig,
    ) {
        let member_id = request.member_id.clone();
        if self.is_fenced(&member_id, request.group_instance_id.as_deref()) {
            let _ = waiter.send(JoinResponse::error(
                ResponseError::FencedInstanceId,
                &member_id,
            ));
            return;
        }
        if self.pending_members.remove(&member_id).is_some() {
            self.add_member(member_id, request, waiter, now, config);
            return;
        }
        let Some(member) = self.members.get_mut(&member_id) else {
            let _ = waiter.send(JoinResponse::error(
                ResponseError::UnknownMemberId,
                &member_id,
            ));
            return;
        };
        member.last_heartbeat_ms = now;
        let resend = member.protocols == request.protocols
            && match self.state {
                GroupState::CompletingRebalance => true,
                // A leader rejoining a stable group wants a new assignment round.
                GroupState::Stable => self.leader_id.as_deref() != Some(member_id.as_str()),
                _ => false,
            };
        if resend {
            // Nothing changed: the member probably missed our answer; give it again.
            let response = self.current_generation_response(&member_id, false);
            let _ = waiter.send(response);
            return;
        }
        member.protocols = request.protocols;
        member.session_timeout_ms = request.session_timeout_ms;
        member.rebalance_timeout_ms = request.rebalance_timeout_ms;
        if let Some(old) = member.join_waiter.replace(waiter) {
            let _ = old.send(JoinResponse::error(
                ResponseError::UnknownMemberId,
                &member_id,
            ));
        }
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now, config);
        }
    }

    /// A static member restarted (same instance id, new member id): it takes the old member's
    /// place; in a stable group with unchanged metadata it keeps its assignment, no rebalance.
    fn replace_static_member(
        &mut self,
        old_id: &str,
        member_id: String,
        request: JoinRequest,
        waiter: JoinWaiter,
        now: i64,
        config: &GroupConfig,
    ) {
        let Some(mut member) = self.members.shift_remove(old_id) else {
            self.static_members
                .remove(request.group_instance_id.as_deref().unwrap_or_default());
            self.add_member(member_id, request, waiter, now, config);
            return;
        };
        if let Some(old) = member.join_waiter.take() {
            let _ = old.send(JoinResponse::error(ResponseError::FencedInstanceId, old_id));
        }
        if let Some(old) = member.sync_waiter.take() {
            let _ = old.send(SyncResponse::error(ResponseError::FencedInstanceId));
        }
        let unchanged = member.protocols == request.protocols;
        member.id = member_id.clone();
        member.client_id = request.client_id;
        member.client_host = request.client_host;
        member.session_timeout_ms = request.session_timeout_ms;
        member.rebalance_timeout_ms = request.rebalance_timeout_ms;
        member.last_heartbeat_ms = now;
        if let Some(instance) = &request.group_instance_id {
            self.static_members
                .insert(instance.clone(), member_id.clone());
        }
        if self.leader_id.as_deref() == Some(old_id) {
            self.leader_id = Some(member_id.clone());
        }
        if self.state == GroupState::Stable && unchanged {
            self.members.insert(member_id.clone(), member);
            let response = self.current_generation_response(&member_id, true);
            let _ = waiter.send(response);
            return;
        }
        member.protocols = request.protocols;
        member.join_waiter = Some(waiter);
        self.members.insert(member_id, member);
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now, config);
        }
    }

    fn add_member(
        &mut self,
        member_id: String,
        request: JoinRequest,
        waiter: JoinWaiter,
        now: i64,
        config: &GroupConfig,
    ) {
        if self.members.is_empty() {
            self.protocol_type = Some(request.protocol_type.clone());
        }
        if self.leader_id.is_none() {
            self.leader_id = Some(member_id.clone());
        }
        let member = Member {
            id: member_id.clone(),
            group_instance_id: request.group_instance_id,
            client_id: request.client_id,
            client_host: request.client_host,
            session_timeout_ms: request.session_timeout_ms,
            rebalance_timeout_ms: request.rebalance_timeout_ms,
            protocols: request.protocols,
            assignment: Bytes::new(),
            join_waiter: Some(waiter),
            sync_waiter: None,
            last_heartbeat_ms: now,
        };
        self.members.insert(member_id, member);
        match self.state {
            GroupState::PreparingRebalance => {
                if let Some(until) = self.initial_delay_until_ms {
                    // KIP-134: each new member during the initial delay extends it, within
                    // the rebalance timeout.
                    let cap = self.initial_delay_started_ms + self.max_rebalance_timeout_ms();
                    self.initial_delay_until_ms = Some(
                        (now + config.initial_rebalance_delay_ms)
                            .min(cap)
                            .max(until),
                    );
                }
            }
            _ => self.prepare_rebalance(now, config),
        }
    }

    fn max_rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|member| i64::from(member.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    fn prepare_rebalance(&mut self, now: i64, config: &GroupConfig) {
        if self.state == GroupState::CompletingRebalance {
            for member in self.members.values_mut() {
                if let Some(waiter) = member.sync_waiter.take() {
                    let _ = waiter.send(SyncResponse::error(ResponseError::RebalanceInProgress));
                }
            }
        }
        if self.state == GroupState::Empty && config.initial_rebalance_delay_ms > 0 {
            self.initial_delay_started_ms = now;
            self.initial_delay_until_ms = Some(now + config.initial_rebalance_delay_ms);
        }
        if self.state != GroupState::PreparingRebalance {
            self.rebalances += 1;
        }
        self.state = GroupState::PreparingRebalance;
        self.rebalance_deadline_ms = now + self.max_rebalance_timeout_ms();
    }

    /// Completes the join phase if every member has rejoined (and the initial delay is
    /// over), or the rebalance timeout has passed.
    fn try_complete_join(&mut self, now: i64) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        if let Some(until) = self.initial_delay_until_ms {
            if now < until {
                return;
            }
            self.initial_delay_until_ms = None;
        }
        let all_joined = self.pending_members.is_empty()
            && self
                .members
                .values()
                .all(|member| member.join_waiter.is_some());
        if !all_joined && now < self.rebalance_deadline_ms {
            return;
        }
        let missing: Vec<String> = self
            .members
            .values()
            .filter(|member| member.join_waiter.is_none())
            .map(|member| member.id.clone())
            .collect();
        for member_id in missing {
            self.remove_member(&member_id);
        }
        self.pending_members.clear();
        self.generation_id += 1;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.empty_since_ms = Some(now);
            // Kafka keeps the protocol type of an empty group (DescribeGroups/ListGroups show it).
            self.protocol_name = None;
            self.leader_id = None;
            return;
        }
        self.protocol_name = self.select_protocol();
        if self
            .leader_id
            .as_ref()
            .is_none_or(|leader| !self.members.contains_key(leader))
        {
            self.leader_id = self.members.keys().next().cloned();
        }
        self.state = GroupState::CompletingRebalance;
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for member_id in ids {
            let response = self.current_generation_response(&member_id, false);
            if let Some(member) = self.members.get_mut(&member_id) {
                member.last_heartbeat_ms = now;
                if let Some(waiter) = member.join_waiter.take() {
                    let _ = waiter.send(response);
                }
            }
        }
    }

    /// The protocol most members prefer among those all of them support.
    fn select_protocol(&self) -> Option<String> {
        let common = self.common_protocols();
        let mut votes: IndexMap<&str, usize> =
            common.iter().map(|name| (name.as_str(), 0)).collect();
        for member in self.members.values() {
            if let Some((name, _)) = member
                .protocols
                .iter()
                .find(|(name, _)| common.contains(name))
            {
                *votes.entry(name.as_str()).or_default() += 1;
            }
        }
        let best = votes.values().copied().max()?;
        votes
            .into_iter()
            .find(|(_, count)| *count == best)
            .map(|(name, _)| name.to_owned())
    }

    fn current_generation_response(&self, member_id: &str, skip_assignment: bool) -> JoinResponse {
        let leader_id = self.leader_id.clone().unwrap_or_default();
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = if leader_id == member_id {
            self.members
                .values()
                .map(|member| JoinedMember {
                    member_id: member.id.clone(),
                    group_instance_id: member.group_instance_id.clone(),
                    metadata: member.metadata_for(&protocol),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinResponse {
            error: None,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader_id,
            member_id: member_id.to_owned(),
            members,
            skip_assignment: skip_assignment && self.leader_id.as_deref() == Some(member_id),
        }
    }

    fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let mut member = self.members.shift_remove(member_id)?;
        if let Some(instance) = &member.group_instance_id {
            if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                self.static_members.remove(instance);
            }
        }
        if self.leader_id.as_deref() == Some(member_id) {
            self.leader_id = None;
        }
        if let Some(waiter) = member.join_waiter.take() {
            let _ = waiter.send(JoinResponse::error(
                ResponseError::UnknownMemberId,
                member_id,
            ));
        }
        if let Some(waiter) = member.sync_waiter.take() {
            let _ = waiter.send(SyncResponse::error(ResponseError::UnknownMemberId));
        }
        Some(member)
    }

    /// Handles a SyncGroup; `waiter` is answered now or when the leader's assignment arrives.
    pub fn sync(&mut self, request: SyncRequest, waiter: SyncWaiter, now: i64) {
        let refuse = |waiter: SyncWaiter, error| {
            let _ = waiter.send(SyncResponse::error(error));
        };
        if self.is_fenced(&request.member_id, request.group_instance_id.as_deref()) {
            return refuse(waiter, ResponseError::FencedInstanceId);
        }
        if !self.members.contains_key(&request.member_id) {
            return refuse(waiter, ResponseError::UnknownMemberId);
        }
        if request.generation_id != self.generation_id {
            return refuse(waiter, ResponseError::IllegalGeneration);
        }
        let mismatched =
            |asked: &Option<String>, ours: &Option<String>| asked.is_some() && asked != ours;
        if mismatched(&request.protocol_type, &self.protocol_type)
            || mismatched(&request.protocol_name, &self.protocol_name)
        {
            return refuse(waiter, ResponseError::InconsistentGroupProtocol);
        }
        match self.state {
            GroupState::PreparingRebalance => refuse(waiter, ResponseError::RebalanceInProgress),
            GroupState::Empty | GroupState::Dead => refuse(waiter, ResponseError::UnknownMemberId),
            GroupState::Stable => {
                let response = self.sync_response(&request.member_id);
                if let Some(member) = self.members.get_mut(&request.member_id) {
                    member.last_heartbeat_ms = now;
                }
                let _ = waiter.send(response);
            }
            GroupState::CompletingRebalance => {
                if let Some(member) = self.members.get_mut(&request.member_id) {
                    member.last_heartbeat_ms = now;
                    member.sync_waiter = Some(waiter);
                }
                if self.leader_id.as_deref() == Some(request.member_id.as_str()) {
                    let mut assignments: HashMap<String, Bytes> =
                        request.assignments.into_iter().collect();
                    for member in self.members.values_mut() {
                        member.assignment = assignments.remove(&member.id).unwrap_or_default();
                    }
                    self.state = GroupState::Stable;
                    let ids: Vec<String> = self.members.keys().cloned().collect();
                    for member_id in ids {
                        let response = self.sync_response(&member_id);
                        if let Some(waiter) = self
                            .members
                            .get_mut(&member_id)
                            .and_then(|member| member.sync_waiter.take())
                        {
                            let _ = waiter.send(response);
                        }
                    }
                }
            }
        }
    }

    fn sync_response(&self, member_id: &str) -> SyncResponse {
        SyncResponse {
            error: None,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment: self
                .members
                .get(member_id)
                .map(|member| member.assignment.clone())
                .unwrap_or_default(),
        }
    }

    /// Handles a Heartbeat.
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        generation_id: i32,
        instance_id: Option<&str>,
        now: i64,
    ) -> Result<(), ResponseError> {
        if self.state == GroupState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        if self.is_fenced(member_id, instance_id) {
            return Err(ResponseError::FencedInstanceId);
        }
        let state = self.state;
        let current_generation = self.generation_id;
        let Some(member) = self.members.get_mut(member_id) else {
            return Err(ResponseError::UnknownMemberId);
        };
        if generation_id != current_generation {
            return Err(ResponseError::IllegalGeneration);
        }
        member.last_heartbeat_ms = now;
        match state {
            GroupState::PreparingRebalance => Err(ResponseError::RebalanceInProgress),
            _ => Ok(()),
        }
    }

    /// Handles LeaveGroup for each `(member id, instance id)`; an empty member id with an
    /// instance id names the static member.
    pub fn leave(
        &mut self,
        leaving: &[(String, Option<String>)],
        now: i64,
        config: &GroupConfig,
    ) -> Vec<Result<(), ResponseError>> {
        let mut removed_any = false;
        let results = leaving
            .iter()
            .map(|(member_id, instance_id)| {
                let member_id = match (member_id.is_empty(), instance_id) {
                    (true, Some(instance)) => self
                        .static_members
                        .get(instance)
                        .cloned()
                        .ok_or(ResponseError::UnknownMemberId)?,
                    _ => member_id.clone(),
                };
                if self.is_fenced(&member_id, instance_id.as_deref()) {
                    return Err(ResponseError::FencedInstanceId);
                }
                if self.pending_members.remove(&member_id).is_some() {
                    return Ok(());
                }
                self.remove_member(&member_id)
                    .ok_or(ResponseError::UnknownMemberId)?;
                removed_any = true;
                Ok(())
            })
            .collect();
        if removed_any {
            self.after_membership_change(now, config);
        }
        results
    }

    fn after_membership_change(&mut self, now: i64, config: &GroupConfig) {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now, config)
            }
            GroupState::PreparingRebalance => {}
            GroupState::Empty | GroupState::Dead => return,
        }
        self.try_complete_join(now);
    }

    /// Expires members whose session timed out and completes rebalances whose time is up.
    pub fn tick(&mut self, now: i64, config: &GroupConfig) {
        self.pending_members.retain(|_, expiry| *expiry > now);
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|member| {
                !member.is_waiting()
                    && now - member.last_heartbeat_ms >= i64::from(member.session_timeout_ms)
            })
            .map(|member| member.id.clone())
            .collect();
        for member_id in &expired {
            tracing::info!(group = %self.id, member = %member_id, "session expired, removing member");
            self.remove_member(member_id);
        }
        if !expired.is_empty() {
            self.after_membership_change(now, config);
        }
        self.try_complete_join(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: GroupConfig = GroupConfig {
        initial_rebalance_delay_ms: 0,
        min_session_timeout_ms: 6_000,
        max_session_timeout_ms: 1_800_000,
        offsets_topic_partitions: 50,
        offsets_topic_replication_factor: 1,
        offsets_commit_timeout_ms: 5_000,
        offset_metadata_max_bytes: 4096,
        offsets_retention_ms: 7 * 24 * 3_600_000,
        offsets_retention_check_interval_ms: 600_000,
    };

    fn request(member_id: &str, protocols: &[&str]) -> JoinRequest {
        JoinRequest {
            member_id: member_id.to_owned(),
            group_instance_id: None,
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|name| (name.to_string(), Bytes::from(format!("meta-{name}"))))
                .collect(),
            require_known_member_id: true,
        }
    }

    fn join(group: &mut Group, request: JoinRequest, now: i64) -> oneshot::Receiver<JoinResponse> {
        let (waiter, answer) = oneshot::channel();
        group.join(request, waiter, now, &CONFIG);
        answer
    }

    fn sync(
        group: &mut Group,
        member_id: &str,
        generation_id: i32,
        assignments: &[(&str, &str)],
        now: i64,
    ) -> oneshot::Receiver<SyncResponse> {
        let (waiter, answer) = oneshot::channel();
        let request = SyncRequest {
            member_id: member_id.to_owned(),
            generation_id,
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments: assignments
                .iter()
                .map(|(member, bytes)| (member.to_string(), Bytes::from(bytes.to_string())))
                .collect(),
        };
        group.sync(request, waiter, now);
        answer
    }

    /// KIP-394 round trip: MEMBER_ID_REQUIRED, then a join with the given id.
    fn join_new(
        group: &mut Group,
        protocols: &[&str],
        now: i64,
    ) -> (String, oneshot::Receiver<JoinResponse>) {
        let first = join(group, request("", protocols), now)
            .try_recv()
            .expect("answered at once");
        assert_eq!(first.error, Some(ResponseError::MemberIdRequired));
        let member_id = first.member_id.clone();
        (
            member_id.clone(),
            join(group, request(&member_id, protocols), now),
        )
    }

    #[test]
    fn one_member_joins_syncs_and_heartbeats() {
        let mut group = Group::new("g");
        let (member, mut answer) = join_new(&mut group, &["range"], 0);
        let joined = answer.try_recv().expect("join completes with no delay");
        assert_eq!(
            (
                joined.error,
                joined.generation_id,
                joined.leader_id.as_str()
            ),
            (None, 1, member.as_str())
        );
        assert_eq!(joined.protocol_name.as_deref(), Some("range"));
        assert_eq!(joined.members.len(), 1);
        assert_eq!(group.state(), GroupState::CompletingRebalance);
        let synced = sync(&mut group, &member, 1, &[(&member, "p0,p1")], 1)
            .try_recv()
            .unwrap();
        assert_eq!(synced.assignment, Bytes::from("p0,p1"));
        assert_eq!(group.state(), GroupState::Stable);
        assert_eq!(group.heartbeat(&member, 1, None, 2), Ok(()));
        assert_eq!(
            group.heartbeat(&member, 0, None, 2),
            Err(ResponseError::IllegalGeneration)
        );
        assert_eq!(
            group.heartbeat("nobody", 1, None, 2),
            Err(ResponseError::UnknownMemberId)
        );
    }

    #[test]
    fn second_member_triggers_a_rebalance_that_waits_for_the_first() {
        let mut group = Group::new("g");
        let (a, mut a_join) = join_new(&mut group, &["range", "roundrobin"], 0);
        a_join.try_recv().unwrap();
        sync(&mut group, &a, 1, &[(&a, "all")], 0)
            .try_recv()
            .unwrap();
        let (b, mut b_join) = join_new(&mut group, &["roundrobin", "range"], 10);
        assert!(
            b_join.try_recv().is_err(),
            "waits for the existing member to rejoin"
        );
        assert_eq!(
            group.heartbeat(&a, 1, None, 20),
            Err(ResponseError::RebalanceInProgress)
        );
        let mut a_rejoin = join(&mut group, request(&a, &["range", "roundrobin"]), 30);
        let a_answer = a_rejoin.try_recv().unwrap();
        let b_answer = b_join.try_recv().unwrap();
        assert_eq!(a_answer.generation_id, 2);
        assert_eq!(a_answer.leader_id, a, "leader kept");
        assert_eq!(a_answer.members.len(), 2);
        assert!(b_answer.members.is_empty(), "followers get no member list");
        let mut b_sync = sync(&mut group, &b, 2, &[], 40);
        assert!(b_sync.try_recv().is_err(), "follower waits for the leader");
        let a_sync = sync(&mut group, &a, 2, &[(&a, "p0"), (&b, "p1")], 50)
            .try_recv()
            .unwrap();
        assert_eq!(a_sync.assignment, Bytes::from("p0"));
        assert_eq!(b_sync.try_recv().unwrap().assignment, Bytes::from("p1"));
        assert_eq!(
            group.protocol_name(),
            Some("range"),
            "tie broken in preference order"
        );
    }

    #[test]
    fn inconsistent_protocols_are_refused() {
        let mut group = Group::new("g");
        let (_, mut answer) = join_new(&mut group, &["range"], 0);
        answer.try_recv().unwrap();
        let refused = join(&mut group, request("", &["cooperative-sticky"]), 1)
            .try_recv()
            .unwrap();
        assert_eq!(
            refused.error,
            Some(ResponseError::InconsistentGroupProtocol)
        );
    }

    #[test]
    fn session_expiry_removes_a_member_and_rebalances() {
        let mut group = Group::new("g");
        let (a, mut a_join) = join_new(&mut group, &["range"], 0);
        a_join.try_recv().unwrap();
        let (b, mut b_join) = join_new(&mut group, &["range"], 0);
        assert!(b_join.try_recv().is_err());
        join(&mut group, request(&a, &["range"]), 0)
            .try_recv()
            .unwrap();
        b_join.try_recv().unwrap();
        sync(&mut group, &b, 2, &[], 0);
        sync(&mut group, &a, 2, &[(&a, "x"), (&b, "y")], 0)
            .try_recv()
            .unwrap();
        // b keeps heartbeating, a goes silent.
        for now in (1_000..10_000).step_by(1_000) {
            group.tick(now, &CONFIG);
            assert_eq!(group.heartbeat(&b, 2, None, now), Ok(()));
        }
        group.tick(10_000, &CONFIG);
        assert!(!group.has_member(&a), "a expired after its 10 s session");
        assert_eq!(group.state(), GroupState::PreparingRebalance);
        assert_eq!(
            group.heartbeat(&b, 2, None, 10_002),
            Err(ResponseError::RebalanceInProgress)
        );
        let answer = join(&mut group, request(&b, &["range"]), 10_003)
            .try_recv()
            .unwrap();
        assert_eq!(
            (answer.generation_id, answer.leader_id.as_str()),
            (3, b.as_str()),
            "b leads the new generation"
        );
    }

    #[test]
    fn rebalance_timeout_drops_members_that_do_not_rejoin() {
        let mut group = Group::new("g");
        let (a, mut a_join) = join_new(&mut group, &["range"], 0);
        a_join.try_recv().unwrap();
        sync(&mut group, &a, 1, &[], 0);
        let (b, mut b_join) = join_new(&mut group, &["range"], 1_000);
        // a heartbeats (keeping its session) but never rejoins.
        for now in (2_000..31_000).step_by(2_000) {
            let _ = group.heartbeat(&a, 1, None, now);
            group.tick(now, &CONFIG);
            assert!(b_join.try_recv().is_err(), "still waiting at {now}");
        }
        group.tick(31_000, &CONFIG);
        let answer = b_join
            .try_recv()
            .expect("completed at the rebalance timeout");
        assert_eq!((answer.generation_id, answer.leader_id), (2, b.clone()));
        assert!(!group.has_member(&a));
    }

    #[test]
    fn leader_leaving_hands_leadership_on() {
        let mut group = Group::new("g");
        let (a, mut a_join) = join_new(&mut group, &["range"], 0);
        a_join.try_recv().unwrap();
        let (b, mut b_join) = join_new(&mut group, &["range"], 0);
        join(&mut group, request(&a, &["range"]), 0)
            .try_recv()
            .unwrap();
        b_join.try_recv().unwrap();
        assert_eq!(group.leave(&[(a.clone(), None)], 5, &CONFIG), vec![Ok(())]);
        assert_eq!(group.state(), GroupState::PreparingRebalance);
        let answer = join(&mut group, request(&b, &["range"]), 6)
            .try_recv()
            .unwrap();
        assert_eq!((answer.leader_id, answer.generation_id), (b.clone(), 3));
        assert_eq!(group.leave(&[(b, None)], 7, &CONFIG), vec![Ok(())]);
        assert_eq!(
            group.leave(&[("ghost".into(), None)], 8, &CONFIG),
            vec![Err(ResponseError::UnknownMemberId)]
        );
        assert_eq!(group.state(), GroupState::Empty);
    }

    #[test]
    fn initial_delay_gathers_concurrent_joins_into_one_generation() {
        let config = GroupConfig {
            initial_rebalance_delay_ms: 3_000,
            ..CONFIG
        };
        let mut group = Group::new("g");
        let mut answers = Vec::new();
        for (at, now) in [0, 500, 900].into_iter().enumerate() {
            let mut with_id = request("", &["range"]);
            with_id.require_known_member_id = false;
            with_id.client_id = format!("c{at}");
            let (waiter, answer) = oneshot::channel();
            group.join(with_id, waiter, now, &config);
            answers.push(answer);
        }
        group.tick(3_800, &config);
        assert!(
            answers.iter_mut().all(|answer| answer.try_recv().is_err()),
            "delay extended by later joins"
        );
        group.tick(3_900, &config);
        let generations: Vec<i32> = answers
            .iter_mut()
            .map(|answer| answer.try_recv().unwrap().generation_id)
            .collect();
        assert_eq!(generations, [1, 1, 1]);
    }

    #[test]
    fn a_restored_stable_group_keeps_its_members_and_generation() {
        let mut group = Group::new("g");
        let (member, mut answer) = join_new(&mut group, &["range"], 0);
        answer.try_recv().unwrap();
        sync(&mut group, &member, 1, &[(&member, "mine")], 0)
            .try_recv()
            .unwrap();
        let restored = Group::restore("g", group.snapshot(5), 1_000);
        let mut restored = restored;
        assert_eq!(restored.state(), GroupState::Stable);
        assert_eq!(restored.generation_id(), 1);
        assert_eq!(restored.heartbeat(&member, 1, None, 1_500), Ok(()));
        let synced = sync(&mut restored, &member, 1, &[], 1_600)
            .try_recv()
            .unwrap();
        assert_eq!(synced.assignment, Bytes::from("mine"));
        restored.tick(1_600 + 10_000, &CONFIG);
        assert_eq!(
            restored.state(),
            GroupState::Empty,
            "a member that never returns expires"
        );
    }

    #[test]
    fn static_member_restart_keeps_assignment_without_rebalance() {
        let mut group = Group::new("g");
        let static_request = |member_id: &str| JoinRequest {
            group_instance_id: Some("instance-1".into()),
            ..request(member_id, &["range"])
        };
        let first = join(&mut group, static_request(""), 0)
            .try_recv()
            .expect("static members need no MEMBER_ID_REQUIRED");
        let old_id = first.member_id.clone();
        sync(&mut group, &old_id, 1, &[(&old_id, "mine")], 0)
            .try_recv()
            .unwrap();
        let restarted = join(&mut group, static_request(""), 100)
            .try_recv()
            .expect("answered at once");
        assert_eq!(restarted.generation_id, 1, "no rebalance");
        assert_ne!(restarted.member_id, old_id);
        assert_eq!(group.state(), GroupState::Stable);
        let synced = sync(&mut group, &restarted.member_id, 1, &[], 101)
            .try_recv()
            .unwrap();
        assert_eq!(synced.assignment, Bytes::from("mine"));
        assert_eq!(
            group.heartbeat(&old_id, 1, Some("instance-1"), 102),
            Err(ResponseError::FencedInstanceId)
        );
    }
}
