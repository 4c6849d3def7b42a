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

use super::errors::kafka_message;
use super::SupportedApi;
use crate::acl::Operation;
use crate::broker::{Access, Broker, ReassignmentError, ReassignmentTarget};

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::AlterPartitionReassignments,
    versions: VersionRange { min: 0, max: 1 },
};

/// Needs ALTER on the cluster (the request and each named partition
/// CLUSTER_AUTHORIZATION_FAILED otherwise).
pub async fn handle(
    broker: Arc<Broker>,
    access: Access,
    request: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    if !access.allows_cluster(Operation::Alter) {
        return refused(request, ResponseError::ClusterAuthorizationFailed);
    }
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
                        .with_error_message(message_for(refused)),
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

/// Kafka's answer to a request refused as a whole: `error` for it and each named partition.
fn refused(
    request: AlterPartitionReassignmentsRequest,
    error: ResponseError,
) -> AlterPartitionReassignmentsResponse {
    let message = Some(kafka_message(error));
    let responses = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|partition| {
                    ReassignablePartitionResponse::default()
                        .with_partition_index(partition.partition_index)
                        .with_error_code(error.code())
                        .with_error_message(message.clone())
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    AlterPartitionReassignmentsResponse::default()
        .with_error_code(error.code())
        .with_error_message(message)
        .with_responses(responses)
}

/// The message a partition's refusal is told with: none for the cancellation of a
/// reassignment not in progress, which Kafka tells by its code alone.
fn message_for(refused: &ReassignmentError) -> Option<StrBytes> {
    match refused {
        ReassignmentError::NoneInProgress => None,
        refused => Some(StrBytes::from_string(refused.to_string())),
    }
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
