//! An in-memory store with etcd's semantics (one revision per transaction, create and mod
//! revisions, leases, watches from a past revision), so the cluster logic can be driven by
//! deterministic tests without etcd. Leases run on tokio's clock: a test with paused time
//! moves them exactly. Expired leases are reaped by every call.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::kv::{
    Change, Condition, Entry, KvError, LeaseId, Op, Snapshot, WatchBatch, WATCH_BUFFER,
};

#[derive(Debug, Default)]
struct State {
    revision: i64,
    entries: BTreeMap<String, Entry>,
    /// Which lease holds each key put under one.
    key_leases: HashMap<String, LeaseId>,
    leases: HashMap<LeaseId, Lease>,
    next_lease: i64,
    /// Every revision's changes, for watches that start in the past.
    history: Vec<(i64, Vec<Change>)>,
    watchers: Vec<(String, mpsc::Sender<WatchBatch>)>,
}

#[derive(Debug)]
struct Lease {
    ttl: Duration,
    deadline: Instant,
    keys: HashSet<String>,
}

/// The in-memory store.
#[derive(Debug, Default)]
pub struct MemoryKv {
    state: Mutex<State>,
    /// Set while tests simulate an outage: every call fails as etcd's would.
    unreachable: AtomicBool,
}

impl MemoryKv {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts or ends a simulated outage; starting one ends every watch, as a broken
    /// connection to etcd does.
    pub fn set_unreachable(&self, unreachable: bool) {
        self.unreachable.store(unreachable, Ordering::SeqCst);
        if unreachable {
            self.lock().watchers.clear();
        }
    }

    /// `Unavailable` during a simulated outage.
    pub fn check_reachable(&self) -> Result<(), KvError> {
        if self.unreachable.load(Ordering::SeqCst) {
            return Err(KvError::Unavailable("simulated outage".into()));
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        state.expire_leases(Instant::now());
        state
    }

    pub fn get_prefix(&self, prefix: &str) -> Snapshot {
        let state = self.lock();
        Snapshot {
            entries: state
                .entries
                .range(prefix.to_owned()..)
                .take_while(|(key, _)| key.starts_with(prefix))
                .map(|(_, entry)| entry.clone())
                .collect(),
            revision: state.revision,
        }
    }

    /// Applies `ops` if every condition holds; the revision they got, or `None`.
    pub fn commit(&self, conditions: &[Condition], ops: Vec<Op>) -> Result<Option<i64>, KvError> {
        let mut state = self.lock();
        let holds = conditions.iter().all(|condition| match condition {
            Condition::Absent(key) => !state.entries.contains_key(key),
            Condition::ModRevision(key, revision) => state
                .entries
                .get(key)
                .is_some_and(|entry| entry.mod_revision == *revision),
        });
        if !holds {
            return Ok(None);
        }
        for op in &ops {
            if let Op::Put {
                lease: Some(lease), ..
            } = op
            {
                if !state.leases.contains_key(lease) {
                    return Err(KvError::LeaseExpired(lease.0));
                }
            }
        }
        let revision = state.revision + 1;
        let changes = ops
            .into_iter()
            .filter_map(|op| state.apply(op, revision))
            .collect();
        state.publish(revision, changes);
        Ok(Some(revision))
    }

    pub fn grant_lease(&self, ttl: Duration) -> LeaseId {
        let mut state = self.lock();
        state.next_lease += 1;
        let id = LeaseId(state.next_lease);
        let ttl = Duration::from_secs(ttl.as_millis().div_ceil(1000).max(1) as u64);
        state.leases.insert(
            id,
            Lease {
                ttl,
                deadline: Instant::now() + ttl,
                keys: HashSet::new(),
            },
        );
        id
    }

    pub fn keep_alive(&self, lease: LeaseId) -> Result<(), KvError> {
        let mut state = self.lock();
        let held = state
            .leases
            .get_mut(&lease)
            .ok_or(KvError::LeaseExpired(lease.0))?;
        held.deadline = Instant::now() + held.ttl;
        Ok(())
    }

    pub fn revoke(&self, lease: LeaseId) {
        self.lock().end_lease(lease);
    }

    /// Reaps leases whose deadline has passed (every call does this first).
    pub fn expire_leases(&self) {
        drop(self.lock());
    }

    pub fn watch_prefix(&self, prefix: &str, from: i64) -> mpsc::Receiver<WatchBatch> {
        let mut state = self.lock();
        let (sender, receiver) = mpsc::channel(WATCH_BUFFER);
        for (revision, changes) in &state.history {
            if *revision < from {
                continue;
            }
            let batch = matching(changes, prefix);
            if !batch.is_empty() && sender.try_send(Ok(batch)).is_err() {
                return receiver;
            }
        }
        state.watchers.push((prefix.to_owned(), sender));
        receiver
    }
}

/// The changes of `changes` under `prefix`.
fn matching(changes: &[Change], prefix: &str) -> Vec<Change> {
    changes
        .iter()
        .filter(|change| change.key().starts_with(prefix))
        .cloned()
        .collect()
}

impl State {
    /// One write at `revision`; the change it makes, if any.
    fn apply(&mut self, op: Op, revision: i64) -> Option<Change> {
        match op {
            Op::Put { key, value, lease } => {
                self.detach(&key);
                if let Some(lease) = lease {
                    if let Some(held) = self.leases.get_mut(&lease) {
                        held.keys.insert(key.clone());
                    }
                    self.key_leases.insert(key.clone(), lease);
                }
                let create_revision = self
                    .entries
                    .get(&key)
                    .map_or(revision, |entry| entry.create_revision);
                let entry = Entry {
                    key: key.clone(),
                    value,
                    create_revision,
                    mod_revision: revision,
                    lease,
                };
                self.entries.insert(key, entry.clone());
                Some(Change::Put(entry))
            }
            Op::Delete(key) => {
                self.detach(&key);
                self.entries
                    .remove(&key)
                    .map(|_| Change::Delete { key, revision })
            }
        }
    }

    /// Forgets which lease held `key`.
    fn detach(&mut self, key: &str) {
        if let Some(lease) = self.key_leases.remove(key) {
            if let Some(held) = self.leases.get_mut(&lease) {
                held.keys.remove(key);
            }
        }
    }

    fn end_lease(&mut self, lease: LeaseId) {
        let Some(held) = self.leases.remove(&lease) else {
            return;
        };
        if held.keys.is_empty() {
            return;
        }
        let revision = self.revision + 1;
        let changes = held
            .keys
            .into_iter()
            .filter_map(|key| self.apply(Op::Delete(key), revision))
            .collect();
        self.publish(revision, changes);
    }

    fn expire_leases(&mut self, now: Instant) {
        let expired: Vec<LeaseId> = self
            .leases
            .iter()
            .filter(|(_, lease)| lease.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for lease in expired {
            self.end_lease(lease);
        }
    }

    fn publish(&mut self, revision: i64, changes: Vec<Change>) {
        self.revision = revision;
        self.watchers.retain(|(prefix, sender)| {
            let batch = matching(&changes, prefix);
            // A watcher that fell WATCH_BUFFER batches behind is cut off, as etcd cuts off
            // a slow watcher; it starts over from a snapshot.
            batch.is_empty() || sender.try_send(Ok(batch)).is_ok()
        });
        self.history.push((revision, changes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str, lease: Option<LeaseId>) -> Op {
        Op::Put {
            key: key.into(),
            value: value.into(),
            lease,
        }
    }

    #[test]
    fn compares_guard_transactions_and_revisions_advance_per_transaction() {
        let kv = MemoryKv::new();
        let absent = || vec![Condition::Absent("/a".into())];
        assert_eq!(
            kv.commit(&absent(), vec![put("/a", "1", None)]),
            Ok(Some(1))
        );
        assert_eq!(kv.commit(&absent(), vec![put("/a", "2", None)]), Ok(None));
        let first = kv.get_prefix("/a").entries[0].clone();
        assert_eq!((first.create_revision, first.mod_revision), (1, 1));

        let stale = vec![Condition::ModRevision("/a".into(), 0)];
        assert_eq!(kv.commit(&stale, vec![put("/a", "3", None)]), Ok(None));
        let current = vec![Condition::ModRevision("/a".into(), 1)];
        let ops = vec![put("/a", "3", None), put("/b", "x", None)];
        assert_eq!(kv.commit(&current, ops), Ok(Some(2)));
        let snapshot = kv.get_prefix("/");
        assert_eq!(snapshot.revision, 2);
        assert_eq!(snapshot.entries[0].value, b"3");
        assert_eq!(
            (
                snapshot.entries[0].create_revision,
                snapshot.entries[0].mod_revision
            ),
            (1, 2)
        );
        assert_eq!(snapshot.entries[1].key, "/b");
    }

    #[tokio::test(start_paused = true)]
    async fn an_expired_lease_deletes_its_keys_and_watchers_see_it() {
        let kv = MemoryKv::new();
        let lease = kv.grant_lease(Duration::from_millis(1500));
        kv.commit(&[], vec![put("/brokers/1", "b", Some(lease))])
            .unwrap();
        let mut watch = kv.watch_prefix("/brokers/", 1);
        assert!(matches!(
            watch.recv().await,
            Some(Ok(changes)) if matches!(&changes[..], [Change::Put(entry)] if entry.key == "/brokers/1")
        ));

        // Rounded up to 2 s; renewed at 1.9 s, so alive at 3.8 s and gone at 4 s.
        tokio::time::advance(Duration::from_millis(1900)).await;
        kv.keep_alive(lease).unwrap();
        tokio::time::advance(Duration::from_millis(1900)).await;
        assert_eq!(kv.get_prefix("/brokers/").entries.len(), 1);
        tokio::time::advance(Duration::from_millis(100)).await;
        kv.expire_leases();
        assert!(kv.get_prefix("/brokers/").entries.is_empty());
        assert_eq!(
            watch.recv().await,
            Some(Ok(vec![Change::Delete {
                key: "/brokers/1".into(),
                revision: 2
            }]))
        );
        assert_eq!(kv.keep_alive(lease), Err(KvError::LeaseExpired(lease.0)));
        assert_eq!(
            kv.commit(&[], vec![put("/x", "y", Some(lease))]),
            Err(KvError::LeaseExpired(lease.0))
        );
    }

    #[test]
    fn a_watch_from_the_past_replays_history_under_its_prefix_only() {
        let kv = MemoryKv::new();
        kv.commit(&[], vec![put("/a/1", "1", None)]).unwrap();
        kv.commit(&[], vec![put("/b/1", "1", None)]).unwrap();
        kv.commit(&[], vec![Op::Delete("/a/1".into())]).unwrap();
        let mut watch = kv.watch_prefix("/a/", 2);
        kv.commit(&[], vec![put("/a/2", "2", None)]).unwrap();
        assert_eq!(
            watch.try_recv().unwrap(),
            Ok(vec![Change::Delete {
                key: "/a/1".into(),
                revision: 3
            }])
        );
        assert!(matches!(watch.try_recv().unwrap(), Ok(changes) if changes[0].key() == "/a/2"));
        assert!(watch.try_recv().is_err());
    }
}
