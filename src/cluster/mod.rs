//! The cluster: brokers that find each other, elect a controller and share metadata through
//! etcd, a proven consensus store in the role ZooKeeper played for Kafka. spool never runs a
//! consensus protocol of its own: every decision is an etcd transaction guarded by compares
//! (create-if-absent, compare-and-swap on a key's revision), and liveness is an etcd lease.
//!
//! - `kv`: the store as etcd's v3 API shapes it; `etcd` is the real one, `memory` a model
//!   with the same semantics for deterministic tests.
//! - `image`: the key layout and the [`ClusterImage`] built from it.
//! - `membership`: a broker's session, registration and controller campaign.
//! - `placement`: where a new topic's replicas go.
//! - `topics`: creating and deleting topics in the store.
//! - `controller`: what the controller does: leader elections, ISR shrinks on broker death,
//!   preferred-leader rebalancing.
//! - `alter_partition`: a leader's own ISR changes (Kafka's AlterPartition).
//! - `elections`: the preferred or unclean elections clients ask for (ElectLeaders).
//! - `producer_ids`: producer-id blocks unique across the cluster.
//! - `broker_configs`: dynamic broker configs, per broker and the cluster default.
//! - `reassignment`: moving partitions' replicas to other brokers (AlterPartitionReassignments).
//! - `local_replicas`: the partitions a broker replicates and in which role, and what changed
//!   for it between two images.

pub mod alter_partition;
pub mod broker_configs;
pub mod controller;
pub mod elections;
pub mod etcd;
mod failover_tests;
pub mod image;
pub mod kv;
pub mod local_replicas;
pub mod membership;
pub mod memory;
pub mod placement;
pub mod producer_ids;
pub mod reassignment;
pub mod topics;

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

pub use controller::ControllerConfig;
pub use image::{
    BrokerRegistration, ClusterImage, Controller, Keys, ListenerEndpoint, Partition,
    PartitionState, TopicRecord, NO_LEADER,
};
pub use kv::{Kv, KvError};
pub use membership::Membership;

/// The key root when the cluster URL names none.
pub const DEFAULT_ROOT: &str = "/spool";
/// Kafka's default `broker.session.timeout.ms`.
pub const SESSION_TIMEOUT_DEFAULT_MS: i64 = 9_000;
/// etcd counts lease ttls in whole seconds; a shorter session cannot be kept.
pub const SESSION_TIMEOUT_MIN_MS: i64 = 1_000;

#[derive(Debug, Error)]
pub enum ClusterError {
    #[error(transparent)]
    Store(#[from] KvError),
    #[error("node.id {0} is registered by another live broker")]
    DuplicateNodeId(i32),
}

/// Where the cluster's store is: `etcd://host:port[,host:port…][/root]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterUrl {
    pub endpoints: Vec<String>,
    /// Every key of this cluster lives under it, so clusters can share one etcd.
    pub root: String,
}

impl ClusterUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text
            .strip_prefix("etcd://")
            .ok_or_else(|| format!("`{text}` does not start with etcd://"))?;
        let (hosts, root) = match rest.split_once('/') {
            Some((hosts, root)) if !root.trim_matches('/').is_empty() => {
                (hosts, format!("/{}", root.trim_matches('/')))
            }
            Some((hosts, _)) => (hosts, DEFAULT_ROOT.to_owned()),
            None => (rest, DEFAULT_ROOT.to_owned()),
        };
        let endpoints: Vec<String> = hosts.split(',').map(str::to_owned).collect();
        for endpoint in &endpoints {
            let port = endpoint
                .rsplit_once(':')
                .map(|(_, port)| port.parse::<u16>());
            if !matches!(port, Some(Ok(_))) {
                return Err(format!("`{endpoint}` in `{text}` is not HOST:PORT"));
            }
        }
        Ok(Self { endpoints, root })
    }

    /// Connects to the etcd endpoints.
    pub async fn connect(&self) -> Result<Kv, KvError> {
        let endpoints: Vec<String> = self
            .endpoints
            .iter()
            .map(|endpoint| format!("http://{endpoint}"))
            .collect();
        Ok(Kv::Etcd(Arc::new(etcd::EtcdKv::connect(&endpoints).await?)))
    }
}

/// What a broker needs to take part in a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub node_id: i32,
    /// The key root in the store.
    pub root: String,
    /// `broker.session.timeout.ms`: a broker whose lease is not renewed for this long is gone.
    pub session_timeout: Duration,
    /// What this broker registers (its advertised listener and rack).
    pub registration: BrokerRegistration,
    /// The cluster id written if this broker is the first one (Kafka's form: 22 characters
    /// of URL-safe base64); the store's id wins otherwise.
    pub new_cluster_id: String,
    /// How this broker elects leaders while it is the controller.
    pub controller: ControllerConfig,
}

/// What the store holds now, with the live brokers of `brokers` (tests write topics without
/// registering brokers).
#[cfg(test)]
pub(crate) async fn stored_image(kv: &Kv, keys: &Keys, brokers: &ClusterImage) -> ClusterImage {
    let snapshot = kv.get_prefix(keys.prefix()).await.expect("read");
    let mut image = ClusterImage::from_snapshot(keys, &snapshot);
    image.brokers = brokers.brokers.clone();
    image
}

#[cfg(test)]
impl ClusterConfig {
    /// Node `node_id` under `root` on 127.0.0.1:9000+id, with Kafka's controller defaults.
    pub fn for_test(node_id: i32, root: &str, session_timeout: Duration) -> Self {
        Self {
            node_id,
            root: root.into(),
            session_timeout,
            registration: BrokerRegistration {
                node_id,
                host: "127.0.0.1".into(),
                port: 9000 + node_id as u16,
                rack: None,
                listeners: Vec::new(),
                offline: Vec::new(),
            },
            new_cluster_id: format!("cluster-of-{node_id}"),
            controller: ControllerConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_name_endpoints_and_an_optional_root() {
        assert_eq!(
            ClusterUrl::parse("etcd://127.0.0.1:2379"),
            Ok(ClusterUrl {
                endpoints: vec!["127.0.0.1:2379".into()],
                root: "/spool".into()
            })
        );
        assert_eq!(
            ClusterUrl::parse("etcd://a:1,b:2/team/one/"),
            Ok(ClusterUrl {
                endpoints: vec!["a:1".into(), "b:2".into()],
                root: "/team/one".into()
            })
        );
        assert!(ClusterUrl::parse("http://a:1").is_err());
        assert!(ClusterUrl::parse("etcd://a").is_err());
        assert!(ClusterUrl::parse("etcd://a:1,").is_err());
    }
}
