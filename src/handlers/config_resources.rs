//! The resources DescribeConfigs, AlterConfigs and IncrementalAlterConfigs name, and the
//! checks Kafka runs on an alteration request before touching any resource.

use std::collections::HashSet;

use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::errors;
use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker, TopicError};
use crate::config::dynamic::DynamicScope;
use crate::metadata::topic_config::ConfigChange;
use crate::metadata::topic_name;

/// Kafka's `ConfigResource.Type` codes spool serves.
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// Kafka's other resource types, which it authorizes (on the cluster, or the group) before
/// spool refuses them as unserved.
const RESOURCE_BROKER_LOGGER: i8 = 8;
const RESOURCE_CLIENT_METRICS: i8 = 16;
const RESOURCE_GROUP: i8 = 32;

/// Why a resource was refused: the error code and the message for the client.
pub type Refusal = (ResponseError, String);

/// A config resource this broker answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigResource<'a> {
    Topic(&'a str),
    /// This broker (its node id as the resource name), or the cluster-wide dynamic broker
    /// defaults (an empty name).
    Broker(DynamicScope),
}

/// Resolves a resource: topics must exist, broker names must be this node's id or empty.
pub fn resolve<'a>(
    broker: &Broker,
    resource_type: i8,
    name: &'a str,
) -> Result<ConfigResource<'a>, Refusal> {
    match resource_type {
        RESOURCE_TOPIC => {
            topic_name::validate(name)
                .map_err(|message| refusal(&TopicError::InvalidName(message)))?;
            if broker.metadata.image().topic(name).is_none() {
                return Err(refusal(&TopicError::Unknown(name.to_owned())));
            }
            Ok(ConfigResource::Topic(name))
        }
        RESOURCE_BROKER if name.is_empty() => {
            Ok(ConfigResource::Broker(DynamicScope::ClusterDefault))
        }
        RESOURCE_BROKER => match name.parse::<i32>() {
            Ok(id) if id == broker.config.node_id => {
                Ok(ConfigResource::Broker(DynamicScope::Broker(id)))
            }
            Ok(_) => Err((
                ResponseError::InvalidRequest,
                format!(
                    "Unexpected broker id, expected {}, but received {name}",
                    broker.config.node_id
                ),
            )),
            Err(_) => Err((
                ResponseError::InvalidRequest,
                format!("Node id must be an integer, but it is: {name}"),
            )),
        },
        other => Err((
            ResponseError::InvalidRequest,
            format!(
                "Unsupported resource type {other}: spool serves topic (2) and broker (4) configs"
            ),
        )),
    }
}

/// Whether the principal may do `operation` (DESCRIBE_CONFIGS or ALTER_CONFIGS) on a config
/// resource: a topic's on the topic, a group's on the group, the others' on the cluster;
/// checked before the resource is resolved, as Kafka does.
pub fn authorize(
    access: &Access,
    operation: Operation,
    resource_type: i8,
    name: &str,
) -> Result<(), Refusal> {
    let (resource, error) = match resource_type {
        RESOURCE_TOPIC => (
            Resource::topic(name),
            ResponseError::TopicAuthorizationFailed,
        ),
        RESOURCE_GROUP => (
            Resource::group(name),
            ResponseError::GroupAuthorizationFailed,
        ),
        RESOURCE_BROKER | RESOURCE_BROKER_LOGGER | RESOURCE_CLIENT_METRICS => (
            Resource::cluster(),
            ResponseError::ClusterAuthorizationFailed,
        ),
        _ => return Ok(()),
    };
    match access.allows(operation, resource) {
        true => Ok(()),
        false => Err((error, errors::kafka_message(error).to_string())),
    }
}

pub fn refusal(error: &TopicError) -> Refusal {
    (errors::for_topic_error(error), error.to_string())
}

/// The outcome of each resource of an alteration request, in order: `alter`'s, except for a
/// resource (type, name) named more than once, which Kafka refuses at every occurrence.
pub async fn alter_each<'a, R, Altered>(
    resources: &'a [R],
    id: impl Fn(&R) -> (i8, &str),
    alter: impl Fn(&'a R) -> Altered,
) -> Vec<Result<(), Refusal>>
where
    Altered: std::future::Future<Output = Result<(), Refusal>>,
{
    let mut seen = HashSet::new();
    let repeated: HashSet<(i8, &str)> = resources
        .iter()
        .map(&id)
        .filter(|resource| !seen.insert(*resource))
        .collect();
    let mut outcomes = Vec::with_capacity(resources.len());
    for resource in resources {
        outcomes.push(if repeated.contains(&id(resource)) {
            Err((
                ResponseError::InvalidRequest,
                "Each resource must appear at most once.".to_owned(),
            ))
        } else {
            alter(resource).await
        });
    }
    outcomes
}

/// The error code and message fields of a resource's answer.
pub fn error_fields(outcome: Result<(), Refusal>) -> (i16, Option<StrBytes>) {
    match outcome {
        Ok(()) => (0, None),
        Err((error, message)) => (error.code(), Some(StrBytes::from_string(message))),
    }
}

/// Kafka's checks on one resource's alterations: no key twice, no null value where one is
/// needed (`null_names`).
pub fn check_alterations<'a>(
    names: impl Iterator<Item = &'a str>,
    null_names: Vec<&str>,
) -> Result<(), Refusal> {
    let mut seen = HashSet::new();
    let mut names = names;
    if !names.all(|name| seen.insert(name)) {
        return Err((
            ResponseError::InvalidRequest,
            "Error due to duplicate config keys".to_owned(),
        ));
    }
    if !null_names.is_empty() {
        return Err((
            ResponseError::InvalidRequest,
            format!("Null value not supported for : {}", null_names.join(", ")),
        ));
    }
    Ok(())
}

/// Changes the dynamic configs of a broker resource (this broker's, or the cluster
/// default): `replace`d all (AlterConfigs) or changed one by one.
pub async fn alter_dynamic(
    broker: &Broker,
    scope: DynamicScope,
    changes: &[(String, ConfigChange)],
    replace: bool,
    validate_only: bool,
) -> Result<(), Refusal> {
    broker
        .alter_dynamic_configs(scope, changes, replace, validate_only)
        .await
        .map_err(|error| (errors::for_dynamic_config_error(&error), error.to_string()))
}
