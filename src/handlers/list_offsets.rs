//! ListOffsets (key 2): earliest (-2), latest (-1), max timestamp (-3, KIP-734), earliest
//! local (-4), latest tiered (-5), or the first batch with a timestamp ≥ t.

use std::sync::Arc;

use kafka_protocol::messages::list_offsets_request::ListOffsetsPartition;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ApiKey, ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::errors;
use super::{check_leader_epoch, SupportedApi};
use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker};
use crate::log::Partition;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::ListOffsets,
    versions: VersionRange { min: 1, max: 10 },
};

const LATEST: i64 = -1;
const READ_COMMITTED: i8 = 1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

pub fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    version: i16,
    request: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let image = broker.metadata.image();
    let read_committed = request.isolation_level == READ_COMMITTED;
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let described = access.allows(Operation::Describe, Resource::topic(&topic.name));
            let known = image.topic(&topic.name).is_some();
            let partitions = topic
                .partitions
                .into_iter()
                .map(|partition| {
                    let response = ListOffsetsPartitionResponse::default()
                        .with_partition_index(partition.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1)
                        .with_leader_epoch(-1);
                    let log = if !described {
                        Err(ResponseError::TopicAuthorizationFailed)
                    } else if known {
                        broker
                            .leader_log(&topic.name, partition.partition_index)
                            .map_err(errors::for_not_served)
                    } else {
                        Err(ResponseError::UnknownTopicOrPartition)
                    };
                    match log {
                        Err(error) => response.with_error_code(error.code()),
                        Ok(log) => match lookup(&log, version, read_committed, &partition) {
                            Ok((offset, timestamp)) => {
                                // The leader epoch exists from v4 (KIP-320).
                                let epoch = if offset >= 0 && version >= 4 {
                                    log.leader_epoch()
                                } else {
                                    -1
                                };
                                response
                                    .with_offset(offset)
                                    .with_timestamp(timestamp)
                                    .with_leader_epoch(epoch)
                            }
                            Err(error) => response.with_error_code(error.code()),
                        },
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// The (offset, timestamp) answer for one partition. Read-committed "latest" is the last
/// stable offset.
fn lookup(
    log: &Partition,
    version: i16,
    read_committed: bool,
    partition: &ListOffsetsPartition,
) -> Result<(i64, i64), ResponseError> {
    if let Some(error) = check_leader_epoch(partition.current_leader_epoch, log.leader_epoch()) {
        return Err(error);
    }
    let requires = |min_version: i16| {
        if version >= min_version {
            Ok(())
        } else {
            Err(ResponseError::UnsupportedVersion)
        }
    };
    match partition.timestamp {
        LATEST if read_committed => Ok((log.last_stable_offset(), -1)),
        LATEST => Ok((log.high_watermark(), -1)),
        EARLIEST => Ok((log.log_start_offset(), -1)),
        MAX_TIMESTAMP => {
            requires(7)?;
            match log.max_timestamp() {
                Ok(found) => Ok(found.map_or((-1, -1), |found| (found.offset, found.timestamp))),
                Err(error) => Err(errors::for_log_error(&error)),
            }
        }
        EARLIEST_LOCAL => {
            requires(8)?;
            Ok((log.log_start_offset(), -1))
        }
        LATEST_TIERED => {
            requires(9)?;
            // Nothing is tiered: there is no tiered offset to report.
            Ok((-1, -1))
        }
        timestamp if timestamp >= 0 => match log.find_offset_by_timestamp(timestamp) {
            Ok(found) => Ok(found.map_or((-1, -1), |found| (found.offset, found.timestamp))),
            Err(error) => Err(errors::for_log_error(&error)),
        },
        _ => Err(ResponseError::InvalidRequest),
    }
}
