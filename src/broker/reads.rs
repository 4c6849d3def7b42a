//! Where consumers read (KIP-392): the leader serves every fetch unless
//! `replica.selector.class` sends a consumer that names its rack to a replica there; a
//! follower then serves that consumer's fetches from its own log, up to the high watermark
//! its leader last gave it.

use std::sync::Arc;

use super::{Broker, NotServed};
use crate::config::ReplicaSelector;
use crate::log::Partition;
use crate::replication::read_replica::preferred_read_replica;
use crate::replication::ReplicaView;

/// A log a consumer's fetch may read.
pub struct ConsumerLog {
    pub log: Arc<Partition>,
    /// When this broker is a follower of the partition: the leader epoch its image gives,
    /// which the consumer's `current_leader_epoch` is checked against (a leader's log
    /// knows its own).
    pub follower_epoch: Option<i32>,
}

impl Broker {
    /// The log a consumer's fetch reads here: this broker's if it leads the partition or,
    /// in a cluster, if it is one of its replicas.
    pub fn consumer_log(&self, topic: &str, partition: i32) -> Result<ConsumerLog, NotServed> {
        let not_served = match self.leader_log(topic, partition) {
            Ok(log) => {
                return Ok(ConsumerLog {
                    log,
                    follower_epoch: None,
                })
            }
            Err(not_served) => not_served,
        };
        let (Some(node), NotServed::NotLeader { leader_epoch, .. }) = (&self.cluster, not_served)
        else {
            return Err(not_served);
        };
        let replicates = node
            .image()
            .replicas(topic, partition)
            .is_some_and(|replicas| replicas.contains(&self.config.node_id));
        match self.partition(topic, partition) {
            Some(log) if replicates && node.membership().is_registered() => Ok(ConsumerLog {
                log,
                follower_epoch: Some(leader_epoch),
            }),
            _ => Err(not_served),
        }
    }

    /// The replica this leader sends a consumer in `client_rack` fetching `offset` of `log`
    /// to, if it is not this broker (always `None` without `replica.selector.class`).
    pub fn preferred_read_replica(
        &self,
        log: &Partition,
        client_rack: &str,
        offset: i64,
    ) -> Option<i32> {
        let node = self.cluster.as_ref()?;
        if self.config.cluster.replica_selector != ReplicaSelector::RackAware {
            return None;
        }
        let image = node.image();
        let rack_of = |id: i32| image.brokers.get(&id).and_then(|b| b.rack.as_deref());
        let followers = self.replication.readable_followers(
            log.topic(),
            log.index(),
            offset,
            self.clock.now_ms(),
        );
        let followers: Vec<ReplicaView<'_>> = followers
            .into_iter()
            .map(|follower| ReplicaView {
                rack: rack_of(follower.id),
                ..follower
            })
            .collect();
        let leader = ReplicaView {
            id: self.config.node_id,
            rack: self.config.cluster.rack.as_deref(),
            log_end_offset: log.log_end_offset(),
            since_caught_up_ms: 0,
        };
        preferred_read_replica(client_rack, leader, &followers)
    }
}
