//! AlterConfigs (key 33, the legacy form): replaces all of a topic's overrides with the ones
//! given. Kafka's tools use IncrementalAlterConfigs; this stays for older clients.

use std::sync::Arc;

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse, ApiKey};
use kafka_protocol::protocol::VersionRange;

use super::config_resources::{self, ConfigResource, Refusal};
use super::SupportedApi;
use crate::acl::Operation;
use crate::broker::{Access, Broker};
use crate::metadata::topic_config::ConfigChange;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::AlterConfigs,
    versions: VersionRange { min: 0, max: 2 },
};

pub async fn handle(
    broker: Arc<Broker>,
    access: Access,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
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
    AlterConfigsResponse::default().with_responses(responses)
}

async fn alter(
    broker: &Broker,
    access: &Access,
    resource: &kafka_protocol::messages::alter_configs_request::AlterConfigsResource,
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
            .filter(|config| config.value.is_none())
            .map(|config| config.name.as_str())
            .collect(),
    )?;
    // AlterConfigs replaces every config of the resource by those given.
    let changes: Vec<(String, ConfigChange)> = resource
        .configs
        .iter()
        .map(|config| {
            let value = config.value.as_deref().unwrap_or_default();
            (config.name.to_string(), ConfigChange::Set(value.to_owned()))
        })
        .collect();
    match config_resources::resolve(broker, resource.resource_type, &resource.resource_name)? {
        ConfigResource::Topic(name) => broker
            .alter_topic_configs(name, &changes, true, validate_only)
            .await
            .map_err(|error| config_resources::refusal(&error)),
        ConfigResource::Broker(scope) => {
            config_resources::alter_dynamic(broker, scope, &changes, true, validate_only).await
        }
    }
}
