//! DescribeProducers (key 61): the idempotent producers a partition remembers, with the start
//! of each one's open transaction (what `kafka-transactions find-hanging` looks for).

use std::sync::Arc;

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{
    ApiKey, DescribeProducersRequest, DescribeProducersResponse, ProducerId,
};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::errors;
use super::SupportedApi;
use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker};

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::DescribeProducers,
    versions: VersionRange { min: 0, max: 0 },
};

/// Each topic needs READ (TOPIC_AUTHORIZATION_FAILED otherwise).
pub fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    request: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let readable = access.allows(Operation::Read, Resource::topic(&topic.name));
            let partitions = topic
                .partition_indexes
                .iter()
                .map(|&index| {
                    let response = PartitionResponse::default().with_partition_index(index);
                    if !readable {
                        let error = ResponseError::TopicAuthorizationFailed;
                        return response
                            .with_error_code(error.code())
                            .with_error_message(Some(errors::kafka_message(error)));
                    }
                    let log = match broker.leader_log(&topic.name, index) {
                        Ok(log) => log,
                        Err(not_served) => {
                            return response
                                .with_error_code(errors::for_not_served(not_served).code())
                        }
                    };
                    let producers = log
                        .producers()
                        .into_iter()
                        .map(|producer| {
                            ProducerState::default()
                                .with_producer_id(ProducerId(producer.producer_id))
                                .with_producer_epoch(i32::from(producer.epoch))
                                .with_last_sequence(producer.last_sequence)
                                .with_last_timestamp(producer.last_timestamp)
                                .with_coordinator_epoch(-1)
                                .with_current_txn_start_offset(
                                    producer.open_transaction_since.unwrap_or(-1),
                                )
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
