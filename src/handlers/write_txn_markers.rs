//! WriteTxnMarkers (key 27): writes COMMIT or ABORT markers into partitions for a producer.
//! Kafka's coordinators send it to partition leaders; clients send it through
//! `Admin.abortTransaction` (`kafka-transactions abort`) to end a hanging transaction that
//! its coordinator no longer knows. A marker is durable (per the flush policy) before the
//! answer, as EndTxn's are; markers in `__consumer_offsets` also decide the producer's
//! transactional offset commits.

use std::sync::Arc;

use kafka_protocol::messages::write_txn_markers_request::WritableTxnMarker;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{
    ApiKey, ResponseKind, WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::errors;
use super::errors::for_log_error;
use super::{Pending, SupportedApi};
use crate::acl::Operation;
use crate::broker::{Access, Broker};
use crate::group::OFFSETS_TOPIC;
use crate::txn::REPLICATION_TIMEOUT;

/// v0 was removed in Kafka 4.0; v1 is the flexible version.
pub const API: SupportedApi = SupportedApi {
    key: ApiKey::WriteTxnMarkers,
    versions: VersionRange { min: 1, max: 1 },
};

/// From brokers: needs ALTER or CLUSTER_ACTION on the cluster (every partition
/// CLUSTER_AUTHORIZATION_FAILED otherwise).
pub fn handle(broker: &Arc<Broker>, access: &Access, request: WriteTxnMarkersRequest) -> Pending {
    let permitted =
        access.allows_cluster(Operation::Alter) || access.allows_cluster(Operation::ClusterAction);
    let broker = Arc::clone(broker);
    Box::pin(async move {
        let mut markers = Vec::with_capacity(request.markers.len());
        for marker in &request.markers {
            markers.push(match permitted {
                true => write(&broker, marker).await,
                false => refused(marker),
            });
        }
        Some(ResponseKind::WriteTxnMarkers(
            WriteTxnMarkersResponse::default().with_markers(markers),
        ))
    })
}

/// Every partition of `marker` answered CLUSTER_AUTHORIZATION_FAILED.
fn refused(marker: &WritableTxnMarker) -> WritableTxnMarkerResult {
    let error = ResponseError::ClusterAuthorizationFailed.code();
    let topics = marker
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partition_indexes
                .iter()
                .map(|&index| {
                    WritableTxnMarkerPartitionResult::default()
                        .with_partition_index(index)
                        .with_error_code(error)
                })
                .collect();
            WritableTxnMarkerTopicResult::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    WritableTxnMarkerResult::default()
        .with_producer_id(marker.producer_id)
        .with_topics(topics)
}

async fn write(broker: &Broker, marker: &WritableTxnMarker) -> WritableTxnMarkerResult {
    let producer_id = marker.producer_id.0;
    let commit = marker.transaction_result;
    let mut topics = Vec::with_capacity(marker.topics.len());
    for topic in &marker.topics {
        let mut partitions = Vec::with_capacity(topic.partition_indexes.len());
        for &index in &topic.partition_indexes {
            let written = match broker.leader_log(&topic.name, index) {
                Err(not_served) => Err(errors::for_not_served(not_served)),
                Ok(log) => log
                    .write_marker(
                        producer_id,
                        marker.producer_epoch,
                        commit,
                        marker.coordinator_epoch,
                        REPLICATION_TIMEOUT,
                    )
                    .await
                    .map_err(|error| for_log_error(&error)),
            };
            match &written {
                Ok(_) if topic.name.0.as_str() == OFFSETS_TOPIC => {
                    broker
                        .groups
                        .complete_transaction(producer_id, index, commit);
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::debug!(topic = %topic.name.0, partition = index, producer_id, %error, "transaction marker refused");
                }
            }
            partitions.push(
                WritableTxnMarkerPartitionResult::default()
                    .with_partition_index(index)
                    .with_error_code(written.err().map_or(0, |error| error.code())),
            );
        }
        topics.push(
            WritableTxnMarkerTopicResult::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions),
        );
    }
    WritableTxnMarkerResult::default()
        .with_producer_id(marker.producer_id)
        .with_topics(topics)
}
