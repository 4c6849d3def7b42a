//! Fetch responses whose records are ranges of segment files. kafka-protocol encodes records
//! from memory; this writes the same bytes (a property test holds it to kafka-protocol's
//! output at every version) but leaves each partition's records as a file range, which the
//! connection sends with sendfile(2).

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::FetchResponse;
use kafka_protocol::protocol::Encodable;

use super::response_frame::ResponseFrame;
use super::{encode_response_header, RequestContext};
use crate::file_slice::FileSlice;

const VERSIONS: std::ops::RangeInclusive<i16> = 4..=18;
const LOG_START_OFFSET_VERSION: i16 = 5;
const SESSION_VERSION: i16 = 7;
const PREFERRED_READ_REPLICA_VERSION: i16 = 11;
const FLEXIBLE_VERSION: i16 = 12;
const TOPIC_ID_VERSION: i16 = 13;
/// The response's node endpoints (KIP-951), tagged field 0 from v16.
const NODE_ENDPOINTS_VERSION: i16 = 16;
const NODE_ENDPOINTS_TAG: u32 = 0;
/// Where a follower's log diverged from its leader's (KIP-320), tagged field 0 of a
/// partition in flexible versions.
const DIVERGING_EPOCH_TAG: u32 = 0;
/// A partition's current leader (KIP-951), tagged field 1 of flexible versions.
const CURRENT_LEADER_TAG: u32 = 1;
/// Structure bytes per partition are few; this covers a typical response without growing.
const STRUCTURE_BYTES_HINT: usize = 256;

/// Encodes `response` with each partition's records taken from `records` (one entry per
/// partition, in response order; `None` keeps the partition's in-memory `records`).
/// Of the tagged fields, a partition's diverging epoch (KIP-320) and the leader hints of
/// KIP-951 (a partition's current leader, the response's node endpoints) are written; the
/// others are refused: spool sets none.
pub fn encode(
    context: &RequestContext,
    response: &FetchResponse,
    records: &[Option<FileSlice>],
) -> Result<ResponseFrame, String> {
    let version = context.api_version;
    if !VERSIONS.contains(&version) {
        return Err(format!("Fetch v{version} is not supported"));
    }
    if !response.unknown_tagged_fields.is_empty() {
        return Err("unknown tagged fields in a Fetch response are not supported".into());
    }
    if !response.node_endpoints.is_empty() && version < NODE_ENDPOINTS_VERSION {
        return Err(format!("node endpoints set in Fetch v{version}"));
    }
    let mut writer = Writer {
        flexible: version >= FLEXIBLE_VERSION,
        out: BytesMut::with_capacity(STRUCTURE_BYTES_HINT),
        frame: ResponseFrame::default(),
    };
    encode_response_header(&mut writer.out, context)?;
    writer.out.put_i32(response.throttle_time_ms);
    if version >= SESSION_VERSION {
        writer.out.put_i16(response.error_code);
        writer.out.put_i32(response.session_id);
    } else if response.session_id != 0 {
        return Err(format!("session id set in Fetch v{version}"));
    }
    writer.array_len(response.responses.len())?;
    let mut records = records.iter();
    for topic in &response.responses {
        writer.topic(version, topic, &mut records)?;
    }
    if response.node_endpoints.is_empty() {
        writer.tags();
    } else {
        let mut endpoints = BytesMut::new();
        put_unsigned_varint(&mut endpoints, response.node_endpoints.len() as u32 + 1);
        for endpoint in &response.node_endpoints {
            endpoint
                .encode(&mut endpoints, version)
                .map_err(|error| error.to_string())?;
        }
        writer.tagged_fields(&[(NODE_ENDPOINTS_TAG, endpoints)]);
    }
    writer.finish()
}

/// The frame being written: structure bytes accumulate in `out` and are cut into a part
/// whenever a file range follows.
struct Writer {
    flexible: bool,
    out: BytesMut,
    frame: ResponseFrame,
}

impl Writer {
    fn topic<'a>(
        &mut self,
        version: i16,
        topic: &FetchableTopicResponse,
        records: &mut impl Iterator<Item = &'a Option<FileSlice>>,
    ) -> Result<(), String> {
        if !topic.unknown_tagged_fields.is_empty() {
            return Err("tagged fields in a Fetch topic are not supported".into());
        }
        if version < TOPIC_ID_VERSION {
            self.string(topic.topic.as_bytes())?;
        } else {
            self.out.put_slice(topic.topic_id.as_bytes());
        }
        self.array_len(topic.partitions.len())?;
        for partition in &topic.partitions {
            let slice = records.next().and_then(Option::as_ref);
            self.partition(version, partition, slice)?;
        }
        self.tags();
        Ok(())
    }

    fn partition(
        &mut self,
        version: i16,
        partition: &PartitionData,
        slice: Option<&FileSlice>,
    ) -> Result<(), String> {
        if partition.snapshot_id != Default::default()
            || !partition.unknown_tagged_fields.is_empty()
        {
            return Err("tagged fields in a Fetch partition are not supported".into());
        }
        let mut tagged = Vec::new();
        if partition.diverging_epoch != Default::default() {
            tagged.push((
                DIVERGING_EPOCH_TAG,
                encoded(&partition.diverging_epoch, version)?,
            ));
        }
        if partition.current_leader != Default::default() {
            tagged.push((
                CURRENT_LEADER_TAG,
                encoded(&partition.current_leader, version)?,
            ));
        }
        if !tagged.is_empty() && !self.flexible {
            return Err(format!("tagged partition fields set in Fetch v{version}"));
        }
        self.out.put_i32(partition.partition_index);
        self.out.put_i16(partition.error_code);
        self.out.put_i64(partition.high_watermark);
        self.out.put_i64(partition.last_stable_offset);
        if version >= LOG_START_OFFSET_VERSION {
            self.out.put_i64(partition.log_start_offset);
        }
        match &partition.aborted_transactions {
            None => self.null(),
            Some(aborted) => {
                self.array_len(aborted.len())?;
                for txn in aborted {
                    txn.encode(&mut self.out, version)
                        .map_err(|error| error.to_string())?;
                }
            }
        }
        if version >= PREFERRED_READ_REPLICA_VERSION {
            self.out.put_i32(partition.preferred_read_replica.0);
        } else if partition.preferred_read_replica.0 != -1 {
            return Err(format!("preferred read replica set in Fetch v{version}"));
        }
        match (slice, &partition.records) {
            (Some(slice), _) => {
                self.length(slice.len())?;
                let structure = self.out.split().freeze();
                self.frame.push_bytes(structure);
                self.frame.push_file(slice.clone());
            }
            (None, Some(bytes)) => {
                self.length(bytes.len() as u64)?;
                self.out.put_slice(bytes);
            }
            (None, None) => self.null(),
        }
        self.tagged_fields(&tagged);
        Ok(())
    }

    /// An array's element count (`i32`, or unsigned varint of count + 1 when flexible).
    fn array_len(&mut self, len: usize) -> Result<(), String> {
        self.length(len as u64)
    }

    /// A byte string's or array's length.
    fn length(&mut self, len: u64) -> Result<(), String> {
        let len = i32::try_from(len).map_err(|_| format!("length {len} exceeds i32"))?;
        if self.flexible {
            put_unsigned_varint(&mut self.out, len as u32 + 1);
        } else {
            self.out.put_i32(len);
        }
        Ok(())
    }

    /// A null array or byte string.
    fn null(&mut self) {
        if self.flexible {
            put_unsigned_varint(&mut self.out, 0);
        } else {
            self.out.put_i32(-1);
        }
    }

    fn string(&mut self, bytes: &[u8]) -> Result<(), String> {
        if self.flexible {
            self.length(bytes.len() as u64)?;
        } else {
            let len = i16::try_from(bytes.len()).map_err(|_| "string exceeds i16".to_owned())?;
            self.out.put_i16(len);
        }
        self.out.put_slice(bytes);
        Ok(())
    }

    /// A tagged-field section holding `fields` (tag, encoded value) in ascending tag order;
    /// empty, it is written in flexible versions only.
    fn tagged_fields(&mut self, fields: &[(u32, BytesMut)]) {
        if fields.is_empty() {
            return self.tags();
        }
        put_unsigned_varint(&mut self.out, fields.len() as u32);
        for (tag, data) in fields {
            put_unsigned_varint(&mut self.out, *tag);
            put_unsigned_varint(&mut self.out, data.len() as u32);
            self.out.put_slice(data);
        }
    }

    /// An empty tagged-field section (flexible versions only).
    fn tags(&mut self) {
        if self.flexible {
            put_unsigned_varint(&mut self.out, 0);
        }
    }

    /// Prepends the size prefix and returns the frame.
    fn finish(mut self) -> Result<ResponseFrame, String> {
        let rest = self.out.freeze();
        self.frame.push_bytes(rest);
        let size = i32::try_from(self.frame.len())
            .map_err(|_| format!("Fetch response of {} bytes exceeds i32", self.frame.len()))?;
        let mut frame = ResponseFrame::from(Bytes::copy_from_slice(&size.to_be_bytes()));
        frame.append(self.frame);
        Ok(frame)
    }
}

/// A tagged field's value.
fn encoded(value: &impl Encodable, version: i16) -> Result<BytesMut, String> {
    let mut out = BytesMut::new();
    value
        .encode(&mut out, version)
        .map_err(|error| error.to_string())?;
    Ok(out)
}

fn put_unsigned_varint(out: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        out.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use kafka_protocol::messages::fetch_response::{
        AbortedTransaction, EpochEndOffset, LeaderIdAndEpoch, NodeEndpoint,
    };
    use kafka_protocol::messages::{ApiKey, BrokerId, ProducerId, ResponseKind, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use proptest::prelude::*;

    use super::*;
    use crate::protocol::encode_response;

    /// A partition as generated: its fields, its records, and whether they come from a file.
    #[derive(Debug, Clone)]
    struct Sample {
        error_code: i16,
        high_watermark: i64,
        aborted: Option<Vec<(i64, i64)>>,
        records: Option<Vec<u8>>,
        from_file: bool,
        /// A current-leader hint (flexible versions only).
        leader: Option<(i32, i32)>,
        /// A diverging epoch and its end offset (flexible versions only).
        diverging: Option<(i32, i64)>,
    }

    fn sample() -> impl Strategy<Value = Sample> {
        (
            any::<i16>(),
            any::<i64>(),
            proptest::option::of(proptest::collection::vec(any::<(i64, i64)>(), 0..3)),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
            any::<bool>(),
            proptest::option::of((0i32..100, 0i32..100)),
            proptest::option::of((0i32..100, 0i64..1_000_000)),
        )
            .prop_map(
                |(error_code, high_watermark, aborted, records, from_file, leader, diverging)| {
                    Sample {
                        error_code,
                        high_watermark,
                        aborted,
                        records,
                        from_file,
                        leader,
                        diverging,
                    }
                },
            )
    }

    fn partition(version: i16, index: i32, sample: &Sample) -> PartitionData {
        let aborted = sample.aborted.as_ref().map(|txns| {
            txns.iter()
                .map(|(producer_id, first_offset)| {
                    AbortedTransaction::default()
                        .with_producer_id(ProducerId(*producer_id))
                        .with_first_offset(*first_offset)
                })
                .collect()
        });
        PartitionData::default()
            .with_partition_index(index)
            .with_error_code(sample.error_code)
            .with_high_watermark(sample.high_watermark)
            .with_last_stable_offset(sample.high_watermark / 2)
            .with_log_start_offset(if version >= 5 { 7 } else { -1 })
            .with_aborted_transactions(aborted)
            .with_preferred_read_replica(BrokerId(if version >= 11 { 3 } else { -1 }))
            .with_records(sample.records.clone().map(Bytes::from))
            .with_current_leader(match sample.leader {
                Some((leader_id, leader_epoch)) if version >= 12 => LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(leader_id))
                    .with_leader_epoch(leader_epoch),
                _ => LeaderIdAndEpoch::default(),
            })
            .with_diverging_epoch(match sample.diverging {
                Some((epoch, end_offset)) if version >= 12 => EpochEndOffset::default()
                    .with_epoch(epoch)
                    .with_end_offset(end_offset),
                _ => EpochEndOffset::default(),
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn matches_kafka_protocol_at_every_version(
            version in 4i16..=18,
            topics in proptest::collection::vec(proptest::collection::vec(sample(), 0..4), 0..4),
        ) {
            let mut file = tempfile::tempfile().unwrap();
            let mut ranges = Vec::new();
            let mut position = 0u64;
            let mut in_memory = FetchResponse::default()
                .with_throttle_time_ms(5)
                .with_error_code(if version >= 7 { 1 } else { 0 })
                .with_session_id(if version >= 7 { 9 } else { 0 })
                .with_node_endpoints(if version >= 16 && topics.len() % 2 == 1 {
                    vec![NodeEndpoint::default()
                        .with_node_id(BrokerId(2))
                        .with_host(StrBytes::from_static_str("127.0.0.2"))
                        .with_port(9093)
                        .with_rack(Some(StrBytes::from_static_str("rack-b")))]
                } else {
                    Vec::new()
                });
            for (t, samples) in topics.iter().enumerate() {
                let mut partitions = Vec::new();
                for (p, sample) in samples.iter().enumerate() {
                    partitions.push(partition(version, p as i32, sample));
                    ranges.push(match (&sample.records, sample.from_file) {
                        (Some(bytes), true) => {
                            file.write_all(bytes).unwrap();
                            position += bytes.len() as u64;
                            Some((position - bytes.len() as u64, bytes.len() as u64))
                        }
                        _ => None,
                    });
                }
                in_memory.responses.push(
                    FetchableTopicResponse::default()
                        .with_topic(TopicName(StrBytes::from_string(format!("topic-{t}"))))
                        .with_topic_id(uuid::Uuid::from_u128(t as u128 + 1))
                        .with_partitions(partitions),
                );
            }
            let context = RequestContext::new(ApiKey::Fetch, version, 42, 0);
            let expected = encode_response(&context, &ResponseKind::Fetch(in_memory.clone())).unwrap();
            // The file-backed partitions carry no bytes of their own.
            let file = Arc::new(file);
            let partitions = in_memory.responses.iter_mut().flat_map(|t| t.partitions.iter_mut());
            let slices: Vec<Option<FileSlice>> = partitions
                .zip(&ranges)
                .map(|(partition, range)| {
                    let (position, len) = (*range)?;
                    partition.records = None;
                    Some(FileSlice::new(Arc::clone(&file), position, len))
                })
                .collect();
            let frame = encode(&context, &in_memory, &slices).unwrap();
            prop_assert_eq!(frame.len(), expected.len() as u64);
            prop_assert_eq!(frame.to_bytes().unwrap(), expected);
        }
    }
}
