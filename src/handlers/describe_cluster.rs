//! DescribeCluster (key 60, KIP-700): the cluster id, the controller the client may contact and
//! the brokers — this one node — for AdminClients (`describeCluster`, `kafka-cluster.sh`).

use std::sync::Arc;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{ApiKey, BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::{SupportedApi, AUTHORIZED_OPERATIONS_OMITTED};
use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker};

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::DescribeCluster,
    versions: VersionRange { min: 0, max: 2 },
};

/// KIP-919 endpoint types: spool listens as a broker (there is no separate controller
/// endpoint).
const ENDPOINT_TYPE_BROKERS: i8 = 1;
const ENDPOINT_TYPE_CONTROLLERS: i8 = 2;

pub fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    version: i16,
    request: &DescribeClusterRequest,
    listener: &str,
) -> DescribeClusterResponse {
    let response = DescribeClusterResponse::default();
    // v0 has no endpoint type: the request is for brokers.
    let response = if version >= 1 {
        response.with_endpoint_type(ENDPOINT_TYPE_BROKERS)
    } else {
        response
    };
    if version >= 1 && request.endpoint_type != ENDPOINT_TYPE_BROKERS {
        let (error, message) = match request.endpoint_type {
            ENDPOINT_TYPE_CONTROLLERS => (
                ResponseError::MismatchedEndpointType,
                "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER",
            ),
            _ => (ResponseError::UnsupportedEndpointType, "Unknown endpoint type"),
        };
        return response
            .with_error_code(error.code())
            .with_error_message(Some(StrBytes::from_static_str(message)))
            .with_cluster_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED);
    }
    let brokers = broker
        .brokers(listener)
        .into_iter()
        .map(|endpoint| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(endpoint.node_id))
                .with_host(StrBytes::from_string(endpoint.host))
                .with_port(i32::from(endpoint.port))
                .with_rack(endpoint.rack.map(StrBytes::from_string))
        })
        .collect();
    response
        .with_cluster_id(StrBytes::from_string(
            broker.metadata.image().cluster_id.clone(),
        ))
        // spool's controller is one of its brokers, which clients can reach.
        .with_controller_id(BrokerId(broker.controller_id()))
        .with_brokers(brokers)
        .with_cluster_authorized_operations(
            match (
                request.include_cluster_authorized_operations,
                access.allows_cluster(Operation::Describe),
            ) {
                (false, _) => AUTHORIZED_OPERATIONS_OMITTED,
                (true, true) => access.operations(Resource::cluster()),
                (true, false) => 0,
            },
        )
}
