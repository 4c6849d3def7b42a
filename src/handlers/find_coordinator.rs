//! FindCoordinator (key 10): the broker leading a key's partition of `__consumer_offsets`
//! (groups) or `__transaction_state` (transactional ids); a single node coordinates all.

use std::sync::Arc;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{ApiKey, BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::SupportedApi;
use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker};
use crate::group::OFFSETS_TOPIC;
use crate::txn::TRANSACTION_TOPIC;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::FindCoordinator,
    versions: VersionRange { min: 0, max: 6 },
};

/// FindCoordinator v4 batches keys (KIP-699).
const BATCHED_VERSION: i16 = 4;
const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// A group's coordinator needs DESCRIBE on the group, a transactional id's DESCRIBE on it.
pub async fn handle(
    broker: Arc<Broker>,
    access: Access,
    version: i16,
    request: FindCoordinatorRequest,
    listener: Arc<str>,
) -> FindCoordinatorResponse {
    let topic = match request.key_type {
        KEY_TYPE_GROUP => OFFSETS_TOPIC,
        KEY_TYPE_TRANSACTION => TRANSACTION_TOPIC,
        _ => "",
    };
    let refusal = |key: &str| match request.key_type {
        KEY_TYPE_GROUP if !access.allows(Operation::Describe, Resource::group(key)) => {
            Some(ResponseError::GroupAuthorizationFailed)
        }
        KEY_TYPE_TRANSACTION
            if !access.allows(Operation::Describe, Resource::transactional_id(key)) =>
        {
            Some(ResponseError::TransactionalIdAuthorizationFailed)
        }
        _ => None,
    };
    let find = |key: StrBytes| {
        let broker = Arc::clone(&broker);
        let listener = Arc::clone(&listener);
        let refused = refusal(&key);
        async move {
            if let Some(error) = refused {
                return Err(error);
            }
            if key.is_empty() || topic.is_empty() {
                return Err(ResponseError::InvalidRequest);
            }
            broker
                .find_coordinator(topic, &key, &listener)
                .await
                .ok_or(ResponseError::CoordinatorNotAvailable)
        }
    };
    if version < BATCHED_VERSION {
        let response = FindCoordinatorResponse::default();
        return match find(request.key).await {
            Ok(endpoint) => response
                .with_node_id(BrokerId(endpoint.node_id))
                .with_host(StrBytes::from_string(endpoint.host))
                .with_port(i32::from(endpoint.port)),
            Err(error) => response
                .with_error_code(error.code())
                .with_node_id(BrokerId(-1))
                .with_port(-1),
        };
    }
    let mut coordinators = Vec::with_capacity(request.coordinator_keys.len());
    for key in request.coordinator_keys {
        let coordinator = Coordinator::default().with_key(key.clone());
        coordinators.push(match find(key).await {
            Ok(endpoint) => coordinator
                .with_node_id(BrokerId(endpoint.node_id))
                .with_host(StrBytes::from_string(endpoint.host))
                .with_port(i32::from(endpoint.port)),
            Err(error) => coordinator
                .with_error_code(error.code())
                .with_node_id(BrokerId(-1))
                .with_port(-1),
        });
    }
    FindCoordinatorResponse::default().with_coordinators(coordinators)
}
