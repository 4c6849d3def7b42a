//! ElectLeaders (key 43): on one node every partition already has its preferred (and only)
//! replica as leader, so each named partition answers ELECTION_NOT_NEEDED, as Kafka does for
//! a partition led by its preferred replica; asked for all partitions, the answer lists none.

use std::sync::Arc;

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ApiKey, ElectLeadersRequest, ElectLeadersResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::SupportedApi;
use crate::broker::Broker;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::ElectLeaders,
    versions: VersionRange { min: 0, max: 2 },
};

/// Kafka's `ElectionType` codes.
const PREFERRED: i8 = 0;
const UNCLEAN: i8 = 1;

pub fn handle(
    broker: &Arc<Broker>,
    version: i16,
    request: &ElectLeadersRequest,
) -> ElectLeadersResponse {
    if version >= 1 && !matches!(request.election_type, PREFERRED | UNCLEAN) {
        return ElectLeadersResponse::default()
            .with_error_code(ResponseError::InvalidRequest.code());
    }
    let image = broker.metadata.image();
    let results = match &request.topic_partitions {
        // Every partition has its leader: nothing to list.
        None => image
            .topics()
            .map(|topic| {
                ReplicaElectionResult::default()
                    .with_topic(StrBytes::from_string(topic.name.clone()).into())
            })
            .collect(),
        Some(topics) => topics
            .iter()
            .map(|asked| {
                let topic = image.topic(&asked.topic);
                let partitions = asked
                    .partitions
                    .iter()
                    .map(|&partition| {
                        let (error, message) = match topic {
                            None => (
                                ResponseError::UnknownTopicOrPartition,
                                format!("No such topic as {}", asked.topic.as_str()),
                            ),
                            Some(topic) if !(0..topic.partitions).contains(&partition) => (
                                ResponseError::UnknownTopicOrPartition,
                                format!(
                                    "No such partition as {}-{partition}",
                                    asked.topic.as_str()
                                ),
                            ),
                            Some(_) => (
                                ResponseError::ElectionNotNeeded,
                                "Leader election not needed for topic partition.".to_owned(),
                            ),
                        };
                        PartitionResult::default()
                            .with_partition_id(partition)
                            .with_error_code(error.code())
                            .with_error_message(Some(StrBytes::from_string(message)))
                    })
                    .collect();
                ReplicaElectionResult::default()
                    .with_topic(asked.topic.clone())
                    .with_partition_result(partitions)
            })
            .collect(),
    };
    ElectLeadersResponse::default().with_replica_election_results(results)
}
