//! SyncGroup (key 14): followers wait for the leader's assignment; everyone gets their part.

use std::sync::Arc;

use kafka_protocol::messages::{ApiKey, ResponseKind, SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::{group_error, Pending, SupportedApi};
use crate::acl::Operation;
use crate::broker::{Access, Broker};
use crate::group::state::SyncRequest;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::SyncGroup,
    versions: VersionRange { min: 0, max: 5 },
};

/// From v5 the protocol type and name are checked and returned.
const PROTOCOL_VERSION: i16 = 5;

pub fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    version: i16,
    request: SyncGroupRequest,
) -> Pending {
    if let Some(error) = group_error(broker, access, Operation::Read, &request.group_id) {
        let response = SyncGroupResponse::default().with_error_code(error.code());
        return Box::pin(std::future::ready(Some(ResponseKind::SyncGroup(response))));
    }
    let sync = SyncRequest {
        member_id: request.member_id.to_string(),
        generation_id: request.generation_id,
        group_instance_id: request.group_instance_id.map(|id| id.to_string()),
        protocol_type: request.protocol_type.map(|value| value.to_string()),
        protocol_name: request.protocol_name.map(|value| value.to_string()),
        assignments: request
            .assignments
            .into_iter()
            .map(|assignment| (assignment.member_id.to_string(), assignment.assignment))
            .collect(),
    };
    let answer = broker.groups.sync(&request.group_id, sync);
    Box::pin(async move {
        let response = match answer.await {
            Ok(synced) => {
                let response = SyncGroupResponse::default()
                    .with_error_code(synced.error.map_or(0, |error| error.code()))
                    .with_assignment(synced.assignment);
                if version >= PROTOCOL_VERSION {
                    response
                        .with_protocol_type(synced.protocol_type.map(StrBytes::from_string))
                        .with_protocol_name(synced.protocol_name.map(StrBytes::from_string))
                } else {
                    response
                }
            }
            Err(_) => SyncGroupResponse::default()
                .with_error_code(ResponseError::CoordinatorNotAvailable.code()),
        };
        Some(ResponseKind::SyncGroup(response))
    })
}
