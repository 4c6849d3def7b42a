//! Encoding whole record batches the broker or its tools write themselves (internal-topic
//! records, `spool produce`): uncompressed RecordBatch v2, offsets from 0.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// A RecordBatch v2 of `(key, value)` records (a `None` value is a tombstone), all stamped
/// `now_ms`. With `transaction = Some((producer id, epoch))` the batch belongs to that
/// producer's transaction.
pub fn records_batch(
    records: impl IntoIterator<Item = (Option<Bytes>, Option<Bytes>)>,
    transaction: Option<(i64, i16)>,
    now_ms: i64,
) -> Result<Bytes, String> {
    let (producer_id, producer_epoch) = transaction.unwrap_or((-1, -1));
    let records: Vec<Record> = records
        .into_iter()
        .enumerate()
        .map(|(at, (key, value))| Record {
            transactional: transaction.is_some(),
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: at as i64,
            // No producer sequence: the encoder derives the base sequence (-1) from the
            // first record's and keeps offset − sequence constant within a batch.
            sequence: at as i32 - 1,
            timestamp: now_ms,
            key,
            value,
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).map_err(|error| error.to_string())?;
    Ok(buf.freeze())
}
