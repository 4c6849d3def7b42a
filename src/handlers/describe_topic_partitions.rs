//! DescribeTopicPartitions (key 75, KIP-966): topics and their partitions in name order, at
//! most `response_partition_limit` partitions per response, continued from a cursor; what
//! newer `kafka-topics.sh --describe` uses instead of Metadata.

use std::sync::Arc;

use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::metadata::broker_ids;
use super::SupportedApi;
use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker};
use crate::metadata::{topic_name, TopicMetadata};

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::DescribeTopicPartitions,
    versions: VersionRange { min: 0, max: 0 },
};

/// Kafka's `max.request.partition.size.limit` default: the most partitions one response
/// carries, whatever the client asks.
const PARTITIONS_PER_RESPONSE_MAX: i32 = 2000;

/// Topics the principal may not DESCRIBE are left out, and when named, answered
/// TOPIC_AUTHORIZATION_FAILED after the others (with no id), as Kafka does.
pub fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    request: &DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let image = broker.metadata.image();
    let cursor_topic = request
        .cursor
        .as_ref()
        .map_or("", |cursor| cursor.topic_name.as_str());
    let all_topics = request.topics.is_empty();
    let mut names: Vec<String> = if all_topics {
        image.topics().map(|topic| topic.name.clone()).collect()
    } else {
        request
            .topics
            .iter()
            .map(|topic| topic.name.to_string())
            .collect()
    };
    names.retain(|name| name.as_str() >= cursor_topic);
    names.sort();
    names.dedup();
    if let Some(cursor) = &request.cursor {
        if !all_topics && !names.iter().any(|name| name == cursor.topic_name.as_str()) {
            return refused(
                request,
                format!(
                    "DescribeTopicPartitionsRequest topic list should contain the cursor topic: {}",
                    cursor.topic_name.as_str()
                ),
            );
        }
        if cursor.partition_index < 0 {
            return refused(
                request,
                format!(
                    "DescribeTopicPartitionsRequest cursor partition must be valid: {}",
                    cursor.partition_index
                ),
            );
        }
    }
    let (names, hidden): (Vec<String>, Vec<String>) = names
        .into_iter()
        .partition(|name| access.allows(Operation::Describe, Resource::topic(name)));
    let mut remaining = request
        .response_partition_limit
        .clamp(1, PARTITIONS_PER_RESPONSE_MAX);
    let mut response = DescribeTopicPartitionsResponse::default();
    for name in names {
        if remaining == 0 {
            response.next_cursor = Some(cursor(&name, 0));
            break;
        }
        let Some(topic) = image.topic(&name) else {
            if !all_topics {
                let error = if topic_name::validate(&name).is_ok() {
                    ResponseError::UnknownTopicOrPartition
                } else {
                    ResponseError::InvalidTopicException
                };
                response.topics.push(
                    DescribeTopicPartitionsResponseTopic::default()
                        .with_error_code(error.code())
                        .with_name(Some(TopicName(StrBytes::from_string(name.clone()))))
                        .with_is_internal(Broker::is_internal_topic(&name))
                        .with_topic_authorized_operations(
                            access.operations(Resource::topic(&name)),
                        ),
                );
            }
            continue;
        };
        let start = match &request.cursor {
            Some(cursor) if cursor.topic_name.as_str() == name => cursor.partition_index,
            _ => 0,
        };
        let end = topic.partitions.min(start.saturating_add(remaining));
        response
            .topics
            .push(describe(broker, access, topic, start.min(end)..end));
        if end < topic.partitions {
            response.next_cursor = Some(cursor(&name, end));
            break;
        }
        remaining -= end - start.min(end);
    }
    if !all_topics {
        response.topics.extend(hidden.into_iter().map(|name| {
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(name))))
                .with_error_code(ResponseError::TopicAuthorizationFailed.code())
        }));
    }
    response
}

fn cursor(topic: &str, partition: i32) -> Cursor {
    Cursor::default()
        .with_topic_name(TopicName(StrBytes::from_string(topic.to_owned())))
        .with_partition_index(partition)
}

/// An invalid request: as in Kafka, every asked topic carries INVALID_REQUEST.
fn refused(
    request: &DescribeTopicPartitionsRequest,
    message: String,
) -> DescribeTopicPartitionsResponse {
    tracing::debug!(%message, "DescribeTopicPartitions refused");
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(topic.name.clone()))
                .with_error_code(ResponseError::InvalidRequest.code())
        })
        .collect();
    DescribeTopicPartitionsResponse::default().with_topics(topics)
}

fn describe(
    broker: &Broker,
    access: &Access,
    topic: &TopicMetadata,
    partitions: std::ops::Range<i32>,
) -> DescribeTopicPartitionsResponseTopic {
    let partitions = partitions
        .map(|index| {
            let view = broker.partition_view(&topic.name, index);
            DescribeTopicPartitionsResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(BrokerId(view.leader))
                .with_leader_epoch(view.leader_epoch)
                .with_replica_nodes(broker_ids(&view.replicas))
                .with_isr_nodes(broker_ids(&view.isr))
                .with_offline_replicas(broker_ids(&view.offline_replicas))
                .with_eligible_leader_replicas(Some(Vec::new()))
                .with_last_known_elr(Some(Vec::new()))
        })
        .collect();
    DescribeTopicPartitionsResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_is_internal(Broker::is_internal_topic(&topic.name))
        .with_partitions(partitions)
        .with_topic_authorized_operations(access.operations(Resource::topic(&topic.name)))
}
