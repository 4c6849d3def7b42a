//! Transaction markers for partitions other brokers lead: WriteTxnMarkers to each leader of
//! the latest cluster image (what Kafka's transaction marker channel does), retried until
//! every partition has its marker or its topic is gone, within a bound.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{ProducerId, TopicName, WriteTxnMarkersRequest};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::cluster::{ClusterImage, NO_LEADER};
use crate::peers::Peers;
use crate::txn::coordinator::MarkersWritten;
use crate::txn::{Marker, PartitionLeaders};

/// How long a transaction's end waits for its markers before the coordinator's timer takes
/// over (the transaction stays decided: PrepareCommit or PrepareAbort).
const MARKERS_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between rounds while some leader cannot be reached or is not known yet.
const RETRY_BACKOFF: Duration = Duration::from_millis(100);
/// The WriteTxnMarkers version brokers send (the only one Kafka 4 keeps).
const WRITE_TXN_MARKERS_VERSION: i16 = 1;

/// Partition leaders: whether this broker leads one, as its applied cluster image says
/// (its log is open), and who leads the others, as the latest image says — never older
/// than what the transaction saw when it took the partition in, so a partition missing
/// from it is one whose topic was deleted.
#[derive(Debug)]
pub struct ClusterLeaders {
    node_id: i32,
    applied: watch::Receiver<Arc<ClusterImage>>,
    latest: watch::Receiver<Arc<ClusterImage>>,
    peers: Arc<Peers>,
}

impl ClusterLeaders {
    pub fn new(
        node_id: i32,
        applied: watch::Receiver<Arc<ClusterImage>>,
        latest: watch::Receiver<Arc<ClusterImage>>,
        peers: Arc<Peers>,
    ) -> Self {
        Self {
            node_id,
            applied,
            latest,
            peers,
        }
    }
}

fn request(marker: Marker, partitions: &[(String, i32)]) -> WriteTxnMarkersRequest {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in partitions {
        topics.entry(topic).or_default().push(*partition);
    }
    let topics = topics
        .into_iter()
        .map(|(topic, partitions)| {
            WritableTxnMarkerTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partition_indexes(partitions)
        })
        .collect();
    WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
        .with_producer_id(ProducerId(marker.producer_id))
        .with_producer_epoch(marker.producer_epoch)
        .with_transaction_result(marker.commit)
        .with_topics(topics)])
}

impl PartitionLeaders for ClusterLeaders {
    fn leads_here(&self, topic: &str, partition: i32) -> bool {
        self.applied.borrow().leader(topic, partition) == Some(self.node_id)
    }

    fn write_markers(&self, marker: Marker, partitions: Vec<(String, i32)>) -> MarkersWritten<'_> {
        Box::pin(async move {
            let deadline = Instant::now() + MARKERS_TIMEOUT;
            let mut pending = partitions;
            loop {
                let image = Arc::clone(&self.latest.borrow());
                let mut by_leader: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
                // A deleted partition needs no marker; one without a leader waits for one.
                pending.retain(|(topic, partition)| match image.leader(topic, *partition) {
                    None => false,
                    Some(NO_LEADER) => true,
                    Some(leader) => {
                        let partitions = by_leader.entry(leader).or_default();
                        partitions.push((topic.clone(), *partition));
                        true
                    }
                });
                let mut written = BTreeSet::new();
                for (leader, partitions) in by_leader {
                    let Some(broker) = image.brokers.get(&leader) else {
                        continue;
                    };
                    let peer = self.peers.peer(leader, &broker.host, broker.port);
                    match peer
                        .call(WRITE_TXN_MARKERS_VERSION, &request(marker, &partitions))
                        .await
                    {
                        Ok(response) => {
                            for topic in response.markers.iter().flat_map(|m| &m.topics) {
                                for result in &topic.partitions {
                                    if result.error_code == 0 {
                                        written.insert((
                                            topic.name.to_string(),
                                            result.partition_index,
                                        ));
                                    }
                                }
                            }
                        }
                        Err(error) => tracing::warn!(%error, "cannot send transaction markers"),
                    }
                }
                pending.retain(|partition| !written.contains(partition));
                if pending.is_empty() {
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    tracing::warn!(
                        ?pending,
                        producer_id = marker.producer_id,
                        "transaction markers not written yet"
                    );
                    return Err(ResponseError::RequestTimedOut);
                }
                tokio::time::sleep(RETRY_BACKOFF).await;
            }
        })
    }
}
