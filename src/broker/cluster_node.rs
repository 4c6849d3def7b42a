//! The broker as a member of a cluster: its metadata and its logs follow the cluster image
//! that etcd keeps current (topics, replica assignments, leaders and their epochs), and
//! topic changes are written to the cluster store, never to the data dir.
//!
//! One task ([`Broker::run_cluster_reconciler`]) applies each new image: the topics become
//! the metadata image the handlers read, logs are opened for the replicas this broker now
//! holds (a leader takes up its leader epoch) and deleted for those it no longer holds, and
//! changed topic configs reach their partitions. Only then is the image "applied": what
//! Metadata, partition leadership and coordinator lookups answer from, so a client is never
//! sent to a log this broker has not opened.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{topic_log_config, Broker, PartitionView, StartupError, TopicError};
use crate::clock::SharedClock;
use crate::cluster::local_replicas::{local_changes, Role};
use crate::cluster::topics::TopicError as StoreTopicError;
use crate::cluster::{ClusterImage, Membership};
use crate::config::dynamic::DynamicScope;
use crate::config::BrokerConfig;
use crate::log::LogManager;
use crate::metadata::MetadataStore;
use crate::metadata::{Image, TopicMetadata};
use crate::peers::{PeerSecurity, Peers};
use crate::producer_ids::ProducerIds;
use crate::replication::{Fetchers, LeaderAddress, ReplicationThrottles};

/// How long a starting broker waits to see its own registration and the cluster id.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a topic change waits to see its effect applied on this broker before answering
/// anyway (the change is in the store: every broker applies it as it sees it).
const APPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// A broker's part in the cluster.
#[derive(Debug)]
pub struct ClusterNode {
    membership: Membership,
    /// The newest image whose effects on the metadata and the logs are applied.
    applied: watch::Sender<Arc<ClusterImage>>,
    /// Connections to the other brokers.
    pub peers: Arc<Peers>,
    /// The fetching of the partitions this broker follows.
    pub(super) fetchers: Fetchers,
    /// What this broker's leaders send to throttled followers and its throttled followers
    /// fetch.
    pub throttles: Arc<ReplicationThrottles>,
}

/// A live broker as clients reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerEndpoint {
    pub node_id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
}

impl ClusterNode {
    /// The applied image.
    pub fn image(&self) -> Arc<ClusterImage> {
        Arc::clone(&self.applied.borrow())
    }

    /// A receiver of every newly applied image.
    pub fn subscribe_applied(&self) -> watch::Receiver<Arc<ClusterImage>> {
        self.applied.subscribe()
    }

    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// Waits until the applied image satisfies `condition`; false after `timeout`.
    pub(super) async fn wait_applied(
        &self,
        timeout: Duration,
        condition: impl Fn(&ClusterImage) -> bool,
    ) -> bool {
        let mut applied = self.applied.subscribe();
        let found = async move { applied.wait_for(|image| condition(image)).await.is_ok() };
        tokio::time::timeout(timeout, found).await.unwrap_or(false)
    }

    /// The live brokers with an endpoint on `listener`, by node id.
    pub fn brokers(&self, listener: &str) -> Vec<BrokerEndpoint> {
        self.image()
            .brokers
            .values()
            .filter_map(|broker| {
                let (host, port) = broker.endpoint(listener)?;
                Some(BrokerEndpoint {
                    node_id: broker.node_id,
                    host: host.to_owned(),
                    port,
                    rack: broker.rack.clone(),
                })
            })
            .collect()
    }

    /// How many brokers are alive.
    pub fn live_brokers(&self) -> usize {
        self.image().brokers.len()
    }

    /// Leader, epoch, replicas and ISR of `topic`/`partition` in the applied image.
    pub fn partition_view(&self, topic: &str, partition: i32) -> Option<PartitionView> {
        let image = self.image();
        let record = image.topics.get(topic)?;
        let replicas = record
            .replicas
            .get(usize::try_from(partition).ok()?)?
            .clone();
        let offline_replicas = replicas
            .iter()
            .copied()
            .filter(|&id| !image.hosts(id, record.id, partition))
            .collect();
        Some(match image.partition(record, partition) {
            Some(current) => PartitionView {
                leader: current.state.leader,
                leader_epoch: current.state.leader_epoch,
                replicas,
                isr: current.state.isr.clone(),
                offline_replicas,
            },
            None => PartitionView {
                offline_replicas,
                ..PartitionView::offline(replicas)
            },
        })
    }
}

/// The metadata image of the cluster image's topics, dynamic broker configs and SCRAM
/// credentials.
fn metadata_image(image: &ClusterImage) -> Image {
    let topics = image.topics.iter().map(|(name, record)| TopicMetadata {
        name: name.clone(),
        id: record.id,
        partitions: record.replicas.len() as i32,
        configs: record.configs.clone(),
    });
    let mut metadata = Image::new(image.cluster_id.clone().unwrap_or_default(), topics);
    metadata.dynamic_configs.by_scope = image
        .broker_configs
        .iter()
        .map(|(node_id, configs)| (DynamicScope::of(*node_id), configs.clone()))
        .collect();
    metadata.scram_credentials = image.scram_credentials.clone();
    metadata.acls = Arc::clone(&image.acls);
    metadata.client_quotas = Arc::clone(&image.client_quotas);
    metadata
}

impl From<StoreTopicError> for TopicError {
    fn from(error: StoreTopicError) -> Self {
        match error {
            StoreTopicError::AlreadyExists(name) => Self::AlreadyExists(name),
            StoreTopicError::UnknownTopic(name) => Self::Unknown(name),
            StoreTopicError::Placement(error) => Self::InvalidReplicationFactor(error.to_string()),
            StoreTopicError::InvalidAssignment(message) => Self::InvalidReplicaAssignment(message),
            StoreTopicError::Store(error) => Self::Storage(error.to_string()),
        }
    }
}

impl Broker {
    /// Opens a broker that has joined a cluster: the data dir must belong to the cluster, and
    /// the logs opened are those of the replicas the cluster gives this broker.
    pub async fn open_in_cluster(
        config: BrokerConfig,
        clock: SharedClock,
        membership: Membership,
    ) -> Result<Self, StartupError> {
        let node_id = config.node_id;
        let image = membership
            .wait_for(JOIN_TIMEOUT, |image| {
                image.cluster_id.is_some() && image.brokers.contains_key(&node_id)
            })
            .await
            .ok_or(StartupError::NotJoined(JOIN_TIMEOUT))?;
        let cluster_id = image.cluster_id.clone().unwrap_or_default();
        let metadata = MetadataStore::open_in_cluster(&config.data_dir, node_id, &cluster_id)?;
        let logs = Arc::new(LogManager::open_replicas(
            &config.data_dir,
            Arc::clone(&clock),
        )?);
        apply_image(&config, &metadata, &logs, &ClusterImage::default(), &image)?;
        logs.remove_unknown_partition_dirs()?;
        let blocks = membership.producer_id_blocks();
        let producer_ids = ProducerIds::from_cluster(Box::new(move || {
            let block = blocks();
            Box::pin(async move { block.await.map_err(std::io::Error::other) })
        }));
        let security = Arc::new(PeerSecurity {
            tls: config.listeners.inter_broker().tls.clone(),
            sasl: config.inter_broker_login.clone(),
        });
        let peers = Arc::new(Peers::new(Arc::clone(&security)));
        let throttles = Arc::new(ReplicationThrottles::default());
        let fence = membership.departed_broker_fencer();
        let node = ClusterNode {
            membership,
            applied: watch::Sender::new(image),
            fetchers: Fetchers::new(
                node_id,
                Arc::clone(&throttles),
                security,
                Arc::new(move |leader: &LeaderAddress| {
                    fence(leader.node_id, &leader.host, leader.port)
                }),
                config.flush_on_ack,
            ),
            peers,
            throttles,
        };
        // The coordinators replay the internal-topic partitions opened above.
        Self::assemble(config, clock, metadata, logs, producer_ids, Some(node))
    }

    /// Takes up the roles of the replicas opened at startup, before clients are served: until
    /// then a replicated partition would take appends as if it had no followers.
    pub fn take_up_roles(self: &Arc<Self>) {
        if let Some(node) = &self.cluster {
            self.apply_roles(&ClusterImage::default(), &node.image());
        }
    }

    /// Applies every new cluster image, until the membership ends.
    pub async fn run_cluster_reconciler(self: Arc<Self>) {
        let Some(node) = &self.cluster else {
            return;
        };
        let mut images = node.membership.subscribe();
        loop {
            let next = Arc::clone(&images.borrow_and_update());
            let before = node.image();
            if next.revision > before.revision {
                let applied = {
                    let _changing = self.change_topics();
                    apply_image(&self.config, &self.metadata, &self.logs, &before, &next)
                };
                match applied {
                    Ok(()) => {
                        self.apply_roles(&before, &next);
                        node.applied.send_replace(next);
                    }
                    // Stays unapplied: the next image is tried against the last applied one.
                    Err(error) => {
                        tracing::error!(%error, revision = next.revision, "cannot apply the cluster image")
                    }
                }
            }
            if images.changed().await.is_err() {
                return;
            }
        }
    }

    /// Waits (bounded) until this broker has applied an image where `condition` holds.
    pub(super) async fn wait_applied(&self, condition: impl Fn(&ClusterImage) -> bool) {
        if let Some(node) = &self.cluster {
            if !node.wait_applied(APPLY_TIMEOUT, condition).await {
                tracing::warn!("a topic change is in the cluster store but not yet applied here");
            }
        }
    }
}

/// Makes the metadata and the logs match `after` (they match `before`).
fn apply_image(
    config: &BrokerConfig,
    metadata: &MetadataStore,
    logs: &LogManager,
    before: &ClusterImage,
    after: &ClusterImage,
) -> Result<(), TopicError> {
    let node_id = config.node_id;
    metadata.install(metadata_image(after))?;
    let changes = local_changes(before, after, node_id);
    for replica in &changes.removed {
        // A partition whose state is missing for a moment (the controller recreates it) is
        // still assigned here: its log stays.
        let still_here = after.topics.get(&replica.topic).is_some_and(|topic| {
            topic.id == replica.topic_id
                && topic
                    .replicas
                    .get(replica.partition as usize)
                    .is_some_and(|replicas| replicas.contains(&node_id))
        });
        if !still_here {
            logs.delete_partition(&replica.topic, replica.partition)?;
            tracing::info!(topic = %replica.topic, partition = replica.partition, "removed replica");
        }
    }
    let image = metadata.image();
    for replica in &changes.changed {
        let Some(topic) = image.topic(&replica.topic) else {
            continue;
        };
        let log = match logs.partition(&replica.topic, replica.partition) {
            Some(log) => log,
            None => {
                let range = replica.partition..replica.partition + 1;
                logs.open_topic(
                    &topic.name,
                    topic.id,
                    range,
                    &topic_log_config(topic, config),
                )?;
                logs.partition(&replica.topic, replica.partition)
                    .ok_or_else(|| TopicError::Unknown(replica.topic.clone()))?
            }
        };
        if let Role::Leader { leader_epoch } = replica.role {
            match log.begin_leader_epoch(leader_epoch) {
                Ok(()) => {
                    tracing::info!(topic = %replica.topic, partition = replica.partition, leader_epoch, "leading")
                }
                // The partition is offline (its disk failed): it takes no writes until the
                // broker restarts; the other partitions and later images go on.
                Err(error) => {
                    tracing::error!(topic = %replica.topic, partition = replica.partition, leader_epoch, %error, "cannot begin the leader epoch")
                }
            }
        }
    }
    for (name, topic) in &after.topics {
        if before.topics.get(name).map(|old| &old.configs) == Some(&topic.configs) {
            continue;
        }
        if let Some(metadata) = image.topic(name) {
            let log_config = topic_log_config(metadata, config);
            for index in 0..metadata.partitions {
                if let Some(log) = logs.partition(name, index) {
                    log.set_config(Arc::clone(&log_config));
                }
            }
        }
    }
    Ok(())
}
