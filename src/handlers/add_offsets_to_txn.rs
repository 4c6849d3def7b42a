//! AddOffsetsToTxn (key 25): the transaction will commit offsets for a group, so the
//! group's `__consumer_offsets` partition joins it.

use std::sync::Arc;

use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, ApiKey, ResponseKind,
};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::{txn_coordinator_error, Pending, SupportedApi};
use crate::broker::Broker;
use crate::group::OFFSETS_TOPIC;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::AddOffsetsToTxn,
    versions: VersionRange { min: 0, max: 4 },
};

pub fn handle(broker: &Arc<Broker>, request: AddOffsetsToTxnRequest) -> Pending {
    let broker = Arc::clone(broker);
    Box::pin(async move {
        if let Some(error) = txn_coordinator_error(&broker, &request.transactional_id) {
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
