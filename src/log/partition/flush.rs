//! Durability: the `flush.messages` / `flush.ms` policy, and group-commit fsync, where one
//! fsync serves every waiter whose offset it covers.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::Partition;
use crate::log::producer_state::{self, Snapshot};
use crate::log::segment::Segment;
use crate::log::{checkpoint, disk, LogError};

impl Partition {
    /// Whether the `flush.messages` / `flush.ms` policy asks for an fsync now.
    pub fn flush_due(&self) -> bool {
        let state = self.lock();
        let unflushed = state.log_end_offset() > self.durable_offset.load(Ordering::Acquire);
        unflushed
            && (state.records_since_flush >= state.config.flush_messages
                || self.clock.now_ms().saturating_sub(state.last_flush_ms) >= state.config.flush_ms)
    }

    /// Whether an fsync failed: the partition takes no writes until the broker restarts.
    pub fn is_offline(&self) -> bool {
        self.sync_failed.load(Ordering::Acquire)
    }

    /// Refuses a write to an offline partition.
    pub(super) fn check_online(&self) -> Result<(), LogError> {
        match self.is_offline() {
            true => Err(LogError::Offline),
            false => Ok(()),
        }
    }

    /// Takes the partition offline when a change of its files failed midway: what they
    /// hold, and what of it is durable, is in doubt until recovery reads them again.
    pub(super) fn offline_on_io_error<T>(
        &self,
        result: Result<T, LogError>,
    ) -> Result<T, LogError> {
        if let Err(LogError::Io(error)) = &result {
            self.sync_failed.store(true, Ordering::Release);
            tracing::error!(topic = %self.topic, partition = self.index, %error, "a change of the log's files failed; the partition takes no more writes until the broker restarts");
        }
        result
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
        let plan = self.plan_flush();
        let (target, active_base, rolled) = (plan.target, plan.active_base, plan.rolled);
        let synced = match tokio::task::spawn_blocking(move || plan.sync()).await {
            Ok(result) => result,
            Err(join_error) => Err(std::io::Error::other(join_error)),
        };
        self.flushed(synced, target, active_base, rolled)
    }

    /// [`Partition::flush`] for a caller on a blocking thread (the cleaner).
    pub(super) fn flush_blocking(&self, up_to: i64) -> Result<(), LogError> {
        if self.durable_offset.load(Ordering::Acquire) >= up_to {
            return Ok(());
        }
        let _flushing = self.flush_lock.blocking_lock();
        if self.durable_offset.load(Ordering::Acquire) >= up_to {
            return Ok(());
        }
        let plan = self.plan_flush();
        let (target, active_base, rolled) = (plan.target, plan.active_base, plan.rolled);
        self.flushed(plan.sync(), target, active_base, rolled)
    }

    /// What a flush syncs: everything appended so far. Called under the flush lock.
    fn plan_flush(&self) -> FlushPlan {
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
            log_start: state.log_start_offset,
        });
        FlushPlan {
            dir: self.dir.clone(),
            files,
            target: state.log_end_offset(),
            active_base: state.active().base_offset(),
            rolled,
            snapshot,
        }
    }

    /// Takes a flush's outcome: the durable offset and recovery point move, or the
    /// partition goes offline.
    fn flushed(
        &self,
        synced: std::io::Result<()>,
        target: i64,
        active_base: i64,
        rolled: usize,
    ) -> Result<(), LogError> {
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
        self.durable_offset.fetch_max(target, Ordering::AcqRel);
        // A leader's high watermark may have waited for this fsync.
        self.raise_high_watermark(&mut state);
        Ok(())
    }

    /// Syncs the log and every index file and records the active segment as the recovery point.
    /// The records and their segments' directory entries are durable first, so a snapshot
    /// or checkpoint that does not fit on a full disk costs none of them.
    pub fn sync_for_shutdown(&self) -> Result<(), LogError> {
        let mut state = self.lock();
        state.segments.iter().try_for_each(Segment::sync_all)?;
        disk::sync_dir(&self.dir)?;
        let snapshot = Snapshot {
            offset: state.log_end_offset(),
            states: state.producers.clone(),
            txns: state.txns.clone(),
            log_start: state.log_start_offset,
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
}

/// The files one flush syncs, and what it records once they are.
struct FlushPlan {
    dir: PathBuf,
    files: Vec<Arc<File>>,
    /// The log end when planned: every offset below it is durable once synced.
    target: i64,
    active_base: i64,
    /// How many rolled segments it syncs (the first ones of `rolled_unsynced`).
    rolled: usize,
    /// The producer state to snapshot, after a roll.
    snapshot: Option<Snapshot>,
}

impl FlushPlan {
    fn sync(self) -> std::io::Result<()> {
        let started = std::time::Instant::now();
        self.files
            .iter()
            .try_for_each(|file| disk::sync_data(file))?;
        crate::metrics::global().fsync(started.elapsed());
        if let Some(snapshot) = self.snapshot {
            producer_state::write_snapshot(&self.dir, &snapshot)?;
            // Also makes the new segments' directory entries durable (fsync of the dir).
            checkpoint::write_recovery_point(&self.dir, self.active_base)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::testing::{append, open, test_config};
    use super::*;
    use crate::clock::ManualClock;
    use crate::log::LogConfig;

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
}
