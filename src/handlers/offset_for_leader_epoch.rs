//! OffsetForLeaderEpoch (key 23, KIP-101/320): the end offset of a leader epoch, with which
//! consumers detect log truncation. A single node has had one epoch since the log began.

use std::sync::Arc;

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{ApiKey, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::{check_leader_epoch, SupportedApi};
use crate::broker::Broker;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::OffsetForLeaderEpoch,
    versions: VersionRange { min: 2, max: 4 },
};

/// Kafka's "no such epoch" answer.
const UNDEFINED_EPOCH: i32 = -1;
const UNDEFINED_EPOCH_OFFSET: i64 = -1;

pub fn handle(
    broker: &Arc<Broker>,
    request: &OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|asked| {
                    let answer = EpochEndOffset::default()
                        .with_partition(asked.partition)
                        .with_leader_epoch(UNDEFINED_EPOCH)
                        .with_end_offset(UNDEFINED_EPOCH_OFFSET);
                    let Some(log) = broker.partition(&topic.topic, asked.partition) else {
                        return answer
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    let epoch = log.leader_epoch();
                    if let Some(error) = check_leader_epoch(asked.current_leader_epoch, epoch) {
                        return answer.with_error_code(error.code());
                    }
                    let (leader_epoch, end_offset) =
                        end_offset_for(asked.leader_epoch, epoch, log.log_end_offset());
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

/// Kafka's epoch-cache lookup for a log with one epoch (`ours`, starting at offset 0): the
/// current epoch ends at the log end; a later or undefined epoch is unknown; an earlier one
/// ends where ours begins.
fn end_offset_for(requested: i32, ours: i32, log_end_offset: i64) -> (i32, i64) {
    match requested {
        UNDEFINED_EPOCH => (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET),
        epoch if epoch == ours => (ours, log_end_offset),
        epoch if epoch > ours => (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET),
        epoch => (epoch, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_epoch_ends_at_the_log_end() {
        assert_eq!(end_offset_for(0, 0, 42), (0, 42));
        assert_eq!(
            end_offset_for(3, 0, 42),
            (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
        );
        assert_eq!(
            end_offset_for(-1, 0, 42),
            (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
        );
        assert_eq!(end_offset_for(-5, 0, 42), (-5, 0));
    }
}
