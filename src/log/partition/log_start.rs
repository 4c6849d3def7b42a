//! Where the log starts: DeleteRecords and retention move the log start offset, durably
//! first, then delete the closed segments entirely below it.

use super::Partition;
use crate::log::retention::{self, SegmentSummary};
use crate::log::{checkpoint, segment, LogError};

impl Partition {
    /// DeleteRecords: makes `offset` (at most the high watermark) the first readable offset,
    /// durably, and deletes the segments entirely below it. Returns the new log start offset.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, LogError> {
        let _changing = self.change_closed_segments();
        let (start, high_watermark, end) = {
            let state = self.lock();
            (
                state.log_start_offset(),
                state.high_watermark,
                state.log_end_offset(),
            )
        };
        if !(0..=high_watermark).contains(&offset) {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: start,
                log_end_offset: end,
            });
        }
        if offset > start {
            self.move_log_start(offset)?;
        }
        Ok(self.log_start_offset())
    }

    /// Deletes the oldest segments retention (or an earlier DeleteRecords) allows; returns how
    /// many went.
    pub fn apply_retention(&self) -> Result<usize, LogError> {
        let _changing = self.change_closed_segments();
        let now = self.clock.now_ms();
        let (deletable, new_start) = {
            let state = self.lock();
            let summaries: Vec<SegmentSummary> = state
                .segments
                .iter()
                .map(|segment| SegmentSummary {
                    base_offset: segment.base_offset(),
                    next_offset: segment.next_offset(),
                    size: segment.size(),
                    max_timestamp: segment.max_timestamp(),
                })
                .collect();
            let start = state.log_start_offset;
            let deletable = retention::deletable_prefix(&summaries, &state.config, start, now);
            // Only deleting records moves the log start; a segment with nothing at or above
            // it (below the start, or empty) does not.
            let deletes_records = summaries[..deletable]
                .iter()
                .any(|segment| segment.next_offset > start);
            let new_start = match deletes_records {
                true => summaries[deletable].base_offset.max(start),
                false => start,
            };
            (deletable, new_start)
        };
        if deletable == 0 {
            return Ok(0);
        }
        self.move_log_start(new_start)
    }

    /// Records `new_start` as the log start offset (checkpoint first, so a crash never brings
    /// deleted records back), then drops and deletes the closed segments entirely below it.
    /// Returns how many segments were deleted. The caller holds `closed_segments_lock`.
    fn move_log_start(&self, new_start: i64) -> Result<usize, LogError> {
        checkpoint::write_log_start_offset(&self.dir, new_start)?;
        let removed: Vec<i64> = {
            let mut state = self.lock();
            state.log_start_offset = state.log_start_offset.max(new_start);
            let closed = state.segments.len() - 1;
            let below = state.segments[..closed]
                .iter()
                .take_while(|segment| segment.next_offset() <= new_start)
                .count();
            state.txns.forget_before(new_start);
            state
                .segments
                .drain(..below)
                .map(|segment| segment.base_offset())
                .collect()
        };
        // Readers still holding a removed segment's file keep reading it until they drop it.
        for base_offset in &removed {
            segment::remove_files(&self.dir, *base_offset)?;
        }
        if !removed.is_empty() {
            tracing::info!(
                topic = %self.topic,
                partition = self.index,
                segments = removed.len(),
                log_start_offset = new_start,
                "deleted segments below the log start offset"
            );
        }
        Ok(removed.len())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::testing::{append, open, test_config};
    use super::*;
    use crate::clock::ManualClock;
    use crate::log::segment::Segment;
    use crate::log::{Isolation, LogConfig};
    use crate::records::BatchView;

    #[test]
    fn delete_records_moves_the_log_start_durably_and_drops_whole_segments() {
        let dir = tempfile::tempdir().unwrap();
        let partition = open(dir.path(), test_config(), false);
        for i in 0..30 {
            append(&partition, 2, i);
        }
        let segments = partition.segment_count();
        assert!(segments > 3);
        let end = partition.log_end_offset();
        assert!(matches!(
            partition.delete_records_before(end + 1),
            Err(LogError::OffsetOutOfRange { .. })
        ));
        assert_eq!(partition.delete_records_before(25).unwrap(), 25);
        assert_eq!(partition.log_start_offset(), 25);
        assert!(
            partition.segment_count() < segments,
            "segments below 25 deleted"
        );
        // Moving backwards is a no-op.
        assert_eq!(partition.delete_records_before(3).unwrap(), 25);
        assert!(matches!(
            partition.read(24, 1000, true, Isolation::ReadUncommitted),
            Err(LogError::OffsetOutOfRange { .. })
        ));
        let read = partition
            .read(25, 1000, true, Isolation::ReadUncommitted)
            .unwrap();
        assert_eq!(read.log_start_offset, 25);
        assert!(BatchView::parse(&read.records).unwrap().last_offset() >= 25);
        drop(partition);
        // After a crash (no clean shutdown) the start offset is still 25.
        let reopened = open(dir.path(), test_config(), true);
        assert_eq!(reopened.log_start_offset(), 25);
        assert_eq!(reopened.log_end_offset(), end);
        // Deleting up to the high watermark empties the log but keeps its end.
        assert_eq!(reopened.delete_records_before(end).unwrap(), end);
        assert_eq!(reopened.segment_count(), 1);
        assert_eq!(append(&reopened, 1, 99).base_offset, end);
    }

    #[test]
    fn retention_deletes_expired_and_excess_segments() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_000));
        let config = LogConfig {
            retention_ms: 10_000,
            ..test_config()
        };
        let partition =
            Partition::open("t", 0, dir.path(), Arc::new(config), false, clock.clone()).unwrap();
        // Old records (timestamp 0), then new ones (timestamp 20 000).
        for _ in 0..20 {
            append(&partition, 2, 0);
        }
        let old_end = partition.log_end_offset();
        for _ in 0..20 {
            append(&partition, 2, 20_000);
        }
        assert_eq!(
            partition.apply_retention().unwrap(),
            0,
            "nothing older than 10 s"
        );
        clock.advance(20_000);
        let deleted = partition.apply_retention().unwrap();
        assert!(deleted > 0);
        let start = partition.log_start_offset();
        assert!(
            start > 0 && start <= old_end,
            "start {start} within the old records"
        );
        // By size: keep at most ~2 KiB.
        partition.set_config(Arc::new(LogConfig {
            retention_bytes: 2048,
            ..test_config()
        }));
        partition.apply_retention().unwrap();
        let remaining: u64 = partition.lock().segments.iter().map(Segment::size).sum();
        assert!(
            (2048..2048 + 1024).contains(&remaining),
            "{remaining} bytes left"
        );
        assert!(partition.log_start_offset() > start);
    }
}
