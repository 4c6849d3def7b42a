//! What this broker does for each replica it holds, as each applied cluster image says: a
//! leader with followers keeps their log ends and moves the high watermark by them; a leader
//! alone moves it with its log end; a follower fetches from its leader and takes the
//! leader's high watermark. A timer proposes the ISR changes a leader sees (followers that
//! fell behind for `replica.lag.time.max.ms` leave, those that caught up rejoin), by
//! compare-and-swap in the cluster store. Another reports the replicas whose log went
//! offline (a failed fsync) in the broker's registration, so the controller moves their
//! leadership.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::Broker;
use crate::cluster::local_replicas::{local_changes, local_replicas, Role};
use crate::cluster::ClusterImage;
use crate::group::OFFSETS_TOPIC;
use crate::log::Partition;
use crate::replication::{Followed, LeaderAddress, REPLICA_LAG_TIME_MAX_MS};
use crate::txn::TRANSACTION_TOPIC;

/// How often a leader looks for ISR changes: a follower that caught up rejoins within it
/// (Kafka adds it on the fetch itself; shrinking waits for the lag window either way).
const ISR_CHECK_INTERVAL: Duration = Duration::from_secs(1);

impl Broker {
    /// Takes up the roles that changed from `before` to `after` (their logs are open), and
    /// the ISR of every partition this broker leads.
    pub(super) fn apply_roles(self: &Arc<Self>, before: &ClusterImage, after: &ClusterImage) {
        let Some(node) = &self.cluster else {
            return;
        };
        let node_id = self.config.node_id;
        let changes = local_changes(before, after, node_id);
        for replica in &changes.removed {
            self.replication.resign(&replica.topic, replica.partition);
            node.fetchers.unfollow(&replica.topic, replica.partition);
            self.move_coordinator(&replica.topic, replica.partition, false);
        }
        let now_ms = self.clock.now_ms();
        for replica in &changes.changed {
            let (topic, partition) = (&replica.topic, replica.partition);
            let Some(log) = self.logs.partition(topic, partition) else {
                continue;
            };
            match replica.role {
                Role::Leader { .. } => {
                    node.fetchers.unfollow(topic, partition);
                    self.lead(log, after, now_ms, true);
                    self.move_coordinator(topic, partition, true);
                }
                Role::Follower {
                    leader,
                    leader_epoch,
                } => {
                    self.replication.resign(topic, partition);
                    log.follow();
                    self.move_coordinator(topic, partition, false);
                    match after.brokers.get(&leader) {
                        Some(registration) => node.fetchers.follow(
                            LeaderAddress {
                                node_id: leader,
                                host: registration.host.clone(),
                                port: registration.port,
                            },
                            Followed { log, leader_epoch },
                        ),
                        None => node.fetchers.unfollow(topic, partition),
                    }
                }
            }
        }
        // The ISR (and, while a reassignment runs, the replicas) of the partitions led at
        // the same epoch may have changed too.
        for replica in local_replicas(after, node_id).values() {
            if let Role::Leader { .. } = replica.role {
                if let Some(log) = self.logs.partition(&replica.topic, replica.partition) {
                    self.lead(log, after, now_ms, false);
                }
            }
        }
        self.apply_throttles(after);
    }

    /// Leads `log` with the replicas and ISR `image` lists: with followers — `afresh` at a
    /// new leader epoch, else keeping what their fetches showed —, or alone (the high
    /// watermark follows the log end) if it has none.
    fn lead(&self, log: Arc<Partition>, image: &ClusterImage, now_ms: i64, afresh: bool) {
        let (topic, partition) = (log.topic().to_owned(), log.index());
        let replicas = image.replicas(&topic, partition).unwrap_or_default();
        let isr = isr_of(image, &topic, partition);
        if replicas.len() <= 1 {
            self.resign(&topic, partition, &log);
        } else if afresh
            || !self
                .replication
                .set_replicas(&topic, partition, replicas, &isr)
        {
            let node_id = self.config.node_id;
            self.replication.lead(log, node_id, replicas, &isr, now_ms);
        }
    }

    /// No longer leads `log` with followers.
    fn resign(&self, topic: &str, partition: i32, log: &Partition) {
        self.replication.resign(topic, partition);
        log.set_replicated(false);
    }

    /// A coordinator moves with the leader of its internal-topic partition: the groups or
    /// transactional ids of `partition` are loaded here when this broker leads it
    /// (`leads`), let go of otherwise. Transaction state waits for the operations under way,
    /// so it changes in a task of its own.
    fn move_coordinator(self: &Arc<Self>, topic: &str, partition: i32, leads: bool) {
        if topic == OFFSETS_TOPIC {
            if !leads {
                self.groups.unload(partition);
            } else if let Err(error) = self.groups.load(partition) {
                tracing::error!(partition, %error, "cannot load {OFFSETS_TOPIC}");
            }
        } else if topic == TRANSACTION_TOPIC {
            let change = if leads {
                self.txns.load(partition)
            } else {
                self.txns.unload(partition)
            };
            let broker = Arc::clone(self);
            tokio::spawn(async move { broker.txns.apply(change, &broker.groups).await });
        }
    }

    /// Proposes the ISR changes this broker's led partitions need, every
    /// [`ISR_CHECK_INTERVAL`], until the broker stops.
    pub async fn run_isr_checks(self: Arc<Self>) {
        let Some(node) = &self.cluster else {
            return;
        };
        let mut interval = tokio::time::interval(ISR_CHECK_INTERVAL);
        loop {
            interval.tick().await;
            let now_ms = self.clock.now_ms();
            for change in self
                .replication
                .isr_changes(now_ms, REPLICA_LAG_TIME_MAX_MS)
            {
                let altered = node
                    .membership()
                    .alter_isr(&change.topic, change.partition, change.isr.clone())
                    .await;
                match altered {
                    Ok(partition) => {
                        tracing::info!(topic = %change.topic, partition = change.partition, isr = ?partition.state.isr, "ISR changed");
                        self.replication.set_isr(
                            &change.topic,
                            change.partition,
                            &partition.state.isr,
                        );
                    }
                    // The image is behind the store: the next check sees the newer state.
                    Err(error) => {
                        tracing::debug!(topic = %change.topic, partition = change.partition, %error, "ISR change refused")
                    }
                }
            }
        }
    }
}

impl Broker {
    /// Reports the partitions whose log this broker can no longer write (an fsync failed)
    /// every [`ISR_CHECK_INTERVAL`], until the broker stops: the controller then moves
    /// their leadership and drops them from their ISRs, as Kafka's does for a failed log
    /// directory (KIP-858). They stay offline until a restart.
    pub async fn run_offline_reports(self: Arc<Self>) {
        let Some(node) = &self.cluster else {
            return;
        };
        let mut interval = tokio::time::interval(ISR_CHECK_INTERVAL);
        loop {
            interval.tick().await;
            let image = node.image();
            let mut offline: Vec<(Uuid, i32)> = self
                .logs
                .partitions()
                .iter()
                .filter(|log| log.is_offline())
                .filter_map(|log| Some((image.topics.get(log.topic())?.id, log.index())))
                .collect();
            offline.sort_unstable();
            match node.membership().report_offline(&offline).await {
                Ok(true) => tracing::warn!(?offline, "reported partitions offline"),
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "cannot report offline partitions; retrying"),
            }
        }
    }
}

/// The committed ISR of a partition in `image` (empty while it has no state).
fn isr_of(image: &ClusterImage, topic: &str, partition: i32) -> Vec<i32> {
    image
        .topics
        .get(topic)
        .and_then(|record| image.partition(record, partition))
        .map(|current| current.state.isr.clone())
        .unwrap_or_default()
}
