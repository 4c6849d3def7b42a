//! All partitions under the data directory: loading (with recovery after an unclean
//! shutdown), creation and deletion of topic directories, the flush scheduler, the
//! clean-shutdown marker, and the checkpoint of the replicated partitions' high watermarks.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use uuid::Uuid;

use crate::clock::SharedClock;
use kafka_protocol::records::{Record, RecordBatchDecoder};

use crate::log::{checkpoint, disk, Isolation, LogConfig, LogError, Partition};

/// Present in the data dir only between a clean shutdown and the next start.
pub const CLEAN_SHUTDOWN_MARKER: &str = ".spool-clean-shutdown";
/// Bytes read per step when replaying an internal topic.
const REPLAY_READ_BYTES: usize = 1 << 20;
/// How often the scheduler checks `flush.ms` deadlines.
const FLUSH_SCHEDULER_TICK: Duration = Duration::from_millis(100);
/// How often the replicated partitions' high watermarks are checkpointed (Kafka's
/// `replica.high.watermark.checkpoint.interval.ms` default).
pub const HIGH_WATERMARK_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(5);

/// Identifies a partition across the broker.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

/// Owner of every partition's log.
#[derive(Debug)]
pub struct LogManager {
    data_dir: PathBuf,
    clock: SharedClock,
    /// True when the previous run did not shut down cleanly: logs are recovered on load.
    recover: bool,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    /// The high watermarks checkpointed by the previous run: where a replicated partition's
    /// consumers may read up to when it opens, until its replicas say more.
    restored_high_watermarks: HashMap<(String, i32), i64>,
    /// The logs are replicas (a broker in a cluster): one without a checkpointed high
    /// watermark opens with it at its log start.
    replicas: bool,
    /// What the last high-watermark checkpoint written holds.
    checkpointed: Mutex<Vec<(String, i32, i64)>>,
}

impl LogManager {
    /// Opens the data dir and consumes the clean-shutdown marker (an empty dir is clean).
    pub fn open(data_dir: &Path, clock: SharedClock) -> Result<Self, LogError> {
        fs::create_dir_all(data_dir)?;
        let marker = data_dir.join(CLEAN_SHUTDOWN_MARKER);
        let is_new = fs::read_dir(data_dir)?.next().is_none();
        let clean = is_new || marker.exists();
        if marker.exists() {
            fs::remove_file(&marker)?;
            disk::sync_dir(data_dir)?;
        }
        Ok(Self {
            data_dir: data_dir.to_owned(),
            clock,
            recover: !clean,
            partitions: RwLock::default(),
            restored_high_watermarks: checkpoint::read_high_watermarks(data_dir),
            replicas: false,
            checkpointed: Mutex::default(),
        })
    }

    /// Opens the data dir of a broker in a cluster, whose logs are replicas: a log's tail
    /// past the high watermark may hold records the other replicas never had (the next
    /// leader's log decides), so a log the checkpoint does not name opens with its high
    /// watermark at its log start, not its log end (Kafka's), until its leader or its
    /// followers move it.
    pub fn open_replicas(data_dir: &Path, clock: SharedClock) -> Result<Self, LogError> {
        Ok(Self {
            replicas: true,
            ..Self::open(data_dir, clock)?
        })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Total and available bytes of the file system holding the data directory.
    pub fn disk_space(&self) -> std::io::Result<(u64, u64)> {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(self.data_dir.as_os_str().as_bytes())
            .map_err(std::io::Error::other)?;
        let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: `path` is a NUL-terminated string and `stats` is writable memory of the
        // right type; statvfs fills it completely when it returns 0.
        let stats = unsafe {
            if libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            stats.assume_init()
        };
        let fragment = stats.f_frsize as u64;
        Ok((
            stats.f_blocks as u64 * fragment,
            stats.f_bavail as u64 * fragment,
        ))
    }

    /// Whether this start recovers logs (the previous run did not shut down cleanly).
    pub fn is_recovering(&self) -> bool {
        self.recover
    }

    fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.data_dir.join(format!("{topic}-{partition}"))
    }

    /// Opens (creating where missing) `partitions` of a topic. A directory left by an earlier
    /// topic of the same name (another topic id) is removed first.
    pub fn open_topic(
        &self,
        topic: &str,
        topic_id: Uuid,
        partitions: std::ops::Range<i32>,
        config: &Arc<LogConfig>,
    ) -> Result<(), LogError> {
        for partition in partitions {
            let dir = self.partition_dir(topic, partition);
            match checkpoint::read_topic_id(&dir) {
                Some(id) if id == topic_id => {}
                Some(_) => {
                    tracing::warn!(dir = %dir.display(), "removing partition directory of a deleted topic");
                    fs::remove_dir_all(&dir)?;
                    fs::create_dir_all(&dir)?;
                    checkpoint::write_topic_id(&dir, topic_id)?;
                }
                None => {
                    fs::create_dir_all(&dir)?;
                    checkpoint::write_topic_id(&dir, topic_id)?;
                }
            }
            let log = Partition::open(
                topic,
                partition,
                &dir,
                Arc::clone(config),
                self.recover,
                Arc::clone(&self.clock),
            )?;
            let restored = self
                .restored_high_watermarks
                .get(&(topic.to_owned(), partition))
                .copied();
            match restored {
                Some(offset) => log.set_high_watermark(offset),
                None if self.replicas => log.set_high_watermark(log.log_start_offset()),
                None => {}
            }
            self.write_map().insert(
                TopicPartition {
                    topic: topic.to_owned(),
                    partition,
                },
                Arc::new(log),
            );
        }
        // New partition directories must survive a machine crash, like the data in them.
        disk::sync_dir(&self.data_dir)?;
        Ok(())
    }

    /// Removes partition directories that belong to no loaded topic (a delete interrupted by
    /// a crash, or a topic removed from the metadata).
    pub fn remove_unknown_partition_dirs(&self) -> Result<(), LogError> {
        let known: Vec<PathBuf> = self
            .read_map()
            .values()
            .map(|log| log.dir().to_owned())
            .collect();
        for entry in fs::read_dir(&self.data_dir)? {
            let path = entry?.path();
            let is_partition_dir = path.join(checkpoint::PARTITION_METADATA_FILE).exists();
            if is_partition_dir && !known.contains(&path) {
                tracing::warn!(dir = %path.display(), "removing partition directory of an unknown topic");
                fs::remove_dir_all(&path)?;
            }
        }
        Ok(())
    }

    /// Drops a topic's partitions and deletes their directories.
    pub fn delete_topic(&self, topic: &str) -> Result<(), LogError> {
        let removed: Vec<Arc<Partition>> = {
            let mut map = self.write_map();
            let keys: Vec<TopicPartition> = map
                .keys()
                .filter(|key| key.topic == topic)
                .cloned()
                .collect();
            keys.iter().filter_map(|key| map.remove(key)).collect()
        };
        for log in removed {
            fs::remove_dir_all(log.dir())?;
        }
        Ok(())
    }

    /// Drops one partition (its replica moved away) and deletes its directory.
    pub fn delete_partition(&self, topic: &str, partition: i32) -> Result<(), LogError> {
        let removed = self.write_map().remove(&TopicPartition {
            topic: topic.to_owned(),
            partition,
        });
        if let Some(log) = removed {
            fs::remove_dir_all(log.dir())?;
        }
        Ok(())
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.read_map()
            .get(&TopicPartition {
                topic: topic.to_owned(),
                partition,
            })
            .cloned()
    }

    /// Every partition, sorted by topic and index.
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        let mut all: Vec<_> = self.read_map().values().cloned().collect();
        all.sort_by(|a, b| (a.topic(), a.index()).cmp(&(b.topic(), b.index())));
        all
    }

    /// Visits every record of partition `index` of `topic` up to its log end, oldest first
    /// (a coordinator loading its internal-topic partition). Returns how many; none if the
    /// partition is not open here.
    pub fn replay_records(
        &self,
        topic: &str,
        index: i32,
        mut visit: impl FnMut(Record),
    ) -> Result<usize, LogError> {
        let Some(log) = self.partition(topic, index) else {
            return Ok(0);
        };
        let mut records = 0;
        let start = log.log_start_offset();
        let mut offset = start;
        loop {
            let read = log.read(offset, REPLAY_READ_BYTES, true, Isolation::LogEnd)?;
            if read.records.is_empty() {
                break;
            }
            // Where the next read starts, even if no record of these batches is visited.
            let next = crate::records::batch::last_offset_in(&read.records)
                .map_or(offset, |last| last + 1);
            let mut bytes = read.records;
            let sets = RecordBatchDecoder::decode_all(&mut bytes).map_err(|error| {
                LogError::Io(std::io::Error::other(format!(
                    "{topic}-{index} at {offset}: {error}"
                )))
            })?;
            // The first batch may begin below the log start offset (DeleteRecords).
            for record in sets
                .into_iter()
                .flat_map(|set| set.records)
                .filter(|record| record.offset >= start)
            {
                records += 1;
                visit(record);
            }
            if next <= offset {
                break;
            }
            offset = next;
        }
        Ok(records)
    }

    /// Runs until the process ends: fsyncs partitions whose `flush.ms` / `flush.messages`
    /// policy is due.
    pub async fn run_flush_scheduler(self: Arc<Self>) {
        let mut tick = tokio::time::interval(FLUSH_SCHEDULER_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for log in self.partitions().into_iter().filter(|log| log.flush_due()) {
                if let Err(error) = log.flush(log.log_end_offset()).await {
                    tracing::error!(topic = log.topic(), partition = log.index(), %error, "scheduled flush failed");
                }
            }
        }
    }

    /// Runs until the process ends: every `check_interval`, forgets idempotent producers idle
    /// for longer than `expiration_ms` (`producer.id.expiration.ms`).
    pub async fn run_producer_expiry(
        self: Arc<Self>,
        expiration_ms: i64,
        check_interval: Duration,
    ) {
        let mut tick = tokio::time::interval(check_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let expired: usize = self
                .partitions()
                .iter()
                .map(|log| log.expire_producers(expiration_ms))
                .sum();
            if expired > 0 {
                tracing::info!(expired, "forgot idle producers");
            }
        }
    }

    /// Runs until the process ends: every `check_interval` (`log.retention.check.interval.ms`)
    /// deletes the segments that retention or DeleteRecords left below the log start.
    pub async fn run_retention(self: Arc<Self>, check_interval: Duration) {
        let mut tick = tokio::time::interval(check_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let logs = Arc::clone(&self);
            if let Err(error) = tokio::task::spawn_blocking(move || logs.apply_retention()).await {
                tracing::error!(%error, "retention task failed");
            }
        }
    }

    /// One retention pass over every partition; returns how many segments were deleted.
    pub fn apply_retention(&self) -> usize {
        self.partitions()
            .iter()
            .map(|log| match log.apply_retention() {
                Ok(deleted) => deleted,
                Err(error) => {
                    tracing::error!(topic = log.topic(), partition = log.index(), %error, "retention failed");
                    0
                }
            })
            .sum()
    }

    /// Runs until the process ends: a compaction pass over every compacted partition, then a
    /// pause of `backoff` (`log.cleaner.backoff.ms`).
    pub async fn run_cleaner(self: Arc<Self>, backoff: Duration, dedupe_limit: usize) {
        loop {
            let logs = Arc::clone(&self);
            if let Err(error) = tokio::task::spawn_blocking(move || logs.clean(dedupe_limit)).await
            {
                tracing::error!(%error, "cleaner task failed");
            }
            tokio::time::sleep(backoff).await;
        }
    }

    /// One compaction pass over every partition; returns how many segments were rewritten.
    pub fn clean(&self, dedupe_limit: usize) -> usize {
        self.partitions()
            .iter()
            .map(|log| match log.clean(dedupe_limit) {
                Ok(report) => report.segments,
                Err(error) => {
                    tracing::error!(topic = log.topic(), partition = log.index(), %error, "compaction failed");
                    0
                }
            })
            .sum()
    }

    /// Checkpoints the replicated partitions' high watermarks every
    /// [`HIGH_WATERMARK_CHECKPOINT_INTERVAL`], until the process ends.
    pub async fn run_high_watermark_checkpoints(self: Arc<Self>) {
        let mut tick = tokio::time::interval(HIGH_WATERMARK_CHECKPOINT_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(error) = self.checkpoint_high_watermarks() {
                tracing::error!(%error, "cannot checkpoint high watermarks");
            }
        }
    }

    /// Writes `replication-offset-checkpoint` with the high watermark of every replicated
    /// partition, unless it holds them already (a restarted replica then does not serve
    /// records the in-sync replicas may not all hold). Not written while no partition is
    /// replicated.
    pub fn checkpoint_high_watermarks(&self) -> std::io::Result<()> {
        let mut entries: Vec<(String, i32, i64)> = self
            .partitions()
            .into_iter()
            .filter(|log| log.is_replicated())
            .map(|log| (log.topic().to_owned(), log.index(), log.high_watermark()))
            .collect();
        entries.sort_unstable();
        let mut checkpointed = self
            .checkpointed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.is_empty() || *checkpointed == entries {
            return Ok(());
        }
        checkpoint::write_high_watermarks(&self.data_dir, &entries)?;
        *checkpointed = entries;
        Ok(())
    }

    /// Syncs every log and index, checkpoints the high watermarks and leaves the
    /// clean-shutdown marker.
    pub fn shutdown(&self) -> Result<(), LogError> {
        let mut failed = None;
        // Every partition, whichever failed: one full or failing file costs no other its data.
        for log in self.partitions() {
            if let Err(error) = log.sync_for_shutdown() {
                tracing::error!(topic = %log.topic(), partition = log.index(), %error, "syncing the partition for shutdown failed");

                failed.get_or_insert(error);
            }
        }
        if let Some(error) = failed {
            return Err(error);
        }
        self.checkpoint_high_watermarks()?;
        checkpoint::write_atomically(&self.data_dir.join(CLEAN_SHUTDOWN_MARKER), b"")?;
        Ok(())
    }

    fn read_map(&self) -> std::sync::RwLockReadGuard<'_, HashMap<TopicPartition, Arc<Partition>>> {
        self.partitions
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_map(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, HashMap<TopicPartition, Arc<Partition>>> {
        self.partitions
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::log::partition::testing::{append, test_config};

    #[test]
    fn a_replicated_partition_reopens_at_its_checkpointed_high_watermark() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_000));
        let config = Arc::new(test_config());
        let id = Uuid::from_u128(7);
        let logs = LogManager::open(dir.path(), clock.clone()).unwrap();
        logs.open_topic("t", id, 0..2, &config).unwrap();
        for partition in 0..2 {
            append(&logs.partition("t", partition).unwrap(), 5, 0);
        }
        let replicated = logs.partition("t", 0).unwrap();
        replicated.set_replicated(true);
        replicated.set_high_watermark(3);
        logs.shutdown().unwrap();
        drop((replicated, logs));

        let logs = LogManager::open(dir.path(), clock).unwrap();
        logs.open_topic("t", id, 0..2, &config).unwrap();
        let high_watermarks: Vec<i64> = (0..2)
            .map(|partition| logs.partition("t", partition).unwrap().high_watermark())
            .collect();
        assert_eq!(
            high_watermarks,
            [3, 5],
            "only the replicated one was checkpointed"
        );
    }

    #[test]
    fn a_replica_without_a_checkpointed_high_watermark_reopens_with_it_at_its_log_start() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_000));
        let config = Arc::new(test_config());
        let id = Uuid::from_u128(7);
        let logs = LogManager::open_replicas(dir.path(), clock.clone()).unwrap();
        logs.open_topic("t", id, 0..1, &config).unwrap();
        let log = logs.partition("t", 0).unwrap();
        append(&log, 5, 0);
        log.follow();
        log.delete_records_before(2).unwrap();
        // Killed before any checkpoint: its last records may be ones no other replica has.
        drop((log, logs));

        let logs = LogManager::open_replicas(dir.path(), clock.clone()).unwrap();
        logs.open_topic("t", id, 0..1, &config).unwrap();
        let log = logs.partition("t", 0).unwrap();
        assert_eq!((log.high_watermark(), log.log_end_offset()), (2, 5));
        drop((log, logs));
        // A single broker's log is its own: it opens readable to its end.
        let logs = LogManager::open(dir.path(), clock).unwrap();
        logs.open_topic("t", id, 0..1, &config).unwrap();
        assert_eq!(logs.partition("t", 0).unwrap().high_watermark(), 5);
    }
}
