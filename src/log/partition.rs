//! One partition's log: its segments, the append lock that assigns offsets, reads for fetch
//! and ListOffsets, and group-commit fsync.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI16, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::watch;

use crate::clock::SharedClock;
use crate::log::checkpoint;
use crate::log::cleaner::{self, CleanRules, DirtySegment};
use crate::log::file_slice::FileSlice;
use crate::log::producer_state::{self, ProducerBatch, ProducerStates, SequenceCheck, Snapshot};
use crate::log::retention::{self, SegmentSummary};
use crate::log::segment::{self, Segment};
use crate::log::transactions::{AbortedTxn, TxnState};
use crate::log::Isolation;
use crate::log::{LogConfig, LogError, TimestampType};
use crate::records::{control, stamps};
use crate::records::{stamped_header, AppendStamp, BatchView};

/// Where an appended batch landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The broker's timestamp for LogAppendTime topics, -1 for CreateTime.
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
}

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

/// A record found by a timestamp lookup (ListOffsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampMatch {
    pub offset: i64,
    pub timestamp: i64,
}

impl From<stamps::RecordStamp> for TimestampMatch {
    fn from(record: stamps::RecordStamp) -> Self {
        Self {
            offset: record.offset,
            timestamp: record.timestamp,
        }
    }
}

/// Batches read for a fetch, with the partition's offsets at the time of the read: as a
/// range of a segment file ([`Partition::read_slice`]) or as bytes ([`Partition::read`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadResult<R = Bytes> {
    /// Whole batches; may start before the requested offset (clients skip those records).
    pub records: R,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// Aborted transactions in the returned range (read_committed reads only).
    pub aborted: Vec<AbortedTxn>,
}

/// The mutable part of a partition, guarded by the append lock.
#[derive(Debug)]
struct LogState {
    config: Arc<LogConfig>,
    /// Sorted by base offset, never empty; the last one is active.
    segments: Vec<Segment>,
    /// `.log` files of rolled segments not yet fsynced.
    rolled_unsynced: Vec<Arc<File>>,
    recovery_point: i64,
    records_since_flush: u64,
    last_flush_ms: i64,
    /// Idempotent producers' recent batches, rebuilt from the log on open.
    producers: ProducerStates,
    /// Open and aborted transactions, rebuilt with the producers.
    txns: TxnState,
    /// First readable offset: the first segment's base, or later once DeleteRecords moved it.
    log_start_offset: i64,
}

impl LogState {
    fn active(&self) -> &Segment {
        &self.segments[self.segments.len() - 1]
    }

    fn log_end_offset(&self) -> i64 {
        self.active().next_offset()
    }

    fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// Index of the segment that holds `offset` (the last one with base ≤ offset).
    fn segment_index_for(&self, offset: i64) -> usize {
        self.segments
            .partition_point(|segment| segment.base_offset() <= offset)
            .saturating_sub(1)
    }
}

/// A partition's log on disk.
#[derive(Debug)]
pub struct Partition {
    topic: String,
    index: i32,
    dir: PathBuf,
    leader_epoch: i32,
    clock: SharedClock,
    state: Mutex<LogState>,
    /// Log end offset (= high watermark on a single node); fetchers wait on changes.
    end_offset: watch::Sender<i64>,
    /// Every offset below this is fsynced.
    durable_offset: AtomicI64,
    /// Held by the one task running an fsync; waiters queue here and usually find their
    /// offset covered when they get it (group commit).
    flush_lock: tokio::sync::Mutex<()>,
    /// Serializes changes to closed segments: moves of the log start offset (checkpoint
    /// write, then segment removal) and compaction's segment swaps.
    closed_segments_lock: Mutex<()>,
    /// Compaction has covered every closed segment below this offset.
    cleaned_up_to: AtomicI64,
    /// `cleanup.policy` has `compact` (read on every produce, so kept outside the lock).
    compacted: AtomicBool,
    /// `compression.type` as a codec id, or [`KEEP_PRODUCER_CODEC`] (read on every produce).
    codec: AtomicI16,
    /// An fsync failed: what the kernel kept of the unsynced data is unknown, so the partition
    /// takes no more writes until a restart recovers it from the files (Kafka takes the log
    /// directory offline for the same reason).
    sync_failed: AtomicBool,
}

/// What one compaction pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanReport {
    pub segments: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub records_removed: u64,
}

/// Suffixes of compaction's temporary segment files: `.cleaned` is being written (deleted on
/// open), `.swap` is complete and replaces the segment (finished on open).
const CLEANED_SUFFIX: &str = "cleaned";
/// `codec` when batches keep the producer's codec.
const KEEP_PRODUCER_CODEC: i16 = -1;
const SWAP_SUFFIX: &str = "swap";

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
        let recovery_point = checkpoint::read_recovery_point(dir);
        let mut segments = Vec::with_capacity(base_offsets.len().max(1));
        for (at, &base_offset) in base_offsets.iter().enumerate() {
            let is_active = at + 1 == base_offsets.len();
            let scan = (recover && (is_active || base_offset >= recovery_point))
                || swapped.contains(&base_offset);
            let (segment, report) =
                Segment::open(dir, base_offset, config.index_interval_bytes, scan, now)?;
            segments.push(segment);
            if let Some(report) = report.filter(|report| report.truncated_bytes > 0) {
                tracing::warn!(
                    topic,
                    partition = index,
                    base_offset,
                    valid_bytes = report.valid_bytes,
                    truncated_bytes = report.truncated_bytes,
                    "recovery truncated a torn segment tail"
                );
                // Everything after the first invalid byte is gone, later segments included.
                for &later in &base_offsets[at + 1..] {
                    segment::remove_files(dir, later)?;
                }
                break;
            }
        }
        if segments.is_empty() {
            segments.push(Segment::create(dir, 0, config.index_interval_bytes, now)?);
        }
        if recover {
            segments.iter().try_for_each(Segment::sync_all)?;
        }
        let leader_epoch = match checkpoint::read_latest_leader_epoch(dir) {
            Some(epoch) => epoch,
            None => {
                checkpoint::write_leader_epochs(dir, &[(0, 0)])?;
                0
            }
        };
        let Snapshot {
            states: producers,
            txns,
            ..
        } = load_producer_states(dir, &segments)?;
        let log_end_offset = segments[segments.len() - 1].next_offset();
        // The checkpoint is the log start: compaction may have removed the first segments
        // without moving it. Without one, the log starts at its first segment.
        let log_start_offset = checkpoint::read_log_start_offset(dir)
            .unwrap_or_else(|| segments[0].base_offset())
            .min(log_end_offset);
        let compacted = config.compact_enabled;
        let codec = config.compression.unwrap_or(KEEP_PRODUCER_CODEC);
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
        };
        Ok(Self {
            topic: topic.to_owned(),
            index,
            dir: dir.to_owned(),
            leader_epoch,
            clock,
            state: Mutex::new(state),
            end_offset: watch::Sender::new(log_end_offset),
            durable_offset: AtomicI64::new(log_end_offset),
            flush_lock: tokio::sync::Mutex::new(()),
            closed_segments_lock: Mutex::new(()),
            cleaned_up_to: AtomicI64::new(0),
            compacted: AtomicBool::new(compacted),
            codec: AtomicI16::new(codec),
            sync_failed: AtomicBool::new(false),
        })
    }

    /// Held while closed segments change (retention, DeleteRecords, compaction).
    fn change_closed_segments(&self) -> MutexGuard<'_, ()> {
        self.closed_segments_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock(&self) -> MutexGuard<'_, LogState> {
        // A panic while holding the lock leaves the state as consistent as the files are;
        // keep serving rather than poisoning every later request.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }
    pub fn index(&self) -> i32 {
        self.index
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }

    /// Validated-elsewhere batch in, offsets assigned under the append lock, bytes written.
    /// The batch is acknowledged only after [`Partition::flush`] when the policy asks for it.
    pub fn append(&self, batch: &BatchView<'_>) -> Result<AppendInfo, LogError> {
        if self.sync_failed.load(Ordering::Acquire) {
            return Err(LogError::Offline);
        }
        let now = self.clock.now_ms();
        let mut state = self.lock();
        let config = Arc::clone(&state.config);
        if batch.size() > config.max_message_bytes {
            return Err(LogError::BatchTooLarge {
                size: batch.size(),
                max: config.max_message_bytes,
            });
        }
        let log_append_time =
            (config.timestamp_type == TimestampType::LogAppendTime).then_some(now);
        // Sequences are checked for client batches; markers and the coordinators' own
        // transactional batches carry no sequence.
        let sequenced =
            batch.producer_id() >= 0 && !batch.is_control() && batch.base_sequence() >= 0;
        let producer = sequenced.then(|| ProducerBatch {
            producer_id: batch.producer_id(),
            epoch: batch.producer_epoch(),
            first_sequence: batch.base_sequence(),
            record_count: batch.records_count(),
        });
        if let Some(producer) = &producer {
            if let SequenceCheck::Duplicate(original) = state.producers.check(producer)? {
                // A retry of a batch already appended: answer with where it went.
                return Ok(AppendInfo {
                    base_offset: original.base_offset,
                    last_offset: original.last_offset,
                    log_append_time_ms: log_append_time.map_or(-1, |_| original.timestamp),
                    log_start_offset: state.log_start_offset(),
                });
            }
        }
        self.roll_if_needed(&mut state, batch.size() as u64, now)?;
        let base_offset = state.log_end_offset();
        let last_offset = base_offset + i64::from(batch.last_offset_delta());
        let header = stamped_header(
            batch,
            AppendStamp {
                base_offset,
                partition_leader_epoch: self.leader_epoch,
                log_append_time_ms: log_append_time,
            },
        );
        let max_timestamp = log_append_time.unwrap_or_else(|| batch.max_timestamp());
        let active = state.segments.len() - 1;
        state.segments[active].append(&header, batch, last_offset, max_timestamp)?;
        state.records_since_flush += batch.records_count() as u64;
        if let Some(producer) = &producer {
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
        let log_start_offset = state.log_start_offset();
        drop(state);
        self.end_offset.send_replace(last_offset + 1);
        Ok(AppendInfo {
            base_offset,
            last_offset,
            log_append_time_ms: log_append_time.unwrap_or(-1),
            log_start_offset,
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

    /// [`Partition::append_marker`], durable (per the flush policy) when it returns: how the
    /// transaction coordinator and WriteTxnMarkers both end a transaction here.
    pub async fn write_marker(
        &self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
    ) -> Result<AppendInfo, LogError> {
        let marker = self.append_marker(producer_id, epoch, commit, coordinator_epoch)?;
        self.flush(marker.last_offset + 1).await?;
        Ok(marker)
    }

    /// The offset below which every transaction is decided (= high watermark without
    /// open transactions).
    pub fn last_stable_offset(&self) -> i64 {
        let state = self.lock();
        state.txns.last_stable_offset(state.log_end_offset())
    }

    fn roll_if_needed(
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

    /// Whether the `flush.messages` / `flush.ms` policy asks for an fsync now.
    pub fn flush_due(&self) -> bool {
        let state = self.lock();
        let unflushed = state.log_end_offset() > self.durable_offset.load(Ordering::Acquire);
        unflushed
            && (state.records_since_flush >= state.config.flush_messages
                || self.clock.now_ms().saturating_sub(state.last_flush_ms) >= state.config.flush_ms)
    }

    /// Makes every offset below `up_to` durable. Concurrent callers share fsyncs: whoever holds
    /// the flush lock syncs everything appended so far, and the others find their offset covered.
    pub async fn flush(&self, up_to: i64) -> Result<(), LogError> {
        if self.durable_offset.load(Ordering::Acquire) >= up_to {
            return Ok(());
        }
        let _flushing = self.flush_lock.lock().await;
        if self.durable_offset.load(Ordering::Acquire) >= up_to {
            return Ok(());
        }
        let (files, target, active_base, rolled, snapshot) = {
            let mut state = self.lock();
            state.records_since_flush = 0;
            state.last_flush_ms = self.clock.now_ms();
            let mut files = state.rolled_unsynced.clone();
            files.push(state.active().log_file());
            let rolled = state.rolled_unsynced.len();
            // After a roll, also snapshot the producer state (as of the same log end).
            let snapshot = (rolled > 0).then(|| Snapshot {
                offset: state.log_end_offset(),
                states: state.producers.clone(),
                txns: state.txns.clone(),
            });
            (
                files,
                state.log_end_offset(),
                state.active().base_offset(),
                rolled,
                snapshot,
            )
        };
        let dir = self.dir.clone();
        let sync = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let started = std::time::Instant::now();
            files.iter().try_for_each(|file| file.sync_data())?;
            crate::metrics::global().fsync(started.elapsed());
            if let Some(snapshot) = snapshot {
                producer_state::write_snapshot(&dir, &snapshot)?;
                // Also makes the new segments' directory entries durable (fsync of the dir).
                checkpoint::write_recovery_point(&dir, active_base)?;
            }
            Ok(())
        });
        let synced = match sync.await {
            Ok(result) => result,
            Err(join_error) => Err(std::io::Error::other(join_error)),
        };
        if let Err(error) = synced {
            self.sync_failed.store(true, Ordering::Release);
            tracing::error!(topic = %self.topic, partition = self.index, %error, "fsync failed; the partition takes no more writes until the broker restarts");
            return Err(error.into());
        }
        let mut state = self.lock();
        state.rolled_unsynced.drain(..rolled);
        if rolled > 0 {
            state.recovery_point = active_base;
        }
        drop(state);
        self.durable_offset.fetch_max(target, Ordering::AcqRel);
        Ok(())
    }

    /// Syncs the log and every index file and records the active segment as the recovery point.
    pub fn sync_for_shutdown(&self) -> Result<(), LogError> {
        let mut state = self.lock();
        state.segments.iter().try_for_each(Segment::sync_all)?;
        let snapshot = Snapshot {
            offset: state.log_end_offset(),
            states: state.producers.clone(),
            txns: state.txns.clone(),
        };
        producer_state::write_snapshot(&self.dir, &snapshot)?;
        let active_base = state.active().base_offset();
        checkpoint::write_recovery_point(&self.dir, active_base)?;
        state.rolled_unsynced.clear();
        state.recovery_point = active_base;
        self.durable_offset
            .fetch_max(state.log_end_offset(), Ordering::AcqRel);
        Ok(())
    }

    pub fn log_end_offset(&self) -> i64 {
        self.lock().log_end_offset()
    }

    pub fn log_start_offset(&self) -> i64 {
        self.lock().log_start_offset()
    }

    /// A receiver that sees every change of the log end offset, for long-poll fetches.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.end_offset.subscribe()
    }

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
        let high_watermark = state.log_end_offset();
        let last_stable_offset = state.txns.last_stable_offset(high_watermark);
        let log_start_offset = state.log_start_offset();
        if offset < log_start_offset || offset > high_watermark {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset,
                log_end_offset: high_watermark,
            });
        }
        let upper = match isolation {
            Isolation::ReadUncommitted => high_watermark,
            Isolation::ReadCommitted => last_stable_offset,
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

    /// Bytes in the partition's segment files (DescribeLogDirs, metrics).
    pub fn size_bytes(&self) -> u64 {
        self.lock()
            .segments
            .iter()
            .map(|segment| segment.size())
            .sum()
    }

    /// Number of segments (for tests and metrics).
    pub fn segment_count(&self) -> usize {
        self.lock().segments.len()
    }

    /// Whether the topic is compacted (produce then requires keys).
    pub fn is_compacted(&self) -> bool {
        self.compacted.load(Ordering::Relaxed)
    }

    /// The codec produced batches must be stored with (`compression.type`), if not the
    /// producer's.
    pub fn target_codec(&self) -> Option<i16> {
        let codec = self.codec.load(Ordering::Relaxed);
        (codec != KEEP_PRODUCER_CODEC).then_some(codec)
    }

    /// Replaces the config the log runs with (topic config change).
    pub fn set_config(&self, config: Arc<LogConfig>) {
        self.compacted
            .store(config.compact_enabled, Ordering::Relaxed);
        self.codec.store(
            config.compression.unwrap_or(KEEP_PRODUCER_CODEC),
            Ordering::Relaxed,
        );
        self.lock().config = config;
    }

    /// DeleteRecords: makes `offset` (at most the high watermark) the first readable offset,
    /// durably, and deletes the segments entirely below it. Returns the new log start offset.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, LogError> {
        let _changing = self.change_closed_segments();
        let (start, end) = {
            let state = self.lock();
            (state.log_start_offset(), state.log_end_offset())
        };
        if !(0..=end).contains(&offset) {
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

    /// One compaction pass (see [`cleaner`]) when the topic is compacted and enough of its
    /// compactable bytes are new: rewrites the eligible closed segments, each replaced
    /// atomically. `dedupe_limit` bounds the key map (`log.cleaner.dedupe.buffer.size`).
    pub fn clean(&self, dedupe_limit: usize) -> Result<CleanReport, LogError> {
        // Most partitions are not compacted: skip them without taking any lock.
        if !self.is_compacted() {
            return Ok(CleanReport::default());
        }
        let _changing = self.change_closed_segments();
        let now = self.clock.now_ms();
        let (segments, aborted, producers_last_batch, config) = {
            let state = self.lock();
            let config = Arc::clone(&state.config);
            if !config.compact_enabled {
                return Ok(CleanReport::default());
            }
            let stable = state.txns.last_stable_offset(state.log_end_offset());
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
            let mut out = std::io::BufWriter::new(File::create(&cleaned_path)?);
            let cleaned = cleaner::clean_segment(segment, &rules, &mut out)?;
            let file = out
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
            file.sync_all()?;
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
        File::open(&self.dir)?.sync_all()?;
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
    File::open(dir)?.sync_all()
}

/// After a crash during compaction: deletes half-written `.cleaned` files and completes swaps
/// whose `.swap` file was made. Returns the base offsets of swapped segments (to be scanned).
fn finish_interrupted_cleaning(dir: &Path) -> std::io::Result<Vec<i64>> {
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

/// Producer and transaction state as of the end of the log: the snapshot (if it is not past
/// the log end) plus every batch after it.
fn load_producer_states(dir: &Path, segments: &[Segment]) -> Result<Snapshot, LogError> {
    let log_end = segments.last().map_or(0, Segment::next_offset);
    let log_start = segments.first().map_or(0, Segment::base_offset);
    let mut loaded = match producer_state::read_snapshot(dir) {
        Some(snapshot) if (log_start..=log_end).contains(&snapshot.offset) => snapshot,
        _ => Snapshot {
            offset: log_start,
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
                    record_count: batch.header.records_count,
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
pub(crate) mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::records::batch::testing::build_batch;
    use proptest::prelude::*;

    pub fn test_config() -> LogConfig {
        LogConfig {
            segment_bytes: 1024,
            segment_ms: i64::MAX,
            index_interval_bytes: 128,
            max_message_bytes: 1_000_000,
            timestamp_type: TimestampType::CreateTime,
            flush_messages: u64::MAX,
            flush_ms: i64::MAX,
            retention_ms: -1,
            retention_bytes: -1,
            delete_enabled: true,
            compact_enabled: false,
            min_compaction_lag_ms: 0,
            delete_retention_ms: 86_400_000,
            min_cleanable_dirty_ratio: 0.5,
            compression: None,
        }
    }

    fn open(dir: &Path, config: LogConfig, recover: bool) -> Partition {
        Partition::open(
            "t",
            0,
            dir,
            Arc::new(config),
            recover,
            Arc::new(ManualClock::new(1_000)),
        )
        .unwrap()
    }

    fn append(partition: &Partition, count: i32, ts: i64) -> AppendInfo {
        let bytes = build_batch(count, ts, &[count as u8; 100]);
        partition
            .append(&BatchView::parse(&bytes).unwrap())
            .unwrap()
    }

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

    #[tokio::test]
    async fn flush_advances_durable_offset_and_recovery_point() {
        let dir = tempfile::tempdir().unwrap();
        let partition = Arc::new(open(dir.path(), test_config(), false));
        let mut last = 0;
        for i in 0..30 {
            last = append(&partition, 1, i).last_offset;
        }
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let partition = Arc::clone(&partition);
                tokio::spawn(async move { partition.flush(last + 1).await })
            })
            .collect();
        for waiter in waiters {
            waiter.await.unwrap().unwrap();
        }
        assert_eq!(partition.durable_offset.load(Ordering::Acquire), last + 1);
        assert!(checkpoint::read_recovery_point(dir.path()) > 0);
        assert!(!partition.flush_due());
    }

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

    #[test]
    fn flush_policy_by_count_and_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_000));
        let config = LogConfig {
            flush_messages: 5,
            flush_ms: 200,
            ..test_config()
        };
        let partition =
            Partition::open("t", 0, dir.path(), Arc::new(config), false, clock.clone()).unwrap();
        assert!(!partition.flush_due(), "nothing to flush");
        append(&partition, 2, 1);
        assert!(!partition.flush_due());
        append(&partition, 3, 1);
        assert!(partition.flush_due(), "flush.messages reached");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(partition.flush(partition.log_end_offset()))
            .unwrap();
        assert!(!partition.flush_due());
        append(&partition, 1, 1);
        clock.advance(199);
        assert!(!partition.flush_due());
        clock.advance(1);
        assert!(partition.flush_due(), "flush.ms reached");
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
            std::fs::OpenOptions::new().write(true).open(&active.0).unwrap().set_len(cut).unwrap();
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
