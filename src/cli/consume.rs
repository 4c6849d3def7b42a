//! `spool consume TOPIC`: reads records from each partition's leader and prints one per line
//! (the value, optionally with its key, or a JSON object), like `kafka-console-consumer.sh`.
//! Stops after `--num` records or `--idle-timeout` without new ones; otherwise follows the
//! topic until interrupted.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::FetchRequest;
use kafka_protocol::records::RecordBatchDecoder;
use kafka_protocol::ResponseError;

use super::cluster::{check, topic_name, versions, Cluster};
use super::CliError;
use crate::records::batch_size;

/// How long one fetch waits for new records, and how much it may return per partition.
const FETCH_WAIT_MS: i32 = 500;
const PARTITION_FETCH_BYTES: i32 = 1 << 20;
const FETCH_BYTES_MAX: i32 = 16 << 20;
const EARLIEST: i64 = -2;
const LATEST: i64 = -1;

/// Where reading starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    Beginning,
    End,
    Offset(i64),
}

#[derive(Debug, Clone)]
pub struct ConsumeOptions {
    pub topic: String,
    /// Only these partitions (all when empty).
    pub partitions: Vec<i32>,
    pub start: StartAt,
    /// Stop after this many records.
    pub max_records: Option<u64>,
    /// Stop once no record arrived for this long.
    pub idle_timeout: Option<Duration>,
    /// One JSON object per record instead of the value.
    pub json: bool,
    /// Print `KEY<TAB>VALUE`.
    pub print_keys: bool,
}

/// Reads records and writes them to `out`; returns how many were written.
pub fn consume(
    bootstrap: &str,
    options: &ConsumeOptions,
    out: &mut dyn Write,
) -> Result<u64, CliError> {
    let mut cluster = Cluster::connect(bootstrap)?;
    let leaders = cluster.leaders(&[options.topic.as_str()])?;
    let chosen: Vec<(String, i32)> = leaders
        .keys()
        .filter(|(_, partition)| {
            options.partitions.is_empty() || options.partitions.contains(partition)
        })
        .cloned()
        .collect();
    if let Some(missing) = options
        .partitions
        .iter()
        .find(|partition| !leaders.contains_key(&(options.topic.clone(), **partition)))
    {
        return Err(CliError::Kafka(format!(
            "topic '{}' has no partition {missing}",
            options.topic
        )));
    }
    let mut positions: BTreeMap<i32, i64> = match options.start {
        StartAt::Offset(offset) => chosen.iter().map(|(_, p)| (*p, offset)).collect(),
        StartAt::Beginning | StartAt::End => {
            let timestamp = if options.start == StartAt::End {
                LATEST
            } else {
                EARLIEST
            };
            cluster
                .offsets(&chosen, timestamp)?
                .into_iter()
                .map(|((_, partition), offset)| (partition, offset))
                .collect()
        }
    };
    let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for (key, leader) in &leaders {
        if chosen.contains(key) {
            by_leader.entry(*leader).or_default().push(key.1);
        }
    }
    let mut written = 0u64;
    let mut last_record = Instant::now();
    loop {
        let mut received = 0;
        for (leader, partitions) in &by_leader {
            let fetch = FetchRequest::default()
                .with_max_wait_ms(FETCH_WAIT_MS)
                .with_min_bytes(1)
                .with_max_bytes(FETCH_BYTES_MAX)
                .with_topics(vec![FetchTopic::default()
                    .with_topic(topic_name(&options.topic))
                    .with_partitions(
                        partitions
                            .iter()
                            .map(|partition| {
                                FetchPartition::default()
                                    .with_partition(*partition)
                                    .with_fetch_offset(
                                        positions.get(partition).copied().unwrap_or(0),
                                    )
                                    .with_partition_max_bytes(PARTITION_FETCH_BYTES)
                            })
                            .collect(),
                    )]);
            let response = cluster.broker(*leader)?.call(&fetch, versions(4, 12))?;
            check(response.error_code, "Fetch", None)?;
            for topic in response.responses {
                for answer in topic.partitions {
                    let partition = answer.partition_index;
                    if answer.error_code == ResponseError::OffsetOutOfRange.code() {
                        let reset =
                            cluster.offsets(&[(options.topic.clone(), partition)], EARLIEST)?;
                        let start = reset.values().next().copied().unwrap_or(0);
                        eprintln!(
                            "spool: {}-{partition}: offset out of range, reading from {start}",
                            options.topic
                        );
                        positions.insert(partition, start);
                        continue;
                    }
                    check(
                        answer.error_code,
                        &format!("fetch {}-{partition}", options.topic),
                        None,
                    )?;
                    let position = positions.entry(partition).or_insert(0);
                    let Some(records) = answer.records else {
                        continue;
                    };
                    for record in whole_batches(records, position)? {
                        if options.max_records.is_some_and(|max| written >= max) {
                            break;
                        }
                        print_record(out, options, partition, &record)?;
                        written += 1;
                        received += 1;
                    }
                }
            }
        }
        if options.max_records.is_some_and(|max| written >= max) {
            break;
        }
        if received > 0 {
            last_record = Instant::now();
        } else if options
            .idle_timeout
            .is_some_and(|idle| last_record.elapsed() >= idle)
        {
            break;
        }
    }
    out.flush()
        .map_err(|error| CliError::Kafka(format!("writing output: {error}")))?;
    Ok(written)
}

/// The data records at or after `position` in the whole batches of `bytes` (a fetch may end
/// with part of a batch); moves `position` past the last whole batch.
fn whole_batches(
    mut bytes: Bytes,
    position: &mut i64,
) -> Result<Vec<kafka_protocol::records::Record>, CliError> {
    let mut records = Vec::new();
    while let Ok(size) = batch_size(&bytes) {
        if size > bytes.len() {
            break;
        }
        let mut batch = bytes.split_to(size);
        let set = RecordBatchDecoder::decode(&mut batch)
            .map_err(|error| CliError::Kafka(format!("decoding records: {error}")))?;
        for record in set.records {
            let next = record.offset + 1;
            if record.offset >= *position && !record.control {
                records.push(record);
            }
            *position = (*position).max(next);
        }
    }
    Ok(records)
}

fn print_record(
    out: &mut dyn Write,
    options: &ConsumeOptions,
    partition: i32,
    record: &kafka_protocol::records::Record,
) -> Result<(), CliError> {
    let text = |bytes: &Option<Bytes>| {
        bytes
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };
    let line = if options.json {
        let headers: serde_json::Map<String, serde_json::Value> = record
            .headers
            .iter()
            .map(|(name, value)| (name.to_string(), text(value).into()))
            .collect();
        serde_json::json!({
            "topic": options.topic,
            "partition": partition,
            "offset": record.offset,
            "timestamp": record.timestamp,
            "key": text(&record.key),
            "value": text(&record.value),
            "headers": headers,
        })
        .to_string()
    } else if options.print_keys {
        format!(
            "{}\t{}",
            text(&record.key).unwrap_or_default(),
            text(&record.value).unwrap_or_default()
        )
    } else {
        text(&record.value).unwrap_or_default()
    };
    writeln!(out, "{line}").map_err(|error| CliError::Kafka(format!("writing output: {error}")))
}
