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

use super::{group_coordinator_error, SupportedApi};
use crate::broker::Broker;
use crate::group::offsets::CommittedOffset;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::OffsetFetch,
    versions: VersionRange { min: 1, max: 9 },
};

/// OffsetFetch v8 asks for several groups at once (KIP-709).
const MULTI_GROUP_VERSION: i16 = 8;

/// A group's answer: per topic, each partition with its committed offset, if any.
type Fetched = Vec<(TopicName, Vec<(i32, Option<CommittedOffset>)>)>;

pub fn handle(
    broker: &Arc<Broker>,
    version: i16,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    if version < MULTI_GROUP_VERSION {
        if let Some(error) = group_coordinator_error(broker, &request.group_id) {
            // v1 has no group-level error: each asked partition carries it.
            let topics = request
                .topics
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
        let topics = fetch(broker, &request.group_id, wanted)
            .into_iter()
            .map(|(name, partitions)| {
                let partitions = partitions
                    .into_iter()
                    .map(|(index, committed)| {
                        let (offset, epoch, metadata) = fields(committed);
                        OffsetFetchResponsePartition::default()
                            .with_partition_index(index)
                            .with_committed_offset(offset)
                            .with_committed_leader_epoch(epoch)
                            .with_metadata(Some(metadata))
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
            if let Some(error) = group_coordinator_error(broker, &group.group_id) {
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
            let topics = fetch(broker, &group.group_id, wanted)
                .into_iter()
                .map(|(name, partitions)| {
                    let partitions = partitions
                        .into_iter()
                        .map(|(index, committed)| {
                            let (offset, epoch, metadata) = fields(committed);
                            OffsetFetchResponsePartitions::default()
                                .with_partition_index(index)
                                .with_committed_offset(offset)
                                .with_committed_leader_epoch(epoch)
                                .with_metadata(Some(metadata))
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

fn fields(committed: Option<CommittedOffset>) -> (i64, i32, StrBytes) {
    match committed {
        Some(committed) => (
            committed.offset,
            committed.leader_epoch,
            StrBytes::from_string(committed.metadata),
        ),
        None => (-1, -1, StrBytes::default()),
    }
}

/// The requested partitions (or, for `None`, every committed one) with their offsets,
/// grouped by topic in first-seen order.
fn fetch(broker: &Broker, group_id: &str, wanted: Option<Vec<(TopicName, Vec<i32>)>>) -> Fetched {
    let flat: Vec<(String, i32, Option<CommittedOffset>)> = match wanted {
        None => broker
            .groups
            .group_offsets(group_id)
            .into_iter()
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
        match topics.iter_mut().find(|(name, _)| name.as_str() == topic) {
            Some((_, partitions)) => partitions.push((index, committed)),
            None => topics.push((
                TopicName(StrBytes::from_string(topic)),
                vec![(index, committed)],
            )),
        }
    }
    topics
}
