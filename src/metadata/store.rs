//! Persistence of the metadata image in the data dir: `meta.properties` (cluster id and node
//! id, as Kafka writes it) and `topics.json`, each replaced atomically on change.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use base64::Engine;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::acl::{AclBinding, Acls};
use crate::config::dynamic::DynamicScope;
use crate::log::checkpoint::write_atomically;
use crate::metadata::{Image, TopicMetadata};
use crate::quota::ClientQuotas;
use crate::sasl::UserScramCredentials;

const META_PROPERTIES_FILE: &str = "meta.properties";
const TOPICS_FILE: &str = "topics.json";

/// Metadata failures, mapped to Kafka errors by the handlers.
#[derive(Debug, Error)]
pub enum MetadataError {
    #[error("topic '{0}' already exists")]
    TopicAlreadyExists(String),
    #[error("topic '{0}' does not exist")]
    UnknownTopic(String),
    #[error("metadata I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("metadata file {path} is corrupt: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("data dir belongs to node.id {stored}, but this broker is node.id {configured}")]
    NodeIdMismatch { stored: i32, configured: i32 },
    #[error("data dir belongs to cluster {stored}, but this broker joined cluster {joined}")]
    ClusterIdMismatch { stored: String, joined: String },
}

#[derive(Debug, Serialize, Deserialize)]
struct TopicsFile {
    topics: Vec<TopicMetadata>,
    /// Dynamic broker configs by scope: the node id, or `default` for the cluster default.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    dynamic_broker_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// SCRAM credentials by user (salted and hashed, never a password).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    scram_credentials: BTreeMap<String, UserScramCredentials>,
    /// ACLs by id.
    #[serde(default, skip_serializing_if = "Acls::is_empty")]
    acls: Acls,
    /// Client quotas by entity.
    #[serde(default, skip_serializing_if = "ClientQuotas::is_empty")]
    client_quotas: ClientQuotas,
}

/// The name of a dynamic config scope in `topics.json`.
const CLUSTER_DEFAULT_SCOPE: &str = "default";

fn scope_name(scope: DynamicScope) -> String {
    match scope {
        DynamicScope::Broker(node_id) => node_id.to_string(),
        DynamicScope::ClusterDefault => CLUSTER_DEFAULT_SCOPE.to_owned(),
    }
}

fn parse_scope(name: &str) -> Option<DynamicScope> {
    match name {
        CLUSTER_DEFAULT_SCOPE => Some(DynamicScope::ClusterDefault),
        id => id.parse().ok().map(DynamicScope::Broker),
    }
}

/// The durable home of the metadata image: `topics.json` on a single node; in a cluster the
/// store only holds the image made from the cluster's metadata, which lives in etcd.
#[derive(Debug)]
pub struct MetadataStore {
    /// `None` in a cluster: nothing to persist.
    topics_path: Option<PathBuf>,
    image: RwLock<Arc<Image>>,
    /// Serializes read-modify-persist-swap sequences.
    writer: Mutex<()>,
}

impl MetadataStore {
    /// Loads (or initializes) the metadata in `data_dir` for broker `node_id`.
    pub fn open(data_dir: &Path, node_id: i32) -> Result<Self, MetadataError> {
        fs::create_dir_all(data_dir)?;
        let cluster_id = load_or_create_identity(data_dir, node_id, new_cluster_id)?;
        let topics_path = data_dir.join(TOPICS_FILE);
        let file = match fs::read(&topics_path) {
            Ok(bytes) => serde_json::from_slice::<TopicsFile>(&bytes).map_err(|error| {
                MetadataError::Corrupt {
                    path: topics_path.clone(),
                    message: error.to_string(),
                }
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => TopicsFile {
                topics: Vec::new(),
                dynamic_broker_configs: BTreeMap::new(),
                scram_credentials: BTreeMap::new(),
                acls: Acls::default(),
                client_quotas: ClientQuotas::default(),
            },
            Err(error) => return Err(error.into()),
        };
        let mut image = Image::new(cluster_id, file.topics);
        image.scram_credentials = file.scram_credentials;
        image.acls = Arc::new(file.acls);
        image.client_quotas = Arc::new(file.client_quotas);
        image.dynamic_configs.by_scope = file
            .dynamic_broker_configs
            .into_iter()
            .map(|(name, configs)| {
                let scope = parse_scope(&name).ok_or_else(|| MetadataError::Corrupt {
                    path: topics_path.clone(),
                    message: format!("`{name}` is not a dynamic config scope"),
                })?;
                Ok((scope, configs))
            })
            .collect::<Result<_, MetadataError>>()?;
        Ok(Self {
            topics_path: Some(topics_path),
            image: RwLock::new(Arc::new(image)),
            writer: Mutex::new(()),
        })
    }

    /// The metadata of a broker in cluster `cluster_id`: the data dir must be this cluster's
    /// (or new, and then becomes it); topics come from the cluster through [`Self::install`].
    pub fn open_in_cluster(
        data_dir: &Path,
        node_id: i32,
        cluster_id: &str,
    ) -> Result<Self, MetadataError> {
        fs::create_dir_all(data_dir)?;
        let stored = load_or_create_identity(data_dir, node_id, || cluster_id.to_owned())?;
        if stored != cluster_id {
            return Err(MetadataError::ClusterIdMismatch {
                stored,
                joined: cluster_id.to_owned(),
            });
        }
        Ok(Self {
            topics_path: None,
            image: RwLock::new(Arc::new(Image::new(stored, []))),
            writer: Mutex::new(()),
        })
    }

    /// Replaces the image by the cluster's newer one.
    pub fn install(&self, image: Image) -> Result<(), MetadataError> {
        let _writer = self.lock_writer();
        self.persist_and_swap(image)
    }

    /// The current image.
    pub fn image(&self) -> Arc<Image> {
        Arc::clone(
            &self
                .image
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// Adds a topic with a fresh id, persisted before it becomes visible.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
    ) -> Result<Arc<TopicMetadata>, MetadataError> {
        let _writer = self.lock_writer();
        let current = self.image();
        if current.topic(name).is_some() {
            return Err(MetadataError::TopicAlreadyExists(name.to_owned()));
        }
        let topic = TopicMetadata {
            name: name.to_owned(),
            id: Uuid::new_v4(),
            partitions,
            configs,
        };
        let next = current.with_topic(topic);
        self.persist_and_swap(next)?;
        self.image()
            .topic(name)
            .cloned()
            .ok_or_else(|| MetadataError::UnknownTopic(name.to_owned()))
    }

    /// Replaces a topic by what `change` makes of it (its configs, its partition count), or
    /// leaves everything as it was when `change` fails. Returns the stored topic.
    pub fn update_topic<E: From<MetadataError>>(
        &self,
        name: &str,
        change: impl FnOnce(&TopicMetadata) -> Result<TopicMetadata, E>,
    ) -> Result<Arc<TopicMetadata>, E> {
        let _writer = self.lock_writer();
        let current = self.image();
        let topic = current
            .topic(name)
            .ok_or_else(|| MetadataError::UnknownTopic(name.to_owned()))?;
        let next = change(topic)?;
        debug_assert_eq!((&next.name, next.id), (&topic.name, topic.id));
        self.persist_and_swap(current.with_topic(next))?;
        self.image()
            .topic(name)
            .cloned()
            .ok_or_else(|| MetadataError::UnknownTopic(name.to_owned()).into())
    }

    /// Replaces the dynamic broker configs at `scope` by what `change` makes of them.
    pub fn update_dynamic_configs<E: From<MetadataError>>(
        &self,
        scope: DynamicScope,
        change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, E>,
    ) -> Result<(), E> {
        let _writer = self.lock_writer();
        let current = self.image();
        let empty = BTreeMap::new();
        let next = change(current.dynamic_configs.at(scope).unwrap_or(&empty))?;
        self.persist_and_swap(current.with_dynamic_configs(scope, next))?;
        Ok(())
    }

    /// Replaces every user's SCRAM credentials by what `change` makes of them.
    pub fn update_scram_credentials<E: From<MetadataError>>(
        &self,
        change: impl FnOnce(
            &BTreeMap<String, UserScramCredentials>,
        ) -> Result<BTreeMap<String, UserScramCredentials>, E>,
    ) -> Result<(), E> {
        let _writer = self.lock_writer();
        let current = self.image();
        let mut next = Image::clone(&current);
        next.scram_credentials = change(&current.scram_credentials)?;
        self.persist_and_swap(next)?;
        Ok(())
    }

    /// Replaces the ACLs (by id) by what `change` makes of them.
    pub fn update_acls<E: From<MetadataError>>(
        &self,
        change: impl FnOnce(&BTreeMap<String, AclBinding>) -> Result<BTreeMap<String, AclBinding>, E>,
    ) -> Result<(), E> {
        let _writer = self.lock_writer();
        let current = self.image();
        let mut next = Image::clone(&current);
        next.acls = Arc::new(Acls::from(change(current.acls.by_id())?));
        self.persist_and_swap(next)?;
        Ok(())
    }

    /// Replaces the client quotas by what `change` makes of them.
    pub fn update_client_quotas<E: From<MetadataError>>(
        &self,
        change: impl FnOnce(&ClientQuotas) -> Result<ClientQuotas, E>,
    ) -> Result<(), E> {
        let _writer = self.lock_writer();
        let current = self.image();
        let mut next = Image::clone(&current);
        next.client_quotas = Arc::new(change(&current.client_quotas)?);
        self.persist_and_swap(next)?;
        Ok(())
    }

    /// Removes a topic; returns what it was.
    pub fn delete_topic(&self, name: &str) -> Result<Arc<TopicMetadata>, MetadataError> {
        let _writer = self.lock_writer();
        let current = self.image();
        let topic = current
            .topic(name)
            .cloned()
            .ok_or_else(|| MetadataError::UnknownTopic(name.to_owned()))?;
        self.persist_and_swap(current.without_topic(name))?;
        Ok(topic)
    }

    fn lock_writer(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn persist_and_swap(&self, next: Image) -> Result<(), MetadataError> {
        if let Some(topics_path) = &self.topics_path {
            let file = TopicsFile {
                topics: next
                    .topics()
                    .map(|topic| TopicMetadata::clone(topic))
                    .collect(),
                dynamic_broker_configs: next
                    .dynamic_configs
                    .by_scope
                    .iter()
                    .map(|(scope, configs)| (scope_name(*scope), configs.clone()))
                    .collect(),
                scram_credentials: next.scram_credentials.clone(),
                acls: Acls::clone(&next.acls),
                client_quotas: ClientQuotas::clone(&next.client_quotas),
            };
            let json = serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?;
            write_atomically(topics_path, &json)?;
        }
        *self
            .image
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(next);
        Ok(())
    }
}

/// A new cluster id: 16 random bytes in URL-safe base64, as Kafka makes them.
pub fn new_cluster_id() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Uuid::new_v4().as_bytes())
}

/// Reads `meta.properties`, or writes one with `new_cluster_id()`; returns the cluster id.
fn load_or_create_identity(
    data_dir: &Path,
    node_id: i32,
    new_cluster_id: impl FnOnce() -> String,
) -> Result<String, MetadataError> {
    let path = data_dir.join(META_PROPERTIES_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let value = |key: &str| {
                text.lines()
                    .find_map(|line| line.strip_prefix(key)?.strip_prefix('=').map(str::trim))
            };
            let corrupt = |message: &str| MetadataError::Corrupt {
                path: path.clone(),
                message: message.to_owned(),
            };
            let cluster_id = value("cluster.id")
                .ok_or_else(|| corrupt("no cluster.id"))?
                .to_owned();
            let stored: i32 = value("node.id")
                .and_then(|id| id.parse().ok())
                .ok_or_else(|| corrupt("no node.id"))?;
            if stored != node_id {
                return Err(MetadataError::NodeIdMismatch {
                    stored,
                    configured: node_id,
                });
            }
            Ok(cluster_id)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let cluster_id = new_cluster_id();
            let text =
                format!("#spool metadata\nversion=1\ncluster.id={cluster_id}\nnode.id={node_id}\n");
            write_atomically(&path, text.as_bytes())?;
            Ok(cluster_id)
        }
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_and_cluster_id_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetadataStore::open(dir.path(), 1).unwrap();
        let first = store
            .create_topic(
                "a",
                3,
                [("retention.ms".to_owned(), "1000".to_owned())].into(),
            )
            .unwrap();
        assert!(matches!(
            store.create_topic("a", 1, Default::default()),
            Err(MetadataError::TopicAlreadyExists(_))
        ));
        store.create_topic("b", 1, Default::default()).unwrap();
        let created = store
            .update_topic("a", |topic| {
                Ok::<_, MetadataError>(TopicMetadata {
                    partitions: 4,
                    ..topic.clone()
                })
            })
            .unwrap();
        assert_eq!((created.partitions, created.id), (4, first.id));
        assert!(matches!(
            store.update_topic("zz", |topic| Ok::<_, MetadataError>(topic.clone())),
            Err(MetadataError::UnknownTopic(_))
        ));
        store.delete_topic("b").unwrap();
        let cluster_id = store.image().cluster_id.clone();
        assert_eq!(cluster_id.len(), 22);
        drop(store);
        let reopened = MetadataStore::open(dir.path(), 1).unwrap();
        let image = reopened.image();
        assert_eq!(image.cluster_id, cluster_id);
        assert_eq!(image.topic("a").map(|t| t.as_ref()), Some(created.as_ref()));
        assert_eq!(image.topic_by_id(created.id).unwrap().name, "a");
        assert!(image.topic("b").is_none());
        assert!(matches!(
            MetadataStore::open(dir.path(), 2),
            Err(MetadataError::NodeIdMismatch { .. })
        ));
    }

    #[test]
    fn dynamic_broker_configs_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetadataStore::open(dir.path(), 1).unwrap();
        let rate = |value: &str| {
            BTreeMap::from([(
                "leader.replication.throttled.rate".to_owned(),
                value.to_owned(),
            )])
        };
        store
            .update_dynamic_configs(DynamicScope::Broker(1), |_| {
                Ok::<_, MetadataError>(rate("10"))
            })
            .unwrap();
        store
            .update_dynamic_configs(DynamicScope::ClusterDefault, |_| {
                Ok::<_, MetadataError>(rate("20"))
            })
            .unwrap();
        drop(store);
        let reopened = MetadataStore::open(dir.path(), 1).unwrap();
        let configs = reopened.image().dynamic_configs.clone();
        assert_eq!(configs.at(DynamicScope::Broker(1)), Some(&rate("10")));
        assert_eq!(configs.at(DynamicScope::ClusterDefault), Some(&rate("20")));
        reopened
            .update_dynamic_configs(DynamicScope::Broker(1), |_| {
                Ok::<_, MetadataError>(BTreeMap::new())
            })
            .unwrap();
        assert_eq!(
            reopened.image().dynamic_configs.at(DynamicScope::Broker(1)),
            None
        );
    }
}
