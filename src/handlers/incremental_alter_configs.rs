//! IncrementalAlterConfigs (key 44, KIP-339): SET, DELETE, APPEND and SUBTRACT on single
//! topic config keys, applied live and persisted; what `kafka-configs.sh --alter` sends.

use std::sync::Arc;

use kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{
    ApiKey, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::config_resources::{self, ConfigResource, Refusal};
use super::SupportedApi;
use crate::acl::Operation;
use crate::broker::{Access, Broker};
use crate::metadata::topic_config::ConfigChange;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::IncrementalAlterConfigs,
    versions: VersionRange { min: 0, max: 1 },
};

/// Kafka's `AlterConfigOp.OpType` codes.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

pub async fn handle(
    broker: Arc<Broker>,
    access: Access,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let outcomes = config_resources::alter_each(
        &request.resources,
        |resource| (resource.resource_type, resource.resource_name.as_str()),
        |resource| alter(&broker, &access, resource, request.validate_only),
    )
    .await;
    let responses = request
        .resources
        .iter()
        .zip(outcomes)
        .map(|(resource, outcome)| {
            let (code, message) = config_resources::error_fields(outcome);
            AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone())
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

async fn alter(
    broker: &Broker,
    access: &Access,
    resource: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), Refusal> {
    config_resources::authorize(
        access,
        Operation::AlterConfigs,
        resource.resource_type,
        &resource.resource_name,
    )?;
    config_resources::check_alterations(
        resource.configs.iter().map(|config| config.name.as_str()),
        resource
            .configs
            .iter()
            .filter(|config| config.config_operation != OP_DELETE && config.value.is_none())
            .map(|config| config.name.as_str())
            .collect(),
    )?;
    let changes = resource
        .configs
        .iter()
        .map(|config| {
            let value = config.value.as_deref().unwrap_or_default().to_owned();
            let change = match config.config_operation {
                OP_SET => ConfigChange::Set(value),
                OP_DELETE => ConfigChange::Delete,
                OP_APPEND => ConfigChange::Append(value),
                OP_SUBTRACT => ConfigChange::Subtract(value),
                other => {
                    return Err((
                        ResponseError::InvalidRequest,
                        format!("Unknown operations type {other}"),
                    ))
                }
            };
            Ok((config.name.to_string(), change))
        })
        .collect::<Result<Vec<_>, Refusal>>()?;
    match config_resources::resolve(broker, resource.resource_type, &resource.resource_name)? {
        ConfigResource::Topic(name) => broker
            .alter_topic_configs(name, &changes, false, validate_only)
            .await
            .map_err(|error| config_resources::refusal(&error)),
        ConfigResource::Broker(scope) => {
            config_resources::alter_dynamic(broker, scope, &changes, false, validate_only).await
        }
    }
}
