//! Fetch (key 1): sessionless reads of whole batches, honouring `max_bytes`,
//! `partition_max_bytes` and KIP-74, with long polling that wakes as soon as a produce makes
//! `min_bytes` available.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::select_all;
use kafka_protocol::messages::fetch_request::FetchTopic;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint,
    PartitionData,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use super::errors;
use super::{check_leader_epoch, SupportedApi};
use crate::acl::{Operation, Resource};
use crate::broker::{
    Access, Broker, FetchMeasure, FollowerFetch, FollowerPosition, Throttle, Throttled,
};
use crate::file_slice::FileSlice;
use crate::log::{Isolation, LogError, Partition};
use crate::protocol::{throttle_time_ms, RequestContext};

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::Fetch,
    versions: VersionRange { min: 4, max: 18 },
};

/// Fetch v13 addresses topics by id (KIP-516).
const TOPIC_ID_VERSION: i16 = 13;
/// Longest long poll the broker honours, whatever the client asks.
const MAX_WAIT_CAP: Duration = Duration::from_secs(60);
const READ_COMMITTED: i8 = 1;
/// A partition led elsewhere names its leader from v12, and the response how to reach it
/// from v16 (KIP-951).
const LEADER_HINT_VERSION: i16 = 12;
const NODE_ENDPOINTS_VERSION: i16 = 16;
/// Where the fetching replica's id is (KIP-903).
const REPLICA_STATE_VERSION: i16 = 15;
/// From v11 a consumer names its rack and may read from a follower (KIP-392).
const CLOSEST_REPLICA_VERSION: i16 = 11;

/// A Fetch response and, for each partition in response order, the segment-file range that
/// holds its records (`None`: the partition's `records` field says it all).
pub struct Answer {
    pub response: FetchResponse,
    pub records: Vec<Option<FileSlice>>,
    /// What the answer counts against its consumer's byte rate, if a quota applies.
    counted: Option<FetchMeasure>,
}

impl Answer {
    fn new(response: FetchResponse, records: Vec<Option<FileSlice>>) -> Self {
        Self {
            response,
            records,
            counted: None,
        }
    }
}

/// One requested partition, resolved.
struct Target {
    index: i32,
    fetch_offset: i64,
    partition_max_bytes: i32,
    current_leader_epoch: i32,
    log: Result<Arc<Partition>, Refusal>,
    /// When a follower serves a consumer: the leader epoch its image gives (a leader's is
    /// its log's, read anew with every read of a long poll).
    follower_epoch: Option<i32>,
    /// The replica the consumer should read from instead (KIP-392); nothing is read then.
    preferred_read_replica: Option<i32>,
    /// For a follower whose log diverged from this leader's: the epoch and end offset it
    /// must truncate to (KIP-320); nothing is read then.
    diverging: Option<(i32, i64)>,
    /// The epoch of the last batch a follower holds (v12+; -1 when not given).
    last_fetched_epoch: i32,
    /// A follower's log start (-1 from consumers).
    log_start_offset: i64,
    /// For a follower: whether the leader's replication throttle covers the partition.
    throttled: Throttled,
}

/// Who fetches: a follower, or a consumer, which from v11 may read from any replica and
/// names its rack (KIP-392).
#[derive(Clone, Copy)]
enum Fetcher<'a> {
    Follower(i32),
    Consumer { rack: Option<&'a str> },
}

/// Why a partition is not read: the error, and the current leader and its epoch when
/// another broker leads (KIP-951).
type Refusal = (ResponseError, Option<(i32, i32)>);

struct TopicTargets {
    name: TopicName,
    topic_id: Uuid,
    partitions: Vec<Target>,
}

/// The leader hints give the endpoints of the listener the request came in on.
pub async fn handle(
    broker: Arc<Broker>,
    access: Access,
    context: RequestContext,
    request: FetchRequest,
) -> Answer {
    let version = context.api_version;
    if let Some(error) = session_error(version, request.session_id, request.session_epoch) {
        return Answer::new(
            FetchResponse::default().with_error_code(error.code()),
            Vec::new(),
        );
    }
    let fetcher = match replica_id(version, &request) {
        replica if replica >= 0 => Fetcher::Follower(replica),
        _ => Fetcher::Consumer {
            rack: (version >= CLOSEST_REPLICA_VERSION).then_some(request.rack_id.as_str()),
        },
    };
    let mut topics = resolve(&broker, &access, version, fetcher, request.topics);
    if let Fetcher::Follower(replica) = fetcher {
        follower_fetched(&broker, replica, &mut topics);
    }
    let isolation = match fetcher {
        Fetcher::Follower(_) => Isolation::LogEnd,
        Fetcher::Consumer { .. } if request.isolation_level == READ_COMMITTED => {
            Isolation::ReadCommitted
        }
        Fetcher::Consumer { .. } => Isolation::ReadUncommitted,
    };
    // A consumer with a byte-rate quota fetches at most what its quota allows in a window.
    let quota_bytes = match fetcher {
        Fetcher::Consumer { .. } => broker.fetch_bytes_allowed(
            &context.principal,
            context.client_id.as_deref().unwrap_or_default(),
        ),
        Fetcher::Follower(_) => None,
    };
    let max_bytes = (request.max_bytes.max(0) as usize).min(quota_bytes.unwrap_or(usize::MAX));
    let min_bytes = (request.min_bytes.max(0) as usize).min(max_bytes);
    let wait = Duration::from_millis(request.max_wait_ms.max(0) as u64).min(MAX_WAIT_CAP);
    let deadline = Instant::now() + wait;
    let throttle = match fetcher {
        Fetcher::Follower(_) => broker.leader_throttle(),
        Fetcher::Consumer { .. } => None,
    };

    // Subscribe before the first read, so an append between the read and the wait is seen.
    let mut watchers: Vec<watch::Receiver<i64>> = topics
        .iter()
        .flat_map(|topic| topic.partitions.iter())
        .filter_map(|target| target.log.as_ref().ok().map(|log| log.subscribe()))
        .collect();
    loop {
        let (answer, bytes, urgent) = read_all(&topics, version, max_bytes, isolation, throttle);
        if bytes >= min_bytes || urgent || watchers.is_empty() || Instant::now() >= deadline {
            return finish(&broker, &context, throttle, fetcher, &topics, answer, bytes).await;
        }
        let changed = select_all(
            watchers
                .iter_mut()
                .map(|watcher| Box::pin(watcher.changed())),
        );
        match tokio::time::timeout_at(deadline, changed).await {
            Ok((Ok(()), _, _)) => continue,
            // A partition was deleted (its sender dropped) or the wait timed out: answer now.
            Ok((Err(_), _, _)) | Err(_) => {
                let (answer, bytes, _) = read_all(&topics, version, max_bytes, isolation, throttle);
                return finish(&broker, &context, throttle, fetcher, &topics, answer, bytes).await;
            }
        }
    }
}

/// The answer as it is sent: with the leaders' endpoints, a consumer's held to its quota,
/// its bytes counted, its records loaded.
async fn finish(
    broker: &Broker,
    context: &RequestContext,
    throttle: Option<&Throttle>,
    fetcher: Fetcher<'_>,
    topics: &[TopicTargets],
    answer: Answer,
    bytes: usize,
) -> Answer {
    let answer = with_leaders(
        broker,
        context.api_version,
        topics,
        &context.listener,
        answer,
    );
    let answer = match fetcher {
        Fetcher::Consumer { .. } => within_quota(broker, context, answer, bytes),
        Fetcher::Follower(_) => answer,
    };
    cached(counted(throttle, fetcher, topics, answer)).await
}

/// A consumer over its `consumer_byte_rate` gets an empty answer with its throttle time, and
/// its connection is muted for it; as in Kafka, what is not sent is not counted.
fn within_quota(broker: &Broker, context: &RequestContext, answer: Answer, bytes: usize) -> Answer {
    let client_id = context.client_id.as_deref().unwrap_or_default();
    let Some(measure) = broker.record_fetched(&context.principal, client_id, bytes) else {
        return answer;
    };
    let throttle = measure.throttle;
    let answer = Answer {
        counted: Some(measure),
        ..answer
    };
    if throttle.is_zero() {
        return answer;
    }
    tracing::debug!(client_id, bytes, ?throttle, "consumer throttled");
    crate::metrics::global().throttled("fetch", throttle);
    context.mute.extend(throttle);
    throttled(broker, answer, throttle)
}

/// What a throttled consumer gets instead of `answer`: an empty answer telling `throttle`
/// (or the one `answer` tells, if longer). What `answer` carried is no longer counted.
pub fn throttled(broker: &Broker, answer: Answer, throttle: Duration) -> Answer {
    if let Some(measure) = &answer.counted {
        broker.unrecord_fetched(measure);
    }
    let told = throttle_time_ms(throttle).max(answer.response.throttle_time_ms);
    Answer::new(
        FetchResponse::default()
            .with_throttle_time_ms(told)
            .with_session_id(answer.response.session_id),
        Vec::new(),
    )
}

/// Loads the answer's records that are not in the page cache on the blocking pool: the
/// connection sends them from a runtime thread, which must not wait for the disk (a consumer
/// catching up on old data would stall every connection served by that thread).
async fn cached(answer: Answer) -> Answer {
    let cold: Vec<FileSlice> = answer
        .records
        .iter()
        .flatten()
        .filter(|slice| !slice.is_cached().unwrap_or(false))
        .cloned()
        .collect();
    if cold.is_empty() {
        return answer;
    }
    let loaded = tokio::task::spawn_blocking(move || cold.iter().try_for_each(FileSlice::load));
    match loaded.await {
        Ok(Ok(())) => {}
        // Sending the same range will meet the same error and close the connection.
        Ok(Err(error)) => tracing::warn!(%error, "loading records into the page cache failed"),
        Err(error) => tracing::error!(%error, "loading records into the page cache panicked"),
    }
    answer
}

/// Adds how to reach the leaders named in the partitions' hints (KIP-951, v16+).
fn with_leaders(
    broker: &Broker,
    version: i16,
    topics: &[TopicTargets],
    listener: &str,
    mut answer: Answer,
) -> Answer {
    if version < NODE_ENDPOINTS_VERSION {
        return answer;
    }
    let leaders: std::collections::BTreeSet<i32> = topics
        .iter()
        .flat_map(|topic| &topic.partitions)
        .filter_map(|target| target.log.as_ref().err()?.1)
        .map(|(leader, _)| leader)
        .collect();
    answer.response.node_endpoints = broker
        .endpoints_of(&leaders, listener)
        .into_iter()
        .map(|endpoint| {
            NodeEndpoint::default()
                .with_node_id(BrokerId(endpoint.node_id))
                .with_host(StrBytes::from_string(endpoint.host))
                .with_port(i32::from(endpoint.port))
                .with_rack(endpoint.rack.map(StrBytes::from_string))
        })
        .collect();
    answer
}

/// Counts the record bytes of the answer: a consumer's per topic, a follower's as
/// replication (Kafka's BytesOut and ReplicationBytesOut), those of throttled partitions
/// against the leader's replication throttle; answers are in topic order.
fn counted(
    throttle: Option<&Throttle>,
    fetcher: Fetcher<'_>,
    topics: &[TopicTargets],
    answer: Answer,
) -> Answer {
    if let Fetcher::Follower(_) = fetcher {
        let targets = topics.iter().flat_map(|topic| &topic.partitions);
        let (mut total, mut throttled) = (0, 0);
        for (target, slice) in targets.zip(&answer.records) {
            let bytes = slice.as_ref().map_or(0, FileSlice::len);
            total += bytes;
            if target.throttled != Throttled::No {
                throttled += bytes;
            }
        }
        crate::metrics::global().replication_bytes_out(total);
        if let Some(throttle) = throttle {
            throttle.record(throttled);
        }
        return answer;
    }
    let mut records = answer.records.iter();
    for topic in topics {
        let bytes: u64 = records
            .by_ref()
            .take(topic.partitions.len())
            .flatten()
            .map(FileSlice::len)
            .sum();
        // The request may name the topic by id only: the partitions' logs know its name.
        let name = topic
            .partitions
            .iter()
            .find_map(|target| target.log.as_ref().ok());
        if let (true, Some(log)) = (bytes > 0, name) {
            crate::metrics::global().bytes_out(log.topic(), bytes as usize);
        }
    }
    answer
}

/// Whether the fetch comes from a replica (a follower, or a future replica) rather than a
/// consumer.
pub fn from_replica(version: i16, request: &FetchRequest) -> bool {
    replica_id(version, request) >= 0
}

/// The broker a fetch comes from: a follower replica (>= 0) or a consumer (-1). v15 moved it
/// from the request body into `replica_state` (KIP-903).
fn replica_id(version: i16, request: &FetchRequest) -> i32 {
    if version >= REPLICA_STATE_VERSION {
        request.replica_state.replica_id.0
    } else {
        request.replica_id.0
    }
}

/// A follower's fetch: where its log diverged from this leader's, if it did, else its log
/// end recorded (see [`crate::replication::Leaders::on_follower_fetch`]). A broker that is
/// not a follower of a partition is refused.
fn follower_fetched(broker: &Broker, replica: i32, topics: &mut [TopicTargets]) {
    let now_ms = broker.clock.now_ms();
    let throttle = broker.leader_throttle();
    for target in topics
        .iter_mut()
        .flat_map(|topic| topic.partitions.iter_mut())
    {
        let Ok(log) = &target.log else {
            continue;
        };
        let position = FollowerPosition {
            fetch_offset: target.fetch_offset,
            last_fetched_epoch: target.last_fetched_epoch,
            log_start_offset: target.log_start_offset,
        };
        let fetched = broker.replication.on_follower_fetch(
            log.topic(),
            log.index(),
            replica,
            &position,
            now_ms,
        );
        match fetched {
            Ok(FollowerFetch::Diverging { epoch, end_offset }) => {
                target.diverging = Some((epoch, end_offset));
            }
            Ok(FollowerFetch::Recorded) => {
                if let Some(throttle) = throttle {
                    target.throttled = throttle.of(log.topic(), log.index(), replica);
                }
            }
            Err(_) => target.log = Err((ResponseError::NotLeaderOrFollower, None)),
        }
    }
}

/// Sessions (KIP-227) are not kept: a full fetch is answered with session id 0, which tells
/// the client to keep sending full fetches.
fn session_error(version: i16, session_id: i32, session_epoch: i32) -> Option<ResponseError> {
    if version < 7 {
        return None;
    }
    match (session_id, session_epoch) {
        (0, -1 | 0) => None,
        (0, _) => Some(ResponseError::InvalidFetchSessionEpoch),
        _ => Some(ResponseError::FetchSessionIdNotFound),
    }
}

/// Finds what each requested partition is read from, or why it is not: a follower needs
/// CLUSTER_ACTION, a consumer READ on the topic (Kafka's order: an unknown topic id first,
/// then the permission, then whether the topic exists).
fn resolve(
    broker: &Broker,
    access: &Access,
    version: i16,
    fetcher: Fetcher<'_>,
    topics: Vec<FetchTopic>,
) -> Vec<TopicTargets> {
    let image = broker.metadata.image();
    let follower_refused =
        matches!(fetcher, Fetcher::Follower(_)) && !access.allows_cluster(Operation::ClusterAction);
    topics
        .into_iter()
        .map(|requested| {
            let (topic, unknown) = if version >= TOPIC_ID_VERSION {
                (
                    image.topic_by_id(requested.topic_id),
                    ResponseError::UnknownTopicId,
                )
            } else {
                (
                    image.topic(&requested.topic),
                    ResponseError::UnknownTopicOrPartition,
                )
            };
            let refused = follower_refused
                || match fetcher {
                    Fetcher::Follower(_) => false,
                    Fetcher::Consumer { .. } => {
                        let name = topic.map_or(requested.topic.as_str(), |topic| &topic.name);
                        (topic.is_some() || version < TOPIC_ID_VERSION)
                            && !access.allows(Operation::Read, Resource::topic(name))
                    }
                };
            let (topic, unknown) = match refused {
                true => (None, ResponseError::TopicAuthorizationFailed),
                false => (topic, unknown),
            };
            let partitions = requested
                .partitions
                .into_iter()
                .map(|partition| {
                    let mut target = Target {
                        index: partition.partition,
                        fetch_offset: partition.fetch_offset,
                        partition_max_bytes: partition.partition_max_bytes,
                        current_leader_epoch: partition.current_leader_epoch,
                        log: Err((unknown, None)),
                        follower_epoch: None,
                        preferred_read_replica: None,
                        diverging: None,
                        last_fetched_epoch: partition.last_fetched_epoch,
                        log_start_offset: partition.log_start_offset,
                        throttled: Throttled::No,
                    };
                    if let Some(topic) = topic {
                        locate(broker, fetcher, &topic.name, &mut target);
                    }
                    target
                })
                .collect();
            TopicTargets {
                name: requested.topic,
                topic_id: requested.topic_id,
                partitions,
            }
        })
        .collect()
}

/// Finds the log that serves `target` here, and for a consumer the replica it should read
/// from instead, if any.
fn locate(broker: &Broker, fetcher: Fetcher<'_>, topic: &str, target: &mut Target) {
    let refusal = |not_served| {
        (
            errors::for_not_served(not_served),
            errors::leader_hint(not_served),
        )
    };
    let Fetcher::Consumer { rack: Some(rack) } = fetcher else {
        target.log = broker.leader_log(topic, target.index).map_err(refusal);
        return;
    };
    match broker.consumer_log(topic, target.index) {
        Ok(served) => {
            if served.follower_epoch.is_none() {
                target.preferred_read_replica =
                    broker.preferred_read_replica(&served.log, rack, target.fetch_offset);
            }
            target.follower_epoch = served.follower_epoch;
            target.log = Ok(served.log);
        }
        Err(not_served) => target.log = Err(refusal(not_served)),
    }
}

/// Reads every target once. Returns the answer, the record bytes in it, and whether any
/// partition has an error or a diverging epoch (which answers the fetch at once, as Kafka
/// does).
fn read_all(
    topics: &[TopicTargets],
    version: i16,
    max_bytes: usize,
    isolation: Isolation,
    throttle: Option<&Throttle>,
) -> (Answer, usize, bool) {
    let mut total = 0usize;
    let mut urgent = false;
    let mut responses = Vec::with_capacity(topics.len());
    let mut records = Vec::new();
    for topic in topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for target in &topic.partitions {
            let budget =
                (target.partition_max_bytes.max(0) as usize).min(max_bytes.saturating_sub(total));
            // A throttled follower out of sync gets no records while the rate is exceeded.
            let held_back = throttle.is_some_and(|throttle| throttle.holds_back(target.throttled));
            let (budget, min_one_batch) = if held_back {
                (0, false)
            } else {
                (budget, total == 0)
            };
            let (data, slice) = read_partition(target, version, budget, min_one_batch, isolation);
            urgent |= data.error_code != 0
                || target.diverging.is_some()
                || target.preferred_read_replica.is_some();
            total += slice.as_ref().map_or(0, |slice| slice.len() as usize);
            partitions.push(data);
            records.push(slice);
        }
        responses.push(
            FetchableTopicResponse::default()
                .with_topic(topic.name.clone())
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions),
        );
    }
    let response = FetchResponse::default().with_responses(responses);
    (Answer::new(response, records), total, urgent)
}

/// One partition's answer, and the file range of its records when there are any.
fn read_partition(
    target: &Target,
    version: i16,
    budget: usize,
    min_one_batch: bool,
    isolation: Isolation,
) -> (PartitionData, Option<FileSlice>) {
    let read_committed = isolation == Isolation::ReadCommitted;
    let data = PartitionData::default()
        .with_partition_index(target.index)
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_preferred_read_replica(kafka_protocol::messages::BrokerId(-1))
        .with_aborted_transactions(read_committed.then(Vec::new));
    let log = match &target.log {
        Ok(log) => log,
        Err((error, leader)) => {
            let data = data.with_error_code(error.code());
            return match leader {
                Some((leader_id, leader_epoch)) if version >= LEADER_HINT_VERSION => (
                    data.with_current_leader(
                        LeaderIdAndEpoch::default()
                            .with_leader_id(BrokerId(*leader_id))
                            .with_leader_epoch(*leader_epoch),
                    ),
                    None,
                ),
                _ => (data, None),
            };
        }
    };
    let leader_epoch = target.follower_epoch.unwrap_or_else(|| log.leader_epoch());
    if let Some(error) = check_leader_epoch(target.current_leader_epoch, leader_epoch) {
        return (data.with_error_code(error.code()), None);
    }
    if let Some(replica) = target.preferred_read_replica {
        let data = data
            .with_high_watermark(log.high_watermark())
            .with_last_stable_offset(log.last_stable_offset())
            .with_log_start_offset(log.log_start_offset())
            .with_records(Some(Bytes::new()))
            .with_preferred_read_replica(BrokerId(replica));
        return (data, None);
    }
    if let Some((epoch, end_offset)) = target.diverging {
        let data = data
            .with_high_watermark(log.high_watermark())
            .with_last_stable_offset(log.high_watermark())
            .with_log_start_offset(log.log_start_offset())
            .with_records(Some(Bytes::new()))
            .with_diverging_epoch(
                EpochEndOffset::default()
                    .with_epoch(epoch)
                    .with_end_offset(end_offset),
            );
        return (data, None);
    }
    match log.read_slice(target.fetch_offset, budget, min_one_batch, isolation) {
        Ok(read) => {
            let aborted = read_committed.then(|| {
                read.aborted
                    .iter()
                    .map(|txn| {
                        AbortedTransaction::default()
                            .with_producer_id(ProducerId(txn.producer_id))
                            .with_first_offset(txn.first_offset)
                    })
                    .collect()
            });
            let data = data
                .with_high_watermark(read.high_watermark)
                .with_last_stable_offset(read.last_stable_offset)
                .with_log_start_offset(read.log_start_offset)
                .with_aborted_transactions(aborted);
            match read.records {
                Some(slice) => (data, Some(slice)),
                None => (data.with_records(Some(Bytes::new())), None),
            }
        }
        Err(error) => {
            if let LogError::Io(_) = error {
                tracing::error!(topic = log.topic(), partition = log.index(), %error, "read failed");
            }
            let data = data.with_error_code(errors::for_log_error(&error).code());
            let data = match error {
                LogError::OffsetOutOfRange {
                    log_start_offset,
                    log_end_offset,
                    ..
                } => data
                    .with_high_watermark(log_end_offset)
                    .with_last_stable_offset(log_end_offset)
                    .with_log_start_offset(log_start_offset),
                _ => data,
            };
            (data, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use kafka_protocol::messages::fetch_request::FetchPartition;
    use kafka_protocol::protocol::StrBytes;

    use super::*;
    use crate::clock::SystemClock;
    use crate::records::batch::testing::build_batch;
    use crate::records::BatchView;

    #[tokio::test]
    async fn records_not_in_the_page_cache_are_loaded_before_the_answer() {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::broker::testing::config_in(dir.path());
        let broker = Arc::new(Broker::open(config, Arc::new(SystemClock)).unwrap());
        broker.auto_create_topic("t").unwrap();
        let log = broker.partition("t", 0).unwrap();
        for _ in 0..64 {
            let batch = build_batch(4, 0, &[7u8; 16 * 1024]);
            log.append(&BatchView::parse(&batch).unwrap()).unwrap();
        }
        // Synced pages are clean, so POSIX_FADV_DONTNEED drops them from the page cache.
        log.flush(log.log_end_offset()).await.unwrap();
        for entry in std::fs::read_dir(log.dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "log") {
                let file = std::fs::File::open(path).unwrap();
                // SAFETY: advice on an open file descriptor.
                unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
            }
        }
        let cold = log
            .read_slice(0, 50 << 20, true, Isolation::ReadUncommitted)
            .unwrap()
            .records
            .unwrap();
        let evicted = !cold.is_cached().unwrap();

        let request = FetchRequest::default()
            .with_max_bytes(50 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_partition_max_bytes(50 << 20)])]);
        let context = RequestContext::new(kafka_protocol::messages::ApiKey::Fetch, 12, 1, 0);
        let answer = handle(broker, Access::default(), context, request).await;
        let records = answer.records[0].as_ref().expect("records");
        assert_eq!(records.len(), cold.len());
        assert!(
            records.is_cached().unwrap(),
            "records are in the page cache (evicted before: {evicted})"
        );
    }
}
