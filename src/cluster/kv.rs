//! The key-value store the cluster keeps its metadata in, as etcd's v3 API shapes it:
//! revisioned keys, transactions guarded by compares, leases that delete their keys when they
//! expire, and watches from a revision. [`Kv`] is etcd in real runs and an in-memory store
//! with the same semantics in deterministic tests.

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::mpsc;

use super::etcd::EtcdKv;
use super::memory::MemoryKv;

/// A stored key with its value and the revisions etcd keeps for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: Vec<u8>,
    /// The revision that created the key (since it last did not exist): it orders the
    /// holders of a key over time, so it serves as a fencing epoch.
    pub create_revision: i64,
    /// The revision of its last change: the version a compare-and-swap names.
    pub mod_revision: i64,
    /// The lease the key lives on, if any.
    pub lease: Option<LeaseId>,
}

/// Every entry under a prefix as of one revision.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub entries: Vec<Entry>,
    pub revision: i64,
}

/// A lease: keys put under it are deleted when it expires or is revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaseId(pub i64);

/// What a transaction requires before it applies its operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The key does not exist.
    Absent(String),
    /// The key exists and was last changed at this revision.
    ModRevision(String, i64),
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put {
        key: String,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    },
    Delete(String),
}

/// One change seen by a watch, in revision order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Put(Entry),
    Delete { key: String, revision: i64 },
}

impl Change {
    pub fn key(&self) -> &str {
        match self {
            Change::Put(entry) => &entry.key,
            Change::Delete { key, .. } => key,
        }
    }
}

/// Changes of one revision, or why the watch ended (the watcher then starts over from a
/// fresh snapshot).
pub type WatchBatch = Result<Vec<Change>, KvError>;

/// Writes per transaction, below etcd's default `--max-txn-ops` of 128.
pub const MAX_OPS_PER_TXN: usize = 100;

/// How many change batches a watch buffers before its reader must catch up.
pub const WATCH_BUFFER: usize = 1024;

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum KvError {
    /// The store did not answer (etcd down, no quorum, timeout).
    #[error("cluster store unavailable: {0}")]
    Unavailable(String),
    /// The lease expired or was revoked: its keys are gone.
    #[error("lease {0} expired")]
    LeaseExpired(i64),
    /// The watch stopped (stream broken, history compacted).
    #[error("watch ended: {0}")]
    WatchEnded(String),
}

/// The cluster's store: etcd, or the in-memory model of it.
#[derive(Debug, Clone)]
pub enum Kv {
    Etcd(Arc<EtcdKv>),
    Memory(Arc<MemoryKv>),
}

impl Kv {
    /// Every key under `prefix`, with the revision the read saw.
    pub async fn get_prefix(&self, prefix: &str) -> Result<Snapshot, KvError> {
        match self {
            Kv::Etcd(etcd) => etcd.get_prefix(prefix).await,
            Kv::Memory(memory) => memory.check_reachable().map(|()| memory.get_prefix(prefix)),
        }
    }

    /// Applies `ops` atomically if every condition holds; returns whether it did.
    pub async fn commit(&self, conditions: Vec<Condition>, ops: Vec<Op>) -> Result<bool, KvError> {
        Ok(self.commit_at(conditions, ops).await?.is_some())
    }

    /// Like [`Kv::commit`], returning the revision the writes got (the new mod revision of
    /// every key they put), or `None` if a condition failed.
    pub async fn commit_at(
        &self,
        conditions: Vec<Condition>,
        ops: Vec<Op>,
    ) -> Result<Option<i64>, KvError> {
        match self {
            Kv::Etcd(etcd) => etcd.commit(conditions, ops).await,
            Kv::Memory(memory) => memory
                .check_reachable()
                .and_then(|()| memory.commit(&conditions, ops)),
        }
    }

    /// Applies each write if its own condition and every one of `shared` hold: in
    /// transactions of up to [`MAX_OPS_PER_TXN`] writes, one by one where a transaction meets
    /// a condition that fails. Returns how many applied.
    pub async fn commit_each(
        &self,
        shared: &[Condition],
        writes: Vec<(Condition, Op)>,
    ) -> Result<usize, KvError> {
        let conditions = |batch: &[(Condition, Op)]| {
            let own = batch.iter().map(|(condition, _)| condition.clone());
            shared.iter().cloned().chain(own).collect()
        };
        let ops = |batch: &[(Condition, Op)]| batch.iter().map(|(_, op)| op.clone()).collect();
        let mut applied = 0;
        for batch in writes.chunks(MAX_OPS_PER_TXN) {
            if self.commit(conditions(batch), ops(batch)).await? {
                applied += batch.len();
                continue;
            }
            for write in batch.chunks(1) {
                if self.commit(conditions(write), ops(write)).await? {
                    applied += 1;
                }
            }
        }
        Ok(applied)
    }

    /// A new lease living `ttl` (rounded up to whole seconds, as etcd counts) unless kept alive.
    pub async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId, KvError> {
        match self {
            Kv::Etcd(etcd) => etcd.grant_lease(ttl).await,
            Kv::Memory(memory) => memory.check_reachable().map(|()| memory.grant_lease(ttl)),
        }
    }

    /// Renews the lease for its full ttl; `LeaseExpired` if it is already gone.
    pub async fn keep_alive(&self, lease: LeaseId) -> Result<(), KvError> {
        match self {
            Kv::Etcd(etcd) => etcd.keep_alive(lease).await,
            Kv::Memory(memory) => memory
                .check_reachable()
                .and_then(|()| memory.keep_alive(lease)),
        }
    }

    /// Ends the lease now, deleting its keys.
    pub async fn revoke(&self, lease: LeaseId) -> Result<(), KvError> {
        match self {
            Kv::Etcd(etcd) => etcd.revoke(lease).await,
            Kv::Memory(memory) => memory.check_reachable().map(|()| memory.revoke(lease)),
        }
    }

    /// Changes under `prefix` from revision `from` on, in revision order (a batch holds one
    /// revision or more).
    pub async fn watch_prefix(
        &self,
        prefix: &str,
        from: i64,
    ) -> Result<mpsc::Receiver<WatchBatch>, KvError> {
        match self {
            Kv::Etcd(etcd) => etcd.watch_prefix(prefix, from).await,
            Kv::Memory(memory) => memory
                .check_reachable()
                .map(|()| memory.watch_prefix(prefix, from)),
        }
    }
}
