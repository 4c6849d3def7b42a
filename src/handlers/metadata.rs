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
use uuid::Uuid;

use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker};
use crate::metadata::{topic_name, TopicMetadata};

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::Metadata,
    versions: VersionRange { min: 0, max: 13 },
};

/// Cluster operations are reported up to v10 (DescribeCluster tells them since).
const CLUSTER_OPERATIONS_LAST_VERSION: i16 = 10;

/// What the client may know and do, as Kafka's metadata handler decides: a topic the
/// principal may not DESCRIBE is left out of "all topics" and answered
/// TOPIC_AUTHORIZATION_FAILED (with no id) when named; auto-creation needs CREATE on the
/// cluster or the topic.
struct Visibility<'a> {
    access: &'a Access,
    allow_auto_create: bool,
    /// Each described topic's authorized operations, when the client asks for them.
    include_operations: bool,
}

impl Visibility<'_> {
    fn describes(&self, topic: &str) -> bool {
        self.access
            .allows(Operation::Describe, Resource::topic(topic))
    }

    fn may_create(&self, topic: &str) -> bool {
        self.access.allows_cluster(Operation::Create)
            || self
                .access
                .allows(Operation::Create, Resource::topic(topic))
    }

    fn operations(&self, topic: &str) -> i32 {
        match self.include_operations {
            true => self.access.operations(Resource::topic(topic)),
            false => AUTHORIZED_OPERATIONS_OMITTED,
        }
    }
}

pub fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    version: i16,
    request: MetadataRequest,
    listener: &str,
) -> MetadataResponse {
    let config = &broker.config;
    let visibility = Visibility {
        access,
        allow_auto_create: config.auto_create_topics
            && (version < 4 || request.allow_auto_topic_creation),
        include_operations: request.include_topic_authorized_operations,
    };
    let image = broker.metadata.image();

    let requested: Option<Vec<_>> = match request.topics {
        // v0: an empty list means all topics; v1+: null means all, empty means none.
        Some(topics) if version == 0 && topics.is_empty() => None,
        other => other,
    };
    let topics = match requested {
        None => image
            .topics()
            .filter(|topic| visibility.describes(&topic.name))
            .map(|topic| describe(broker, topic, &visibility))
            .collect(),
        Some(requested) => requested
            .into_iter()
            .map(|wanted| match (wanted.name, wanted.topic_id) {
                (Some(name), _) if !visibility.describes(&name) => refused(Some(name), Uuid::nil()),
                (Some(name), _) => lookup_by_name(broker, name, &visibility),
                (None, id) => match image.topic_by_id(id) {
                    // Ids are not secret: the id is named back.
                    Some(topic) if !visibility.describes(&topic.name) => refused(None, id),
                    Some(topic) => describe(broker, topic, &visibility),
                    None => MetadataResponseTopic::default()
                        .with_topic_id(id)
                        .with_error_code(ResponseError::UnknownTopicId.code()),
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
    let cluster_operations = match request.include_cluster_authorized_operations {
        true if version <= CLUSTER_OPERATIONS_LAST_VERSION => {
            match access.allows_cluster(Operation::Describe) {
                true => access.operations(Resource::cluster()),
                false => 0,
            }
        }
        _ => AUTHORIZED_OPERATIONS_OMITTED,
    };
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(image.cluster_id.clone())))
        .with_controller_id(BrokerId(broker.controller_id()))
        .with_topics(topics)
        .with_cluster_authorized_operations(cluster_operations)
}

/// A topic the principal may not see (or create): TOPIC_AUTHORIZATION_FAILED, nothing more.
fn refused(name: Option<TopicName>, id: Uuid) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(name)
        .with_topic_id(id)
        .with_error_code(ResponseError::TopicAuthorizationFailed.code())
}

fn lookup_by_name(
    broker: &Arc<Broker>,
    name: TopicName,
    visibility: &Visibility<'_>,
) -> MetadataResponseTopic {
    if let Some(topic) = broker.metadata.image().topic(&name) {
        return describe(broker, topic, visibility);
    }
    if visibility.allow_auto_create && !visibility.may_create(&name) {
        return refused(Some(name.clone()), Uuid::nil())
            .with_is_internal(Broker::is_internal_topic(&name));
    }
    let error = |error: ResponseError| {
        MetadataResponseTopic::default()
            .with_name(Some(name.clone()))
            .with_error_code(error.code())
            .with_topic_authorized_operations(visibility.operations(&name))
    };
    if topic_name::validate(&name).is_err() {
        return error(ResponseError::InvalidTopicException);
    }
    if !visibility.allow_auto_create {
        return error(ResponseError::UnknownTopicOrPartition);
    }
    match broker.auto_create_topic(&name) {
        Ok(Some(topic)) => describe(broker, &topic, visibility),
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
    visibility: &Visibility<'_>,
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
                .with_offline_replicas(broker_ids(&view.offline_replicas))
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_is_internal(Broker::is_internal_topic(&topic.name))
        .with_partitions(partitions)
        .with_topic_authorized_operations(visibility.operations(&topic.name))
}
