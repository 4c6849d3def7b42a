//! What clients do against their quotas: a token bucket per (user, client id) — Kafka's
//! KIP-599 algorithm, which Kafka uses for controller mutations. The bucket holds what the
//! quota allows over `quota.window.num` windows of `quota.window.size.seconds` and refills
//! at the quota; what a client sends or fetches is taken from it, and a client that drives
//! it below zero is throttled until it refills to zero: `−tokens / quota`.
//!
//! Kafka measures byte rates with its sampled `Rate` instead, which lets a client send a
//! whole window's worth each time its oldest sample expires (on average 10/11 of the quota,
//! in bursts every 11 s); the bucket holds a client to its quota within a percent over any
//! stretch past the first burst, with the same meaning of the throttle time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Applied, SensorId};

/// Kafka's `quota.window.num` and `quota.window.size.seconds` defaults.
pub const SAMPLES_DEFAULT: usize = 11;
pub const WINDOW_DEFAULT: Duration = Duration::from_secs(1);

/// How many sensors are kept before idle ones are dropped, and the most kept at all: past
/// it, clients new to the broker share one sensor (a client inventing client ids cannot
/// grow memory without bound).
const SENSORS_PRUNED_FROM: usize = 4_096;
const SENSORS_MAX: usize = 65_536;

/// The windows a quota is measured over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaWindow {
    pub samples: usize,
    pub window: Duration,
}

impl Default for QuotaWindow {
    fn default() -> Self {
        Self {
            samples: SAMPLES_DEFAULT,
            window: WINDOW_DEFAULT,
        }
    }
}

impl QuotaWindow {
    fn span(&self) -> Duration {
        self.window * self.samples as u32
    }
}

/// One client's bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    refilled_at: Instant,
}

impl Bucket {
    fn full(window: &QuotaWindow, bound: f64, now: Instant) -> Self {
        Self {
            tokens: Self::capacity(window, bound),
            refilled_at: now,
        }
    }

    fn capacity(window: &QuotaWindow, bound: f64) -> f64 {
        bound * window.span().as_secs_f64()
    }

    /// Adds what the quota allowed since the last refill, up to the capacity.
    fn refill(&mut self, window: &QuotaWindow, bound: f64, now: Instant) {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + bound * elapsed).min(Self::capacity(window, bound));
        self.refilled_at = self.refilled_at.max(now);
    }

    /// How long until the bucket refills to zero: none while it holds tokens.
    fn throttle(&self, bound: f64) -> Duration {
        if self.tokens >= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(-self.tokens / bound)
    }

    /// A bucket left alone for the span is full again: it can be forgotten.
    fn idle(&self, window: &QuotaWindow, now: Instant) -> bool {
        now.saturating_duration_since(self.refilled_at) >= window.span()
    }
}

/// The buckets of one kind of quota (produced bytes, fetched bytes, …).
#[derive(Debug)]
pub struct QuotaSensors {
    window: QuotaWindow,
    sensors: Mutex<Sensors>,
}

#[derive(Debug, Default)]
struct Sensors {
    buckets: HashMap<SensorId, Bucket>,
    /// When idle buckets were last dropped (at most once a window).
    pruned_at: Option<Instant>,
}

impl QuotaSensors {
    pub fn new(window: QuotaWindow) -> Self {
        Self {
            window,
            sensors: Mutex::new(Sensors::default()),
        }
    }

    /// Takes `value` from the bucket of the client `applied` covers; returns how long the
    /// client is throttled (zero within its quota).
    pub fn record(&self, applied: &Applied, value: f64, now: Instant) -> Duration {
        if applied.bound <= 0.0 {
            return Duration::ZERO;
        }
        let mut sensors = self.sensors.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = self.bucket(&mut sensors, applied, now);
        bucket.tokens -= value;
        bucket.throttle(applied.bound)
    }

    /// How long the client `applied` covers is throttled now, recording nothing (Kafka's
    /// strict check of a controller mutation quota before it records).
    pub fn throttle(&self, applied: &Applied, now: Instant) -> Duration {
        if applied.bound <= 0.0 {
            return Duration::ZERO;
        }
        let mut sensors = self.sensors.lock().unwrap_or_else(|e| e.into_inner());
        self.bucket(&mut sensors, applied, now)
            .throttle(applied.bound)
    }

    /// Gives back a recorded value (what a throttled fetch did not send).
    pub fn unrecord(&self, applied: &Applied, value: f64, now: Instant) {
        let mut sensors = self.sensors.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = self.bucket(&mut sensors, applied, now);
        bucket.tokens = (bucket.tokens + value).min(Bucket::capacity(&self.window, applied.bound));
    }

    /// The client's bucket, refilled to `now`.
    fn bucket<'a>(
        &self,
        sensors: &'a mut Sensors,
        applied: &Applied,
        now: Instant,
    ) -> &'a mut Bucket {
        let Sensors { buckets, pruned_at } = sensors;
        let id = &applied.sensor;
        let prune_due =
            pruned_at.is_none_or(|at| now.saturating_duration_since(at) >= self.window.window);
        if !buckets.contains_key(id) && buckets.len() >= SENSORS_PRUNED_FROM && prune_due {
            buckets.retain(|_, bucket| !bucket.idle(&self.window, now));
            *pruned_at = Some(now);
        }
        let id = if buckets.contains_key(id) || buckets.len() < SENSORS_MAX {
            id.clone()
        } else {
            SensorId {
                user: String::new(),
                client_id: "<too many clients>".to_owned(),
            }
        };
        let bucket = buckets
            .entry(id)
            .or_insert_with(|| Bucket::full(&self.window, applied.bound, now));
        bucket.refill(&self.window, applied.bound, now);
        bucket
    }

    /// How many buckets are kept.
    pub fn len(&self) -> usize {
        let sensors = self.sensors.lock().unwrap_or_else(|e| e.into_inner());
        sensors.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(bound: f64, client: &str) -> Applied {
        Applied {
            bound,
            sensor: SensorId {
                user: String::new(),
                client_id: client.to_owned(),
            },
        }
    }

    #[test]
    fn a_first_burst_of_the_whole_span_then_the_excess_is_throttled() {
        let sensors = QuotaSensors::new(QuotaWindow::default());
        let start = Instant::now();
        let quota = applied(1000.0, "c");
        // The bucket holds 11 s of quota.
        assert_eq!(sensors.record(&quota, 11_000.0, start), Duration::ZERO);
        // 1 000 more: a second's worth below zero.
        assert_eq!(
            sensors.record(&quota, 1_000.0, start),
            Duration::from_secs(1)
        );
        // Looking at the bucket records nothing.
        assert_eq!(sensors.throttle(&quota, start), Duration::from_secs(1));
        assert_eq!(sensors.throttle(&quota, start), Duration::from_secs(1));
        // Another client is measured on its own.
        assert_eq!(
            sensors.record(&applied(1000.0, "d"), 500.0, start),
            Duration::ZERO
        );
    }

    #[test]
    fn a_client_at_its_quota_is_not_throttled_and_one_over_it_is_held_to_it() {
        let sensors = QuotaSensors::new(QuotaWindow::default());
        let start = Instant::now();
        let quota = applied(100.0, "c");
        // Exactly the quota, every 100 ms, for a minute.
        for tick in 0..600u64 {
            let now = start + Duration::from_millis(100 * tick);
            assert_eq!(sensors.record(&quota, 10.0, now), Duration::ZERO, "{tick}");
        }
        // A client that waits out each throttle sends at its quota: 10 s at 10 per wait.
        let mut now = start + Duration::from_secs(60);
        sensors.record(&quota, 1_100.0, now);
        let mut sent = 0.0_f64;
        let until = now + Duration::from_secs(10);
        while now < until {
            let throttle = sensors.record(&quota, 10.0, now);
            sent += 10.0;
            now += throttle.max(Duration::from_millis(1));
        }
        assert!((sent - 1_000.0).abs() <= 20.0, "{sent}");
        // Unrecording gives tokens back.
        sensors.unrecord(&quota, 5_000.0, now);
        assert_eq!(sensors.record(&quota, 1_000.0, now), Duration::ZERO);
    }

    #[test]
    fn clients_beyond_the_bound_share_one_bucket() {
        let sensors = QuotaSensors::new(QuotaWindow::default());
        let now = Instant::now();
        for client in 0..SENSORS_MAX + 10 {
            sensors.record(&applied(1e9, &client.to_string()), 1.0, now);
        }
        assert_eq!(sensors.len(), SENSORS_MAX + 1);
        // Once they are idle, they are dropped.
        let later = now + QuotaWindow::default().span();
        sensors.record(&applied(1e9, "new"), 1.0, later);
        assert_eq!(sensors.len(), 1);
    }
}
