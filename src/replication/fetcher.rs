//! A follower's fetching (Kafka's replica fetcher threads): one task per leader broker
//! fetches every partition this broker follows there with Kafka's own Fetch (`replica_id`
//! set, v12 so the leader can name where the logs diverged), appends the leader's batches
//! unchanged, truncates on divergence (KIP-320) and takes the leader's high watermark.
//! Throttled partitions this replica is out of sync in are left out of its fetches while the
//! follower throttle's rate is exceeded.
//!
//! With `flush.on.ack`, a follower makes what it appended durable before its next fetch
//! reports its log end: the leader's high watermark, and with it every acks=all
//! acknowledgement, then covers only what each in-sync replica keeps through a power cut
//! (Kafka's followers do not fsync; a replica that lost its tail could be elected and lose
//! acknowledged records). A partition whose fsync failed is offline and fetched no more.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::future::join_all;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument;

use crate::log::{LogError, Partition};
use crate::peers::{Peer, PeerError, PeerSecurity};
use crate::records::{batch_size, BatchView};
use crate::replication::throttle::{ReplicationThrottles, Throttled};

/// Fetch v12: flexible, with `last_fetched_epoch` and the diverging epoch (KIP-320), topics
/// by name.
const FETCH_VERSION: i16 = 12;
/// How long the leader holds a fetch with nothing new (Kafka's `replica.fetch.wait.max.ms`).
const FETCH_WAIT_MAX_MS: i32 = 500;
/// Bytes per fetch and per partition (Kafka's `replica.fetch.response.max.bytes` and
/// `replica.fetch.max.bytes`).
const FETCH_RESPONSE_MAX_BYTES: i32 = 10 * 1024 * 1024;
const PARTITION_FETCH_MAX_BYTES: i32 = 1024 * 1024;
/// Pause after a failed fetch (Kafka's `replica.fetch.backoff.ms`).
const FETCH_BACKOFF: Duration = Duration::from_secs(1);

/// A partition this broker follows, at its leader's epoch.
#[derive(Debug, Clone)]
pub struct Followed {
    pub log: Arc<Partition>,
    pub leader_epoch: i32,
}

type FollowedSet = BTreeMap<(String, i32), Followed>;

/// How to reach a leader broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderAddress {
    pub node_id: i32,
    pub host: String,
    pub port: u16,
}

/// Told of a leader whose address refused a fetch connection (nothing listens there): the
/// cluster may end that broker's session at once instead of waiting for it to time out.
pub type LeaderNotListening = Arc<dyn Fn(&LeaderAddress) + Send + Sync>;

/// The fetch task of one leader and the partitions it fetches.
#[derive(Debug)]
struct LeaderFetcher {
    address: LeaderAddress,
    partitions: watch::Sender<FollowedSet>,
}

/// The partitions this broker follows, grouped by leader, each leader fetched by one task
/// (which ends when its leader has nothing left for it).
pub struct Fetchers {
    node_id: i32,
    by_leader: Mutex<HashMap<i32, LeaderFetcher>>,
    throttles: Arc<ReplicationThrottles>,
    security: Arc<PeerSecurity>,
    not_listening: LeaderNotListening,
    /// `flush.on.ack`: appends are made durable before the next fetch.
    flush_on_ack: bool,
}

impl std::fmt::Debug for Fetchers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetchers")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl Fetchers {
    pub fn new(
        node_id: i32,
        throttles: Arc<ReplicationThrottles>,
        security: Arc<PeerSecurity>,
        not_listening: LeaderNotListening,
        flush_on_ack: bool,
    ) -> Self {
        Self {
            node_id,
            by_leader: Mutex::default(),
            throttles,
            security,
            not_listening,
            flush_on_ack,
        }
    }

    fn by_leader(&self) -> MutexGuard<'_, HashMap<i32, LeaderFetcher>> {
        self.by_leader
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Follows `followed` from `leader` (and from no other leader).
    pub fn follow(&self, leader: LeaderAddress, followed: Followed) {
        let key = (followed.log.topic().to_owned(), followed.log.index());
        let mut by_leader = self.by_leader();
        for (node_id, fetcher) in by_leader.iter() {
            if *node_id != leader.node_id {
                fetcher
                    .partitions
                    .send_if_modified(|set| set.remove(&key).is_some());
            }
        }
        let fetcher = by_leader
            .entry(leader.node_id)
            .or_insert_with(|| self.start(leader.clone()));
        if fetcher.address != leader {
            // The leader moved (restarted elsewhere): its partitions go with the new task.
            let carried = fetcher.partitions.borrow().clone();
            *fetcher = self.start(leader);
            fetcher.partitions.send_replace(carried);
        }
        fetcher.partitions.send_modify(|set| {
            set.insert(key, followed);
        });
        by_leader.retain(|_, fetcher| !fetcher.partitions.borrow().is_empty());
    }

    /// Stops following a partition (this broker leads it now, or holds it no more).
    pub fn unfollow(&self, topic: &str, partition: i32) {
        let key = (topic.to_owned(), partition);
        let mut by_leader = self.by_leader();
        for fetcher in by_leader.values() {
            fetcher
                .partitions
                .send_if_modified(|set| set.remove(&key).is_some());
        }
        by_leader.retain(|_, fetcher| !fetcher.partitions.borrow().is_empty());
    }

    /// A new task fetching from `leader`; it ends when its sender is dropped.
    fn start(&self, leader: LeaderAddress) -> LeaderFetcher {
        let (partitions, followed) = watch::channel(FollowedSet::new());
        let security = Arc::clone(&self.security);
        let peer = Peer::new(leader.node_id, &leader.host, leader.port, security);
        let node_id = self.node_id;
        let leader_id = leader.node_id;
        let throttles = Arc::clone(&self.throttles);
        let not_listening = Arc::clone(&self.not_listening);
        let gone = leader.clone();
        let flush_on_ack = self.flush_on_ack;
        tokio::spawn(
            fetch_loop(
                node_id,
                peer,
                followed,
                throttles,
                flush_on_ack,
                move || not_listening(&gone),
            )
            .instrument(tracing::info_span!("replica_fetcher", leader = leader_id)),
        );
        LeaderFetcher {
            address: leader,
            partitions,
        }
    }
}

async fn fetch_loop(
    node_id: i32,
    peer: Peer,
    mut followed: watch::Receiver<FollowedSet>,
    throttles: Arc<ReplicationThrottles>,
    flush_on_ack: bool,
    leader_not_listening: impl Fn(),
) {
    let throttle = &throttles.follower;
    // Partitions whose last answer could not be applied rest until then (Kafka delays
    // only the failed partitions; the others keep replicating).
    let mut resting: HashMap<(String, i32), Instant> = HashMap::new();
    loop {
        let all = followed.borrow_and_update().clone();
        let now = Instant::now();
        resting.retain(|key, until| *until > now && all.contains_key(key));
        let mut held_back = false;
        let partitions: FollowedSet = all
            .into_iter()
            .filter(|(key, followed)| !resting.contains_key(key) && !followed.log.is_offline())
            .filter(|((topic, index), _)| {
                let hold = throttle.holds_back(throttle.of(topic, *index, node_id));
                held_back |= hold;
                !hold
            })
            .collect();
        if partitions.is_empty() {
            // Kafka's fetcher waits `replica.fetch.backoff.ms` when the throttle leaves it
            // nothing to fetch.
            let throttled = held_back.then(|| now + FETCH_BACKOFF);
            let wake = resting.values().copied().chain(throttled).min();
            tokio::select! {
                changed = followed.changed() => if changed.is_err() { return },
                () = sleep_until(wake) => {}
            }
            continue;
        }
        let request = fetch_request(node_id, &partitions);
        match peer.call(FETCH_VERSION, &request).await {
            Ok(response) if response.error_code != 0 => {
                tracing::debug!(error_code = response.error_code, "replica fetch refused");
                tokio::time::sleep(FETCH_BACKOFF).await;
            }
            Ok(response) => {
                for topic in &response.responses {
                    for data in &topic.partitions {
                        let key = (topic.topic.to_string(), data.partition_index);
                        let Some(followed) = partitions.get(&key) else {
                            continue;
                        };
                        let applied = apply(followed, data);
                        if throttle.of(&key.0, key.1, node_id) != Throttled::No {
                            let bytes = data.records.as_ref().map_or(0, |records| records.len());
                            throttle.record(bytes as u64);
                        }
                        let Err(error) = applied else {
                            continue;
                        };
                        if error.roles_changing() {
                            tracing::debug!(topic = %key.0, partition = key.1, %error, "replica fetch refused");
                        } else {
                            tracing::warn!(topic = %key.0, partition = key.1, %error, "replica fetch not applied");
                        }
                        resting.insert(key, Instant::now() + FETCH_BACKOFF);
                    }
                }
                if flush_on_ack {
                    flush_appends(&partitions).await;
                }
            }
            Err(error) => {
                tracing::debug!(%error, "replica fetch failed");
                if let PeerError::NotListening { .. } = error {
                    leader_not_listening();
                }
                tokio::time::sleep(FETCH_BACKOFF).await;
            }
        }
        if followed.has_changed().is_err() {
            return;
        }
    }
}

/// Makes every partition's log durable to its end, before the next fetch reports that end.
/// A partition whose fsync fails goes offline (and out of the next fetches).
async fn flush_appends(partitions: &FollowedSet) {
    let flushes = partitions
        .iter()
        .map(|((topic, partition), followed)| async move {
            let log = &followed.log;
            if let Err(error) = log.flush(log.log_end_offset()).await {
                tracing::error!(topic, partition, %error, "replica flush failed");
            }
        });
    join_all(flushes).await;
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// A Fetch from replica `node_id` for each followed partition from its log end.
fn fetch_request(node_id: i32, partitions: &FollowedSet) -> FetchRequest {
    let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
    for ((topic, index), followed) in partitions {
        let log = &followed.log;
        topics.entry(topic).or_default().push(
            FetchPartition::default()
                .with_partition(*index)
                .with_current_leader_epoch(followed.leader_epoch)
                .with_fetch_offset(log.log_end_offset())
                .with_last_fetched_epoch(log.leader_epoch())
                .with_log_start_offset(log.log_start_offset())
                .with_partition_max_bytes(PARTITION_FETCH_MAX_BYTES),
        );
    }
    FetchRequest::default()
        .with_replica_id(BrokerId(node_id))
        .with_max_wait_ms(FETCH_WAIT_MAX_MS)
        .with_min_bytes(1)
        .with_max_bytes(FETCH_RESPONSE_MAX_BYTES)
        .with_session_epoch(-1)
        .with_topics(
            topics
                .into_iter()
                .map(|(topic, partitions)| {
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
                        .with_partitions(partitions)
                })
                .collect(),
        )
}

/// Why a fetched partition could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the leader answered {0:?}")]
    Leader(ResponseError),
    #[error("the leader answered error code {0}")]
    UnknownCode(i16),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("malformed batch from the leader: {0}")]
    Batch(#[from] crate::records::BatchError),
}

impl ApplyError {
    /// The leader or this replica has moved on: the next cluster image says who leads.
    pub fn roles_changing(&self) -> bool {
        matches!(
            self,
            Self::Leader(_) | Self::Log(LogError::NotFollowing { .. })
        )
    }
}

/// Applies one partition's answer from its leader to the follower's log: truncation where
/// the logs diverged, else the batches, then the leader's high watermark and log start.
pub fn apply(followed: &Followed, data: &PartitionData) -> Result<(), ApplyError> {
    let log = &followed.log;
    match data.error_code {
        0 => {}
        code if code == ResponseError::OffsetOutOfRange.code() => {
            return realign(followed, data.log_start_offset, data.high_watermark);
        }
        code => {
            return Err(ResponseError::try_from_code(code)
                .map_or(ApplyError::UnknownCode(code), ApplyError::Leader))
        }
    }
    let diverging = &data.diverging_epoch;
    if diverging.epoch >= 0 || diverging.end_offset >= 0 {
        let truncate_to = if diverging.epoch < 0 {
            log.high_watermark()
        } else {
            let (_, own_end) = log.end_offset_for_epoch(diverging.epoch);
            own_end.min(diverging.end_offset)
        };
        let end = log.truncate_to(truncate_to, followed.leader_epoch)?;
        tracing::info!(
            topic = log.topic(),
            partition = log.index(),
            end,
            "truncated to the leader's log"
        );
        return Ok(());
    }
    let mut rest: &[u8] = data.records.as_deref().unwrap_or_default();
    while !rest.is_empty() {
        let size = batch_size(rest)?;
        if size > rest.len() {
            // A leader sends whole batches; a partial one at the end is fetched again.
            break;
        }
        let batch = BatchView::parse(&rest[..size])?;
        let end = log.log_end_offset();
        if log.log_start_offset() == end && batch.base_offset() < end {
            // An empty log started at the leader's log start, which is inside this batch:
            // it starts again at the batch (its log start then moves up to the leader's).
            log.restart_at(batch.base_offset(), followed.leader_epoch)?;
        }
        log.append_replicated(&batch, followed.leader_epoch)?;
        crate::metrics::global().replication_bytes_in(size);
        rest = &rest[size..];
    }
    // Never back (Kafka's follower takes a lower one too): a leader just elected or
    // restarted may not know yet how far its followers hold, but what this replica was
    // told is committed stays committed.
    if data.high_watermark > log.high_watermark() {
        log.set_high_watermark(data.high_watermark);
    }
    // The leader's log start moved (DeleteRecords, retention): so does this one, as far as
    // the high watermark (Kafka's follower does the same).
    let leader_start = data.log_start_offset.min(log.high_watermark());
    if leader_start > log.log_start_offset() {
        log.delete_records_before(leader_start)?;
    }
    Ok(())
}

/// The leader has no records at this replica's log end (Kafka's handling of
/// OFFSET_OUT_OF_RANGE for a follower): past the leader's log end (`leader_end`, which a
/// leader answers a replica as its high watermark), the log is truncated there; below the
/// leader's log start (retention or DeleteRecords removed what follows), it starts again
/// empty at the leader's log start.
fn realign(followed: &Followed, leader_start: i64, leader_end: i64) -> Result<(), ApplyError> {
    let log = &followed.log;
    let end = log.log_end_offset();
    if leader_end >= 0 && end > leader_end {
        log.truncate_to(leader_end, followed.leader_epoch)?;
    } else if end < leader_start {
        log.restart_at(leader_start, followed.leader_epoch)?;
    } else {
        return Err(ApplyError::Leader(ResponseError::OffsetOutOfRange));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::log::partition::testing;

    fn followed_keys(fetchers: &Fetchers) -> BTreeMap<i32, Vec<(String, i32)>> {
        fetchers
            .by_leader()
            .iter()
            .map(|(leader, fetcher)| {
                (
                    *leader,
                    fetcher.partitions.borrow().keys().cloned().collect(),
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn each_partition_is_fetched_from_its_one_leader() {
        let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        let logs: Vec<Arc<Partition>> = (0..2)
            .map(|index| {
                let log = Partition::open(
                    "t",
                    index,
                    dirs[index as usize].path(),
                    Arc::new(testing::test_config()),
                    false,
                    Arc::new(ManualClock::new(0)),
                );
                Arc::new(log.unwrap())
            })
            .collect();
        let followed = |index: usize| Followed {
            log: Arc::clone(&logs[index]),
            leader_epoch: 0,
        };
        // Nobody listens on ports 1 and 2: the tasks only back off.
        let at = |node_id: i32, port: u16| LeaderAddress {
            node_id,
            host: "127.0.0.1".into(),
            port,
        };
        let key = |partition: i32| ("t".to_owned(), partition);
        let fetchers = Fetchers::new(
            3,
            Arc::default(),
            Arc::default(),
            Arc::new(|_: &LeaderAddress| {}),
            true,
        );
        fetchers.follow(at(1, 1), followed(0));
        fetchers.follow(at(1, 1), followed(1));
        assert_eq!(
            followed_keys(&fetchers),
            BTreeMap::from([(1, vec![key(0), key(1)])])
        );
        // Leader 1 restarted on another port: what it had goes with the new task.
        fetchers.follow(at(1, 2), followed(1));
        assert_eq!(fetchers.by_leader()[&1].address, at(1, 2));
        assert_eq!(
            followed_keys(&fetchers),
            BTreeMap::from([(1, vec![key(0), key(1)])])
        );
        // Another leader for a partition: it moves there.
        fetchers.follow(at(2, 1), followed(0));
        assert_eq!(
            followed_keys(&fetchers),
            BTreeMap::from([(1, vec![key(1)]), (2, vec![key(0)])])
        );
        fetchers.unfollow("t", 0);
        assert_eq!(
            followed_keys(&fetchers),
            BTreeMap::from([(1, vec![key(1)])])
        );
        fetchers.unfollow("t", 1);
        assert!(followed_keys(&fetchers).is_empty());
    }
}
