//! OffsetForLeaderEpoch (key 23, KIP-101/320): the end offset of a leader epoch, with which
//! consumers detect log truncation, from the partition's leader-epoch cache.

use std::sync::Arc;

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{ApiKey, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::{check_leader_epoch, errors, SupportedApi};
use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker};
use crate::log::leader_epochs::{UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET};

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::OffsetForLeaderEpoch,
    versions: VersionRange { min: 2, max: 4 },
};

/// Brokers (CLUSTER_ACTION) may ask for any topic; consumers need DESCRIBE on each
/// (TOPIC_AUTHORIZATION_FAILED otherwise, KIP-320).
pub fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    request: &OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let replicates = access.allows_cluster(Operation::ClusterAction);
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let described =
                replicates || access.allows(Operation::Describe, Resource::topic(&topic.topic));
            let partitions = topic
                .partitions
                .iter()
                .map(|asked| {
                    let answer = EpochEndOffset::default()
                        .with_partition(asked.partition)
                        .with_leader_epoch(UNDEFINED_EPOCH)
                        .with_end_offset(UNDEFINED_EPOCH_OFFSET);
                    if !described {
                        return answer
                            .with_error_code(ResponseError::TopicAuthorizationFailed.code());
                    }
                    let log = match broker.leader_log(&topic.topic, asked.partition) {
                        Ok(log) => log,
                        Err(not_served) => {
                            return answer
                                .with_error_code(errors::for_not_served(not_served).code())
                        }
                    };
                    let epoch = log.leader_epoch();
                    if let Some(error) = check_leader_epoch(asked.current_leader_epoch, epoch) {
                        return answer.with_error_code(error.code());
                    }
                    let (leader_epoch, end_offset) = log.end_offset_for_epoch(asked.leader_epoch);
                    answer
                        .with_leader_epoch(leader_epoch)
                        .with_end_offset(end_offset)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
