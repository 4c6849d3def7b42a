//! CreatePartitions (key 37): grows a topic (partitions are only ever added), optionally
//! with explicit replica assignments, or just validates with `validate_only`.

use std::collections::HashMap;
use std::sync::Arc;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{ApiKey, CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::errors;
use super::SupportedApi;
use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker, MutationQuota, TopicError};

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::CreatePartitions,
    versions: VersionRange { min: 0, max: 3 },
};

/// From v3 a topic over the controller mutation quota is refused (KIP-599).
pub const STRICT_QUOTA_VERSION: i16 = 3;

/// Each topic needs ALTER on it (TOPIC_AUTHORIZATION_FAILED otherwise). The partitions added
/// count against the controller mutation quota, validated or added.
pub async fn handle(
    broker: Arc<Broker>,
    access: Access,
    mut quota: MutationQuota,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut name_counts: HashMap<&str, usize> = HashMap::new();
    for topic in &request.topics {
        *name_counts.entry(topic.name.as_str()).or_default() += 1;
    }
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let outcome = if name_counts.get(topic.name.as_str()).copied().unwrap_or(0) > 1 {
            Err(TopicError::InvalidRequest(format!(
                "Duplicate topic name {} in the request.",
                topic.name.as_str()
            )))
        } else if !access.allows(Operation::Alter, Resource::topic(&topic.name)) {
            results.push(
                CreatePartitionsTopicResult::default()
                    .with_name(topic.name.clone())
                    .with_error_code(ResponseError::TopicAuthorizationFailed.code()),
            );
            continue;
        } else {
            let assignments: Option<Vec<Vec<i32>>> = topic.assignments.as_ref().map(|all| {
                all.iter()
                    .map(|assignment| assignment.broker_ids.iter().map(|id| id.0).collect())
                    .collect()
            });
            broker
                .add_partitions(
                    &topic.name,
                    topic.count,
                    assignments.as_deref(),
                    request.validate_only,
                    &mut quota,
                )
                .await
        };
        let result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
        results.push(match outcome {
            Ok(()) => result,
            Err(error) => {
                if let TopicError::Storage(_) = error {
                    tracing::error!(topic = %topic.name.as_str(), %error, "adding partitions failed");
                }
                result
                    .with_error_code(errors::for_topic_error(&error).code())
                    .with_error_message(errors::topic_error_message(&error))
            }
        });
    }
    CreatePartitionsResponse::default()
        .with_results(results)
        .with_throttle_time_ms(super::mutation_throttle_time_ms(&quota))
}
