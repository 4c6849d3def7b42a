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
