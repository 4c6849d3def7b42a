//! DescribeLogDirs (key 35): the one data directory, the size of every (asked-for) partition
//! in it, and (v4) the file system's total and usable bytes; what `kafka-log-dirs.sh` shows.

use std::sync::Arc;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{
    ApiKey, DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::SupportedApi;
use crate::acl::Operation;
use crate::broker::{Access, Broker};

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::DescribeLogDirs,
    versions: VersionRange { min: 1, max: 4 },
};

/// Kafka's answer when the volume size is unknown.
const UNKNOWN_VOLUME_BYTES: i64 = -1;

/// Needs DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED and no directories otherwise).
pub fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    version: i16,
    request: &DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    if !access.allows_cluster(Operation::Describe) {
        return DescribeLogDirsResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    let wanted = |topic: &str, partition: i32| match &request.topics {
        None => true,
        Some(topics) => topics
            .iter()
            .any(|asked| asked.topic.as_str() == topic && asked.partitions.contains(&partition)),
    };
    let mut topics: Vec<DescribeLogDirsTopic> = Vec::new();
    for log in broker.logs.partitions() {
        if !wanted(log.topic(), log.index()) {
            continue;
        }
        let partition = DescribeLogDirsPartition::default()
            .with_partition_index(log.index())
            .with_partition_size(i64::try_from(log.size_bytes()).unwrap_or(i64::MAX))
            .with_offset_lag(0)
            .with_is_future_key(false);
        match topics.last_mut() {
            Some(topic) if topic.name.as_str() == log.topic() => topic.partitions.push(partition),
            _ => topics.push(
                DescribeLogDirsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(log.topic().to_owned())))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    let dir = broker.logs.data_dir();
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    let result = DescribeLogDirsResult::default()
        .with_log_dir(StrBytes::from_string(dir.display().to_string()))
        .with_topics(topics);
    let result = if version >= 4 {
        let (total, usable) = broker
            .logs
            .disk_space()
            .map(|(total, usable)| {
                (
                    i64::try_from(total).unwrap_or(i64::MAX),
                    i64::try_from(usable).unwrap_or(i64::MAX),
                )
            })
            .unwrap_or((UNKNOWN_VOLUME_BYTES, UNKNOWN_VOLUME_BYTES));
        result.with_total_bytes(total).with_usable_bytes(usable)
    } else {
        result
    };
    DescribeLogDirsResponse::default().with_results(vec![result])
}
