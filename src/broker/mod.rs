//! The broker's domain state shared by every connection: config, metadata and logs, and the
//! topic operations that touch both (create, auto-create, delete). On a single node the
//! broker owns its metadata; in a cluster (`cluster_node.rs`) the cluster store does, and
//! the broker's metadata and logs follow it.

mod acls;
mod client_quotas;
mod cluster_node;
mod dynamic_configs;
mod markers;
mod reads;
mod reassignments;
mod roles;
mod scram_credentials;
mod throttles;

pub use crate::cluster::elections::{ElectionKind, ElectionRefused};
pub use crate::replication::{FollowerFetch, FollowerPosition, Throttle, Throttled};
pub use acls::Access;
pub use client_quotas::{ClientRates, FetchMeasure, MutationQuota, MutationRefused};
pub use cluster_node::{BrokerEndpoint, ClusterNode};
pub use dynamic_configs::DynamicConfigError;
pub use reads::ConsumerLog;
pub use reassignments::{Ongoing, ReassignmentError, Target as ReassignmentTarget};
pub use scram_credentials::{ScramDeletion, ScramOutcomes, ScramRefusal, ScramUpsertion};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use thiserror::Error;

use crate::clock::SharedClock;
use crate::cluster::topics::{with_partitions, NewTopic as NewClusterTopic};
use crate::cluster::NO_LEADER;
use crate::config::{BrokerConfig, PARTITIONS_PER_TOPIC_MAX};
use crate::group::{GroupCoordinator, OFFSETS_TOPIC};
use crate::log::{LogConfig, LogError, LogManager, Partition};
use crate::metadata::topic_config::{ConfigChange, ConfigChangeError};
use crate::metadata::{topic_config, topic_name, MetadataError, MetadataStore, TopicMetadata};
use crate::metrics::{GroupSample, PartitionSample, StateSample};
use crate::producer_ids::ProducerIds;
use crate::replication::Leaders;
use crate::txn::{TxnCoordinator, TRANSACTION_TOPIC};

/// Why a broker could not start.
#[derive(Debug, Error)]
pub enum StartupError {
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("not registered in the cluster after {0:?}")]
    NotJoined(std::time::Duration),
    #[error("cannot open this broker's replicas: {0}")]
    Replicas(#[from] TopicError),
}

/// Why a topic operation failed; mapped to Kafka codes in `handlers/errors.rs`.
#[derive(Debug, Error)]
pub enum TopicError {
    #[error("{0}")]
    InvalidName(String),
    #[error("Topic '{0}' already exists.")]
    AlreadyExists(String),
    #[error("Topic '{0}' does not exist.")]
    Unknown(String),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("The throttling quota has been exceeded.")]
    ThrottlingQuotaExceeded,
    #[error("storage error: {0}")]
    Storage(String),
}

impl From<MutationRefused> for TopicError {
    fn from(_: MutationRefused) -> Self {
        Self::ThrottlingQuotaExceeded
    }
}

impl From<MetadataError> for TopicError {
    fn from(error: MetadataError) -> Self {
        match error {
            MetadataError::TopicAlreadyExists(name) => Self::AlreadyExists(name),
            MetadataError::UnknownTopic(name) => Self::Unknown(name),
            other => Self::Storage(other.to_string()),
        }
    }
}

impl From<ConfigChangeError> for TopicError {
    fn from(error: ConfigChangeError) -> Self {
        match error {
            ConfigChangeError::InvalidConfig(message) => Self::InvalidConfig(message),
            ConfigChangeError::InvalidRequest(message) => Self::InvalidRequest(message),
        }
    }
}

impl From<LogError> for TopicError {
    fn from(error: LogError) -> Self {
        Self::Storage(error.to_string())
    }
}

/// A topic to create, as asked (-1 means "broker default").
#[derive(Debug, Clone, Default)]
pub struct NewTopic {
    pub name: String,
    pub num_partitions: i32,
    pub replication_factor: i16,
    /// Explicit replica assignment per partition (CreateTopics `assignments`).
    pub assignments: Vec<Vec<i32>>,
    pub configs: BTreeMap<String, Option<String>>,
}

/// A validated topic creation: what would be (or was) created.
#[derive(Debug, Clone)]
pub struct TopicPlan {
    pub name: String,
    pub num_partitions: i32,
    pub replication_factor: i16,
    /// Explicit replicas per partition, if the request gave them.
    pub assignments: Vec<Vec<i32>>,
    pub configs: BTreeMap<String, String>,
}

/// Why a partition's log is not served here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotServed {
    /// No such topic or partition.
    Unknown,
    /// Another broker leads it (or none does: `leader` is -1): the current-leader hint of
    /// KIP-951.
    NotLeader { leader: i32, leader_epoch: i32 },
}

/// Where the coordinator of a group or transactional id is, as a broker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coordination {
    /// This broker leads the key's internal partition.
    Here,
    /// This broker is about to: its image or its replica is catching up.
    Starting,
    /// Another broker (or none yet): the client must look the coordinator up again.
    Elsewhere,
}

/// Who leads a partition and who replicates it, as Metadata and DescribeTopicPartitions
/// report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionView {
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// Replicas that cannot serve: their broker is not registered, or reported the
    /// partition's log offline (a failed fsync).
    pub offline_replicas: Vec<i32>,
}

impl PartitionView {
    /// A partition that nobody leads (or not known yet): no leader, no epoch, no ISR.
    pub fn offline(replicas: Vec<i32>) -> Self {
        Self {
            leader: NO_LEADER,
            leader_epoch: -1,
            replicas,
            isr: Vec::new(),
            offline_replicas: Vec::new(),
        }
    }
}

/// Shared broker state.
#[derive(Debug)]
pub struct Broker {
    pub config: BrokerConfig,
    pub metadata: MetadataStore,
    pub logs: Arc<LogManager>,
    pub groups: GroupCoordinator,
    pub producer_ids: ProducerIds,
    pub txns: TxnCoordinator,
    pub clock: SharedClock,
    /// The cluster this broker is a member of; `None` on a single node.
    pub cluster: Option<ClusterNode>,
    /// The partitions this broker leads with followers (none on a single node).
    pub replication: Leaders,
    /// What clients do against their quotas.
    client_rates: ClientRates,
    /// Serializes topic changes (create, delete, configs, partitions) from the metadata
    /// update to the logs, so the logs end up as the metadata says.
    topic_changes: Mutex<()>,
}

/// How long FindCoordinator waits for an internal topic being created and its partitions'
/// first leaders (50 partitions of replication factor 3 take a loaded machine seconds);
/// well below clients' request timeouts (30 s for Java's, 60 s for librdkafka).
const COORDINATOR_CREATION_WAIT: Duration = Duration::from_secs(10);

/// A topic may have at most [`PARTITIONS_PER_TOPIC_MAX`] partitions.
fn check_partition_limit(count: i32) -> Result<(), TopicError> {
    if count > PARTITIONS_PER_TOPIC_MAX {
        return Err(TopicError::InvalidPartitions(format!(
            "Number of partitions {count} exceeds the limit of {}.",
            PARTITIONS_PER_TOPIC_MAX
        )));
    }
    Ok(())
}

/// Configs of the internal topics: compacted, never deleted by retention (as in Kafka; the
/// coordinators replay the latest record per key).
fn internal_topic_configs() -> BTreeMap<String, String> {
    BTreeMap::from([("cleanup.policy".to_owned(), "compact".to_owned())])
}

/// A topic's overrides on top of the broker defaults; internal topics always keep their own
/// configs (also when their metadata was written before those existed).
fn topic_log_config(topic: &TopicMetadata, config: &BrokerConfig) -> Arc<LogConfig> {
    let mut overrides = topic.configs.clone();
    if Broker::is_internal_topic(&topic.name) {
        overrides.extend(internal_topic_configs());
    }
    Arc::new(topic_config::log_config(&overrides, config))
}

impl Broker {
    /// Loads metadata and every partition (recovering them after an unclean shutdown).
    pub fn open(config: BrokerConfig, clock: SharedClock) -> Result<Self, StartupError> {
        let logs = Arc::new(LogManager::open(&config.data_dir, Arc::clone(&clock))?);
        let metadata = MetadataStore::open(&config.data_dir, config.node_id)?;
        if logs.is_recovering() {
            tracing::warn!(data_dir = %config.data_dir.display(), "previous run did not shut down cleanly; recovering logs");
        }
        let log_config = |topic: &TopicMetadata| topic_log_config(topic, &config);
        for topic in metadata.image().topics() {
            logs.open_topic(
                &topic.name,
                topic.id,
                0..topic.partitions,
                &log_config(topic),
            )?;
        }
        let internal = [
            (OFFSETS_TOPIC, config.group.offsets_topic_partitions),
            (TRANSACTION_TOPIC, config.txn.state_partitions),
        ];
        for (name, partitions) in internal {
            if metadata.image().topic(name).is_none() {
                let topic = metadata.create_topic(name, partitions, internal_topic_configs())?;
                logs.open_topic(
                    &topic.name,
                    topic.id,
                    0..topic.partitions,
                    &log_config(&topic),
                )?;
            }
        }
        logs.remove_unknown_partition_dirs()?;
        let producer_ids = ProducerIds::open(&config.data_dir).map_err(LogError::Io)?;
        Self::assemble(config, clock, metadata, logs, producer_ids, None)
    }

    /// The broker around its metadata and opened logs.
    fn assemble(
        config: BrokerConfig,
        clock: SharedClock,
        metadata: MetadataStore,
        logs: Arc<LogManager>,
        producer_ids: ProducerIds,
        cluster: Option<ClusterNode>,
    ) -> Result<Self, StartupError> {
        // A cluster member coordinates the partitions of the internal topics it leads,
        // taken in as it takes up leadership (see `roles.rs`); a single node all of them.
        let groups = match cluster {
            Some(_) => GroupCoordinator::new(config.group, Arc::clone(&clock), Arc::clone(&logs)),
            None => GroupCoordinator::open(config.group, Arc::clone(&clock), Arc::clone(&logs))?,
        };
        let leaders = cluster.as_ref().map(|node| {
            Arc::new(markers::ClusterLeaders::new(
                config.node_id,
                node.subscribe_applied(),
                node.membership().subscribe(),
                Arc::clone(&node.peers),
            )) as Arc<dyn crate::txn::PartitionLeaders>
        });
        let txns = match leaders {
            Some(_) => {
                TxnCoordinator::new(config.txn, Arc::clone(&clock), Arc::clone(&logs), leaders)
            }
            None => TxnCoordinator::open(config.txn, Arc::clone(&clock), Arc::clone(&logs), None)?,
        };
        let replication = Leaders::new(config.flush_on_ack);
        let client_rates =
            ClientRates::new(config.quota_window, config.max_connection_creation_rate);
        Ok(Self {
            config,
            metadata,
            logs,
            groups,
            producer_ids,
            txns,
            clock,
            cluster,
            replication,
            client_rates,
            topic_changes: Mutex::new(()),
        })
    }

    /// Whether `topic` is internal to the broker (clients may read it, not write or delete it).
    pub fn is_internal_topic(topic: &str) -> bool {
        topic == OFFSETS_TOPIC || topic == TRANSACTION_TOPIC
    }

    /// The log settings for a topic: its overrides on top of the broker defaults.
    pub fn log_config(&self, topic: &TopicMetadata) -> Arc<LogConfig> {
        topic_log_config(topic, &self.config)
    }

    /// The log of `topic`/`partition`, if it exists.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.logs.partition(topic, partition)
    }

    /// The log of `topic`/`partition` if this broker leads it, as Produce, Fetch and the
    /// other partition requests of clients need.
    pub fn leader_log(&self, topic: &str, partition: i32) -> Result<Arc<Partition>, NotServed> {
        let Some(node) = &self.cluster else {
            return self.partition(topic, partition).ok_or(NotServed::Unknown);
        };
        let (leader, leader_epoch) = node
            .image()
            .leadership(topic, partition)
            .ok_or(NotServed::Unknown)?;
        let not_leader = NotServed::NotLeader {
            leader,
            leader_epoch,
        };
        // A broker whose session may have lapsed could be a deposed leader (zombie).
        if leader != self.config.node_id || !node.membership().is_registered() {
            return Err(not_leader);
        }
        self.partition(topic, partition).ok_or(not_leader)
    }

    /// The partition of `internal_topic` (`__consumer_offsets` for a group id,
    /// `__transaction_state` for a transactional id) whose leader coordinates `key`.
    pub fn coordinator_partition(&self, internal_topic: &str, key: &str) -> i32 {
        let partitions = self.metadata.image().topic(internal_topic).map_or_else(
            || self.internal_topic_partitions(internal_topic),
            |topic| topic.partitions,
        );
        crate::group::offsets::partition_for(key, partitions)
    }

    /// The configured partition count of internal topic `name`
    /// (`transaction.state.log.num.partitions` or `offsets.topic.num.partitions`).
    fn internal_topic_partitions(&self, name: &str) -> i32 {
        if name == TRANSACTION_TOPIC {
            self.config.txn.state_partitions
        } else {
            self.config.group.offsets_topic_partitions
        }
    }

    /// The broker coordinating `key` (a group id in `__consumer_offsets`, a transactional id
    /// in `__transaction_state`): the leader of its partition, as clients of `listener` reach
    /// it. `None` while there is none.
    pub async fn find_coordinator(
        self: &Arc<Self>,
        internal_topic: &str,
        key: &str,
        listener: &str,
    ) -> Option<BrokerEndpoint> {
        let partition = self.coordinator_partition(internal_topic, key);
        if !self
            .internal_partition_ready(internal_topic, partition)
            .await
        {
            return None;
        }
        let leader = self.partition_view(internal_topic, partition).leader;
        self.brokers(listener)
            .into_iter()
            .find(|endpoint| endpoint.node_id == leader)
    }

    /// Whether partition `partition` of internal topic `name` exists here with a state. In a
    /// cluster, the internal topic is created on first use, and this waits for it and its
    /// partitions' first leaders (at most [`COORDINATOR_CREATION_WAIT`]): clients retry
    /// "not available" only a few times before some give up silently (librdkafka's
    /// coordinator lookup in send_offsets_to_transaction then waits forever), and a
    /// transaction must not take in a partition its coordinator does not know yet.
    pub async fn internal_partition_ready(self: &Arc<Self>, name: &str, partition: i32) -> bool {
        let Some(node) = &self.cluster else {
            return true;
        };
        self.ensure_internal_topic(name);
        node.wait_applied(COORDINATOR_CREATION_WAIT, |image| {
            image
                .topics
                .get(name)
                .is_some_and(|topic| image.partition(topic, partition).is_some())
        })
        .await
    }

    /// Whether this broker coordinates `key` (see [`Self::find_coordinator`]), is taking
    /// its partition up, or should send the client elsewhere.
    pub fn coordination(&self, internal_topic: &str, key: &str) -> Coordination {
        let partition = self.coordinator_partition(internal_topic, key);
        let registered = self
            .cluster
            .as_ref()
            .is_some_and(|node| node.membership().is_registered());
        match self.leader_log(internal_topic, partition) {
            Ok(_) => Coordination::Here,
            // FindCoordinator named this broker from another broker's image: this one has
            // yet to see the internal topic another broker just created, or to open the
            // replica it was just made leader of.
            Err(NotServed::Unknown) if registered => Coordination::Starting,
            Err(NotServed::NotLeader { leader, .. })
                if registered && leader == self.config.node_id =>
            {
                Coordination::Starting
            }
            Err(_) => Coordination::Elsewhere,
        }
    }

    /// ElectLeaders for one partition: on a single node every partition is led by its only
    /// replica; in a cluster the election is written to the store and awaited until applied.
    pub async fn elect_leader(
        &self,
        topic: &str,
        partition: i32,
        kind: ElectionKind,
    ) -> Result<(), ElectionRefused> {
        let Some(node) = &self.cluster else {
            return Err(if self.metadata.image().has_partition(topic, partition) {
                ElectionRefused::NotNeeded
            } else {
                ElectionRefused::UnknownPartition
            });
        };
        let elected = node.membership().elect(topic, partition, kind).await?;
        self.wait_applied(|image| image.leader(topic, partition) == Some(elected.leader))
            .await;
        tracing::info!(
            topic,
            partition,
            leader = elected.leader,
            leader_epoch = elected.leader_epoch,
            ?kind,
            "elected leader"
        );
        Ok(())
    }

    /// The live brokers as clients of `listener` reach them (those with an endpoint on
    /// it): this one on a single node.
    pub fn brokers(&self, listener: &str) -> Vec<BrokerEndpoint> {
        match &self.cluster {
            Some(node) => node.brokers(listener),
            None => self
                .config
                .listeners
                .all
                .iter()
                .filter(|own| own.name == listener)
                .map(|own| BrokerEndpoint {
                    node_id: self.config.node_id,
                    host: own.advertised.0.clone(),
                    port: own.advertised.1,
                    rack: self.config.cluster.rack.clone(),
                })
                .collect(),
        }
    }

    /// How many brokers are alive.
    pub fn live_brokers(&self) -> usize {
        self.cluster.as_ref().map_or(1, |node| node.live_brokers())
    }

    /// The live brokers among `node_ids`, as clients of `listener` reach them.
    pub fn endpoints_of(
        &self,
        node_ids: &std::collections::BTreeSet<i32>,
        listener: &str,
    ) -> Vec<BrokerEndpoint> {
        if node_ids.is_empty() {
            return Vec::new();
        }
        let mut endpoints = self.brokers(listener);
        endpoints.retain(|endpoint| node_ids.contains(&endpoint.node_id));
        endpoints
    }

    /// The controller's node id (-1 while there is none).
    pub fn controller_id(&self) -> i32 {
        match &self.cluster {
            Some(node) => node
                .image()
                .controller
                .map_or(NO_LEADER, |controller| controller.node_id),
            None => self.config.node_id,
        }
    }

    /// Leader and replicas of `topic`/`partition`: a single node leads and holds every one,
    /// at the leader epoch of its log.
    pub fn partition_view(&self, topic: &str, partition: i32) -> PartitionView {
        if let Some(node) = &self.cluster {
            return node
                .partition_view(topic, partition)
                .unwrap_or_else(|| PartitionView::offline(Vec::new()));
        }
        let node = self.config.node_id;
        let leader_epoch = self
            .partition(topic, partition)
            .map_or(0, |log| log.leader_epoch());
        let offline = self
            .partition(topic, partition)
            .is_some_and(|log| log.is_offline());
        PartitionView {
            leader: node,
            leader_epoch,
            replicas: vec![node],
            isr: vec![node],
            offline_replicas: if offline { vec![node] } else { Vec::new() },
        }
    }

    /// Checks a creation request against Kafka's rules and fills in defaults.
    pub fn plan_topic(&self, request: &NewTopic) -> Result<TopicPlan, TopicError> {
        topic_name::validate(&request.name).map_err(TopicError::InvalidName)?;
        let live_brokers = self.live_brokers() as i32;
        let (num_partitions, replication_factor) = if request.assignments.is_empty() {
            let partitions = match request.num_partitions {
                -1 => self.config.num_partitions,
                n if n >= 1 => n,
                n => {
                    return Err(TopicError::InvalidPartitions(format!(
                        "Number of partitions was set to an invalid non-positive value: {n}."
                    )))
                }
            };
            let factor = match request.replication_factor {
                -1 => self.config.default_replication_factor,
                n if n >= 1 => n,
                n => return Err(TopicError::InvalidReplicationFactor(format!("Replication factor must be larger than 0, or -1 to use the default value: {n}."))),
            };
            (partitions, factor)
        } else {
            if request.num_partitions != -1 || request.replication_factor != -1 {
                return Err(TopicError::InvalidRequest(
                    "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into(),
                ));
            }
            self.check_replica_assignments(&request.assignments)?;
            (request.assignments.len() as i32, 1)
        };
        check_partition_limit(num_partitions)?;
        if i32::from(replication_factor) > live_brokers {
            return Err(TopicError::InvalidReplicationFactor(format!(
                "Unable to replicate the partition {replication_factor} time(s): The target replication factor of {replication_factor} cannot be reached because only {live_brokers} broker(s) are registered."
            )));
        }
        let mut configs = BTreeMap::new();
        for (name, value) in &request.configs {
            let value = value.as_ref().ok_or_else(|| {
                TopicError::InvalidRequest(format!(
                    "Null value not supported for topic configs: {name}"
                ))
            })?;
            topic_config::validate(name, value).map_err(TopicError::InvalidConfig)?;
            configs.insert(name.clone(), value.clone());
        }
        if self.metadata.image().topic(&request.name).is_some() {
            return Err(TopicError::AlreadyExists(request.name.clone()));
        }
        Ok(TopicPlan {
            name: request.name.clone(),
            num_partitions,
            replication_factor,
            assignments: request.assignments.clone(),
            configs,
        })
    }

    /// Creates a planned topic: in the cluster store, or on a single node in the metadata
    /// first (the source of truth), then its partitions.
    pub async fn create_topic(&self, plan: TopicPlan) -> Result<Arc<TopicMetadata>, TopicError> {
        let Some(node) = &self.cluster else {
            return self.create_local_topic(plan);
        };
        let new = NewClusterTopic {
            name: plan.name.clone(),
            partitions: plan.num_partitions,
            replication_factor: plan.replication_factor,
            assignment: (!plan.assignments.is_empty()).then(|| plan.assignments.clone()),
            configs: plan.configs,
        };
        let record = node.membership().create_topic(new).await?;
        self.wait_applied(|image| {
            image
                .topics
                .get(&plan.name)
                .is_some_and(|topic| topic.id == record.id)
        })
        .await;
        tracing::info!(topic = %plan.name, id = %record.id, partitions = record.replicas.len(), "created topic in the cluster");
        Ok(Arc::new(TopicMetadata {
            name: plan.name,
            id: record.id,
            partitions: record.replicas.len() as i32,
            configs: record.configs,
        }))
    }

    fn create_local_topic(&self, plan: TopicPlan) -> Result<Arc<TopicMetadata>, TopicError> {
        let _changing = self.change_topics();
        let topic = self
            .metadata
            .create_topic(&plan.name, plan.num_partitions, plan.configs)?;
        let opened = self.logs.open_topic(
            &topic.name,
            topic.id,
            0..topic.partitions,
            &self.log_config(&topic),
        );
        if let Err(error) = opened {
            // No half-created topic: the metadata would list partitions that have no log.
            // (Directories left over are removed as strays on the next start.)
            let undone = self
                .metadata
                .delete_topic(&topic.name)
                .map_err(TopicError::from)
                .and_then(|_| Ok(self.logs.delete_topic(&topic.name)?));
            if let Err(undo) = undone {
                tracing::error!(topic = %topic.name, error = %undo, "cannot undo a failed topic creation");
            }
            return Err(error.into());
        }
        tracing::info!(topic = %topic.name, id = %topic.id, partitions = topic.partitions, "created topic");
        Ok(topic)
    }

    /// Creates `name` with the broker defaults if the name is legal (auto-creation, which
    /// the caller checked is enabled). On a single node the topic exists when this returns;
    /// in a cluster its creation is started and `None` returned: Kafka answers
    /// LEADER_NOT_AVAILABLE meanwhile, and clients retry.
    pub fn auto_create_topic(
        self: &Arc<Self>,
        name: &str,
    ) -> Result<Option<Arc<TopicMetadata>>, TopicError> {
        let request = NewTopic {
            name: name.to_owned(),
            num_partitions: -1,
            replication_factor: -1,
            ..NewTopic::default()
        };
        let existing = || {
            self.metadata
                .image()
                .topic(name)
                .cloned()
                .ok_or_else(|| TopicError::Unknown(name.to_owned()))
        };
        let created = match self.plan_topic(&request) {
            Ok(plan) if self.cluster.is_some() => {
                self.start_cluster_creation(plan);
                return Ok(None);
            }
            Ok(plan) => self.create_local_topic(plan),
            Err(error) => Err(error),
        };
        match created {
            // Lost a race with another creator: the topic is there, which is what was asked.
            Err(TopicError::AlreadyExists(_)) => existing().map(Some),
            result => result.map(Some),
        }
    }

    /// Creates a topic in the cluster in the background (auto-creation, internal topics).
    fn start_cluster_creation(self: &Arc<Self>, plan: TopicPlan) {
        let broker = Arc::clone(self);
        tokio::spawn(async move {
            let name = plan.name.clone();
            match broker.create_topic(plan).await {
                Ok(_) | Err(TopicError::AlreadyExists(_)) => {}
                Err(error) => tracing::warn!(topic = %name, %error, "cannot create topic"),
            }
        });
    }

    /// In a cluster, starts creating the internal topic `name` unless it exists.
    fn ensure_internal_topic(self: &Arc<Self>, name: &str) {
        if self.metadata.image().topic(name).is_some() {
            return;
        }
        // Kafka's rule: created with the configured replication factor or not at all (the
        // lookup answers COORDINATOR_NOT_AVAILABLE until enough brokers are alive).
        let mut configs = internal_topic_configs();
        let replication_factor = if name == TRANSACTION_TOPIC {
            let min_isr = self.config.txn.state_min_isr.to_string();
            configs.insert("min.insync.replicas".to_owned(), min_isr);
            self.config.txn.state_replication_factor
        } else {
            self.config.group.offsets_topic_replication_factor
        };
        self.start_cluster_creation(TopicPlan {
            name: name.to_owned(),
            num_partitions: self.internal_topic_partitions(name),
            replication_factor,
            assignments: Vec::new(),
            configs,
        });
    }

    /// Deletes a topic: from the cluster store, or on a single node from the metadata first,
    /// then its files.
    pub async fn delete_topic(&self, name: &str) -> Result<Arc<TopicMetadata>, TopicError> {
        if Self::is_internal_topic(name) {
            return Err(TopicError::InvalidName(format!(
                "Internal topic {name} cannot be deleted"
            )));
        }
        if let Some(node) = &self.cluster {
            let record = node.membership().delete_topic(name).await?;
            self.wait_applied(|image| {
                image.topics.get(name).map(|topic| topic.id) != Some(record.id)
            })
            .await;
            tracing::info!(topic = %name, id = %record.id, "deleted topic from the cluster");
            return Ok(Arc::new(TopicMetadata {
                name: name.to_owned(),
                id: record.id,
                partitions: record.replicas.len() as i32,
                configs: record.configs,
            }));
        }
        let _changing = self.change_topics();
        let topic = self.metadata.delete_topic(name)?;
        self.logs.delete_topic(name)?;
        tracing::info!(topic = %name, id = %topic.id, "deleted topic");
        Ok(topic)
    }

    /// Explicit replica assignments on a single node may name only itself (the cluster store
    /// checks a cluster's).
    fn check_replica_assignments(&self, assignments: &[Vec<i32>]) -> Result<(), TopicError> {
        if self.cluster.is_some() {
            return Ok(());
        }
        match assignments
            .iter()
            .find(|replicas| replicas.as_slice() != [self.config.node_id])
        {
            Some(replicas) => Err(TopicError::InvalidReplicaAssignment(format!(
                "Replica assignment {replicas:?} names brokers other than the only live broker {}",
                self.config.node_id
            ))),
            None => Ok(()),
        }
    }

    fn change_topics(&self) -> MutexGuard<'_, ()> {
        self.topic_changes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Changes a topic's config overrides (IncrementalAlterConfigs; AlterConfigs `replace`s
    /// them all): validated, stored (in the cluster, or persisted on a single node), then
    /// applied to every partition, so a retention or segment change takes effect without a
    /// restart.
    pub async fn alter_topic_configs(
        &self,
        name: &str,
        changes: &[(String, ConfigChange)],
        replace: bool,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let changed = |configs: &BTreeMap<String, String>| {
            let base = if replace {
                BTreeMap::new()
            } else {
                configs.clone()
            };
            let configs = topic_config::apply_changes(&base, changes, &self.config)?;
            // The coordinators replay the newest record per key: their topics stay compacted.
            let compacted = internal_topic_configs()
                .iter()
                .all(|(key, value)| configs.get(key) == Some(value));
            if Self::is_internal_topic(name) && !compacted {
                return Err(TopicError::InvalidConfig(format!(
                    "Internal topic {name} must keep cleanup.policy=compact"
                )));
            }
            Ok::<_, TopicError>(configs)
        };
        if validate_only {
            let image = self.metadata.image();
            let topic = image
                .topic(name)
                .ok_or_else(|| TopicError::Unknown(name.to_owned()))?;
            return changed(&topic.configs).map(drop);
        }
        if let Some(node) = &self.cluster {
            let stored = node
                .membership()
                .update_topic(name, |record| {
                    let mut next = record.clone();
                    next.configs = changed(&record.configs)?;
                    Ok::<_, TopicError>(next)
                })
                .await?;
            self.wait_applied(|image| {
                image.topics.get(name).map(|topic| &topic.configs) == Some(&stored.configs)
            })
            .await;
            tracing::info!(topic = %name, configs = ?stored.configs, "changed topic configs in the cluster");
            return Ok(());
        }
        let _changing = self.change_topics();
        let topic = self.metadata.update_topic(name, |topic| {
            Ok::<_, TopicError>(TopicMetadata {
                configs: changed(&topic.configs)?,
                ..topic.clone()
            })
        })?;
        let config = self.log_config(&topic);
        for index in 0..topic.partitions {
            if let Some(partition) = self.partition(name, index) {
                partition.set_config(Arc::clone(&config));
            }
        }
        tracing::info!(topic = %name, configs = ?topic.configs, "changed topic configs");
        Ok(())
    }

    /// CreatePartitions: grows `name` to `count` partitions (never shrinks it). `assignments`
    /// name the replicas of each new partition (on one node, only this broker).
    pub async fn add_partitions(
        &self,
        name: &str,
        count: i32,
        assignments: Option<&[Vec<i32>]>,
        validate_only: bool,
        quota: &mut MutationQuota,
    ) -> Result<(), TopicError> {
        let image = self.metadata.image();
        let topic = image
            .topic(name)
            .ok_or_else(|| TopicError::Unknown(name.to_owned()))?;
        if Self::is_internal_topic(name) {
            return Err(TopicError::InvalidRequest(format!(
                "Partitions cannot be added to the internal topic {name}: its coordinators place keys by partition count."
            )));
        }
        let current = topic.partitions;
        if count < current {
            return Err(TopicError::InvalidPartitions(format!(
                "Topic currently has {current} partitions, which is higher than the requested {count}."
            )));
        }
        if count == current {
            return Err(TopicError::InvalidPartitions(format!(
                "Topic already has {current} partitions."
            )));
        }
        check_partition_limit(count)?;
        if let Some(assignments) = assignments {
            let added = count - current;
            if assignments.len() != added as usize {
                return Err(TopicError::InvalidReplicaAssignment(format!(
                    "Attempted to add {added} additional partition(s), but only {} assignment(s) were specified.",
                    assignments.len()
                )));
            }
        }
        quota.record(count - current)?;
        if let Some(assignments) = assignments {
            self.check_replica_assignments(assignments)?;
        }
        if validate_only {
            return Ok(());
        }
        if let Some(node) = &self.cluster {
            let membership = node.membership();
            let grown = membership
                .update_topic(name, |record| {
                    if record.replicas.len() != current as usize {
                        return Err(TopicError::InvalidPartitions(format!(
                            "Topic {name} changed its partition count while partitions were added."
                        )));
                    }
                    Ok(with_partitions(
                        record,
                        &membership.image(),
                        count,
                        assignments,
                    )?)
                })
                .await?;
            self.wait_applied(|image| {
                image
                    .topics
                    .get(name)
                    .is_some_and(|topic| topic.replicas.len() == grown.replicas.len())
            })
            .await;
            tracing::info!(topic = %name, from = current, to = count, "added partitions in the cluster");
            return Ok(());
        }
        let _changing = self.change_topics();
        let topic = self.metadata.update_topic(name, |topic| {
            Ok::<_, TopicError>(TopicMetadata {
                partitions: count,
                ..topic.clone()
            })
        })?;
        self.logs
            .open_topic(name, topic.id, current..count, &self.log_config(&topic))?;
        tracing::info!(topic = %name, from = current, to = count, "added partitions");
        Ok(())
    }

    /// The partitions' offsets and sizes and the groups' states and committed offsets, for a
    /// metrics scrape.
    pub fn metrics_sample(&self) -> StateSample {
        let partitions = self
            .logs
            .partitions()
            .into_iter()
            .map(|log| PartitionSample {
                topic: log.topic().to_owned(),
                partition: log.index(),
                log_start_offset: log.log_start_offset(),
                log_end_offset: log.log_end_offset(),
                size_bytes: log.size_bytes(),
            })
            .collect();
        let groups = self
            .groups
            .list_groups()
            .into_iter()
            .map(|group| GroupSample {
                committed: self
                    .groups
                    .group_offsets(&group.group_id)
                    .into_iter()
                    .map(|((topic, partition), offset)| (topic, partition, offset.offset))
                    .collect(),
                state: group.state.name(),
                rebalances: group.rebalances,
                group_id: group.group_id,
            })
            .collect();
        StateSample { partitions, groups }
    }
}

/// Brokers for unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::Path;

    use crate::config::{BrokerConfig, Overrides};

    /// Kafka's defaults, with the data under `dir`.
    pub fn config_in(dir: &Path) -> BrokerConfig {
        let overrides = Overrides {
            data_dir: Some(dir.to_owned()),
            ..Overrides::default()
        };
        BrokerConfig::from_map(Default::default(), &overrides).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::cluster::memory::MemoryKv;
    use crate::cluster::{ClusterConfig, Kv, Membership};

    /// FindCoordinator on another broker may name this one before this one's image has the
    /// internal topic that broker just created: the client is told to retry here (a load in
    /// progress), not sent to look again (NOT_COORDINATOR, which some clients give up on).
    #[tokio::test]
    async fn a_member_named_coordinator_before_it_sees_the_internal_topic_asks_to_retry() {
        let dir = tempfile::tempdir().unwrap();
        let config = testing::config_in(dir.path());
        let kv = Kv::Memory(Arc::new(MemoryKv::new()));
        let cluster =
            ClusterConfig::for_test(config.node_id, "/coordination", Duration::from_secs(3));
        let membership = Membership::join(kv, &cluster).await.unwrap();
        let broker = Broker::open_in_cluster(config, Arc::new(SystemClock), membership)
            .await
            .unwrap();
        assert!(broker.metadata.image().topic(OFFSETS_TOPIC).is_none());
        assert_eq!(
            broker.coordination(OFFSETS_TOPIC, "group"),
            Coordination::Starting
        );
        assert_eq!(
            broker.coordination(TRANSACTION_TOPIC, "transactional-id"),
            Coordination::Starting
        );
    }

    #[test]
    fn a_topic_whose_logs_cannot_open_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let config = testing::config_in(dir.path());
        let broker = Broker::open(config, Arc::new(SystemClock)).unwrap();
        // A file where partition 3's directory must go: opening that partition fails.
        std::fs::write(dir.path().join("t-3"), b"in the way").unwrap();
        let request = NewTopic {
            name: "t".into(),
            num_partitions: 5,
            replication_factor: 1,
            ..NewTopic::default()
        };
        let plan = broker.plan_topic(&request).unwrap();
        assert!(matches!(
            broker.create_local_topic(plan.clone()),
            Err(TopicError::Storage(_))
        ));
        assert!(broker.metadata.image().topic("t").is_none());
        assert!(broker.partition("t", 0).is_none());
        assert!(!dir.path().join("t-0").exists());

        std::fs::remove_file(dir.path().join("t-3")).unwrap();
        let created = broker.create_local_topic(plan).unwrap();
        assert_eq!(created.partitions, 5);
        assert!(broker.partition("t", 4).is_some());
    }
}
