//! ListTransactions (key 66): transactional ids filtered by state, producer id and (v1)
//! how long their transaction has been open. v2's regular-expression filter is not offered.

use std::sync::Arc;

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ApiKey, ListTransactionsRequest, ListTransactionsResponse, ProducerId, ResponseKind,
    TransactionalId,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use super::{Pending, SupportedApi};
use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker};
use crate::txn::state::TxnStatus;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::ListTransactions,
    versions: VersionRange { min: 0, max: 1 },
};

/// Only the transactional ids the principal may DESCRIBE are listed.
pub fn handle(broker: &Arc<Broker>, access: Access, request: ListTransactionsRequest) -> Pending {
    let broker = Arc::clone(broker);
    Box::pin(async move {
        let now = broker.clock.now_ms();
        let unknown: Vec<StrBytes> = request
            .state_filters
            .iter()
            .filter(|filter| {
                !TxnStatus::ALL
                    .iter()
                    .any(|status| status.name() == filter.as_str())
            })
            .cloned()
            .collect();
        let states = broker
            .txns
            .list()
            .await
            .into_iter()
            .filter(|(_, meta)| {
                request.state_filters.is_empty()
                    || request
                        .state_filters
                        .iter()
                        .any(|f| f.as_str() == meta.status.name())
            })
            .filter(|(_, meta)| {
                request.producer_id_filters.is_empty()
                    || request
                        .producer_id_filters
                        .contains(&ProducerId(meta.producer_id))
            })
            .filter(|(_, meta)| {
                request.duration_filter < 0
                    || (meta.status == TxnStatus::Ongoing
                        && now - meta.start_ms >= request.duration_filter)
            })
            .filter(|(id, _)| access.allows(Operation::Describe, Resource::transactional_id(id)))
            .map(|(id, meta)| {
                TransactionState::default()
                    .with_transactional_id(TransactionalId(StrBytes::from_string(id)))
                    .with_producer_id(ProducerId(meta.producer_id))
                    .with_transaction_state(StrBytes::from_static_str(meta.status.name()))
            })
            .collect();
        let response = ListTransactionsResponse::default()
            .with_unknown_state_filters(unknown)
            .with_transaction_states(states);
        Some(ResponseKind::ListTransactions(response))
    })
}
