//! ListGroups (key 16): every group this coordinator knows, filtered by state (v4+) and
//! type (v5+; all of spool's groups are "classic").

use std::sync::Arc;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{ApiKey, GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use super::SupportedApi;
use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker};

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::ListGroups,
    versions: VersionRange { min: 0, max: 5 },
};

const CLASSIC_GROUP_TYPE: &str = "classic";

/// Every group to a principal that may DESCRIBE the cluster; otherwise the groups it may
/// DESCRIBE.
pub fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    request: ListGroupsRequest,
) -> ListGroupsResponse {
    let sees_all = access.allows_cluster(Operation::Describe);
    let wanted = |filter: &[StrBytes], value: &str| {
        filter.is_empty() || filter.iter().any(|item| item.eq_ignore_ascii_case(value))
    };
    let groups = broker
        .groups
        .list_groups()
        .into_iter()
        .filter(|group| {
            wanted(&request.states_filter, group.state.name())
                && wanted(&request.types_filter, CLASSIC_GROUP_TYPE)
                && (sees_all
                    || access.allows(Operation::Describe, Resource::group(&group.group_id)))
        })
        .map(|group| {
            ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(group.group_id)))
                .with_protocol_type(StrBytes::from_string(group.protocol_type))
                .with_group_state(StrBytes::from_static_str(group.state.name()))
                .with_group_type(StrBytes::from_static_str(CLASSIC_GROUP_TYPE))
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
