//! DescribeConfigs (key 32): every config of a topic or of this broker with its value,
//! source, read-only flag, type (v3+) and, when asked, its synonyms.

use std::sync::Arc;

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{ApiKey, DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use super::config_resources::{self, ConfigResource};
use super::SupportedApi;
use crate::acl::Operation;
use crate::broker::{Access, Broker};
use crate::config::dynamic::DynamicScope;
use crate::config::ConfigType;
use crate::metadata::config_description::{self, DescribedConfig};

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::DescribeConfigs,
    versions: VersionRange { min: 1, max: 4 },
};

pub fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    version: i16,
    request: &DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let results = request
        .resources
        .iter()
        .map(|resource| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let resolved = config_resources::authorize(
                access,
                Operation::DescribeConfigs,
                resource.resource_type,
                &resource.resource_name,
            )
            .and_then(|()| {
                config_resources::resolve(broker, resource.resource_type, &resource.resource_name)
            });
            let described = match resolved {
                Ok(ConfigResource::Topic(name)) => {
                    let image = broker.metadata.image();
                    let overrides = image
                        .topic(name)
                        .map(|topic| topic.configs.clone())
                        .unwrap_or_default();
                    config_description::topic_configs(&overrides, &broker.config)
                }
                Ok(ConfigResource::Broker(scope)) => {
                    let image = broker.metadata.image();
                    let dynamic =
                        config_description::dynamic_broker_configs(&image.dynamic_configs, scope);
                    match scope {
                        DynamicScope::Broker(_) => {
                            let mut configs = config_description::broker_configs(&broker.config);
                            configs.extend(dynamic);
                            configs
                        }
                        DynamicScope::ClusterDefault => dynamic,
                    }
                }
                Err((error, message)) => {
                    return result
                        .with_error_code(error.code())
                        .with_error_message(Some(StrBytes::from_string(message)))
                }
            };
            // No keys, or an empty list (as Kafka reads it), asks for every config.
            let wanted = |config: &DescribedConfig| {
                resource.configuration_keys.as_ref().is_none_or(|keys| {
                    keys.is_empty() || keys.iter().any(|key| key.as_str() == config.name)
                })
            };
            let configs = described
                .into_iter()
                .filter(wanted)
                .map(|config| entry(config, version, request.include_synonyms))
                .collect();
            result.with_configs(configs)
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn entry(
    config: DescribedConfig,
    version: i16,
    include_synonyms: bool,
) -> DescribeConfigsResourceResult {
    // A secret is never sent, as Kafka answers: sensitive, no value.
    let sensitive = config.kind == ConfigType::Password;
    let shown = |value: Option<String>| value.filter(|_| !sensitive).map(StrBytes::from_string);
    let synonyms = if include_synonyms {
        config
            .synonyms
            .into_iter()
            .map(|synonym| {
                DescribeConfigsSynonym::default()
                    .with_name(StrBytes::from_string(synonym.name))
                    .with_value(shown(synonym.value))
                    .with_source(synonym.source.code())
            })
            .collect()
    } else {
        Vec::new()
    };
    let entry = DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(config.name))
        .with_value(shown(config.value))
        .with_read_only(config.read_only)
        .with_config_source(config.source.code())
        .with_is_sensitive(sensitive)
        .with_synonyms(synonyms);
    if version >= 3 {
        entry.with_config_type(config.kind.code())
    } else {
        entry
    }
}
