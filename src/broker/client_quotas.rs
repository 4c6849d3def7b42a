//! Client quotas as clients manage them (DescribeClientQuotas, AlterClientQuotas) — kept
//! with the metadata, in the cluster store (one map by entity, changed by compare-and-swap,
//! awaited until applied here) or a single node's `topics.json` — and as requests are
//! measured against them: produced and fetched bytes per (user, client id), each client
//! throttled as Kafka throttles it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::dynamic_configs::DynamicConfigError;
use super::Broker;
use crate::quota::rate::{QuotaSensors, QuotaWindow};
use crate::quota::{
    Alteration, Applied, ClientQuotas, Component, Entity, InvalidFilter, Outcomes, SensorId,
    Values, CONSUMER_BYTE_RATE, CONTROLLER_MUTATION_RATE, PRODUCER_BYTE_RATE, REQUEST_PERCENTAGE,
};

/// What clients have done against their quotas: bytes produced and fetched, time taken by
/// their requests, partitions they created or deleted, connections opened (per IP, and by
/// the whole broker against `max.connection.creation.rate`).
#[derive(Debug)]
pub struct ClientRates {
    produced: QuotaSensors,
    fetched: QuotaSensors,
    requests: QuotaSensors,
    mutations: Arc<QuotaSensors>,
    connections: QuotaSensors,
    accepted: Option<(QuotaSensors, Applied)>,
}

impl ClientRates {
    pub fn new(window: QuotaWindow, max_connection_creation_rate: Option<u32>) -> Self {
        let accepted = max_connection_creation_rate.map(|rate| {
            let broker = Applied {
                bound: f64::from(rate),
                sensor: SensorId {
                    user: String::new(),
                    client_id: String::new(),
                },
            };
            (QuotaSensors::new(window), broker)
        });
        Self {
            produced: QuotaSensors::new(window),
            fetched: QuotaSensors::new(window),
            requests: QuotaSensors::new(window),
            mutations: Arc::new(QuotaSensors::new(window)),
            connections: QuotaSensors::new(window),
            accepted,
        }
    }
}

/// A fetch measured against its client's quota.
#[derive(Debug)]
pub struct FetchMeasure {
    applied: Applied,
    bytes: f64,
    /// How long the client is throttled; zero within its quota.
    pub throttle: Duration,
}

/// A request's controller mutations — partitions created or deleted — measured against its
/// client's `controller_mutation_rate` (KIP-599). Strict (CreateTopics v6+, DeleteTopics v5+,
/// CreatePartitions v3+): while the client's bucket is below zero a mutation is refused with
/// its throttle time, and only a refusal throttles. Permissive (older versions, which cannot
/// tell the refusal): every mutation is taken, and the client throttled once it goes below.
#[derive(Debug)]
pub struct MutationQuota {
    sensors: Arc<QuotaSensors>,
    applied: Option<Applied>,
    strict: bool,
    /// The last throttle decided, and when.
    throttled: Option<(Duration, Instant)>,
}

/// A mutation refused by a strict quota, with how long the client is throttled.
#[derive(Debug, Clone, Copy)]
pub struct MutationRefused(pub Duration);

impl MutationQuota {
    /// Takes `partitions` mutations from the client's bucket, unless strict and the bucket is
    /// already below zero.
    pub fn record(&mut self, partitions: i32) -> Result<(), MutationRefused> {
        let Some(applied) = &self.applied else {
            return Ok(());
        };
        let now = Instant::now();
        if self.strict {
            let throttle = self.sensors.throttle(applied, now);
            if !throttle.is_zero() {
                self.throttled = Some((throttle, now));
                return Err(MutationRefused(throttle));
            }
        }
        let throttle = self
            .sensors
            .record(applied, f64::from(partitions.max(0)), now);
        if !self.strict && !throttle.is_zero() {
            self.throttled = Some((throttle, now));
        }
        Ok(())
    }

    /// How long the client is throttled now: the last throttle decided, less the time since
    /// (Kafka's `throttleTime`, read after the mutations were awaited).
    pub fn throttle(&self) -> Duration {
        self.throttled.map_or(Duration::ZERO, |(throttle, at)| {
            throttle.saturating_sub(at.elapsed())
        })
    }
}

/// Kafka's user quota entity name of a principal: its name without the type.
fn user_of(principal: &str) -> &str {
    principal
        .split_once(':')
        .map_or(principal, |(_, name)| name)
}

impl Broker {
    /// The entities a DescribeClientQuotas filter selects, with their quotas.
    pub fn describe_client_quotas(
        &self,
        components: &[Component],
        strict: bool,
    ) -> Result<Vec<(Entity, Values)>, InvalidFilter> {
        let image = self.metadata.image();
        let found = image.client_quotas.describe(components, strict)?;
        Ok(found
            .into_iter()
            .map(|(entity, values)| (entity.clone(), values.clone()))
            .collect())
    }

    /// Applies what is valid of `alterations` as one change (nothing with `validate_only`);
    /// returns each entity's outcome.
    pub async fn alter_client_quotas(
        &self,
        alterations: &[Alteration],
        validate_only: bool,
    ) -> Result<Outcomes, DynamicConfigError> {
        if validate_only {
            let image = self.metadata.image();
            return Ok(image.client_quotas.altered(alterations).outcomes);
        }
        // What the stored attempt decided (a compare-and-swap may retry).
        let outcomes = Mutex::new(Vec::new());
        let decide = |current: &ClientQuotas| {
            let altered = current.altered(alterations);
            *outcomes.lock().unwrap_or_else(|e| e.into_inner()) = altered.outcomes;
            altered.quotas
        };
        match &self.cluster {
            Some(node) => {
                let stored = node
                    .membership()
                    .update_client_quotas(|stored| {
                        Ok::<_, DynamicConfigError>(
                            decide(&ClientQuotas::from_stored(stored)).stored(),
                        )
                    })
                    .await?;
                let stored = ClientQuotas::from_stored(&stored);
                self.wait_applied(|image| *image.client_quotas == stored)
                    .await;
            }
            None => self
                .metadata
                .update_client_quotas(|current| Ok::<_, DynamicConfigError>(decide(current)))?,
        }
        let outcomes = outcomes.into_inner().unwrap_or_else(|e| e.into_inner());
        tracing::info!(entities = outcomes.len(), "altered client quotas");
        Ok(outcomes)
    }

    /// Records `bytes` produced by `principal`'s client `client_id`; returns how long it is
    /// throttled (zero without a quota or within it).
    pub fn record_produced(&self, principal: &str, client_id: &str, bytes: usize) -> Duration {
        let image = self.metadata.image();
        let user = user_of(principal);
        match image
            .client_quotas
            .applying(PRODUCER_BYTE_RATE, user, client_id)
        {
            None => Duration::ZERO,
            Some(applied) => {
                self.client_rates
                    .produced
                    .record(&applied, bytes as f64, Instant::now())
            }
        }
    }

    /// Records a fetch response of `bytes` for `principal`'s client `client_id`, if a quota
    /// applies to it.
    pub fn record_fetched(
        &self,
        principal: &str,
        client_id: &str,
        bytes: usize,
    ) -> Option<FetchMeasure> {
        let image = self.metadata.image();
        let applied =
            image
                .client_quotas
                .applying(CONSUMER_BYTE_RATE, user_of(principal), client_id)?;
        let bytes = bytes as f64;
        let throttle = self
            .client_rates
            .fetched
            .record(&applied, bytes, Instant::now());
        Some(FetchMeasure {
            applied,
            bytes,
            throttle,
        })
    }

    /// The most a fetch of `principal`'s client `client_id` may carry: what its quota
    /// allows over all windows but the current one (Kafka's `getMaxValueInQuotaWindow`), so
    /// that a fetch is never too big to be served; `None` without a quota.
    pub fn fetch_bytes_allowed(&self, principal: &str, client_id: &str) -> Option<usize> {
        let image = self.metadata.image();
        let applied =
            image
                .client_quotas
                .applying(CONSUMER_BYTE_RATE, user_of(principal), client_id)?;
        let window = self.config.quota_window;
        let seconds = window.window.as_secs_f64() * window.samples.saturating_sub(1) as f64;
        Some((applied.bound * seconds).min(usize::MAX as f64) as usize)
    }

    /// The `request_percentage` quota that applies to `principal`'s client `client_id`.
    pub fn request_quota(&self, principal: &str, client_id: &str) -> Option<Applied> {
        let image = self.metadata.image();
        image
            .client_quotas
            .applying(REQUEST_PERCENTAGE, user_of(principal), client_id)
    }

    /// Records `busy`, the time a request took on the broker's threads, against `applied`
    /// (in percent of a thread over a second, as Kafka counts it); returns how long the
    /// client is throttled, at most one quota window (Kafka's bound).
    pub fn record_request_time(&self, applied: &Applied, busy: Duration) -> Duration {
        let percent_seconds = busy.as_secs_f64() * 100.0;
        self.client_rates
            .requests
            .record(applied, percent_seconds, Instant::now())
            .min(self.config.quota_window.window)
    }

    /// The `controller_mutation_rate` quota of a request from `principal`'s client
    /// `client_id`, strict or permissive.
    pub fn mutation_quota(&self, principal: &str, client_id: &str, strict: bool) -> MutationQuota {
        let image = self.metadata.image();
        MutationQuota {
            sensors: Arc::clone(&self.client_rates.mutations),
            applied: image.client_quotas.applying(
                CONTROLLER_MUTATION_RATE,
                user_of(principal),
                client_id,
            ),
            strict,
            throttled: None,
        }
    }

    /// Records a connection accepted from `ip`; returns how long it is throttled by the IP's
    /// `connection_creation_rate` (then it is not counted, and is closed once that time has
    /// passed, as Kafka does).
    pub fn record_connection(&self, ip: &str) -> Duration {
        let image = self.metadata.image();
        let Some(applied) = image.client_quotas.connection_rate_of(ip) else {
            return Duration::ZERO;
        };
        let now = Instant::now();
        let throttle = self.client_rates.connections.record(&applied, 1.0, now);
        if !throttle.is_zero() {
            self.client_rates.connections.unrecord(&applied, 1.0, now);
        }
        throttle
    }

    /// Records a connection the broker accepted; returns how long listeners wait before
    /// accepting another (`max.connection.creation.rate`).
    pub fn record_accepted(&self) -> Duration {
        match &self.client_rates.accepted {
            None => Duration::ZERO,
            Some((sensors, broker)) => sensors.record(broker, 1.0, Instant::now()),
        }
    }

    /// Takes back a fetch that is answered empty because its client is throttled (Kafka
    /// counts only what it sends).
    pub fn unrecord_fetched(&self, measure: &FetchMeasure) {
        self.client_rates
            .fetched
            .unrecord(&measure.applied, measure.bytes, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mutation_quota(strict: bool) -> MutationQuota {
        MutationQuota {
            sensors: Arc::new(QuotaSensors::new(QuotaWindow::default())),
            applied: Some(Applied {
                bound: 1.0,
                sensor: SensorId {
                    user: String::new(),
                    client_id: "c".to_owned(),
                },
            }),
            strict,
            throttled: None,
        }
    }

    #[test]
    fn a_strict_quota_refuses_only_once_the_bucket_is_below_zero() {
        // One partition a second: the bucket holds 11.
        let mut quota = mutation_quota(true);
        assert!(quota.record(8).is_ok());
        // Below zero now, but taking it is not throttled…
        assert!(quota.record(8).is_ok());
        assert!(quota.throttle().is_zero());
        // …the next mutation is refused for the 5 s the bucket needs to refill to zero.
        let MutationRefused(throttle) = quota.record(1).unwrap_err();
        assert!((throttle.as_secs_f64() - 5.0).abs() < 0.1, "{throttle:?}");
        assert!(!quota.throttle().is_zero() && quota.throttle() <= throttle);
    }

    #[test]
    fn a_permissive_quota_takes_every_mutation_and_throttles_below_zero() {
        let mut quota = mutation_quota(false);
        assert!(quota.record(11).is_ok());
        assert!(quota.throttle().is_zero());
        assert!(quota.record(3).is_ok());
        assert!((quota.throttle().as_secs_f64() - 3.0).abs() < 0.1);
    }

    #[test]
    fn a_principal_is_named_without_its_type() {
        assert_eq!(user_of("User:alice"), "alice");
        assert_eq!(user_of("User:CN=a,O=b"), "CN=a,O=b");
        assert_eq!(user_of("ANONYMOUS"), "ANONYMOUS");
    }
}
