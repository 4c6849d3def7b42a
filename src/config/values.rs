//! What broker configs and topic configs share: the value types DescribeConfigs reports,
//! limits, and the checks of values both accept (timestamp types, cleanup policies,
//! compression types). It sits below both, so neither calls the other to check a value.

use crate::log::TimestampType;

/// Smallest segment Kafka allows (`log.segment.bytes`, `segment.bytes`).
pub const LOG_SEGMENT_BYTES_MIN: i64 = 14;
/// Most partitions one topic may have (a named limit, checked on create and auto-create, and
/// by the partition counts of the internal topics).
pub const PARTITIONS_PER_TOPIC_MAX: i32 = 10_000;

/// The value type of a config key, as DescribeConfigs v3+ reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean,
    String,
    Int,
    Long,
    Double,
    List,
    Class,
    /// A secret: DescribeConfigs reports it sensitive and never its value.
    Password,
}

impl ConfigType {
    /// Kafka's `ConfigType` code.
    pub fn code(self) -> i8 {
        match self {
            Self::Boolean => 1,
            Self::String => 2,
            Self::Int => 3,
            Self::Long => 5,
            Self::Double => 6,
            Self::List => 7,
            Self::Class => 8,
            Self::Password => 9,
        }
    }
}

/// Parses `CreateTime` / `LogAppendTime`.
pub fn timestamp_type(value: &str) -> Result<TimestampType, String> {
    match value {
        "CreateTime" => Ok(TimestampType::CreateTime),
        "LogAppendTime" => Ok(TimestampType::LogAppendTime),
        other => Err(format!("`{other}` is not CreateTime or LogAppendTime")),
    }
}

/// Checks a `cleanup.policy` list (`delete`, `compact`, or both) given for config `name`.
pub fn check_cleanup_policy(name: &str, value: &str) -> Result<(), String> {
    let policies: Vec<&str> = value.split(',').map(str::trim).collect();
    if policies.is_empty()
        || policies
            .iter()
            .any(|policy| !matches!(*policy, "delete" | "compact"))
    {
        return Err(format!(
            "Invalid value {value} for configuration {name}: must be delete, compact, or both"
        ));
    }
    Ok(())
}

/// A boolean config value as Kafka reads one: `true` or `false`, in any case.
pub fn parse_bool(value: &str) -> Option<bool> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Whether a `cleanup.policy` list has `wanted`.
pub fn has_cleanup_policy(policies: &str, wanted: &str) -> bool {
    policies.split(',').any(|policy| policy.trim() == wanted)
}

/// The codec id a `compression.type` stores batches with: `Some(None)` for `producer`
/// (keep the producer's), `None` for a value that is not a codec.
pub fn compression_codec(compression_type: &str) -> Option<Option<i16>> {
    Some(match compression_type.trim() {
        "producer" => None,
        "uncompressed" => Some(0),
        "gzip" => Some(1),
        "snappy" => Some(2),
        "lz4" => Some(3),
        "zstd" => Some(4),
        _ => return None,
    })
}

/// Checks a `compression.type` given for config `name`.
pub fn check_compression_type(name: &str, value: &str) -> Result<(), String> {
    compression_codec(value).map(drop).ok_or_else(|| {
        format!("Invalid value {value} for configuration {name}: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer")
    })
}

/// The topic configs naming the replicas a leader, and a follower, throttles.
pub const LEADER_THROTTLED_REPLICAS: &str = "leader.replication.throttled.replicas";
pub const FOLLOWER_THROTTLED_REPLICAS: &str = "follower.replication.throttled.replicas";

/// A replication throttle list ([`LEADER_THROTTLED_REPLICAS`],
/// [`FOLLOWER_THROTTLED_REPLICAS`]): every replica of the topic, or listed `partition:broker`
/// replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThrottledReplicas {
    All,
    Listed(Vec<(i32, i32)>),
}

impl ThrottledReplicas {
    /// Parses a list as Kafka checks it: the literal `*`, or comma-separated
    /// `partition:broker` items (empty items allowed); `name` is the config key, for the
    /// message.
    pub fn parse(name: &str, value: &str) -> Result<Self, String> {
        let items: Vec<&str> = value.split(',').map(str::trim).collect();
        if items.concat() == "*" {
            return Ok(Self::All);
        }
        let invalid = || {
            format!(
                "Invalid value {value} for configuration {name}: {name} must be the literal '*' \
                 or a list of replicas in the following format: \
                 [partitionId]:[brokerId],[partitionId]:[brokerId],..."
            )
        };
        let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        let mut replicas = Vec::new();
        for item in items.into_iter().filter(|item| !item.is_empty()) {
            let (partition, broker) = item.split_once(':').ok_or_else(invalid)?;
            if !digits(partition) || !digits(broker) {
                return Err(invalid());
            }
            let number = |text: &str| text.parse::<i32>().map_err(|_| invalid());
            replicas.push((number(partition)?, number(broker)?));
        }
        Ok(Self::Listed(replicas))
    }

    /// Whether the replica of `partition` on `broker` is throttled.
    pub fn throttles(&self, partition: i32, broker: i32) -> bool {
        match self {
            Self::All => true,
            Self::Listed(replicas) => replicas.contains(&(partition, broker)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttled_replica_lists_parse_as_kafka_checks_them() {
        let parse =
            |value| ThrottledReplicas::parse("leader.replication.throttled.replicas", value);
        assert_eq!(parse("*"), Ok(ThrottledReplicas::All));
        assert_eq!(parse(" * "), Ok(ThrottledReplicas::All));
        assert_eq!(parse(""), Ok(ThrottledReplicas::Listed(vec![])));
        let listed = parse("0:1, 2:3,").unwrap();
        assert_eq!(listed, ThrottledReplicas::Listed(vec![(0, 1), (2, 3)]));
        assert!(listed.throttles(2, 3));
        assert!(!listed.throttles(3, 2));
        assert!(ThrottledReplicas::All.throttles(7, 9));
        for invalid in ["*,0:1", "0", "0:x", "-1:2", "0:1:2", "99999999999:1"] {
            let error = parse(invalid).unwrap_err();
            assert!(
                error.contains("must be the literal '*'"),
                "{invalid}: {error}"
            );
        }
    }
}
