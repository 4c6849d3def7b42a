//! EndTxn (key 26): commit or abort the producer's transaction (markers written into every
//! partition before the answer).

use std::sync::Arc;

use kafka_protocol::messages::{ApiKey, EndTxnRequest, EndTxnResponse, ResponseKind};
use kafka_protocol::protocol::VersionRange;

use super::{txn_error, Pending, SupportedApi};
use crate::broker::{Access, Broker};

/// v5 (KIP-890 transactions v2, epoch bump per transaction) is not implemented.
pub const API: SupportedApi = SupportedApi {
    key: ApiKey::EndTxn,
    versions: VersionRange { min: 0, max: 4 },
};

pub fn handle(broker: &Arc<Broker>, access: &Access, request: EndTxnRequest) -> Pending {
    let refused = txn_error(broker, access, &request.transactional_id);
    let broker = Arc::clone(broker);
    Box::pin(async move {
        if let Some(error) = refused {
            let response = EndTxnResponse::default().with_error_code(error.code());
            return Some(ResponseKind::EndTxn(response));
        }
        let ended = broker
            .txns
            .end_txn(
                &request.transactional_id,
                request.producer_id.0,
                request.producer_epoch,
                request.committed,
                &broker.groups,
            )
            .await;
        Some(ResponseKind::EndTxn(
            EndTxnResponse::default().with_error_code(ended.err().map_or(0, |e| e.code())),
        ))
    })
}
