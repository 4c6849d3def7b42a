//! ElectLeaders (key 43, KIP-460): preferred or unclean leader elections for the named
//! partitions (or all of them). On one node every partition is led by its only replica:
//! ELECTION_NOT_NEEDED. In a cluster each election is a compare-and-swap in the store
//! (`cluster::elections`), answered with Kafka's errors: PREFERRED_LEADER_NOT_AVAILABLE,
//! ELIGIBLE_LEADERS_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION.

use std::sync::Arc;

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ApiKey, ElectLeadersRequest, ElectLeadersResponse, TopicName};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::errors::kafka_message;
use super::SupportedApi;
use crate::acl::Operation;
use crate::broker::{Access, Broker};
use crate::broker::{ElectionKind, ElectionRefused};

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::ElectLeaders,
    versions: VersionRange { min: 0, max: 2 },
};

/// Kafka's `ElectionType` codes (v0 has none: preferred).
const PREFERRED: i8 = 0;
const UNCLEAN: i8 = 1;

/// Needs ALTER on the cluster (every named partition CLUSTER_AUTHORIZATION_FAILED otherwise).
pub async fn handle(
    broker: Arc<Broker>,
    access: Access,
    version: i16,
    request: ElectLeadersRequest,
) -> ElectLeadersResponse {
    if !access.allows_cluster(Operation::Alter) {
        return refused(request, ResponseError::ClusterAuthorizationFailed);
    }
    let kind = match request.election_type {
        _ if version == 0 => ElectionKind::Preferred,
        PREFERRED => ElectionKind::Preferred,
        UNCLEAN => ElectionKind::Unclean,
        _ => {
            return ElectLeadersResponse::default()
                .with_error_code(ResponseError::InvalidRequest.code())
        }
    };
    // All partitions: only those an election was attempted for and needed are listed.
    let (asked, list_not_needed) = match request.topic_partitions {
        Some(topics) => (
            topics
                .into_iter()
                .map(|topic| (topic.topic, topic.partitions))
                .collect(),
            true,
        ),
        None => (
            broker
                .metadata
                .image()
                .topics()
                .map(|topic| {
                    let name = TopicName(StrBytes::from_string(topic.name.clone()));
                    (name, (0..topic.partitions).collect())
                })
                .collect::<Vec<_>>(),
            false,
        ),
    };
    let mut results = Vec::with_capacity(asked.len());
    for (topic, partitions) in asked {
        let mut partition_results = Vec::with_capacity(partitions.len());
        for partition in partitions {
            let outcome = broker.elect_leader(&topic, partition, kind).await;
            if outcome == Err(ElectionRefused::NotNeeded) && !list_not_needed {
                continue;
            }
            let result = PartitionResult::default().with_partition_id(partition);
            partition_results.push(match outcome {
                Ok(()) => result,
                Err(refused) => result
                    .with_error_code(error_for(&refused).code())
                    .with_error_message(Some(StrBytes::from_string(message(
                        &refused, &topic, partition,
                    )))),
            });
        }
        results.push(
            ReplicaElectionResult::default()
                .with_topic(topic)
                .with_partition_result(partition_results),
        );
    }
    ElectLeadersResponse::default().with_replica_election_results(results)
}

/// Kafka's answer to a request refused as a whole: `error` for it and each named partition.
fn refused(request: ElectLeadersRequest, error: ResponseError) -> ElectLeadersResponse {
    let message = Some(kafka_message(error));
    let results = request
        .topic_partitions
        .unwrap_or_default()
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .into_iter()
                .map(|partition| {
                    PartitionResult::default()
                        .with_partition_id(partition)
                        .with_error_code(error.code())
                        .with_error_message(message.clone())
                })
                .collect();
            ReplicaElectionResult::default()
                .with_topic(topic.topic)
                .with_partition_result(partitions)
        })
        .collect();
    ElectLeadersResponse::default()
        .with_error_code(error.code())
        .with_replica_election_results(results)
}

fn error_for(refused: &ElectionRefused) -> ResponseError {
    match refused {
        ElectionRefused::UnknownPartition => ResponseError::UnknownTopicOrPartition,
        ElectionRefused::NotNeeded => ResponseError::ElectionNotNeeded,
        ElectionRefused::PreferredNotAvailable => ResponseError::PreferredLeaderNotAvailable,
        ElectionRefused::EligibleNotAvailable => ResponseError::EligibleLeadersNotAvailable,
        ElectionRefused::Contended | ElectionRefused::Store(_) => ResponseError::RequestTimedOut,
    }
}

/// Kafka's messages for the answers its tools print.
fn message(refused: &ElectionRefused, topic: &str, partition: i32) -> String {
    match refused {
        ElectionRefused::UnknownPartition => format!("No such partition as {topic}-{partition}"),
        ElectionRefused::NotNeeded => "Leader election not needed for topic partition.".to_owned(),
        other => format!("{other} ({topic}-{partition})"),
    }
}
