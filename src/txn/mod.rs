//! Transactions (KIP-98): the transaction coordinator, its `__transaction_state` records and
//! per-id state. The partition side (markers, LSO, aborted transactions) is in `log/`.

pub mod coordinator;
pub mod record;
pub mod state;

pub use coordinator::{
    Marker, PartitionChange, PartitionLeaders, TxnCoordinator, REPLICATION_TIMEOUT,
};

/// Name of the internal topic holding transaction state.
pub const TRANSACTION_TOPIC: &str = "__transaction_state";

/// Coordinator settings (Kafka's `transaction.*` broker configs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnConfig {
    /// `transaction.state.log.num.partitions`
    pub state_partitions: i32,
    /// `transaction.state.log.replication.factor` (a cluster creates the topic with it)
    pub state_replication_factor: i16,
    /// `transaction.state.log.min.isr`: the topic's `min.insync.replicas`
    pub state_min_isr: i32,
    /// `transaction.max.timeout.ms`
    pub max_timeout_ms: i64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`
    pub abort_check_interval_ms: i64,
}
