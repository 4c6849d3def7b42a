//! Replication of partitions between brokers, as Kafka does it (followers fetch from their
//! leader): the leader's bookkeeping of its followers (`replica_set.rs`, pure), the
//! partitions this broker leads with followers and their high watermarks (`leaders.rs`),
//! the follower's fetching from its leaders (`fetcher.rs`), and which replica a consumer
//! reads from (`read_replica.rs`, KIP-392), and the replication throttles (`throttle.rs`).

pub mod fetcher;
pub mod leaders;
pub mod read_replica;
pub mod replica_set;
pub mod throttle;

pub use fetcher::{Fetchers, Followed, LeaderAddress};
pub use leaders::{FollowerFetch, FollowerPosition, FollowerRefused, IsrChange, Leaders};
pub use read_replica::ReplicaView;
pub use replica_set::{ReplicaSet, REPLICA_LAG_TIME_MAX_MS};
pub use throttle::{ReplicationThrottles, Throttle, Throttled, ThrottledPartitions};
