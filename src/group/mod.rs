//! The group coordinator for Kafka's classic consumer group protocol: membership and
//! rebalances ([`state`]), committed offsets stored durably in `__consumer_offsets`
//! ([`offsets`]), and the [`GroupCoordinator`] tying them to the broker.
//!
//! Time comes from the injected clock; nothing here sleeps. A broker task calls
//! [`GroupCoordinator::tick`] to expire sessions and end rebalances.

pub mod consumer_protocol;
pub mod coordinator;
pub mod group_record;
pub mod offsets;
pub mod state;

pub use coordinator::GroupCoordinator;

/// Name of the internal topic holding committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Coordinator settings (Kafka's `group.*` / `offsets.*` broker configs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group
    /// waits for more members.
    pub initial_rebalance_delay_ms: i64,
    /// `group.min.session.timeout.ms`
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`
    pub max_session_timeout_ms: i32,
    /// `offsets.topic.num.partitions`
    pub offsets_topic_partitions: i32,
    /// `offsets.topic.replication.factor` (a cluster creates the topic with it)
    pub offsets_topic_replication_factor: i16,
    /// `offsets.commit.timeout.ms`: how long a commit waits for the in-sync replicas.
    pub offsets_commit_timeout_ms: u64,
    /// `offset.metadata.max.bytes`
    pub offset_metadata_max_bytes: usize,
    /// `offsets.retention.minutes` (in ms): how long an empty group's offsets outlive it.
    pub offsets_retention_ms: i64,
    /// `offsets.retention.check.interval.ms`
    pub offsets_retention_check_interval_ms: i64,
}

/// Kafka's answer when a coordinator's write to its internal topic fails: NOT_COORDINATOR
/// once this broker no longer leads the partition (the client looks the coordinator up
/// again), COORDINATOR_NOT_AVAILABLE when too few replicas are in sync, they did not
/// acknowledge in time, or the disk failed.
pub fn coordinator_write_error(error: &crate::log::LogError) -> kafka_protocol::ResponseError {
    use crate::log::LogError;
    use kafka_protocol::ResponseError;
    match error {
        LogError::NotLeading => ResponseError::NotCoordinator,
        _ => ResponseError::CoordinatorNotAvailable,
    }
}
