//! Metadata (key 3): brokers, cluster id, controller, and topics with their partitions;
//! auto-creates unknown topics when both the client and the broker allow it.

use std::sync::Arc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{ApiKey, BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::errors;
use super::{SupportedApi, AUTHORIZED_OPERATIONS_OMITTED};
use crate::broker::Broker;
use crate::metadata::{topic_name, TopicMetadata};

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::Metadata,
    versions: VersionRange { min: 0, max: 13 },
};

/// Topic operations allowed without an authorizer: READ, WRITE, CREATE, DELETE, ALTER,
/// DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS (Kafka's AclOperation codes as bits).
pub const TOPIC_OPERATIONS_ALL: i32 = bits(&[3, 4, 5, 6, 7, 8, 10, 11]);
/// Cluster operations allowed without an authorizer: CREATE, CLUSTER_ACTION, DESCRIBE_CONFIGS,
/// ALTER_CONFIGS, IDEMPOTENT_WRITE, ALTER, DESCRIBE.
pub const CLUSTER_OPERATIONS_ALL: i32 = bits(&[5, 7, 8, 9, 10, 11, 12]);

const fn bits(operations: &[i32]) -> i32 {
    let mut mask = 0;
    let mut at = 0;
    while at < operations.len() {
        mask |= 1 << operations[at];
        at += 1;
    }
    mask
}

pub fn handle(
    broker: &Arc<Broker>,
    version: i16,
    request: MetadataRequest,
    listener: &str,
) -> MetadataResponse {
    let config = &broker.config;
    let allow_auto_create =
        config.auto_create_topics && (version < 4 || request.allow_auto_topic_creation);
    let topic_operations = if request.include_topic_authorized_operations {
        TOPIC_OPERATIONS_ALL
    } else {
        AUTHORIZED_OPERATIONS_OMITTED
    };

    let requested: Option<Vec<_>> = match request.topics {
        // v0: an empty list means all topics; v1+: null means all, empty means none.
        Some(topics) if version == 0 && topics.is_empty() => None,
        other => other,
    };
    let topics = match requested {
        None => broker
            .metadata
            .image()
            .topics()
            .map(|topic| describe(broker, topic, topic_operations))
            .collect(),
        Some(requested) => requested
            .into_iter()
            .map(|wanted| match (wanted.name, wanted.topic_id) {
                (Some(name), _) => {
                    lookup_by_name(broker, name, allow_auto_create, topic_operations)
                }
                (None, id) => match broker.metadata.image().topic_by_id(id) {
                    Some(topic) => describe(broker, topic, topic_operations),
                    None => MetadataResponseTopic::default()
                        .with_topic_id(id)
                        .with_error_code(ResponseError::UnknownTopicId.code())
                        .with_topic_authorized_operations(topic_operations),
                },
            })
            .collect(),
    };

    let brokers = broker
        .brokers(listener)
        .into_iter()
        .map(|endpoint| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(endpoint.node_id))
                .with_host(StrBytes::from_string(endpoint.host))
                .with_port(i32::from(endpoint.port))
                .with_rack(endpoint.rack.map(StrBytes::from_string))
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(
            broker.metadata.image().cluster_id.clone(),
        )))
        .with_controller_id(BrokerId(broker.controller_id()))
        .with_topics(topics)
        .with_cluster_authorized_operations(if request.include_cluster_authorized_operations {
            CLUSTER_OPERATIONS_ALL
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        })
}

fn lookup_by_name(
    broker: &Arc<Broker>,
    name: TopicName,
    allow_auto_create: bool,
    topic_operations: i32,
) -> MetadataResponseTopic {
    if let Some(topic) = broker.metadata.image().topic(&name) {
        return describe(broker, topic, topic_operations);
    }
    let error = |error: ResponseError| {
        MetadataResponseTopic::default()
            .with_name(Some(name.clone()))
            .with_error_code(error.code())
            .with_topic_authorized_operations(topic_operations)
    };
    if topic_name::validate(&name).is_err() {
        return error(ResponseError::InvalidTopicException);
    }
    if !allow_auto_create {
        return error(ResponseError::UnknownTopicOrPartition);
    }
    match broker.auto_create_topic(&name) {
        Ok(Some(topic)) => describe(broker, &topic, topic_operations),
        // Being created in the cluster: Kafka's answer while it is.
        Ok(None) => error(ResponseError::LeaderNotAvailable),
        Err(failure) => {
            tracing::warn!(topic = %name.as_str(), error = %failure, "auto-create failed");
            error(errors::for_topic_error(&failure))
        }
    }
}

/// Node ids as the protocol's `BrokerId`s.
pub fn broker_ids(ids: &[i32]) -> Vec<BrokerId> {
    ids.iter().copied().map(BrokerId).collect()
}

fn describe(
    broker: &Broker,
    topic: &TopicMetadata,
    topic_operations: i32,
) -> MetadataResponseTopic {
    let partitions = (0..topic.partitions)
        .map(|index| {
            let view = broker.partition_view(&topic.name, index);
            MetadataResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(BrokerId(view.leader))
                .with_leader_epoch(view.leader_epoch)
                .with_replica_nodes(broker_ids(&view.replicas))
                .with_isr_nodes(broker_ids(&view.isr))
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_is_internal(Broker::is_internal_topic(&topic.name))
        .with_partitions(partitions)
        .with_topic_authorized_operations(topic_operations)
}
