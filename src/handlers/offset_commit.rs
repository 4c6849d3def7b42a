//! OffsetCommit (key 8): checks the committer against the group (or accepts a group-less
//! commit with generation -1), then answers once the offsets are durable.

use std::sync::Arc;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetCommitRequest, OffsetCommitResponse, ResponseKind};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::{group_coordinator_error, Pending, SupportedApi};
use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker};
use crate::group::coordinator::Committer;
use crate::group::coordinator_write_error;
use crate::group::offsets::CommittedOffset;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::OffsetCommit,
    versions: VersionRange { min: 2, max: 9 },
};

/// The group needs READ (every partition GROUP_AUTHORIZATION_FAILED otherwise), each topic
/// READ (TOPIC_AUTHORIZATION_FAILED), checked before the topic's existence and the group.
pub fn handle(broker: &Arc<Broker>, access: &Access, request: OffsetCommitRequest) -> Pending {
    let group_id = request.group_id.to_string();
    let committer = Committer {
        generation_id: request.generation_id_or_member_epoch,
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|id| id.to_string()),
    };
    let group_readable = access.allows(Operation::Read, Resource::group(&group_id));
    let group_error = group_coordinator_error(broker, &group_id)
        .or_else(|| broker.groups.check_commit(&group_id, &committer).err());
    let now = broker.clock.now_ms();
    let image = broker.metadata.image();
    let metadata_max = broker.groups.config().offset_metadata_max_bytes;
    let mut entries = Vec::new();
    // (topic, [(partition, error decided now, or None if it is part of the commit)])
    let mut outcome = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let known_partitions = image.topic(&topic.name).map_or(0, |meta| meta.partitions);
        let topic_readable = access.allows(Operation::Read, Resource::topic(&topic.name));
        let partitions: Vec<(i32, Option<ResponseError>)> = topic
            .partitions
            .into_iter()
            .map(|partition| {
                let metadata = partition
                    .committed_metadata
                    .map(|m| m.to_string())
                    .unwrap_or_default();
                let error = if !group_readable {
                    Some(ResponseError::GroupAuthorizationFailed)
                } else if !topic_readable {
                    Some(ResponseError::TopicAuthorizationFailed)
                } else if !(0..known_partitions).contains(&partition.partition_index) {
                    Some(ResponseError::UnknownTopicOrPartition)
                } else if let Some(error) = group_error {
                    Some(error)
                } else if metadata.len() > metadata_max {
                    Some(ResponseError::OffsetMetadataTooLarge)
                } else {
                    entries.push((
                        (topic.name.to_string(), partition.partition_index),
                        Some(CommittedOffset {
                            offset: partition.committed_offset,
                            leader_epoch: partition.committed_leader_epoch,
                            metadata,
                            commit_timestamp_ms: now,
                        }),
                    ));
                    None
                };
                (partition.partition_index, error)
            })
            .collect();
        outcome.push((topic.name, partitions));
    }
    let appended = broker.groups.append_commit(&group_id, entries);
    let broker = Arc::clone(broker);
    Box::pin(async move {
        let stored = match appended {
            Ok(Some(commit)) => broker.groups.complete_commit(commit).await,
            Ok(None) => Ok(()),
            Err(error) => Err(error),
        };
        let write_error = match stored {
            Ok(()) => None,
            Err(error) => {
                tracing::warn!(group = %group_id, %error, "offset commit failed");
                Some(coordinator_write_error(&error))
            }
        };
        let topics = outcome
            .into_iter()
            .map(|(name, partitions)| {
                let partitions = partitions
                    .into_iter()
                    .map(|(index, error)| {
                        let error = error.or(write_error);
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(index)
                            .with_error_code(error.map_or(0, |e| e.code()))
                    })
                    .collect();
                OffsetCommitResponseTopic::default()
                    .with_name(name)
                    .with_partitions(partitions)
            })
            .collect();
        Some(ResponseKind::OffsetCommit(
            OffsetCommitResponse::default().with_topics(topics),
        ))
    })
}
