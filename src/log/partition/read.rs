//! The read path: whole batches for a fetch as a range of one segment file, and the
//! timestamp lookups of ListOffsets.

use bytes::Bytes;

use super::{Partition, ReadResult, TimestampMatch};
use crate::file_slice::FileSlice;
use crate::log::{Isolation, LogError};
use crate::records::stamps;

impl Partition {
    /// Reads whole batches starting with the one that holds `offset`, at most `max_bytes`
    /// unless `min_one_batch` and the first batch alone is larger (KIP-74); read_committed
    /// stops at the last stable offset and lists the aborted transactions in range. The
    /// batches come as a range of one segment file (`None`: nothing to return).
    pub fn read_slice(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        isolation: Isolation,
    ) -> Result<ReadResult<Option<FileSlice>>, LogError> {
        let state = self.lock();
        let high_watermark = state.high_watermark;
        let last_stable_offset = state.last_stable_offset();
        let log_start_offset = state.log_start_offset();
        // Offsets between the high watermark and the log end exist, but are not readable yet.
        let log_end_offset = state.log_end_offset();
        if offset < log_start_offset || offset > log_end_offset {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset,
                log_end_offset,
            });
        }
        let upper = match isolation {
            Isolation::ReadUncommitted => high_watermark,
            Isolation::ReadCommitted => last_stable_offset,
            Isolation::LogEnd => log_end_offset,
        };
        let mut records = None;
        for segment in &state.segments[state.segment_index_for(offset)..] {
            let Some(first) = segment.locate(offset)? else {
                continue;
            };
            let first_batch = if min_one_batch { first.size } else { 0 };
            let limit = first.position + (max_bytes as u64).max(first_batch);
            let end = segment.whole_batches_end(first.position, limit, upper)?;
            records = (end > first.position)
                .then(|| FileSlice::new(segment.log_file(), first.position, end - first.position));
            break;
        }
        let aborted = match (isolation, &records) {
            (Isolation::ReadCommitted, Some(_)) => {
                state.txns.aborted_between(offset, last_stable_offset)
            }
            _ => Vec::new(),
        };
        Ok(ReadResult {
            records,
            high_watermark,
            last_stable_offset,
            log_start_offset,
            aborted,
        })
    }

    /// [`Partition::read_slice`] with the batches read into memory.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        isolation: Isolation,
    ) -> Result<ReadResult, LogError> {
        let read = self.read_slice(offset, max_bytes, min_one_batch, isolation)?;
        Ok(ReadResult {
            records: match &read.records {
                Some(slice) => slice.read()?,
                None => Bytes::new(),
            },
            high_watermark: read.high_watermark,
            last_stable_offset: read.last_stable_offset,
            log_start_offset: read.log_start_offset,
            aborted: read.aborted,
        })
    }

    /// The first readable record stamped at or after `timestamp` (ListOffsets by time): the
    /// indexes find the batch, decoding that one batch finds the record.
    pub fn find_offset_by_timestamp(
        &self,
        timestamp: i64,
    ) -> Result<Option<TimestampMatch>, LogError> {
        let state = self.lock();
        let mut from = state.log_start_offset;
        for segment in &state.segments {
            while let Some(location) = segment.find_by_timestamp(timestamp, from)? {
                let found = stamps::record_stamps(&segment.read_batch(&location)?)?
                    .into_iter()
                    .find(|record| record.offset >= from && record.timestamp >= timestamp);
                if let Some(record) = found {
                    return Ok(Some(record.into()));
                }
                from = location.last_offset() + 1;
            }
        }
        Ok(None)
    }

    /// The first record holding the partition's largest timestamp (ListOffsets
    /// `MAX_TIMESTAMP`, KIP-734).
    pub fn max_timestamp(&self) -> Result<Option<TimestampMatch>, LogError> {
        let state = self.lock();
        let Some(segment) = state
            .segments
            .iter()
            .filter(|segment| !segment.is_empty())
            .reduce(|best, segment| {
                if segment.max_timestamp() > best.max_timestamp() {
                    segment
                } else {
                    best
                }
            })
        else {
            return Ok(None);
        };
        let Some(location) = segment.locate(segment.offset_of_max_timestamp())? else {
            return Ok(None);
        };
        let batch = segment.read_batch(&location)?;
        Ok(stamps::first_with_max_timestamp(&batch)?.map(TimestampMatch::from))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{append, open, test_config};
    use super::*;
    use crate::log::LogConfig;
    use crate::records::BatchView;

    #[test]
    fn read_respects_max_bytes_and_kip_74() {
        let dir = tempfile::tempdir().unwrap();
        let partition = open(
            dir.path(),
            LogConfig {
                segment_bytes: 1 << 20,
                ..test_config()
            },
            false,
        );
        for _ in 0..10 {
            append(&partition, 1, 5);
        }
        let batch = BatchView::parse(
            &partition
                .read(0, 1 << 20, true, Isolation::ReadUncommitted)
                .unwrap()
                .records,
        )
        .unwrap()
        .size();
        assert_eq!(
            partition
                .read(0, 1 << 20, true, Isolation::ReadUncommitted)
                .unwrap()
                .records
                .len(),
            batch * 10
        );
        assert_eq!(
            partition
                .read(0, batch * 3 + 5, true, Isolation::ReadUncommitted)
                .unwrap()
                .records
                .len(),
            batch * 3
        );
        assert_eq!(
            partition
                .read(0, 10, true, Isolation::ReadUncommitted)
                .unwrap()
                .records
                .len(),
            batch,
            "one batch even if larger"
        );
        assert!(partition
            .read(0, 10, false, Isolation::ReadUncommitted)
            .unwrap()
            .records
            .is_empty());
    }

    #[test]
    fn timestamp_lookups_find_records_across_segments() {
        use crate::records::batch::testing::build_records_batch;
        use kafka_protocol::records::Compression;
        let dir = tempfile::tempdir().unwrap();
        let partition = open(dir.path(), test_config(), false);
        // Batch i holds offsets 3i..3i+2 stamped 100+10i, 105+10i and 101+10i.
        for i in 0..30 {
            let t = 100 + i * 10;
            let bytes = build_records_batch(&[t, t + 5, t + 1], Compression::Lz4);
            partition
                .append(&BatchView::parse(&bytes).unwrap())
                .unwrap();
        }
        assert!(partition.segment_count() > 2);
        let found = partition.find_offset_by_timestamp(253).unwrap().unwrap();
        assert_eq!(
            (found.offset, found.timestamp),
            (46, 255),
            "mid-batch record"
        );
        assert_eq!(partition.find_offset_by_timestamp(10_000).unwrap(), None);
        let max = partition.max_timestamp().unwrap().unwrap();
        assert_eq!((max.offset, max.timestamp), (88, 395));
        // Below the log start offset nothing is found.
        partition.delete_records_before(47).unwrap();
        let found = partition.find_offset_by_timestamp(253).unwrap().unwrap();
        assert_eq!((found.offset, found.timestamp), (48, 260));
    }
}
