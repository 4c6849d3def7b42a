//! OffsetFetch (key 9): committed offsets of one group (v1–v7) or several (v8+); -1 where
//! nothing was committed. A null topic list means every committed partition.

use std::sync::Arc;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    ApiKey, GroupId, OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::{group_error, SupportedApi};
use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker};
use crate::group::offsets::CommittedOffset;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::OffsetFetch,
    versions: VersionRange { min: 1, max: 9 },
};

/// OffsetFetch v8 asks for several groups at once (KIP-709).
const MULTI_GROUP_VERSION: i16 = 8;

/// From v2 a group's error is told at the top level.
const GROUP_ERROR_VERSION: i16 = 2;

/// `require_stable` (KIP-447) from v7: a partition with a pending transactional commit is
/// answered UNSTABLE_OFFSET_COMMIT, and the client asks again.
const REQUIRE_STABLE_VERSION: i16 = 7;

/// A partition's answer: its committed offset if any, or why it is withheld.
type Entry = Result<Option<CommittedOffset>, ResponseError>;

/// A group's answer: per topic, each partition with its entry.
type Fetched = Vec<(TopicName, Vec<(i32, Entry)>)>;

/// A group needs DESCRIBE (GROUP_AUTHORIZATION_FAILED otherwise); offsets are told only for
/// topics the principal may DESCRIBE: a named one is answered TOPIC_AUTHORIZATION_FAILED,
/// others are left out of "every committed partition".
pub fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    version: i16,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let group_error = |group_id: &str| group_error(broker, access, Operation::Describe, group_id);
    if version < MULTI_GROUP_VERSION {
        if let Some(error) = group_error(&request.group_id) {
            // v1 has no group-level error: each asked partition carries it; from v2 the
            // error is told once, with no topics (as Kafka answers).
            let topics = request
                .topics
                .filter(|_| version < GROUP_ERROR_VERSION)
                .unwrap_or_default()
                .into_iter()
                .map(|topic| {
                    let partitions = topic
                        .partition_indexes
                        .into_iter()
                        .map(|index| {
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(index)
                                .with_committed_offset(-1)
                                .with_error_code(error.code())
                        })
                        .collect();
                    OffsetFetchResponseTopic::default()
                        .with_name(topic.name)
                        .with_partitions(partitions)
                })
                .collect();
            return OffsetFetchResponse::default()
                .with_error_code(error.code())
                .with_topics(topics);
        }
        let wanted = request.topics.map(|topics| {
            topics
                .into_iter()
                .map(|t| (t.name, t.partition_indexes))
                .collect()
        });
        let require_stable = version >= REQUIRE_STABLE_VERSION && request.require_stable;
        let topics = fetch(broker, access, &request.group_id, wanted, require_stable)
            .into_iter()
            .map(|(name, partitions)| {
                let partitions = partitions
                    .into_iter()
                    .map(|(index, entry)| {
                        let (offset, epoch, metadata, error_code) = fields(entry);
                        OffsetFetchResponsePartition::default()
                            .with_partition_index(index)
                            .with_committed_offset(offset)
                            .with_committed_leader_epoch(epoch)
                            .with_metadata(Some(metadata))
                            .with_error_code(error_code)
                    })
                    .collect();
                OffsetFetchResponseTopic::default()
                    .with_name(name)
                    .with_partitions(partitions)
            })
            .collect();
        return OffsetFetchResponse::default().with_topics(topics);
    }
    let groups = request
        .groups
        .into_iter()
        .map(|group| {
            if let Some(error) = group_error(&group.group_id) {
                return OffsetFetchResponseGroup::default()
                    .with_group_id(group.group_id)
                    .with_error_code(error.code());
            }
            let wanted = group.topics.map(|topics| {
                topics
                    .into_iter()
                    .map(|t| (t.name, t.partition_indexes))
                    .collect()
            });
            let topics = fetch(
                broker,
                access,
                &group.group_id,
                wanted,
                request.require_stable,
            )
            .into_iter()
            .map(|(name, partitions)| {
                let partitions = partitions
                    .into_iter()
                    .map(|(index, entry)| {
                        let (offset, epoch, metadata, error_code) = fields(entry);
                        OffsetFetchResponsePartitions::default()
                            .with_partition_index(index)
                            .with_committed_offset(offset)
                            .with_committed_leader_epoch(epoch)
                            .with_metadata(Some(metadata))
                            .with_error_code(error_code)
                    })
                    .collect();
                OffsetFetchResponseTopics::default()
                    .with_name(name)
                    .with_partitions(partitions)
            })
            .collect();
            OffsetFetchResponseGroup::default()
                .with_group_id(GroupId(group.group_id.0))
                .with_topics(topics)
        })
        .collect();
    OffsetFetchResponse::default().with_groups(groups)
}

/// A partition's offset, leader epoch, metadata and error code.
fn fields(entry: Entry) -> (i64, i32, StrBytes, i16) {
    match entry {
        Ok(Some(committed)) => (
            committed.offset,
            committed.leader_epoch,
            StrBytes::from_string(committed.metadata),
            0,
        ),
        Ok(None) => (-1, -1, StrBytes::default(), 0),
        Err(error) => (-1, -1, StrBytes::default(), error.code()),
    }
}

/// The requested partitions (or, for `None`, every committed one) with their offsets,
/// grouped by topic in first-seen order; with `require_stable`, those an open transaction
/// commits are withheld.
fn fetch(
    broker: &Broker,
    access: &Access,
    group_id: &str,
    wanted: Option<Vec<(TopicName, Vec<i32>)>>,
    require_stable: bool,
) -> Fetched {
    let flat: Vec<(String, i32, Option<CommittedOffset>)> = match wanted {
        None => broker
            .groups
            .group_offsets(group_id)
            .into_iter()
            .filter(|((topic, _), _)| access.allows(Operation::Describe, Resource::topic(topic)))
            .map(|((topic, partition), committed)| (topic, partition, Some(committed)))
            .collect(),
        Some(topics) => topics
            .into_iter()
            .flat_map(|(topic, partitions)| {
                partitions.into_iter().map(move |partition| {
                    let committed = broker.groups.committed(group_id, &topic, partition);
                    (topic.to_string(), partition, committed)
                })
            })
            .collect(),
    };
    let mut topics: Fetched = Vec::new();
    for (topic, index, committed) in flat {
        let entry = if !access.allows(Operation::Describe, Resource::topic(&topic)) {
            Err(ResponseError::TopicAuthorizationFailed)
        } else if require_stable && broker.groups.has_pending_commit(group_id, &topic, index) {
            Err(ResponseError::UnstableOffsetCommit)
        } else {
            Ok(committed)
        };
        match topics.iter_mut().find(|(name, _)| name.as_str() == topic) {
            Some((_, partitions)) => partitions.push((index, entry)),
            None => topics.push((
                TopicName(StrBytes::from_string(topic)),
                vec![(index, entry)],
            )),
        }
    }
    topics
}
