//! `spool produce TOPIC`: one record per input line (optionally `KEY<sep>VALUE`), sent in
//! batches to each partition's leader, like `kafka-console-producer.sh`. Keyed records go
//! where Kafka's default partitioner puts them (murmur2 of the key), so they land on the same
//! partition as with any Kafka client.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::ProduceRequest;
use serde::Serialize;

use super::cluster::{check, leader_of, topic_name, versions, Cluster};
use super::CliError;
use crate::records::encode::records_batch;

/// Records per batch, and bytes per batch: a batch is sent when either is reached.
const BATCH_RECORDS_MAX: usize = 1000;
const BATCH_BYTES_MAX: usize = 512 << 10;
/// Longest input line accepted.
const LINE_BYTES_MAX: usize = 1 << 20;
/// A progress line on stderr every this many records.
const PROGRESS_EVERY: u64 = 100_000;
const PRODUCE_TIMEOUT_MS: i32 = 30_000;

#[derive(Debug, Clone)]
pub struct ProduceOptions {
    pub topic: String,
    /// Every record to this partition (otherwise: by key, or round-robin per batch).
    pub partition: Option<i32>,
    /// Splits each line into key and value at its first occurrence.
    pub key_separator: Option<String>,
    /// -1 (all in-sync replicas) or 1 (the leader).
    pub acks: i16,
}

/// What was produced: records, and the offsets each partition got.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProduceReport {
    pub topic: String,
    pub records: u64,
    /// Partition → (first offset, last offset).
    pub partitions: BTreeMap<i32, (i64, i64)>,
}

/// Produces every line of `input`; progress goes to `progress`.
pub fn produce(
    bootstrap: &str,
    options: &ProduceOptions,
    input: impl BufRead,
    progress: &mut dyn Write,
) -> Result<ProduceReport, CliError> {
    let mut cluster = Cluster::connect(bootstrap)?;
    let leaders = cluster.leaders(&[options.topic.as_str()])?;
    let partition_count = leaders.len() as i32;
    let mut sender = Sender {
        cluster,
        options,
        leaders,
        report: ProduceReport {
            topic: options.topic.clone(),
            ..ProduceReport::default()
        },
    };
    if let Some(partition) = options.partition {
        if !(0..partition_count).contains(&partition) {
            return Err(CliError::Kafka(format!(
                "topic '{}' has no partition {partition} (it has {partition_count})",
                options.topic
            )));
        }
    }
    let mut pending: BTreeMap<i32, Pending> = BTreeMap::new();
    let mut sticky = 0;
    for line in input.lines() {
        let line = line.map_err(|error| CliError::Kafka(format!("reading input: {error}")))?;
        if line.len() > LINE_BYTES_MAX {
            return Err(CliError::Kafka(format!(
                "input line {} is longer than {LINE_BYTES_MAX} bytes",
                sender.report.records + 1
            )));
        }
        let (key, value) = match &options.key_separator {
            Some(separator) => match line.split_once(separator.as_str()) {
                Some((key, value)) => (Some(key.to_owned()), value.to_owned()),
                None => (None, line),
            },
            None => (None, line),
        };
        let partition = match (options.partition, &key) {
            (Some(partition), _) => partition,
            (None, Some(key)) => default_partition(key.as_bytes(), partition_count),
            (None, None) => sticky,
        };
        let batch = pending.entry(partition).or_default();
        batch.add(key, value);
        sender.report.records += 1;
        if batch.is_full() {
            sender.send(partition, std::mem::take(batch))?;
            sticky = (sticky + 1) % partition_count;
        }
        if sender.report.records % PROGRESS_EVERY == 0 {
            let _ = writeln!(progress, "produced {} records…", sender.report.records);
        }
    }
    for (partition, batch) in pending {
        if !batch.records.is_empty() {
            sender.send(partition, batch)?;
        }
    }
    Ok(sender.report)
}

/// Records waiting for their partition's next batch.
#[derive(Debug, Default)]
struct Pending {
    records: Vec<(Option<String>, String)>,
    bytes: usize,
}

impl Pending {
    fn add(&mut self, key: Option<String>, value: String) {
        self.bytes += key.as_ref().map_or(0, String::len) + value.len();
        self.records.push((key, value));
    }

    fn is_full(&self) -> bool {
        self.records.len() >= BATCH_RECORDS_MAX || self.bytes >= BATCH_BYTES_MAX
    }

    /// One uncompressed record batch (magic 2) of the pending records.
    fn encode(&self) -> Result<Bytes, CliError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as i64);
        let records = self.records.iter().map(|(key, value)| {
            (
                key.as_ref()
                    .map(|key| Bytes::copy_from_slice(key.as_bytes())),
                Some(Bytes::copy_from_slice(value.as_bytes())),
            )
        });
        records_batch(records, None, now)
            .map_err(|error| CliError::Kafka(format!("encoding records: {error}")))
    }
}

/// Sends batches to partition leaders and records what they got.
struct Sender<'a> {
    cluster: Cluster,
    options: &'a ProduceOptions,
    leaders: BTreeMap<(String, i32), i32>,
    report: ProduceReport,
}

impl Sender<'_> {
    fn send(&mut self, partition: i32, batch: Pending) -> Result<(), CliError> {
        let (options, leaders) = (self.options, &self.leaders);
        let leader = leader_of(leaders, &options.topic, partition)?;
        let request = ProduceRequest::default()
            .with_acks(options.acks)
            .with_timeout_ms(PRODUCE_TIMEOUT_MS)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic_name(&options.topic))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch.encode()?))])]);
        let response = self
            .cluster
            .broker(leader)?
            .call(&request, versions(3, 9))?;
        let answer = response
            .responses
            .first()
            .and_then(|topic| topic.partition_responses.first())
            .ok_or_else(|| CliError::Kafka("empty Produce response".into()))?;
        check(
            answer.error_code,
            &format!("produce to {}-{partition}", options.topic),
            answer.error_message.as_ref(),
        )?;
        let last = answer.base_offset + batch.records.len() as i64 - 1;
        self.report
            .partitions
            .entry(partition)
            .and_modify(|(_, end)| *end = last)
            .or_insert((answer.base_offset, last));
        Ok(())
    }
}

/// Kafka's default partitioner for keyed records: murmur2 of the key, made positive.
pub fn default_partition(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

/// Kafka's `Utils.murmur2` (seed 0x9747b28c).
fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() == 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's own `UtilsTest.testMurmur2` vectors.
    #[test]
    fn murmur2_matches_kafka() {
        let cases: [(&str, i32); 6] = [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            ("abc", 479_470_107),
        ];
        for (text, expected) in cases {
            assert_eq!(murmur2(text.as_bytes()), expected, "{text}");
        }
    }
}
