//! An immutable snapshot of the topics the broker knows, the dynamic broker configs and the
//! SCRAM credentials.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::acl::Acls;
use crate::config::dynamic::{DynamicBrokerConfigs, DynamicScope};
use crate::quota::ClientQuotas;
use crate::sasl::UserScramCredentials;

/// One topic as stored in the metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMetadata {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
    /// Topic-level config overrides (`retention.ms`, …); defaults are not stored.
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

/// Topics by name, plus the cluster id and the dynamic broker configs.
#[derive(Debug, Clone, Default)]
pub struct Image {
    pub cluster_id: String,
    topics: BTreeMap<String, Arc<TopicMetadata>>,
    names_by_id: HashMap<Uuid, String>,
    pub dynamic_configs: DynamicBrokerConfigs,
    /// Every user's SCRAM credentials, by user.
    pub scram_credentials: BTreeMap<String, UserScramCredentials>,
    /// Every ACL.
    pub acls: Arc<Acls>,
    /// Every client quota.
    pub client_quotas: Arc<ClientQuotas>,
}

impl Image {
    pub fn new(cluster_id: String, topics: impl IntoIterator<Item = TopicMetadata>) -> Self {
        let mut image = Self {
            cluster_id,
            ..Self::default()
        };
        topics.into_iter().for_each(|topic| image.insert(topic));
        image
    }

    fn insert(&mut self, topic: TopicMetadata) {
        self.names_by_id.insert(topic.id, topic.name.clone());
        self.topics.insert(topic.name.clone(), Arc::new(topic));
    }

    pub fn topic(&self, name: &str) -> Option<&Arc<TopicMetadata>> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<&Arc<TopicMetadata>> {
        self.topics.get(self.names_by_id.get(&id)?)
    }

    /// Whether `topic` exists with a partition `partition`.
    pub fn has_partition(&self, topic: &str, partition: i32) -> bool {
        self.topic(topic)
            .is_some_and(|meta| (0..meta.partitions).contains(&partition))
    }

    /// Topics sorted by name.
    pub fn topics(&self) -> impl Iterator<Item = &Arc<TopicMetadata>> {
        self.topics.values()
    }

    /// A new image with `topic` added or replaced.
    pub fn with_topic(&self, topic: TopicMetadata) -> Self {
        let mut next = self.clone();
        next.insert(topic);
        next
    }

    /// A new image whose dynamic broker configs at `scope` are `configs` (none: removed).
    pub fn with_dynamic_configs(
        &self,
        scope: DynamicScope,
        configs: BTreeMap<String, String>,
    ) -> Self {
        let mut next = self.clone();
        if configs.is_empty() {
            next.dynamic_configs.by_scope.remove(&scope);
        } else {
            next.dynamic_configs.by_scope.insert(scope, configs);
        }
        next
    }

    /// A new image without the topic `name`.
    pub fn without_topic(&self, name: &str) -> Self {
        let mut next = self.clone();
        if let Some(removed) = next.topics.remove(name) {
            next.names_by_id.remove(&removed.id);
        }
        next
    }
}
