//! DescribeProducers (key 61): the idempotent producers a partition remembers.

use std::sync::Arc;

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{
    ApiKey, DescribeProducersRequest, DescribeProducersResponse, ProducerId,
};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::SupportedApi;
use crate::broker::Broker;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::DescribeProducers,
    versions: VersionRange { min: 0, max: 0 },
};

pub fn handle(
    broker: &Arc<Broker>,
    request: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partition_indexes
                .iter()
                .map(|&index| {
                    let response = PartitionResponse::default().with_partition_index(index);
                    let Some(log) = broker.partition(&topic.name, index) else {
                        return response
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    let producers = log
                        .producers()
                        .into_iter()
                        .map(|(id, epoch, last_sequence, last_timestamp)| {
                            ProducerState::default()
                                .with_producer_id(ProducerId(id))
                                .with_producer_epoch(i32::from(epoch))
                                .with_last_sequence(last_sequence)
                                .with_last_timestamp(last_timestamp)
                                .with_coordinator_epoch(-1)
                                .with_current_txn_start_offset(-1)
                        })
                        .collect();
                    response.with_active_producers(producers)
                })
                .collect();
            TopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}
