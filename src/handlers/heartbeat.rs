//! Heartbeat (key 12): keeps a member's session alive and tells it about rebalances.

use std::sync::Arc;

use kafka_protocol::messages::{ApiKey, HeartbeatRequest, HeartbeatResponse};
use kafka_protocol::protocol::VersionRange;

use super::{group_error, SupportedApi};
use crate::acl::Operation;
use crate::broker::{Access, Broker};

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::Heartbeat,
    versions: VersionRange { min: 0, max: 4 },
};

pub fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    request: HeartbeatRequest,
) -> HeartbeatResponse {
    if let Some(error) = group_error(broker, access, Operation::Read, &request.group_id) {
        return HeartbeatResponse::default().with_error_code(error.code());
    }
    let result = broker.groups.heartbeat(
        &request.group_id,
        &request.member_id,
        request.generation_id,
        request.group_instance_id.as_deref(),
    );
    HeartbeatResponse::default().with_error_code(result.err().map_or(0, |error| error.code()))
}
