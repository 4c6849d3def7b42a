//! FindCoordinator (key 10): this broker coordinates every group and transaction id.

use std::sync::Arc;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{ApiKey, BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::SupportedApi;
use crate::broker::Broker;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::FindCoordinator,
    versions: VersionRange { min: 0, max: 6 },
};

/// FindCoordinator v4 batches keys (KIP-699).
const BATCHED_VERSION: i16 = 4;
const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

pub fn handle(
    broker: &Arc<Broker>,
    version: i16,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let (host, port) = &broker.config.advertise;
    let node = BrokerId(broker.config.node_id);
    let error_for = |key: &str| match request.key_type {
        KEY_TYPE_GROUP | KEY_TYPE_TRANSACTION if !key.is_empty() => None,
        KEY_TYPE_GROUP | KEY_TYPE_TRANSACTION => Some(ResponseError::InvalidRequest),
        _ => Some(ResponseError::InvalidRequest),
    };
    if version < BATCHED_VERSION {
        let response = FindCoordinatorResponse::default();
        return match error_for(&request.key) {
            None => response
                .with_node_id(node)
                .with_host(StrBytes::from_string(host.clone()))
                .with_port(i32::from(*port)),
            Some(error) => response
                .with_error_code(error.code())
                .with_node_id(BrokerId(-1))
                .with_port(-1),
        };
    }
    let coordinators = request
        .coordinator_keys
        .into_iter()
        .map(|key| {
            let coordinator = Coordinator::default().with_key(key.clone());
            match error_for(&key) {
                None => coordinator
                    .with_node_id(node)
                    .with_host(StrBytes::from_string(host.clone()))
                    .with_port(i32::from(*port)),
                Some(error) => coordinator
                    .with_error_code(error.code())
                    .with_node_id(BrokerId(-1))
                    .with_port(-1),
            }
        })
        .collect();
    FindCoordinatorResponse::default().with_coordinators(coordinators)
}
