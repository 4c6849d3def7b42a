//! TxnOffsetCommit (key 28): offsets committed as part of a transaction, visible to
//! OffsetFetch only once the transaction commits.

use std::sync::Arc;

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, ResponseKind, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::{group_coordinator_error, Pending, SupportedApi};
use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker};
use crate::group::coordinator::Committer;
use crate::group::coordinator_write_error;
use crate::group::offsets::CommittedOffset;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::TxnOffsetCommit,
    versions: VersionRange { min: 0, max: 5 },
};

/// From v3 the group generation and member are checked too (KIP-447).
const MEMBER_CHECK_VERSION: i16 = 3;

/// Needs WRITE on the transactional id, READ on the group, then READ on each topic (checked
/// before the topic's existence and the group's state), as Kafka does.
pub fn handle(
    broker: &Arc<Broker>,
    access: Access,
    version: i16,
    request: TxnOffsetCommitRequest,
) -> Pending {
    let refused = if !access.allows(
        Operation::Write,
        Resource::transactional_id(&request.transactional_id),
    ) {
        Some(ResponseError::TransactionalIdAuthorizationFailed)
    } else if !access.allows(Operation::Read, Resource::group(&request.group_id)) {
        Some(ResponseError::GroupAuthorizationFailed)
    } else {
        None
    };
    let broker = Arc::clone(broker);
    Box::pin(async move {
        let group_id = request.group_id.to_string();
        let partition = broker.txns.offsets_partition(&group_id, &broker.groups);
        let producer_id = request.producer_id.0;
        let epoch = request.producer_epoch;
        // The group's offsets partition must be part of this producer's open transaction.
        let mut error = group_coordinator_error(&broker, &group_id).or_else(|| {
            broker
                .txns
                .check_write(producer_id, epoch, &partition.0, partition.1)
                .err()
        });
        if error.is_none() && version >= MEMBER_CHECK_VERSION && request.generation_id >= 0 {
            let committer = Committer {
                generation_id: request.generation_id,
                member_id: request.member_id.to_string(),
                group_instance_id: request.group_instance_id.as_ref().map(|id| id.to_string()),
            };
            error = broker.groups.check_commit(&group_id, &committer).err();
        }
        let image = broker.metadata.image();
        let now = broker.clock.now_ms();
        let max_metadata = broker.groups.config().offset_metadata_max_bytes;
        let mut entries = Vec::new();
        let mut outcome = Vec::new();
        for topic in &request.topics {
            let partitions = image.topic(&topic.name).map_or(0, |meta| meta.partitions);
            let readable = access.allows(Operation::Read, Resource::topic(&topic.name));
            let mut results = Vec::new();
            for partition in &topic.partitions {
                let metadata = partition
                    .committed_metadata
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default();
                let refused = refused.or_else(|| {
                    if !readable {
                        Some(ResponseError::TopicAuthorizationFailed)
                    } else if !(0..partitions).contains(&partition.partition_index) {
                        Some(ResponseError::UnknownTopicOrPartition)
                    } else if error.is_some() {
                        error
                    } else if metadata.len() > max_metadata {
                        Some(ResponseError::OffsetMetadataTooLarge)
                    } else {
                        None
                    }
                });
                if refused.is_none() {
                    let committed = CommittedOffset {
                        offset: partition.committed_offset,
                        leader_epoch: partition.committed_leader_epoch,
                        metadata,
                        commit_timestamp_ms: now,
                    };
                    entries.push((
                        (topic.name.to_string(), partition.partition_index),
                        Some(committed),
                    ));
                }
                results.push((partition.partition_index, refused));
            }
            outcome.push((topic.name.clone(), results));
        }
        let written = broker
            .groups
            .commit_transactional(&group_id, producer_id, epoch, entries)
            .await;
        let write_error = written.err().map(|error| {
            tracing::warn!(group = %group_id, %error, "transactional offset commit failed");
            coordinator_write_error(&error)
        });
        let topics = outcome
            .into_iter()
            .map(|(name, results)| {
                let partitions = results
                    .into_iter()
                    .map(|(index, refused)| {
                        TxnOffsetCommitResponsePartition::default()
                            .with_partition_index(index)
                            .with_error_code(refused.or(write_error).map_or(0, |e| e.code()))
                    })
                    .collect();
                TxnOffsetCommitResponseTopic::default()
                    .with_name(name)
                    .with_partitions(partitions)
            })
            .collect();
        Some(ResponseKind::TxnOffsetCommit(
            TxnOffsetCommitResponse::default().with_topics(topics),
        ))
    })
}
