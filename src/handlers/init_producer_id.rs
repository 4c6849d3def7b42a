//! InitProducerId (key 22): a new producer id at epoch 0 for idempotent producers; for a
//! transactional id, its producer id at the next epoch (fencing the previous instance).

use std::sync::Arc;

use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId, ResponseKind,
};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::{txn_coordinator_error, Pending, SupportedApi};
use crate::acl::{Operation, Resource, ResourceType};
use crate::broker::{Access, Broker};

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::InitProducerId,
    versions: VersionRange { min: 0, max: 5 },
};

/// A transactional producer needs WRITE on its transactional id; an idempotent one
/// IDEMPOTENT_WRITE on the cluster or WRITE on some topic (CLUSTER_AUTHORIZATION_FAILED).
pub fn handle(broker: &Arc<Broker>, access: &Access, request: InitProducerIdRequest) -> Pending {
    let refused = match request.transactional_id.as_deref() {
        Some(id) if !access.allows(Operation::Write, Resource::transactional_id(id)) => {
            Some(ResponseError::TransactionalIdAuthorizationFailed)
        }
        None if !access.allows_cluster(Operation::IdempotentWrite)
            && !access.allows_any(Operation::Write, ResourceType::Topic) =>
        {
            Some(ResponseError::ClusterAuthorizationFailed)
        }
        _ => None,
    };
    if let Some(error) = refused {
        return super::ready(ResponseKind::InitProducerId(refusal(error)));
    }
    let Some(transactional_id) = request
        .transactional_id
        .as_ref()
        .map(|id| id.to_string())
        .filter(|id| !id.is_empty())
    else {
        let broker = Arc::clone(broker);
        return Box::pin(async move {
            Some(ResponseKind::InitProducerId(
                idempotent(&broker, &request).await,
            ))
        });
    };
    let broker = Arc::clone(broker);
    Box::pin(async move {
        if let Some(error) = txn_coordinator_error(&broker, &transactional_id) {
            return Some(ResponseKind::InitProducerId(refusal(error)));
        }
        let initialized = broker
            .txns
            .init_producer_id(
                &transactional_id,
                request.transaction_timeout_ms,
                &broker.producer_ids,
                &broker.groups,
            )
            .await;
        let response = match initialized {
            Ok((id, epoch)) => InitProducerIdResponse::default()
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(epoch),
            Err(error) => refusal(error),
        };
        Some(ResponseKind::InitProducerId(response))
    })
}

/// A producer id for an idempotent (non-transactional) producer.
async fn idempotent(broker: &Broker, request: &InitProducerIdRequest) -> InitProducerIdResponse {
    if request.transactional_id.is_some() {
        return refusal(ResponseError::InvalidRequest);
    }
    match broker.producer_ids.next_id().await {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(error) => {
            tracing::error!(%error, "reserving producer ids failed");
            refusal(ResponseError::CoordinatorNotAvailable)
        }
    }
}

/// No producer id, for `error`.
fn refusal(error: ResponseError) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_error_code(error.code())
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}
