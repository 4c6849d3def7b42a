//! What the cluster store holds, as each broker sees it: the key layout under the cluster's
//! root and the [`ClusterImage`] a watch keeps up to date.
//!
//! ```text
//! <root>/cluster_id        the cluster id, written once by the first broker
//! <root>/brokers/<id>      a BrokerRegistration, on the broker's lease
//! <root>/controller        the controller's node id, on its lease; the key's create
//!                          revision is the controller epoch
//! <root>/topics/<name>     a TopicRecord: id, configs, replica assignment
//! <root>/partitions/<topic id>/<p>
//!                          a PartitionState: leader, leader epoch, ISR; changed only by
//!                          compare-and-swap on the key's mod revision (the partition epoch)
//! <root>/producer_ids      the end of the last producer-id block handed out
//! <root>/broker_configs/<id>|default
//!                          dynamic broker configs (a JSON map) of one broker, or the
//!                          cluster-wide default
//! <root>/scram_credentials every user's SCRAM credentials (a JSON map: user → mechanism →
//!                          salt, stored key, server key, iterations)
//! <root>/acls              every ACL (a JSON map: id → resource pattern and entry)
//! <root>/client_quotas     every client quota (a JSON map: entity → its (type, name)
//!                          pairs and quota values)
//! ```
//!
//! Partition states are keyed by topic id, so a topic deleted and created again under the
//! same name never meets its predecessor's states.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::kv::{Change, Entry, LeaseId, Snapshot};
use crate::acl::Acls;
use crate::quota::ClientQuotas;
use crate::sasl::UserScramCredentials;

/// How a live broker is reached, as it registered itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    pub node_id: i32,
    /// The advertised endpoint of the listener the other brokers connect to
    /// (`inter.broker.listener.name`).
    pub host: String,
    pub port: u16,
    /// `broker.rack`, for rack-aware replica placement.
    #[serde(default)]
    pub rack: Option<String>,
    /// Every advertised listener; clients are told the one they came in on.
    #[serde(default)]
    pub listeners: Vec<ListenerEndpoint>,
    /// Partitions (topic id, index) whose log this broker can no longer write: an fsync
    /// failed. It neither leads them nor stays in their ISR until it
    /// restarts, as Kafka moves leadership off a failed log directory (KIP-858).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offline: Vec<(Uuid, i32)>,
}

/// One advertised listener of a broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerEndpoint {
    /// The listener's name (upper case, as Kafka normalises it).
    pub name: String,
    pub host: String,
    pub port: u16,
    /// Its security protocol's name (`PLAINTEXT`, `SSL`, …).
    pub security_protocol: String,
}

impl BrokerRegistration {
    /// Host and port of listener `name`; a registration that lists no listeners (written
    /// before brokers had several) has only its inter-broker one, which every name gets.
    pub fn endpoint(&self, name: &str) -> Option<(&str, u16)> {
        if self.listeners.is_empty() {
            return Some((&self.host, self.port));
        }
        self.listeners
            .iter()
            .find(|listener| listener.name == name)
            .map(|listener| (listener.host.as_str(), listener.port))
    }
}

/// The controller's record under `<root>/controller`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerRecord {
    pub node_id: i32,
}

/// The broker elected controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Controller {
    pub node_id: i32,
    /// The controller key's create revision: larger with every election, so it fences the
    /// writes of a deposed controller.
    pub epoch: i64,
}

/// The leader of a partition that has none (Kafka's -1).
pub const NO_LEADER: i32 = -1;

/// A topic as the cluster stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    pub id: Uuid,
    /// The replicas of each partition, preferred leader first; its length is the partition
    /// count.
    pub replicas: Vec<Vec<i32>>,
    /// Topic-level config overrides; defaults are not stored.
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

/// Who leads a partition and who is in sync with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    /// [`NO_LEADER`] while no replica can lead.
    pub leader: i32,
    /// Grows with every change of leader; replicas fence requests of older epochs with it.
    pub leader_epoch: i32,
    /// The in-sync replicas, leader included.
    pub isr: Vec<i32>,
    /// The leader's broker epoch when it was elected. A leader whose registration is newer
    /// has restarted since (its unflushed writes may be gone) and is elected anew.
    #[serde(default)]
    pub leader_broker_epoch: i64,
    /// While the partition's replicas move (`reassignment`): the replicas it gains, which
    /// the topic record's replica list already holds...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adding_replicas: Vec<i32>,
    /// ...and those it loses once the gained ones are in sync.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removing_replicas: Vec<i32>,
}

/// A partition's state with the version a compare-and-swap must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub state: PartitionState,
    /// The state key's mod revision: the partition epoch of Kafka's AlterPartition.
    pub version: i64,
}

/// The keys of one cluster, all under its root (`/spool` unless the cluster URL names one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

/// What a key under the root names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    ClusterId,
    Broker(i32),
    Controller,
    Topic(String),
    Partition(Uuid, i32),
    BrokerConfigs(Option<i32>),
    ScramCredentials,
    Acls,
    ClientQuotas,
}

/// The key name of the cluster-wide default dynamic broker configs.
const CLUSTER_DEFAULT_CONFIGS: &str = "default";

impl Keys {
    pub fn new(root: &str) -> Self {
        Self {
            prefix: format!("{}/", root.trim_end_matches('/')),
        }
    }

    /// Every key of the cluster starts with this.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn cluster_id(&self) -> String {
        format!("{}cluster_id", self.prefix)
    }

    pub fn broker(&self, node_id: i32) -> String {
        format!("{}brokers/{node_id}", self.prefix)
    }

    pub fn controller(&self) -> String {
        format!("{}controller", self.prefix)
    }

    pub fn producer_ids(&self) -> String {
        format!("{}producer_ids", self.prefix)
    }

    pub fn topic(&self, name: &str) -> String {
        format!("{}topics/{name}", self.prefix)
    }

    /// The prefix of every partition state of the topic `topic_id`.
    pub fn partitions_of(&self, topic_id: Uuid) -> String {
        format!("{}partitions/{topic_id}/", self.prefix)
    }

    pub fn partition(&self, topic_id: Uuid, partition: i32) -> String {
        format!("{}{partition}", self.partitions_of(topic_id))
    }

    /// The dynamic broker configs of broker `node_id`, or with `None` the cluster default.
    pub fn broker_configs(&self, node_id: Option<i32>) -> String {
        match node_id {
            Some(id) => format!("{}broker_configs/{id}", self.prefix),
            None => format!("{}broker_configs/{CLUSTER_DEFAULT_CONFIGS}", self.prefix),
        }
    }

    /// Every user's SCRAM credentials.
    pub fn scram_credentials(&self) -> String {
        format!("{}scram_credentials", self.prefix)
    }

    /// Every ACL.
    pub fn acls(&self) -> String {
        format!("{}acls", self.prefix)
    }

    /// Every client quota.
    pub fn client_quotas(&self) -> String {
        format!("{}client_quotas", self.prefix)
    }

    fn parse(&self, key: &str) -> Option<Key> {
        let rest = key.strip_prefix(&self.prefix)?;
        match rest.split_once('/') {
            None if rest == "cluster_id" => Some(Key::ClusterId),
            None if rest == "scram_credentials" => Some(Key::ScramCredentials),
            None if rest == "acls" => Some(Key::Acls),
            None if rest == "client_quotas" => Some(Key::ClientQuotas),
            None if rest == "controller" => Some(Key::Controller),
            Some(("brokers", id)) => id.parse().ok().map(Key::Broker),
            Some(("broker_configs", CLUSTER_DEFAULT_CONFIGS)) => Some(Key::BrokerConfigs(None)),
            Some(("broker_configs", id)) => id.parse().ok().map(|id| Key::BrokerConfigs(Some(id))),
            Some(("topics", name)) if !name.is_empty() && !name.contains('/') => {
                Some(Key::Topic(name.to_owned()))
            }
            Some(("partitions", rest)) => {
                let (topic_id, partition) = rest.split_once('/')?;
                Some(Key::Partition(
                    topic_id.parse().ok()?,
                    partition.parse().ok()?,
                ))
            }
            _ => None,
        }
    }
}

/// The cluster as of one revision of the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterImage {
    /// The store revision this image reflects.
    pub revision: i64,
    pub cluster_id: Option<String>,
    /// Live brokers by node id.
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    /// Each live broker's epoch: its registration key's create revision, new with every
    /// registration, so a restart shows even when the image never saw the broker gone.
    pub broker_epochs: BTreeMap<i32, i64>,
    /// Each live broker's session: the lease its registration lives on.
    pub broker_leases: BTreeMap<i32, LeaseId>,
    pub controller: Option<Controller>,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicRecord>,
    /// Each topic record's mod revision, which a compare-and-swap of the record names.
    pub topic_versions: BTreeMap<String, i64>,
    /// Partition states by topic id and partition (states of deleted topics may linger until
    /// the controller removes them).
    pub partitions: BTreeMap<(Uuid, i32), Partition>,
    /// Dynamic broker configs by broker (`None`: the cluster-wide default).
    pub broker_configs: BTreeMap<Option<i32>, BTreeMap<String, String>>,
    /// Every user's SCRAM credentials, by user.
    pub scram_credentials: BTreeMap<String, UserScramCredentials>,
    /// Every ACL.
    pub acls: Arc<Acls>,
    /// Every client quota.
    pub client_quotas: Arc<ClientQuotas>,
}

impl ClusterImage {
    /// The epoch of broker `node_id` if it is live.
    pub fn broker_epoch(&self, node_id: i32) -> Option<i64> {
        self.broker_epochs.get(&node_id).copied()
    }

    /// Whether broker `id` is live and can write its replica of partition `partition` of
    /// the topic `topic_id` (it did not report it offline).
    pub fn hosts(&self, id: i32, topic_id: Uuid, partition: i32) -> bool {
        self.brokers
            .get(&id)
            .is_some_and(|broker| !broker.offline.contains(&(topic_id, partition)))
    }

    /// The state of `topic`'s partition `partition`.
    pub fn partition(&self, topic: &TopicRecord, partition: i32) -> Option<&Partition> {
        self.partitions.get(&(topic.id, partition))
    }

    /// The replicas of partition `partition` of the topic named `topic`, preferred leader
    /// first; `None` if there is no such partition.
    pub fn replicas(&self, topic: &str, partition: i32) -> Option<&[i32]> {
        let record = self.topics.get(topic)?;
        record
            .replicas
            .get(usize::try_from(partition).ok()?)
            .map(Vec::as_slice)
    }

    /// The leader and leader epoch of partition `partition` of the topic named `topic`
    /// ([`NO_LEADER`] and -1 while it has no state); `None` if there is no such partition.
    pub fn leadership(&self, topic: &str, partition: i32) -> Option<(i32, i32)> {
        let record = self.topics.get(topic)?;
        record.replicas.get(usize::try_from(partition).ok()?)?;
        Some(
            self.partition(record, partition)
                .map_or((NO_LEADER, -1), |current| {
                    (current.state.leader, current.state.leader_epoch)
                }),
        )
    }

    /// The leader of partition `partition` of the topic named `topic` (see
    /// [`ClusterImage::leadership`]).
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        self.leadership(topic, partition).map(|(leader, _)| leader)
    }

    pub fn from_snapshot(keys: &Keys, snapshot: &Snapshot) -> Self {
        let mut image = Self::default();
        for entry in &snapshot.entries {
            image.put(keys, entry);
        }
        image.revision = snapshot.revision;
        image
    }

    /// Applies one watched change.
    pub fn apply(&mut self, keys: &Keys, change: &Change) {
        match change {
            Change::Put(entry) => {
                self.put(keys, entry);
                self.revision = self.revision.max(entry.mod_revision);
            }
            Change::Delete { key, revision } => {
                match keys.parse(key) {
                    Some(Key::ClusterId) => self.cluster_id = None,
                    Some(Key::Broker(id)) => {
                        self.brokers.remove(&id);
                        self.broker_epochs.remove(&id);
                        self.broker_leases.remove(&id);
                    }
                    Some(Key::Controller) => self.controller = None,
                    Some(Key::Topic(name)) => {
                        self.topics.remove(&name);
                        self.topic_versions.remove(&name);
                    }
                    Some(Key::Partition(topic_id, partition)) => {
                        self.partitions.remove(&(topic_id, partition));
                    }
                    Some(Key::BrokerConfigs(node_id)) => {
                        self.broker_configs.remove(&node_id);
                    }
                    Some(Key::ScramCredentials) => self.scram_credentials.clear(),
                    Some(Key::Acls) => self.acls = Arc::default(),
                    Some(Key::ClientQuotas) => self.client_quotas = Arc::default(),
                    None => {}
                }
                self.revision = self.revision.max(*revision);
            }
        }
    }

    fn put(&mut self, keys: &Keys, entry: &Entry) {
        let Some(key) = keys.parse(&entry.key) else {
            return;
        };
        let malformed = |error: serde_json::Error| {
            // Somebody else's bytes under our root: leave the image as it was.
            tracing::warn!(key = %entry.key, %error, "ignoring a malformed cluster record");
        };
        match key {
            Key::ClusterId => {
                self.cluster_id = Some(String::from_utf8_lossy(&entry.value).into_owned());
            }
            Key::Broker(id) => match serde_json::from_slice::<BrokerRegistration>(&entry.value) {
                Ok(registration) if registration.node_id == id => {
                    self.brokers.insert(id, registration);
                    self.broker_epochs.insert(id, entry.create_revision);
                    match entry.lease {
                        Some(lease) => self.broker_leases.insert(id, lease),
                        None => self.broker_leases.remove(&id),
                    };
                }
                Ok(registration) => tracing::warn!(
                    key = %entry.key,
                    node_id = registration.node_id,
                    "ignoring a broker registration under another broker's key"
                ),
                Err(error) => malformed(error),
            },
            Key::Controller => match serde_json::from_slice::<ControllerRecord>(&entry.value) {
                Ok(record) => {
                    self.controller = Some(Controller {
                        node_id: record.node_id,
                        epoch: entry.create_revision,
                    })
                }
                Err(error) => malformed(error),
            },
            Key::Topic(name) => match serde_json::from_slice::<TopicRecord>(&entry.value) {
                Ok(topic) => {
                    self.topic_versions.insert(name.clone(), entry.mod_revision);
                    self.topics.insert(name, topic);
                }
                Err(error) => malformed(error),
            },
            Key::Partition(topic_id, partition) => {
                match serde_json::from_slice::<PartitionState>(&entry.value) {
                    Ok(state) => {
                        let version = entry.mod_revision;
                        self.partitions
                            .insert((topic_id, partition), Partition { state, version });
                    }
                    Err(error) => malformed(error),
                }
            }
            Key::BrokerConfigs(node_id) => match serde_json::from_slice(&entry.value) {
                Ok(configs) => {
                    self.broker_configs.insert(node_id, configs);
                }
                Err(error) => malformed(error),
            },
            Key::ScramCredentials => match serde_json::from_slice(&entry.value) {
                Ok(credentials) => self.scram_credentials = credentials,
                Err(error) => malformed(error),
            },
            Key::Acls => match serde_json::from_slice(&entry.value) {
                Ok(acls) => self.acls = Arc::new(acls),
                Err(error) => malformed(error),
            },
            Key::ClientQuotas => match serde_json::from_slice(&entry.value) {
                Ok(quotas) => self.client_quotas = Arc::new(quotas),
                Err(error) => malformed(error),
            },
        }
    }
}

#[cfg(test)]
impl ClusterImage {
    /// An image with brokers `ids` registered on 127.0.0.1, without racks, at epoch 1.
    pub fn with_brokers(ids: &[i32]) -> Self {
        let mut image = Self::default();
        for &node_id in ids {
            image.broker_epochs.insert(node_id, 1);
            let host = "127.0.0.1".into();
            let port = 9000 + node_id as u16;
            let registration = BrokerRegistration {
                node_id,
                host,
                port,
                rack: None,
                listeners: Vec::new(),
                offline: Vec::new(),
            };
            image.brokers.insert(node_id, registration);
        }
        image
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, value: &str, create_revision: i64, mod_revision: i64) -> Entry {
        Entry {
            key: key.into(),
            value: value.into(),
            create_revision,
            mod_revision,
            lease: None,
        }
    }

    #[test]
    fn keys_parse_back_and_stay_under_their_root() {
        let keys = Keys::new("/spool/");
        assert_eq!(keys.broker(3), "/spool/brokers/3");
        assert_eq!(keys.parse(&keys.broker(3)), Some(Key::Broker(3)));
        assert_eq!(keys.parse(&keys.controller()), Some(Key::Controller));
        assert_eq!(keys.parse(&keys.cluster_id()), Some(Key::ClusterId));
        assert_eq!(
            keys.parse(&keys.topic("a.b")),
            Some(Key::Topic("a.b".into()))
        );
        let id = Uuid::new_v4();
        assert_eq!(
            keys.parse(&keys.partition(id, 7)),
            Some(Key::Partition(id, 7))
        );
        assert_eq!(
            keys.parse(&keys.broker_configs(Some(2))),
            Some(Key::BrokerConfigs(Some(2)))
        );
        assert_eq!(
            keys.parse(&keys.broker_configs(None)),
            Some(Key::BrokerConfigs(None))
        );
        assert_eq!(keys.parse("/spool/broker_configs/x"), None);
        assert_eq!(keys.parse("/spool/partitions/nope/1"), None);
        assert_eq!(keys.parse("/spool/topics/a/b"), None);
        assert_eq!(keys.parse("/spool/brokers/x"), None);
        assert_eq!(keys.parse("/other/brokers/3"), None);
        assert_eq!(keys.parse("/spool2/controller"), None);
    }

    #[test]
    fn the_image_follows_puts_and_deletes_and_ignores_malformed_records() {
        let keys = Keys::new("/spool");
        let snapshot = Snapshot {
            entries: vec![
                entry("/spool/cluster_id", "abc", 1, 1),
                entry(
                    "/spool/brokers/1",
                    r#"{"node_id":1,"host":"127.0.0.1","port":9092}"#,
                    2,
                    2,
                ),
                entry("/spool/brokers/2", "not json", 3, 3),
                entry(
                    "/spool/brokers/4",
                    r#"{"node_id":5,"host":"h","port":1}"#,
                    4,
                    4,
                ),
            ],
            revision: 7,
        };
        let mut image = ClusterImage::from_snapshot(&keys, &snapshot);
        assert_eq!(image.cluster_id.as_deref(), Some("abc"));
        assert_eq!(image.brokers.keys().copied().collect::<Vec<_>>(), [1]);
        assert_eq!(image.brokers[&1].rack, None);
        assert_eq!(image.revision, 7);

        image.apply(
            &keys,
            &Change::Put(entry("/spool/controller", r#"{"node_id":1}"#, 8, 8)),
        );
        assert_eq!(
            image.controller,
            Some(Controller {
                node_id: 1,
                epoch: 8
            })
        );
        image.apply(
            &keys,
            &Change::Delete {
                key: "/spool/brokers/1".into(),
                revision: 9,
            },
        );
        image.apply(
            &keys,
            &Change::Delete {
                key: "/spool/controller".into(),
                revision: 9,
            },
        );
        assert!(image.brokers.is_empty());
        assert_eq!(image.controller, None);
        assert_eq!(image.revision, 9);
    }
}
