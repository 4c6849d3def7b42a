//! AddOffsetsToTxn (key 25): the transaction will commit offsets for a group, so the
//! group's `__consumer_offsets` partition joins it.

use std::sync::Arc;

use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, ApiKey, ResponseKind,
};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::{txn_error, Pending, SupportedApi};
use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker};
use crate::group::OFFSETS_TOPIC;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::AddOffsetsToTxn,
    versions: VersionRange { min: 0, max: 4 },
};

/// Needs WRITE on the transactional id, then READ on the group (Kafka's order).
pub fn handle(broker: &Arc<Broker>, access: &Access, request: AddOffsetsToTxnRequest) -> Pending {
    let refused = match txn_error(broker, access, &request.transactional_id) {
        Some(ResponseError::TransactionalIdAuthorizationFailed) => {
            Some(ResponseError::TransactionalIdAuthorizationFailed)
        }
        _ if !access.allows(Operation::Read, Resource::group(&request.group_id)) => {
            Some(ResponseError::GroupAuthorizationFailed)
        }
        coordinator_error => coordinator_error,
    };
    let broker = Arc::clone(broker);
    Box::pin(async move {
        if let Some(error) = refused {
            let response = AddOffsetsToTxnResponse::default().with_error_code(error.code());
            return Some(ResponseKind::AddOffsetsToTxn(response));
        }
        let partition = broker
            .txns
            .offsets_partition(&request.group_id, &broker.groups);
        // In a cluster, `__consumer_offsets` may still be being created: the transaction
        // takes in only a partition this coordinator knows, so its markers find the leader.
        if !broker
            .internal_partition_ready(OFFSETS_TOPIC, partition.1)
            .await
        {
            let response = AddOffsetsToTxnResponse::default()
                .with_error_code(ResponseError::CoordinatorLoadInProgress.code());
            return Some(ResponseKind::AddOffsetsToTxn(response));
        }
        let added = broker
            .txns
            .add_partitions(
                &request.transactional_id,
                request.producer_id.0,
                request.producer_epoch,
                &[partition],
                false,
            )
            .await;
        let response =
            AddOffsetsToTxnResponse::default().with_error_code(added.err().map_or(0, |e| e.code()));
        Some(ResponseKind::AddOffsetsToTxn(response))
    })
}
