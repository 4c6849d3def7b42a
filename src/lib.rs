//! spool: a Kafka-wire-compatible message broker on its own segmented log.
//!
//! See `ARCHITECTURE.md` at the repository root for the module map and invariants.

pub mod acl;
pub mod broker;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod file_slice;
pub mod group;
pub mod handlers;
pub mod log;
pub mod metadata;
pub mod metrics;
pub mod open_files;
pub mod peers;
pub mod producer_ids;
pub mod protocol;
pub mod quota;
pub mod records;
pub mod replication;
pub mod sasl;
pub mod server;
pub mod tls;
pub mod txn;
