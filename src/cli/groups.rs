//! `spool groups list|describe`: consumer groups and their lag (log end offset − committed
//! offset), like `kafka-consumer-groups --list/--describe`, against any Kafka-compatible broker.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;
use serde::Serialize;

use super::client::{ClientError, Connection};
use super::CliError;
use crate::group::consumer_protocol;

const GROUP_KEY_TYPE: i8 = 0;
const LATEST_OFFSET: i64 = -1;

fn range(min: i16, max: i16) -> VersionRange {
    VersionRange { min, max }
}

fn check(code: i16, what: &str) -> Result<(), CliError> {
    match ResponseError::try_from_code(code) {
        None => Ok(()),
        Some(error) => Err(CliError::Kafka(format!("{what}: {error}"))),
    }
}

/// One row of `groups describe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LagRow {
    pub topic: String,
    pub partition: i32,
    pub current_offset: Option<i64>,
    pub log_end_offset: i64,
    pub lag: Option<i64>,
    pub consumer_id: Option<String>,
    pub host: Option<String>,
    pub client_id: Option<String>,
}

/// A group's state and per-partition lag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupReport {
    pub group: String,
    pub state: String,
    pub partitions: Vec<LagRow>,
}

/// Group ids and states known to the broker at `bootstrap`.
pub fn list(bootstrap: &str) -> Result<Vec<(String, String)>, CliError> {
    let mut connection = Connection::open(bootstrap)?;
    let response = connection.call(&ListGroupsRequest::default(), range(0, 5))?;
    check(response.error_code, "ListGroups")?;
    let mut groups: Vec<(String, String)> = response
        .groups
        .into_iter()
        .map(|group| (group.group_id.to_string(), group.group_state.to_string()))
        .collect();
    groups.sort();
    Ok(groups)
}

/// Finds the group's coordinator and connects to it (reusing `bootstrap` when it is the one).
fn coordinator(bootstrap: Connection, group: &str) -> Result<Connection, CliError> {
    let mut bootstrap = bootstrap;
    let version = bootstrap
        .version_of::<FindCoordinatorRequest>(range(1, 6))
        .ok_or_else(|| CliError::Kafka("broker does not support FindCoordinator".into()))?;
    let request = FindCoordinatorRequest::default().with_key_type(GROUP_KEY_TYPE);
    let request = if version >= 4 {
        request.with_coordinator_keys(vec![StrBytes::from_string(group.to_owned())])
    } else {
        request.with_key(StrBytes::from_string(group.to_owned()))
    };
    let response = bootstrap.call(&request, range(version, version))?;
    let (code, host, port) = match response.coordinators.first() {
        Some(found) => (found.error_code, found.host.to_string(), found.port),
        None => (
            response.error_code,
            response.host.to_string(),
            response.port,
        ),
    };
    check(code, "FindCoordinator")?;
    let address = format!("{host}:{port}");
    if address == bootstrap.address() {
        return Ok(bootstrap);
    }
    Ok(Connection::open(&address)?)
}

/// Describes `group`: state, members' assignments, committed offsets and lag.
pub fn describe(bootstrap: &str, group: &str) -> Result<GroupReport, CliError> {
    let boot = Connection::open(bootstrap)?;
    let mut coordinator = coordinator(boot, group)?;
    let described = coordinator.call(
        &DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(StrBytes::from_string(group.to_owned()))]),
        range(0, 5),
    )?;
    let description = described
        .groups
        .into_iter()
        .next()
        .ok_or_else(|| CliError::Kafka("empty DescribeGroups response".into()))?;
    check(description.error_code, "DescribeGroups")?;
    if description.group_state.as_str() == "Dead" {
        return Err(CliError::Kafka(format!(
            "consumer group '{group}' does not exist"
        )));
    }
    let mut owners: HashMap<(String, i32), (String, String, String)> = HashMap::new();
    for member in &description.members {
        for (topic, partitions) in
            consumer_protocol::assignment_partitions(&member.member_assignment).unwrap_or_default()
        {
            for partition in partitions {
                let owner = (
                    member.member_id.to_string(),
                    member.client_host.to_string(),
                    member.client_id.to_string(),
                );
                owners.insert((topic.clone(), partition), owner);
            }
        }
    }
    let fetched = coordinator.call(
        &OffsetFetchRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_owned())))
            .with_topics(None),
        range(2, 7),
    )?;
    check(fetched.error_code, "OffsetFetch")?;
    let mut committed: BTreeMap<(String, i32), Option<i64>> = BTreeMap::new();
    for topic in fetched.topics {
        for partition in topic.partitions {
            check(partition.error_code, "OffsetFetch")?;
            let offset = (partition.committed_offset >= 0).then_some(partition.committed_offset);
            committed.insert((topic.name.to_string(), partition.partition_index), offset);
        }
    }
    for key in owners.keys() {
        committed.entry(key.clone()).or_insert(None);
    }
    let ends = log_end_offsets(bootstrap, committed.keys())?;
    let partitions = committed
        .into_iter()
        .map(|((topic, partition), current_offset)| {
            let log_end_offset = ends.get(&(topic.clone(), partition)).copied().unwrap_or(-1);
            let owner = owners.get(&(topic.clone(), partition));
            LagRow {
                lag: current_offset.map(|offset| (log_end_offset - offset).max(0)),
                consumer_id: owner.map(|(id, _, _)| id.clone()),
                host: owner.map(|(_, host, _)| host.clone()),
                client_id: owner.map(|(_, _, client)| client.clone()),
                topic,
                partition,
                current_offset,
                log_end_offset,
            }
        })
        .collect();
    Ok(GroupReport {
        group: group.to_owned(),
        state: description.group_state.to_string(),
        partitions,
    })
}

/// Latest offsets of `partitions`, asked of each partition's leader.
fn log_end_offsets<'a>(
    bootstrap: &str,
    partitions: impl Iterator<Item = &'a (String, i32)>,
) -> Result<HashMap<(String, i32), i64>, CliError> {
    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in partitions {
        by_topic.entry(topic.clone()).or_default().push(*partition);
    }
    if by_topic.is_empty() {
        return Ok(HashMap::new());
    }
    let mut connection = Connection::open(bootstrap)?;
    let topics = by_topic
        .keys()
        .map(|topic| {
            MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(topic.clone()))))
        })
        .collect();
    let metadata = connection.call(
        &MetadataRequest::default().with_topics(Some(topics)),
        range(1, 8),
    )?;
    let brokers: HashMap<i32, String> = metadata
        .brokers
        .iter()
        .map(|broker| {
            (
                broker.node_id.0,
                format!("{}:{}", broker.host.as_str(), broker.port),
            )
        })
        .collect();
    let mut by_leader: BTreeMap<String, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
    for topic in &metadata.topics {
        let name = topic
            .name
            .as_ref()
            .map(|name| name.to_string())
            .unwrap_or_default();
        let Some(wanted) = by_topic.get(&name) else {
            continue;
        };
        for partition in topic
            .partitions
            .iter()
            .filter(|partition| wanted.contains(&partition.partition_index))
        {
            let leader = brokers
                .get(&partition.leader_id.0)
                .cloned()
                .ok_or_else(|| {
                    CliError::Kafka(format!(
                        "{name}-{} has no leader",
                        partition.partition_index
                    ))
                })?;
            by_leader
                .entry(leader)
                .or_default()
                .entry(name.clone())
                .or_default()
                .push(partition.partition_index);
        }
    }
    let mut ends = HashMap::new();
    let mut connections: HashMap<String, Connection> = HashMap::new();
    connections.insert(connection.address().to_owned(), connection);
    for (leader, topics) in by_leader {
        if !connections.contains_key(&leader) {
            connections.insert(leader.clone(), Connection::open(&leader)?);
        }
        let Some(connection) = connections.get_mut(&leader) else {
            continue;
        };
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(
                topics
                    .into_iter()
                    .map(|(topic, partitions)| {
                        ListOffsetsTopic::default()
                            .with_name(TopicName(StrBytes::from_string(topic)))
                            .with_partitions(
                                partitions
                                    .into_iter()
                                    .map(|partition| {
                                        ListOffsetsPartition::default()
                                            .with_partition_index(partition)
                                            .with_timestamp(LATEST_OFFSET)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let response = connection.call(&request, range(1, 7))?;
        for topic in response.topics {
            for partition in topic.partitions {
                check(partition.error_code, "ListOffsets")?;
                ends.insert(
                    (topic.name.to_string(), partition.partition_index),
                    partition.offset,
                );
            }
        }
    }
    Ok(ends)
}

/// Renders a report as `kafka-consumer-groups --describe` does.
pub fn render(report: &GroupReport) -> String {
    let dash = |value: Option<String>| value.unwrap_or_else(|| "-".to_owned());
    let mut rows = vec![[
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
    ]
    .map(str::to_owned)];
    for row in &report.partitions {
        rows.push([
            report.group.clone(),
            row.topic.clone(),
            row.partition.to_string(),
            dash(row.current_offset.map(|offset| offset.to_string())),
            row.log_end_offset.to_string(),
            dash(row.lag.map(|lag| lag.to_string())),
            dash(row.consumer_id.clone()),
            dash(row.host.clone()),
            dash(row.client_id.clone()),
        ]);
    }
    let widths: Vec<usize> = (0..9)
        .map(|column| rows.iter().map(|row| row[column].len()).max().unwrap_or(0))
        .collect();
    let mut text = format!("Consumer group '{}' is {}.\n\n", report.group, report.state);
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        text.push_str(line.join("  ").trim_end());
        text.push('\n');
    }
    text
}

impl From<ClientError> for CliError {
    fn from(error: ClientError) -> Self {
        CliError::Client(error)
    }
}
