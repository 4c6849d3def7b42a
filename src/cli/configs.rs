//! `spool configs get|set`: topic and broker configs over DescribeConfigs and
//! IncrementalAlterConfigs, like `kafka-configs.sh`.

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{DescribeConfigsRequest, IncrementalAlterConfigsRequest};
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;

use super::cluster::{check, single, versions, Cluster};
use super::CliError;

/// Kafka's `ConfigSource` names, by code.
const SOURCES: [&str; 9] = [
    "UNKNOWN",
    "DYNAMIC_TOPIC_CONFIG",
    "DYNAMIC_BROKER_CONFIG",
    "DYNAMIC_DEFAULT_BROKER_CONFIG",
    "STATIC_BROKER_CONFIG",
    "DEFAULT_CONFIG",
    "DYNAMIC_BROKER_LOGGER_CONFIG",
    "CLIENT_METRICS_CONFIG",
    "GROUP_CONFIG",
];
/// The source of a topic override.
pub const SOURCE_TOPIC: &str = "DYNAMIC_TOPIC_CONFIG";
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;

/// What configs belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Topic(String),
    Broker(i32),
}

impl Resource {
    fn kind_and_name(&self) -> (i8, String) {
        match self {
            Self::Topic(name) => (2, name.clone()),
            Self::Broker(id) => (4, id.to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigRow {
    pub name: String,
    pub value: Option<String>,
    pub source: &'static str,
    pub read_only: bool,
    pub sensitive: bool,
}

/// Every config of `resource`, sorted by name.
pub fn get(cluster: &mut Cluster, resource: &Resource) -> Result<Vec<ConfigRow>, CliError> {
    let (kind, name) = resource.kind_and_name();
    let request =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(StrBytes::from_string(name.clone()))
            .with_configuration_keys(None)]);
    // A broker's configs must be asked of that broker.
    let connection = match resource {
        Resource::Broker(id) => cluster.broker(*id)?,
        Resource::Topic(_) => cluster.any()?,
    };
    let response = connection.call(&request, versions(1, 4))?;
    let result = single(&response.results, "DescribeConfigs")?;
    check(
        result.error_code,
        &format!("describe configs of '{name}'"),
        result.error_message.as_ref(),
    )?;
    let mut rows: Vec<ConfigRow> = result
        .configs
        .iter()
        .map(|config| ConfigRow {
            name: config.name.to_string(),
            value: config.value.as_ref().map(|value| value.to_string()),
            source: SOURCES
                .get(usize::try_from(config.config_source).unwrap_or(0))
                .copied()
                .unwrap_or(SOURCES[0]),
            read_only: config.read_only,
            sensitive: config.is_sensitive,
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}

/// Sets and deletes (back to the default) configs of `resource`, all or none.
pub fn set(
    cluster: &mut Cluster,
    resource: &Resource,
    sets: &[(String, String)],
    deletes: &[String],
) -> Result<(), CliError> {
    let (kind, name) = resource.kind_and_name();
    let changes = sets
        .iter()
        .map(|(key, value)| (key, OP_SET, Some(value)))
        .chain(deletes.iter().map(|key| (key, OP_DELETE, None)))
        .map(|(key, op, value)| {
            AlterableConfig::default()
                .with_name(StrBytes::from_string(key.clone()))
                .with_config_operation(op)
                .with_value(value.map(|value| StrBytes::from_string(value.clone())))
        })
        .collect();
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(StrBytes::from_string(name.clone()))
            .with_configs(changes),
    ]);
    let connection = match resource {
        Resource::Broker(id) => cluster.broker(*id)?,
        Resource::Topic(_) => cluster.controller()?,
    };
    let response = connection.call(&request, versions(0, 1))?;
    let result = single(&response.responses, "IncrementalAlterConfigs")?;
    check(
        result.error_code,
        &format!("alter configs of '{name}'"),
        result.error_message.as_ref(),
    )
}
