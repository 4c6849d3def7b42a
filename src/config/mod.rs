//! Broker configuration: a TOML file using Kafka's key names and defaults, plus CLI overrides.
//!
//! Keys may be written flat and quoted (`"num.partitions" = 3`) or as TOML dotted keys
//! (`num.partitions = 3`); both name the same setting. Unknown keys are errors.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

pub mod dynamic;
mod jaas;
mod listeners;
mod sasl;
mod values;

pub use listeners::{Listener, Listeners, SecurityProtocol, LISTENERS_DEFAULT};

pub use values::{
    check_cleanup_policy, check_compression_type, compression_codec, has_cleanup_policy,
    parse_bool, ConfigType, ThrottledReplicas, FOLLOWER_THROTTLED_REPLICAS,
    LEADER_THROTTLED_REPLICAS, LOG_SEGMENT_BYTES_MIN, PARTITIONS_PER_TOPIC_MAX,
};

use crate::acl::Authorizer;
use crate::cluster::{
    ClusterUrl, ControllerConfig, SESSION_TIMEOUT_DEFAULT_MS, SESSION_TIMEOUT_MIN_MS,
};
use crate::group::GroupConfig;
use crate::log::TimestampType;
use crate::quota::rate::{QuotaWindow, SAMPLES_DEFAULT, WINDOW_DEFAULT};
use crate::sasl::SaslCredentials;
use crate::txn::TxnConfig;

/// Kafka's default for `message.max.bytes`.
pub const MESSAGE_MAX_BYTES_DEFAULT: i64 = 1_048_588;
/// Kafka's default for `socket.request.max.bytes`.
pub const SOCKET_REQUEST_MAX_BYTES_DEFAULT: i64 = 104_857_600;
/// Kafka's default for `log.segment.bytes`: 1 GiB.
pub const LOG_SEGMENT_BYTES_DEFAULT: i64 = 1 << 30;
/// Kafka's `connections.max.idle.ms` default: ten minutes.
const CONNECTIONS_MAX_IDLE_MS_DEFAULT: i64 = 600_000;
/// spool's default for `max.connections` (Kafka: unbounded).
pub const MAX_CONNECTIONS_DEFAULT: i64 = 10_000;
/// spool's default for `socket.listen.backlog.size` (Kafka: 50, KIP-764): connections the
/// kernel completes before the broker accepts them. A burst of clients connecting at once
/// overflows a short queue, and each connection dropped from it waits a second for its SYN to
/// be sent again. The kernel caps it at `net.core.somaxconn`.
pub const SOCKET_LISTEN_BACKLOG_SIZE_DEFAULT: i64 = 4096;
/// spool's default for `queued.max.request.bytes` (Kafka: unbounded): the broker-wide budget
/// of request bytes read but not yet answered.
pub const QUEUED_MAX_REQUEST_BYTES_DEFAULT: i64 = 256 << 20;
const HOUR_MS: i64 = 3_600_000;

/// A configuration problem, naming the key.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// Broker-wide defaults for topic-level log settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LogDefaults {
    pub segment_bytes: i64,
    pub roll_ms: i64,
    pub index_interval_bytes: i64,
    pub retention_ms: i64,
    pub retention_bytes: i64,
    /// `log.retention.check.interval.ms`: how often retention runs.
    pub retention_check_interval_ms: i64,
    /// `log.cleanup.policy`: the default `cleanup.policy` (delete, compact, or both).
    pub cleanup_policy: String,
    /// `log.cleaner.delete.retention.ms`: default `delete.retention.ms`.
    pub delete_retention_ms: i64,
    /// `log.cleaner.min.compaction.lag.ms`: default `min.compaction.lag.ms`.
    pub min_compaction_lag_ms: i64,
    /// `log.cleaner.min.cleanable.ratio`: default `min.cleanable.dirty.ratio`.
    pub min_cleanable_ratio: f64,
    /// `log.cleaner.backoff.ms`: pause between compaction passes.
    pub cleaner_backoff_ms: i64,
    /// `log.cleaner.dedupe.buffer.size`: memory for one pass's key map.
    pub cleaner_dedupe_buffer_bytes: i64,
    pub flush_interval_messages: i64,
    pub flush_interval_ms: i64,
    pub message_timestamp_type: TimestampType,
}

/// How the broker takes part in a cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSettings {
    /// `cluster.url` (spool; `--cluster`): the etcd holding the cluster's metadata,
    /// `etcd://host:port[,host:port…][/root]`. Unset: a single node with its own metadata.
    pub url: Option<ClusterUrl>,
    /// `broker.session.timeout.ms`: a broker that has not renewed its session for this long
    /// is dead to the cluster.
    pub session_timeout_ms: i64,
    /// `broker.rack`, for rack-aware replica placement.
    pub rack: Option<String>,
    /// `unclean.leader.election.enable`, `auto.leader.rebalance.enable`,
    /// `leader.imbalance.per.broker.percentage`, `leader.imbalance.check.interval.seconds`.
    pub controller: ControllerConfig,
    /// `replica.selector.class`: which replica a consumer that names its rack reads from.
    pub replica_selector: ReplicaSelector,
}

/// `replica.selector.class`: the value that turns rack-aware reads on.
pub const RACK_AWARE_SELECTOR: &str = "org.apache.kafka.common.replica.RackAwareReplicaSelector";

/// How the leader picks the replica a consumer reads from (`replica.selector.class`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReplicaSelector {
    /// Kafka's default (no selector): consumers read from the leader.
    #[default]
    Leader,
    /// `RackAwareReplicaSelector`: the replica in the consumer's rack.
    RackAware,
}

impl ReplicaSelector {
    /// The selector a `replica.selector.class` value names; `None` for a class spool does
    /// not have.
    pub fn from_class(class: &str) -> Option<Self> {
        match class.trim() {
            "" => Some(Self::Leader),
            RACK_AWARE_SELECTOR => Some(Self::RackAware),
            _ => None,
        }
    }
}

/// One broker config key as the broker runs with it (for DescribeConfigs).
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfigEntry {
    pub name: String,
    /// The value in effect (`None`: unset, no default, like `log.retention.ms`).
    pub value: Option<String>,
    /// Kafka's (or spool's) default.
    pub default: Option<String>,
    /// Whether the config file or the command line set it.
    pub is_static: bool,
    pub kind: ConfigType,
}

/// Everything the broker runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    /// `node.id`
    pub node_id: i32,
    /// `listeners`, `advertised.listeners` and what goes with them: where the broker
    /// accepts connections, with which security protocol, and what clients are told.
    pub listeners: Listeners,
    /// `log.dirs` (one directory).
    pub data_dir: PathBuf,
    /// `num.partitions`
    pub num_partitions: i32,
    /// `default.replication.factor`
    pub default_replication_factor: i16,
    /// `auto.create.topics.enable`
    pub auto_create_topics: bool,
    /// `message.max.bytes`
    pub message_max_bytes: i32,
    /// `socket.request.max.bytes`
    pub socket_request_max_bytes: i32,
    /// `max.connections`
    pub max_connections: usize,
    /// `socket.listen.backlog.size`
    pub socket_listen_backlog_size: u32,
    /// `connections.max.idle.ms`: a connection that sends nothing for this long (a
    /// handshake or a request left half-sent included) is closed.
    pub connections_max_idle: Duration,
    /// `max.connections.per.ip` and `max.connections.per.ip.overrides` (`ip:count,…`).
    pub connections_per_ip: ConnectionsPerIp,
    /// `max.connection.creation.rate`: connections the broker accepts per second (`None`:
    /// unlimited, Kafka's default).
    pub max_connection_creation_rate: Option<u32>,
    /// `queued.max.request.bytes`
    pub queued_max_request_bytes: usize,
    /// `metrics.listen` (spool): where the Prometheus endpoint listens, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// `compression.type`: the default codec topics store batches with (`producer`: as sent).
    pub compression_type: String,
    /// `flush.on.ack` (spool): acks=all waits for an fsync (group commit) before answering.
    pub flush_on_ack: bool,
    /// `min.insync.replicas`: acks=all needs at least this many in-sync replicas.
    pub min_insync_replicas: i32,
    /// `producer.id.expiration.ms`: idle idempotent producers are forgotten after this.
    pub producer_id_expiration_ms: i64,
    /// `producer.id.expiration.check.interval.ms`
    pub producer_id_expiration_check_interval_ms: i64,
    pub log: LogDefaults,
    pub group: GroupConfig,
    pub txn: TxnConfig,
    pub cluster: ClusterSettings,
    /// `authorizer.class.name` and what goes with it; `None`: requests are not authorized.
    pub authorizer: Option<Arc<Authorizer>>,
    /// `quota.window.num` windows of `quota.window.size.seconds`: what client quotas are
    /// measured over.
    pub quota_window: QuotaWindow,
    /// On a SASL inter-broker listener in a cluster: what this broker authenticates to the
    /// others with (`sasl.mechanism.inter.broker.protocol` and that mechanism's JAAS login).
    pub inter_broker_login: Option<SaslCredentials>,
    /// Every key with its value and where it came from, sorted by name.
    pub entries: Vec<BrokerConfigEntry>,
}

/// Command-line values that override the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub advertise: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub node_id: Option<i32>,
    pub cluster: Option<String>,
}

impl BrokerConfig {
    /// Reads `path` (if given), applies overrides, validates.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let text = match path {
            Some(path) => std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?,
            None => String::new(),
        };
        let table: toml::Table = text.parse().map_err(|source| ConfigError::Parse {
            path: path.map(Path::to_owned).unwrap_or_default(),
            source,
        })?;
        let mut flat = BTreeMap::new();
        flatten("", table, &mut flat);
        Self::from_map(flat, overrides)
    }

    /// Builds the config from flat `key → value` pairs.
    pub fn from_map(
        map: BTreeMap<String, toml::Value>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut keys = Keys {
            map,
            entries: Vec::new(),
        };
        let node_id = keys.int("node.id", 0, 0, i64::from(i32::MAX))? as i32;
        let listeners = listeners::listeners(
            &mut keys,
            overrides.listen.as_deref(),
            overrides.advertise.as_deref(),
        )?;
        let data_dir_text = keys.string("log.dirs", "./data")?;
        if data_dir_text.contains(',') {
            return Err(invalid("log.dirs", "spool supports one data directory"));
        }
        let data_dir = match &overrides.data_dir {
            Some(dir) => PathBuf::from(keys.overridden("log.dirs", &dir.display().to_string())),
            None => PathBuf::from(data_dir_text),
        };
        let node_id = match overrides.node_id {
            Some(id) => {
                keys.overridden("node.id", &id.to_string());
                id
            }
            None => node_id,
        };

        let retention_hours = keys.int("log.retention.hours", 168, -1, i64::MAX / HOUR_MS)?;
        let retention_minutes =
            keys.optional_int("log.retention.minutes", -1, i64::MAX / 60_000)?;
        let retention_ms = keys.optional_int("log.retention.ms", -1, i64::MAX)?;
        let roll_hours = keys.int("log.roll.hours", 168, 1, i64::MAX / HOUR_MS)?;
        let roll_ms = keys.optional_int("log.roll.ms", 1, i64::MAX)?;
        let log = LogDefaults {
            segment_bytes: keys.int(
                "log.segment.bytes",
                LOG_SEGMENT_BYTES_DEFAULT,
                LOG_SEGMENT_BYTES_MIN,
                i64::from(i32::MAX),
            )?,
            roll_ms: roll_ms.unwrap_or(roll_hours * HOUR_MS),
            index_interval_bytes: keys.int(
                "log.index.interval.bytes",
                4096,
                0,
                i64::from(i32::MAX),
            )?,
            retention_ms: retention_ms
                .or(retention_minutes.map(|minutes| minutes * 60_000))
                .unwrap_or(retention_hours * HOUR_MS),
            retention_bytes: keys.int("log.retention.bytes", -1, -1, i64::MAX)?,
            retention_check_interval_ms: keys.int(
                "log.retention.check.interval.ms",
                300_000,
                1,
                i64::MAX,
            )?,
            cleanup_policy: {
                let policy = keys.list("log.cleanup.policy", "delete")?;
                check_cleanup_policy("cleanup.policy", &policy)
                    .map_err(|message| invalid("log.cleanup.policy", message))?;
                policy
            },
            delete_retention_ms: keys.int(
                "log.cleaner.delete.retention.ms",
                86_400_000,
                0,
                i64::MAX,
            )?,
            min_compaction_lag_ms: keys.int("log.cleaner.min.compaction.lag.ms", 0, 0, i64::MAX)?,
            min_cleanable_ratio: keys.ratio("log.cleaner.min.cleanable.ratio", 0.5)?,
            cleaner_backoff_ms: keys.int("log.cleaner.backoff.ms", 15_000, 1, i64::MAX)?,
            cleaner_dedupe_buffer_bytes: keys.int(
                "log.cleaner.dedupe.buffer.size",
                134_217_728,
                1 << 20,
                i64::MAX,
            )?,
            flush_interval_messages: keys.int(
                "log.flush.interval.messages",
                i64::MAX,
                1,
                i64::MAX,
            )?,
            flush_interval_ms: keys.int("log.flush.interval.ms", i64::MAX, 0, i64::MAX)?,
            message_timestamp_type: parse_timestamp_type(
                "log.message.timestamp.type",
                &keys.string("log.message.timestamp.type", "CreateTime")?,
            )?,
        };
        let message_max_bytes = keys.int(
            "message.max.bytes",
            MESSAGE_MAX_BYTES_DEFAULT,
            0,
            i64::from(i32::MAX),
        )? as i32;
        let socket_request_max_bytes = keys.int(
            "socket.request.max.bytes",
            SOCKET_REQUEST_MAX_BYTES_DEFAULT,
            1,
            i64::from(i32::MAX),
        )? as i32;
        let queued_max_request_bytes = keys.int(
            "queued.max.request.bytes",
            QUEUED_MAX_REQUEST_BYTES_DEFAULT,
            1,
            i64::MAX,
        )? as usize;
        if queued_max_request_bytes < socket_request_max_bytes as usize {
            return Err(invalid(
                "queued.max.request.bytes",
                "must be at least socket.request.max.bytes",
            ));
        }
        let txn = TxnConfig {
            state_partitions: keys.int(
                "transaction.state.log.num.partitions",
                50,
                1,
                i64::from(PARTITIONS_PER_TOPIC_MAX),
            )? as i32,
            state_replication_factor: keys.int(
                "transaction.state.log.replication.factor",
                3,
                1,
                i64::from(i16::MAX),
            )? as i16,
            state_min_isr: keys.int("transaction.state.log.min.isr", 2, 1, i64::from(i32::MAX))?
                as i32,
            max_timeout_ms: keys.int(
                "transaction.max.timeout.ms",
                900_000,
                1,
                i64::from(i32::MAX),
            )?,
            abort_check_interval_ms: keys.int(
                "transaction.abort.timed.out.transaction.cleanup.interval.ms",
                10_000,
                1,
                i64::MAX,
            )?,
        };
        let cluster = cluster_settings(&mut keys, overrides)?;
        let inter_broker_mechanism = keys.string(
            "sasl.mechanism.inter.broker.protocol",
            sasl::INTER_BROKER_MECHANISM_DEFAULT,
        )?;
        // A single node never connects to another broker.
        let inter_broker_login = match cluster.url {
            Some(_) => sasl::inter_broker_login(listeners.inter_broker(), &inter_broker_mechanism)?,
            None => None,
        };
        let mut config = Self {
            entries: Vec::new(),
            txn,
            cluster,
            node_id,
            listeners,
            data_dir,
            num_partitions: keys.int("num.partitions", 1, 1, i64::from(PARTITIONS_PER_TOPIC_MAX))?
                as i32,
            default_replication_factor: keys.int(
                "default.replication.factor",
                1,
                1,
                i64::from(i16::MAX),
            )? as i16,
            authorizer: authorizer(&mut keys)?,
            inter_broker_login,
            quota_window: QuotaWindow {
                samples: keys.int("quota.window.num", SAMPLES_DEFAULT as i64, 1, 1_000)? as usize,
                window: Duration::from_secs(keys.int(
                    "quota.window.size.seconds",
                    WINDOW_DEFAULT.as_secs() as i64,
                    1,
                    3_600,
                )? as u64),
            },
            auto_create_topics: keys.bool("auto.create.topics.enable", true)?,
            message_max_bytes,
            socket_request_max_bytes,
            connections_per_ip: connections_per_ip(&mut keys)?,
            max_connection_creation_rate: match keys.int(
                "max.connection.creation.rate",
                i64::from(i32::MAX),
                0,
                i64::from(i32::MAX),
            )? {
                rate if rate == i64::from(i32::MAX) => None,
                rate => Some(rate as u32),
            },
            max_connections: keys.int(
                "max.connections",
                MAX_CONNECTIONS_DEFAULT,
                1,
                i64::from(i32::MAX),
            )? as usize,
            socket_listen_backlog_size: keys.int(
                "socket.listen.backlog.size",
                SOCKET_LISTEN_BACKLOG_SIZE_DEFAULT,
                1,
                i64::from(i32::MAX),
            )? as u32,
            connections_max_idle: Duration::from_millis(keys.int(
                "connections.max.idle.ms",
                CONNECTIONS_MAX_IDLE_MS_DEFAULT,
                1,
                i64::MAX,
            )? as u64),
            queued_max_request_bytes,
            flush_on_ack: keys.bool("flush.on.ack", true)?,
            min_insync_replicas: keys.int("min.insync.replicas", 1, 1, i64::from(i32::MAX))? as i32,
            metrics_listen: match keys.optional_string("metrics.listen")? {
                None => None,
                Some(text) => Some(text.parse().map_err(|_| {
                    invalid(
                        "metrics.listen",
                        format!("`{text}` is not HOST:PORT with a numeric IP"),
                    )
                })?),
            },
            compression_type: {
                let codec = keys.string("compression.type", "producer")?;
                check_compression_type("compression.type", &codec)
                    .map_err(|message| invalid("compression.type", message))?;
                codec
            },
            producer_id_expiration_ms: keys.int(
                "producer.id.expiration.ms",
                86_400_000,
                1,
                i64::MAX,
            )?,
            producer_id_expiration_check_interval_ms: keys.int(
                "producer.id.expiration.check.interval.ms",
                600_000,
                1,
                i64::MAX,
            )?,
            log,
            group: GroupConfig {
                initial_rebalance_delay_ms: keys.int(
                    "group.initial.rebalance.delay.ms",
                    3000,
                    0,
                    i64::from(i32::MAX),
                )?,
                min_session_timeout_ms: keys.int(
                    "group.min.session.timeout.ms",
                    6000,
                    0,
                    i64::from(i32::MAX),
                )? as i32,
                max_session_timeout_ms: keys.int(
                    "group.max.session.timeout.ms",
                    1_800_000,
                    0,
                    i64::from(i32::MAX),
                )? as i32,
                offsets_topic_partitions: keys.int(
                    "offsets.topic.num.partitions",
                    50,
                    1,
                    i64::from(PARTITIONS_PER_TOPIC_MAX),
                )? as i32,
                offsets_topic_replication_factor: keys.int(
                    "offsets.topic.replication.factor",
                    3,
                    1,
                    i64::from(i16::MAX),
                )? as i16,
                offsets_commit_timeout_ms: keys.int(
                    "offsets.commit.timeout.ms",
                    5000,
                    1,
                    i64::from(i32::MAX),
                )? as u64,
                offset_metadata_max_bytes: keys.int(
                    "offset.metadata.max.bytes",
                    4096,
                    0,
                    i64::from(i32::MAX),
                )? as usize,
                offsets_retention_ms: keys.int(
                    "offsets.retention.minutes",
                    10_080,
                    1,
                    i64::from(i32::MAX),
                )? * 60_000,
                offsets_retention_check_interval_ms: keys.int(
                    "offsets.retention.check.interval.ms",
                    600_000,
                    1,
                    i64::MAX,
                )?,
            },
        };
        if config.group.min_session_timeout_ms > config.group.max_session_timeout_ms {
            return Err(invalid(
                "group.min.session.timeout.ms",
                "must not exceed group.max.session.timeout.ms",
            ));
        }
        if let Some(unknown) = keys.map.keys().next() {
            return Err(invalid(unknown, "unknown config key"));
        }
        config.entries = keys.entries;
        config.entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(config)
    }
}

impl BrokerConfig {
    /// The broker config key `name`, if there is one.
    pub fn entry(&self, name: &str) -> Option<&BrokerConfigEntry> {
        self.entries
            .binary_search_by(|entry| entry.name.as_str().cmp(name))
            .ok()
            .map(|index| &self.entries[index])
    }
}

/// The cluster keys; `cluster.url` from the command line wins over the file's.
fn cluster_settings(
    keys: &mut Keys,
    overrides: &Overrides,
) -> Result<ClusterSettings, ConfigError> {
    let url_text = keys.optional_string("cluster.url")?;
    let url_text = match &overrides.cluster {
        Some(url) => Some(keys.overridden("cluster.url", url)),
        None => url_text,
    };
    let url = url_text
        .map(|text| ClusterUrl::parse(&text).map_err(|message| invalid("cluster.url", message)))
        .transpose()?;
    let defaults = ControllerConfig::default();
    Ok(ClusterSettings {
        url,
        session_timeout_ms: keys.int(
            "broker.session.timeout.ms",
            SESSION_TIMEOUT_DEFAULT_MS,
            SESSION_TIMEOUT_MIN_MS,
            i64::from(i32::MAX),
        )?,
        rack: keys.optional_string("broker.rack")?,
        replica_selector: replica_selector(keys)?,
        controller: ControllerConfig {
            unclean_election: keys
                .bool("unclean.leader.election.enable", defaults.unclean_election)?,
            auto_rebalance: keys.bool("auto.leader.rebalance.enable", defaults.auto_rebalance)?,
            imbalance_percent: keys.int(
                "leader.imbalance.per.broker.percentage",
                i64::from(defaults.imbalance_percent),
                0,
                100,
            )? as u32,
            imbalance_check_interval: std::time::Duration::from_secs(keys.int(
                "leader.imbalance.check.interval.seconds",
                defaults.imbalance_check_interval.as_secs() as i64,
                1,
                i64::from(i32::MAX),
            )? as u64),
        },
    })
}

/// How many connections one IP may have open (Kafka's per-IP connection limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionsPerIp {
    /// `max.connections.per.ip` (Kafka's default: unlimited).
    pub default: usize,
    /// `max.connections.per.ip.overrides`.
    pub overrides: BTreeMap<std::net::IpAddr, usize>,
}

impl ConnectionsPerIp {
    pub fn of(&self, ip: std::net::IpAddr) -> usize {
        self.overrides.get(&ip).copied().unwrap_or(self.default)
    }
}

fn connections_per_ip(keys: &mut Keys) -> Result<ConnectionsPerIp, ConfigError> {
    const OVERRIDES: &str = "max.connections.per.ip.overrides";
    let default = keys.int(
        "max.connections.per.ip",
        i64::from(i32::MAX),
        0,
        i64::from(i32::MAX),
    )? as usize;
    let text = keys.optional_string(OVERRIDES)?.unwrap_or_default();
    let overrides = text
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let parsed = entry.rsplit_once(':').and_then(|(ip, count)| {
                Some((
                    ip.trim().parse().ok()?,
                    count.trim().parse::<u32>().ok()? as usize,
                ))
            });
            parsed.ok_or_else(|| {
                invalid(
                    OVERRIDES,
                    format!("`{entry}` is not IP:COUNT (spool takes IP addresses, not host names)"),
                )
            })
        })
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    if default == 0 && overrides.is_empty() {
        return Err(invalid(
            "max.connections.per.ip",
            "0 refuses every client unless max.connections.per.ip.overrides names some",
        ));
    }
    Ok(ConnectionsPerIp { default, overrides })
}

/// Kafka's authorizers, either of which turns spool's ACL authorizer on.
const AUTHORIZER_CLASSES: [&str; 2] = [
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "kafka.security.authorizer.AclAuthorizer",
];

/// `authorizer.class.name` (unset: no authorization, Kafka's default), with `super.users`
/// (`User:a;User:b`) and `allow.everyone.if.no.acl.found`.
fn authorizer(keys: &mut Keys) -> Result<Option<Arc<Authorizer>>, ConfigError> {
    const KEY: &str = "authorizer.class.name";
    let class = keys.optional_class(KEY)?;
    let super_users = keys.optional_string("super.users")?.unwrap_or_default();
    let allow_if_no_acl = keys.bool("allow.everyone.if.no.acl.found", false)?;
    let Some(class) = class.filter(|class| !class.trim().is_empty()) else {
        return Ok(None);
    };
    if !AUTHORIZER_CLASSES.contains(&class.trim()) {
        return Err(invalid(
            KEY,
            format!(
                "spool authorizes as Kafka's StandardAuthorizer and runs no other class ({class})"
            ),
        ));
    }
    let super_users = super_users
        .split(';')
        .map(str::trim)
        .filter(|user| !user.is_empty())
        .map(|user| match user.contains(':') {
            true => Ok(user.to_owned()),
            false => Err(invalid(
                "super.users",
                format!("`{user}` is not a principal (Type:Name)"),
            )),
        })
        .collect::<Result<_, _>>()?;
    Ok(Some(Arc::new(Authorizer {
        super_users,
        allow_if_no_acl,
    })))
}

/// `replica.selector.class`: unset (consumers read from leaders, Kafka's default) or Kafka's
/// `RackAwareReplicaSelector`.
fn replica_selector(keys: &mut Keys) -> Result<ReplicaSelector, ConfigError> {
    const KEY: &str = "replica.selector.class";
    let class = keys.optional_class(KEY)?.unwrap_or_default();
    ReplicaSelector::from_class(&class).ok_or_else(|| {
        invalid(
            KEY,
            format!("spool has no replica selector {class}; it offers {RACK_AWARE_SELECTOR}"),
        )
    })
}

/// Parses `CreateTime` / `LogAppendTime` given for `key`.
pub fn parse_timestamp_type(key: &str, value: &str) -> Result<TimestampType, ConfigError> {
    values::timestamp_type(value).map_err(|message| invalid(key, message))
}

fn parse_host_port(text: &str) -> Option<(String, u16)> {
    let (host, port) = text.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    Some((host.to_owned(), port.parse().ok()?))
}

fn flatten(prefix: &str, table: toml::Table, out: &mut BTreeMap<String, toml::Value>) {
    for (key, value) in table {
        let key = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => flatten(&key, inner, out),
            value => {
                out.insert(key, value);
            }
        }
    }
}

/// The not-yet-consumed keys of a config file; each accessor removes the key it reads and
/// notes the key's effective value and default in `entries`.
struct Keys {
    map: BTreeMap<String, toml::Value>,
    entries: Vec<BrokerConfigEntry>,
}

impl Keys {
    /// Consumes `key`, noting what the broker runs with.
    fn settle<T: ToString>(
        &mut self,
        key: &str,
        value: Option<&T>,
        default: Option<&T>,
        kind: ConfigType,
    ) {
        let is_static = self.map.remove(key).is_some();
        self.entries.push(BrokerConfigEntry {
            name: key.to_owned(),
            value: value.or(default).map(ToString::to_string),
            default: default.map(ToString::to_string),
            is_static,
            kind,
        });
    }

    /// A command-line value replacing what the file said about `key`.
    fn overridden(&mut self, key: &str, value: &str) -> String {
        if let Some(entry) = self.entries.iter_mut().find(|entry| entry.name == key) {
            entry.value = Some(value.to_owned());
            entry.is_static = true;
        }
        value.to_owned()
    }

    fn parse_int(&self, key: &str, min: i64, max: i64) -> Result<Option<i64>, ConfigError> {
        let number = match self.map.get(key) {
            None => return Ok(None),
            Some(toml::Value::Integer(number)) => *number,
            Some(toml::Value::String(text)) => text
                .trim()
                .parse()
                .map_err(|_| invalid(key, format!("`{text}` is not an integer")))?,
            Some(other) => {
                return Err(invalid(
                    key,
                    format!("expected an integer, found {}", other.type_str()),
                ))
            }
        };
        if !(min..=max).contains(&number) {
            return Err(invalid(key, format!("{number} is outside [{min}, {max}]")));
        }
        Ok(Some(number))
    }

    fn int_type(max: i64) -> ConfigType {
        if max <= i64::from(i32::MAX) {
            ConfigType::Int
        } else {
            ConfigType::Long
        }
    }

    fn optional_int(&mut self, key: &str, min: i64, max: i64) -> Result<Option<i64>, ConfigError> {
        let number = self.parse_int(key, min, max)?;
        self.settle(key, number.as_ref(), None, Self::int_type(max));
        Ok(number)
    }

    fn int(&mut self, key: &str, default: i64, min: i64, max: i64) -> Result<i64, ConfigError> {
        let number = self.parse_int(key, min, max)?;
        self.settle(key, number.as_ref(), Some(&default), Self::int_type(max));
        Ok(number.unwrap_or(default))
    }

    /// A number in [0, 1] (integer or float, or a string of one).
    fn ratio(&mut self, key: &str, default: f64) -> Result<f64, ConfigError> {
        let value = match self.map.get(key) {
            None => None,
            Some(toml::Value::Float(value)) => Some(*value),
            Some(toml::Value::Integer(value)) => Some(*value as f64),
            Some(toml::Value::String(text)) => Some(
                text.trim()
                    .parse()
                    .map_err(|_| invalid(key, format!("`{text}` is not a number")))?,
            ),
            Some(other) => {
                return Err(invalid(
                    key,
                    format!("expected a number, found {}", other.type_str()),
                ))
            }
        };
        if let Some(value) = value.filter(|value| !(0.0..=1.0).contains(value)) {
            return Err(invalid(key, format!("{value} is outside [0, 1]")));
        }
        self.settle(key, value.as_ref(), Some(&default), ConfigType::Double);
        Ok(value.unwrap_or(default))
    }

    fn bool(&mut self, key: &str, default: bool) -> Result<bool, ConfigError> {
        let value = match self.map.get(key) {
            None => None,
            Some(toml::Value::Boolean(value)) => Some(*value),
            Some(toml::Value::String(text)) => Some(
                text.parse()
                    .map_err(|_| invalid(key, format!("`{text}` is not true or false")))?,
            ),
            Some(other) => {
                return Err(invalid(
                    key,
                    format!("expected true or false, found {}", other.type_str()),
                ))
            }
        };
        self.settle(key, value.as_ref(), Some(&default), ConfigType::Boolean);
        Ok(value.unwrap_or(default))
    }

    fn parse_string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(toml::Value::String(text)) => Ok(Some(text.clone())),
            Some(other) => Err(invalid(
                key,
                format!("expected a string, found {}", other.type_str()),
            )),
        }
    }

    fn optional_string(&mut self, key: &str) -> Result<Option<String>, ConfigError> {
        let text = self.parse_string(key)?;
        self.settle(key, text.as_ref(), None, ConfigType::String);
        Ok(text)
    }

    /// A Java class name, kept as written.
    fn optional_class(&mut self, key: &str) -> Result<Option<String>, ConfigError> {
        let text = self.optional_string(key)?;
        if let Some(entry) = self.entries.last_mut() {
            entry.kind = ConfigType::Class;
        }
        Ok(text)
    }

    /// A comma-separated list, kept as written.
    fn list(&mut self, key: &str, default: &str) -> Result<String, ConfigError> {
        let text = self.string(key, default)?;
        if let Some(entry) = self.entries.last_mut() {
            entry.kind = ConfigType::List;
        }
        Ok(text)
    }

    fn string(&mut self, key: &str, default: &str) -> Result<String, ConfigError> {
        let text = self.parse_string(key)?;
        let default = default.to_owned();
        self.settle(key, text.as_ref(), Some(&default), ConfigType::String);
        Ok(text.unwrap_or(default))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BrokerConfig, ConfigError> {
        let table: toml::Table = text.parse().unwrap();
        let mut flat = BTreeMap::new();
        flatten("", table, &mut flat);
        BrokerConfig::from_map(flat, &Overrides::default())
    }

    #[test]
    fn defaults_are_kafkas() {
        let config = parse("").unwrap();
        assert_eq!(config.num_partitions, 1);
        assert_eq!(config.default_replication_factor, 1);
        assert!(config.auto_create_topics);
        assert_eq!(config.log.segment_bytes, 1 << 30);
        assert_eq!(config.log.index_interval_bytes, 4096);
        assert_eq!(config.message_max_bytes, 1_048_588);
        assert_eq!(config.socket_request_max_bytes, 104_857_600);
        assert_eq!(config.log.retention_ms, 168 * HOUR_MS);
        let listener = config.listeners.first();
        assert_eq!(listener.bind.to_string(), "127.0.0.1:9092");
        assert_eq!(listener.advertised, ("127.0.0.1".to_owned(), 9092));
        assert_eq!(config.group.initial_rebalance_delay_ms, 3000);
        assert_eq!(config.group.offsets_topic_partitions, 50);
        assert_eq!(
            (
                config.group.min_session_timeout_ms,
                config.group.max_session_timeout_ms
            ),
            (6000, 1_800_000)
        );
    }

    #[test]
    fn the_listen_backlog_is_kafkas_key_with_spools_default() {
        assert_eq!(parse("").unwrap().socket_listen_backlog_size, 4096);
        let config = parse("socket.listen.backlog.size = 50").unwrap();
        assert_eq!(config.socket_listen_backlog_size, 50);
        assert!(parse("socket.listen.backlog.size = 0").is_err());
    }

    #[test]
    fn dotted_and_quoted_keys_are_the_same() {
        let dotted = parse("num.partitions = 3\nlog.segment.bytes = 4096").unwrap();
        let quoted = parse("\"num.partitions\" = 3\n\"log.segment.bytes\" = 4096").unwrap();
        assert_eq!(dotted, quoted);
        assert_eq!(dotted.num_partitions, 3);
    }

    #[test]
    fn errors_name_the_key() {
        let error = parse("num.partitions = 0").unwrap_err().to_string();
        assert!(error.contains("num.partitions"), "{error}");
        let error = parse("no.such.key = 1").unwrap_err().to_string();
        assert!(error.contains("no.such.key"), "{error}");
        let error = parse("listeners = \"nonsense\"").unwrap_err().to_string();
        assert!(error.contains("listeners"), "{error}");
        let error = parse("auto.create.topics.enable = 3")
            .unwrap_err()
            .to_string();
        assert!(error.contains("auto.create.topics.enable"), "{error}");
    }

    #[test]
    fn entries_say_what_the_file_set() {
        let config = parse("num.partitions = 3\nlog.cleaner.min.cleanable.ratio = 0.25").unwrap();
        let partitions = config.entry("num.partitions").unwrap();
        assert_eq!(partitions.value.as_deref(), Some("3"));
        assert_eq!(partitions.default.as_deref(), Some("1"));
        assert!(partitions.is_static);
        assert_eq!(partitions.kind, ConfigType::Int);
        let segment = config.entry("log.segment.bytes").unwrap();
        assert_eq!(segment.value.as_deref(), Some("1073741824"));
        assert!(!segment.is_static);
        let ratio = config.entry("log.cleaner.min.cleanable.ratio").unwrap();
        assert_eq!(ratio.value.as_deref(), Some("0.25"));
        assert_eq!(ratio.kind, ConfigType::Double);
        let unset = config.entry("log.retention.ms").unwrap();
        assert_eq!((unset.value.as_deref(), unset.is_static), (None, false));
        assert_eq!(
            config.entry("log.cleanup.policy").unwrap().kind,
            ConfigType::List
        );
        assert!(config.entry("no.such.key").is_none());
        let names: Vec<&str> = config.entries.iter().map(|e| e.name.as_str()).collect();
        assert!(names.windows(2).all(|pair| pair[0] < pair[1]), "{names:?}");
    }

    #[test]
    fn the_replica_selector_is_kafkas_class_or_none() {
        assert_eq!(
            parse("").unwrap().cluster.replica_selector,
            ReplicaSelector::Leader
        );
        let rack_aware = parse(&format!(
            "\"replica.selector.class\" = \"{RACK_AWARE_SELECTOR}\""
        ));
        let config = rack_aware.unwrap();
        assert_eq!(config.cluster.replica_selector, ReplicaSelector::RackAware);
        let entry = config.entry("replica.selector.class").unwrap();
        assert_eq!(
            (entry.value.as_deref(), entry.kind),
            (Some(RACK_AWARE_SELECTOR), ConfigType::Class)
        );
        let error = parse("\"replica.selector.class\" = \"com.example.Mine\"")
            .unwrap_err()
            .to_string();
        assert!(error.contains("replica.selector.class"), "{error}");
    }

    #[test]
    fn overrides_win() {
        let overrides = Overrides {
            listen: Some("127.0.0.1:0".into()),
            advertise: Some("localhost:1234".into()),
            data_dir: Some("/tmp/x".into()),
            node_id: Some(7),
            cluster: Some("etcd://127.0.0.1:2379/x".into()),
        };
        let config = BrokerConfig::from_map(BTreeMap::new(), &overrides).unwrap();
        let listener = config.listeners.first();
        assert_eq!(listener.bind.port(), 0);
        assert_eq!(listener.advertised, ("localhost".to_owned(), 1234));
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(config.node_id, 7);
        let url = config.cluster.url.as_ref().unwrap();
        assert_eq!((url.root.as_str(), url.endpoints.len()), ("/x", 1));
        let listeners = config.entry("listeners").unwrap();
        assert_eq!(
            (listeners.value.as_deref(), listeners.is_static),
            (Some("127.0.0.1:0"), true)
        );
    }

    #[test]
    fn several_listeners_with_their_protocols_and_tls_settings() {
        let config = parse(
            r#"
            listeners = "INTERNAL://127.0.0.1:9092,ssl://127.0.0.1:9093,EXTERNAL://0.0.0.0:9094"
            "advertised.listeners" = "EXTERNAL://broker.example:19094"
            "listener.security.protocol.map" = "INTERNAL:PLAINTEXT,SSL:SSL,EXTERNAL:SSL"
            "inter.broker.listener.name" = "INTERNAL"
            "ssl.keystore.type" = "PEM"
            "ssl.keystore.location" = "/etc/spool/broker.pem"
            "listener.name.external.ssl.keystore.location" = "/etc/spool/external.pem"
            "listener.name.external.ssl.client.auth" = "required"
            "listener.name.external.ssl.truststore.type" = "PEM"
            "listener.name.external.ssl.truststore.location" = "/etc/spool/ca.pem"
            "#,
        )
        .unwrap();
        let listeners = &config.listeners;
        let names: Vec<_> = listeners.all.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["INTERNAL", "SSL", "EXTERNAL"]);
        assert_eq!(listeners.inter_broker().name, "INTERNAL");
        let [internal, ssl, external] = &listeners.all[..] else {
            panic!("three listeners")
        };
        assert_eq!(internal.protocol, SecurityProtocol::Plaintext);
        assert!(internal.tls.is_none());
        assert_eq!(internal.advertised, ("127.0.0.1".to_owned(), 9092));
        let ssl_tls = ssl.tls.as_ref().unwrap();
        assert_eq!(
            ssl_tls.keystore,
            crate::tls::KeyStore::File("/etc/spool/broker.pem".into())
        );
        assert_eq!(ssl_tls.client_auth, crate::tls::ClientAuth::None);
        assert_eq!(external.advertised, ("broker.example".to_owned(), 19094));
        let external_tls = external.tls.as_ref().unwrap();
        assert_eq!(
            external_tls.keystore,
            crate::tls::KeyStore::File("/etc/spool/external.pem".into())
        );
        assert_eq!(external_tls.client_auth, crate::tls::ClientAuth::Required);
        // Secrets are described as passwords; the plain keys keep Kafka's defaults.
        assert_eq!(
            config.entry("ssl.keystore.key").unwrap().kind,
            ConfigType::Password
        );
        assert_eq!(
            config
                .entry("ssl.truststore.type")
                .unwrap()
                .value
                .as_deref(),
            Some("JKS")
        );
    }

    #[test]
    fn listener_mistakes_are_refused_as_kafka_refuses_them() {
        let refused = |text: &str, expected: &str| {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        };
        refused(
            r#"listeners = "PLAINTEXT://127.0.0.1:1,PLAINTEXT://127.0.0.1:2""#,
            "Each listener must have a different name",
        );
        refused(
            r#"listeners = "PLAINTEXT://127.0.0.1:1,SSL://127.0.0.1:1""#,
            "Each listener must have a different port",
        );
        refused(
            r#"listeners = "CLIENT://127.0.0.1:1""#,
            "No security protocol defined for listener CLIENT",
        );
        refused(
            r#"listeners = "SSL://127.0.0.1:1"
            "ssl.keystore.type" = "PEM"
            "ssl.keystore.location" = "/k.pem""#,
            "must contain a listener with name PLAINTEXT",
        );
        refused(
            r#"listeners = "PLAINTEXT://127.0.0.1:1"
            "advertised.listeners" = "SSL://example:1""#,
            "SSL is not a listener",
        );
        // TLS listeners need PEM stores.
        refused(
            r#"listeners = "PLAINTEXT://127.0.0.1:1,SSL://127.0.0.1:2"
            "ssl.keystore.location" = "/k.jks""#,
            "PEM stores only",
        );
        refused(
            r#"listeners = "PLAINTEXT://127.0.0.1:1,SSL://127.0.0.1:2"
            "ssl.keystore.type" = "PEM""#,
            "needs ssl.keystore.location",
        );
        refused(
            r#"listeners = "PLAINTEXT://127.0.0.1:1,SSL://127.0.0.1:2"
            "ssl.keystore.type" = "PEM"
            "ssl.keystore.location" = "/k.pem"
            "ssl.client.auth" = "required""#,
            "needs a trust store",
        );
        // Several listeners may all ask for port 0.
        let config = parse(
            r#"listeners = "PLAINTEXT://127.0.0.1:0,OTHER://127.0.0.1:0"
            "listener.security.protocol.map" = "PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT""#,
        )
        .unwrap();
        assert_eq!(config.listeners.all.len(), 2);
    }

    #[test]
    fn a_sasl_inter_broker_listener_needs_a_mechanism_it_enables_and_a_login() {
        let cluster = |extra: &str| {
            parse(&format!(
                r#"
                "node.id" = 1
                "cluster.url" = "etcd://127.0.0.1:2379"
                listeners = "INTERNAL://127.0.0.1:1"
                "listener.security.protocol.map" = "INTERNAL:SASL_PLAINTEXT"
                "inter.broker.listener.name" = "INTERNAL"
                "sasl.enabled.mechanisms" = "SCRAM-SHA-256"
                {extra}
                "#
            ))
        };
        let refused = |extra: &str, expected: &str| {
            let error = cluster(extra).unwrap_err().to_string();
            assert!(error.contains(expected), "{extra}: {error}");
        };
        refused("", "not GSSAPI");
        refused(
            r#""sasl.mechanism.inter.broker.protocol" = "PLAIN""#,
            "must be included in sasl.enabled.mechanisms",
        );
        refused(
            r#""sasl.mechanism.inter.broker.protocol" = "SCRAM-SHA-256""#,
            "needs the username and password",
        );
        let config = cluster(
            r#""sasl.mechanism.inter.broker.protocol" = "SCRAM-SHA-256"
            "listener.name.internal.scram-sha-256.sasl.jaas.config" = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="pw";'"#,
        )
        .unwrap();
        let login = config.inter_broker_login.unwrap();
        assert_eq!(login.mechanism, crate::sasl::Mechanism::ScramSha256);
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("broker", "pw")
        );
        // A single node never logs in to another broker.
        let single = parse(
            r#"
            listeners = "INTERNAL://127.0.0.1:1"
            "listener.security.protocol.map" = "INTERNAL:SASL_PLAINTEXT"
            "inter.broker.listener.name" = "INTERNAL"
            "sasl.enabled.mechanisms" = "SCRAM-SHA-256"
            "#,
        )
        .unwrap();
        assert!(single.inter_broker_login.is_none());
    }

    #[test]
    fn sasl_listeners_take_their_mechanisms_and_plain_users() {
        let config = parse(
            r#"
            listeners = "PLAINTEXT://127.0.0.1:1,SASL_PLAINTEXT://127.0.0.1:2,OTHER://127.0.0.1:3"
            "listener.security.protocol.map" = "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,OTHER:SASL_PLAINTEXT"
            "sasl.enabled.mechanisms" = "SCRAM-SHA-512"
            "listener.name.sasl_plaintext.sasl.enabled.mechanisms" = "PLAIN,SCRAM-SHA-256"
            "listener.name.sasl_plaintext.plain.sasl.jaas.config" = 'org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="secret";'
            "#,
        )
        .unwrap();
        let [plain, sasl, other] = &config.listeners.all[..] else {
            panic!("three listeners")
        };
        assert!(plain.sasl.is_none());
        let sasl = sasl.sasl.as_ref().unwrap();
        assert_eq!(
            sasl.mechanisms,
            [
                crate::sasl::Mechanism::Plain,
                crate::sasl::Mechanism::ScramSha256
            ]
        );
        assert_eq!(sasl.plain_users["alice"], "secret");
        assert_eq!(sasl.max_receive_bytes, 524_288);
        let other = other.sasl.as_ref().unwrap();
        assert_eq!(other.mechanisms, [crate::sasl::Mechanism::ScramSha512]);
        assert!(other.plain_users.is_empty());
        let jaas = config
            .entry("listener.name.sasl_plaintext.plain.sasl.jaas.config")
            .unwrap();
        assert_eq!(jaas.kind, ConfigType::Password);

        let refused = |text: &str, expected: &str| {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        };
        // Kafka's default mechanism is Kerberos, which spool does not have.
        refused(
            r#"listeners = "PLAINTEXT://127.0.0.1:1,SASL_PLAINTEXT://127.0.0.1:2""#,
            "no SASL mechanism GSSAPI",
        );
        refused(
            r#"listeners = "PLAINTEXT://127.0.0.1:1,SASL_PLAINTEXT://127.0.0.1:2"
            "sasl.enabled.mechanisms" = "PLAIN""#,
            "enables PLAIN and needs its users",
        );
    }

    #[test]
    fn oauthbearer_and_session_limits_take_kafkas_keys() {
        use crate::sasl::Mechanism;
        use std::time::Duration;
        let config = parse(
            r#"
            listeners = "PLAINTEXT://127.0.0.1:1,SASL_SSL://127.0.0.1:2"
            "ssl.keystore.type" = "PEM"
            "ssl.keystore.location" = "/k.pem"
            "sasl.enabled.mechanisms" = "OAUTHBEARER,SCRAM-SHA-256"
            "connections.max.reauth.ms" = 60000
            "listener.name.sasl_ssl.oauthbearer.connections.max.reauth.ms" = 5000
            "listener.name.sasl_ssl.oauthbearer.sasl.server.callback.handler.class" = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
            "listener.name.sasl_ssl.oauthbearer.sasl.jaas.config" = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ;"
            "sasl.oauthbearer.jwks.endpoint.url" = "file:///etc/jwks.json"
            "sasl.oauthbearer.expected.audience" = "spool, kafka"
            "listener.name.sasl_ssl.oauthbearer.sasl.oauthbearer.expected.issuer" = "https://issuer"
            "sasl.oauthbearer.clock.skew.seconds" = 5
            "#,
        )
        .unwrap();
        let sasl = config.listeners.all[1].sasl.as_ref().unwrap();
        assert_eq!(
            sasl.session_max,
            [
                (Mechanism::ScramSha256, Duration::from_secs(60)),
                (Mechanism::OAuthBearer, Duration::from_secs(5)),
            ]
            .into()
        );
        let jwt = sasl.oauthbearer.as_ref().unwrap();
        assert_eq!(jwt.jwks_file, std::path::Path::new("/etc/jwks.json"));
        assert_eq!(jwt.expected_audience, ["spool", "kafka"]);
        assert_eq!(jwt.expected_issuer.as_deref(), Some("https://issuer"));
        assert_eq!(jwt.clock_skew, Duration::from_secs(5));
        assert_eq!(jwt.subject_claim, "sub");

        let refused = |extra: &str, expected: &str| {
            let text = format!(
                r#"listeners = "PLAINTEXT://127.0.0.1:1,SASL_PLAINTEXT://127.0.0.1:2"
                "sasl.enabled.mechanisms" = "OAUTHBEARER"
                {extra}"#
            );
            let error = parse(&text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        };
        refused("", "needs the key set");
        refused(
            r#""sasl.oauthbearer.jwks.endpoint.url" = "https://idp/jwks""#,
            "file: URLs only",
        );
        refused(
            r#""sasl.oauthbearer.jwks.endpoint.url" = "file:///j"
            "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class" = "com.example.Handler""#,
            "runs no other handler",
        );
    }
}
