//! InitProducerId (key 22): a new producer id at epoch 0 for idempotent producers; for a
//! transactional id, its producer id at the next epoch (fencing the previous instance).

use std::sync::Arc;

use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId, ResponseKind,
};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::{txn_coordinator_error, Pending, SupportedApi};
use crate::broker::Broker;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::InitProducerId,
    versions: VersionRange { min: 0, max: 5 },
};

pub fn handle(broker: &Arc<Broker>, request: InitProducerIdRequest) -> Pending {
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
            let response = InitProducerIdResponse::default()
                .with_error_code(error.code())
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1);
            return Some(ResponseKind::InitProducerId(response));
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
            Err(error) => InitProducerIdResponse::default()
                .with_error_code(error.code())
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        };
        Some(ResponseKind::InitProducerId(response))
    })
}

/// A producer id for an idempotent (non-transactional) producer.
async fn idempotent(broker: &Broker, request: &InitProducerIdRequest) -> InitProducerIdResponse {
    let refuse = |error: ResponseError| {
        InitProducerIdResponse::default()
            .with_error_code(error.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if request.transactional_id.is_some() {
        return refuse(ResponseError::InvalidRequest);
    }
    match broker.producer_ids.next_id().await {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(error) => {
            tracing::error!(%error, "reserving producer ids failed");
            refuse(ResponseError::CoordinatorNotAvailable)
        }
    }
}
