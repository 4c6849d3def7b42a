//! The append path: offsets are assigned under the append lock, idempotent producers'
//! sequences are checked under it, transaction markers end transactions, and the active
//! segment rolls when it is full or old.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{AppendInfo, LogState, Partition};
use crate::log::producer_state::{ProducerBatch, SequenceCheck};
use crate::log::segment::Segment;
use crate::log::{LogError, TimestampType};
use crate::records::batch::BATCH_HEADER_BYTES;
use crate::records::control;
use crate::records::{stamped_header, AppendStamp, BatchView};

/// The idempotent producer's batch in `batch`: sequences are checked for client batches;
/// markers and the coordinators' own transactional batches carry no sequence.
pub(super) fn producer_batch(batch: &BatchView<'_>) -> Option<ProducerBatch> {
    let sequenced = batch.producer_id() >= 0 && !batch.is_control() && batch.base_sequence() >= 0;
    sequenced.then(|| ProducerBatch {
        producer_id: batch.producer_id(),
        epoch: batch.producer_epoch(),
        first_sequence: batch.base_sequence(),
        last_offset_delta: batch.last_offset_delta(),
    })
}

impl Partition {
    /// Validated-elsewhere batch in, offsets assigned under the append lock, bytes written.
    /// The batch is acknowledged only after [`Partition::flush`] when the policy asks for it.
    pub fn append(&self, batch: &BatchView<'_>) -> Result<AppendInfo, LogError> {
        self.check_online()?;
        let now = self.clock.now_ms();
        let mut state = self.lock();
        if self.following.load(Ordering::Acquire) {
            return Err(LogError::NotLeading);
        }
        let config = Arc::clone(&state.config);
        if batch.size() > config.max_message_bytes {
            return Err(LogError::BatchTooLarge {
                size: batch.size(),
                max: config.max_message_bytes,
            });
        }
        let log_append_time =
            (config.timestamp_type == TimestampType::LogAppendTime).then_some(now);
        let producer = producer_batch(batch);
        if let Some(producer) = &producer {
            if let SequenceCheck::Duplicate(original) = state.producers.check(producer)? {
                // A retry of a batch already appended: answer with where it went.
                return Ok(AppendInfo {
                    base_offset: original.base_offset,
                    last_offset: original.last_offset,
                    log_append_time_ms: log_append_time.map_or(-1, |_| original.timestamp),
                    log_start_offset: state.log_start_offset(),
                    leader_epoch: self.leader_epoch(),
                });
            }
        }
        self.roll_if_needed(&mut state, batch.size() as u64, now)?;
        let base_offset = state.log_end_offset();
        let last_offset = base_offset + i64::from(batch.last_offset_delta());
        let leader_epoch = self.leader_epoch();
        let header = stamped_header(
            batch,
            AppendStamp {
                base_offset,
                partition_leader_epoch: leader_epoch,
                log_append_time_ms: log_append_time,
            },
        );
        let max_timestamp = log_append_time.unwrap_or_else(|| batch.max_timestamp());
        Self::write_batch(
            &mut state,
            &header,
            batch,
            base_offset,
            max_timestamp,
            producer.as_ref(),
        )?;
        let log_start_offset = state.log_start_offset();
        self.publish_end(&mut state);
        drop(state);
        Ok(AppendInfo {
            base_offset,
            last_offset,
            log_append_time_ms: log_append_time.unwrap_or(-1),
            log_start_offset,
            leader_epoch,
        })
    }

    /// Ends `producer_id`'s transaction in this partition with a COMMIT or ABORT marker.
    pub fn append_marker(
        &self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
    ) -> Result<AppendInfo, LogError> {
        self.lock().producers.check_marker(producer_id, epoch)?;
        let batch = control::marker_batch(
            producer_id,
            epoch,
            commit,
            coordinator_epoch,
            self.clock.now_ms(),
        )
        .map_err(|message| LogError::Io(std::io::Error::other(message)))?;
        self.append(&BatchView::parse(&batch)?)
    }

    /// [`Partition::append_marker`], durable (per the flush policy) and, on a replicated
    /// partition, on every in-sync replica (at most `replicas_timeout`) when it returns: how
    /// the transaction coordinator and WriteTxnMarkers both end a transaction here.
    pub async fn write_marker(
        &self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
        replicas_timeout: std::time::Duration,
    ) -> Result<AppendInfo, LogError> {
        let marker = self.append_marker(producer_id, epoch, commit, coordinator_epoch)?;
        self.wait_stored(&marker, replicas_timeout).await?;
        Ok(marker)
    }

    /// Writes a stamped batch at the log end and keeps the producer and transaction state
    /// in step with it: the part of an append a leader and a follower share.
    pub(super) fn write_batch(
        state: &mut LogState,
        header: &[u8; BATCH_HEADER_BYTES],
        batch: &BatchView<'_>,
        base_offset: i64,
        max_timestamp: i64,
        producer: Option<&ProducerBatch>,
    ) -> Result<(), LogError> {
        let last_offset = base_offset + i64::from(batch.last_offset_delta());
        let active = state.segments.len() - 1;
        state.segments[active].append(header, batch, last_offset, max_timestamp)?;
        state.records_since_flush += batch.records_count() as u64;
        if let Some(producer) = producer {
            state
                .producers
                .record(producer, base_offset, last_offset, max_timestamp);
        }
        if batch.is_transactional() {
            match batch
                .is_control()
                .then(|| control::marker_kind(batch.bytes()))
                .flatten()
            {
                Some(commit) => state
                    .txns
                    .on_marker(batch.producer_id(), commit, base_offset),
                None if !batch.is_control() => state.txns.on_data(batch.producer_id(), base_offset),
                None => {}
            }
        }
        Ok(())
    }

    pub(super) fn roll_if_needed(
        &self,
        state: &mut LogState,
        batch_size: u64,
        now: i64,
    ) -> Result<(), LogError> {
        let active = state.active();
        let full = !active.has_room_for(batch_size, state.config.segment_bytes);
        let aged = !active.is_empty() && now - active.created_at_ms() >= state.config.segment_ms;
        if !(full || aged) {
            return Ok(());
        }
        let next = Segment::create(
            &self.dir,
            active.next_offset(),
            state.config.index_interval_bytes,
            now,
        )?;
        tracing::debug!(topic = %self.topic, partition = self.index, base_offset = next.base_offset(), "rolled segment");
        let rolled = active.log_file();
        state.rolled_unsynced.push(rolled);
        state.segments.push(next);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{append, open, test_config};
    use super::*;
    use crate::log::{Isolation, LogConfig};

    #[test]
    fn offsets_are_contiguous_across_rolls() {
        let dir = tempfile::tempdir().unwrap();
        let partition = open(dir.path(), test_config(), false);
        let mut expected = 0;
        for i in 1..=40 {
            let info = append(&partition, i % 5 + 1, i64::from(i));
            assert_eq!(info.base_offset, expected);
            expected = info.last_offset + 1;
        }
        assert!(partition.segment_count() > 3, "1 KiB segments rolled");
        assert_eq!(partition.log_end_offset(), expected);
        for offset in 0..expected {
            let read = partition
                .read(offset, 64, true, Isolation::ReadUncommitted)
                .unwrap();
            let first = BatchView::parse(&read.records).unwrap();
            assert!(first.base_offset() <= offset && offset <= first.last_offset());
        }
        assert!(partition
            .read(expected, 1000, true, Isolation::ReadUncommitted)
            .unwrap()
            .records
            .is_empty());
        assert!(matches!(
            partition.read(expected + 1, 1000, true, Isolation::ReadUncommitted),
            Err(LogError::OffsetOutOfRange { .. })
        ));
    }

    #[test]
    fn log_append_time_stamps_the_broker_clock() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            timestamp_type: TimestampType::LogAppendTime,
            ..test_config()
        };
        let partition = open(dir.path(), config, false);
        let info = append(&partition, 3, 5);
        assert_eq!(info.log_append_time_ms, 1_000);
        let read = partition
            .read(0, 4096, true, Isolation::ReadUncommitted)
            .unwrap();
        let batch = BatchView::parse(&read.records).unwrap();
        assert_eq!(batch.max_timestamp(), 1_000);
    }
}
