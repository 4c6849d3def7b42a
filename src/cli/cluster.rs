//! The brokers a tool talks to: the bootstrap broker, and connections to partition leaders,
//! a given broker or the controller, learned from Metadata.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    BrokerId, ListOffsetsRequest, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::client::Connection;
use super::CliError;

/// Versions a tool request is sent at: the highest both sides support within this range.
pub const fn versions(min: i16, max: i16) -> VersionRange {
    VersionRange { min, max }
}

/// Fails with the error's name and the broker's message when `code` is an error.
pub fn check(code: i16, what: &str, message: Option<&StrBytes>) -> Result<(), CliError> {
    match ResponseError::try_from_code(code) {
        None => Ok(()),
        Some(error) => Err(CliError::Kafka(match message {
            Some(message) if !message.is_empty() => format!("{what}: {error}: {message}"),
            _ => format!("{what}: {error}"),
        })),
    }
}

/// The one result in the response to a request about one resource.
pub fn single<'a, T>(results: &'a [T], api: &str) -> Result<&'a T, CliError> {
    results
        .first()
        .ok_or_else(|| CliError::Kafka(format!("empty {api} response")))
}

pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

/// The leader of `topic`/`partition` in `leaders` (from [`Cluster::leaders`]).
pub fn leader_of(
    leaders: &BTreeMap<(String, i32), i32>,
    topic: &str,
    partition: i32,
) -> Result<i32, CliError> {
    leaders
        .get(&(topic.to_owned(), partition))
        .copied()
        .filter(|leader| *leader >= 0)
        .ok_or_else(|| CliError::Kafka(format!("{topic}-{partition} has no leader")))
}

/// Connections by broker address, and what Metadata said about the brokers.
pub struct Cluster {
    bootstrap: String,
    connections: HashMap<String, Connection>,
    brokers: HashMap<i32, String>,
    controller: Option<i32>,
}

impl Cluster {
    pub fn connect(bootstrap: &str) -> Result<Self, CliError> {
        let connection = Connection::open(bootstrap)?;
        Ok(Self {
            bootstrap: bootstrap.to_owned(),
            connections: HashMap::from([(bootstrap.to_owned(), connection)]),
            brokers: HashMap::new(),
            controller: None,
        })
    }

    fn connection(&mut self, address: &str) -> Result<&mut Connection, CliError> {
        if !self.connections.contains_key(address) {
            let connection = Connection::open(address)?;
            self.connections.insert(address.to_owned(), connection);
        }
        self.connections
            .get_mut(address)
            .ok_or_else(|| CliError::Kafka(format!("no connection to {address}")))
    }

    /// The bootstrap broker.
    pub fn any(&mut self) -> Result<&mut Connection, CliError> {
        let bootstrap = self.bootstrap.clone();
        self.connection(&bootstrap)
    }

    /// Metadata of `topics` (all topics for `None`), never creating any.
    pub fn metadata(&mut self, topics: Option<&[&str]>) -> Result<MetadataResponse, CliError> {
        let request = MetadataRequest::default()
            .with_topics(topics.map(|names| {
                names
                    .iter()
                    .map(|name| MetadataRequestTopic::default().with_name(Some(topic_name(name))))
                    .collect()
            }))
            .with_allow_auto_topic_creation(false);
        let response = self.any()?.call(&request, versions(4, 12))?;
        self.brokers = response
            .brokers
            .iter()
            .map(|broker| {
                (
                    broker.node_id.0,
                    format!("{}:{}", broker.host.as_str(), broker.port),
                )
            })
            .collect();
        self.controller = Some(response.controller_id.0).filter(|id| *id >= 0);
        Ok(response)
    }

    /// Broker `id` (as Metadata named it).
    pub fn broker(&mut self, id: i32) -> Result<&mut Connection, CliError> {
        if !self.brokers.contains_key(&id) {
            self.metadata(Some(&[]))?;
        }
        let address = self
            .brokers
            .get(&id)
            .cloned()
            .ok_or_else(|| CliError::Kafka(format!("broker {id} is not in the cluster")))?;
        self.connection(&address)
    }

    /// The broker that takes topic and config changes (Kafka forwards them from any broker
    /// since KRaft; older clusters need the controller).
    pub fn controller(&mut self) -> Result<&mut Connection, CliError> {
        if self.controller.is_none() {
            self.metadata(Some(&[]))?;
        }
        match self.controller {
            Some(id) => self.broker(id),
            None => self.any(),
        }
    }

    /// The leader of every partition of `topics`: (topic, partition) → broker id.
    pub fn leaders(&mut self, topics: &[&str]) -> Result<BTreeMap<(String, i32), i32>, CliError> {
        let metadata = self.metadata(Some(topics))?;
        let mut leaders = BTreeMap::new();
        for topic in &metadata.topics {
            let name = topic
                .name
                .as_ref()
                .map(|n| n.to_string())
                .unwrap_or_default();
            check(topic.error_code, &format!("topic '{name}'"), None)?;
            for partition in &topic.partitions {
                leaders.insert(
                    (name.clone(), partition.partition_index),
                    partition.leader_id.0,
                );
            }
        }
        Ok(leaders)
    }

    /// The offset ListOffsets gives for `timestamp` (-1 latest, -2 earliest) of each
    /// partition, asked of its leader.
    pub fn offsets(
        &mut self,
        partitions: &[(String, i32)],
        timestamp: i64,
    ) -> Result<HashMap<(String, i32), i64>, CliError> {
        let mut topics: Vec<&str> = partitions.iter().map(|(topic, _)| topic.as_str()).collect();
        topics.sort_unstable();
        topics.dedup();
        if topics.is_empty() {
            return Ok(HashMap::new());
        }
        let leaders = self.leaders(&topics)?;
        let mut by_leader: BTreeMap<i32, BTreeMap<&str, Vec<i32>>> = BTreeMap::new();
        for (topic, partition) in partitions {
            let leader = leader_of(&leaders, topic, *partition)?;
            by_leader
                .entry(leader)
                .or_default()
                .entry(topic)
                .or_default()
                .push(*partition);
        }
        let mut offsets = HashMap::new();
        for (leader, topics) in by_leader {
            let request = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(topic, partitions)| {
                            ListOffsetsTopic::default()
                                .with_name(topic_name(topic))
                                .with_partitions(
                                    partitions
                                        .into_iter()
                                        .map(|partition| {
                                            ListOffsetsPartition::default()
                                                .with_partition_index(partition)
                                                .with_timestamp(timestamp)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
            let response = self.broker(leader)?.call(&request, versions(1, 7))?;
            for topic in response.topics {
                for partition in topic.partitions {
                    check(partition.error_code, "ListOffsets", None)?;
                    offsets.insert(
                        (topic.name.to_string(), partition.partition_index),
                        partition.offset,
                    );
                }
            }
        }
        Ok(offsets)
    }
}
