//! DescribeTransactions (key 65): a transactional id's producer, state, timeout and the
//! partitions of its open transaction.

use std::sync::Arc;

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    ApiKey, DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, ResponseKind,
    TopicName,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::{txn_coordinator_error, Pending, SupportedApi};
use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker};

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::DescribeTransactions,
    versions: VersionRange { min: 0, max: 0 },
};

/// Each transactional id needs DESCRIBE (TRANSACTIONAL_ID_AUTHORIZATION_FAILED otherwise);
/// only the partitions of topics the principal may DESCRIBE are told.
pub fn handle(
    broker: &Arc<Broker>,
    access: Access,
    request: DescribeTransactionsRequest,
) -> Pending {
    let broker = Arc::clone(broker);
    Box::pin(async move {
        let all = broker.txns.list().await;
        let states = request
            .transactional_ids
            .into_iter()
            .map(|id| {
                if !access.allows(Operation::Describe, Resource::transactional_id(&id)) {
                    return TransactionState::default()
                        .with_transactional_id(id)
                        .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code());
                }
                if let Some(error) = txn_coordinator_error(&broker, &id) {
                    return TransactionState::default()
                        .with_transactional_id(id)
                        .with_error_code(error.code());
                }
                let Some((_, meta)) = all.iter().find(|(known, _)| known.as_str() == id.as_str())
                else {
                    return TransactionState::default()
                        .with_transactional_id(id)
                        .with_error_code(ResponseError::TransactionalIdNotFound.code());
                };
                let mut topics: Vec<TopicData> = Vec::new();
                let described = meta.partitions.iter().filter(|(topic, _)| {
                    access.allows(Operation::Describe, Resource::topic(topic))
                });
                for (topic, partition) in described {
                    match topics.iter_mut().find(|data| data.topic.as_str() == topic) {
                        Some(data) => data.partitions.push(*partition),
                        None => topics.push(
                            TopicData::default()
                                .with_topic(TopicName(StrBytes::from_string(topic.clone())))
                                .with_partitions(vec![*partition]),
                        ),
                    }
                }
                TransactionState::default()
                    .with_transactional_id(id)
                    .with_transaction_state(StrBytes::from_static_str(meta.status.name()))
                    .with_transaction_timeout_ms(meta.timeout_ms)
                    .with_transaction_start_time_ms(meta.start_ms)
                    .with_producer_id(ProducerId(meta.producer_id))
                    .with_producer_epoch(meta.epoch)
                    .with_topics(topics)
            })
            .collect();
        Some(ResponseKind::DescribeTransactions(
            DescribeTransactionsResponse::default().with_transaction_states(states),
        ))
    })
}
