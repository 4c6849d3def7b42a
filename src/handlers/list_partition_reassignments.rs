//! ListPartitionReassignments (key 46, KIP-455): a single node never moves replicas, so no
//! reassignment is ever in progress.

use kafka_protocol::messages::{
    ApiKey, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};
use kafka_protocol::protocol::VersionRange;

use super::SupportedApi;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::ListPartitionReassignments,
    versions: VersionRange { min: 0, max: 0 },
};

/// Whatever topics are asked about (Kafka skips unknown ones too), none is reassigning.
pub fn handle(_request: &ListPartitionReassignmentsRequest) -> ListPartitionReassignmentsResponse {
    ListPartitionReassignmentsResponse::default()
}
