//! LeaveGroup (key 13): one member (v0–v2) or a batch of members (v3+, KIP-345).

use std::sync::Arc;

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{ApiKey, LeaveGroupRequest, LeaveGroupResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use super::{group_error, SupportedApi};
use crate::acl::Operation;
use crate::broker::{Access, Broker};

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::LeaveGroup,
    versions: VersionRange { min: 0, max: 5 },
};

/// From v3 members leave in batches and get one error each.
const BATCHED_VERSION: i16 = 3;

pub fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    version: i16,
    request: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let leaving: Vec<(String, Option<String>)> = if version >= BATCHED_VERSION {
        request
            .members
            .iter()
            .map(|member| {
                (
                    member.member_id.to_string(),
                    member.group_instance_id.as_ref().map(|id| id.to_string()),
                )
            })
            .collect()
    } else {
        vec![(request.member_id.to_string(), None)]
    };
    if let Some(error) = group_error(broker, access, Operation::Read, &request.group_id) {
        return LeaveGroupResponse::default().with_error_code(error.code());
    }
    let results = match broker.groups.leave(&request.group_id, &leaving) {
        Ok(results) => results,
        Err(error) => vec![Err(error); leaving.len()],
    };
    if version < BATCHED_VERSION {
        let error = results.first().and_then(|result| result.err());
        return LeaveGroupResponse::default()
            .with_error_code(error.map_or(0, |error| error.code()));
    }
    let members = leaving
        .into_iter()
        .zip(results)
        .map(|((member_id, instance_id), result)| {
            MemberResponse::default()
                .with_member_id(StrBytes::from_string(member_id))
                .with_group_instance_id(instance_id.map(StrBytes::from_string))
                .with_error_code(result.err().map_or(0, |error| error.code()))
        })
        .collect();
    LeaveGroupResponse::default().with_members(members)
}
