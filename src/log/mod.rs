//! The storage engine: partitions made of segment files in Kafka's on-disk format.
//!
//! Layers, each owning its files: [`LogManager`] (every partition under the data dir, the
//! clean-shutdown marker, the flush scheduler) → [`Partition`] (segments, append lock, group
//! commit) → [`Segment`](segment::Segment) (`.log`) → [`Index`](index::Index) (`.index`,
//! `.timeindex`). Nothing here knows about Kafka requests.

pub mod checkpoint;
pub mod cleaner;
pub mod disk;
pub mod index;
pub mod leader_epochs;
pub mod manager;
pub mod partition;
pub mod producer_state;
pub mod retention;
pub mod segment;
pub mod transactions;

use thiserror::Error;

use crate::records::BatchError;

pub use manager::LogManager;
pub use partition::{AppendInfo, Partition, ProducerSummary, ReadResult, TimestampMatch};

/// Which records a read may return (Fetch/ListOffsets `isolation_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Everything up to the high watermark.
    ReadUncommitted,
    /// Only up to the last stable offset, with the aborted transactions to skip.
    ReadCommitted,
    /// Everything up to the log end: a follower's fetch from its leader.
    LogEnd,
}

/// How a partition stamps batch timestamps (`message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// The settings one partition's log runs with: broker defaults overridden by topic configs.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll when the active segment would grow past this.
    pub segment_bytes: u64,
    /// `segment.ms`: roll a non-empty segment older than this.
    pub segment_ms: i64,
    /// `index.interval.bytes`: bytes between sparse index entries.
    pub index_interval_bytes: u64,
    /// `max.message.bytes`: the largest batch accepted.
    pub max_message_bytes: usize,
    pub timestamp_type: TimestampType,
    /// `flush.messages`: fsync after this many records (u64::MAX = never by count).
    pub flush_messages: u64,
    /// `flush.ms`: fsync data older than this (i64::MAX = never by time).
    pub flush_ms: i64,
    /// `retention.ms`: closed segments whose newest record is older are deleted (-1: never).
    pub retention_ms: i64,
    /// `retention.bytes`: oldest closed segments are deleted while the log is larger (-1: no
    /// limit).
    pub retention_bytes: i64,
    /// `cleanup.policy` contains `delete` (retention applies).
    pub delete_enabled: bool,
    /// `cleanup.policy` contains `compact` (the cleaner keeps the newest record per key).
    pub compact_enabled: bool,
    /// `min.compaction.lag.ms`: segments with newer records are not compacted yet.
    pub min_compaction_lag_ms: i64,
    /// `min.insync.replicas`: acks=all needs at least this many in-sync replicas.
    pub min_insync_replicas: i32,
    /// `delete.retention.ms`: how long compaction keeps tombstones.
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`: compact once this share of the compactable bytes is new.
    pub min_cleanable_dirty_ratio: f64,
    /// `compression.type`: the codec id produced batches are stored with (`None`: as the
    /// producer sent them, Kafka's `producer`).
    pub compression: Option<i16>,
}

/// Errors of the log layer; handlers map them to Kafka error codes in one place.
#[derive(Debug, Error)]
pub enum LogError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("offset {offset} is outside [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] BatchError),
    #[error("batch of {size} bytes exceeds max.message.bytes {max}")]
    BatchTooLarge { size: usize, max: usize },
    #[error("partition directory {0} holds another topic's data")]
    ForeignPartitionDir(String),
    #[error(transparent)]
    Producer(#[from] producer_state::ProducerError),
    #[error("the partition stopped taking writes after an fsync failure; restart the broker")]
    Offline,
    #[error("a replicated batch starts at offset {found}, not at the log end {expected}")]
    NotContiguous { expected: i64, found: i64 },
    #[error("this replica has begun a leader epoch after {leader_epoch}, the one it follows")]
    NotFollowing { leader_epoch: i32 },
    #[error("this replica does not lead the partition (any more)")]
    NotLeading,
    #[error("the in-sync replicas did not acknowledge the batch in time")]
    ReplicationTimedOut,
    #[error(
        "the number of in-sync replicas ({in_sync}) is below min.insync.replicas ({required})"
    )]
    NotEnoughReplicas { in_sync: i32, required: i32 },
}
