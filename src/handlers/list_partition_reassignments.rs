//! ListPartitionReassignments (key 46, KIP-455): the partitions whose replicas are moving,
//! with every replica, those being added and those being removed — of all topics, or of
//! the named partitions (unknown topics and partitions not moving are left out, as Kafka
//! does).

use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
    TopicName,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::errors::kafka_message;
use super::SupportedApi;
use crate::acl::Operation;
use crate::broker::{Access, Broker};

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::ListPartitionReassignments,
    versions: VersionRange { min: 0, max: 0 },
};

/// Needs DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED otherwise).
pub fn handle(
    broker: &Broker,
    access: &Access,
    request: &ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    if !access.allows_cluster(Operation::Describe) {
        let error = ResponseError::ClusterAuthorizationFailed;
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(error.code())
            .with_error_message(Some(kafka_message(error)));
    }
    let asked: Option<Vec<(String, Vec<i32>)>> = request.topics.as_ref().map(|topics| {
        topics
            .iter()
            .map(|topic| (topic.name.to_string(), topic.partition_indexes.clone()))
            .collect()
    });
    let brokers = |ids: &[i32]| ids.iter().copied().map(BrokerId).collect();
    let topics = broker
        .reassignments(asked.as_deref())
        .into_iter()
        .map(|(name, partitions)| {
            let partitions = partitions
                .iter()
                .map(|ongoing| {
                    OngoingPartitionReassignment::default()
                        .with_partition_index(ongoing.partition)
                        .with_replicas(brokers(&ongoing.replicas))
                        .with_adding_replicas(brokers(&ongoing.adding))
                        .with_removing_replicas(brokers(&ongoing.removing))
                })
                .collect();
            OngoingTopicReassignment::default()
                .with_name(TopicName(StrBytes::from_string(name)))
                .with_partitions(partitions)
        })
        .collect();
    ListPartitionReassignmentsResponse::default()
        .with_error_message(None)
        .with_topics(topics)
}
