//! Topic-level configs: which keys exist, how their values are checked, their broker-level
//! defaults, and the [`LogConfig`] a partition runs with.

use std::collections::BTreeMap;

use crate::config::{
    check_cleanup_policy, check_compression_type, compression_codec, has_cleanup_policy,
    parse_bool, parse_timestamp_type, BrokerConfig, ConfigType, ThrottledReplicas,
    FOLLOWER_THROTTLED_REPLICAS, LEADER_THROTTLED_REPLICAS, LOG_SEGMENT_BYTES_MIN,
};
use crate::log::{LogConfig, TimestampType};

/// How a topic config value is checked.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Long {
        min: i64,
        max: i64,
    },
    /// A double in [0, 1].
    Ratio,
    TimestampType,
    CleanupPolicy,
    CompressionType,
    Bool,
    /// Kafka's replication throttle lists: `*` or `partition:broker` items.
    ThrottledReplicas,
}

/// One topic-level config key.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigKey {
    pub name: &'static str,
    kind: Kind,
    /// The broker keys that set its default, most specific first (as Kafka lists them).
    pub synonyms: &'static [&'static str],
}

impl TopicConfigKey {
    pub fn config_type(&self) -> ConfigType {
        match self.kind {
            Kind::Long { max, .. } if max <= INT_MAX => ConfigType::Int,
            Kind::Long { .. } => ConfigType::Long,
            Kind::Ratio => ConfigType::Double,
            Kind::TimestampType => ConfigType::String,
            Kind::CleanupPolicy => ConfigType::List,
            Kind::CompressionType => ConfigType::String,
            Kind::Bool => ConfigType::Boolean,
            Kind::ThrottledReplicas => ConfigType::List,
        }
    }
}

/// The topic config key `name`, if spool knows it.
pub fn key(name: &str) -> Option<&'static TopicConfigKey> {
    TOPIC_CONFIG_KEYS.iter().find(|key| key.name == name)
}

const INT_MAX: i64 = i32::MAX as i64;

/// Every topic-level key spool accepts, sorted by name.
pub const TOPIC_CONFIG_KEYS: &[TopicConfigKey] = &[
    TopicConfigKey {
        name: "cleanup.policy",
        kind: Kind::CleanupPolicy,
        synonyms: &["log.cleanup.policy"],
    },
    TopicConfigKey {
        name: "compression.type",
        kind: Kind::CompressionType,
        synonyms: &["compression.type"],
    },
    TopicConfigKey {
        name: "delete.retention.ms",
        kind: Kind::Long {
            min: 0,
            max: i64::MAX,
        },
        synonyms: &["log.cleaner.delete.retention.ms"],
    },
    TopicConfigKey {
        name: "flush.messages",
        kind: Kind::Long {
            min: 1,
            max: i64::MAX,
        },
        synonyms: &["log.flush.interval.messages"],
    },
    TopicConfigKey {
        name: "flush.ms",
        kind: Kind::Long {
            min: 0,
            max: i64::MAX,
        },
        synonyms: &["log.flush.interval.ms"],
    },
    TopicConfigKey {
        name: FOLLOWER_THROTTLED_REPLICAS,
        kind: Kind::ThrottledReplicas,
        synonyms: &[],
    },
    TopicConfigKey {
        name: "index.interval.bytes",
        kind: Kind::Long {
            min: 0,
            max: INT_MAX,
        },
        synonyms: &["log.index.interval.bytes"],
    },
    TopicConfigKey {
        name: LEADER_THROTTLED_REPLICAS,
        kind: Kind::ThrottledReplicas,
        synonyms: &[],
    },
    TopicConfigKey {
        name: "max.message.bytes",
        kind: Kind::Long {
            min: 0,
            max: INT_MAX,
        },
        synonyms: &["message.max.bytes"],
    },
    TopicConfigKey {
        name: "message.timestamp.type",
        kind: Kind::TimestampType,
        synonyms: &["log.message.timestamp.type"],
    },
    TopicConfigKey {
        name: "min.cleanable.dirty.ratio",
        kind: Kind::Ratio,
        synonyms: &["log.cleaner.min.cleanable.ratio"],
    },
    TopicConfigKey {
        name: "min.compaction.lag.ms",
        kind: Kind::Long {
            min: 0,
            max: i64::MAX,
        },
        synonyms: &["log.cleaner.min.compaction.lag.ms"],
    },
    TopicConfigKey {
        name: "min.insync.replicas",
        kind: Kind::Long {
            min: 1,
            max: INT_MAX,
        },
        synonyms: &["min.insync.replicas"],
    },
    TopicConfigKey {
        name: "retention.bytes",
        kind: Kind::Long {
            min: -1,
            max: i64::MAX,
        },
        synonyms: &["log.retention.bytes"],
    },
    TopicConfigKey {
        name: "retention.ms",
        kind: Kind::Long {
            min: -1,
            max: i64::MAX,
        },
        synonyms: &[
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
        ],
    },
    TopicConfigKey {
        name: "segment.bytes",
        kind: Kind::Long {
            min: LOG_SEGMENT_BYTES_MIN,
            max: INT_MAX,
        },
        synonyms: &["log.segment.bytes"],
    },
    TopicConfigKey {
        name: "segment.ms",
        kind: Kind::Long {
            min: 1,
            max: i64::MAX,
        },
        synonyms: &["log.roll.ms", "log.roll.hours"],
    },
    TopicConfigKey {
        name: "unclean.leader.election.enable",
        kind: Kind::Bool,
        synonyms: &["unclean.leader.election.enable"],
    },
];

/// Checks one `name = value` pair; the error text is for the client.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    let key = key(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    match key.kind {
        Kind::Long { min, max } => match value.trim().parse::<i64>() {
            Ok(number) if (min..=max).contains(&number) => Ok(()),
            Ok(number) => Err(format!(
                "Invalid value {number} for configuration {name}: must be in [{min}, {max}]"
            )),
            Err(_) => Err(format!(
                "Invalid value {value} for configuration {name}: not a number"
            )),
        },
        Kind::Ratio => match value.trim().parse::<f64>() {
            Ok(number) if (0.0..=1.0).contains(&number) => Ok(()),
            _ => Err(format!(
                "Invalid value {value} for configuration {name}: must be a number in [0, 1]"
            )),
        },
        Kind::TimestampType => parse_timestamp_type(name, value)
            .map(|_| ())
            .map_err(|error| error.to_string()),
        Kind::CompressionType => check_compression_type(name, value),
        Kind::CleanupPolicy => check_cleanup_policy(name, value),
        Kind::Bool if parse_bool(value).is_some() => Ok(()),
        Kind::Bool => Err(format!(
            "Invalid value {value} for configuration {name}: Expected value to be either true or false"
        )),
        Kind::ThrottledReplicas => ThrottledReplicas::parse(name, value).map(drop),
    }
}

/// The broker-level default of a topic config, as the string a client would see.
pub fn default_value(name: &str, broker: &BrokerConfig) -> String {
    let log = &broker.log;
    match name {
        "cleanup.policy" => log.cleanup_policy.clone(),
        "compression.type" => broker.compression_type.clone(),
        "delete.retention.ms" => log.delete_retention_ms.to_string(),
        "min.cleanable.dirty.ratio" => log.min_cleanable_ratio.to_string(),
        "min.compaction.lag.ms" => log.min_compaction_lag_ms.to_string(),
        "min.insync.replicas" => broker.min_insync_replicas.to_string(),
        "flush.messages" => log.flush_interval_messages.to_string(),
        "flush.ms" => log.flush_interval_ms.to_string(),
        "index.interval.bytes" => log.index_interval_bytes.to_string(),
        "max.message.bytes" => broker.message_max_bytes.to_string(),
        "message.timestamp.type" => match log.message_timestamp_type {
            TimestampType::CreateTime => "CreateTime".to_owned(),
            TimestampType::LogAppendTime => "LogAppendTime".to_owned(),
        },
        "retention.bytes" => log.retention_bytes.to_string(),
        "retention.ms" => log.retention_ms.to_string(),
        "segment.bytes" => log.segment_bytes.to_string(),
        "segment.ms" => log.roll_ms.to_string(),
        "unclean.leader.election.enable" => broker.cluster.controller.unclean_election.to_string(),
        _ => String::new(),
    }
}

/// The settings a partition of a topic with these overrides runs with.
pub fn log_config(overrides: &BTreeMap<String, String>, broker: &BrokerConfig) -> LogConfig {
    let value = |name: &str| {
        overrides
            .get(name)
            .cloned()
            .unwrap_or_else(|| default_value(name, broker))
    };
    let long = |name: &str| value(name).trim().parse::<i64>().unwrap_or(0);
    LogConfig {
        segment_bytes: long("segment.bytes").max(LOG_SEGMENT_BYTES_MIN) as u64,
        segment_ms: long("segment.ms").max(1),
        index_interval_bytes: long("index.interval.bytes").max(0) as u64,
        max_message_bytes: long("max.message.bytes").max(0) as usize,
        timestamp_type: parse_timestamp_type(
            "message.timestamp.type",
            &value("message.timestamp.type"),
        )
        .unwrap_or(TimestampType::CreateTime),
        flush_messages: long("flush.messages").max(1) as u64,
        flush_ms: long("flush.ms").max(0),
        retention_ms: long("retention.ms").max(-1),
        retention_bytes: long("retention.bytes").max(-1),
        delete_enabled: has_cleanup_policy(&value("cleanup.policy"), "delete"),
        compact_enabled: has_cleanup_policy(&value("cleanup.policy"), "compact"),
        min_compaction_lag_ms: long("min.compaction.lag.ms").max(0),
        min_insync_replicas: long("min.insync.replicas").clamp(1, INT_MAX) as i32,
        delete_retention_ms: long("delete.retention.ms").max(0),
        compression: compression_codec(&value("compression.type")).flatten(),
        min_cleanable_dirty_ratio: value("min.cleanable.dirty.ratio")
            .trim()
            .parse::<f64>()
            .unwrap_or(0.5)
            .clamp(0.0, 1.0),
    }
}

/// One change IncrementalAlterConfigs asks for (AlterConfigs is `Set`s on no overrides).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    Set(String),
    /// Back to the broker default.
    Delete,
    /// Adds list items not already there (list-typed keys only).
    Append(String),
    /// Removes list items (list-typed keys only).
    Subtract(String),
}

/// Why a config change was refused; the text is for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigChangeError {
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    InvalidRequest(String),
}

/// Applies `changes` to a topic's overrides and validates every key it touched.
pub fn apply_changes(
    overrides: &BTreeMap<String, String>,
    changes: &[(String, ConfigChange)],
    broker: &BrokerConfig,
) -> Result<BTreeMap<String, String>, ConfigChangeError> {
    let mut next = overrides.clone();
    for (name, change) in changes {
        let key = key(name).ok_or_else(|| {
            ConfigChangeError::InvalidConfig(format!("Unknown topic config name: {name}"))
        })?;
        let list_only = |verb: &str| {
            ConfigChangeError::InvalidConfig(format!(
                "Config value {verb} is not allowed for config key: {name}"
            ))
        };
        let current_items = |next: &BTreeMap<String, String>| -> Vec<String> {
            next.get(name)
                .cloned()
                .unwrap_or_else(|| default_value(name, broker))
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let items = |value: &str| -> Vec<String> {
            value
                .split(',')
                .map(|item| item.trim().to_owned())
                .collect()
        };
        match change {
            ConfigChange::Set(value) => {
                next.insert(name.clone(), value.clone());
            }
            ConfigChange::Delete => {
                next.remove(name);
            }
            ConfigChange::Append(value) => {
                if key.config_type() != ConfigType::List {
                    return Err(list_only("append"));
                }
                let mut list = current_items(&next);
                for item in items(value) {
                    if !list.contains(&item) {
                        list.push(item);
                    }
                }
                next.insert(name.clone(), list.join(","));
            }
            ConfigChange::Subtract(value) => {
                if key.config_type() != ConfigType::List {
                    return Err(list_only("subtract"));
                }
                let removed = items(value);
                let list: Vec<String> = current_items(&next)
                    .into_iter()
                    .filter(|item| !removed.contains(item))
                    .collect();
                next.insert(name.clone(), list.join(","));
            }
        }
        if let Some(value) = next.get(name) {
            validate(name, value).map_err(ConfigChangeError::InvalidConfig)?;
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    #[test]
    fn validates_and_applies_overrides() {
        let broker = BrokerConfig::from_map(Default::default(), &Overrides::default()).unwrap();
        assert!(validate("retention.ms", "1000").is_ok());
        assert!(validate("retention.ms", "-2").is_err());
        assert!(validate("segment.bytes", "abc").is_err());
        assert!(validate("no.such", "1").unwrap_err().contains("no.such"));
        assert!(validate("cleanup.policy", "compact").is_ok());
        assert!(validate("cleanup.policy", "compact,delete").is_ok());
        assert!(validate("cleanup.policy", "shred").is_err());
        assert!(validate("min.cleanable.dirty.ratio", "0.1").is_ok());
        assert!(validate("min.cleanable.dirty.ratio", "2").is_err());
        assert!(validate("message.timestamp.type", "LogAppendTime").is_ok());
        assert!(validate("unclean.leader.election.enable", "TRUE").is_ok());
        assert!(validate("unclean.leader.election.enable", "yes").is_err());
        assert_eq!(
            default_value("unclean.leader.election.enable", &broker),
            "false"
        );
        let overrides: BTreeMap<String, String> = [
            ("segment.bytes".to_owned(), "2048".to_owned()),
            (
                "message.timestamp.type".to_owned(),
                "LogAppendTime".to_owned(),
            ),
        ]
        .into();
        let config = log_config(&overrides, &broker);
        assert_eq!(config.segment_bytes, 2048);
        assert_eq!(config.timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(config.max_message_bytes, 1_048_588);
        assert_eq!(config.flush_messages, i64::MAX as u64);
    }

    #[test]
    fn incremental_changes_follow_kafka() {
        let broker = BrokerConfig::from_map(Default::default(), &Overrides::default()).unwrap();
        let overrides: BTreeMap<String, String> =
            [("retention.ms".to_owned(), "1000".to_owned())].into();
        let change = |changes: &[(&str, ConfigChange)]| {
            let changes: Vec<(String, ConfigChange)> = changes
                .iter()
                .map(|(name, change)| (name.to_string(), change.clone()))
                .collect();
            apply_changes(&overrides, &changes, &broker)
        };
        let next = change(&[
            ("retention.ms", ConfigChange::Delete),
            ("segment.bytes", ConfigChange::Set("2048".into())),
        ])
        .unwrap();
        assert_eq!(
            next,
            [("segment.bytes".to_owned(), "2048".to_owned())].into()
        );
        // Append starts from the default (delete) and skips items already there.
        let next = change(&[(
            "cleanup.policy",
            ConfigChange::Append("compact,delete".into()),
        )])
        .unwrap();
        assert_eq!(next["cleanup.policy"], "delete,compact");
        let next = change(&[
            ("cleanup.policy", ConfigChange::Set("delete,compact".into())),
            ("cleanup.policy", ConfigChange::Subtract("delete".into())),
        ])
        .unwrap();
        assert_eq!(next["cleanup.policy"], "compact");
        assert!(matches!(
            change(&[("cleanup.policy", ConfigChange::Subtract("delete".into()))]),
            Err(ConfigChangeError::InvalidConfig(_))
        ));
        let error = change(&[("retention.ms", ConfigChange::Append("5".into()))]).unwrap_err();
        assert!(
            error.to_string().contains("append is not allowed"),
            "{error}"
        );
        let error = change(&[("segment.bytes", ConfigChange::Set("1".into()))]).unwrap_err();
        assert!(error.to_string().contains("segment.bytes"), "{error}");
        let error = change(&[("no.such", ConfigChange::Delete)]).unwrap_err();
        assert!(error.to_string().contains("no.such"), "{error}");
        // Throttle lists: `*` or partition:broker items, which APPEND adds to.
        let throttle = "leader.replication.throttled.replicas";
        assert_eq!(
            change(&[(throttle, ConfigChange::Delete)]),
            Ok(overrides.clone())
        );
        let listed = change(&[
            (throttle, ConfigChange::Set("0:1".into())),
            (throttle, ConfigChange::Append("1:2".into())),
        ])
        .unwrap();
        assert_eq!(listed[throttle], "0:1,1:2");
        let error = change(&[(throttle, ConfigChange::Set("0-1".into()))]).unwrap_err();
        assert!(
            error.to_string().contains("must be the literal '*'"),
            "{error}"
        );
    }
}
