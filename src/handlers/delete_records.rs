//! DeleteRecords (key 21): moves partitions' log start offsets forward (durably) and deletes
//! the segments below them; consumers then see the records as gone (OFFSET_OUT_OF_RANGE,
//! handled by their `auto.offset.reset`).

use std::sync::Arc;

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{ApiKey, DeleteRecordsRequest, DeleteRecordsResponse, ResponseKind};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::errors;
use super::{Pending, SupportedApi};
use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker};
use crate::log::LogError;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::DeleteRecords,
    versions: VersionRange { min: 0, max: 2 },
};

/// The offset that stands for "up to the high watermark".
const HIGH_WATERMARK: i64 = -1;

/// Each topic needs DELETE (TOPIC_AUTHORIZATION_FAILED otherwise, before its existence is
/// checked).
pub fn handle(broker: &Arc<Broker>, access: Access, request: DeleteRecordsRequest) -> Pending {
    let broker = Arc::clone(broker);
    Box::pin(async move {
        let deleted = tokio::task::spawn_blocking(move || delete(&broker, &access, &request)).await;
        let topics = deleted.unwrap_or_else(|error| {
            tracing::error!(%error, "DeleteRecords task failed");
            Vec::new()
        });
        Some(ResponseKind::DeleteRecords(
            DeleteRecordsResponse::default().with_topics(topics),
        ))
    })
}

fn delete(
    broker: &Broker,
    access: &Access,
    request: &DeleteRecordsRequest,
) -> Vec<DeleteRecordsTopicResult> {
    let image = broker.metadata.image();
    request
        .topics
        .iter()
        .map(|topic| {
            let meta = image.topic(&topic.name);
            let deletable = access.allows(Operation::Delete, Resource::topic(&topic.name));
            let partitions = topic
                .partitions
                .iter()
                .map(|partition| {
                    let index = partition.partition_index;
                    let outcome = match meta {
                        _ if !deletable => Err(ResponseError::TopicAuthorizationFailed),
                        None => Err(ResponseError::UnknownTopicOrPartition),
                        _ if Broker::is_internal_topic(&topic.name) => {
                            Err(ResponseError::InvalidTopicException)
                        }
                        Some(meta) if !broker.log_config(meta).delete_enabled => {
                            Err(ResponseError::PolicyViolation)
                        }
                        _ => match broker.leader_log(&topic.name, index) {
                            Err(not_served) => Err(errors::for_not_served(not_served)),
                            Ok(log) => {
                                let offset = match partition.offset {
                                    HIGH_WATERMARK => log.high_watermark(),
                                    offset => offset,
                                };
                                log.delete_records_before(offset).map_err(|error| match error {
                                    LogError::OffsetOutOfRange { .. } => {
                                        ResponseError::OffsetOutOfRange
                                    }
                                    error => {
                                        tracing::error!(topic = %topic.name.0, partition = index, %error, "DeleteRecords failed");
                                        ResponseError::KafkaStorageError
                                    }
                                })
                            }
                        },
                    };
                    DeleteRecordsPartitionResult::default()
                        .with_partition_index(index)
                        .with_low_watermark(*outcome.as_ref().unwrap_or(&-1))
                        .with_error_code(outcome.err().map_or(0, |error| error.code()))
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect()
}
