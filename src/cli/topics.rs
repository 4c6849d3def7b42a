//! `spool topics list|create|describe|delete|add-partitions`: topic management over the Kafka
//! protocol, like `kafka-topics.sh` and `rpk topic`.

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::{CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest};
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;

use super::cluster::{check, single, topic_name, versions, Cluster};
use super::configs::{self, ConfigRow, Resource};
use super::{CliError, Outcome};

/// How long the broker may take over a topic change.
const TOPIC_CHANGE_TIMEOUT_MS: i32 = 30_000;
const EARLIEST: i64 = -2;
const LATEST: i64 = -1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicSummary {
    pub name: String,
    pub id: String,
    pub partitions: usize,
    pub replicas: usize,
    pub internal: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionDetails {
    pub partition: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub log_start_offset: i64,
    pub high_watermark: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicDetails {
    pub name: String,
    pub id: String,
    pub internal: bool,
    pub partitions: Vec<PartitionDetails>,
    /// Configs set on the topic (not defaults).
    pub configs: Vec<ConfigRow>,
}

/// Every topic (internal ones only when asked), sorted by name.
pub fn list(bootstrap: &str, include_internal: bool) -> Result<Vec<TopicSummary>, CliError> {
    let metadata = Cluster::connect(bootstrap)?.metadata(None)?;
    let mut topics: Vec<TopicSummary> = metadata
        .topics
        .iter()
        .filter(|topic| include_internal || !topic.is_internal)
        .map(|topic| TopicSummary {
            name: topic
                .name
                .as_ref()
                .map(|n| n.to_string())
                .unwrap_or_default(),
            id: topic.topic_id.to_string(),
            partitions: topic.partitions.len(),
            replicas: topic
                .partitions
                .first()
                .map_or(0, |partition| partition.replica_nodes.len()),
            internal: topic.is_internal,
        })
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(topics)
}

/// One topic: its partitions with leaders and offsets, and its configured overrides.
pub fn describe(bootstrap: &str, topic: &str) -> Result<TopicDetails, CliError> {
    let mut cluster = Cluster::connect(bootstrap)?;
    let metadata = cluster.metadata(Some(&[topic]))?;
    let found = metadata
        .topics
        .first()
        .ok_or_else(|| CliError::Kafka(format!("topic '{topic}': not in the metadata")))?;
    check(found.error_code, &format!("topic '{topic}'"), None)?;
    let keys: Vec<(String, i32)> = found
        .partitions
        .iter()
        .map(|partition| (topic.to_owned(), partition.partition_index))
        .collect();
    let starts = cluster.offsets(&keys, EARLIEST)?;
    let ends = cluster.offsets(&keys, LATEST)?;
    let mut partitions: Vec<PartitionDetails> = found
        .partitions
        .iter()
        .map(|partition| {
            let key = (topic.to_owned(), partition.partition_index);
            PartitionDetails {
                partition: partition.partition_index,
                leader: partition.leader_id.0,
                leader_epoch: partition.leader_epoch,
                replicas: partition.replica_nodes.iter().map(|id| id.0).collect(),
                isr: partition.isr_nodes.iter().map(|id| id.0).collect(),
                log_start_offset: starts.get(&key).copied().unwrap_or(-1),
                high_watermark: ends.get(&key).copied().unwrap_or(-1),
            }
        })
        .collect();
    partitions.sort_by_key(|partition| partition.partition);
    let configs = configs::get(&mut cluster, &Resource::Topic(topic.to_owned()))?
        .into_iter()
        .filter(|config| config.source == configs::SOURCE_TOPIC)
        .collect();
    Ok(TopicDetails {
        name: topic.to_owned(),
        id: found.topic_id.to_string(),
        internal: found.is_internal,
        partitions,
        configs,
    })
}

/// Creates a topic (-1 partitions or replication factor: the broker's default).
pub fn create(
    bootstrap: &str,
    name: &str,
    partitions: i32,
    replication_factor: i16,
    configs: &[(String, String)],
) -> Result<(), CliError> {
    let topic = CreatableTopic::default()
        .with_name(topic_name(name))
        .with_num_partitions(partitions)
        .with_replication_factor(replication_factor)
        .with_configs(
            configs
                .iter()
                .map(|(key, value)| {
                    CreatableTopicConfig::default()
                        .with_name(StrBytes::from_string(key.clone()))
                        .with_value(Some(StrBytes::from_string(value.clone())))
                })
                .collect(),
        );
    let request = CreateTopicsRequest::default()
        .with_topics(vec![topic])
        .with_timeout_ms(TOPIC_CHANGE_TIMEOUT_MS);
    let response = Cluster::connect(bootstrap)?
        .controller()?
        .call(&request, versions(2, 7))?;
    let result = single(&response.topics, "CreateTopics")?;
    check(
        result.error_code,
        &format!("create topic '{name}'"),
        result.error_message.as_ref(),
    )
}

/// Deletes topics; each topic's outcome.
pub fn delete(bootstrap: &str, names: &[String]) -> Result<Vec<Outcome>, CliError> {
    let request = DeleteTopicsRequest::default()
        .with_topic_names(names.iter().map(|name| topic_name(name)).collect())
        .with_timeout_ms(TOPIC_CHANGE_TIMEOUT_MS);
    let response = Cluster::connect(bootstrap)?
        .controller()?
        .call(&request, versions(1, 5))?;
    Ok(response
        .responses
        .iter()
        .map(|result| {
            let name = result
                .name
                .as_ref()
                .map(|n| n.to_string())
                .unwrap_or_default();
            let outcome = check(result.error_code, "delete", result.error_message.as_ref())
                .map_err(|error| error.to_string());
            (name, outcome)
        })
        .collect())
}

/// Adds `count` partitions to `topic`; returns the new total.
pub fn add_partitions(bootstrap: &str, topic: &str, count: i32) -> Result<i32, CliError> {
    let mut cluster = Cluster::connect(bootstrap)?;
    let current = cluster.leaders(&[topic])?.len() as i32;
    if current == 0 {
        return Err(CliError::Kafka(format!(
            "topic '{topic}' has no partitions"
        )));
    }
    let total = current + count;
    let request = CreatePartitionsRequest::default()
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(topic_name(topic))
            .with_count(total)
            .with_assignments(None)])
        .with_timeout_ms(TOPIC_CHANGE_TIMEOUT_MS);
    let response = cluster.controller()?.call(&request, versions(0, 3))?;
    let result = single(&response.results, "CreatePartitions")?;
    check(
        result.error_code,
        &format!("add partitions to '{topic}'"),
        result.error_message.as_ref(),
    )?;
    Ok(total)
}
