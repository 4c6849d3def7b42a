//! One partition's log. The struct and its state live here; each concern of it has a file:
//!
//! - `recovery.rs`: opening the log, recovering torn tails, rebuilding producer state
//! - `append.rs`: the append lock that assigns offsets, transaction markers, segment rolls
//! - `flush.rs`: the flush policy and group-commit fsync
//! - `read.rs`: fetch reads (file ranges) and timestamp lookups (ListOffsets)
//! - `producers.rs`: idempotent producers and open transactions as the partition reports them
//! - `log_start.rs`: DeleteRecords and retention, which move the log start offset
//! - `compaction.rs`: one compaction pass and its crash-safe segment swap
//! - `replica.rs`: the replicated side: the high watermark, a follower's appends of the
//!   leader's batches, and truncation to where a follower's log diverged

mod append;
mod compaction;
mod flush;
mod log_start;
mod producers;
mod read;
mod recovery;
mod replica;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI16, AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::watch;

use crate::clock::SharedClock;
use crate::log::leader_epochs::LeaderEpochs;
use crate::log::producer_state::ProducerStates;
use crate::log::segment::Segment;
use crate::log::transactions::{AbortedTxn, TxnState};
use crate::log::LogConfig;
use crate::log::LogError;
use crate::records::stamps;

pub use compaction::CleanReport;
pub use producers::ProducerSummary;

/// Where an appended batch landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The broker's timestamp for LogAppendTime topics, -1 for CreateTime.
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
    /// The leader epoch the batch was stamped with (waiting for the replicas checks that
    /// this replica still leads in it).
    pub leader_epoch: i32,
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
    /// Leader epochs and where each began (`leader-epoch-checkpoint`).
    epochs: LeaderEpochs,
    /// The first offset not known to be on every in-sync replica: consumers read below it.
    /// The log end while the partition is not replicated.
    high_watermark: i64,
    /// A leader's: where its in-sync replicas all hold the log to, and whether the high
    /// watermark also waits for this log's fsync there (`flush.on.ack`).
    replicated_to: i64,
    durable_high_watermark: bool,
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

    /// The offset below which every transaction is decided and replicated.
    fn last_stable_offset(&self) -> i64 {
        self.txns
            .last_stable_offset(self.log_start_offset, self.high_watermark)
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
    /// The newest of the leader epochs: what appended batches are stamped with.
    leader_epoch: AtomicI32,
    clock: SharedClock,
    state: Mutex<LogState>,
    /// The high watermark (the log end unless replicated); fetchers wait on changes.
    end_offset: watch::Sender<i64>,
    /// Whether other replicas decide the high watermark ([`Partition::set_replicated`]).
    replicated: AtomicBool,
    /// A follower's log: only its leader's batches go in ([`Partition::append_replicated`]);
    /// appends of clients and coordinators are refused. Changed under the state lock.
    following: AtomicBool,
    /// The replicas in sync with this log, itself included: the ISR while it leads
    /// followers, otherwise 1.
    in_sync_replicas: AtomicI32,
    /// `min.insync.replicas` of the topic (read on every acks=all produce).
    min_insync_replicas: AtomicI32,
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

/// `codec` when batches keep the producer's codec.
const KEEP_PRODUCER_CODEC: i16 = -1;

impl Partition {
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
        self.leader_epoch.load(Ordering::Acquire)
    }

    /// Leads from here on, taking up leader epoch `epoch` from the log end (an older or the
    /// same epoch changes nothing), durable in the checkpoint before the first batch is
    /// stamped with it.
    pub fn begin_leader_epoch(&self, epoch: i32) -> Result<(), LogError> {
        self.check_online()?;
        let mut state = self.lock();
        self.following.store(false, Ordering::Release);
        let log_end_offset = state.log_end_offset();
        let mut epochs = state.epochs.clone();
        if epochs.assign(epoch, log_end_offset) {
            let written = crate::log::checkpoint::write_leader_epochs(&self.dir, epochs.entries());
            self.offline_on_io_error(written.map_err(LogError::from))?;
            state.epochs = epochs;
            self.leader_epoch.store(epoch, Ordering::Release);
        }
        Ok(())
    }

    /// Kafka's leader-epoch lookup (OffsetForLeaderEpoch): the largest epoch not after
    /// `requested` and the offset where it ends.
    pub fn end_offset_for_epoch(&self, requested: i32) -> (i32, i64) {
        let state = self.lock();
        state
            .epochs
            .end_offset_for(requested, state.log_end_offset())
    }

    pub fn log_end_offset(&self) -> i64 {
        self.lock().log_end_offset()
    }

    /// Every offset below this is fsynced.
    pub fn durable_offset(&self) -> i64 {
        self.durable_offset.load(Ordering::Acquire)
    }

    /// The first offset consumers may not read yet (the log end unless replicated).
    pub fn high_watermark(&self) -> i64 {
        self.lock().high_watermark
    }

    pub fn log_start_offset(&self) -> i64 {
        self.lock().log_start_offset()
    }

    /// A receiver that sees every change of the log end offset, for long-poll fetches.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.end_offset.subscribe()
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
        self.min_insync_replicas
            .store(config.min_insync_replicas, Ordering::Relaxed);
        self.lock().config = config;
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::clock::ManualClock;
    use crate::log::TimestampType;
    use crate::records::batch::testing::build_batch;
    use crate::records::BatchView;

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
            min_insync_replicas: 1,
            delete_retention_ms: 86_400_000,
            min_cleanable_dirty_ratio: 0.5,
            compression: None,
        }
    }

    pub fn open(dir: &Path, config: LogConfig, recover: bool) -> Partition {
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

    pub fn append(partition: &Partition, count: i32, ts: i64) -> AppendInfo {
        let bytes = build_batch(count, ts, &[count as u8; 100]);
        partition
            .append(&BatchView::parse(&bytes).unwrap())
            .unwrap()
    }
}
