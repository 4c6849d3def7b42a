//! Opening a partition: finishing interrupted compaction swaps, scanning segments from the
//! recovery point (a torn tail is truncated, and every later segment removed), and rebuilding
//! producer and transaction state from the snapshot and the log after it.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI16, AtomicI32, AtomicI64};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::compaction::finish_interrupted_cleaning;
use super::producers::load_producer_states;
use super::{LogState, Partition, KEEP_PRODUCER_CODEC};
use crate::clock::SharedClock;
use crate::log::leader_epochs::LeaderEpochs;
use crate::log::producer_state::Snapshot;
use crate::log::segment::{self, Segment};
use crate::log::{checkpoint, disk, LogConfig, LogError};

impl Partition {
    /// Opens the partition in `dir`, creating an empty log if it has no segment. With
    /// `recover`, segments from the recovery point on are validated and torn tails truncated.
    pub fn open(
        topic: &str,
        index: i32,
        dir: &Path,
        config: Arc<LogConfig>,
        recover: bool,
        clock: SharedClock,
    ) -> Result<Self, LogError> {
        fs::create_dir_all(dir)?;
        let now = clock.now_ms();
        let swapped = finish_interrupted_cleaning(dir)?;
        let mut base_offsets: Vec<i64> = fs::read_dir(dir)?
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| segment::parse_log_file_name(&entry.file_name().to_string_lossy()))
            .collect();
        base_offsets.sort_unstable();
        let scan = SegmentScan {
            topic,
            index,
            dir,
            config: &config,
            now,
        };
        let checkpointed_start = checkpoint::read_log_start_offset(dir);
        if let Some(start) = checkpointed_start {
            scan.remove_below(&mut base_offsets, start)?;
        }
        let recovery_point = checkpoint::read_recovery_point(dir);
        let (mut segments, recover) =
            scan.load(&base_offsets, &swapped, recovery_point, recover)?;
        // A crash can leave the log ending below its start: DeleteRecords or retention moved
        // the start (durably) past records that were never flushed. As Kafka does, the log
        // then starts again, empty, at its start, so that deleted offsets are not reused.
        let log_end = segments.last().map_or(0, Segment::next_offset);
        if let Some(start) = checkpointed_start.filter(|&start| start > log_end) {
            tracing::warn!(
                topic,
                partition = index,
                log_end,
                log_start = start,
                "the log ends below its start after a crash; it starts again, empty, at its start"
            );
            for segment in segments.drain(..) {
                let base_offset = segment.base_offset();
                drop(segment);
                segment::remove_files(dir, base_offset)?;
            }
        }
        let created = segments.is_empty();
        if created {
            let base_offset = checkpointed_start.unwrap_or(0);
            segments.push(Segment::create(
                dir,
                base_offset,
                config.index_interval_bytes,
                now,
            )?);
        }
        if recover || created {
            // What survived the crash counts as durable from here on (the durable offset
            // starts at the log end): the segments' contents, and their directory entries.
            // A segment created here (a new log, or one starting again at its start, the
            // old segments removed) has its entry durable before anything is appended to
            // it: a flush syncs only the segment's data.
            segments.iter().try_for_each(Segment::sync_all)?;
            disk::sync_dir(dir)?;
        }
        let log_end_offset = segments[segments.len() - 1].next_offset();
        // Recovery ended the log below its recovery point (a disk that lied kept the
        // checkpoint, not the records): the point comes down with it, durably, before
        // anything is appended, or the next recovery would trust segments that lost their
        // tails.
        let recovery_point = match recovery_point > log_end_offset {
            true => {
                checkpoint::write_recovery_point(dir, log_end_offset)?;
                log_end_offset
            }
            false => recovery_point,
        };
        // The checkpoint is the log start: compaction may have removed the first segments
        // without moving it. Otherwise the log starts no earlier than its first segment (as
        // Kafka's log loader has it): a checkpoint that a lying disk lost may lie below
        // segments deleted since. Without one, the log starts at its first segment.
        let first_base = segments[0].base_offset();
        let log_start_offset = match checkpointed_start {
            Some(start) if config.compact_enabled => start,
            Some(start) => start.max(first_base),
            None => first_base,
        }
        .min(log_end_offset);
        let Snapshot {
            states: producers,
            txns,
            ..
        } = load_producer_states(dir, &segments, log_start_offset)?;
        let mut epochs = LeaderEpochs::new(checkpoint::read_leader_epochs(dir).unwrap_or_default());
        let truncated = epochs.truncate_after(log_end_offset);
        if epochs.latest().is_none() {
            epochs.assign(0, 0);
        }
        if truncated || checkpoint::read_leader_epochs(dir).is_none() {
            checkpoint::write_leader_epochs(dir, epochs.entries())?;
        }
        let leader_epoch = AtomicI32::new(epochs.latest().unwrap_or_default());
        let compacted = config.compact_enabled;
        let codec = config.compression.unwrap_or(KEEP_PRODUCER_CODEC);
        let min_insync_replicas = config.min_insync_replicas;
        let state = LogState {
            config,
            segments,
            rolled_unsynced: Vec::new(),
            recovery_point,
            records_since_flush: 0,
            last_flush_ms: now,
            producers,
            txns,
            log_start_offset,
            epochs,
            high_watermark: log_end_offset,
            replicated_to: log_end_offset,
            durable_high_watermark: false,
        };
        Ok(Self {
            topic: topic.to_owned(),
            index,
            dir: dir.to_owned(),
            leader_epoch,
            clock,
            state: Mutex::new(state),
            end_offset: watch::Sender::new(log_end_offset),
            replicated: AtomicBool::new(false),
            following: AtomicBool::new(false),
            in_sync_replicas: AtomicI32::new(1),
            min_insync_replicas: AtomicI32::new(min_insync_replicas),
            durable_offset: AtomicI64::new(log_end_offset),
            flush_lock: tokio::sync::Mutex::new(()),
            closed_segments_lock: Mutex::new(()),
            cleaned_up_to: AtomicI64::new(0),
            compacted: AtomicBool::new(compacted),
            codec: AtomicI16::new(codec),
            sync_failed: AtomicBool::new(false),
        })
    }
}

/// What opening a partition needs to load its segments.
struct SegmentScan<'a> {
    topic: &'a str,
    index: i32,
    dir: &'a Path,
    config: &'a LogConfig,
    now: i64,
}

impl SegmentScan<'_> {
    /// Removes the segments wholly below the log start `start`: they hold nothing readable.
    /// A crash came between the checkpoint that moved the start and their deletion (or a
    /// disk that lied lost the deletion). They go, as retention would have removed them,
    /// before their tails are looked at.
    fn remove_below(&self, base_offsets: &mut Vec<i64>, start: i64) -> Result<(), LogError> {
        let below = base_offsets
            .windows(2)
            .take_while(|pair| pair[1] <= start)
            .count();
        for &base_offset in &base_offsets[..below] {
            segment::remove_files(self.dir, base_offset)?;
        }
        base_offsets.drain(..below);
        Ok(())
    }

    /// Opens the segments at `base_offsets` (ascending), scanning with `recover` those that
    /// may hold offsets at or past `recovery_point`, and those compaction just `swapped` in.
    /// The log ends at the first torn tail or the first segment that stops short of the
    /// next one: later segments are removed. Returns the segments and whether the log was
    /// recovered (a torn or emptied segment in a cleanly shut down log has it recovered after
    /// all).
    fn load(
        &self,
        base_offsets: &[i64],
        swapped: &[i64],
        recovery_point: i64,
        recover: bool,
    ) -> Result<(Vec<Segment>, bool), LogError> {
        let Self {
            topic,
            index,
            dir,
            config,
            now,
        } = *self;
        let mut segments = Vec::with_capacity(base_offsets.len().max(1));
        let mut recover = recover;
        'load: loop {
            segments.clear();
            for (at, &base_offset) in base_offsets.iter().enumerate() {
                // Whether it may hold offsets at or past the recovery point: the active segment,
                // and any whose successor starts past it (a truncation leaves the recovery
                // point inside a segment).
                let unflushed = base_offsets
                    .get(at + 1)
                    .is_none_or(|&next| next > recovery_point);
                let scan = (recover && unflushed) || swapped.contains(&base_offset);
                let (segment, report) =
                    Segment::open(dir, base_offset, config.index_interval_bytes, scan, now)?;
                let torn = report.filter(|report| report.truncated_bytes > 0);
                // A crash can also lose a closed segment's tail whole, at a batch boundary (or
                // all of it): then it ends before the next segment begins. A compacted log has
                // such gaps anyway, so there only an empty segment counts (the cleaner removes
                // the segments it empties, and no roll leaves one). An empty closed segment
                // counts even where the log was not scanned.
                let short = base_offsets.get(at + 1).is_some_and(|&next| {
                    match scan && !config.compact_enabled {
                        true => segment.next_offset() < next,
                        false => segment.is_empty(),
                    }
                });
                if (torn.is_some() || short) && !recover {
                    // Only a disk that acknowledged fsyncs it did not do tears a cleanly shut
                    // down log or empties one of its closed segments: the clean shutdown is
                    // not trusted, and the log is recovered (which also makes the removal of
                    // what follows the damage durable).
                    tracing::warn!(
                        topic,
                        partition = index,
                        base_offset,
                        "a segment of a cleanly shut down log is torn or empty; recovering the log"
                    );
                    recover = true;
                    continue 'load;
                }
                if let Some(report) = &torn {
                    tracing::warn!(
                        topic,
                        partition = index,
                        base_offset,
                        valid_bytes = report.valid_bytes,
                        truncated_bytes = report.truncated_bytes,
                        "recovery truncated a torn segment tail"
                    );
                } else if short {
                    tracing::warn!(
                        topic,
                        partition = index,
                        base_offset,
                        next_offset = segment.next_offset(),
                        "recovery found a segment ending before the next one begins"
                    );
                }
                segments.push(segment);
                if torn.is_some() || short {
                    // Everything after the first invalid byte or the first gap is gone, later
                    // segments included.
                    for &later in &base_offsets[at + 1..] {
                        segment::remove_files(dir, later)?;
                    }
                    break;
                }
            }
            break;
        }
        Ok((segments, recover))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{append, open, test_config};
    use super::super::AppendInfo;
    use crate::log::{segment, Isolation};
    use crate::records::BatchView;
    use proptest::prelude::*;

    /// Cuts the file at `path` to `len` bytes, as a crash can leave it.
    fn truncate(path: &std::path::Path, len: u64) {
        let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        file.set_len(len).unwrap();
    }

    #[test]
    fn reopen_after_clean_and_unclean_close_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        let partition = open(dir.path(), test_config(), false);
        for i in 0..25 {
            append(&partition, 3, i);
        }
        partition.sync_for_shutdown().unwrap();
        let end = partition.log_end_offset();
        drop(partition);
        for recover in [false, true] {
            let reopened = open(dir.path(), test_config(), recover);
            assert_eq!(reopened.log_end_offset(), end);
            assert_eq!(reopened.log_start_offset(), 0);
        }
    }

    /// A crash can lose a closed segment's tail whole (here all of it) while a later
    /// segment survives: the log ends where that segment does.
    #[test]
    fn a_segment_ending_before_the_next_one_begins_ends_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let partition = open(dir.path(), test_config(), false);
        for i in 0..25 {
            append(&partition, 3, i);
        }
        let (emptied, base, later) = {
            let state = partition.lock();
            assert!(state.segments.len() >= 3);
            let emptied = &state.segments[1];
            let later = state.segments[2].base_offset();
            (
                emptied.log_path().to_path_buf(),
                emptied.base_offset(),
                later,
            )
        };
        drop(partition);
        truncate(&emptied, 0);
        let recovered = open(dir.path(), test_config(), true);
        assert_eq!(recovered.log_end_offset(), base);
        assert!(!dir.path().join(segment::file_name(later, "log")).exists());
        assert_eq!(append(&recovered, 1, 99).base_offset, base);
    }

    /// A truncation leaves the recovery point inside a segment: what follows it there was
    /// never flushed, so recovery checks that segment too (here its tail went whole).
    #[test]
    fn a_segment_holding_the_recovery_point_is_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let partition = open(dir.path(), test_config(), false);
        for i in 0..25 {
            append(&partition, 3, i);
        }
        let (first, next) = {
            let state = partition.lock();
            assert!(state.segments.len() >= 2);
            (
                state.segments[0].log_path().to_path_buf(),
                state.segments[1].base_offset(),
            )
        };
        drop(partition);
        let batch_bytes = std::fs::metadata(&first).unwrap().len() / (next as u64 / 3);
        crate::log::checkpoint::write_recovery_point(dir.path(), 3).unwrap();
        // Two batches, offsets 0 to 5, survive.
        truncate(&first, 2 * batch_bytes);
        let recovered = open(dir.path(), test_config(), true);
        assert_eq!(recovered.log_end_offset(), 6);
        assert!(!dir.path().join(segment::file_name(next, "log")).exists());
    }

    /// A disk that lied kept a recovery point past what it kept of the log: recovery ends
    /// the log at the first gap and brings the recovery point down to the log end, so that
    /// the segments rolled from there are scanned after the next crash.
    #[test]
    fn a_recovery_point_past_the_recovered_log_end_comes_down() {
        let dir = tempfile::tempdir().unwrap();
        let partition = open(dir.path(), test_config(), false);
        for i in 0..25 {
            append(&partition, 3, i);
        }
        let first = partition.lock().segments[0].log_path().to_path_buf();
        drop(partition);
        crate::log::checkpoint::write_recovery_point(dir.path(), 1000).unwrap();
        truncate(&first, 0);
        let recovered = open(dir.path(), test_config(), true);
        assert_eq!(recovered.log_end_offset(), 0);
        assert_eq!(crate::log::checkpoint::read_recovery_point(dir.path()), 0);
    }

    /// A disk that acknowledged fsyncs it did not do: behind a clean shutdown, the recovery
    /// point is gone, the first segment lost its last batch and the last one its contents.
    /// Finding the torn segment, recovery does not trust the clean shutdown: it scans the
    /// log and ends it where the first gap begins.
    #[test]
    fn a_torn_segment_behind_a_clean_shutdown_recovers_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let partition = open(dir.path(), test_config(), false);
        for i in 0..25 {
            append(&partition, 3, i);
        }
        let (paths, second) = {
            let state = partition.lock();
            assert!(state.segments.len() >= 3);
            let paths = state.segments.iter().map(|s| s.log_path().to_path_buf());
            (paths.collect::<Vec<_>>(), state.segments[1].base_offset())
        };
        partition.sync_for_shutdown().unwrap();
        drop(partition);
        std::fs::remove_file(dir.path().join(crate::log::checkpoint::RECOVERY_POINT_FILE)).unwrap();
        let first_bytes = std::fs::metadata(&paths[0]).unwrap().len();
        let batch_bytes = first_bytes / (second as u64 / 3);
        truncate(&paths[0], first_bytes - batch_bytes);
        let last = paths.last().unwrap();
        let garbage = vec![7u8; std::fs::metadata(last).unwrap().len() as usize];
        std::fs::write(last, garbage).unwrap();

        let recovered = open(dir.path(), test_config(), false);
        assert_eq!(recovered.log_end_offset(), second - 3);
        assert_eq!(
            recovered.lock().segments.len(),
            1,
            "every later segment is gone"
        );
    }

    /// A log-start checkpoint lost with its old contents (replaced while a disk lied) does
    /// not take the log start below its first segment.
    #[test]
    fn the_log_start_is_never_below_the_first_segment() {
        let dir = tempfile::tempdir().unwrap();
        let partition = open(dir.path(), test_config(), false);
        for i in 0..25 {
            append(&partition, 3, i);
        }
        let second = partition.lock().segments[1].base_offset();
        partition.delete_records_before(second).unwrap();
        partition.apply_retention().unwrap();
        assert_eq!(partition.lock().segments[0].base_offset(), second);
        drop(partition);
        std::fs::write(
            dir.path()
                .join(crate::log::checkpoint::LOG_START_OFFSET_FILE),
            "1",
        )
        .unwrap();
        assert_eq!(
            open(dir.path(), test_config(), true).log_start_offset(),
            second
        );
        std::fs::write(
            dir.path()
                .join(crate::log::checkpoint::LOG_START_OFFSET_FILE),
            "0\n",
        )
        .unwrap();
        assert_eq!(
            open(dir.path(), test_config(), true).log_start_offset(),
            second
        );
    }

    /// A segment wholly below the log start (its deletion lost) goes before recovery looks
    /// at it: its lost tail does not end the log there.
    #[test]
    fn a_segment_below_the_log_start_does_not_end_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let partition = open(dir.path(), test_config(), false);
        for i in 0..25 {
            append(&partition, 3, i);
        }
        let (first, second) = {
            let state = partition.lock();
            (
                state.segments[0].log_path().to_path_buf(),
                state.segments[1].base_offset(),
            )
        };
        let end = partition.log_end_offset();
        drop(partition);
        // DeleteRecords moved the start; the crash came before the segment went.
        crate::log::checkpoint::write_log_start_offset(dir.path(), second).unwrap();
        truncate(&first, 0);
        let recovered = open(dir.path(), test_config(), true);
        assert_eq!(recovered.log_end_offset(), end);
        assert_eq!(recovered.log_start_offset(), second);
        assert!(!first.exists());
    }

    /// DeleteRecords moved the log start past records a crash then lost: the log starts
    /// again, empty, at its start, and the deleted offsets are not handed out again.
    #[test]
    fn a_log_ending_below_its_start_starts_again_empty_there() {
        let dir = tempfile::tempdir().unwrap();
        let partition = open(dir.path(), test_config(), false);
        for i in 0..10 {
            append(&partition, 3, i);
        }
        assert_eq!(partition.delete_records_before(20).unwrap(), 20);
        drop(partition);
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|extension| extension == "log") {
                truncate(&path, 0);
            }
        }
        let recovered = open(dir.path(), test_config(), true);
        assert_eq!(recovered.log_start_offset(), 20);
        assert_eq!(recovered.log_end_offset(), 20);
        assert_eq!(append(&recovered, 1, 99).base_offset, 20);
    }

    /// Counts the fsyncs of one directory's entries (every fsync still runs).
    struct DirSyncs {
        dir: std::path::PathBuf,
        count: std::sync::atomic::AtomicUsize,
    }

    impl crate::log::disk::Interceptor for DirSyncs {
        fn sync(&self, target: crate::log::disk::Target<'_>) -> Option<std::io::Result<()>> {
            if matches!(target, crate::log::disk::Target::Dir(dir) if dir == self.dir) {
                self.count
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            None
        }

        fn room(&self, _file: &std::fs::File, _len: usize) -> Option<usize> {
            None
        }
    }

    /// A cleanly shut down log found ending below its start (a disk that lied kept the
    /// marker, not the records) starts again at its start. The new segment's directory
    /// entry is made durable at once: a flush syncs only the segment's data.
    #[test]
    fn a_log_starting_again_behind_a_clean_shutdown_syncs_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let partition = open(dir.path(), test_config(), false);
        append(&partition, 3, 0);
        assert_eq!(partition.delete_records_before(3).unwrap(), 3);
        let first = partition.lock().segments[0].log_path().to_path_buf();
        drop(partition);
        truncate(&first, 0);
        let syncs = std::sync::Arc::new(DirSyncs {
            dir: dir.path().to_owned(),
            count: Default::default(),
        });
        let intercepting = crate::log::disk::intercept(syncs.clone());
        let reopened = open(dir.path(), test_config(), false);
        drop(intercepting);
        assert_eq!(reopened.log_end_offset(), 3);
        assert!(!first.exists());
        assert!(
            syncs.count.load(std::sync::atomic::Ordering::Relaxed) > 0,
            "the directory was synced"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Random appends, a crash that tears the active segment at a random byte, recovery:
        /// every batch that ended before the tear is still there at its offset.
        #[test]
        fn crash_at_random_byte_keeps_whole_batches(counts in proptest::collection::vec(1i32..6, 1..40), cut_fraction in 0.0f64..1.0) {
            let dir = tempfile::tempdir().unwrap();
            let partition = open(dir.path(), test_config(), false);
            let appended: Vec<AppendInfo> = counts.iter().map(|&count| append(&partition, count, 7)).collect();
            let active = {
                let state = partition.lock();
                (state.active().log_path().to_path_buf(), state.active().base_offset())
            };
            drop(partition);
            let len = std::fs::metadata(&active.0).unwrap().len();
            let cut = (len as f64 * cut_fraction) as u64;
            truncate(&active.0, cut);
            let recovered = open(dir.path(), test_config(), true);
            let end = recovered.log_end_offset();
            for info in &appended {
                if info.last_offset < end {
                    let read = recovered.read(info.base_offset, 1 << 16, true, Isolation::ReadUncommitted).unwrap();
                    let batch = BatchView::parse(&read.records).unwrap();
                    prop_assert_eq!(batch.base_offset(), info.base_offset);
                    prop_assert_eq!(batch.last_offset(), info.last_offset);
                } else {
                    prop_assert!(info.base_offset >= end, "a batch is kept whole or not at all");
                }
            }
            prop_assert!(end >= active.1);
        }
    }
}
