//! One compaction pass over a partition (the cleaner in `log/cleaner.rs` decides what each
//! record becomes) and the crash-safe swap of a cleaned segment: `.cleaned` is being written
//! (deleted on open), `.swap` is complete and replaces the segment (finished on open).

use std::fs::{self, File};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::Partition;
use crate::log::cleaner::{self, CleanRules, DirtySegment};
use crate::log::segment::{self, Segment};
use crate::log::{checkpoint, disk, LogError};

const CLEANED_SUFFIX: &str = "cleaned";
const SWAP_SUFFIX: &str = "swap";

/// What one compaction pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanReport {
    pub segments: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub records_removed: u64,
}

impl Partition {
    /// One compaction pass (see [`cleaner`]) when the topic is compacted and enough of its
    /// compactable bytes are new: rewrites the eligible closed segments, each replaced
    /// atomically. `dedupe_limit` bounds the key map (`log.cleaner.dedupe.buffer.size`).
    pub fn clean(&self, dedupe_limit: usize) -> Result<CleanReport, LogError> {
        // Most partitions are not compacted: skip them without taking any lock.
        if !self.is_compacted() {
            return Ok(CleanReport::default());
        }
        // The cleaner works below the recovery point only, and a flush moves that to the
        // active segment (usually it is there already). Below it, records are durable, so a
        // record is only ever dropped for a newer one no crash can lose (or the key would
        // lose every value); and the producer-state snapshot covers it, so recovery never
        // needs the idempotent producers' batches compaction drops to rebuild their state.
        let active_base = self.lock().active().base_offset();
        self.flush_blocking(active_base)?;
        let _changing = self.change_closed_segments();
        let now = self.clock.now_ms();
        let (segments, aborted, producers_last_batch, config) = {
            let state = self.lock();
            let config = Arc::clone(&state.config);
            if !config.compact_enabled {
                return Ok(CleanReport::default());
            }
            let stable = state
                .txns
                .last_stable_offset(state.log_start_offset(), state.log_end_offset())
                .min(state.recovery_point);
            let closed = &state.segments[..state.segments.len() - 1];
            let eligible: Vec<DirtySegment> = closed
                .iter()
                .take_while(|segment| {
                    segment.next_offset() <= stable
                        && now.saturating_sub(segment.max_timestamp())
                            >= config.min_compaction_lag_ms
                })
                .map(|segment| DirtySegment {
                    base_offset: segment.base_offset(),
                    next_offset: segment.next_offset(),
                    file: segment.log_file(),
                    size: segment.size(),
                })
                .collect();
            let total: u64 = eligible.iter().map(|segment| segment.size).sum();
            let cleaned_up_to = self.cleaned_up_to.load(Ordering::Acquire);
            let dirty: u64 = eligible
                .iter()
                .filter(|segment| segment.next_offset > cleaned_up_to)
                .map(|segment| segment.size)
                .sum();
            if dirty == 0 || (dirty as f64) < config.min_cleanable_dirty_ratio * total as f64 {
                return Ok(CleanReport::default());
            }
            let producers_last_batch = state
                .producers
                .producers()
                .filter_map(|(id, entry)| Some((id, entry.last_base_offset()?)))
                .collect::<std::collections::HashMap<_, _>>();
            (
                eligible,
                state.txns.aborted_between(0, stable),
                producers_last_batch,
                config,
            )
        };
        let (newest, covered) = cleaner::newest_offsets(&segments, &aborted, dedupe_limit)?;
        let rules = CleanRules {
            newest: &newest,
            aborted: &aborted,
            producers_last_batch: &producers_last_batch,
            tombstone_horizon_ms: now.saturating_sub(config.delete_retention_ms),
        };
        let mut report = CleanReport::default();
        for segment in &segments[..covered] {
            let cleaned_path = self.dir.join(format!(
                "{}.{CLEANED_SUFFIX}",
                segment::file_name(segment.base_offset, "log")
            ));
            let mut out = std::io::BufWriter::new(disk::Writer(File::create(&cleaned_path)?));
            let cleaned = cleaner::clean_segment(segment, &rules, &mut out)?;
            let disk::Writer(file) = out
                .into_inner()
                .map_err(|error| LogError::Io(error.into_error()))?;
            report.bytes_before += segment.size;
            report.bytes_after += cleaned.bytes_written;
            report.records_removed += cleaned.records_removed;
            if cleaned.bytes_written == segment.size {
                drop(file);
                fs::remove_file(&cleaned_path)?;
                continue;
            }
            if cleaned.bytes_written == 0 {
                // Every record superseded: the segment goes instead of staying as an empty file.
                drop(file);
                fs::remove_file(&cleaned_path)?;
                self.remove_emptied_segment(segment.base_offset)?;
                report.segments += 1;
                continue;
            }
            disk::sync_file(&file)?;
            drop(file);
            self.swap_in_cleaned(segment.base_offset, &cleaned_path)?;
            report.segments += 1;
        }
        if let Some(last) = segments[..covered].last() {
            self.cleaned_up_to
                .fetch_max(last.next_offset, Ordering::AcqRel);
        }
        if report.segments > 0 {
            tracing::info!(
                topic = %self.topic,
                partition = self.index,
                segments = report.segments,
                bytes_before = report.bytes_before,
                bytes_after = report.bytes_after,
                records_removed = report.records_removed,
                "compacted"
            );
        }
        Ok(report)
    }

    /// Drops closed segment `base_offset`, which cleaning emptied. Its offsets stay readable
    /// as a gap (a fetch inside it gets the next batch), and the log start offset does not
    /// move, as in Kafka, whose cleaner never moves it: the checkpoint is written first, so a
    /// restart does not take the next segment's base offset for the log start.
    fn remove_emptied_segment(&self, base_offset: i64) -> Result<(), LogError> {
        let log_start_offset = self.lock().log_start_offset;
        checkpoint::write_log_start_offset(&self.dir, log_start_offset)?;
        {
            let mut state = self.lock();
            let at = state.segment_index_for(base_offset);
            let closed = state.segments.len() - 1;
            if at >= closed || state.segments[at].base_offset() != base_offset {
                return Ok(());
            }
            state.segments.remove(at);
        }
        segment::remove_files(&self.dir, base_offset)?;
        tracing::debug!(topic = %self.topic, partition = self.index, base_offset, "removed a segment compaction emptied");
        Ok(())
    }

    /// Replaces closed segment `base_offset` with its cleaned file: rename to `.swap` (from here
    /// a crash completes the swap on open), drop the old indexes, rename over the `.log`,
    /// rebuild the indexes, and put the new segment in the list.
    fn swap_in_cleaned(&self, base_offset: i64, cleaned_path: &Path) -> Result<(), LogError> {
        let log_name = segment::file_name(base_offset, "log");
        let swap_path = self.dir.join(format!("{log_name}.{SWAP_SUFFIX}"));
        fs::rename(cleaned_path, &swap_path)?;
        disk::sync_dir(&self.dir)?;
        complete_swap(&self.dir, base_offset, &swap_path)?;
        let interval = self.lock().config.index_interval_bytes;
        let (segment, _) =
            Segment::open(&self.dir, base_offset, interval, true, self.clock.now_ms())?;
        let mut state = self.lock();
        let at = state.segment_index_for(base_offset);
        if state.segments[at].base_offset() == base_offset {
            state.segments[at] = segment;
        }
        Ok(())
    }
}

/// Removes the old indexes of `base_offset` and renames its `.swap` file over the `.log`.
fn complete_swap(dir: &Path, base_offset: i64, swap_path: &Path) -> std::io::Result<()> {
    for extension in ["index", "timeindex"] {
        match fs::remove_file(dir.join(segment::file_name(base_offset, extension))) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
    }
    fs::rename(swap_path, dir.join(segment::file_name(base_offset, "log")))?;
    disk::sync_dir(dir)
}

/// After a crash during compaction: deletes half-written `.cleaned` files and completes swaps
/// whose `.swap` file was made. Returns the base offsets of swapped segments (to be scanned).
pub(super) fn finish_interrupted_cleaning(dir: &Path) -> std::io::Result<Vec<i64>> {
    let mut swapped = Vec::new();
    for entry in fs::read_dir(dir)?.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(log_name) = name.strip_suffix(&format!(".{CLEANED_SUFFIX}")) {
            if segment::parse_log_file_name(log_name).is_some() {
                fs::remove_file(entry.path())?;
            }
        } else if let Some(log_name) = name.strip_suffix(&format!(".{SWAP_SUFFIX}")) {
            if let Some(base_offset) = segment::parse_log_file_name(log_name) {
                complete_swap(dir, base_offset, &entry.path())?;
                swapped.push(base_offset);
            }
        }
    }
    Ok(swapped)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::testing::test_config;
    use super::*;
    use crate::clock::ManualClock;
    use crate::log::{Isolation, LogConfig};
    use crate::records::BatchView;

    /// Every (offset, key, value) readable from the start, decoded.
    fn read_all_records(partition: &Partition) -> Vec<(i64, Vec<u8>, Option<Vec<u8>>)> {
        let mut records = Vec::new();
        let mut offset = partition.log_start_offset();
        while offset < partition.log_end_offset() {
            let read = partition
                .read(offset, 1 << 20, true, Isolation::ReadUncommitted)
                .unwrap();
            let next = crate::records::batch::last_offset_in(&read.records).unwrap() + 1;
            let mut bytes = read.records;
            for set in kafka_protocol::records::RecordBatchDecoder::decode_all(&mut bytes).unwrap()
            {
                for record in set.records.into_iter().filter(|r| r.offset >= offset) {
                    records.push((
                        record.offset,
                        record.key.unwrap().to_vec(),
                        record.value.map(|v| v.to_vec()),
                    ));
                }
            }
            offset = next;
        }
        records
    }

    fn append_keyed(partition: &Partition, key: &str, value: Option<&str>, timestamp: i64) -> i64 {
        use crate::records::batch::testing::build_keyed_batch;
        let bytes = build_keyed_batch(
            &[(Some(key.as_bytes()), value.map(str::as_bytes), timestamp)],
            kafka_protocol::records::Compression::Gzip,
        );
        partition
            .append(&BatchView::parse(&bytes).unwrap())
            .unwrap()
            .base_offset
    }

    /// A compacted partition in `dir` that any dirty share gets cleaned.
    fn open_compacted(dir: &std::path::Path, recover: bool) -> Partition {
        let config = LogConfig {
            compact_enabled: true,
            min_cleanable_dirty_ratio: 0.0,
            ..test_config()
        };
        let clock = Arc::new(ManualClock::new(1_000));
        Partition::open("t", 0, dir, Arc::new(config), recover, clock).unwrap()
    }

    /// Compaction thins an idempotent producer's batch out (its header keeps the sequence
    /// range, as Kafka's does); rebuilt from the log, the producer's state still ends at the
    /// batch's last sequence, so the producer's next batch is taken.
    #[test]
    fn a_producer_batch_thinned_by_compaction_keeps_its_sequence_range() {
        use crate::records::batch::testing::build_producer_keyed_batch;
        let dir = tempfile::tempdir().unwrap();
        let open = || open_compacted(dir.path(), true);
        let partition = open();
        let keys = ["a", "b", "c", "d"].map(|key| (Some(key.as_bytes()), Some(&b"v"[..]), 1_000));
        let batch = build_producer_keyed_batch(
            Some((7, 0, 0)),
            &keys,
            kafka_protocol::records::Compression::None,
        );
        partition
            .append(&BatchView::parse(&batch).unwrap())
            .unwrap();
        // Newer values of a, b and c, enough of them to roll the producer's batch out of the
        // active segment.
        for round in 0..12 {
            for key in ["a", "b", "c"] {
                append_keyed(&partition, key, Some(&format!("{round:0>100}")), 1_000);
            }
        }
        assert!(partition.clean(1 << 10).unwrap().records_removed >= 3);
        drop(partition);
        std::fs::remove_file(dir.path().join(crate::log::producer_state::SNAPSHOT_FILE)).unwrap();
        let reopened = open();
        let next = build_producer_keyed_batch(
            Some((7, 0, 4)),
            &keys[..1],
            kafka_protocol::records::Compression::None,
        );
        reopened.append(&BatchView::parse(&next).unwrap()).unwrap();
    }

    /// The cleaner works below the recovery point, and makes the closed segments durable
    /// first: a record is only dropped for a newer one no crash can lose.
    #[test]
    fn compaction_makes_its_range_durable_first() {
        let dir = tempfile::tempdir().unwrap();
        let partition = open_compacted(dir.path(), false);
        for round in 0..30 {
            append_keyed(&partition, "k", Some(&format!("{round:0>100}")), 1_000);
        }
        let active_base = partition.lock().active().base_offset();
        assert!(active_base > 0);
        assert_eq!(partition.durable_offset.load(Ordering::Acquire), 0);
        assert!(partition.clean(1 << 10).unwrap().records_removed > 0);
        assert!(partition.durable_offset.load(Ordering::Acquire) >= active_base);
        assert_eq!(checkpoint::read_recovery_point(dir.path()), active_base);
    }

    #[test]
    fn compaction_removes_emptied_segments_without_moving_the_log_start() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(10_000));
        let config = Arc::new(LogConfig {
            compact_enabled: true,
            delete_enabled: false,
            min_cleanable_dirty_ratio: 0.0,
            segment_bytes: 400,
            ..test_config()
        });
        let open = |recover| {
            Partition::open("t", 0, dir.path(), config.clone(), recover, clock.clone()).unwrap()
        };
        let partition = open(false);
        // Old versions of five keys fill the first segments; then every key is rewritten and
        // unique filler rolls the segments holding the rewrites.
        for round in 0..4 {
            for key in 0..5 {
                append_keyed(
                    &partition,
                    &format!("k{key}"),
                    Some(&format!("old{round}")),
                    5_000,
                );
            }
        }
        let rewritten = append_keyed(&partition, "k0", Some("new"), 5_000);
        for key in 1..5 {
            append_keyed(&partition, &format!("k{key}"), Some("new"), 5_000);
        }
        for i in 0..20 {
            append_keyed(&partition, &format!("filler{i}"), Some("f"), 5_000);
        }
        let segments = partition.segment_count();
        let report = partition.clean(1 << 20).unwrap();
        assert!(report.segments > 0, "{report:?}");
        assert!(
            partition.segment_count() < segments,
            "emptied segments are removed"
        );
        let files = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|entry| {
                segment::parse_log_file_name(&entry.unwrap().file_name().to_string_lossy())
            })
            .count();
        assert_eq!(
            files,
            partition.segment_count(),
            "no empty segment file is left"
        );
        assert_eq!(partition.log_start_offset(), 0);
        // A fetch at 0, inside the removed range, gets the first surviving batch.
        let read = partition
            .read(0, 1 << 20, true, Isolation::ReadUncommitted)
            .unwrap();
        let first = BatchView::parse(&read.records).unwrap().base_offset();
        assert_eq!(first, rewritten);
        assert_eq!(read.log_start_offset, 0);
        assert_eq!(
            read_all_records(&partition).first().map(|r| r.0),
            Some(rewritten)
        );

        // Neither retention nor a restart takes the next segment's base for the log start.
        assert_eq!(partition.apply_retention().unwrap(), 0);
        assert_eq!(partition.log_start_offset(), 0);
        let records = read_all_records(&partition);
        partition.sync_for_shutdown().unwrap();
        drop(partition);
        let reopened = open(true);
        assert_eq!(reopened.log_start_offset(), 0);
        assert_eq!(read_all_records(&reopened), records);
    }

    #[test]
    fn compaction_keeps_the_newest_record_per_key_and_swaps_segments_safely() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(10_000));
        let config = LogConfig {
            compact_enabled: true,
            delete_enabled: false,
            min_cleanable_dirty_ratio: 0.0,
            segment_bytes: 600,
            ..test_config()
        };
        let partition = Partition::open(
            "t",
            0,
            dir.path(),
            Arc::new(config.clone()),
            false,
            clock.clone(),
        )
        .unwrap();
        let mut newest = std::collections::HashMap::new();
        for i in 0..60 {
            let key = format!("k{}", i % 5);
            let value = format!("v{i}-{}", "x".repeat(40));
            let offset = append_keyed(&partition, &key, Some(&value), 5_000);
            newest.insert(key, (offset, value));
        }
        let tombstone = append_keyed(&partition, "k4", None, 5_000);
        for i in 0..20 {
            append_keyed(
                &partition,
                "later",
                Some(&format!("l{i}-{}", "y".repeat(40))),
                5_000,
            );
        }
        let segments = partition.segment_count();
        assert!(segments > 5);
        let before = read_all_records(&partition);
        let report = partition.clean(1 << 20).unwrap();
        assert!(
            report.segments > 0 && report.records_removed > 0,
            "{report:?}"
        );
        assert!(report.bytes_after < report.bytes_before);
        let after = read_all_records(&partition);
        // Offsets are kept; each key's newest survives; older versions are gone.
        for (key, (offset, value)) in &newest {
            if key == "k4" {
                continue;
            }
            assert!(after.contains(&(
                *offset,
                key.clone().into_bytes(),
                Some(value.clone().into_bytes())
            )));
            assert_eq!(
                after.iter().filter(|(_, k, _)| k == key.as_bytes()).count(),
                1,
                "{key}"
            );
        }
        assert!(after
            .iter()
            .any(|(offset, key, value)| *offset == tombstone && key == b"k4" && value.is_none()));
        assert!(after.len() < before.len());
        assert!(after.windows(2).all(|pair| pair[0].0 < pair[1].0));
        let remaining = partition.segment_count();
        assert!(remaining < segments, "emptied segments are removed");
        assert_eq!(partition.log_start_offset(), 0);

        // A crash mid-swap: the .swap file is completed on open, a .cleaned file is dropped.
        let first_base = partition.lock().segments[0].base_offset();
        let first = dir.path().join(segment::file_name(first_base, "log"));
        std::fs::copy(&first, first.with_extension("log.swap")).unwrap();
        std::fs::write(&first, b"half-replaced garbage").unwrap();
        std::fs::write(first.with_extension("log.cleaned"), b"half-written").unwrap();
        drop(partition);
        let reopened = Partition::open(
            "t",
            0,
            dir.path(),
            Arc::new(config.clone()),
            true,
            clock.clone(),
        )
        .unwrap();
        assert_eq!(read_all_records(&reopened), after);
        assert!(!first.with_extension("log.swap").exists());
        assert!(!first.with_extension("log.cleaned").exists());

        // Tombstones go once older than delete.retention.ms (when new data makes a pass due).
        reopened.set_config(Arc::new(LogConfig {
            delete_retention_ms: 1_000,
            ..config
        }));
        for i in 0..20 {
            append_keyed(
                &reopened,
                "more",
                Some(&format!("m{i}-{}", "z".repeat(40))),
                10_000,
            );
        }
        reopened.clean(1 << 20).unwrap();
        let last = read_all_records(&reopened);
        assert!(
            !last.iter().any(|(_, key, _)| key == b"k4"),
            "tombstone and its key are gone"
        );
    }
}
