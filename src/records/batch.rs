//! A read-only view of a RecordBatch v2 header, its checks, and the in-place rewrites the
//! broker does on produce. Records themselves are never decoded here.
//!
//! Layout (Kafka's `DefaultRecordBatch`), all big-endian:
//! ```text
//! 0  baseOffset i64        | 8  batchLength i32   | 12 partitionLeaderEpoch i32
//! 16 magic i8              | 17 crc u32 (CRC32C over bytes 21..end)
//! 21 attributes i16        | 23 lastOffsetDelta i32
//! 27 baseTimestamp i64     | 35 maxTimestamp i64
//! 43 producerId i64        | 51 producerEpoch i16 | 53 baseSequence i32
//! 57 recordsCount i32      | 61 records...
//! ```

use thiserror::Error;

/// Bytes before `batchLength` starts counting: baseOffset + batchLength itself.
pub const LOG_OVERHEAD_BYTES: usize = 12;
/// Size of the fixed RecordBatch v2 header.
pub const BATCH_HEADER_BYTES: usize = 61;
/// The only record format the broker accepts and stores.
pub const MAGIC_V2: i8 = 2;

const BASE_OFFSET_AT: usize = 0;
const BATCH_LENGTH_AT: usize = 8;
const LEADER_EPOCH_AT: usize = 12;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const BASE_TIMESTAMP_AT: usize = 27;
const MAX_TIMESTAMP_AT: usize = 35;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;
const RECORDS_COUNT_AT: usize = 57;

const ATTRIBUTE_COMPRESSION_MASK: i16 = 0x07;
const ATTRIBUTE_LOG_APPEND_TIME: i16 = 0x08;
const ATTRIBUTE_TRANSACTIONAL: i16 = 0x10;
const ATTRIBUTE_CONTROL: i16 = 0x20;

/// Why a byte range is not a valid RecordBatch v2.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BatchError {
    #[error("batch truncated: need {needed} bytes, have {available}")]
    Truncated { needed: usize, available: usize },
    #[error("batch length {0} is smaller than the v2 header")]
    LengthTooSmall(i32),
    #[error("unsupported record format magic {0}")]
    UnsupportedMagic(i8),
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("batch has {count} records but last offset delta {last_offset_delta}")]
    InconsistentCount { count: i32, last_offset_delta: i32 },
    #[error("records do not decode: {0}")]
    Records(String),
    #[error("incorrect declared batch size: the header counts {claimed} records, the batch holds {found}")]
    RecordCount { claimed: i32, found: u64 },
}

/// Sets a rebuilt batch's attributes (call [`set_records`] after, which recomputes the CRC).
pub fn set_attributes(bytes: &mut [u8], attributes: i16) {
    bytes[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
}

/// Sets a rebuilt batch's record count, then its length and CRC to match its bytes.
pub fn set_records(bytes: &mut [u8], count: i32) {
    bytes[RECORDS_COUNT_AT..RECORDS_COUNT_AT + 4].copy_from_slice(&count.to_be_bytes());
    let length = (bytes.len() - LOG_OVERHEAD_BYTES) as i32;
    bytes[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[ATTRIBUTES_AT..]);
    bytes[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

/// The last offset of the last whole batch in `bytes` (batches back to back, as a log read
/// returns them), without CRC checks.
pub fn last_offset_in(bytes: &[u8]) -> Option<i64> {
    let mut at = 0;
    let mut last = None;
    while at < bytes.len() {
        let view = BatchView::parse_header(&bytes[at..]).ok()?;
        last = Some(view.last_offset());
        at += view.size();
    }
    last
}

/// Reads the total size (including the 12-byte log overhead) of the batch starting at `bytes`,
/// checking only that the length field is sane. Used to walk a buffer batch by batch.
pub fn batch_size(bytes: &[u8]) -> Result<usize, BatchError> {
    if bytes.len() < LOG_OVERHEAD_BYTES {
        return Err(BatchError::Truncated {
            needed: LOG_OVERHEAD_BYTES,
            available: bytes.len(),
        });
    }
    let length = read_i32(bytes, BATCH_LENGTH_AT);
    if length < (BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES) as i32 {
        return Err(BatchError::LengthTooSmall(length));
    }
    Ok(LOG_OVERHEAD_BYTES + length as usize)
}

/// The fixed header fields needed to walk a log without reading records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// Total batch size, log overhead included.
    pub size: usize,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    /// -1 unless the batch comes from an idempotent or transactional producer.
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
    pub is_transactional: bool,
    pub is_control: bool,
}

impl BatchHeader {
    /// Reads a v2 header, checking the length field, magic and last offset delta (not the CRC).
    pub fn parse(header: &[u8; BATCH_HEADER_BYTES]) -> Result<Self, BatchError> {
        let size = batch_size(header)?;
        let magic = header[MAGIC_AT] as i8;
        if magic != MAGIC_V2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        let last_offset_delta = read_i32(header, LAST_OFFSET_DELTA_AT);
        if last_offset_delta < 0 {
            let count = read_i32(header, RECORDS_COUNT_AT);
            return Err(BatchError::InconsistentCount {
                count,
                last_offset_delta,
            });
        }
        Ok(Self {
            base_offset: read_i64(header, BASE_OFFSET_AT),
            size,
            last_offset_delta,
            base_timestamp: read_i64(header, BASE_TIMESTAMP_AT),
            max_timestamp: read_i64(header, MAX_TIMESTAMP_AT),
            producer_id: read_i64(header, PRODUCER_ID_AT),
            producer_epoch: read_i16(header, PRODUCER_EPOCH_AT),
            base_sequence: read_i32(header, BASE_SEQUENCE_AT),
            records_count: read_i32(header, RECORDS_COUNT_AT),
            is_transactional: read_i16(header, ATTRIBUTES_AT) & ATTRIBUTE_TRANSACTIONAL != 0,
            is_control: read_i16(header, ATTRIBUTES_AT) & ATTRIBUTE_CONTROL != 0,
        })
    }

    /// Offset of the batch's last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }
}

/// A validated view over exactly one RecordBatch v2.
#[derive(Debug, Clone, Copy)]
pub struct BatchView<'a> {
    bytes: &'a [u8],
}

impl<'a> BatchView<'a> {
    /// Checks framing, magic, record count and CRC of the batch at the start of `bytes`;
    /// returns the view over exactly that batch (trailing bytes are ignored).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, BatchError> {
        let view = Self::parse_header(bytes)?;
        view.verify_crc()?;
        Ok(view)
    }

    /// Like [`BatchView::parse`] but without the CRC pass: for data already verified on write.
    pub fn parse_header(bytes: &'a [u8]) -> Result<Self, BatchError> {
        let size = batch_size(bytes)?;
        if bytes.len() < BATCH_HEADER_BYTES.max(size) {
            return Err(BatchError::Truncated {
                needed: size.max(BATCH_HEADER_BYTES),
                available: bytes.len(),
            });
        }
        let magic = bytes[MAGIC_AT] as i8;
        if magic != MAGIC_V2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        let view = Self {
            bytes: &bytes[..size],
        };
        let count = view.records_count();
        let last_offset_delta = view.last_offset_delta();
        // Compaction leaves fewer records than offsets (even none), never more.
        if count < 0 || last_offset_delta < 0 || i64::from(count) > i64::from(last_offset_delta) + 1
        {
            return Err(BatchError::InconsistentCount {
                count,
                last_offset_delta,
            });
        }
        Ok(view)
    }

    /// A client's batch has one record per offset: count = last offset delta + 1, at least one.
    pub fn check_dense(&self) -> Result<(), BatchError> {
        let count = self.records_count();
        let last_offset_delta = self.last_offset_delta();
        if count <= 0 || last_offset_delta != count - 1 {
            return Err(BatchError::InconsistentCount {
                count,
                last_offset_delta,
            });
        }
        Ok(())
    }

    fn verify_crc(&self) -> Result<(), BatchError> {
        let stored = self.crc();
        let computed = crc32c::crc32c(&self.bytes[ATTRIBUTES_AT..]);
        if stored != computed {
            return Err(BatchError::CrcMismatch { stored, computed });
        }
        Ok(())
    }

    /// The batch's bytes, log overhead included.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// Total size in bytes, log overhead included.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }
    pub fn base_offset(&self) -> i64 {
        read_i64(self.bytes, BASE_OFFSET_AT)
    }
    pub fn last_offset_delta(&self) -> i32 {
        read_i32(self.bytes, LAST_OFFSET_DELTA_AT)
    }
    /// Offset of the batch's last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset() + i64::from(self.last_offset_delta())
    }
    pub fn partition_leader_epoch(&self) -> i32 {
        read_i32(self.bytes, LEADER_EPOCH_AT)
    }
    pub fn crc(&self) -> u32 {
        read_i32(self.bytes, CRC_AT) as u32
    }
    pub fn attributes(&self) -> i16 {
        read_i16(self.bytes, ATTRIBUTES_AT)
    }
    /// Compression codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn compression(&self) -> i16 {
        self.attributes() & ATTRIBUTE_COMPRESSION_MASK
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes() & ATTRIBUTE_TRANSACTIONAL != 0
    }
    /// The broker stamped the batch (LogAppendTime): every record's timestamp is the batch's
    /// max timestamp.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes() & ATTRIBUTE_LOG_APPEND_TIME != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes() & ATTRIBUTE_CONTROL != 0
    }
    pub fn base_timestamp(&self) -> i64 {
        read_i64(self.bytes, BASE_TIMESTAMP_AT)
    }
    pub fn max_timestamp(&self) -> i64 {
        read_i64(self.bytes, MAX_TIMESTAMP_AT)
    }
    pub fn producer_id(&self) -> i64 {
        read_i64(self.bytes, PRODUCER_ID_AT)
    }
    pub fn producer_epoch(&self) -> i16 {
        read_i16(self.bytes, PRODUCER_EPOCH_AT)
    }
    pub fn base_sequence(&self) -> i32 {
        read_i32(self.bytes, BASE_SEQUENCE_AT)
    }
    pub fn records_count(&self) -> i32 {
        read_i32(self.bytes, RECORDS_COUNT_AT)
    }
}

/// How the broker stamps a batch when appending it: the header fields it rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendStamp {
    pub base_offset: i64,
    pub partition_leader_epoch: i32,
    /// `Some(now)` for topics with `message.timestamp.type=LogAppendTime`.
    pub log_append_time_ms: Option<i64>,
}

/// Returns a copy of the batch's fixed header with the stamp applied. Base offset and leader
/// epoch lie outside the CRC; a log-append-time stamp changes attributes and max timestamp, so
/// the CRC is recomputed over the new header and the untouched record bytes.
pub fn stamped_header(batch: &BatchView<'_>, stamp: AppendStamp) -> [u8; BATCH_HEADER_BYTES] {
    let mut header = [0u8; BATCH_HEADER_BYTES];
    header.copy_from_slice(&batch.bytes[..BATCH_HEADER_BYTES]);
    header[BASE_OFFSET_AT..BASE_OFFSET_AT + 8].copy_from_slice(&stamp.base_offset.to_be_bytes());
    header[LEADER_EPOCH_AT..LEADER_EPOCH_AT + 4]
        .copy_from_slice(&stamp.partition_leader_epoch.to_be_bytes());
    if let Some(now) = stamp.log_append_time_ms {
        let attributes = batch.attributes() | ATTRIBUTE_LOG_APPEND_TIME;
        header[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
        header[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&now.to_be_bytes());
        let crc = crc32c::crc32c_append(
            crc32c::crc32c(&header[ATTRIBUTES_AT..]),
            &batch.bytes[BATCH_HEADER_BYTES..],
        );
        header[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    }
    header
}

fn read_i16(bytes: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([bytes[at], bytes[at + 1]])
}

fn read_i32(bytes: &[u8], at: usize) -> i32 {
    let mut buf = [0u8; 4];
    buf.copy_from_slice(&bytes[at..at + 4]);
    i32::from_be_bytes(buf)
}

fn read_i64(bytes: &[u8], at: usize) -> i64 {
    let mut buf = [0u8; 8];
    buf.copy_from_slice(&bytes[at..at + 8]);
    i64::from_be_bytes(buf)
}

/// Builds well-formed batches with opaque record payloads; for tests of every layer.
pub mod testing {
    use super::*;

    /// A v2 batch of `count` records, the first holding `payload` as its value, with a
    /// correct CRC.
    pub fn build_batch(count: i32, max_timestamp: i64, payload: &[u8]) -> Vec<u8> {
        build_idempotent_batch(-1, -1, -1, count, max_timestamp, payload)
    }

    /// Every codec a batch can use.
    pub const ALL_CODECS: [kafka_protocol::records::Compression; 5] = [
        kafka_protocol::records::Compression::None,
        kafka_protocol::records::Compression::Gzip,
        kafka_protocol::records::Compression::Snappy,
        kafka_protocol::records::Compression::Lz4,
        kafka_protocol::records::Compression::Zstd,
    ];

    /// A test record: key, value (`None` for null) and timestamp.
    pub type TestRecord<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, i64);

    /// A batch of real records (kafka-protocol's encoder), one per timestamp, keys `k<i>` and
    /// 200-byte values, with `compression`.
    pub fn build_records_batch(
        timestamps: &[i64],
        compression: kafka_protocol::records::Compression,
    ) -> Vec<u8> {
        let keys: Vec<Vec<u8>> = (0..timestamps.len())
            .map(|i| format!("k{i}").into_bytes())
            .collect();
        let value = vec![b'v'; 200];
        let records: Vec<TestRecord<'_>> = keys
            .iter()
            .zip(timestamps)
            .map(|(key, &timestamp)| (Some(key.as_slice()), Some(value.as_slice()), timestamp))
            .collect();
        build_keyed_batch(&records, compression)
    }

    /// A batch of real records: (key, value, timestamp) each, `None` for null.
    pub fn build_keyed_batch(
        records: &[TestRecord<'_>],
        compression: kafka_protocol::records::Compression,
    ) -> Vec<u8> {
        build_producer_keyed_batch(None, records, compression)
    }

    /// [`build_keyed_batch`] from an idempotent producer: (id, epoch, first sequence).
    pub fn build_producer_keyed_batch(
        producer: Option<(i64, i16, i32)>,
        records: &[TestRecord<'_>],
        compression: kafka_protocol::records::Compression,
    ) -> Vec<u8> {
        use kafka_protocol::records::{
            Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
        };
        let records: Vec<Record> = records
            .iter()
            .enumerate()
            .map(|(i, (key, value, timestamp))| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: producer.map_or(-1, |(id, _, _)| id),
                producer_epoch: producer.map_or(-1, |(_, epoch, _)| epoch),
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // The encoder keeps records in one batch while offset - sequence is constant;
                // without a producer this makes the batch's base sequence -1.
                sequence: producer.map_or(-1, |(_, _, first)| first) + i as i32,
                timestamp: *timestamp,
                key: key.map(bytes::Bytes::copy_from_slice),
                value: value.map(bytes::Bytes::copy_from_slice),
                headers: Default::default(),
            })
            .collect();
        let mut bytes = bytes::BytesMut::new();
        RecordBatchEncoder::encode(
            &mut bytes,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression,
            },
        )
        .unwrap_or_else(|error| panic!("test records do not encode: {error}"));
        bytes.to_vec()
    }

    /// Like [`build_idempotent_batch`], inside a transaction.
    pub fn build_transactional_batch(
        producer_id: i64,
        epoch: i16,
        sequence: i32,
        count: i32,
        max_timestamp: i64,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut bytes =
            build_idempotent_batch(producer_id, epoch, sequence, count, max_timestamp, payload);
        let attributes = read_i16(&bytes, ATTRIBUTES_AT) | ATTRIBUTE_TRANSACTIONAL;
        bytes[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
        let crc = crc32c::crc32c(&bytes[ATTRIBUTES_AT..]);
        bytes[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    /// Like [`build_batch`], from producer `producer_id` at `epoch`, first sequence `sequence`.
    /// `count` records in Kafka's v2 layout, without key or headers: the first one's value is
    /// `payload`, the others' are empty.
    fn records_section(count: i32, payload: &[u8]) -> Vec<u8> {
        fn varint(out: &mut Vec<u8>, value: i64) {
            let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
            while zigzag >= 0x80 {
                out.push(zigzag as u8 | 0x80);
                zigzag >>= 7;
            }
            out.push(zigzag as u8);
        }
        let mut section = Vec::new();
        for at in 0..count.max(0) {
            let value: &[u8] = if at == 0 { payload } else { &[] };
            let mut body = vec![0u8]; // attributes
            varint(&mut body, 0); // timestamp delta
            varint(&mut body, i64::from(at)); // offset delta
            varint(&mut body, -1); // no key
            varint(&mut body, value.len() as i64);
            body.extend_from_slice(value);
            varint(&mut body, 0); // no headers
            varint(&mut section, body.len() as i64);
            section.extend_from_slice(&body);
        }
        section
    }

    pub fn build_idempotent_batch(
        producer_id: i64,
        epoch: i16,
        sequence: i32,
        count: i32,
        max_timestamp: i64,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut bytes = vec![0u8; BATCH_HEADER_BYTES];
        bytes.extend_from_slice(&records_section(count, payload));
        let length = (bytes.len() - LOG_OVERHEAD_BYTES) as i32;
        bytes[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&length.to_be_bytes());
        bytes[LEADER_EPOCH_AT..LEADER_EPOCH_AT + 4].copy_from_slice(&(-1i32).to_be_bytes());
        bytes[MAGIC_AT] = MAGIC_V2 as u8;
        bytes[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4]
            .copy_from_slice(&(count - 1).to_be_bytes());
        bytes[BASE_TIMESTAMP_AT..BASE_TIMESTAMP_AT + 8]
            .copy_from_slice(&max_timestamp.to_be_bytes());
        bytes[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&max_timestamp.to_be_bytes());
        bytes[PRODUCER_ID_AT..PRODUCER_ID_AT + 8].copy_from_slice(&producer_id.to_be_bytes());
        bytes[PRODUCER_EPOCH_AT..PRODUCER_EPOCH_AT + 2].copy_from_slice(&epoch.to_be_bytes());
        bytes[BASE_SEQUENCE_AT..BASE_SEQUENCE_AT + 4].copy_from_slice(&sequence.to_be_bytes());
        bytes[RECORDS_COUNT_AT..RECORDS_COUNT_AT + 4].copy_from_slice(&count.to_be_bytes());
        let crc = crc32c::crc32c(&bytes[ATTRIBUTES_AT..]);
        bytes[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::testing::build_batch;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_a_well_formed_batch() {
        let bytes = build_batch(3, 1_700_000_000_000, b"abcdef");
        let view = BatchView::parse(&bytes).expect("valid");
        assert_eq!(view.size(), bytes.len());
        assert_eq!(view.records_count(), 3);
        assert_eq!(view.last_offset_delta(), 2);
        assert_eq!(view.max_timestamp(), 1_700_000_000_000);
        assert_eq!(view.compression(), 0);
    }

    #[test]
    fn rejects_a_flipped_payload_bit() {
        let mut bytes = build_batch(1, 0, b"payload");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(matches!(
            BatchView::parse(&bytes),
            Err(BatchError::CrcMismatch { .. })
        ));
    }

    #[test]
    fn rejects_old_magic_and_bad_counts() {
        let mut bytes = build_batch(1, 0, b"x");
        bytes[MAGIC_AT] = 1;
        assert_eq!(
            BatchView::parse(&bytes).unwrap_err(),
            BatchError::UnsupportedMagic(1)
        );
        let bytes = build_batch(0, 0, b"x");
        assert!(matches!(
            BatchView::parse(&bytes),
            Err(BatchError::InconsistentCount { .. })
        ));
        // Fewer records than offsets: a compacted batch, stored but never produced.
        let mut bytes = build_batch(3, 0, b"x");
        set_records(&mut bytes, 1);
        let compacted = BatchView::parse(&bytes).expect("stored form");
        assert!(compacted.check_dense().is_err());
        assert!(BatchView::parse(&build_batch(3, 0, b"x"))
            .unwrap()
            .check_dense()
            .is_ok());
    }

    #[test]
    fn rejects_short_and_undersized_frames() {
        assert!(matches!(
            batch_size(&[0u8; 5]),
            Err(BatchError::Truncated { .. })
        ));
        let mut bytes = build_batch(1, 0, b"x");
        bytes[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&10i32.to_be_bytes());
        assert_eq!(
            BatchView::parse(&bytes).unwrap_err(),
            BatchError::LengthTooSmall(10)
        );
        let bytes = build_batch(1, 0, b"xyz");
        assert!(matches!(
            BatchView::parse(&bytes[..bytes.len() - 1]),
            Err(BatchError::Truncated { .. })
        ));
    }

    proptest! {
        #[test]
        fn stamp_round_trips_and_keeps_crc_valid(
            count in 1i32..1000,
            ts in 0i64..4_000_000_000_000,
            payload in proptest::collection::vec(any::<u8>(), 0..512),
            base_offset in 0i64..i64::MAX / 2,
            epoch in 0i32..1000,
            append_time in proptest::option::of(0i64..4_000_000_000_000),
        ) {
            let bytes = build_batch(count, ts, &payload);
            let view = BatchView::parse(&bytes).unwrap();
            let stamp = AppendStamp { base_offset, partition_leader_epoch: epoch, log_append_time_ms: append_time };
            let mut stamped = stamped_header(&view, stamp).to_vec();
            stamped.extend_from_slice(&bytes[BATCH_HEADER_BYTES..]);
            let again = BatchView::parse(&stamped).unwrap();
            prop_assert_eq!(again.base_offset(), base_offset);
            prop_assert_eq!(again.last_offset(), base_offset + i64::from(count - 1));
            prop_assert_eq!(again.partition_leader_epoch(), epoch);
            prop_assert_eq!(again.max_timestamp(), append_time.unwrap_or(ts));
            prop_assert_eq!(again.attributes() & ATTRIBUTE_LOG_APPEND_TIME != 0, append_time.is_some());
            prop_assert_eq!(&stamped[BATCH_HEADER_BYTES..], &bytes[BATCH_HEADER_BYTES..]);
        }

        #[test]
        fn parse_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = BatchView::parse(&bytes);
        }
    }
}
