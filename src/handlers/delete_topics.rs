//! DeleteTopics (key 20): by name (v1–v5) or by name or id (v6); files are removed.

use std::sync::Arc;

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{ApiKey, DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::errors;
use super::SupportedApi;
use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker, MutationQuota, TopicError};

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::DeleteTopics,
    versions: VersionRange { min: 1, max: 6 },
};

/// DeleteTopics v6 names topics by name or id (KIP-516).
const TOPIC_STATES_VERSION: i16 = 6;

/// From v5 a topic over the controller mutation quota is refused (KIP-599).
pub const STRICT_QUOTA_VERSION: i16 = 5;

/// A topic needs DELETE on the cluster or on itself; one the principal may not even
/// DESCRIBE is refused before its existence is told, and, named by id, without its name.
/// Its partitions count against the controller mutation quota.
pub async fn handle(
    broker: Arc<Broker>,
    access: Access,
    mut quota: MutationQuota,
    version: i16,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let wanted: Vec<(Option<TopicName>, Uuid)> = if version >= TOPIC_STATES_VERSION {
        request
            .topics
            .into_iter()
            .map(|topic| (topic.name, topic.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .into_iter()
            .map(|name| (Some(name), Uuid::nil()))
            .collect()
    };
    let mut responses = Vec::with_capacity(wanted.len());
    for (name, topic_id) in wanted {
        responses.push(delete_one(&broker, &access, &mut quota, name, topic_id).await);
    }
    DeleteTopicsResponse::default()
        .with_responses(responses)
        .with_throttle_time_ms(super::mutation_throttle_time_ms(&quota))
}

async fn delete_one(
    broker: &Broker,
    access: &Access,
    quota: &mut MutationQuota,
    name: Option<TopicName>,
    topic_id: Uuid,
) -> DeletableTopicResult {
    let result = DeletableTopicResult::default()
        .with_name(name.clone())
        .with_topic_id(topic_id);
    let fail = |error: ResponseError, message: StrBytes| {
        result
            .clone()
            .with_error_code(error.code())
            .with_error_message(Some(message))
    };
    // Refused with Kafka's message for the error.
    let refuse = |error: ResponseError| fail(error, errors::kafka_message(error));
    let deletes_any = access.allows_cluster(Operation::Delete);
    let may = |operation: Operation, topic: &str| {
        deletes_any || access.allows(operation, Resource::topic(topic))
    };
    let refused = ResponseError::TopicAuthorizationFailed;
    if let Some(name) = name.as_ref().filter(|name| !may(Operation::Describe, name)) {
        return refuse(refused).with_name(Some(name.clone()));
    }
    let image = broker.metadata.image();
    let target = match (&name, topic_id.is_nil()) {
        (Some(_), false) => {
            return fail(
                ResponseError::InvalidRequest,
                StrBytes::from_static_str("Name and topic id may not both be set"),
            )
        }
        (Some(name), true) => image
            .topic(name)
            .cloned()
            .ok_or(ResponseError::UnknownTopicOrPartition),
        (None, false) => image
            .topic_by_id(topic_id)
            .cloned()
            .ok_or(ResponseError::UnknownTopicId),
        (None, true) => {
            return fail(
                ResponseError::InvalidRequest,
                StrBytes::from_static_str("Neither topic name nor id was set"),
            )
        }
    };
    let topic = match target {
        Ok(topic) => topic,
        Err(error) => return refuse(error),
    };
    if !may(Operation::Delete, &topic.name) {
        let told = may(Operation::Describe, &topic.name)
            .then(|| TopicName(StrBytes::from_string(topic.name.clone())));
        return refuse(refused).with_name(told);
    }
    let deleted = match quota.record(topic.partitions) {
        Ok(()) => broker.delete_topic(&topic.name).await,
        Err(refused) => Err(refused.into()),
    };
    match deleted {
        Ok(deleted) => result
            .with_name(Some(TopicName(StrBytes::from_string(deleted.name.clone()))))
            .with_topic_id(deleted.id),
        Err(error) => {
            if let TopicError::Storage(_) = error {
                tracing::error!(topic = %topic.name, %error, "delete topic failed");
            }
            result
                .with_error_code(errors::for_topic_error(&error).code())
                .with_error_message(errors::topic_error_message(&error))
        }
    }
}
