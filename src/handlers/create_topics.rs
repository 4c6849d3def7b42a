//! CreateTopics (key 19): validate each topic (name, partitions, replication factor, replica
//! assignment, configs), then create it unless `validate_only`.

use std::collections::HashMap;
use std::sync::Arc;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{ApiKey, CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::errors;
use super::SupportedApi;
use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker, MutationQuota, NewTopic, TopicError, TopicPlan};
use crate::metadata::config_description;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::CreateTopics,
    versions: VersionRange { min: 2, max: 7 },
};

/// From v6 a topic over the controller mutation quota is refused (KIP-599).
pub const STRICT_QUOTA_VERSION: i16 = 6;

/// Each topic needs CREATE on the cluster or on itself (TOPIC_AUTHORIZATION_FAILED); its
/// configs are told only with DESCRIBE_CONFIGS on it (Kafka's controller rules). A valid
/// topic's partitions count against the controller mutation quota, validated or created.
pub async fn handle(
    broker: Arc<Broker>,
    access: Access,
    mut quota: MutationQuota,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let creates_any = access.allows_cluster(Operation::Create);
    let mut name_counts: HashMap<StrBytes, usize> = HashMap::new();
    for topic in &request.topics {
        *name_counts.entry(topic.name.0.clone()).or_default() += 1;
    }
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let repeated = name_counts.get(&topic.name.0).copied().unwrap_or(0) > 1;
        let resource = Resource::topic(&topic.name);
        let access = TopicAccess {
            create: creates_any || access.allows(Operation::Create, resource),
            describe_configs: access.allows(Operation::DescribeConfigs, resource),
        };
        let validate_only = request.validate_only;
        let created = create_one(&broker, &mut quota, topic, repeated, access, validate_only);
        results.push(created.await);
    }
    CreateTopicsResponse::default()
        .with_topics(results)
        .with_throttle_time_ms(super::mutation_throttle_time_ms(&quota))
}

/// What the principal may do with one requested topic.
#[derive(Clone, Copy)]
struct TopicAccess {
    create: bool,
    describe_configs: bool,
}

/// One topic's creation (or validation), unless its name appears more than once.
async fn create_one(
    broker: &Broker,
    quota: &mut MutationQuota,
    topic: CreatableTopic,
    repeated: bool,
    access: TopicAccess,
    validate_only: bool,
) -> CreatableTopicResult {
    let result = CreatableTopicResult::default()
        .with_name(topic.name.clone())
        .with_error_message(None)
        .with_num_partitions(-1)
        .with_replication_factor(-1);
    if repeated {
        let error = TopicError::InvalidRequest(format!(
            "Duplicate topic name {} in the request.",
            topic.name.as_str()
        ));
        return failed(result, &error);
    }
    if !access.create {
        return result
            .with_error_code(ResponseError::TopicAuthorizationFailed.code())
            .with_error_message(Some(StrBytes::from_static_str("Authorization failed.")));
    }
    let new_topic = NewTopic {
        name: topic.name.to_string(),
        num_partitions: topic.num_partitions,
        replication_factor: topic.replication_factor,
        assignments: topic
            .assignments
            .iter()
            .map(|assignment| assignment.broker_ids.iter().map(|id| id.0).collect())
            .collect(),
        configs: topic
            .configs
            .iter()
            .map(|config| {
                (
                    config.name.to_string(),
                    config.value.as_ref().map(|v| v.to_string()),
                )
            })
            .collect(),
    };
    let plan = broker.plan_topic(&new_topic).and_then(|plan| {
        quota.record(plan.num_partitions)?;
        Ok(plan)
    });
    let outcome = match plan {
        Ok(plan) if validate_only => Ok((plan, None)),
        Ok(plan) => broker
            .create_topic(plan.clone())
            .await
            .map(|created| (plan, Some(created.id))),
        Err(error) => Err(error),
    };
    match outcome {
        Ok((plan, topic_id)) if access.describe_configs => {
            describe(broker, result, &plan, topic_id)
        }
        Ok((_, topic_id)) => result
            .with_topic_id(topic_id.unwrap_or_default())
            .with_topic_config_error_code(ResponseError::TopicAuthorizationFailed.code()),
        Err(error) => {
            if let TopicError::Storage(_) = error {
                tracing::error!(topic = %new_topic.name, %error, "create topic failed");
            }
            failed(result, &error)
        }
    }
}

fn failed(result: CreatableTopicResult, error: &TopicError) -> CreatableTopicResult {
    result
        .with_error_code(errors::for_topic_error(error).code())
        .with_error_message(errors::topic_error_message(error))
}

/// Fills the v5+ details: partitions, replication factor and every effective config.
fn describe(
    broker: &Broker,
    result: CreatableTopicResult,
    plan: &TopicPlan,
    topic_id: Option<uuid::Uuid>,
) -> CreatableTopicResult {
    let configs = config_description::topic_configs(&plan.configs, &broker.config)
        .into_iter()
        .map(|config| {
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_string(config.name))
                .with_value(config.value.map(StrBytes::from_string))
                .with_read_only(config.read_only)
                .with_is_sensitive(false)
                .with_config_source(config.source.code())
        })
        .collect();
    result
        .with_topic_id(topic_id.unwrap_or_default())
        .with_num_partitions(plan.num_partitions)
        .with_replication_factor(plan.replication_factor)
        .with_configs(Some(configs))
}
