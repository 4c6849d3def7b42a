//! The partitions this broker leads with followers: each with its log and its
//! [`ReplicaSet`], so a follower's fetch moves the high watermark, an append moves it when
//! the leader is the only in-sync replica, and the ISR timer finds followers to drop or take
//! back (Kafka's `Partition` on the leader).
//!
//! With `flush.on.ack` the leader counts its own log only as far as it is durable, as its
//! followers report only what they flushed: the high watermark then covers what every
//! in-sync replica keeps through a power cut (and the leader's flushes move it too).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use super::read_replica::ReplicaView;
use super::replica_set::ReplicaSet;
use crate::log::Partition;

/// A led partition: its log and what the leader knows of its followers.
#[derive(Debug)]
struct Led {
    log: Arc<Partition>,
    replicas: Mutex<ReplicaSet>,
    /// `flush.on.ack`: the leader's log counts as far as it is durable.
    durable_only: bool,
}

impl Led {
    fn replicas(&self) -> MutexGuard<'_, ReplicaSet> {
        self.replicas
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Moves the high watermark to the slowest in-sync log end (never back).
    fn advance_high_watermark(&self, replicas: &ReplicaSet) {
        let replicated_to = replicas.high_watermark(self.log.log_end_offset());
        self.log
            .advance_high_watermark(replicated_to, self.durable_only);
    }
}

/// A proposed ISR change for one led partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrChange {
    pub topic: String,
    pub partition: i32,
    pub isr: Vec<i32>,
}

/// Why a replica's fetch is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowerRefused {
    /// This broker does not lead the partition with followers.
    NotLeading,
    /// The fetching broker is not one of the partition's replicas.
    NotAReplica,
}

/// Where a follower's log stands, as its fetch tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerPosition {
    /// Its log end: the offset it fetches from.
    pub fetch_offset: i64,
    /// The leader epoch of its last batch (-1: not given).
    pub last_fetched_epoch: i32,
    pub log_start_offset: i64,
}

/// What the leader makes of a follower's fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowerFetch {
    /// Its log diverged: it must truncate to where `epoch` ends here, `end_offset`, before
    /// it gets records (nothing is recorded of this fetch).
    Diverging { epoch: i32, end_offset: i64 },
    /// Its position is recorded; it gets the records from its fetch offset.
    Recorded,
}

/// Every partition this broker leads that has followers.
#[derive(Debug, Default)]
pub struct Leaders {
    led: Mutex<HashMap<(String, i32), Arc<Led>>>,
    /// `flush.on.ack`: leaders count their logs only as far as they are durable.
    flush_on_ack: bool,
}

impl Leaders {
    /// The leaders of a broker whose `flush.on.ack` is `flush_on_ack`.
    pub fn new(flush_on_ack: bool) -> Self {
        Self {
            led: Mutex::default(),
            flush_on_ack,
        }
    }

    fn led(&self) -> MutexGuard<'_, HashMap<(String, i32), Arc<Led>>> {
        self.led
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get(&self, topic: &str, partition: i32) -> Option<Arc<Led>> {
        self.led().get(&(topic.to_owned(), partition)).cloned()
    }

    /// Takes up leadership of a partition with `replicas` (this broker among them) and the
    /// committed `isr`; its log took up the new epoch already, so the followers must reach
    /// its log end of now to rejoin the ISR.
    pub fn lead(
        &self,
        log: Arc<Partition>,
        node_id: i32,
        replicas: &[i32],
        isr: &[i32],
        now_ms: i64,
    ) {
        let set = ReplicaSet::new(node_id, replicas, isr, log.log_end_offset(), now_ms);
        log.set_replicated(true);
        log.set_in_sync_replicas(set.isr().len());
        let led = Arc::new(Led {
            log,
            replicas: Mutex::new(set),
            durable_only: self.flush_on_ack,
        });
        led.advance_high_watermark(&led.replicas());
        let key = (led.log.topic().to_owned(), led.log.index());
        self.led().insert(key, led);
    }

    /// Stops leading a partition (resigned, or it has no followers any more).
    pub fn resign(&self, topic: &str, partition: i32) {
        if let Some(led) = self.led().remove(&(topic.to_owned(), partition)) {
            led.log.set_in_sync_replicas(1);
        }
    }

    /// Whether this broker leads the partition with followers.
    pub fn leads(&self, topic: &str, partition: i32) -> bool {
        self.get(topic, partition).is_some()
    }

    /// The replicas the cluster lists for a led partition, and its committed ISR; false if
    /// this broker does not lead it with followers.
    pub fn set_replicas(&self, topic: &str, partition: i32, replicas: &[i32], isr: &[i32]) -> bool {
        let Some(led) = self.get(topic, partition) else {
            return false;
        };
        let mut set = led.replicas();
        set.set_replicas(replicas);
        set.set_isr(isr);
        led.log.set_in_sync_replicas(set.isr().len());
        led.advance_high_watermark(&set);
        true
    }

    /// The ISR the cluster committed for a led partition.
    pub fn set_isr(&self, topic: &str, partition: i32, isr: &[i32]) {
        if let Some(led) = self.get(topic, partition) {
            let mut replicas = led.replicas();
            replicas.set_isr(isr);
            led.log.set_in_sync_replicas(replicas.isr().len());
            led.advance_high_watermark(&replicas);
        }
    }

    /// A follower's fetch of a led partition (Kafka's leader side of KIP-320): where its log
    /// diverged from this leader's, if it did (the epoch of its last batch is unknown here
    /// or ends below its fetch offset), else its log end and start recorded, which may move
    /// the high watermark.
    pub fn on_follower_fetch(
        &self,
        topic: &str,
        partition: i32,
        replica: i32,
        position: &FollowerPosition,
        now_ms: i64,
    ) -> Result<FollowerFetch, FollowerRefused> {
        let led = self
            .get(topic, partition)
            .ok_or(FollowerRefused::NotLeading)?;
        if position.last_fetched_epoch >= 0 {
            let (epoch, end_offset) = led.log.end_offset_for_epoch(position.last_fetched_epoch);
            if epoch < position.last_fetched_epoch || end_offset < position.fetch_offset {
                return Ok(FollowerFetch::Diverging { epoch, end_offset });
            }
        }
        let mut replicas = led.replicas();
        let leader_end = led.log.log_end_offset();
        if !replicas.on_fetch(replica, position.fetch_offset, leader_end, now_ms) {
            return Err(FollowerRefused::NotAReplica);
        }
        replicas.on_log_start(replica, position.log_start_offset);
        led.advance_high_watermark(&replicas);
        Ok(FollowerFetch::Recorded)
    }

    /// The in-sync followers of a led partition that hold `offset` (none if it is not led
    /// with followers): see [`ReplicaSet::readable_followers`].
    pub fn readable_followers(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        now_ms: i64,
    ) -> Vec<ReplicaView<'static>> {
        self.get(topic, partition)
            .map(|led| led.replicas().readable_followers(offset, now_ms))
            .unwrap_or_default()
    }

    /// After an append to a led partition: the high watermark follows the log end (as far
    /// as it is durable, with `flush.on.ack`) while the leader is the only in-sync replica.
    pub fn on_append(&self, topic: &str, partition: i32) {
        if let Some(led) = self.get(topic, partition) {
            led.advance_high_watermark(&led.replicas());
        }
    }

    /// ISR changes the leader should propose: followers lagging longer than `lag_max_ms`
    /// leave, followers caught up rejoin.
    pub fn isr_changes(&self, now_ms: i64, lag_max_ms: i64) -> Vec<IsrChange> {
        let led: Vec<Arc<Led>> = self.led().values().cloned().collect();
        led.iter()
            .filter_map(|led| {
                let replicas = led.replicas();
                let lagging = replicas.lagging(now_ms, lag_max_ms);
                let caught_up = replicas.caught_up(led.log.log_end_offset());
                if lagging.is_empty() && caught_up.is_empty() {
                    return None;
                }
                let isr: BTreeSet<i32> = replicas
                    .isr()
                    .iter()
                    .copied()
                    .filter(|id| !lagging.contains(id))
                    .chain(caught_up)
                    .collect();
                Some(IsrChange {
                    topic: led.log.topic().to_owned(),
                    partition: led.log.index(),
                    isr: isr.into_iter().collect(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::partition::testing;

    #[tokio::test]
    async fn with_flush_on_ack_the_leader_counts_its_log_as_far_as_it_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(testing::open(dir.path(), testing::test_config(), false));
        let leaders = Leaders::new(true);
        leaders.lead(Arc::clone(&log), 1, &[1, 2], &[1, 2], 0);
        let end = testing::append(&log, 3, 0).last_offset + 1;
        leaders.on_append("t", 0);
        let caught_up = FollowerPosition {
            fetch_offset: end,
            last_fetched_epoch: -1,
            log_start_offset: 0,
        };
        leaders
            .on_follower_fetch("t", 0, 2, &caught_up, 1_000)
            .unwrap();
        assert_eq!(log.high_watermark(), 0, "the leader has not flushed");
        log.flush(end).await.unwrap();
        assert_eq!(log.high_watermark(), end, "the flush moved it");
    }

    #[test]
    fn the_high_watermark_follows_the_in_sync_followers_and_the_isr_their_lag() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(testing::open(dir.path(), testing::test_config(), false));
        let leaders = Leaders::default();
        leaders.lead(Arc::clone(&log), 1, &[1, 2, 3], &[1, 2, 3], 0);
        testing::append(&log, 3, 0);
        leaders.on_append("t", 0);
        assert_eq!(log.high_watermark(), 0, "no follower has fetched");

        let at = |fetch_offset: i64| FollowerPosition {
            fetch_offset,
            last_fetched_epoch: -1,
            log_start_offset: 0,
        };
        let fetch = |replica: i32, offset: i64, now_ms: i64| {
            leaders.on_follower_fetch("t", 0, replica, &at(offset), now_ms)
        };
        assert_eq!(fetch(2, 3, 1_000), Ok(FollowerFetch::Recorded));
        assert_eq!(log.high_watermark(), 0, "follower 3 has nothing yet");
        assert_eq!(fetch(3, 2, 1_000), Ok(FollowerFetch::Recorded));
        assert_eq!(log.high_watermark(), 2);
        assert_eq!(fetch(4, 3, 1_000), Err(FollowerRefused::NotAReplica));
        assert_eq!(
            leaders.on_follower_fetch("t", 1, 2, &at(3), 1_000),
            Err(FollowerRefused::NotLeading)
        );
        assert!(leaders.isr_changes(20_000, 30_000).is_empty());

        // Nobody fetched for longer than the lag window: both followers leave.
        let shrink = leaders.isr_changes(40_000, 30_000);
        assert_eq!(shrink[0].isr, [1]);
        leaders.set_isr("t", 0, &shrink[0].isr);
        assert_eq!(log.high_watermark(), 3, "the leader alone is in sync");
        testing::append(&log, 2, 0);
        leaders.on_append("t", 0);
        assert_eq!(log.high_watermark(), 5);

        // Follower 2 catches up to the high watermark: it rejoins.
        assert_eq!(fetch(2, 5, 41_000), Ok(FollowerFetch::Recorded));
        let expand = leaders.isr_changes(41_000, 30_000);
        assert_eq!(expand[0].isr, [1, 2]);
        leaders.resign("t", 0);
        assert!(!leaders.leads("t", 0));
    }
}
