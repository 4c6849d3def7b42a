//! Topic-level configs: which keys exist, how their values are checked, their broker-level
//! defaults, and the [`LogConfig`] a partition runs with.

use std::collections::BTreeMap;

use crate::config::{parse_timestamp_type, BrokerConfig, LOG_SEGMENT_BYTES_MIN};
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
}

/// One topic-level config key.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigKey {
    pub name: &'static str,
    kind: Kind,
}

const INT_MAX: i64 = i32::MAX as i64;

/// Every topic-level key spool accepts, sorted by name.
pub const TOPIC_CONFIG_KEYS: &[TopicConfigKey] = &[
    TopicConfigKey {
        name: "cleanup.policy",
        kind: Kind::CleanupPolicy,
    },
    TopicConfigKey {
        name: "delete.retention.ms",
        kind: Kind::Long {
            min: 0,
            max: i64::MAX,
        },
    },
    TopicConfigKey {
        name: "flush.messages",
        kind: Kind::Long {
            min: 1,
            max: i64::MAX,
        },
    },
    TopicConfigKey {
        name: "flush.ms",
        kind: Kind::Long {
            min: 0,
            max: i64::MAX,
        },
    },
    TopicConfigKey {
        name: "index.interval.bytes",
        kind: Kind::Long {
            min: 0,
            max: INT_MAX,
        },
    },
    TopicConfigKey {
        name: "max.message.bytes",
        kind: Kind::Long {
            min: 0,
            max: INT_MAX,
        },
    },
    TopicConfigKey {
        name: "message.timestamp.type",
        kind: Kind::TimestampType,
    },
    TopicConfigKey {
        name: "min.cleanable.dirty.ratio",
        kind: Kind::Ratio,
    },
    TopicConfigKey {
        name: "min.compaction.lag.ms",
        kind: Kind::Long {
            min: 0,
            max: i64::MAX,
        },
    },
    TopicConfigKey {
        name: "retention.bytes",
        kind: Kind::Long {
            min: -1,
            max: i64::MAX,
        },
    },
    TopicConfigKey {
        name: "retention.ms",
        kind: Kind::Long {
            min: -1,
            max: i64::MAX,
        },
    },
    TopicConfigKey {
        name: "segment.bytes",
        kind: Kind::Long {
            min: LOG_SEGMENT_BYTES_MIN,
            max: INT_MAX,
        },
    },
    TopicConfigKey {
        name: "segment.ms",
        kind: Kind::Long {
            min: 1,
            max: i64::MAX,
        },
    },
];

/// Checks one `name = value` pair; the error text is for the client.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    let key = TOPIC_CONFIG_KEYS
        .iter()
        .find(|key| key.name == name)
        .ok_or_else(|| format!("Unknown topic config name: {name}"))?;
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
        Kind::CleanupPolicy => {
            let policies: Vec<&str> = value.split(',').map(str::trim).collect();
            if policies.is_empty()
                || policies
                    .iter()
                    .any(|policy| !matches!(*policy, "delete" | "compact"))
            {
                return Err(format!("Invalid value {value} for configuration {name}: must be delete, compact, or both"));
            }
            Ok(())
        }
    }
}

/// The broker-level default of a topic config, as the string a client would see.
pub fn default_value(name: &str, broker: &BrokerConfig) -> String {
    let log = &broker.log;
    match name {
        "cleanup.policy" => log.cleanup_policy.clone(),
        "delete.retention.ms" => log.delete_retention_ms.to_string(),
        "min.cleanable.dirty.ratio" => log.min_cleanable_ratio.to_string(),
        "min.compaction.lag.ms" => log.min_compaction_lag_ms.to_string(),
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
        _ => String::new(),
    }
}

/// A topic's effective value of each config key, and whether the topic overrides it.
pub fn effective(
    overrides: &BTreeMap<String, String>,
    broker: &BrokerConfig,
) -> Vec<(&'static str, String, bool)> {
    TOPIC_CONFIG_KEYS
        .iter()
        .map(|key| match overrides.get(key.name) {
            Some(value) => (key.name, value.clone(), true),
            None => (key.name, default_value(key.name, broker), false),
        })
        .collect()
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
        delete_enabled: has_policy(&value("cleanup.policy"), "delete"),
        compact_enabled: has_policy(&value("cleanup.policy"), "compact"),
        min_compaction_lag_ms: long("min.compaction.lag.ms").max(0),
        delete_retention_ms: long("delete.retention.ms").max(0),
        min_cleanable_dirty_ratio: value("min.cleanable.dirty.ratio")
            .trim()
            .parse::<f64>()
            .unwrap_or(0.5)
            .clamp(0.0, 1.0),
    }
}

fn has_policy(policies: &str, wanted: &str) -> bool {
    policies.split(',').any(|policy| policy.trim() == wanted)
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
        let described = effective(&overrides, &broker);
        assert!(described.contains(&("segment.bytes", "2048".to_owned(), true)));
        assert!(described.contains(&("retention.ms", (168 * 3_600_000i64).to_string(), false)));
    }
}
