//! InitProducerId (key 22): a new producer id at epoch 0 for idempotent producers.
//! Transactional ids are refused until spool coordinates transactions.

use std::sync::Arc;

use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::SupportedApi;
use crate::broker::Broker;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::InitProducerId,
    versions: VersionRange { min: 0, max: 5 },
};

pub fn handle(broker: &Arc<Broker>, request: InitProducerIdRequest) -> InitProducerIdResponse {
    let refuse = |error: ResponseError| {
        InitProducerIdResponse::default()
            .with_error_code(error.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    match request.transactional_id.as_ref().map(|id| id.as_str()) {
        None => {}
        Some("") => return refuse(ResponseError::InvalidRequest),
        Some(_) => return refuse(ResponseError::TransactionalIdAuthorizationFailed),
    }
    match broker.producer_ids.next_id() {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(error) => {
            tracing::error!(%error, "reserving producer ids failed");
            refuse(ResponseError::CoordinatorNotAvailable)
        }
    }
}
