//! Replication throttles (Kafka's replication quotas, KIP-73): while partitions move, the
//! bytes a broker's leaders send to throttled followers, and the bytes its throttled
//! followers fetch, are held to a rate. Only replicas out of sync are slowed, and only while
//! the rate is exceeded; every byte of a throttled partition counts.
//!
//! The rate is measured as Kafka's `SimpleRate`: bytes over the last
//! `replication.quota.window.num` windows of `replication.quota.window.size.seconds`,
//! divided by the time they span (at least one window).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::Duration;

use tokio::time::Instant;

/// Kafka's `replication.quota.window.num` and `replication.quota.window.size.seconds`.
const WINDOWS: usize = 11;
const WINDOW: Duration = Duration::from_secs(1);

/// Bytes recorded per window, over the last [`WINDOWS`] windows.
#[derive(Debug, Default)]
struct WindowedRate {
    /// (window start, bytes), oldest first.
    windows: Vec<(Instant, u64)>,
}

impl WindowedRate {
    fn record(&mut self, now: Instant, bytes: u64) {
        self.purge(now);
        match self.windows.last_mut() {
            Some((start, total)) if now.duration_since(*start) < WINDOW => *total += bytes,
            _ => self.windows.push((now, bytes)),
        }
    }

    /// Bytes per second at `now`.
    fn rate(&mut self, now: Instant) -> f64 {
        self.purge(now);
        let Some((oldest, _)) = self.windows.first() else {
            return 0.0;
        };
        let elapsed = now.duration_since(*oldest).max(WINDOW);
        let bytes: u64 = self.windows.iter().map(|(_, bytes)| bytes).sum();
        bytes as f64 / elapsed.as_secs_f64()
    }

    fn purge(&mut self, now: Instant) {
        let span = WINDOW * WINDOWS as u32;
        self.windows
            .retain(|(start, _)| now.duration_since(*start) < span);
    }
}

/// Whether a replica's fetch of a partition is throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    /// Not a throttled partition.
    No,
    /// A throttled partition: its bytes count against the rate.
    Counted,
    /// Counted, and the replica is out of sync: left out while the rate is exceeded.
    Slowed,
}

/// The throttled partitions of one side (leader or follower) and the out-of-sync replicas
/// it slows in each.
pub type ThrottledPartitions = HashMap<String, HashMap<i32, BTreeSet<i32>>>;

/// One side's throttle: the partitions it covers, its rate bound and the measured rate.
#[derive(Debug, Default)]
pub struct Throttle {
    partitions: RwLock<ThrottledPartitions>,
    /// Bytes per second; `None`: unbounded.
    bound: RwLock<Option<u64>>,
    rate: Mutex<WindowedRate>,
}

impl Throttle {
    /// Replaces what this throttle covers and its bound.
    pub fn set(&self, partitions: ThrottledPartitions, bound: Option<u64>) {
        *self
            .partitions
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = partitions;
        *self
            .bound
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = bound;
    }

    /// How the fetch of `topic`/`partition` by (or for) `replica` is throttled.
    pub fn of(&self, topic: &str, partition: i32, replica: i32) -> Throttled {
        let partitions = self
            .partitions
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match partitions
            .get(topic)
            .and_then(|topic| topic.get(&partition))
        {
            None => Throttled::No,
            Some(slowed) if slowed.contains(&replica) => Throttled::Slowed,
            Some(_) => Throttled::Counted,
        }
    }

    /// Whether a fetch `throttled` so is left out now: slowed, with the rate over the bound.
    pub fn holds_back(&self, throttled: Throttled) -> bool {
        throttled == Throttled::Slowed && self.exceeded()
    }

    /// Whether the measured rate is over the bound.
    pub fn exceeded(&self) -> bool {
        let bound = *self
            .bound
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        bound.is_some_and(|bound| self.rate().rate(Instant::now()) > bound as f64)
    }

    /// Counts `bytes` of throttled partitions.
    pub fn record(&self, bytes: u64) {
        if bytes > 0 {
            self.rate().record(Instant::now(), bytes);
        }
    }

    fn rate(&self) -> MutexGuard<'_, WindowedRate> {
        self.rate
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A broker's two throttles: on what its leaders send, and on what its followers fetch.
#[derive(Debug, Default)]
pub struct ReplicationThrottles {
    pub leader: Throttle,
    pub follower: Throttle,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_spans_the_recorded_windows_and_at_least_one() {
        let start = Instant::now();
        let at = |seconds: f64| start + Duration::from_secs_f64(seconds);
        let mut rate = WindowedRate::default();
        assert_eq!(rate.rate(start), 0.0);
        rate.record(at(0.0), 1000);
        // Less than a window has passed: it counts as one.
        assert_eq!(rate.rate(at(0.5)), 1000.0);
        rate.record(at(0.5), 1000);
        rate.record(at(1.0), 2000);
        assert_eq!(rate.rate(at(2.0)), 2000.0);
        assert_eq!(rate.rate(at(4.0)), 1000.0);
        // Eleven windows on, the first ones are gone.
        assert_eq!(rate.rate(at(11.5)), 2000.0 / 10.5);
        assert_eq!(rate.rate(at(12.5)), 0.0);
    }

    #[tokio::test(start_paused = true)]
    async fn only_out_of_sync_replicas_are_held_back_and_only_over_the_bound() {
        let throttle = Throttle::default();
        let partitions = ThrottledPartitions::from([(
            "t".to_owned(),
            HashMap::from([(0, BTreeSet::from([3]))]),
        )]);
        throttle.set(partitions, Some(1000));
        assert_eq!(throttle.of("t", 0, 3), Throttled::Slowed);
        assert_eq!(throttle.of("t", 0, 2), Throttled::Counted);
        assert_eq!(throttle.of("t", 1, 3), Throttled::No);
        assert_eq!(throttle.of("u", 0, 3), Throttled::No);
        assert!(!throttle.holds_back(Throttled::Slowed));
        throttle.record(1500);
        assert!(throttle.holds_back(Throttled::Slowed));
        assert!(!throttle.holds_back(Throttled::Counted));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(!throttle.exceeded());
        // Unbounded: never exceeded.
        throttle.set(ThrottledPartitions::new(), None);
        throttle.record(1 << 40);
        assert!(!throttle.exceeded());
    }
}
