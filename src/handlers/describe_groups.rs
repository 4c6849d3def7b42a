//! DescribeGroups (key 15): state, protocol and members (with their metadata and
//! assignment) of each group.

use std::sync::Arc;

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{ApiKey, DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::{group_error, SupportedApi, AUTHORIZED_OPERATIONS_OMITTED};
use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker};
use crate::group::state::GroupState;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::DescribeGroups,
    versions: VersionRange { min: 0, max: 6 },
};

/// From v6 an unknown group is an error rather than a "Dead" group.
const GROUP_NOT_FOUND_VERSION: i16 = 6;
/// A group needs DESCRIBE (GROUP_AUTHORIZATION_FAILED otherwise); a described group tells
/// what the principal may do to it, when asked.
pub fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    version: i16,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let groups = request
        .groups
        .into_iter()
        .map(|group_id| {
            let group = Resource::group(&group_id);
            let failed = |error: ResponseError| {
                DescribedGroup::default()
                    .with_group_id(group_id.clone())
                    .with_error_code(error.code())
            };
            if let Some(error) = group_error(broker, access, Operation::Describe, &group_id) {
                return failed(error);
            }
            let operations = match request.include_authorized_operations {
                true => access.operations(group),
                false => AUTHORIZED_OPERATIONS_OMITTED,
            };
            let described = DescribedGroup::default().with_authorized_operations(operations);
            let description = broker.groups.describe(&group_id);
            if description.state == GroupState::Dead && version >= GROUP_NOT_FOUND_VERSION {
                let message = format!("Group {} not found.", group_id.as_str());
                return described
                    .with_group_id(group_id)
                    .with_group_state(StrBytes::from_static_str(GroupState::Dead.name()))
                    .with_error_code(ResponseError::GroupIdNotFound.code())
                    .with_error_message(Some(StrBytes::from_string(message)));
            }
            let members = description
                .members
                .into_iter()
                .map(|member| {
                    DescribedGroupMember::default()
                        .with_member_id(StrBytes::from_string(member.member_id))
                        .with_group_instance_id(member.group_instance_id.map(StrBytes::from_string))
                        .with_client_id(StrBytes::from_string(member.client_id))
                        .with_client_host(StrBytes::from_string(member.client_host))
                        .with_member_metadata(member.metadata)
                        .with_member_assignment(member.assignment)
                })
                .collect();
            described
                .with_group_id(group_id)
                .with_group_state(StrBytes::from_static_str(description.state.name()))
                .with_protocol_type(StrBytes::from_string(description.protocol_type))
                .with_protocol_data(StrBytes::from_string(description.protocol_name))
                .with_members(members)
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
