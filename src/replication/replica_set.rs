//! What a partition's leader knows of its followers, and what follows from it (Kafka's
//! `Partition`/`Replica` bookkeeping): each follower's log end offset from its fetches, when
//! it was last caught up, the high watermark (the smallest log end of the in-sync
//! replicas), which in-sync followers fell behind for longer than `replica.lag.time.max.ms`
//! (ISR shrink), and which out-of-sync followers caught up (ISR expand). Pure: every call
//! takes the time and the leader's log end, so it is driven the same way in tests and in the
//! broker.

use std::collections::{BTreeMap, BTreeSet};

use super::read_replica::ReplicaView;

/// Kafka's `replica.lag.time.max.ms` default.
pub const REPLICA_LAG_TIME_MAX_MS: i64 = 30_000;

/// One follower, as its fetches show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Follower {
    /// The offset of its last fetch: everything below is in its log. -1 before any fetch.
    log_end_offset: i64,
    /// When it last had everything the leader had (Kafka's `lastCaughtUpTimeMs`).
    caught_up_ms: i64,
    /// When it last fetched, and the leader's log end then.
    last_fetch_ms: i64,
    leader_end_at_last_fetch: i64,
    /// Its log start, as its last fetch gave it (-1 before any).
    log_start_offset: i64,
}

impl Follower {
    /// A follower that has not fetched yet and was never caught up.
    const NEW: Self = Self {
        log_end_offset: -1,
        caught_up_ms: i64::MIN,
        last_fetch_ms: i64::MIN,
        leader_end_at_last_fetch: -1,
        log_start_offset: -1,
    };
}

/// A leader's view of one partition's replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSet {
    leader: i32,
    /// The in-sync replicas as the cluster last committed them (leader included).
    isr: BTreeSet<i32>,
    followers: BTreeMap<i32, Follower>,
    /// Where the leader's epoch began: a follower must have reached it to rejoin the ISR.
    epoch_start_offset: i64,
}

impl ReplicaSet {
    /// The leader's view right after it took up its epoch at `epoch_start_offset`: in-sync
    /// followers count as caught up now (Kafka gives them a full lag window), the others as
    /// never.
    pub fn new(
        leader: i32,
        replicas: &[i32],
        isr: &[i32],
        epoch_start_offset: i64,
        now_ms: i64,
    ) -> Self {
        let isr: BTreeSet<i32> = isr.iter().copied().collect();
        let followers = replicas
            .iter()
            .filter(|id| **id != leader)
            .map(|id| {
                let caught_up_ms = if isr.contains(id) { now_ms } else { i64::MIN };
                let follower = Follower {
                    caught_up_ms,
                    ..Follower::NEW
                };
                (*id, follower)
            })
            .collect();
        Self {
            leader,
            isr,
            followers,
            epoch_start_offset,
        }
    }

    pub fn isr(&self) -> &BTreeSet<i32> {
        &self.isr
    }

    /// The ISR the cluster committed (after this leader's change, or the controller's).
    pub fn set_isr(&mut self, isr: &[i32]) {
        self.isr = isr.iter().copied().collect();
    }

    /// The replicas the cluster now lists (a reassignment adds or removes some): a new
    /// follower starts out never caught up, one no longer listed is forgotten.
    pub fn set_replicas(&mut self, replicas: &[i32]) {
        self.followers.retain(|id, _| replicas.contains(id));
        for &id in replicas.iter().filter(|id| **id != self.leader) {
            self.followers.entry(id).or_insert(Follower::NEW);
        }
    }

    /// Whether `replica` is a follower of this partition.
    pub fn is_follower(&self, replica: i32) -> bool {
        self.followers.contains_key(&replica)
    }

    /// Records a fetch from `replica` at `fetch_offset` while the leader's log ends at
    /// `leader_end`. Kafka's rule: caught up now if it asked for the leader's end; caught up
    /// as of its previous fetch if it asked for at least what the leader had then. Returns
    /// false for a replica that is not a follower.
    pub fn on_fetch(
        &mut self,
        replica: i32,
        fetch_offset: i64,
        leader_end: i64,
        now_ms: i64,
    ) -> bool {
        let Some(follower) = self.followers.get_mut(&replica) else {
            return false;
        };
        if fetch_offset >= leader_end {
            follower.caught_up_ms = follower.caught_up_ms.max(now_ms);
        } else if fetch_offset >= follower.leader_end_at_last_fetch
            && follower.last_fetch_ms != i64::MIN
        {
            follower.caught_up_ms = follower.caught_up_ms.max(follower.last_fetch_ms);
        }
        follower.log_end_offset = fetch_offset;
        follower.last_fetch_ms = now_ms;
        follower.leader_end_at_last_fetch = leader_end;
        true
    }

    /// The log start `replica`'s last fetch reported.
    pub fn on_log_start(&mut self, replica: i32, log_start_offset: i64) {
        if let Some(follower) = self.followers.get_mut(&replica) {
            follower.log_start_offset = log_start_offset;
        }
    }

    /// The in-sync followers whose log holds `offset`: those a consumer may be sent to
    /// (KIP-392). Their racks are not known here.
    pub fn readable_followers(&self, offset: i64, now_ms: i64) -> Vec<ReplicaView<'static>> {
        self.followers
            .iter()
            .filter(|(id, follower)| {
                self.isr.contains(id)
                    && follower.log_start_offset >= 0
                    && (follower.log_start_offset..=follower.log_end_offset).contains(&offset)
            })
            .map(|(id, follower)| ReplicaView {
                id: *id,
                rack: None,
                log_end_offset: follower.log_end_offset,
                since_caught_up_ms: now_ms.saturating_sub(follower.caught_up_ms).max(0),
            })
            .collect()
    }

    /// The smallest log end among the in-sync replicas (the leader's is `leader_end`).
    pub fn high_watermark(&self, leader_end: i64) -> i64 {
        self.isr
            .iter()
            .map(|id| match self.followers.get(id) {
                _ if *id == self.leader => leader_end,
                Some(follower) => follower.log_end_offset.max(0).min(leader_end),
                None => leader_end,
            })
            .min()
            .unwrap_or(leader_end)
    }

    /// In-sync followers not caught up for longer than `lag_max_ms`: the ISR to shrink.
    pub fn lagging(&self, now_ms: i64, lag_max_ms: i64) -> Vec<i32> {
        self.followers
            .iter()
            .filter(|(id, follower)| {
                self.isr.contains(id) && now_ms.saturating_sub(follower.caught_up_ms) > lag_max_ms
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// Out-of-sync followers whose log reaches the high watermark and this leader's epoch:
    /// the ISR to expand.
    pub fn caught_up(&self, leader_end: i64) -> Vec<i32> {
        let high_watermark = self.high_watermark(leader_end);
        self.followers
            .iter()
            .filter(|(id, follower)| {
                !self.isr.contains(id)
                    && follower.log_end_offset >= high_watermark
                    && follower.log_end_offset >= self.epoch_start_offset
            })
            .map(|(id, _)| *id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_high_watermark_is_the_slowest_in_sync_replica() {
        let mut set = ReplicaSet::new(1, &[1, 2, 3], &[1, 2, 3], 0, 0);
        assert_eq!(set.high_watermark(10), 0, "no follower has fetched yet");
        set.on_fetch(2, 10, 10, 5);
        set.on_fetch(3, 4, 10, 5);
        assert_eq!(set.high_watermark(10), 4);
        set.set_isr(&[1, 2]);
        assert_eq!(
            set.high_watermark(10),
            10,
            "an out-of-sync replica holds nothing back"
        );
        assert!(!set.on_fetch(9, 10, 10, 5), "not a replica");
    }

    #[test]
    fn consumers_may_read_from_in_sync_followers_that_hold_the_offset() {
        let mut set = ReplicaSet::new(1, &[1, 2, 3, 4], &[1, 2, 3], 0, 0);
        set.on_fetch(2, 10, 10, 5);
        set.on_log_start(2, 0);
        set.on_fetch(3, 6, 10, 5);
        set.on_log_start(3, 4);
        set.on_fetch(4, 10, 10, 5);
        set.on_log_start(4, 0);
        let readable = |offset: i64| -> Vec<(i32, i64, i64)> {
            set.readable_followers(offset, 8)
                .iter()
                .map(|view| (view.id, view.log_end_offset, view.since_caught_up_ms))
                .collect()
        };
        assert_eq!(readable(5), [(2, 10, 3), (3, 6, 8)]);
        assert_eq!(readable(2), [(2, 10, 3)], "below 3's log start");
        assert_eq!(
            readable(8),
            [(2, 10, 3)],
            "beyond 3's log end; 4 is not in sync"
        );
        let fresh = ReplicaSet::new(1, &[1, 2], &[1, 2], 0, 0);
        assert!(
            fresh.readable_followers(0, 0).is_empty(),
            "no fetch seen yet"
        );
    }

    #[test]
    fn a_follower_behind_for_longer_than_the_lag_leaves_and_rejoins_when_caught_up() {
        let lag = REPLICA_LAG_TIME_MAX_MS;
        let mut set = ReplicaSet::new(1, &[1, 2, 3], &[1, 2, 3], 20, 0);
        set.on_fetch(2, 20, 20, 1_000);
        set.on_fetch(3, 20, 20, 1_000);
        // The leader takes writes; follower 3 keeps fetching but never catches up.
        for second in 2..40 {
            let leader_end = 20 + second * 10;
            set.on_fetch(2, leader_end, leader_end, second * 1_000);
            set.on_fetch(3, 20, leader_end, second * 1_000);
        }
        // Follower 3 last had everything at 1 s: it may lag until 31 s, follower 2 never.
        assert_eq!(set.lagging(31_000, lag), Vec::<i32>::new());
        assert_eq!(set.lagging(31_001, lag), vec![3]);
        set.set_isr(&[1, 2]);
        assert_eq!(set.caught_up(410), Vec::<i32>::new());
        set.on_fetch(3, 410, 410, 42_000);
        assert_eq!(set.caught_up(410), vec![3]);
    }

    #[test]
    fn a_reassignment_adds_followers_that_must_catch_up_and_forgets_removed_ones() {
        let mut set = ReplicaSet::new(1, &[1, 2], &[1, 2], 0, 0);
        set.on_fetch(2, 10, 10, 1_000);
        set.set_replicas(&[1, 2, 3]);
        assert!(set.is_follower(3));
        assert_eq!(
            set.high_watermark(10),
            10,
            "the new follower is not in sync"
        );
        assert_eq!(set.caught_up(10), Vec::<i32>::new());
        set.on_fetch(3, 10, 10, 2_000);
        assert_eq!(set.caught_up(10), vec![3]);
        // A removed follower's fetches are refused.
        set.set_replicas(&[1, 3]);
        assert!(!set.is_follower(2) && !set.on_fetch(2, 10, 10, 3_000));
    }

    #[test]
    fn a_follower_fetching_what_the_leader_had_last_time_is_caught_up_as_of_then() {
        let lag = REPLICA_LAG_TIME_MAX_MS;
        let mut set = ReplicaSet::new(1, &[1, 2], &[1, 2], 0, 0);
        set.on_fetch(2, 5, 10, 1_000);
        // Asks for 10, the leader's end at its previous fetch, while the leader is at 15.
        set.on_fetch(2, 10, 15, 20_000);
        assert_eq!(set.lagging(31_000, lag), Vec::<i32>::new());
        assert_eq!(set.lagging(31_001, lag), vec![2]);
        let mut behind = ReplicaSet::new(1, &[1, 2], &[1, 2], 0, 0);
        behind.on_fetch(2, 5, 10, 1_000);
        behind.on_fetch(2, 9, 15, 20_000);
        assert_eq!(
            behind.lagging(30_001, lag),
            vec![2],
            "caught up only at the start"
        );
    }

    proptest! {
        /// Whatever the fetches, the high watermark never passes the leader's end nor any
        /// in-sync follower's, and a follower the ISR regains has the high watermark.
        #[test]
        fn the_high_watermark_never_passes_an_in_sync_log(
            fetches in proptest::collection::vec((2i32..5, 0i64..100, 0i64..100), 0..40),
            isr_mask in 0u8..8,
        ) {
            let isr: Vec<i32> = std::iter::once(1)
                .chain((2..5).filter(|id| isr_mask & (1 << (id - 2)) != 0))
                .collect();
            let mut set = ReplicaSet::new(1, &[1, 2, 3, 4], &isr, 0, 0);
            let mut leader_end = 0;
            let mut ends = BTreeMap::new();
            for (now, (replica, offset, grow)) in fetches.into_iter().enumerate() {
                leader_end += grow;
                let offset = offset.min(leader_end);
                set.on_fetch(replica, offset, leader_end, now as i64);
                ends.insert(replica, offset);
                let high_watermark = set.high_watermark(leader_end);
                prop_assert!(high_watermark <= leader_end);
                for id in &isr {
                    if *id != 1 {
                        prop_assert!(high_watermark <= ends.get(id).copied().unwrap_or(0));
                    }
                }
                for id in set.caught_up(leader_end) {
                    prop_assert!(ends[&id] >= high_watermark);
                }
            }
        }
    }
}
