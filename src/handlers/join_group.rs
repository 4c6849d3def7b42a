//! JoinGroup (key 11): answered when the group's rebalance completes (or at once with
//! MEMBER_ID_REQUIRED, KIP-394).

use std::sync::Arc;

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{ApiKey, JoinGroupRequest, JoinGroupResponse, ResponseKind};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::{group_error, Pending, SupportedApi};
use crate::acl::Operation;
use crate::broker::{Access, Broker};
use crate::group::state::JoinRequest;
use crate::protocol::RequestContext;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::JoinGroup,
    versions: VersionRange { min: 0, max: 9 },
};

/// From v4 a new member must rejoin with the id it is given (KIP-394).
const KNOWN_MEMBER_ID_VERSION: i16 = 4;
/// From v7 the protocol name is nullable and the protocol type is returned.
const NULLABLE_PROTOCOL_VERSION: i16 = 7;

pub fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    context: &RequestContext,
    request: JoinGroupRequest,
) -> Pending {
    let version = context.api_version;
    if let Some(error) = group_error(broker, access, Operation::Read, &request.group_id) {
        let response = JoinGroupResponse::default()
            .with_error_code(error.code())
            .with_generation_id(-1)
            .with_member_id(request.member_id);
        return Box::pin(std::future::ready(Some(ResponseKind::JoinGroup(response))));
    }
    let join = JoinRequest {
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|id| id.to_string()),
        client_id: context.client_id.as_deref().unwrap_or_default().to_owned(),
        client_host: context.client_host.clone(),
        session_timeout_ms: request.session_timeout_ms,
        rebalance_timeout_ms: if version >= 1 {
            request.rebalance_timeout_ms
        } else {
            request.session_timeout_ms
        },
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|protocol| (protocol.name.to_string(), protocol.metadata))
            .collect(),
        require_known_member_id: version >= KNOWN_MEMBER_ID_VERSION,
    };
    let answer = broker.groups.join(&request.group_id, join);
    Box::pin(async move {
        let Ok(joined) = answer.await else {
            return Some(ResponseKind::JoinGroup(
                JoinGroupResponse::default()
                    .with_error_code(ResponseError::CoordinatorNotAvailable.code())
                    .with_generation_id(-1),
            ));
        };
        let members = joined
            .members
            .into_iter()
            .map(|member| {
                JoinGroupResponseMember::default()
                    .with_member_id(StrBytes::from_string(member.member_id))
                    .with_group_instance_id(member.group_instance_id.map(StrBytes::from_string))
                    .with_metadata(member.metadata)
            })
            .collect();
        let protocol_name = match joined.protocol_name {
            None if version < NULLABLE_PROTOCOL_VERSION => Some(StrBytes::default()),
            name => name.map(StrBytes::from_string),
        };
        let response = JoinGroupResponse::default()
            .with_error_code(joined.error.map_or(0, |error| error.code()))
            .with_generation_id(joined.generation_id)
            .with_protocol_type(
                joined
                    .protocol_type
                    .filter(|_| version >= NULLABLE_PROTOCOL_VERSION)
                    .map(StrBytes::from_string),
            )
            .with_protocol_name(protocol_name)
            .with_leader(StrBytes::from_string(joined.leader_id))
            .with_skip_assignment(joined.skip_assignment && version >= 9)
            .with_member_id(StrBytes::from_string(joined.member_id))
            .with_members(members);
        Some(ResponseKind::JoinGroup(response))
    })
}
