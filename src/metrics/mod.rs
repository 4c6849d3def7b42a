//! Prometheus metrics: counters and histograms the request, produce, fetch and fsync paths
//! update as they go ([`global`]), and gauges of the broker's state sampled at each scrape
//! ([`StateSample`]: partition offsets and sizes, consumer group offsets, lag and states).
//! Served over HTTP by [`http`] on `metrics.listen`. A leaf: every layer may record here, and
//! it imports no other part of the broker.

pub mod http;
pub mod response_errors;
mod state;

pub use state::{GroupSample, PartitionSample, StateSample};

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Duration;

use kafka_protocol::messages::ApiKey;
use std::fmt::Write;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// An API as a label value, named at scrape time (no allocation per request).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
struct Api(ApiKey);

impl EncodeLabelValue for Api {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        write!(encoder, "{:?}", self.0)
    }
}

/// An error code as a label value: Kafka's name for it.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
struct ErrorCode(i16);

impl EncodeLabelValue for ErrorCode {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        match kafka_protocol::ResponseError::try_from_code(self.0) {
            Some(error) => encoder.write_str(&screaming_snake(&format!("{error:?}"))),
            None => write!(encoder, "CODE_{}", self.0),
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    api: Api,
    version: i16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    api: Api,
    error: ErrorCode,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    api: Api,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthenticationLabels {
    listener: String,
    mechanism: &'static str,
    /// `authentication` or `reauthentication` (KIP-368).
    kind: &'static str,
    /// `success` or `failure`.
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ThrottleLabels {
    /// The quota: `produce`, `fetch`, `request` or `controller_mutation`.
    quota: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabels {
    topic: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PrincipalLabels {
    principal: String,
}

/// Principals given series of their own, in the order they first send a request; later ones
/// are counted together under [`OTHER_PRINCIPALS`], so a scrape stays bounded however many
/// users connect.
pub const MAX_PRINCIPAL_SERIES: usize = 1000;
/// The `principal` label of the principals past [`MAX_PRINCIPAL_SERIES`] (no principal is
/// spelled so: they are `Type:name`).
const OTHER_PRINCIPALS: &str = "other";

/// Bucket bounds of the latency histograms, in seconds: 100 µs to 10 s in 1-2-5 steps, so
/// that round targets ("p99 under 5 ms") can be read off the buckets directly.
const LATENCY_BUCKETS_SECONDS: [f64; 16] = [
    0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
    10.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS_SECONDS)
}

/// The metrics the broker's paths update.
#[derive(Debug)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    request_errors: Family<ErrorLabels, Counter>,
    request_seconds: Family<ApiLabels, Histogram, fn() -> Histogram>,
    bytes_in: Family<TopicLabels, Counter>,
    bytes_out: Family<TopicLabels, Counter>,
    replication_bytes_in: Counter,
    replication_bytes_out: Counter,
    connections: Gauge,
    connections_opened: Counter,
    authentications: Family<AuthenticationLabels, Counter>,
    expired_sessions_closed: Counter,
    throttles: Family<ThrottleLabels, Counter>,
    throttle_seconds: Family<ThrottleLabels, Counter<f64, AtomicU64>>,
    fsyncs: Counter,
    fsync_seconds: Histogram,
    principal_requests: Family<PrincipalLabels, Counter>,
    principal_request_bytes: Family<PrincipalLabels, Counter>,
    principal_response_bytes: Family<PrincipalLabels, Counter>,
    /// The principals that have series of their own.
    principals: Mutex<HashSet<String>>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// One principal's counters, shared by all its connections: looked up once per connection
/// (and again if it authenticates as another), updated per request without a lookup.
#[derive(Debug, Clone)]
pub struct PrincipalMetrics {
    requests: Counter,
    request_bytes: Counter,
    response_bytes: Counter,
}

impl PrincipalMetrics {
    /// One request of `request_bytes` answered with `response_bytes` (none for an acks=0
    /// produce).
    pub fn request(&self, request_bytes: usize, response_bytes: u64) {
        self.requests.inc();
        self.request_bytes.inc_by(request_bytes as u64);
        self.response_bytes.inc_by(response_bytes);
    }
}

/// The process's metrics (one broker per process).
pub fn global() -> &'static Metrics {
    &METRICS
}

/// Kafka's spelling of an error name: `UnknownTopicOrPartition` → `UNKNOWN_TOPIC_OR_PARTITION`.
fn screaming_snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    for (index, character) in name.chars().enumerate() {
        if character.is_ascii_uppercase() && index > 0 {
            out.push('_');
        }
        out.push(character.to_ascii_uppercase());
    }
    out
}

impl Metrics {
    fn new() -> Self {
        Self {
            requests: Family::default(),
            request_errors: Family::default(),
            request_seconds: Family::new_with_constructor(latency_histogram),
            bytes_in: Family::default(),
            bytes_out: Family::default(),
            replication_bytes_in: Counter::default(),
            replication_bytes_out: Counter::default(),
            connections: Gauge::default(),
            connections_opened: Counter::default(),
            authentications: Family::default(),
            expired_sessions_closed: Counter::default(),
            throttles: Family::default(),
            throttle_seconds: Family::default(),
            fsyncs: Counter::default(),
            fsync_seconds: latency_histogram(),
            principal_requests: Family::default(),
            principal_request_bytes: Family::default(),
            principal_response_bytes: Family::default(),
            principals: Mutex::default(),
        }
    }

    /// The counters of `principal`'s requests (those of [`OTHER_PRINCIPALS`] once
    /// [`MAX_PRINCIPAL_SERIES`] others have their own).
    pub fn principal(&self, principal: &str) -> PrincipalMetrics {
        let label = {
            let mut principals = self
                .principals
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if principals.contains(principal) || principals.len() < MAX_PRINCIPAL_SERIES {
                principals.insert(principal.to_owned());
                principal
            } else {
                OTHER_PRINCIPALS
            }
        };
        let labels = PrincipalLabels {
            principal: label.to_owned(),
        };
        PrincipalMetrics {
            requests: self.principal_requests.get_or_create(&labels).clone(),
            request_bytes: self.principal_request_bytes.get_or_create(&labels).clone(),
            response_bytes: self.principal_response_bytes.get_or_create(&labels).clone(),
        }
    }

    /// One answered request: its API, version, latency and the error codes in its response.
    pub fn request(&self, api: ApiKey, version: i16, elapsed: Duration, errors: &[i16]) {
        let api = Api(api);
        self.requests
            .get_or_create(&RequestLabels { api, version })
            .inc();
        self.request_seconds
            .get_or_create(&ApiLabels { api })
            .observe(elapsed.as_secs_f64());
        for &code in errors.iter().filter(|code| **code != 0) {
            self.request_errors
                .get_or_create(&ErrorLabels {
                    api,
                    error: ErrorCode(code),
                })
                .inc();
        }
    }

    /// Record bytes appended to `topic` by producers.
    pub fn bytes_in(&self, topic: &str, bytes: usize) {
        self.bytes_in
            .get_or_create(&TopicLabels {
                topic: topic.to_owned(),
            })
            .inc_by(bytes as u64);
    }

    /// Record bytes of `topic` sent to consumers.
    pub fn bytes_out(&self, topic: &str, bytes: usize) {
        self.bytes_out
            .get_or_create(&TopicLabels {
                topic: topic.to_owned(),
            })
            .inc_by(bytes as u64);
    }

    /// Record bytes this broker's followers appended from their leaders.
    pub fn replication_bytes_in(&self, bytes: usize) {
        self.replication_bytes_in.inc_by(bytes as u64);
    }

    /// Record bytes this broker sent to the followers of the partitions it leads.
    pub fn replication_bytes_out(&self, bytes: u64) {
        self.replication_bytes_out.inc_by(bytes);
    }

    pub fn connection_opened(&self) {
        self.connections.inc();
        self.connections_opened.inc();
    }

    pub fn connection_closed(&self) {
        self.connections.dec();
    }

    /// One SASL exchange that ended, on `listener` with `mechanism`.
    pub fn authentication(
        &self,
        listener: &str,
        mechanism: &'static str,
        reauthentication: bool,
        succeeded: bool,
    ) {
        self.authentications
            .get_or_create(&AuthenticationLabels {
                listener: listener.to_owned(),
                mechanism,
                kind: match reauthentication {
                    true => "reauthentication",
                    false => "authentication",
                },
                outcome: match succeeded {
                    true => "success",
                    false => "failure",
                },
            })
            .inc();
    }

    /// A connection closed because its SASL session ended without a re-authentication.
    pub fn expired_session_closed(&self) {
        self.expired_sessions_closed.inc();
    }

    /// A client throttled for `throttle` by its `quota` (`produce`, `fetch`, `request` or
    /// `controller_mutation`).
    pub fn throttled(&self, quota: &'static str, throttle: Duration) {
        let labels = ThrottleLabels { quota };
        self.throttles.get_or_create(&labels).inc();
        self.throttle_seconds
            .get_or_create(&labels)
            .inc_by(throttle.as_secs_f64());
    }

    /// One partition flush (its fsyncs) and how long it took.
    pub fn fsync(&self, elapsed: Duration) {
        self.fsyncs.inc();
        self.fsync_seconds.observe(elapsed.as_secs_f64());
    }
}

/// The scrape: every metric, with the broker's `state` (if it is still running), in the
/// OpenMetrics text format.
pub fn render(state: Option<StateSample>) -> Result<String, std::fmt::Error> {
    let metrics = global();
    let mut registry = Registry::with_prefix("spool");
    registry.register(
        "requests",
        "Requests answered, by API and version",
        metrics.requests.clone(),
    );
    registry.register(
        "request_errors",
        "Error codes in responses (each partition's counts), by API and error",
        metrics.request_errors.clone(),
    );
    registry.register(
        "request_duration_seconds",
        "Time from a request's arrival to its response being ready, by API",
        metrics.request_seconds.clone(),
    );
    registry.register(
        "topic_bytes_in",
        "Record bytes appended by producers, by topic",
        metrics.bytes_in.clone(),
    );
    registry.register(
        "topic_bytes_out",
        "Record bytes sent to consumers (not to followers), by topic",
        metrics.bytes_out.clone(),
    );
    registry.register(
        "replication_bytes_in",
        "Record bytes followers on this broker appended from their leaders",
        metrics.replication_bytes_in.clone(),
    );
    registry.register(
        "replication_bytes_out",
        "Record bytes sent to the followers of partitions this broker leads",
        metrics.replication_bytes_out.clone(),
    );
    registry.register(
        "connections",
        "Open client connections",
        metrics.connections.clone(),
    );
    registry.register(
        "connections_opened",
        "Client connections accepted",
        metrics.connections_opened.clone(),
    );
    registry.register(
        "sasl_authentications",
        "SASL exchanges ended, by listener, mechanism, kind (authentication or reauthentication) and outcome",
        metrics.authentications.clone(),
    );
    registry.register(
        "sasl_expired_sessions_closed",
        "Connections closed because their SASL session ended without a re-authentication",
        metrics.expired_sessions_closed.clone(),
    );
    registry.register(
        "client_throttles",
        "Responses that throttled their client, by quota (produce, fetch, request, controller_mutation)",
        metrics.throttles.clone(),
    );
    registry.register(
        "client_throttle_seconds",
        "Time clients were throttled for, by quota (produce, fetch, request, controller_mutation)",
        metrics.throttle_seconds.clone(),
    );
    registry.register(
        "fsyncs",
        "Partition flushes (fsync of the segments written since the last one)",
        metrics.fsyncs.clone(),
    );
    registry.register(
        "fsync_duration_seconds",
        "Time one partition flush took",
        metrics.fsync_seconds.clone(),
    );
    registry.register(
        "principal_requests",
        format!(
            "Requests answered, by principal (the first {MAX_PRINCIPAL_SERIES} principals; later ones as \"{OTHER_PRINCIPALS}\")"
        ),
        metrics.principal_requests.clone(),
    );
    registry.register(
        "principal_request_bytes",
        "Bytes of the requests answered, by principal",
        metrics.principal_request_bytes.clone(),
    );
    registry.register(
        "principal_response_bytes",
        "Bytes of the responses sent, by principal",
        metrics.principal_response_bytes.clone(),
    );
    if let Some(state) = state {
        registry.register_collector(Box::new(state));
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_kafkas() {
        assert_eq!(
            screaming_snake("UnknownTopicOrPartition"),
            "UNKNOWN_TOPIC_OR_PARTITION"
        );
        assert_eq!(screaming_snake("NotCoordinator"), "NOT_COORDINATOR");
    }

    #[test]
    fn principals_past_the_limit_share_one_series() {
        let metrics = Metrics::new();
        for user in 0..MAX_PRINCIPAL_SERIES {
            metrics.principal(&format!("User:{user}")).request(10, 1);
        }
        metrics.principal("User:0").request(10, 1);
        metrics.principal("User:late").request(10, 1);
        metrics.principal("User:later").request(10, 1);
        let count = |principal: &str| {
            metrics
                .principal_requests
                .get_or_create(&PrincipalLabels {
                    principal: principal.to_owned(),
                })
                .get()
        };
        assert_eq!(count("User:0"), 2);
        assert_eq!(count("User:999"), 1);
        assert_eq!(count(OTHER_PRINCIPALS), 2);
        assert_eq!(count("User:late"), 0);
    }
}
