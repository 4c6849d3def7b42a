//! Dynamic broker configs as clients change them (IncrementalAlterConfigs, AlterConfigs on
//! a broker resource): checked, then stored in the cluster (and awaited until applied
//! here) or persisted with a single node's metadata.

use std::collections::BTreeMap;

use thiserror::Error;

use super::Broker;
use crate::cluster::KvError;
use crate::config::dynamic::{self, DynamicScope};
use crate::metadata::topic_config::{ConfigChange, ConfigChangeError};
use crate::metadata::MetadataError;

/// Why a dynamic broker config change failed.
#[derive(Debug, Error)]
pub enum DynamicConfigError {
    #[error(transparent)]
    Refused(#[from] ConfigChangeError),
    #[error("storage error: {0}")]
    Storage(String),
}

impl From<KvError> for DynamicConfigError {
    fn from(error: KvError) -> Self {
        Self::Storage(error.to_string())
    }
}

impl From<MetadataError> for DynamicConfigError {
    fn from(error: MetadataError) -> Self {
        Self::Storage(error.to_string())
    }
}

/// The dynamic configs `changes` make of `current` (of none when `replace`, as AlterConfigs
/// replaces them all). A static key may only be deleted, which leaves it as it is.
fn apply(
    current: &BTreeMap<String, String>,
    changes: &[(String, ConfigChange)],
    replace: bool,
) -> Result<BTreeMap<String, String>, ConfigChangeError> {
    let static_keys: Vec<&str> = changes
        .iter()
        .filter(|(name, change)| !dynamic::is_dynamic(name) && *change != ConfigChange::Delete)
        .map(|(name, _)| name.as_str())
        .collect();
    if !static_keys.is_empty() {
        return Err(ConfigChangeError::InvalidRequest(format!(
            "Cannot update these configs dynamically: Set({})",
            static_keys.join(", ")
        )));
    }
    let mut next = if replace {
        BTreeMap::new()
    } else {
        current.clone()
    };
    for (name, change) in changes {
        let list_only = |verb: &str| {
            ConfigChangeError::InvalidConfig(format!(
                "Config value {verb} is not allowed for config key: {name}"
            ))
        };
        match change {
            ConfigChange::Set(value) => {
                // Kafka refuses a bad dynamic broker value as an invalid request.
                dynamic::validate(name, value).map_err(ConfigChangeError::InvalidRequest)?;
                next.insert(name.clone(), value.trim().to_owned());
            }
            ConfigChange::Delete => {
                next.remove(name);
            }
            ConfigChange::Append(_) => return Err(list_only("append")),
            ConfigChange::Subtract(_) => return Err(list_only("subtract")),
        }
    }
    Ok(next)
}

impl Broker {
    /// Changes the dynamic broker configs at `scope`.
    pub async fn alter_dynamic_configs(
        &self,
        scope: DynamicScope,
        changes: &[(String, ConfigChange)],
        replace: bool,
        validate_only: bool,
    ) -> Result<(), DynamicConfigError> {
        let changed = |current: &BTreeMap<String, String>| {
            apply(current, changes, replace).map_err(DynamicConfigError::from)
        };
        if validate_only {
            let image = self.metadata.image();
            let empty = BTreeMap::new();
            return changed(image.dynamic_configs.at(scope).unwrap_or(&empty)).map(drop);
        }
        if let Some(node) = &self.cluster {
            let node_id = scope.node_id();
            let stored = node
                .membership()
                .update_broker_configs(node_id, changed)
                .await?;
            self.wait_applied(|image| {
                image
                    .broker_configs
                    .get(&node_id)
                    .cloned()
                    .unwrap_or_default()
                    == stored
            })
            .await;
            tracing::info!(?scope, configs = ?stored, "changed dynamic broker configs in the cluster");
            return Ok(());
        }
        self.metadata.update_dynamic_configs(scope, changed)?;
        tracing::info!(?scope, "changed dynamic broker configs");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::dynamic::LEADER_REPLICATION_THROTTLED_RATE as RATE;

    fn set(name: &str, value: &str) -> (String, ConfigChange) {
        (name.to_owned(), ConfigChange::Set(value.to_owned()))
    }

    #[test]
    fn only_dynamic_keys_change_and_are_checked() {
        let current = BTreeMap::from([(RATE.to_owned(), "10".to_owned())]);
        let follower = "follower.replication.throttled.rate";
        let next = apply(&current, &[set(follower, " 20 ")], false).unwrap();
        assert_eq!(next.len(), 2);
        assert_eq!(next[follower], "20");
        let replaced = apply(&current, &[set(follower, "20")], true).unwrap();
        assert_eq!(replaced.keys().collect::<Vec<_>>(), [follower]);
        let deleted = apply(
            &current,
            &[
                (RATE.to_owned(), ConfigChange::Delete),
                ("num.partitions".to_owned(), ConfigChange::Delete),
            ],
            false,
        )
        .unwrap();
        assert!(deleted.is_empty());
        assert!(matches!(
            apply(&current, &[set("num.partitions", "3")], false),
            Err(ConfigChangeError::InvalidRequest(message)) if message.contains("num.partitions")
        ));
        assert!(matches!(
            apply(&current, &[set(RATE, "-5")], false),
            Err(ConfigChangeError::InvalidRequest(_))
        ));
        assert!(matches!(
            apply(&current, &[(RATE.to_owned(), ConfigChange::Append("1".into()))], false),
            Err(ConfigChangeError::InvalidConfig(message)) if message.contains("append")
        ));
    }
}
