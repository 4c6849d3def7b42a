//! The replicated side of a partition: the high watermark (which other replicas decide once
//! the partition is replicated), a follower's appends of the batches its leader wrote
//! (offsets, leader epochs and timestamps kept), and truncation to the offset where a
//! follower's log diverged from its new leader's (KIP-101, KIP-279).

use std::fs;
use std::sync::atomic::Ordering;

use super::append::producer_batch;
use super::{AppendInfo, LogState, Partition};
use crate::log::segment::{self, Segment};
use crate::log::{checkpoint, disk, LogError};
use crate::records::batch::BATCH_HEADER_BYTES;
use crate::records::BatchView;

use super::producers::load_producer_states;

impl Partition {
    /// Publishes the log end as the high watermark unless the partition is replicated, and
    /// wakes fetchers waiting for it to move.
    pub(super) fn publish_end(&self, state: &mut LogState) {
        if !self.replicated.load(Ordering::Acquire) {
            state.high_watermark = state.log_end_offset();
        }
        self.end_offset.send_replace(state.high_watermark);
    }

    /// Hands the high watermark to the replicas (`true`: it moves only by
    /// [`Partition::set_high_watermark`]) or back to the log end (`false`).
    pub fn set_replicated(&self, replicated: bool) {
        let mut state = self.lock();
        self.replicated.store(replicated, Ordering::Release);
        self.publish_end(&mut state);
    }

    /// The leader's count of in-sync replicas, itself included.
    pub fn set_in_sync_replicas(&self, count: usize) {
        let count = i32::try_from(count).unwrap_or(i32::MAX);
        self.in_sync_replicas.store(count, Ordering::Release);
    }

    /// An acks=all write needs `min.insync.replicas` replicas in sync: NotEnoughReplicas
    /// otherwise.
    pub fn check_in_sync_replicas(&self) -> Result<(), LogError> {
        let in_sync = self.in_sync_replicas.load(Ordering::Acquire);
        let required = self.min_insync_replicas.load(Ordering::Relaxed);
        if in_sync < required {
            return Err(LogError::NotEnoughReplicas { in_sync, required });
        }
        Ok(())
    }

    /// Follows another replica from here on: the high watermark is the leader's, and only
    /// the leader's batches go in. Whoever waits for the replicas of an own append learns
    /// at once that it will not be acknowledged here.
    pub fn follow(&self) {
        let mut state = self.lock();
        self.following.store(true, Ordering::Release);
        self.replicated.store(true, Ordering::Release);
        self.publish_end(&mut state);
    }

    /// Waits until `appended` is durable (per the flush policy) and, on a replicated
    /// partition, held by every in-sync replica (at most `replicas_timeout`, see
    /// [`Partition::wait_replicated`]): how coordinators and markers store their records.
    pub async fn wait_stored(
        &self,
        appended: &AppendInfo,
        replicas_timeout: std::time::Duration,
    ) -> Result<(), LogError> {
        self.flush(appended.last_offset + 1).await?;
        if self.is_replicated() {
            self.wait_replicated(appended, replicas_timeout).await?;
        }
        Ok(())
    }

    /// Waits until the in-sync replicas hold `appended` (the high watermark passed it) while
    /// this replica still leads in the epoch it was stamped with: NotLeading as soon as it
    /// follows or began another epoch (the batch may be truncated away), ReplicationTimedOut
    /// after `timeout`.
    pub async fn wait_replicated(
        &self,
        appended: &AppendInfo,
        timeout: std::time::Duration,
    ) -> Result<(), LogError> {
        let end = appended.last_offset + 1;
        let deposed = || {
            self.following.load(Ordering::Acquire) || self.leader_epoch() != appended.leader_epoch
        };
        let mut high_watermark = self.end_offset.subscribe();
        let settled = async {
            high_watermark
                .wait_for(|high_watermark| *high_watermark >= end || deposed())
                .await
                .is_ok()
        };
        match tokio::time::timeout(timeout, settled).await {
            Err(_) => Err(LogError::ReplicationTimedOut),
            Ok(true) if !deposed() => Ok(()),
            Ok(_) => Err(LogError::NotLeading),
        }
    }

    /// A follower of the leader at `leader_epoch` has begun no later epoch itself.
    fn check_following(state: &LogState, leader_epoch: i32) -> Result<(), LogError> {
        match state.epochs.latest() {
            Some(latest) if latest > leader_epoch => Err(LogError::NotFollowing { leader_epoch }),
            _ => Ok(()),
        }
    }

    /// Whether the high watermark is the replicas' (see [`Partition::set_replicated`]).
    pub fn is_replicated(&self) -> bool {
        self.replicated.load(Ordering::Acquire)
    }

    /// Moves the high watermark (a follower from its leader's answers); never past the log
    /// end.
    pub fn set_high_watermark(&self, offset: i64) {
        let mut state = self.lock();
        state.high_watermark = offset.clamp(state.log_start_offset(), state.log_end_offset());
        self.end_offset.send_replace(state.high_watermark);
    }

    /// A leader's high watermark, from its in-sync replicas: they all hold the log to
    /// `replicated_to`. With `durable` (`flush.on.ack`) it also waits for this log's fsync,
    /// and each flush moves it on. Never back.
    pub fn advance_high_watermark(&self, replicated_to: i64, durable: bool) {
        let mut state = self.lock();
        state.replicated_to = replicated_to;
        state.durable_high_watermark = durable;
        self.raise_high_watermark(&mut state);
    }

    /// Raises a leader's high watermark to where its replicas, and the fsyncs it waits
    /// for, hold the log.
    pub(super) fn raise_high_watermark(&self, state: &mut LogState) {
        if !self.replicated.load(Ordering::Acquire) || self.following.load(Ordering::Acquire) {
            return;
        }
        let durable = match state.durable_high_watermark {
            true => self.durable_offset(),
            false => i64::MAX,
        };
        let high_watermark = state
            .replicated_to
            .min(durable)
            .clamp(state.log_start_offset(), state.log_end_offset());
        if high_watermark > state.high_watermark {
            state.high_watermark = high_watermark;
            self.end_offset.send_replace(high_watermark);
        }
    }

    /// A follower's append of a batch its leader, at `leader_epoch`, wrote: it must start at
    /// this log's end, and goes in unchanged (offsets, leader epoch, timestamps). A newer
    /// leader epoch in it begins at its base offset in the leader-epoch checkpoint. Refused
    /// once this replica has begun a newer epoch itself (it leads now: a fetch answered by
    /// the deposed leader must not reach its log).
    pub fn append_replicated(
        &self,
        batch: &BatchView<'_>,
        leader_epoch: i32,
    ) -> Result<AppendInfo, LogError> {
        self.check_online()?;
        let now = self.clock.now_ms();
        let mut state = self.lock();
        Self::check_following(&state, leader_epoch)?;
        if batch.partition_leader_epoch() > leader_epoch {
            return Err(LogError::NotFollowing { leader_epoch });
        }
        let log_end_offset = state.log_end_offset();
        let base_offset = batch.base_offset();
        if base_offset != log_end_offset {
            return Err(LogError::NotContiguous {
                expected: log_end_offset,
                found: base_offset,
            });
        }
        let epoch = batch.partition_leader_epoch();
        if state.epochs.latest().is_none_or(|latest| epoch > latest) {
            let mut epochs = state.epochs.clone();
            epochs.assign(epoch, base_offset);
            checkpoint::write_leader_epochs(&self.dir, epochs.entries())?;
            state.epochs = epochs;
            self.leader_epoch.store(epoch, Ordering::Release);
        }
        self.roll_if_needed(&mut state, batch.size() as u64, now)?;
        let producer = producer_batch(batch);
        let mut header = [0u8; BATCH_HEADER_BYTES];
        header.copy_from_slice(&batch.bytes()[..BATCH_HEADER_BYTES]);
        Self::write_batch(
            &mut state,
            &header,
            batch,
            base_offset,
            batch.max_timestamp(),
            producer.as_ref(),
        )?;
        self.publish_end(&mut state);
        Ok(AppendInfo {
            base_offset,
            last_offset: base_offset + i64::from(batch.last_offset_delta()),
            log_append_time_ms: -1,
            log_start_offset: state.log_start_offset(),
            leader_epoch: epoch,
        })
    }

    /// Removes every batch from the one holding `offset` on (a follower's divergence from
    /// its leader at `leader_epoch`); the log then ends at that batch's base offset, at most
    /// `offset`. Leader epochs that began there or later go too, and producer and
    /// transaction state is rebuilt from what remains. Refused, like
    /// [`Partition::append_replicated`], once this replica has begun a newer epoch.
    /// A failed write or fsync takes the partition offline, as a failed flush does.
    pub fn truncate_to(&self, offset: i64, leader_epoch: i32) -> Result<i64, LogError> {
        self.check_online()?;
        let truncated = self.truncate_log(offset, leader_epoch);
        self.offline_on_io_error(truncated)
    }

    fn truncate_log(&self, offset: i64, leader_epoch: i32) -> Result<i64, LogError> {
        let _closed = self.change_closed_segments();
        let now = self.clock.now_ms();
        let mut state = self.lock();
        Self::check_following(&state, leader_epoch)?;
        let log_end_offset = state.log_end_offset();
        if offset >= log_end_offset {
            // Nothing to remove but an epoch begun at the log end while this replica led
            // for a moment and wrote nothing: kept, it would make the leader answer the same
            // divergence forever (Kafka drops it here too).
            self.forget_epochs_from(&mut state, log_end_offset)?;
            return Ok(log_end_offset);
        }
        let offset = offset.max(state.log_start_offset());
        // Segments wholly at or after the offset go (the first one stays, emptied).
        let mut removed_any = false;
        while state.segments.len() > 1 && state.active().base_offset() >= offset {
            if let Some(removed) = state.segments.pop() {
                segment::remove_files(&self.dir, removed.base_offset())?;
                removed_any = true;
            }
        }
        let interval = state.config.index_interval_bytes;
        let active = state.segments.len() - 1;
        let position = match state.segments[active].locate(offset)? {
            Some(location) => location.position,
            None => state.segments[active].size(),
        };
        let base = state.segments[active].base_offset();
        let path = state.segments[active].log_path().to_owned();
        let truncated = fs::OpenOptions::new().write(true).open(&path)?;
        truncated.set_len(position)?;
        // Reopened with recovery: the indexes are rebuilt from what is left.
        let (segment, _) = Segment::open(&self.dir, base, interval, true, now)?;
        state.segments[active] = segment;
        state.rolled_unsynced.clear();
        // Durable before the checkpoints forget the epochs it removed, and before anything
        // is appended after it: a power cut must not bring back batches of an earlier
        // leader this replica dropped (recovery keeps whatever batches are whole), under a
        // high watermark that passes them or with their epochs gone.
        disk::sync_data(&truncated)?;
        if removed_any {
            disk::sync_dir(&self.dir)?;
        }
        let log_end_offset = state.log_end_offset();
        let snapshot = load_producer_states(&self.dir, &state.segments, state.log_start_offset)?;
        state.producers = snapshot.states;
        state.txns = snapshot.txns;
        self.forget_epochs_from(&mut state, log_end_offset)?;
        state.recovery_point = state.recovery_point.min(log_end_offset);
        checkpoint::write_recovery_point(&self.dir, state.recovery_point)?;
        self.durable_offset
            .fetch_min(log_end_offset, Ordering::AcqRel);
        state.high_watermark = state.high_watermark.min(log_end_offset);
        self.publish_end(&mut state);
        tracing::info!(topic = %self.topic, partition = self.index, log_end_offset, "truncated to where the leader's log diverges");
        Ok(log_end_offset)
    }

    /// Forgets the leader epochs that began at `offset` or later (the log ends there).
    fn forget_epochs_from(&self, state: &mut LogState, offset: i64) -> Result<(), LogError> {
        let mut epochs = state.epochs.clone();
        if epochs.truncate_from(offset) {
            checkpoint::write_leader_epochs(&self.dir, epochs.entries())?;
            state.epochs = epochs;
            self.leader_epoch
                .store(state.epochs.latest().unwrap_or_default(), Ordering::Release);
        }
        Ok(())
    }

    /// Empties the log and starts it again at `offset` (a follower whose log ends below its
    /// leader's log start: what it holds is older than anything the leader still has; or an
    /// empty one whose start falls inside the first batch the leader sends).
    /// Leader epochs, producer and transaction state go with the records. Refused, like
    /// [`Partition::append_replicated`], once this replica has begun a newer epoch.
    pub fn restart_at(&self, offset: i64, leader_epoch: i32) -> Result<(), LogError> {
        self.check_online()?;
        let restarted = self.restart_log_at(offset, leader_epoch);
        self.offline_on_io_error(restarted)
    }

    fn restart_log_at(&self, offset: i64, leader_epoch: i32) -> Result<(), LogError> {
        let _closed = self.change_closed_segments();
        let now = self.clock.now_ms();
        let mut state = self.lock();
        Self::check_following(&state, leader_epoch)?;
        for old in std::mem::take(&mut state.segments) {
            segment::remove_files(&self.dir, old.base_offset())?;
        }
        let _ = fs::remove_file(self.dir.join(crate::log::producer_state::SNAPSHOT_FILE));
        let interval = state.config.index_interval_bytes;
        state.segments = vec![Segment::create(&self.dir, offset, interval, now)?];
        state.rolled_unsynced.clear();
        let fresh = crate::log::producer_state::Snapshot::default();
        state.producers = fresh.states;
        state.txns = fresh.txns;
        state.epochs = crate::log::leader_epochs::LeaderEpochs::new(Vec::new());
        checkpoint::write_leader_epochs(&self.dir, &[])?;
        self.leader_epoch.store(0, Ordering::Release);
        state.log_start_offset = offset;
        checkpoint::write_log_start_offset(&self.dir, offset)?;
        state.recovery_point = offset;
        checkpoint::write_recovery_point(&self.dir, offset)?;
        disk::sync_dir(&self.dir)?;
        self.durable_offset.store(offset, Ordering::Release);
        state.high_watermark = offset;
        self.publish_end(&mut state);
        tracing::info!(topic = %self.topic, partition = self.index, offset, "emptied the log to start it again at an offset of the leader's");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{append, open, test_config};
    use crate::log::{Isolation, LogConfig, LogError};
    use crate::records::batch::testing::build_batch;
    use crate::records::BatchView;
    use proptest::prelude::*;

    /// Every batch of `log` from `from` on, as the leader's log holds them.
    fn batches(log: &super::Partition, from: i64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut offset = from;
        while offset < log.log_end_offset() {
            let read = log
                .read(offset, 1 << 20, true, Isolation::ReadUncommitted)
                .unwrap();
            let mut rest: &[u8] = &read.records;
            while !rest.is_empty() {
                let size = crate::records::batch_size(rest).unwrap();
                let view = BatchView::parse(&rest[..size]).unwrap();
                offset = view.base_offset() + i64::from(view.last_offset_delta()) + 1;
                out.push(rest[..size].to_vec());
                rest = &rest[size..];
            }
        }
        out
    }

    fn small_segments() -> LogConfig {
        LogConfig {
            segment_bytes: 400,
            ..test_config()
        }
    }

    #[tokio::test]
    async fn waiting_for_the_replicas_ends_with_the_high_watermark_or_the_leadership() {
        let dir = tempfile::tempdir().unwrap();
        let log = std::sync::Arc::new(open(dir.path(), test_config(), false));
        log.begin_leader_epoch(4).unwrap();
        log.set_replicated(true);
        let first = append(&log, 2, 0);
        assert_eq!(first.leader_epoch, 4);
        let short = std::time::Duration::from_millis(20);
        assert!(matches!(
            log.wait_replicated(&first, short).await,
            Err(LogError::ReplicationTimedOut)
        ));
        log.set_high_watermark(2);
        assert!(log.wait_replicated(&first, short).await.is_ok());

        let second = append(&log, 1, 0);
        let waiting = {
            let log = std::sync::Arc::clone(&log);
            tokio::spawn(async move {
                log.wait_replicated(&second, std::time::Duration::from_secs(60))
                    .await
            })
        };
        tokio::task::yield_now().await;
        log.follow();
        assert!(matches!(waiting.await.unwrap(), Err(LogError::NotLeading)));
        assert!(matches!(
            log.append(&BatchView::parse(&build_batch(1, 0, b"x")).unwrap()),
            Err(LogError::NotLeading)
        ));

        // Leading again, in a newer epoch: what the old one appended may be gone.
        log.begin_leader_epoch(5).unwrap();
        log.set_high_watermark(3);
        assert!(matches!(
            log.wait_replicated(&second, short).await,
            Err(LogError::NotLeading)
        ));
        assert_eq!(append(&log, 1, 0).leader_epoch, 5);
    }

    #[test]
    fn in_sync_replicas_below_the_minimum_refuse_acks_all() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            min_insync_replicas: 2,
            ..test_config()
        };
        let log = open(dir.path(), config, false);
        assert!(matches!(
            log.check_in_sync_replicas(),
            Err(LogError::NotEnoughReplicas {
                in_sync: 1,
                required: 2
            })
        ));
        log.set_in_sync_replicas(3);
        assert!(log.check_in_sync_replicas().is_ok());
    }

    #[test]
    fn the_high_watermark_bounds_reads_once_replicated() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), test_config(), false);
        append(&log, 2, 0);
        log.set_replicated(true);
        append(&log, 3, 1);
        assert_eq!((log.high_watermark(), log.log_end_offset()), (2, 5));
        let read = log
            .read(2, 1 << 20, true, Isolation::ReadUncommitted)
            .unwrap();
        assert!(read.records.is_empty() && read.high_watermark == 2);
        log.set_high_watermark(9);
        assert_eq!(log.high_watermark(), 5, "never past the log end");
        log.set_replicated(false);
        append(&log, 1, 2);
        assert_eq!(log.high_watermark(), 6);
    }

    #[test]
    fn replicated_batches_keep_offsets_and_epochs_and_must_be_contiguous() {
        let leader_dir = tempfile::tempdir().unwrap();
        let follower_dir = tempfile::tempdir().unwrap();
        let leader = open(leader_dir.path(), test_config(), false);
        append(&leader, 2, 0);
        leader.begin_leader_epoch(3).unwrap();
        append(&leader, 4, 1);
        let follower = open(follower_dir.path(), test_config(), false);
        let all = batches(&leader, 0);
        let second = BatchView::parse(&all[1]).unwrap();
        assert!(matches!(
            follower.append_replicated(&second, 3),
            Err(crate::log::LogError::NotContiguous {
                expected: 0,
                found: 2
            })
        ));
        for batch in &all {
            follower
                .append_replicated(&BatchView::parse(batch).unwrap(), 3)
                .unwrap();
        }
        assert_eq!(batches(&follower, 0), all);
        assert_eq!(follower.leader_epoch(), 3);
        assert_eq!(follower.end_offset_for_epoch(0), (0, 2));
        assert_eq!(follower.end_offset_for_epoch(3), (3, 6));
        // Leading at epoch 4 now: a late answer of the epoch-3 leader is turned away.
        follower.begin_leader_epoch(4).unwrap();
        assert!(matches!(
            follower.append_replicated(&second, 3),
            Err(crate::log::LogError::NotFollowing { leader_epoch: 3 })
        ));
        assert!(matches!(
            follower.truncate_to(0, 3),
            Err(crate::log::LogError::NotFollowing { leader_epoch: 3 })
        ));
        assert_eq!(follower.log_end_offset(), 6);
    }

    #[test]
    fn an_epoch_begun_at_the_log_end_without_records_goes_with_a_truncation_there() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), test_config(), false);
        log.begin_leader_epoch(1).unwrap();
        append(&log, 5, 0);
        // Led epoch 2 for a moment and wrote nothing; follows the leader of epoch 3 now.
        log.begin_leader_epoch(2).unwrap();
        log.follow();
        assert_eq!(log.truncate_to(5, 3).unwrap(), 5);
        assert_eq!(log.leader_epoch(), 1);
        assert_eq!(log.end_offset_for_epoch(1), (1, 5));
        drop(log);
        let reopened = open(dir.path(), test_config(), false);
        assert_eq!(reopened.leader_epoch(), 1, "the checkpoint forgot it too");
    }

    #[test]
    fn a_follower_below_its_leaders_log_start_starts_again_there() {
        let leader_dir = tempfile::tempdir().unwrap();
        let follower_dir = tempfile::tempdir().unwrap();
        let leader = open(leader_dir.path(), test_config(), false);
        append(&leader, 10, 0);
        append(&leader, 3, 0);
        let follower = open(follower_dir.path(), small_segments(), false);
        for _ in 0..4 {
            append(&follower, 2, 0);
        }
        follower.follow();
        follower.restart_at(10, 0).unwrap();
        assert_eq!(
            (
                follower.log_start_offset(),
                follower.log_end_offset(),
                follower.high_watermark()
            ),
            (10, 10, 10)
        );
        let from_ten = batches(&leader, 10);
        follower
            .append_replicated(&BatchView::parse(&from_ten[0]).unwrap(), 0)
            .unwrap();
        drop(follower);

        let reopened = open(follower_dir.path(), small_segments(), true);
        assert_eq!(
            (reopened.log_start_offset(), reopened.log_end_offset()),
            (10, 13)
        );
        assert_eq!(batches(&reopened, 10), from_ten);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// A follower that took a deposed leader's batches truncates to where the new
        /// leader's log diverges and then replicates it: both logs end up byte-identical,
        /// with the same epochs, across segment rolls and reopen.
        #[test]
        fn truncation_then_replication_converges_on_the_leaders_log(
            common in 1usize..6,
            stale in 1usize..6,
            fresh in 0usize..6,
        ) {
            let leader_dir = tempfile::tempdir().unwrap();
            let follower_dir = tempfile::tempdir().unwrap();
            let leader = open(leader_dir.path(), small_segments(), false);
            let follower = open(follower_dir.path(), small_segments(), false);
            for i in 0..common {
                append(&leader, 2, i as i64);
            }
            for batch in batches(&leader, 0) {
                follower.append_replicated(&BatchView::parse(&batch).unwrap(), 0).unwrap();
            }
            // The follower, leading at epoch 1 for a while, writes batches nobody else has.
            follower.begin_leader_epoch(1).unwrap();
            for i in 0..stale {
                append(&follower, 1, 100 + i as i64);
            }
            // The old leader leads again at epoch 2 and writes on.
            leader.begin_leader_epoch(2).unwrap();
            for i in 0..fresh {
                append(&leader, 3, 50 + i as i64);
            }
            // The follower asks where its epoch 1 ends in the leader's log: it never began
            // there, so the leader's answer is the start of its next epoch.
            let (_, diverges_at) = leader.end_offset_for_epoch(follower.leader_epoch());
            let end = follower.truncate_to(diverges_at, 2).unwrap();
            prop_assert_eq!(end, diverges_at);
            for batch in batches(&leader, end) {
                follower.append_replicated(&BatchView::parse(&batch).unwrap(), 2).unwrap();
            }
            prop_assert_eq!(batches(&follower, 0), batches(&leader, 0));
            // Epoch 2 reaches the follower with its first batch.
            let epoch = if fresh > 0 { 2 } else { 0 };
            prop_assert_eq!(follower.leader_epoch(), epoch);
            drop(follower);
            let reopened = open(follower_dir.path(), small_segments(), true);
            prop_assert_eq!(batches(&reopened, 0), batches(&leader, 0));
            prop_assert_eq!(reopened.end_offset_for_epoch(0), (0, diverges_at));
        }
    }
}
