//! What DescribeConfigs (and CreateTopics v5+) tell a client about a config: its value,
//! where that value comes from, and the synonyms that could set it, most specific first.

use std::collections::BTreeMap;

use crate::config::dynamic::{DynamicBrokerConfigs, DynamicScope, DYNAMIC_BROKER_KEYS};
use crate::config::{BrokerConfig, BrokerConfigEntry, ConfigType};
use crate::metadata::topic_config::{self, TOPIC_CONFIG_KEYS};

/// Kafka's `ConfigSource` values spool can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// A topic override (CreateTopics configs, AlterConfigs).
    DynamicTopic,
    /// A dynamic config of this broker.
    DynamicBroker,
    /// A dynamic config of every broker (the cluster default).
    DynamicDefaultBroker,
    /// The broker's config file (or command line).
    StaticBroker,
    /// Kafka's default.
    Default,
}

impl ConfigSource {
    /// The code on the wire.
    pub fn code(self) -> i8 {
        match self {
            Self::DynamicTopic => 1,
            Self::DynamicBroker => 2,
            Self::DynamicDefaultBroker => 3,
            Self::StaticBroker => 4,
            Self::Default => 5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synonym {
    pub name: String,
    pub value: Option<String>,
    pub source: ConfigSource,
}

/// One config as DescribeConfigs reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedConfig {
    pub name: String,
    pub value: Option<String>,
    pub source: ConfigSource,
    /// Static broker configs cannot change while the broker runs; topic configs and dynamic
    /// broker configs can.
    pub read_only: bool,
    pub kind: ConfigType,
    pub synonyms: Vec<Synonym>,
}

/// Every topic config of a topic with these overrides.
pub fn topic_configs(
    overrides: &BTreeMap<String, String>,
    broker: &BrokerConfig,
) -> Vec<DescribedConfig> {
    TOPIC_CONFIG_KEYS
        .iter()
        .map(|key| {
            let mut synonyms = Vec::new();
            if let Some(value) = overrides.get(key.name) {
                synonyms.push(Synonym {
                    name: key.name.to_owned(),
                    value: Some(value.clone()),
                    source: ConfigSource::DynamicTopic,
                });
            }
            let entries: Vec<&BrokerConfigEntry> = key
                .synonyms
                .iter()
                .filter_map(|name| broker.entry(name))
                .collect();
            synonyms.extend(
                entries
                    .iter()
                    .filter(|entry| entry.is_static)
                    .map(|entry| Synonym {
                        name: entry.name.clone(),
                        value: entry.value.clone(),
                        source: ConfigSource::StaticBroker,
                    }),
            );
            synonyms.extend(
                entries
                    .iter()
                    .find(|entry| entry.default.is_some())
                    .map(|entry| Synonym {
                        name: entry.name.clone(),
                        value: entry.default.clone(),
                        source: ConfigSource::Default,
                    }),
            );
            DescribedConfig {
                name: key.name.to_owned(),
                value: Some(
                    overrides
                        .get(key.name)
                        .cloned()
                        .unwrap_or_else(|| topic_config::default_value(key.name, broker)),
                ),
                source: synonyms
                    .first()
                    .map_or(ConfigSource::Default, |synonym| synonym.source),
                read_only: false,
                kind: key.config_type(),
                synonyms,
            }
        })
        .collect()
}

/// Every broker config, as this broker runs with it.
pub fn broker_configs(broker: &BrokerConfig) -> Vec<DescribedConfig> {
    broker
        .entries
        .iter()
        .map(|entry| {
            let synonym = |value: &Option<String>, source| Synonym {
                name: entry.name.clone(),
                value: value.clone(),
                source,
            };
            let mut synonyms = Vec::new();
            if entry.is_static {
                synonyms.push(synonym(&entry.value, ConfigSource::StaticBroker));
            }
            if entry.default.is_some() {
                synonyms.push(synonym(&entry.default, ConfigSource::Default));
            }
            DescribedConfig {
                name: entry.name.clone(),
                value: entry.value.clone(),
                source: if entry.is_static {
                    ConfigSource::StaticBroker
                } else {
                    ConfigSource::Default
                },
                read_only: true,
                kind: entry.kind,
                synonyms,
            }
        })
        .collect()
}

/// The dynamic broker configs set at `scope`: for a broker, those it runs with (its own or
/// the cluster default), for the cluster default those set there (as Kafka lists them: a
/// dynamic key that is set nowhere is not listed).
pub fn dynamic_broker_configs(
    configs: &DynamicBrokerConfigs,
    scope: DynamicScope,
) -> Vec<DescribedConfig> {
    let source = |scope| match scope {
        DynamicScope::Broker(_) => ConfigSource::DynamicBroker,
        DynamicScope::ClusterDefault => ConfigSource::DynamicDefaultBroker,
    };
    let scopes: &[DynamicScope] = match scope {
        DynamicScope::Broker(_) => &[scope, DynamicScope::ClusterDefault],
        DynamicScope::ClusterDefault => &[DynamicScope::ClusterDefault],
    };
    DYNAMIC_BROKER_KEYS
        .iter()
        .filter_map(|(name, kind)| {
            let synonyms: Vec<Synonym> = scopes
                .iter()
                .filter_map(|scope| {
                    let value = configs.at(*scope)?.get(*name)?;
                    Some(Synonym {
                        name: (*name).to_owned(),
                        value: Some(value.clone()),
                        source: source(*scope),
                    })
                })
                .collect();
            let first = synonyms.first()?;
            Some(DescribedConfig {
                name: (*name).to_owned(),
                value: first.value.clone(),
                source: first.source,
                read_only: false,
                kind: *kind,
                synonyms,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    fn broker(pairs: &[(&str, toml::Value)]) -> BrokerConfig {
        let map = pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.clone()))
            .collect();
        BrokerConfig::from_map(map, &Overrides::default()).unwrap()
    }

    fn find<'a>(configs: &'a [DescribedConfig], name: &str) -> &'a DescribedConfig {
        configs.iter().find(|config| config.name == name).unwrap()
    }

    #[test]
    fn topic_sources_and_synonyms() {
        let broker = broker(&[("log.retention.minutes", toml::Value::Integer(10))]);
        let overrides: BTreeMap<String, String> =
            [("segment.bytes".to_owned(), "2048".to_owned())].into();
        let configs = topic_configs(&overrides, &broker);
        assert_eq!(configs.len(), TOPIC_CONFIG_KEYS.len());

        let segment = find(&configs, "segment.bytes");
        assert_eq!(segment.value.as_deref(), Some("2048"));
        assert_eq!(segment.source, ConfigSource::DynamicTopic);
        assert_eq!(segment.kind, ConfigType::Int);
        let sources: Vec<(&str, ConfigSource)> = segment
            .synonyms
            .iter()
            .map(|synonym| (synonym.name.as_str(), synonym.source))
            .collect();
        assert_eq!(
            sources,
            [
                ("segment.bytes", ConfigSource::DynamicTopic),
                ("log.segment.bytes", ConfigSource::Default)
            ]
        );

        let retention = find(&configs, "retention.ms");
        assert_eq!(retention.value.as_deref(), Some("600000"));
        assert_eq!(retention.source, ConfigSource::StaticBroker);
        assert_eq!(
            retention.synonyms,
            [
                Synonym {
                    name: "log.retention.minutes".into(),
                    value: Some("10".into()),
                    source: ConfigSource::StaticBroker
                },
                Synonym {
                    name: "log.retention.hours".into(),
                    value: Some("168".into()),
                    source: ConfigSource::Default
                }
            ]
        );
        let policy = find(&configs, "cleanup.policy");
        assert_eq!(
            (policy.source, policy.kind, policy.read_only),
            (ConfigSource::Default, ConfigType::List, false)
        );
    }

    #[test]
    fn broker_configs_are_read_only_with_their_source() {
        let broker = broker(&[("num.partitions", toml::Value::Integer(3))]);
        let configs = broker_configs(&broker);
        let partitions = find(&configs, "num.partitions");
        assert_eq!(partitions.value.as_deref(), Some("3"));
        assert_eq!(partitions.source, ConfigSource::StaticBroker);
        assert!(partitions.read_only);
        assert_eq!(partitions.synonyms.len(), 2);
        let segment = find(&configs, "log.segment.bytes");
        assert_eq!(segment.source, ConfigSource::Default);
        assert_eq!(segment.synonyms.len(), 1);
        let unset = find(&configs, "log.retention.ms");
        assert_eq!((unset.value.as_ref(), unset.synonyms.len()), (None, 0));
    }

    #[test]
    fn dynamic_broker_configs_name_their_scope() {
        let rate = "leader.replication.throttled.rate";
        let mut configs = DynamicBrokerConfigs::default();
        let set = |value: &str| BTreeMap::from([(rate.to_owned(), value.to_owned())]);
        configs
            .by_scope
            .insert(DynamicScope::ClusterDefault, set("7"));
        let defaults = dynamic_broker_configs(&configs, DynamicScope::ClusterDefault);
        assert_eq!(defaults.len(), 1);
        assert_eq!(defaults[0].source, ConfigSource::DynamicDefaultBroker);
        assert_eq!(defaults[0].source.code(), 3);
        configs.by_scope.insert(DynamicScope::Broker(1), set("5"));
        let own = dynamic_broker_configs(&configs, DynamicScope::Broker(1));
        assert_eq!(own.len(), 1);
        assert_eq!(
            (own[0].value.as_deref(), own[0].source, own[0].read_only),
            (Some("5"), ConfigSource::DynamicBroker, false)
        );
        assert_eq!(own[0].synonyms.len(), 2);
        let other = dynamic_broker_configs(&configs, DynamicScope::Broker(2));
        assert_eq!(other[0].value.as_deref(), Some("7"));
        assert!(
            dynamic_broker_configs(&DynamicBrokerConfigs::default(), DynamicScope::Broker(1))
                .is_empty()
        );
    }
}
