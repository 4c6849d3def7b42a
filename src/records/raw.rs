//! The records inside a v2 batch, as raw byte ranges: what compaction needs (offset delta,
//! timestamp delta, key, whether the value is null) without decoding headers or copying
//! payloads, so a kept record is copied into the rewritten batch byte for byte. Also the
//! batch's records section decompressed and recompressed (through `codec.rs`), and the
//! rewrite that keeps a subset of records under the original batch header.

use super::batch::{BatchError, BatchView, BATCH_HEADER_BYTES};
use super::codec;

/// One record of a batch, borrowed from the decompressed records section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRecord<'a> {
    /// The whole record, length prefix included.
    pub bytes: &'a [u8],
    pub offset_delta: i32,
    pub timestamp_delta: i64,
    pub key: Option<&'a [u8]>,
    /// A tombstone: the value is null.
    pub null_value: bool,
}

fn malformed(what: &str) -> BatchError {
    BatchError::Records(format!("malformed record: {what}"))
}

/// Reads a zigzag varint (at most `max_bytes` bytes) at `*at`.
fn varint(bytes: &[u8], at: &mut usize, max_bytes: usize) -> Result<i64, BatchError> {
    let mut value: u64 = 0;
    for shift in 0..max_bytes {
        let byte = *bytes
            .get(*at)
            .ok_or_else(|| malformed("truncated varint"))?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << (7 * shift);
        if byte & 0x80 == 0 {
            return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
        }
    }
    Err(malformed("varint too long"))
}

/// A length-prefixed (varint) nullable byte string at `*at`.
fn nullable<'a>(bytes: &'a [u8], at: &mut usize) -> Result<Option<&'a [u8]>, BatchError> {
    let length = varint(bytes, at, 5)?;
    if length < 0 {
        return Ok(None);
    }
    let end = at
        .checked_add(length as usize)
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| malformed("field runs past the record"))?;
    let value = &bytes[*at..end];
    *at = end;
    Ok(Some(value))
}

/// Reads the length prefix of the record at `*at` (leaving `*at` past it) and returns where
/// the record ends, which must be inside `section`.
fn record_end(section: &[u8], at: &mut usize) -> Result<usize, BatchError> {
    let length = varint(section, at, 5)?;
    usize::try_from(length)
        .ok()
        .and_then(|length| at.checked_add(length))
        .filter(|&end| end <= section.len())
        .ok_or_else(|| malformed("length runs past the batch"))
}

/// Splits an uncompressed records section into its records, which must be the `count` its
/// batch's header claims (as Kafka's reader requires): a rebuilt batch takes its count from
/// the records it keeps, and that count must agree with the header's last offset delta.
pub fn records(section: &[u8], count: i32) -> Result<Vec<RawRecord<'_>>, BatchError> {
    let mut records = Vec::new();
    let mut at = 0;
    while at < section.len() {
        let start = at;
        let end = record_end(section, &mut at)?;
        let body = &section[..end];
        at += 1; // attributes
        let timestamp_delta = varint(body, &mut at, 10)?;
        let offset_delta =
            i32::try_from(varint(body, &mut at, 5)?).map_err(|_| malformed("offset delta"))?;
        let key = nullable(body, &mut at)?;
        let null_value = nullable(body, &mut at)?.is_none();
        records.push(RawRecord {
            bytes: &section[start..end],
            offset_delta,
            timestamp_delta,
            key,
            null_value,
        });
        at = end;
        if records.len() > count.max(0) as usize {
            return Err(malformed("more records than the batch's count"));
        }
    }
    if records.len() != count.max(0) as usize {
        return Err(malformed("fewer records than the batch's count"));
    }
    Ok(records)
}

/// Kafka's codec ids in the batch attributes.
const CODEC_MASK: i16 = 0x07;

/// Checks that an uncompressed batch holds exactly the records its header counts, by their
/// length prefixes alone (nothing inside a record is read, nothing allocated): Kafka's reader
/// refuses a batch with records left over or missing, and compaction would later refuse to
/// rewrite it. A compressed batch passes unchecked: checking it would mean decompressing on
/// the produce path.
pub fn check_record_count(batch: &BatchView<'_>) -> Result<(), BatchError> {
    if batch.compression() & CODEC_MASK != 0 {
        return Ok(());
    }
    let section = &batch.bytes()[BATCH_HEADER_BYTES..];
    let mut at = 0;
    let mut found: u64 = 0;
    while at < section.len() {
        at = record_end(section, &mut at)?;
        found += 1;
    }
    let claimed = batch.records_count();
    if u64::try_from(claimed) != Ok(found) {
        return Err(BatchError::RecordCount { claimed, found });
    }
    Ok(())
}

/// The batch's records section, decompressed (bounded by [`codec::MAX_DECOMPRESSED_BYTES`]).
pub fn decompressed_section(batch: &BatchView<'_>) -> Result<Vec<u8>, BatchError> {
    codec::decompress(
        batch.compression() & CODEC_MASK,
        &batch.bytes()[BATCH_HEADER_BYTES..],
    )
}

/// The batch with its records compressed with `codec` (Kafka's codec id) instead: what a
/// topic with a `compression.type` other than `producer` stores. Only the codec bits of the
/// attributes, the length and the CRC change.
pub fn recompress(batch: &BatchView<'_>, codec: i16) -> Result<Vec<u8>, BatchError> {
    let section = decompressed_section(batch)?;
    let body = codec::compress(codec & CODEC_MASK, &section)?;
    let mut bytes = Vec::with_capacity(BATCH_HEADER_BYTES + body.len());
    bytes.extend_from_slice(&batch.bytes()[..BATCH_HEADER_BYTES]);
    bytes.extend_from_slice(&body);
    let attributes = (batch.attributes() & !CODEC_MASK) | (codec & CODEC_MASK);
    super::batch::set_attributes(&mut bytes, attributes);
    super::batch::set_records(&mut bytes, batch.records_count());
    Ok(bytes)
}

/// A batch with only `kept` of its records (raw bytes from [`records`]), under the original
/// header: same base offset, last offset delta, timestamps, producer id, epoch and base
/// sequence, attributes and codec; the record count, length and CRC are recomputed. With no
/// record kept this is an empty batch, which Kafka keeps to remember a producer's sequence.
pub fn rebuild(batch: &BatchView<'_>, kept: &[RawRecord<'_>]) -> Result<Vec<u8>, BatchError> {
    let section: Vec<u8> = kept
        .iter()
        .flat_map(|record| record.bytes)
        .copied()
        .collect();
    let body = codec::compress(batch.compression() & CODEC_MASK, &section)?;
    let mut bytes = Vec::with_capacity(BATCH_HEADER_BYTES + body.len());
    bytes.extend_from_slice(&batch.bytes()[..BATCH_HEADER_BYTES]);
    bytes.extend_from_slice(&body);
    super::batch::set_records(&mut bytes, kept.len() as i32);
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::batch::testing::{build_records_batch, ALL_CODECS};
    use crate::records::stamps::record_stamps;

    #[test]
    fn an_uncompressed_batch_must_hold_the_records_it_counts() {
        let bytes = build_records_batch(&[10, 20, 30], ALL_CODECS[0]);
        let view = BatchView::parse(&bytes).unwrap();
        assert_eq!(check_record_count(&view), Ok(()));
        let section = decompressed_section(&view).unwrap();
        let all = records(&section, 3).unwrap();
        // The same records under a count of 2 (and its last offset delta): one left over.
        let mut fewer = bytes.clone();
        crate::records::batch::set_records(&mut fewer, 2);
        let fewer_view = BatchView::parse(&fewer).unwrap();
        assert_eq!(
            check_record_count(&fewer_view),
            Err(BatchError::RecordCount {
                claimed: 2,
                found: 3
            })
        );
        // Two of the three records under a count of 3: one missing.
        let mut missing = rebuild(&view, &all[..2]).unwrap();
        crate::records::batch::set_records(&mut missing, 3);
        let missing_view = BatchView::parse(&missing).unwrap();
        assert_eq!(
            check_record_count(&missing_view),
            Err(BatchError::RecordCount {
                claimed: 3,
                found: 2
            })
        );
        // A length prefix running past the batch.
        let mut torn = bytes[..bytes.len() - 1].to_vec();
        crate::records::batch::set_records(&mut torn, 3);
        let torn_view = BatchView::parse(&torn).unwrap();
        assert!(matches!(
            check_record_count(&torn_view),
            Err(BatchError::Records(_))
        ));
        // A compressed batch is not opened.
        for codec in ALL_CODECS.into_iter().skip(1) {
            let mut compressed = build_records_batch(&[1, 2], codec);
            crate::records::batch::set_records(&mut compressed, 1);
            let view = BatchView::parse(&compressed).unwrap();
            assert_eq!(check_record_count(&view), Ok(()));
        }
    }

    #[test]
    fn recompresses_between_every_pair_of_codecs() {
        for from in ALL_CODECS {
            let bytes = build_records_batch(&[10, 20, 30], from);
            let view = BatchView::parse(&bytes).unwrap();
            let original = records(&decompressed_section(&view).unwrap(), view.records_count())
                .unwrap()
                .iter()
                .map(|record| record.bytes.to_vec())
                .collect::<Vec<_>>();
            for to in ALL_CODECS {
                let codec = BatchView::parse(&build_records_batch(&[1], to))
                    .unwrap()
                    .compression();
                let recompressed = recompress(&view, codec).unwrap();
                let again = BatchView::parse(&recompressed).expect("valid CRC");
                assert_eq!(again.compression(), codec);
                assert_eq!(again.records_count(), 3);
                assert_eq!(again.base_offset(), view.base_offset());
                assert_eq!(
                    again.attributes() & !CODEC_MASK,
                    view.attributes() & !CODEC_MASK
                );
                let copied: Vec<Vec<u8>> = records(
                    &decompressed_section(&again).unwrap(),
                    again.records_count(),
                )
                .unwrap()
                .iter()
                .map(|record| record.bytes.to_vec())
                .collect();
                assert_eq!(copied, original, "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn splits_and_rebuilds_every_codec() {
        for compression in ALL_CODECS {
            let bytes = build_records_batch(&[10, 20, 30, 40], compression);
            let view = BatchView::parse(&bytes).unwrap();
            let section = decompressed_section(&view).unwrap();
            let all = records(&section, view.records_count()).unwrap();
            assert_eq!(all.len(), 4);
            assert_eq!(all[2].key, Some(&b"k2"[..]));
            assert_eq!(all[3].offset_delta, 3);
            assert_eq!(all[1].timestamp_delta, 10);
            assert!(!all[0].null_value);
            let kept = [all[1], all[3]];
            let rebuilt = rebuild(&view, &kept).unwrap();
            let again = BatchView::parse(&rebuilt).expect("valid CRC");
            assert_eq!(again.records_count(), 2);
            assert_eq!(again.base_offset(), view.base_offset());
            assert_eq!(again.last_offset_delta(), 3);
            assert_eq!(again.compression(), view.compression());
            let stamps = record_stamps(&rebuilt).unwrap();
            assert_eq!(
                stamps
                    .iter()
                    .map(|s| (s.offset, s.timestamp))
                    .collect::<Vec<_>>(),
                vec![(1, 20), (3, 40)],
                "{compression:?}"
            );
            let empty = rebuild(&view, &[]).unwrap();
            let empty = BatchView::parse(&empty).unwrap();
            assert_eq!(empty.records_count(), 0);
            assert_eq!(empty.last_offset(), view.last_offset());
        }
    }

    #[test]
    fn malformed_sections_are_errors_not_panics() {
        assert!(records(&[0x80], 1).is_err());
        assert!(records(&[0x10, 0, 0], 1).is_err());
        assert!(records(&[0x01], 1).is_err());
    }

    #[test]
    fn a_section_must_hold_the_count_its_header_claims() {
        let bytes = build_records_batch(&[10, 20, 30], kafka_protocol::records::Compression::None);
        let view = BatchView::parse(&bytes).unwrap();
        let section = decompressed_section(&view).unwrap();
        assert_eq!(records(&section, 3).unwrap().len(), 3);
        // A header claiming fewer records than the section holds (the fuzzer's case: its
        // rebuilt batch would have said 3 records under a last offset delta of 0), or more.
        assert!(records(&section, 1).is_err());
        assert!(records(&section, 4).is_err());
    }
}
