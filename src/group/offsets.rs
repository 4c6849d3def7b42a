//! Committed offsets: an in-memory table of the `__consumer_offsets` partitions this broker
//! coordinates, each rebuilt by replaying it when taken in. The records use Kafka's schemas
//! (offset commit key v1, value v3) so that standard tools can read them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::group_record::{self, GroupSnapshot};
use crate::log::{LogError, LogManager};
use crate::records::fields::{get_string, put_string};

/// Kafka's key schema version for an offset commit (v0 and v1 share the layout).
const OFFSET_KEY_VERSION: i16 = 1;
/// The value schema version written: offset, leader epoch, metadata, commit timestamp.
const OFFSET_VALUE_VERSION: i16 = 3;

/// One committed offset, with what Kafka keeps beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
}

/// A topic partition's position in a group's offsets.
pub type OffsetSlot = (String, i32);

/// Kafka's choice of `__consumer_offsets` partition: `Utils.abs(groupId.hashCode) % partitions`
/// with Java's String hash (UTF-16 units) and Kafka's abs (MIN_VALUE maps to 0).
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let hash = group_id.encode_utf16().fold(0i32, |hash, unit| {
        hash.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    let positive = if hash == i32::MIN { 0 } else { hash.abs() };
    positive % partitions.max(1)
}

/// The record key of an offset commit.
pub fn encode_key(group_id: &str, topic: &str, partition: i32) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(OFFSET_KEY_VERSION);
    put_string(&mut buf, group_id);
    put_string(&mut buf, topic);
    buf.put_i32(partition);
    buf.freeze()
}

/// The record value of an offset commit.
pub fn encode_value(committed: &CommittedOffset) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(OFFSET_VALUE_VERSION);
    buf.put_i64(committed.offset);
    buf.put_i32(committed.leader_epoch);
    put_string(&mut buf, &committed.metadata);
    buf.put_i64(committed.commit_timestamp_ms);
    buf.freeze()
}

/// What a `__consumer_offsets` record is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    Offset(String, OffsetSlot),
    Group(String),
}

/// Decodes a record key; `None` for unknown versions or garbage.
pub fn decode_key(mut bytes: Bytes) -> Option<RecordKey> {
    if bytes.remaining() < 2 {
        return None;
    }
    match bytes.get_i16() {
        0 | 1 => {
            let group = get_string(&mut bytes)?;
            let topic = get_string(&mut bytes)?;
            (bytes.remaining() >= 4).then(|| RecordKey::Offset(group, (topic, bytes.get_i32())))
        }
        group_record::GROUP_KEY_VERSION => {
            group_record::decode_key_body(bytes).map(RecordKey::Group)
        }
        _ => None,
    }
}

/// Decodes an offset commit value (schema versions 1 and 3).
pub fn decode_value(mut bytes: Bytes) -> Option<CommittedOffset> {
    if bytes.remaining() < 2 {
        return None;
    }
    let version = bytes.get_i16();
    if bytes.remaining() < 8 {
        return None;
    }
    let offset = bytes.get_i64();
    let leader_epoch = match version {
        3 if bytes.remaining() >= 4 => bytes.get_i32(),
        1 => -1,
        _ => return None,
    };
    let metadata = get_string(&mut bytes)?;
    (bytes.remaining() >= 8).then(|| CommittedOffset {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp_ms: bytes.get_i64(),
    })
}

/// A commit (`Some`) or a deletion (`None`, written as a tombstone) of one partition's offset.
pub type OffsetUpdate = (OffsetSlot, Option<CommittedOffset>);

/// A RecordBatch v2 holding one record per update.
pub fn offsets_batch(
    group_id: &str,
    entries: &[OffsetUpdate],
    now_ms: i64,
) -> Result<Bytes, String> {
    let records = entries.iter().map(|((topic, partition), committed)| {
        (
            encode_key(group_id, topic, *partition),
            committed.as_ref().map(encode_value),
        )
    });
    records_batch(records, None, now_ms)
}

/// A RecordBatch v2 of keyed `(key, value)` records (a `None` value is a tombstone), in
/// `transaction` when given (transactional offset commits).
pub fn records_batch(
    records: impl IntoIterator<Item = (Bytes, Option<Bytes>)>,
    transaction: Option<(i64, i16)>,
    now_ms: i64,
) -> Result<Bytes, String> {
    crate::records::encode::records_batch(
        records.into_iter().map(|(key, value)| (Some(key), value)),
        transaction,
        now_ms,
    )
}

/// The committed offsets of every group whose `__consumer_offsets` partition is loaded here.
#[derive(Debug, Default)]
pub struct OffsetStore {
    groups: Mutex<HashMap<String, BTreeMap<OffsetSlot, Stored>>>,
    /// Transactional commits by producer id, applied when its COMMIT marker is written.
    pending: Mutex<HashMap<i64, Vec<PendingCommit>>>,
}

/// A transactional offset commit waiting for its transaction's outcome.
#[derive(Debug, Clone)]
pub struct PendingCommit {
    pub group_id: String,
    pub update: OffsetUpdate,
    /// The `__consumer_offsets` partition holding it: the one whose marker ends it.
    pub partition: i32,
    pub log_offset: i64,
}

/// A committed offset and the `__consumer_offsets` offset of the record that holds it: the
/// later record wins, whatever order commits become durable in.
#[derive(Debug, Clone)]
struct Stored {
    committed: CommittedOffset,
    log_offset: i64,
}

impl OffsetStore {
    /// Takes in partition `partition` of `topic` by replaying it, oldest record first (the
    /// partition's groups must hold nothing here yet). Returns the groups' last metadata.
    pub fn load(
        &self,
        logs: &LogManager,
        topic: &str,
        partition: i32,
    ) -> Result<HashMap<String, GroupSnapshot>, LogError> {
        let mut groups = HashMap::new();
        let records = logs.replay_records(topic, partition, |record| {
            if record.control {
                // A transaction marker: its pending offset commits take effect or not.
                let commit = record
                    .key
                    .as_ref()
                    .and_then(|key| key.get(2..4))
                    .map(|kind| kind == [0, 1]);
                self.complete_transaction(record.producer_id, partition, commit == Some(true));
                return;
            }
            match record.key.and_then(decode_key) {
                Some(RecordKey::Offset(group, slot)) if record.transactional => {
                    let update = (slot, record.value.and_then(decode_value));
                    self.add_pending(
                        record.producer_id,
                        PendingCommit {
                            group_id: group,
                            update,
                            partition,
                            log_offset: record.offset,
                        },
                    );
                }
                Some(RecordKey::Offset(group, slot)) => {
                    let committed = record.value.and_then(decode_value);
                    self.apply(&group, [(slot, committed)], record.offset);
                }
                Some(RecordKey::Group(group)) => {
                    match record.value.and_then(group_record::decode_value) {
                        Some(snapshot) => {
                            groups.insert(group, snapshot);
                        }
                        None => {
                            groups.remove(&group);
                        }
                    }
                }
                None => {}
            }
        })?;
        tracing::info!(
            partition,
            records,
            groups = groups.len(),
            "loaded {topic} partition"
        );
        Ok(groups)
    }

    /// Forgets partition `partition`: the offsets of the groups `in_partition` names and the
    /// pending commits it holds.
    pub fn unload(&self, partition: i32, in_partition: impl Fn(&str) -> bool) {
        self.lock().retain(|group_id, _| !in_partition(group_id));
        self.lock_pending().retain(|_, commits| {
            commits.retain(|commit| commit.partition != partition);
            !commits.is_empty()
        });
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Vec<PendingCommit>>> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, BTreeMap<OffsetSlot, Stored>>> {
        self.groups
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records durable updates whose records start at `first_log_offset` (one record each, in
    /// order); a partition already holding a later record keeps it.
    pub fn apply(
        &self,
        group_id: &str,
        updates: impl IntoIterator<Item = OffsetUpdate>,
        first_log_offset: i64,
    ) {
        let mut groups = self.lock();
        let offsets = groups.entry(group_id.to_owned()).or_default();
        for ((slot, committed), log_offset) in updates.into_iter().zip(first_log_offset..) {
            if offsets
                .get(&slot)
                .is_some_and(|stored| stored.log_offset > log_offset)
            {
                continue;
            }
            match committed {
                Some(committed) => offsets.insert(
                    slot,
                    Stored {
                        committed,
                        log_offset,
                    },
                ),
                None => offsets.remove(&slot),
            };
        }
        if offsets.is_empty() {
            groups.remove(group_id);
        }
    }

    /// Holds a transactional commit until its transaction ends.
    pub fn add_pending(&self, producer_id: i64, commit: PendingCommit) {
        self.lock_pending()
            .entry(producer_id)
            .or_default()
            .push(commit);
    }

    /// Applies (`commit`) or drops the producer's pending transactional commits in
    /// `partition`, whose marker was just written.
    pub fn complete_transaction(&self, producer_id: i64, partition: i32, commit: bool) {
        let ended = {
            let mut pending = self.lock_pending();
            let Some(commits) = pending.get_mut(&producer_id) else {
                return;
            };
            let (ended, open) = std::mem::take(commits)
                .into_iter()
                .partition(|pending| pending.partition == partition);
            *commits = open;
            if commits.is_empty() {
                pending.remove(&producer_id);
            }
            ended
        };
        if commit {
            for entry in ended {
                self.apply(&entry.group_id, [entry.update], entry.log_offset);
            }
        }
    }

    /// Whether a transaction that has not ended yet commits an offset of the group's
    /// partition (OffsetFetch's `require_stable` answers UNSTABLE_OFFSET_COMMIT for it).
    pub fn has_pending(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        self.lock_pending().values().flatten().any(|pending| {
            let ((pending_topic, pending_partition), _) = &pending.update;
            pending.group_id == group_id
                && pending_topic == topic
                && *pending_partition == partition
        })
    }

    pub fn get(&self, group_id: &str, topic: &str, partition: i32) -> Option<CommittedOffset> {
        Some(
            self.lock()
                .get(group_id)?
                .get(&(topic.to_owned(), partition))?
                .committed
                .clone(),
        )
    }

    /// All of a group's offsets, sorted by topic and partition.
    pub fn group_offsets(&self, group_id: &str) -> Vec<(OffsetSlot, CommittedOffset)> {
        let groups = self.lock();
        let Some(offsets) = groups.get(group_id) else {
            return Vec::new();
        };
        offsets
            .iter()
            .map(|(slot, stored)| (slot.clone(), stored.committed.clone()))
            .collect()
    }

    /// Groups that have committed offsets.
    pub fn groups(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    pub fn has_group(&self, group_id: &str) -> bool {
        self.lock().contains_key(group_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::BatchView;
    use kafka_protocol::records::RecordBatchDecoder;

    #[test]
    fn partition_matches_java_string_hash() {
        // Java: "test".hashCode() == 3556498, "my-group".hashCode() == -1906497762.
        assert_eq!(partition_for("test", 50), 3_556_498 % 50);
        assert_eq!(partition_for("my-group", 50), 1_906_497_762 % 50);
        assert!((0..50).contains(&partition_for("∂-non-ascii-ü", 50)));
    }

    #[test]
    fn key_and_value_round_trip() {
        let committed = CommittedOffset {
            offset: 42,
            leader_epoch: 3,
            metadata: "meta".into(),
            commit_timestamp_ms: 1_700,
        };
        assert_eq!(
            decode_key(encode_key("g", "t", 7)),
            Some(RecordKey::Offset("g".to_owned(), ("t".to_owned(), 7)))
        );
        assert_eq!(decode_value(encode_value(&committed)), Some(committed));
        assert_eq!(
            decode_key(Bytes::from_static(&[0, 2, 0, 1, b'g'])),
            Some(RecordKey::Group("g".to_owned()))
        );
        assert_eq!(decode_key(Bytes::from_static(&[0, 9, 0, 1, b'g'])), None);
        assert_eq!(decode_value(Bytes::from_static(&[0, 3, 1])), None);
    }

    #[test]
    fn the_later_record_wins_whatever_the_apply_order() {
        let store = OffsetStore::default();
        let at = |offset: i64| CommittedOffset {
            offset,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: 0,
        };
        let slot = ("t".to_owned(), 0);
        store.apply("g", [(slot.clone(), Some(at(30)))], 11);
        store.apply("g", [(slot.clone(), Some(at(29)))], 10);
        assert_eq!(store.get("g", "t", 0).map(|c| c.offset), Some(30));
        store.apply("g", [(slot.clone(), None)], 12);
        assert_eq!(store.get("g", "t", 0), None, "a tombstone deletes");
        assert!(!store.has_group("g"));
    }

    #[test]
    fn a_transactional_commit_is_pending_until_its_transaction_ends() {
        let store = OffsetStore::default();
        let pending = |offset: i64| PendingCommit {
            group_id: "g".to_owned(),
            update: (
                ("t".to_owned(), 0),
                Some(CommittedOffset {
                    offset,
                    leader_epoch: -1,
                    metadata: String::new(),
                    commit_timestamp_ms: 0,
                }),
            ),
            partition: 3,
            log_offset: offset,
        };
        store.add_pending(7, pending(10));
        assert!(store.has_pending("g", "t", 0));
        assert!(!store.has_pending("g", "t", 1) && !store.has_pending("h", "t", 0));
        assert_eq!(store.get("g", "t", 0), None);
        store.complete_transaction(7, 4, true);
        assert!(store.has_pending("g", "t", 0), "another partition's marker");
        store.complete_transaction(7, 3, true);
        assert!(!store.has_pending("g", "t", 0));
        assert_eq!(store.get("g", "t", 0).map(|c| c.offset), Some(10));
        store.add_pending(8, pending(20));
        store.complete_transaction(8, 3, false);
        assert!(!store.has_pending("g", "t", 0));
        assert_eq!(store.get("g", "t", 0).map(|c| c.offset), Some(10));
    }

    #[test]
    fn commit_batches_are_valid_v2_batches() {
        let committed = |offset: i64, metadata: &str| CommittedOffset {
            offset,
            leader_epoch: -1,
            metadata: metadata.to_owned(),
            commit_timestamp_ms: 5,
        };
        let entries = vec![
            (("t".to_owned(), 0), Some(committed(1, ""))),
            (("t".to_owned(), 1), Some(committed(2, "m"))),
            (("t".to_owned(), 2), None),
        ];
        let batch = offsets_batch("g", &entries, 5).unwrap();
        let view = BatchView::parse(&batch).expect("valid batch");
        assert_eq!(view.records_count(), 3);
        let mut bytes = batch.clone();
        let sets = RecordBatchDecoder::decode_all(&mut bytes).unwrap();
        let decoded: Vec<OffsetUpdate> = sets[0]
            .records
            .iter()
            .map(|r| match decode_key(r.key.clone().unwrap()) {
                Some(RecordKey::Offset(_, slot)) => (slot, r.value.clone().and_then(decode_value)),
                other => panic!("unexpected key {other:?}"),
            })
            .collect();
        assert_eq!(decoded, entries);
    }
}
