//! What the simulation expects of each log: the batches appended at each offset, how far
//! the log was acknowledged, where its start was moved to; and the producers' state.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType as RecordTimestamp,
};
use spool::log::{Isolation, LogConfig, Partition};
use spool::records::{batch_size, control, BatchView};

/// Where a batch's bytes stop being rewritten by the append (base offset, length and
/// partition leader epoch come first): from the magic byte on, a stored batch is the one sent.
const UNCHANGED_FROM: usize = 16;
/// How much one read of the check asks for.
pub const READ_BYTES: usize = 64 * 1024;

/// A record's key and value.
pub type KeyValue = (Option<Bytes>, Option<Bytes>);

/// An idempotent producer's batch: producer id, epoch, first sequence.
pub type ProducerBatch = (i64, i16, i32);

/// What a stored batch is, for the transactional checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchKind {
    /// Outside any transaction.
    Plain,
    /// Data of transaction `txn` (the simulation's number for it) of `producer_id`.
    Transactional { producer_id: i64, txn: usize },
    /// A COMMIT or ABORT marker the transaction coordinator wrote.
    Marker { producer_id: i64 },
}

/// One batch as appended.
pub struct Stored {
    pub last_offset: i64,
    /// Producer id, epoch and first sequence, for idempotent producers' data.
    pub producer: Option<ProducerBatch>,
    pub kind: BatchKind,
    unchanged: Bytes,
}

pub struct LogModel {
    pub topic: &'static str,
    pub config: Arc<spool::log::LogConfig>,
    /// Every batch appended and not lost to a crash, by base offset.
    pub batches: BTreeMap<i64, Stored>,
    /// Every record appended and not lost to a crash, by offset.
    pub records: BTreeMap<i64, KeyValue>,
    /// The log end, as appended.
    pub end: i64,
    /// Offsets below this were acknowledged after an fsync (acks=all).
    pub durable_end: i64,
    /// Where DeleteRecords or retention last moved the log start (durably, once they return).
    pub log_start: i64,
}

impl LogModel {
    pub fn new(topic: &'static str, config: LogConfig) -> Self {
        Self {
            topic,
            config: Arc::new(config),
            batches: BTreeMap::new(),
            records: BTreeMap::new(),
            end: 0,
            durable_end: 0,
            log_start: 0,
        }
    }

    /// Records a batch of `records` the log appended at `base_offset`, part of transaction
    /// `txn` if it is transactional.
    pub fn appended(
        &mut self,
        base_offset: i64,
        sent: &BatchView<'_>,
        records: &[KeyValue],
        txn: Option<usize>,
    ) -> Result<(), String> {
        for (offset, record) in (base_offset..).zip(records) {
            self.records.insert(offset, record.clone());
        }
        let kind = match txn {
            Some(txn) => BatchKind::Transactional {
                producer_id: sent.producer_id(),
                txn,
            },
            None => BatchKind::Plain,
        };
        self.insert(base_offset, sent, kind)
    }

    /// Takes in the batches the log holds past the model's end, which must be markers the
    /// transaction coordinator wrote.
    pub fn adopt_markers(&mut self, partition: &Partition) -> Result<(), String> {
        let topic = self.topic;
        while self.end < partition.log_end_offset() {
            let offset = self.end;
            let read = partition
                .read(offset, READ_BYTES, true, Isolation::LogEnd)
                .map_err(|error| format!("{topic}: reading at {offset}: {error}"))?;
            let batches = batches_of(&read.records)
                .ok_or_else(|| format!("{topic}: a torn batch read at {offset}"))?;
            for view in batches {
                let marker = view.is_control() && control::marker_kind(view.bytes()).is_some();
                if !marker || !view.is_transactional() || view.base_offset() != self.end {
                    return Err(format!(
                        "{topic}: a batch at {} that was not appended there",
                        view.base_offset()
                    ));
                }
                let producer_id = view.producer_id();
                self.insert(view.base_offset(), &view, BatchKind::Marker { producer_id })?;
            }
            if self.end == offset {
                return Err(format!("{topic}: nothing to read at {offset}"));
            }
        }
        // A marker is written durably, and with it everything before it.
        self.durable_end = self.durable_end.max(partition.durable_offset());
        Ok(())
    }

    fn insert(
        &mut self,
        base_offset: i64,
        sent: &BatchView<'_>,
        kind: BatchKind,
    ) -> Result<(), String> {
        let last_offset = base_offset + i64::from(sent.last_offset_delta());
        let producer = (sent.producer_id() >= 0 && !sent.is_control()).then(|| {
            (
                sent.producer_id(),
                sent.producer_epoch(),
                sent.base_sequence(),
            )
        });
        let stored = Stored {
            last_offset,
            producer,
            kind,
            unchanged: Bytes::copy_from_slice(&sent.bytes()[UNCHANGED_FROM..]),
        };
        if self.batches.insert(base_offset, stored).is_some() {
            return Err(format!(
                "{}: offset {base_offset} appended twice",
                self.topic
            ));
        }
        self.end = last_offset + 1;
        Ok(())
    }

    /// Reads the whole log from its start and checks it: dense offsets up to the log end,
    /// each batch the one appended there, no idempotent producer's batch twice, the log
    /// start not below where it was moved.
    pub fn check_log(&self, partition: &Partition, must_hold: i64) -> Result<(), String> {
        if self.config.compact_enabled {
            return self.check_compacted_log(partition, must_hold);
        }
        let topic = self.topic;
        let (start, end) = (partition.log_start_offset(), partition.log_end_offset());
        if start < self.log_start {
            return Err(format!(
                "{topic}: the log start went back from {} to {start}",
                self.log_start
            ));
        }
        let mut producer_batches = BTreeSet::new();
        let mut next = None;
        while next.unwrap_or(start) < end {
            let offset = next.unwrap_or(start);
            let read = partition
                .read(offset, READ_BYTES, true, Isolation::LogEnd)
                .map_err(|error| format!("{topic}: reading at {offset}: {error}"))?;
            if read.records.is_empty() {
                if self.lost(offset, end) {
                    break;
                }
                return Err(format!(
                    "{topic}: nothing to read at {offset}, below the log end {end}"
                ));
            }
            let mut bytes = &read.records[..];
            while !bytes.is_empty() {
                let size = batch_size(bytes)
                    .ok()
                    .filter(|&size| size <= bytes.len())
                    .ok_or_else(|| format!("{topic}: a torn batch read at {offset}"))?;
                let view = BatchView::parse(&bytes[..size])
                    .map_err(|error| format!("{topic}: a batch read at {offset}: {error}"))?;
                let base = view.base_offset();
                // (The log start may fall in a hole a lying disk left.)
                let dense = match next {
                    Some(expected) => base == expected || self.lost(expected, base),
                    None => {
                        (base <= offset && offset <= view.last_offset()) || self.lost(offset, base)
                    }
                };
                if !dense {
                    return Err(format!(
                        "{topic}: a batch at {base} where {offset} was expected"
                    ));
                }
                let Some(stored) = self.batches.get(&base) else {
                    return Err(format!(
                        "{topic}: a batch at {base} that was never appended there"
                    ));
                };
                if stored.last_offset != view.last_offset()
                    || stored.unchanged != bytes[UNCHANGED_FROM..size]
                {
                    return Err(format!(
                        "{topic}: the batch at {base} is not the one appended there"
                    ));
                }
                if let Some(producer) = stored.producer {
                    if !producer_batches.insert(producer) {
                        return Err(format!("{topic}: producer {producer:?}'s batch is stored twice (again at {base})"));
                    }
                }
                next = Some(view.last_offset() + 1);
                bytes = &bytes[size..];
            }
        }
        match next {
            Some(reached) if reached != end && !self.lost(reached, end) => Err(format!(
                "{topic}: batches reach {reached}, the log end is {end}"
            )),
            _ => Ok(()),
        }
    }

    /// A compacted log read back whole: every record it holds is the one appended at its
    /// offset, no value twice (values are unique: a retry stored again would show), and of
    /// each key, the newest record below `must_hold` (what a crash may not lose) or a later
    /// one is there, unless that newest record is a tombstone.
    fn check_compacted_log(&self, partition: &Partition, must_hold: i64) -> Result<(), String> {
        let topic = self.topic;
        let held = self.held_records(partition)?;
        let values: BTreeSet<_> = held
            .values()
            .filter_map(|(_, value)| value.clone())
            .collect();
        if values.len() != held.values().filter(|(_, value)| value.is_some()).count() {
            return Err(format!("{topic}: a value is stored twice"));
        }
        let start = partition.log_start_offset();
        let mut newest = BTreeMap::new();
        for (&offset, (key, value)) in self.records.range(start..must_hold) {
            newest.insert(key, (offset, value.is_none()));
        }
        for (key, (offset, tombstone)) in newest {
            let kept = held
                .range(offset..)
                .any(|(_, (held_key, _))| held_key == key);
            if !kept && !tombstone {
                return Err(format!(
                    "{topic}: key {key:?} lost its newest record (at {offset}) and every later one"
                ));
            }
        }
        Ok(())
    }

    /// Whether the model holds no batch in `from..to` (`from < to`): a range a lying disk
    /// lost, the log's batches before and after it surviving.
    pub fn lost(&self, from: i64, to: i64) -> bool {
        from < to && self.batches.range(from..to).next().is_none()
    }

    /// After the power cut that ends a lying disk's run: forgets the batches the log lost,
    /// which may leave holes in it (the recovery point the disk kept can vouch for segments
    /// whose tails it lost). None of them may lie below `must_hold`. Returns how many.
    pub fn forget_lost(&mut self, partition: &Partition, must_hold: i64) -> Result<usize, String> {
        if self.config.compact_enabled {
            return Ok(0); // A compacted log has gaps anyway; its records are checked by key.
        }
        let topic = self.topic;
        let (start, end) = (partition.log_start_offset(), partition.log_end_offset());
        let mut held = BTreeSet::new();
        let mut offset = start;
        while offset < end {
            let read = partition
                .read(offset, READ_BYTES, true, Isolation::LogEnd)
                .map_err(|error| format!("{topic}: reading at {offset}: {error}"))?;
            let Some(batches) = batches_of(&read.records).filter(|batches| !batches.is_empty())
            else {
                break;
            };
            for view in &batches {
                held.insert(view.base_offset());
                offset = offset.max(view.last_offset() + 1);
            }
        }
        let lost: Vec<(i64, i64)> = self
            .batches
            .range(start..end)
            .filter(|(base, _)| !held.contains(*base))
            .map(|(&base, stored)| (base, stored.last_offset))
            .collect();
        for &(base, last) in &lost {
            if base < must_hold {
                return Err(format!(
                    "{topic}: the batch at {base} is lost, below {must_hold}, which the disk \
                     made durable before it lied"
                ));
            }
            self.batches.remove(&base);
            self.records
                .retain(|&offset, _| !(base..=last).contains(&offset));
        }
        Ok(lost.len())
    }

    /// The records a compacted log holds from its start, each checked to be the one
    /// appended at its offset.
    fn held_records(&self, partition: &Partition) -> Result<BTreeMap<i64, KeyValue>, String> {
        let topic = self.topic;
        let (start, end) = (partition.log_start_offset(), partition.log_end_offset());
        let mut held = BTreeMap::new();
        let mut offset = start;
        while offset < end {
            let read = partition
                .read(offset, READ_BYTES, true, Isolation::LogEnd)
                .map_err(|error| format!("{topic}: reading at {offset}: {error}"))?;
            if read.records.is_empty() {
                break;
            }
            let mut bytes = read.records.clone();
            let sets = RecordBatchDecoder::decode_all(&mut bytes)
                .map_err(|error| format!("{topic}: decoding at {offset}: {error}"))?;
            for record in sets.iter().flat_map(|set| &set.records) {
                if record.offset < offset {
                    continue;
                }
                let found = (record.key.clone(), record.value.clone());
                if self.records.get(&record.offset) != Some(&found) {
                    return Err(format!(
                        "{topic}: the record at {} is not the one appended there",
                        record.offset
                    ));
                }
                held.insert(record.offset, found);
            }
            offset = last_offset_of(&read.records)
                .ok_or_else(|| format!("{topic}: a torn batch read at {offset}"))?
                + 1;
        }
        Ok(held)
    }

    /// The bounds of the last stable offset of the log starting at `log_start`: at least the
    /// first offset of the oldest open transaction (no earlier than the log start), at most
    /// the first offset of every open transaction's batches still in the log, and never
    /// past the log end. (Below the log start, recovery may not know where a transaction
    /// began: any LSO from the log start to its first batch still held is stable.)
    pub fn last_stable_offset_bounds(&self, log_start: i64) -> (i64, i64) {
        let mut open: BTreeMap<i64, (i64, Option<i64>)> = BTreeMap::new();
        for (&base, stored) in &self.batches {
            match stored.kind {
                BatchKind::Transactional { producer_id, .. } => {
                    let (_, held) = open.entry(producer_id).or_insert((base, None));
                    if held.is_none() && stored.last_offset >= log_start {
                        *held = Some(base.max(log_start));
                    }
                }
                BatchKind::Marker { producer_id } => {
                    open.remove(&producer_id);
                }
                BatchKind::Plain => {}
            }
        }
        let lowest = open
            .values()
            .map(|(first, _)| (*first).max(log_start))
            .min();
        let highest = open.values().filter_map(|(_, held)| *held).min();
        (
            lowest.unwrap_or(self.end).min(self.end),
            highest.unwrap_or(self.end).min(self.end),
        )
    }

    /// Whether a batch of `producer` is in the log (from its start).
    pub fn holds_batches_of(&self, producer: i64) -> bool {
        self.batches
            .range(self.log_start..)
            .any(|(_, stored)| stored.producer.is_some_and(|(id, _, _)| id == producer))
    }

    /// Whether `batch` was appended (and not lost to a crash since).
    pub fn appended_batch(&self, batch: ProducerBatch) -> bool {
        self.batches
            .values()
            .any(|stored| stored.producer == Some(batch))
    }

    /// Whether `batch` was appended and then deleted with the records below the log start.
    pub fn deleted(&self, batch: ProducerBatch) -> bool {
        self.batches.range(..self.log_start).any(|(_, stored)| {
            stored.producer == Some(batch) && stored.last_offset < self.log_start
        })
    }

    /// Takes the log as a restart left it: what is past its end was lost (and was allowed to
    /// be, as `check_log` and the acknowledged ends said, `must_hold` being what the crash
    /// could not lose), what it holds is durable now.
    pub fn recovered(&mut self, partition: &Partition, must_hold: i64) -> Result<(), String> {
        let end = partition.log_end_offset();
        self.batches.retain(|_, stored| stored.last_offset < end);
        self.records.retain(|&offset, _| offset < end);
        if self.config.compact_enabled {
            // A compacted log keeps its end past a lost tail (gaps are normal there): what
            // the crash could lose and is not held was lost, not compacted.
            let held = self.held_records(partition)?;
            self.records
                .retain(|offset, _| *offset < must_hold || held.contains_key(offset));
        }
        self.end = end;
        self.durable_end = end;
        self.log_start = self.log_start.max(partition.log_start_offset());
        Ok(())
    }
}

/// A batch a producer sent, kept until acknowledged so it can be sent again.
pub struct Sent {
    /// Each record's key and value (`None`: a tombstone).
    pub records: Vec<KeyValue>,
    pub timestamp: i64,
    /// The producer epoch and first sequence (idempotent producers).
    pub epoch: i16,
    pub sequence: i32,
    /// The transaction it is part of (transactional producers).
    pub txn: Option<usize>,
}

impl Sent {
    /// The RecordBatch v2 a client sends: with `producer` id, epoch and sequences, or none.
    pub fn encode(&self, producer: Option<i64>) -> Bytes {
        let records: Vec<Record> = self
            .records
            .iter()
            .enumerate()
            .map(|(at, (key, value))| Record {
                transactional: self.txn.is_some(),
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: producer.unwrap_or(-1),
                producer_epoch: producer.map_or(-1, |_| self.epoch),
                timestamp_type: RecordTimestamp::Creation,
                offset: at as i64,
                sequence: producer.map_or(-1, |_| self.sequence + at as i32),
                timestamp: self.timestamp,
                key: key.clone(),
                value: value.clone(),
                headers: Default::default(),
            })
            .collect();
        let mut buf = bytes::BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut buf, &records, &options).expect("encoding a batch");
        buf.freeze()
    }
}

pub struct Producer {
    /// The producer id of an idempotent producer.
    pub id: Option<i64>,
    pub epoch: i16,
    /// The log it writes to.
    pub log: usize,
    pub next_sequence: i32,
    /// Sent and appended, not acknowledged by an fsync yet (idempotent producers only).
    pub unacked: Vec<Sent>,
    /// A retry of `unacked` was refused (the disk was full): they are sent again before
    /// anything new.
    pub retrying: bool,
}

impl Producer {
    pub fn new(id: Option<i64>, log: usize) -> Self {
        Self {
            id,
            epoch: 0,
            log,
            next_sequence: 0,
            unacked: Vec::new(),
            retrying: false,
        }
    }
}

/// The whole batches of `bytes` (`None`: a torn one).
pub fn batches_of(mut bytes: &[u8]) -> Option<Vec<BatchView<'_>>> {
    let mut batches = Vec::new();
    while !bytes.is_empty() {
        let size = batch_size(bytes).ok().filter(|&size| size <= bytes.len())?;
        batches.push(BatchView::parse(&bytes[..size]).ok()?);
        bytes = &bytes[size..];
    }
    Some(batches)
}

/// The last offset of the last whole batch in `bytes`.
fn last_offset_of(bytes: &[u8]) -> Option<i64> {
    batches_of(bytes)?.last().map(BatchView::last_offset)
}
