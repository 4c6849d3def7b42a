//! OffsetDelete (key 47): removes committed offsets of topics the group no longer consumes.

use std::sync::Arc;

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, OffsetDeleteRequest, OffsetDeleteResponse, ResponseKind, TopicName,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::{group_error, Pending, SupportedApi};
use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker};
use crate::group::coordinator_write_error;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::OffsetDelete,
    versions: VersionRange { min: 0, max: 0 },
};

/// The group needs DELETE (GROUP_AUTHORIZATION_FAILED otherwise), each topic READ
/// (TOPIC_AUTHORIZATION_FAILED, before its existence is checked).
pub fn handle(broker: &Arc<Broker>, access: &Access, request: OffsetDeleteRequest) -> Pending {
    if let Some(error) = group_error(broker, access, Operation::Delete, &request.group_id) {
        let response = OffsetDeleteResponse::default().with_error_code(error.code());
        return Box::pin(std::future::ready(Some(ResponseKind::OffsetDelete(
            response,
        ))));
    }
    let image = broker.metadata.image();
    let mut refused = Vec::new();
    let mut slots = Vec::new();
    for topic in &request.topics {
        let partitions = image.topic(&topic.name).map_or(0, |meta| meta.partitions);
        let readable = access.allows(Operation::Read, Resource::topic(&topic.name));
        for partition in &topic.partitions {
            let slot = (topic.name.to_string(), partition.partition_index);
            if !readable {
                refused.push((slot, ResponseError::TopicAuthorizationFailed));
            } else if (0..partitions).contains(&partition.partition_index) {
                slots.push(slot);
            } else {
                refused.push((slot, ResponseError::UnknownTopicOrPartition));
            }
        }
    }
    let deleted = broker.groups.delete_offsets(&request.group_id, slots);
    let broker = Arc::clone(broker);
    Box::pin(async move {
        let response = match deleted {
            Err(error) => OffsetDeleteResponse::default().with_error_code(error.code()),
            Ok((results, appended)) => {
                let write_error =
                    match appended {
                        Some(tombstones) => broker
                            .groups
                            .complete_commit(tombstones)
                            .await
                            .err()
                            .map(|error| {
                                tracing::warn!(%error, "offset deletion not stored");
                                coordinator_write_error(&error)
                            }),
                        None => None,
                    };
                let errors = results
                    .into_iter()
                    .map(|(slot, error)| (slot, error.or(write_error)))
                    .chain(refused.into_iter().map(|(slot, error)| (slot, Some(error))));
                let mut topics: Vec<OffsetDeleteResponseTopic> = Vec::new();
                for ((topic, index), error) in errors {
                    let partition = OffsetDeleteResponsePartition::default()
                        .with_partition_index(index)
                        .with_error_code(error.map_or(0, |e| e.code()));
                    match topics.iter_mut().find(|entry| entry.name.as_str() == topic) {
                        Some(entry) => entry.partitions.push(partition),
                        None => topics.push(
                            OffsetDeleteResponseTopic::default()
                                .with_name(TopicName(StrBytes::from_string(topic)))
                                .with_partitions(vec![partition]),
                        ),
                    }
                }
                OffsetDeleteResponse::default().with_topics(topics)
            }
        };
        Some(ResponseKind::OffsetDelete(response))
    })
}
