//! The offset and timestamp of every record in one stored batch, for the few paths that need
//! record granularity (ListOffsets by time and by max timestamp). The produce and fetch paths
//! never decompress records for it.

use super::{raw, BatchError, BatchView};

/// One record's offset and timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordStamp {
    pub offset: i64,
    pub timestamp: i64,
}

/// The records of the batch at the start of `batch`, in offset order. In a LogAppendTime batch
/// every record carries the batch's max timestamp (the time the broker appended it).
pub fn record_stamps(batch: &[u8]) -> Result<Vec<RecordStamp>, BatchError> {
    let view = BatchView::parse_header(batch)?;
    let section = raw::decompressed_section(&view)?;
    let append_time = view.is_log_append_time().then(|| view.max_timestamp());
    Ok(raw::records(&section, view.records_count())?
        .iter()
        .map(|record| RecordStamp {
            offset: view
                .base_offset()
                .wrapping_add(i64::from(record.offset_delta)),
            timestamp: append_time
                .unwrap_or_else(|| view.base_timestamp().wrapping_add(record.timestamp_delta)),
        })
        .collect())
}

/// The first record stamped at or after `timestamp`.
pub fn first_at_or_after(batch: &[u8], timestamp: i64) -> Result<Option<RecordStamp>, BatchError> {
    Ok(record_stamps(batch)?
        .into_iter()
        .find(|record| record.timestamp >= timestamp))
}

/// The first record holding the batch's largest timestamp.
pub fn first_with_max_timestamp(batch: &[u8]) -> Result<Option<RecordStamp>, BatchError> {
    let stamps = record_stamps(batch)?;
    let max = stamps.iter().map(|record| record.timestamp).max();
    Ok(stamps
        .into_iter()
        .find(|record| Some(record.timestamp) == max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::batch::testing::{build_records_batch, ALL_CODECS};

    #[test]
    fn finds_the_record_not_just_the_batch() {
        for compression in ALL_CODECS {
            let bytes = build_records_batch(&[1234, 5000, 999_999_999_999, 7], compression);
            let found = first_at_or_after(&bytes, 999_999_999_999).unwrap();
            assert_eq!(found.map(|r| r.offset), Some(2), "{compression:?}");
            assert_eq!(
                first_at_or_after(&bytes, 2000).unwrap().map(|r| r.offset),
                Some(1)
            );
            assert_eq!(first_at_or_after(&bytes, i64::MAX).unwrap(), None);
            assert_eq!(
                first_with_max_timestamp(&bytes).unwrap(),
                Some(RecordStamp {
                    offset: 2,
                    timestamp: 999_999_999_999
                })
            );
        }
    }
}
