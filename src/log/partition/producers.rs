//! Idempotent producers and transactions as one partition knows them: what DescribeProducers
//! reports, producer expiry, the last stable offset, and rebuilding that state from the log
//! when the partition opens.

use std::path::Path;

use super::Partition;
use crate::log::producer_state::{self, ProducerBatch, Snapshot};
use crate::log::segment::Segment;
use crate::log::LogError;
use crate::records::control;

/// An idempotent producer as one partition knows it (DescribeProducers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerSummary {
    pub producer_id: i64,
    pub epoch: i16,
    pub last_sequence: i32,
    pub last_timestamp: i64,
    /// First offset of the producer's transaction still open here (what holds the LSO back).
    pub open_transaction_since: Option<i64>,
}

impl Partition {
    /// The offset below which every transaction is decided (= high watermark without
    /// open transactions).
    pub fn last_stable_offset(&self) -> i64 {
        self.lock().last_stable_offset()
    }

    /// The idempotent producers with state in this partition, sorted by id.
    pub fn producers(&self) -> Vec<ProducerSummary> {
        let state = self.lock();
        let mut producers: Vec<_> = state
            .producers
            .producers()
            .map(|(id, entry)| ProducerSummary {
                producer_id: id,
                epoch: entry.epoch,
                last_sequence: entry.last_sequence(),
                last_timestamp: entry.last_timestamp(),
                open_transaction_since: state.txns.ongoing_since(id),
            })
            .collect();
        producers.sort_unstable_by_key(|producer| producer.producer_id);
        producers
    }

    /// Forgets producers idle for longer than `expiration_ms`; returns how many.
    pub fn expire_producers(&self, expiration_ms: i64) -> usize {
        let oldest = self.clock.now_ms().saturating_sub(expiration_ms);
        self.lock().producers.expire(oldest)
    }
}

/// Producer and transaction state as of the end of the log starting at `log_start`: the
/// snapshot (if it is not past the log end, and knows the log from that start) plus every
/// batch after it.
pub(super) fn load_producer_states(
    dir: &Path,
    segments: &[Segment],
    log_start: i64,
) -> Result<Snapshot, LogError> {
    let log_end = segments.last().map_or(0, Segment::next_offset);
    let first_base = segments.first().map_or(0, Segment::base_offset);
    let mut loaded = match producer_state::read_snapshot(dir) {
        Some(snapshot)
            if (first_base..=log_end).contains(&snapshot.offset)
                && snapshot.log_start <= log_start =>
        {
            snapshot
        }
        _ => Snapshot {
            offset: first_base,
            ..Snapshot::default()
        },
    };
    let from = loaded.offset;
    for segment in segments
        .iter()
        .filter(|segment| segment.next_offset() > from)
    {
        let mut failure = None;
        segment.for_each_batch(|batch| {
            if batch.header.producer_id < 0 || batch.base_offset() < from {
                return;
            }
            if !batch.header.is_control {
                if batch.header.is_transactional {
                    loaded
                        .txns
                        .on_data(batch.header.producer_id, batch.base_offset());
                }
                if batch.header.base_sequence < 0 {
                    return;
                }
                let producer = ProducerBatch {
                    producer_id: batch.header.producer_id,
                    epoch: batch.header.producer_epoch,
                    first_sequence: batch.header.base_sequence,
                    last_offset_delta: batch.header.last_offset_delta,
                };
                loaded.states.record(
                    &producer,
                    batch.base_offset(),
                    batch.last_offset(),
                    batch.header.max_timestamp,
                );

                return;
            }
            match segment.read_batch(batch) {
                Ok(bytes) => {
                    if let Some(commit) = control::marker_kind(&bytes) {
                        loaded.txns.on_marker(
                            batch.header.producer_id,
                            commit,
                            batch.base_offset(),
                        );
                    }
                }
                Err(error) => failure = Some(error),
            }
        })?;
        if let Some(error) = failure {
            return Err(error.into());
        }
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{append, open, test_config};
    use super::*;
    use crate::log::transactions::AbortedTxn;
    use crate::log::{Isolation, LogConfig};
    use crate::records::BatchView;

    #[test]
    fn idempotent_retries_get_their_original_offsets_even_after_reopening() {
        use crate::records::batch::testing::build_idempotent_batch;
        let dir = tempfile::tempdir().unwrap();
        let partition = open(dir.path(), test_config(), false);
        let append = |partition: &Partition, sequence: i32| {
            let bytes = build_idempotent_batch(42, 0, sequence, 2, 5, b"idempotent");
            partition.append(&BatchView::parse(&bytes).unwrap())
        };
        let first = append(&partition, 0).unwrap();
        let second = append(&partition, 2).unwrap();
        assert_eq!((first.base_offset, second.base_offset), (0, 2));
        assert_eq!(append(&partition, 0).unwrap().base_offset, 0, "duplicate");
        assert_eq!(partition.log_end_offset(), 4, "nothing appended twice");
        assert!(
            matches!(append(&partition, 9), Err(LogError::Producer(_))),
            "gap"
        );
        partition.sync_for_shutdown().unwrap();
        drop(partition);
        let reopened = open(dir.path(), test_config(), true);
        assert_eq!(
            append(&reopened, 2).unwrap().base_offset,
            2,
            "state rebuilt from the log"
        );
        assert_eq!(append(&reopened, 4).unwrap().base_offset, 4);
        assert_eq!(
            reopened.producers(),
            vec![ProducerSummary {
                producer_id: 42,
                epoch: 0,
                last_sequence: 5,
                last_timestamp: 5,
                open_transaction_since: None,
            }]
        );
        // A crash after the snapshot: batches past it are replayed from the log.
        drop(reopened);
        let crashed = open(dir.path(), test_config(), true);
        assert_eq!(
            append(&crashed, 4).unwrap().base_offset,
            4,
            "batch after the snapshot found again"
        );
        assert_eq!(crashed.log_end_offset(), 6);
        // A snapshot past the log end (the log was truncated) is ignored.
        let past_the_end = Snapshot {
            offset: 1_000,
            ..Snapshot::default()
        };
        producer_state::write_snapshot(dir.path(), &past_the_end).unwrap();
        drop(crashed);
        let truncated = open(dir.path(), test_config(), true);
        assert_eq!(
            append(&truncated, 0).unwrap().base_offset,
            0,
            "full replay still knows sequence 0"
        );
    }

    /// A snapshot taken once the log start passed an aborted transaction forgot it: a log
    /// found starting lower (a lying disk lost the log-start checkpoint) replays its
    /// segments instead, and reads the transaction as aborted again.
    #[test]
    fn a_snapshot_taken_above_the_log_start_found_is_not_used() {
        use crate::records::batch::testing::build_transactional_batch;
        let dir = tempfile::tempdir().unwrap();
        let config = || LogConfig {
            segment_bytes: 1 << 20,
            ..test_config()
        };
        let partition = open(dir.path(), config(), false);
        let bytes = build_transactional_batch(1, 0, 0, 2, 5, b"txn");
        partition
            .append(&BatchView::parse(&bytes).unwrap())
            .unwrap(); // 0-1
        partition.append_marker(1, 0, false, 0).unwrap(); // abort at 2
        append(&partition, 3, 5); // 3-5
        partition.delete_records_before(3).unwrap();
        partition.sync_for_shutdown().unwrap();
        drop(partition);
        std::fs::remove_file(
            dir.path()
                .join(crate::log::checkpoint::LOG_START_OFFSET_FILE),
        )
        .unwrap();

        let reopened = open(dir.path(), config(), true);
        assert_eq!(reopened.log_start_offset(), 0);
        let read = reopened
            .read(0, 1 << 20, true, Isolation::ReadCommitted)
            .unwrap();
        assert_eq!(
            read.aborted,
            [AbortedTxn {
                producer_id: 1,
                first_offset: 0,
                last_offset: 2
            }]
        );
    }

    #[test]
    fn read_committed_stops_at_the_lso_and_lists_aborted_transactions() {
        use crate::records::batch::testing::build_transactional_batch;
        let dir = tempfile::tempdir().unwrap();
        let partition = open(
            dir.path(),
            LogConfig {
                segment_bytes: 1 << 20,
                ..test_config()
            },
            false,
        );
        let data = |partition: &Partition, producer_id: i64, sequence: i32| {
            let bytes = build_transactional_batch(producer_id, 0, sequence, 2, 5, b"txn");
            partition
                .append(&BatchView::parse(&bytes).unwrap())
                .unwrap()
        };
        assert_eq!(data(&partition, 1, 0).base_offset, 0); // txn 1: 0-1
        append(&partition, 1, 5); // plain record: 2
        assert_eq!(data(&partition, 2, 0).base_offset, 3); // txn 2: 3-4
        assert_eq!(partition.last_stable_offset(), 0, "txn 1 is open");
        let committed = partition
            .read(0, 1 << 20, true, Isolation::ReadCommitted)
            .unwrap();
        assert!(committed.records.is_empty(), "nothing is stable yet");
        assert_eq!(
            partition.append_marker(1, 0, false, 0).unwrap().base_offset,
            5
        ); // abort txn 1
        assert_eq!(partition.last_stable_offset(), 3, "txn 2 still open");
        let committed = partition
            .read(0, 1 << 20, true, Isolation::ReadCommitted)
            .unwrap();
        assert_eq!(committed.last_stable_offset, 3);
        assert_eq!(
            committed.aborted,
            vec![AbortedTxn {
                producer_id: 1,
                first_offset: 0,
                last_offset: 5
            }]
        );
        let batches: Vec<i64> = {
            let mut offsets = Vec::new();
            let mut rest = &committed.records[..];
            while let Ok(view) = BatchView::parse(rest) {
                offsets.push(view.base_offset());
                rest = &rest[view.size()..];
            }
            offsets
        };
        assert_eq!(batches, [0, 2], "batches below the LSO only");
        partition.append_marker(2, 0, true, 0).unwrap(); // commit txn 2 at 6
        assert_eq!(partition.last_stable_offset(), 7);
        let uncommitted = partition
            .read(0, 1 << 20, true, Isolation::ReadUncommitted)
            .unwrap();
        assert!(uncommitted.aborted.is_empty());
        // Reopening (with and without the snapshot) rebuilds the same state.
        partition.sync_for_shutdown().unwrap();
        drop(partition);
        for remove_snapshot in [false, true] {
            if remove_snapshot {
                std::fs::remove_file(dir.path().join(producer_state::SNAPSHOT_FILE)).unwrap();
            }
            let reopened = open(
                dir.path(),
                LogConfig {
                    segment_bytes: 1 << 20,
                    ..test_config()
                },
                true,
            );
            assert_eq!(reopened.last_stable_offset(), 7);
            let read = reopened
                .read(0, 1 << 20, true, Isolation::ReadCommitted)
                .unwrap();
            assert_eq!(
                read.aborted,
                vec![AbortedTxn {
                    producer_id: 1,
                    first_offset: 0,
                    last_offset: 5
                }]
            );
            drop(reopened);
        }
    }

    #[test]
    fn the_lso_never_falls_below_the_log_start() {
        use crate::records::batch::testing::build_transactional_batch;
        let dir = tempfile::tempdir().unwrap();
        let partition = open(dir.path(), test_config(), false);
        let bytes = build_transactional_batch(1, 0, 0, 2, 5, b"txn");
        partition
            .append(&BatchView::parse(&bytes).unwrap())
            .unwrap(); // txn 1: 0-1, open
        append(&partition, 1, 5); // plain record: 2
        assert_eq!(partition.last_stable_offset(), 0);
        partition.delete_records_before(2).unwrap();
        assert_eq!(
            partition.last_stable_offset(),
            2,
            "the open transaction's first offset is gone: the log start bounds the LSO"
        );
        let committed = partition
            .read(2, 1 << 20, true, Isolation::ReadCommitted)
            .unwrap();
        assert_eq!(committed.last_stable_offset, 2);
        assert!(committed.records.is_empty(), "offset 2 is not stable yet");
    }
}
