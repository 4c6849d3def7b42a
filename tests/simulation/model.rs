//! What the simulation expects of each log: the batches appended at each offset, how far
//! the log was acknowledged, where its start was moved to; and the producers' state.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType as RecordTimestamp,
};
use spool::log::{Isolation, LogConfig, Partition};
use spool::records::{batch_size, BatchView};

/// Where a batch's bytes stop being rewritten by the append (base offset, length and
/// partition leader epoch come first): from the magic byte on, a stored batch is the one sent.
const UNCHANGED_FROM: usize = 16;
/// How much one read of the check asks for.
const READ_BYTES: usize = 64 * 1024;

/// An idempotent producer's batch: producer id, epoch, first sequence.
pub type ProducerBatch = (i64, i16, i32);

/// One batch as appended.
pub struct Stored {
    pub last_offset: i64,
    /// Producer id, epoch and first sequence, for idempotent producers.
    pub producer: Option<ProducerBatch>,
    unchanged: Bytes,
}

pub struct LogModel {
    pub topic: &'static str,
    pub config: Arc<spool::log::LogConfig>,
    /// Every batch appended and not lost to a crash, by base offset.
    pub batches: BTreeMap<i64, Stored>,
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
            end: 0,
            durable_end: 0,
            log_start: 0,
        }
    }

    /// Records a batch the log appended at `base_offset`.
    pub fn appended(&mut self, base_offset: i64, sent: &BatchView<'_>) -> Result<(), String> {
        let last_offset = base_offset + i64::from(sent.last_offset_delta());
        let producer = (sent.producer_id() >= 0).then(|| {
            (
                sent.producer_id(),
                sent.producer_epoch(),
                sent.base_sequence(),
            )
        });
        let stored = Stored {
            last_offset,
            producer,
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
    pub fn check_log(&self, partition: &Partition) -> Result<(), String> {
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
                let dense = match next {
                    Some(expected) => base == expected,
                    None => base <= offset && offset <= view.last_offset(),
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
            Some(reached) if reached != end => Err(format!(
                "{topic}: batches reach {reached}, the log end is {end}"
            )),
            _ => Ok(()),
        }
    }

    /// Whether a batch of `producer` is in the log (from its start).
    pub fn holds_batches_of(&self, producer: i64) -> bool {
        self.batches
            .range(self.log_start..)
            .any(|(_, stored)| stored.producer.is_some_and(|(id, _, _)| id == producer))
    }

    /// Whether `batch` was appended and then deleted with the records below the log start.
    pub fn deleted(&self, batch: ProducerBatch) -> bool {
        self.batches.range(..self.log_start).any(|(_, stored)| {
            stored.producer == Some(batch) && stored.last_offset < self.log_start
        })
    }

    /// Takes the log as a restart left it: what is past its end was lost (and was allowed to
    /// be, as `check_log` and the acknowledged ends said), what it holds is durable now.
    pub fn recovered(&mut self, partition: &Partition) {
        let end = partition.log_end_offset();
        self.batches.retain(|&base, _| base < end);
        self.end = end;
        self.durable_end = end;
        self.log_start = self.log_start.max(partition.log_start_offset());
    }
}

/// A batch a producer sent, kept until acknowledged so it can be sent again.
pub struct Sent {
    pub values: Vec<Bytes>,
    pub timestamp: i64,
    /// The producer epoch and first sequence (idempotent producers).
    pub epoch: i16,
    pub sequence: i32,
}

impl Sent {
    /// The RecordBatch v2 a client sends: with `producer` id, epoch and sequences, or none.
    pub fn encode(&self, producer: Option<i64>) -> Bytes {
        let records: Vec<Record> = self
            .values
            .iter()
            .enumerate()
            .map(|(at, value)| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: producer.unwrap_or(-1),
                producer_epoch: producer.map_or(-1, |_| self.epoch),
                timestamp_type: RecordTimestamp::Creation,
                offset: at as i64,
                sequence: producer.map_or(-1, |_| self.sequence + at as i32),
                timestamp: self.timestamp,
                key: None,
                value: Some(value.clone()),
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
}

impl Producer {
    pub fn new(id: Option<i64>, log: usize) -> Self {
        Self {
            id,
            epoch: 0,
            log,
            next_sequence: 0,
            unacked: Vec::new(),
        }
    }
}
