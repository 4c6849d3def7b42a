//! `spool groups list|describe`: consumer groups and their lag (log end offset − committed
//! offset), like `kafka-consumer-groups --list/--describe`, against any Kafka-compatible broker.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;

use super::client::{ClientError, Connection};
use super::cluster::{check, versions, Cluster};
use super::table::{self, or_dash};
use super::{CliError, Outcome};
use crate::group::consumer_protocol;

const GROUP_KEY_TYPE: i8 = 0;
const LATEST_OFFSET: i64 = -1;

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
    let response = connection.call(&ListGroupsRequest::default(), versions(0, 5))?;
    check(response.error_code, "ListGroups", None)?;
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
        .version_of::<FindCoordinatorRequest>(versions(1, 6))
        .ok_or_else(|| CliError::Kafka("broker does not support FindCoordinator".into()))?;
    let request = FindCoordinatorRequest::default().with_key_type(GROUP_KEY_TYPE);
    let request = if version >= 4 {
        request.with_coordinator_keys(vec![StrBytes::from_string(group.to_owned())])
    } else {
        request.with_key(StrBytes::from_string(group.to_owned()))
    };
    let response = bootstrap.call(&request, versions(version, version))?;
    let (code, host, port) = match response.coordinators.first() {
        Some(found) => (found.error_code, found.host.to_string(), found.port),
        None => (
            response.error_code,
            response.host.to_string(),
            response.port,
        ),
    };
    check(code, "FindCoordinator", None)?;
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
        versions(0, 5),
    )?;
    let description = described
        .groups
        .into_iter()
        .next()
        .ok_or_else(|| CliError::Kafka("empty DescribeGroups response".into()))?;
    check(description.error_code, "DescribeGroups", None)?;
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
        versions(2, 7),
    )?;
    check(fetched.error_code, "OffsetFetch", None)?;
    let mut committed: BTreeMap<(String, i32), Option<i64>> = BTreeMap::new();
    for topic in fetched.topics {
        for partition in topic.partitions {
            check(partition.error_code, "OffsetFetch", None)?;
            let offset = (partition.committed_offset >= 0).then_some(partition.committed_offset);
            committed.insert((topic.name.to_string(), partition.partition_index), offset);
        }
    }
    for key in owners.keys() {
        committed.entry(key.clone()).or_insert(None);
    }
    let partitions: Vec<(String, i32)> = committed.keys().cloned().collect();
    let ends = Cluster::connect(bootstrap)?.offsets(&partitions, LATEST_OFFSET)?;
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

/// Renders a report as `kafka-consumer-groups --describe` does.
pub fn render(report: &GroupReport) -> String {
    let rows: Vec<Vec<String>> = report
        .partitions
        .iter()
        .map(|row| {
            vec![
                report.group.clone(),
                row.topic.clone(),
                row.partition.to_string(),
                or_dash(row.current_offset),
                row.log_end_offset.to_string(),
                or_dash(row.lag),
                or_dash(row.consumer_id.as_ref()),
                or_dash(row.host.as_ref()),
                or_dash(row.client_id.as_ref()),
            ]
        })
        .collect();
    let header = [
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
    ];
    format!(
        "Consumer group '{}' is {}.\n\n{}",
        report.group,
        report.state,
        table::render(&header, &rows)
    )
}

/// Deletes `groups` (each must be empty); returns each group's outcome.
pub fn delete(bootstrap: &str, groups: &[String]) -> Result<Vec<Outcome>, CliError> {
    let mut outcomes = Vec::new();
    for group in groups {
        let mut coordinator = coordinator(Connection::open(bootstrap)?, group)?;
        let response = coordinator.call(
            &DeleteGroupsRequest::default()
                .with_groups_names(vec![GroupId(StrBytes::from_string(group.clone()))]),
            versions(0, 2),
        )?;
        let outcome = match response.results.first() {
            Some(result) => {
                check(result.error_code, "DeleteGroups", None).map_err(|error| error.to_string())
            }
            None => Err("empty DeleteGroups response".to_owned()),
        };
        outcomes.push((group.clone(), outcome));
    }
    Ok(outcomes)
}

impl From<ClientError> for CliError {
    fn from(error: ClientError) -> Self {
        CliError::Client(error)
    }
}
