//! AddPartitionsToTxn (key 24): v0–v3 from producers (one transaction), v4+ batched (several
//! transactions, optionally only verifying membership).

use std::sync::Arc;

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, ResponseKind,
};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::{txn_coordinator_error, Pending, SupportedApi};
use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker};

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::AddPartitionsToTxn,
    versions: VersionRange { min: 0, max: 5 },
};

/// From v4 requests carry several transactions.
const BATCHED_VERSION: i16 = 4;

/// Producers (v0–v3) need WRITE on the transactional id and on each topic; brokers (v4+)
/// CLUSTER_ACTION.
pub fn handle(
    broker: &Arc<Broker>,
    access: Access,
    version: i16,
    request: AddPartitionsToTxnRequest,
) -> Pending {
    let broker = Arc::clone(broker);
    Box::pin(async move {
        let response = if version < BATCHED_VERSION {
            let results = add(
                &broker,
                Some(&access),
                &request.v3_and_below_transactional_id,
                request.v3_and_below_producer_id.0,
                request.v3_and_below_producer_epoch,
                &request.v3_and_below_topics,
                false,
            )
            .await;
            AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
        } else if !access.allows_cluster(Operation::ClusterAction) {
            AddPartitionsToTxnResponse::default()
                .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
        } else {
            let mut transactions = Vec::with_capacity(request.transactions.len());
            for transaction in &request.transactions {
                let results = add(
                    &broker,
                    None,
                    &transaction.transactional_id,
                    transaction.producer_id.0,
                    transaction.producer_epoch,
                    &transaction.topics,
                    transaction.verify_only,
                )
                .await;
                transactions.push(
                    AddPartitionsToTxnResult::default()
                        .with_transactional_id(transaction.transactional_id.clone())
                        .with_topic_results(results),
                );
            }
            AddPartitionsToTxnResponse::default().with_results_by_transaction(transactions)
        };
        Some(ResponseKind::AddPartitionsToTxn(response))
    })
}

/// Adds (or verifies) one transaction's partitions; unknown or (for a producer, `access`)
/// unwritable partitions fail the request, the others then report OPERATION_NOT_ATTEMPTED,
/// as Kafka does.
async fn add(
    broker: &Broker,
    producer: Option<&Access>,
    transactional_id: &str,
    producer_id: i64,
    epoch: i16,
    topics: &[AddPartitionsToTxnTopic],
    verify_only: bool,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let wanted: Vec<(String, i32)> = topics
        .iter()
        .flat_map(|topic| {
            topic
                .partitions
                .iter()
                .map(|p| (topic.name.to_string(), *p))
        })
        .collect();
    let refused = producer.is_some_and(|access| {
        !access.allows(
            Operation::Write,
            Resource::transactional_id(transactional_id),
        )
    });
    let writable = |topic: &str| {
        producer.is_none_or(|access| {
            !Broker::is_internal_topic(topic)
                && access.allows(Operation::Write, Resource::topic(topic))
        })
    };
    let not_coordinator = txn_coordinator_error(broker, transactional_id);
    // Partitions led by other brokers get their markers through WriteTxnMarkers.
    let image = broker.metadata.image();
    let rejection = |topic: &str, partition: i32| {
        if !writable(topic) {
            Some(ResponseError::TopicAuthorizationFailed)
        } else if !image.has_partition(topic, partition) || Broker::is_internal_topic(topic) {
            Some(ResponseError::UnknownTopicOrPartition)
        } else {
            None
        }
    };
    let any_rejected = wanted
        .iter()
        .any(|(topic, partition)| rejection(topic, *partition).is_some());
    let outcome = if refused {
        Some(ResponseError::TransactionalIdAuthorizationFailed)
    } else if not_coordinator.is_some() {
        not_coordinator
    } else if !any_rejected {
        broker
            .txns
            .add_partitions(transactional_id, producer_id, epoch, &wanted, verify_only)
            .await
            .err()
    } else {
        None
    };
    topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|&partition| {
                    let error = if refused {
                        outcome
                    } else if let Some(error) = rejection(&topic.name, partition) {
                        Some(error)
                    } else if any_rejected {
                        Some(ResponseError::OperationNotAttempted)
                    } else {
                        outcome
                    };
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(partition)
                        .with_partition_error_code(error.map_or(0, |e| e.code()))
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(topic.name.clone())
                .with_results_by_partition(partitions)
        })
        .collect()
}
