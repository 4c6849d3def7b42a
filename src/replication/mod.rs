//! Replication of partitions between brokers, as Kafka does it (followers fetch from their
//! leader). So far: the leader's bookkeeping of its followers (`replica_set.rs`).

pub mod replica_set;

pub use replica_set::{ReplicaSet, REPLICA_LAG_TIME_MAX_MS};
