//! DeleteGroups (key 42): removes empty groups and their committed offsets.

use std::sync::Arc;

use futures::future::join_all;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{ApiKey, DeleteGroupsRequest, DeleteGroupsResponse, ResponseKind};
use kafka_protocol::protocol::VersionRange;

use super::{group_error, Pending, SupportedApi};
use crate::acl::Operation;
use crate::broker::{Access, Broker};
use crate::group::coordinator_write_error;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::DeleteGroups,
    versions: VersionRange { min: 0, max: 2 },
};

/// Each group needs DELETE (GROUP_AUTHORIZATION_FAILED otherwise).
pub fn handle(broker: &Arc<Broker>, access: &Access, request: DeleteGroupsRequest) -> Pending {
    let deletions: Vec<_> = request
        .groups_names
        .into_iter()
        .map(|group_id| {
            let appended = match group_error(broker, access, Operation::Delete, &group_id) {
                Some(error) => Err(error),
                None => broker.groups.delete_group(&group_id),
            };
            (group_id, appended)
        })
        .collect();
    let broker = Arc::clone(broker);
    Box::pin(async move {
        let results = join_all(deletions.into_iter().map(|(group_id, appended)| {
            let broker = Arc::clone(&broker);
            async move {
                let outcome = match appended {
                    Ok(Some(tombstones)) => broker.groups.complete_commit(tombstones).await.map_err(|error| {
                        tracing::warn!(group = %group_id.as_str(), %error, "group deletion not stored");
                        coordinator_write_error(&error)
                    }),
                    Ok(None) => Ok(()),
                    Err(error) => Err(error),
                };
                DeletableGroupResult::default().with_group_id(group_id).with_error_code(outcome.err().map_or(0, |e| e.code()))
            }
        }))
        .await;
        Some(ResponseKind::DeleteGroups(
            DeleteGroupsResponse::default().with_results(results),
        ))
    })
}
