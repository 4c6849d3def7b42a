//! Transaction markers: the control batches (one control record each) that end a
//! transaction in a partition. Built with `kafka-protocol`'s record codec (they are tiny and
//! never compressed), read with `raw.rs`'s record walk.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::{raw, BatchView};

/// Control record types (the key's second field).
const ABORT: i16 = 0;
const COMMIT: i16 = 1;
const CONTROL_KEY_VERSION: i16 = 0;
const MARKER_VALUE_VERSION: i16 = 0;

/// A COMMIT (`commit`) or ABORT marker batch from `producer_id` at `epoch`.
pub fn marker_batch(
    producer_id: i64,
    epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    timestamp: i64,
) -> Result<Bytes, String> {
    let mut key = BytesMut::new();
    key.put_i16(CONTROL_KEY_VERSION);
    key.put_i16(if commit { COMMIT } else { ABORT });
    let mut value = BytesMut::new();
    value.put_i16(MARKER_VALUE_VERSION);
    value.put_i32(coordinator_epoch);
    let record = Record {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id,
        producer_epoch: epoch,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp,
        key: Some(key.freeze()),
        value: Some(value.freeze()),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, [&record], &options).map_err(|error| error.to_string())?;
    Ok(buf.freeze())
}

/// Whether a control batch is a COMMIT (`Some(true)`) or ABORT (`Some(false)`) marker: its
/// first record's key, read in place (the record count a batch claims is never trusted).
pub fn marker_kind(batch: &[u8]) -> Option<bool> {
    let view = BatchView::parse_header(batch).ok()?;
    let section = raw::decompressed_section(&view).ok()?;
    let records = raw::records(&section, view.records_count()).ok()?;
    let key = records.first()?.key?;
    // The key: version (i16), then type (i16).
    let kind = key.get(2..4)?;
    match i16::from_be_bytes([kind[0], kind[1]]) {
        COMMIT => Some(true),
        ABORT => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip() {
        for commit in [true, false] {
            let batch = marker_batch(7, 3, commit, 0, 1_000).unwrap();
            let view = BatchView::parse(&batch).expect("valid batch");
            assert!(view.is_control() && view.is_transactional());
            assert_eq!(
                (
                    view.producer_id(),
                    view.producer_epoch(),
                    view.records_count()
                ),
                (7, 3, 1)
            );
            assert_eq!(marker_kind(&batch), Some(commit));
        }
        assert_eq!(marker_kind(b"garbage"), None);
    }
}
