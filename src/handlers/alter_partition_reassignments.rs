//! AlterPartitionReassignments (key 45, KIP-455; v1 KIP-860): moves partitions' replicas to
//! other brokers, or cancels a move in progress (`replicas` null). Each partition answers on
//! its own, with Kafka's errors: UNKNOWN_TOPIC_OR_PARTITION, INVALID_REPLICA_ASSIGNMENT,
//! INVALID_REPLICATION_FACTOR (a v1 request that keeps the factor), NO_REASSIGNMENT_IN_PROGRESS.

use std::sync::Arc;

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ApiKey,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::SupportedApi;
use crate::broker::{Broker, ReassignmentError, ReassignmentTarget};

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::AlterPartitionReassignments,
    versions: VersionRange { min: 0, max: 1 },
};

pub async fn handle(
    broker: Arc<Broker>,
    request: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let keep_factor = !request.allow_replication_factor_change;
    let mut responses = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let targets: Vec<(i32, ReassignmentTarget)> = topic
            .partitions
            .iter()
            .map(|partition| {
                let target = match &partition.replicas {
                    Some(replicas) => {
                        ReassignmentTarget::Replicas(replicas.iter().map(|id| id.0).collect())
                    }
                    None => ReassignmentTarget::Cancel,
                };
                (partition.partition_index, target)
            })
            .collect();
        let outcomes = broker
            .reassign_partitions(topic.name.as_str(), &targets, keep_factor)
            .await;
        let partitions = targets
            .iter()
            .map(|(partition, _)| {
                let answer =
                    ReassignablePartitionResponse::default().with_partition_index(*partition);
                match outcomes.get(partition) {
                    Some(Err(refused)) => answer
                        .with_error_code(error_for(refused).code())
                        .with_error_message(Some(StrBytes::from_string(refused.to_string()))),
                    _ => answer.with_error_message(None),
                }
            })
            .collect();
        responses.push(
            ReassignableTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(request.allow_replication_factor_change)
        .with_error_message(None)
        .with_responses(responses)
}

fn error_for(refused: &ReassignmentError) -> ResponseError {
    match refused {
        ReassignmentError::UnknownPartition(_) => ResponseError::UnknownTopicOrPartition,
        ReassignmentError::InvalidAssignment(_) => ResponseError::InvalidReplicaAssignment,
        ReassignmentError::ReplicationFactorChange { .. } => {
            ResponseError::InvalidReplicationFactor
        }
        ReassignmentError::NoneInProgress => ResponseError::NoReassignmentInProgress,
        ReassignmentError::Contended | ReassignmentError::Store(_) => {
            ResponseError::RequestTimedOut
        }
    }
}
