//! A structural pre-check of request bodies, run before `kafka-protocol` decodes them.
//!
//! The crate trusts array counts: it calls `Vec::with_capacity(count)` before reading any
//! element, so a 4-byte count of 2^31 makes it try to allocate gigabytes and abort the
//! process. This walker follows the same wire layout for every API version we advertise and
//! checks each count against the bytes that remain (every element takes at least one byte),
//! and every length against the frame, without allocating anything.

use kafka_protocol::messages::ApiKey;

/// One field of a request struct, present in versions `since..=until`.
#[derive(Debug, Clone, Copy)]
struct Field {
    kind: Kind,
    since: i16,
    until: i16,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Int8,
    Int16,
    Int32,
    Int64,
    Uuid,
    /// string / nullable string (i16 length, or compact when flexible).
    Str,
    /// bytes / nullable bytes / records (i32 length, or compact when flexible).
    Bytes,
    /// array of int32.
    Int32s,
    /// array of int64.
    Int64s,
    /// array of strings.
    Strs,
    /// array of structs.
    Structs(&'static [Field]),
    /// nullable struct: an int8 presence marker (1 = present), then the struct.
    OptStruct(&'static [Field]),
}

const ALL: i16 = i16::MAX;

const fn f(kind: Kind) -> Field {
    Field {
        kind,
        since: 0,
        until: ALL,
    }
}
const fn since(version: i16, kind: Kind) -> Field {
    Field {
        kind,
        since: version,
        until: ALL,
    }
}
const fn between(since: i16, until: i16, kind: Kind) -> Field {
    Field { kind, since, until }
}

use Kind::*;

const API_VERSIONS: &[Field] = &[since(3, Str), since(3, Str)];

const METADATA_TOPIC: &[Field] = &[since(10, Uuid), f(Str)];
const METADATA: &[Field] = &[
    f(Structs(METADATA_TOPIC)),
    since(4, Int8),
    between(8, 10, Int8),
    since(8, Int8),
];

const PRODUCE_PARTITION: &[Field] = &[f(Int32), f(Bytes)];
const PRODUCE_TOPIC: &[Field] = &[
    between(0, 12, Str),
    since(13, Uuid),
    f(Structs(PRODUCE_PARTITION)),
];
const PRODUCE: &[Field] = &[f(Str), f(Int16), f(Int32), f(Structs(PRODUCE_TOPIC))];

const FETCH_PARTITION: &[Field] = &[
    f(Int32),
    since(9, Int32),
    f(Int64),
    since(12, Int32),
    since(5, Int64),
    f(Int32),
];
const FETCH_TOPIC: &[Field] = &[
    between(0, 12, Str),
    since(13, Uuid),
    f(Structs(FETCH_PARTITION)),
];
const FETCH_FORGOTTEN: &[Field] = &[between(0, 12, Str), since(13, Uuid), f(Int32s)];
const FETCH: &[Field] = &[
    between(0, 14, Int32),
    f(Int32),
    f(Int32),
    f(Int32),
    f(Int8),
    since(7, Int32),
    since(7, Int32),
    f(Structs(FETCH_TOPIC)),
    since(7, Structs(FETCH_FORGOTTEN)),
    since(11, Str),
];

const LIST_OFFSETS_PARTITION: &[Field] = &[f(Int32), since(4, Int32), f(Int64)];
const LIST_OFFSETS_TOPIC: &[Field] = &[f(Str), f(Structs(LIST_OFFSETS_PARTITION))];
const LIST_OFFSETS: &[Field] = &[
    f(Int32),
    since(2, Int8),
    f(Structs(LIST_OFFSETS_TOPIC)),
    since(10, Int32),
];

const CREATE_TOPICS_ASSIGNMENT: &[Field] = &[f(Int32), f(Int32s)];
const CREATE_TOPICS_CONFIG: &[Field] = &[f(Str), f(Str)];
const CREATE_TOPICS_TOPIC: &[Field] = &[
    f(Str),
    f(Int32),
    f(Int16),
    f(Structs(CREATE_TOPICS_ASSIGNMENT)),
    f(Structs(CREATE_TOPICS_CONFIG)),
];
const CREATE_TOPICS: &[Field] = &[f(Structs(CREATE_TOPICS_TOPIC)), f(Int32), since(1, Int8)];

const DELETE_TOPICS_STATE: &[Field] = &[f(Str), f(Uuid)];
const DELETE_TOPICS: &[Field] = &[
    since(6, Structs(DELETE_TOPICS_STATE)),
    between(0, 5, Strs),
    f(Int32),
];

const FIND_COORDINATOR: &[Field] = &[between(0, 3, Str), since(1, Int8), since(4, Strs)];

const JOIN_GROUP_PROTOCOL: &[Field] = &[f(Str), f(Bytes)];
const JOIN_GROUP: &[Field] = &[
    f(Str),
    f(Int32),
    since(1, Int32),
    f(Str),
    since(5, Str),
    f(Str),
    f(Structs(JOIN_GROUP_PROTOCOL)),
    since(8, Str),
];

const SYNC_GROUP_ASSIGNMENT: &[Field] = &[f(Str), f(Bytes)];
const SYNC_GROUP: &[Field] = &[
    f(Str),
    f(Int32),
    f(Str),
    since(3, Str),
    since(5, Str),
    since(5, Str),
    f(Structs(SYNC_GROUP_ASSIGNMENT)),
];

const HEARTBEAT: &[Field] = &[f(Str), f(Int32), f(Str), since(3, Str)];

const LEAVE_GROUP_MEMBER: &[Field] = &[f(Str), f(Str), since(5, Str)];
const LEAVE_GROUP: &[Field] = &[
    f(Str),
    between(0, 2, Str),
    since(3, Structs(LEAVE_GROUP_MEMBER)),
];

const OFFSET_COMMIT_PARTITION: &[Field] = &[f(Int32), f(Int64), since(6, Int32), f(Str)];
const OFFSET_COMMIT_TOPIC: &[Field] = &[f(Str), f(Structs(OFFSET_COMMIT_PARTITION))];
const OFFSET_COMMIT: &[Field] = &[
    f(Str),
    f(Int32),
    f(Str),
    since(7, Str),
    between(2, 4, Int64),
    f(Structs(OFFSET_COMMIT_TOPIC)),
];

const OFFSET_FETCH_TOPIC: &[Field] = &[f(Str), f(Int32s)];
const OFFSET_FETCH_GROUP: &[Field] = &[
    f(Str),
    since(9, Str),
    since(9, Int32),
    f(Structs(OFFSET_FETCH_TOPIC)),
];
const OFFSET_FETCH: &[Field] = &[
    between(0, 7, Str),
    between(0, 7, Structs(OFFSET_FETCH_TOPIC)),
    since(8, Structs(OFFSET_FETCH_GROUP)),
    since(7, Int8),
];

const LIST_GROUPS: &[Field] = &[since(4, Strs), since(5, Strs)];
const DESCRIBE_GROUPS: &[Field] = &[f(Strs), since(3, Int8)];
const DELETE_GROUPS: &[Field] = &[f(Strs)];

const TXN_TOPIC: &[Field] = &[f(Str), f(Int32s)];
const ADD_PARTITIONS_TRANSACTION: &[Field] =
    &[f(Str), f(Int64), f(Int16), f(Int8), f(Structs(TXN_TOPIC))];
const ADD_PARTITIONS_TO_TXN: &[Field] = &[
    between(0, 3, Str),
    between(0, 3, Int64),
    between(0, 3, Int16),
    between(0, 3, Structs(TXN_TOPIC)),
    since(4, Structs(ADD_PARTITIONS_TRANSACTION)),
];
const ADD_OFFSETS_TO_TXN: &[Field] = &[f(Str), f(Int64), f(Int16), f(Str)];
const END_TXN: &[Field] = &[f(Str), f(Int64), f(Int16), f(Int8)];
const TXN_OFFSET_COMMIT_PARTITION: &[Field] = &[f(Int32), f(Int64), since(2, Int32), f(Str)];
const TXN_OFFSET_COMMIT_TOPIC: &[Field] = &[f(Str), f(Structs(TXN_OFFSET_COMMIT_PARTITION))];
const TXN_OFFSET_COMMIT: &[Field] = &[
    f(Str),
    f(Str),
    f(Int64),
    f(Int16),
    since(3, Int32),
    since(3, Str),
    since(3, Str),
    f(Structs(TXN_OFFSET_COMMIT_TOPIC)),
];
const WRITE_TXN_MARKER: &[Field] = &[f(Int64), f(Int16), f(Int8), f(Structs(TXN_TOPIC)), f(Int32)];
const WRITE_TXN_MARKERS: &[Field] = &[f(Structs(WRITE_TXN_MARKER))];
const DESCRIBE_TRANSACTIONS: &[Field] = &[f(Strs)];
const LIST_TRANSACTIONS: &[Field] = &[f(Strs), f(Int64s), since(1, Int64), since(2, Str)];
const INIT_PRODUCER_ID: &[Field] = &[f(Str), f(Int32), since(3, Int64), since(3, Int16)];
const DESCRIBE_PRODUCERS_TOPIC: &[Field] = &[f(Str), f(Int32s)];
const DESCRIBE_PRODUCERS: &[Field] = &[f(Structs(DESCRIBE_PRODUCERS_TOPIC))];

const DELETE_RECORDS_PARTITION: &[Field] = &[f(Int32), f(Int64)];
const DELETE_RECORDS_TOPIC: &[Field] = &[f(Str), f(Structs(DELETE_RECORDS_PARTITION))];
const DELETE_RECORDS: &[Field] = &[f(Structs(DELETE_RECORDS_TOPIC)), f(Int32)];

const DESCRIBE_CLUSTER: &[Field] = &[f(Int8), since(1, Int8), since(2, Int8)];

const DESCRIBE_CONFIGS_RESOURCE: &[Field] = &[f(Int8), f(Str), f(Strs)];
const DESCRIBE_CONFIGS: &[Field] = &[
    f(Structs(DESCRIBE_CONFIGS_RESOURCE)),
    since(1, Int8),
    since(3, Int8),
];
const ALTER_CONFIGS_CONFIG: &[Field] = &[f(Str), f(Str)];
const ALTER_CONFIGS_RESOURCE: &[Field] = &[f(Int8), f(Str), f(Structs(ALTER_CONFIGS_CONFIG))];
const ALTER_CONFIGS: &[Field] = &[f(Structs(ALTER_CONFIGS_RESOURCE)), f(Int8)];
const INCREMENTAL_ALTER_CONFIGS_CONFIG: &[Field] = &[f(Str), f(Int8), f(Str)];
const INCREMENTAL_ALTER_CONFIGS_RESOURCE: &[Field] = &[
    f(Int8),
    f(Str),
    f(Structs(INCREMENTAL_ALTER_CONFIGS_CONFIG)),
];
const INCREMENTAL_ALTER_CONFIGS: &[Field] =
    &[f(Structs(INCREMENTAL_ALTER_CONFIGS_RESOURCE)), f(Int8)];
const CREATE_PARTITIONS_ASSIGNMENT: &[Field] = &[f(Int32s)];
const CREATE_PARTITIONS_TOPIC: &[Field] =
    &[f(Str), f(Int32), f(Structs(CREATE_PARTITIONS_ASSIGNMENT))];
const CREATE_PARTITIONS: &[Field] = &[f(Structs(CREATE_PARTITIONS_TOPIC)), f(Int32), f(Int8)];

const DESCRIBE_LOG_DIRS_TOPIC: &[Field] = &[f(Str), f(Int32s)];
const DESCRIBE_LOG_DIRS: &[Field] = &[f(Structs(DESCRIBE_LOG_DIRS_TOPIC))];
const DESCRIBE_TOPIC_PARTITIONS_TOPIC: &[Field] = &[f(Str)];
const DESCRIBE_TOPIC_PARTITIONS_CURSOR: &[Field] = &[f(Str), f(Int32)];
const DESCRIBE_TOPIC_PARTITIONS: &[Field] = &[
    f(Structs(DESCRIBE_TOPIC_PARTITIONS_TOPIC)),
    f(Int32),
    f(OptStruct(DESCRIBE_TOPIC_PARTITIONS_CURSOR)),
];
const TOPIC_PARTITIONS: &[Field] = &[f(Str), f(Int32s)];
const ELECT_LEADERS: &[Field] = &[since(1, Int8), f(Structs(TOPIC_PARTITIONS)), f(Int32)];
const OFFSET_FOR_LEADER_EPOCH_PARTITION: &[Field] = &[f(Int32), since(2, Int32), f(Int32)];
const OFFSET_FOR_LEADER_EPOCH_TOPIC: &[Field] =
    &[f(Str), f(Structs(OFFSET_FOR_LEADER_EPOCH_PARTITION))];
const OFFSET_FOR_LEADER_EPOCH: &[Field] =
    &[since(3, Int32), f(Structs(OFFSET_FOR_LEADER_EPOCH_TOPIC))];
const LIST_PARTITION_REASSIGNMENTS: &[Field] = &[f(Int32), f(Structs(TOPIC_PARTITIONS))];
const ACL_FILTER: &[Field] = &[
    f(Int8),
    f(Str),
    since(1, Int8),
    f(Str),
    f(Str),
    f(Int8),
    f(Int8),
];
const DELETE_ACLS: &[Field] = &[f(Structs(ACL_FILTER))];
const CREATE_ACLS: &[Field] = &[f(Structs(ACL_FILTER))];

const OFFSET_DELETE_PARTITION: &[Field] = &[f(Int32)];
const OFFSET_DELETE_TOPIC: &[Field] = &[f(Str), f(Structs(OFFSET_DELETE_PARTITION))];
const OFFSET_DELETE: &[Field] = &[f(Str), f(Structs(OFFSET_DELETE_TOPIC))];

/// The body layout of an API and the first version that uses the flexible (compact, tagged)
/// encoding. `None` for APIs without a layout here, which must not be advertised.
fn layout(api: ApiKey) -> Option<(&'static [Field], i16)> {
    Some(match api {
        ApiKey::ApiVersions => (API_VERSIONS, 3),
        ApiKey::Metadata => (METADATA, 9),
        ApiKey::Produce => (PRODUCE, 9),
        ApiKey::Fetch => (FETCH, 12),
        ApiKey::ListOffsets => (LIST_OFFSETS, 6),
        ApiKey::CreateTopics => (CREATE_TOPICS, 5),
        ApiKey::DeleteTopics => (DELETE_TOPICS, 4),
        ApiKey::DeleteRecords => (DELETE_RECORDS, 2),
        // DescribeCluster is flexible from v0.
        ApiKey::DescribeCluster => (DESCRIBE_CLUSTER, 0),
        ApiKey::FindCoordinator => (FIND_COORDINATOR, 3),
        ApiKey::JoinGroup => (JOIN_GROUP, 6),
        ApiKey::SyncGroup => (SYNC_GROUP, 4),
        ApiKey::Heartbeat => (HEARTBEAT, 4),
        ApiKey::LeaveGroup => (LEAVE_GROUP, 4),
        ApiKey::OffsetCommit => (OFFSET_COMMIT, 8),
        ApiKey::OffsetFetch => (OFFSET_FETCH, 6),
        ApiKey::ListGroups => (LIST_GROUPS, 3),
        ApiKey::DescribeGroups => (DESCRIBE_GROUPS, 5),
        ApiKey::DeleteGroups => (DELETE_GROUPS, 2),
        // OffsetDelete has no flexible version.
        ApiKey::OffsetDelete => (OFFSET_DELETE, i16::MAX),
        ApiKey::InitProducerId => (INIT_PRODUCER_ID, 2),
        ApiKey::DescribeProducers => (DESCRIBE_PRODUCERS, 0),
        ApiKey::AddPartitionsToTxn => (ADD_PARTITIONS_TO_TXN, 3),
        ApiKey::AddOffsetsToTxn => (ADD_OFFSETS_TO_TXN, 3),
        ApiKey::EndTxn => (END_TXN, 3),
        ApiKey::TxnOffsetCommit => (TXN_OFFSET_COMMIT, 3),
        ApiKey::DescribeTransactions => (DESCRIBE_TRANSACTIONS, 0),
        ApiKey::ListTransactions => (LIST_TRANSACTIONS, 0),
        // WriteTxnMarkers v0 was removed in Kafka 4.0; v1 is flexible.
        ApiKey::WriteTxnMarkers => (WRITE_TXN_MARKERS, 1),
        ApiKey::DescribeConfigs => (DESCRIBE_CONFIGS, 4),
        ApiKey::AlterConfigs => (ALTER_CONFIGS, 2),
        ApiKey::IncrementalAlterConfigs => (INCREMENTAL_ALTER_CONFIGS, 1),
        ApiKey::CreatePartitions => (CREATE_PARTITIONS, 2),
        ApiKey::DescribeLogDirs => (DESCRIBE_LOG_DIRS, 2),
        ApiKey::DescribeTopicPartitions => (DESCRIBE_TOPIC_PARTITIONS, 0),
        ApiKey::ElectLeaders => (ELECT_LEADERS, 2),
        ApiKey::OffsetForLeaderEpoch => (OFFSET_FOR_LEADER_EPOCH, 4),
        ApiKey::ListPartitionReassignments => (LIST_PARTITION_REASSIGNMENTS, 0),
        // A DescribeAcls request is one filter; CreateAcls is an array of creations, which
        // have the filter's layout.
        ApiKey::DescribeAcls => (ACL_FILTER, 2),
        ApiKey::CreateAcls => (CREATE_ACLS, 2),
        ApiKey::DeleteAcls => (DELETE_ACLS, 2),
        _ => return None,
    })
}

/// Whether this guard knows the layout of `api` (every advertised API must be known).
pub fn covers(api: ApiKey) -> bool {
    layout(api).is_some()
}

/// Checks that `body` (the request after its header) is structurally sound for `api` at
/// `version`. The error names the first problem.
pub fn check_body(api: ApiKey, version: i16, body: &[u8]) -> Result<(), String> {
    let (fields, flexible_since) = layout(api).ok_or_else(|| format!("no layout for {api:?}"))?;
    let mut walker = Walker {
        bytes: body,
        at: 0,
        version,
        flexible: version >= flexible_since,
    };
    walker.walk_struct(fields)
}

/// Checks a request header of `header_version` (1 or 2) and returns its length in bytes.
pub fn check_header(header_version: i16, frame: &[u8]) -> Result<usize, String> {
    let mut walker = Walker {
        bytes: frame,
        at: 0,
        version: 0,
        flexible: false,
    };
    walker.take(8)?;
    // The client id keeps its i16 length even in the flexible header v2.
    walker.string()?;
    if header_version >= 2 {
        walker.tagged_fields()?;
    }
    Ok(walker.at)
}

struct Walker<'a> {
    bytes: &'a [u8],
    at: usize,
    version: i16,
    flexible: bool,
}

impl<'a> Walker<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], String> {
        if len > self.remaining() {
            return Err(format!(
                "needs {len} bytes at {}, {} remain",
                self.at,
                self.remaining()
            ));
        }
        let bytes = self.bytes;
        let taken = &bytes[self.at..self.at + len];
        self.at += len;
        Ok(taken)
    }

    fn int16(&mut self) -> Result<i16, String> {
        let bytes = self.take(2)?;
        Ok(i16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn int32(&mut self) -> Result<i32, String> {
        let bytes = self.take(4)?;
        Ok(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn unsigned_varint(&mut self) -> Result<u32, String> {
        let mut value = 0u32;
        for shift in (0..35).step_by(7) {
            let byte = self.take(1)?[0];
            value |= u32::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint longer than 5 bytes".into())
    }

    /// A length or count: `None` for null, else checked to fit in what remains, each unit
    /// taking at least `unit_bytes`.
    fn length(
        &mut self,
        classic: Result<i64, String>,
        unit_bytes: usize,
    ) -> Result<Option<usize>, String> {
        let length = classic?;
        if length < 0 {
            return Ok(None);
        }
        let length = length as usize;
        if length.saturating_mul(unit_bytes) > self.remaining() {
            return Err(format!(
                "length {length} exceeds the {} bytes that remain",
                self.remaining()
            ));
        }
        Ok(Some(length))
    }

    fn classic_or_compact(&mut self, classic_i16: bool) -> Result<i64, String> {
        if self.flexible {
            Ok(i64::from(self.unsigned_varint()?) - 1)
        } else if classic_i16 {
            Ok(i64::from(self.int16()?))
        } else {
            Ok(i64::from(self.int32()?))
        }
    }

    fn string(&mut self) -> Result<(), String> {
        let length = self.classic_or_compact(true);
        if let Some(length) = self.length(length, 1)? {
            self.take(length)?;
        }
        Ok(())
    }

    fn bytes(&mut self) -> Result<(), String> {
        let length = self.classic_or_compact(false);
        if let Some(length) = self.length(length, 1)? {
            self.take(length)?;
        }
        Ok(())
    }

    fn array(
        &mut self,
        mut element: impl FnMut(&mut Self) -> Result<(), String>,
        element_min_bytes: usize,
    ) -> Result<(), String> {
        let count = self.classic_or_compact(false);
        if let Some(count) = self.length(count, element_min_bytes)? {
            for _ in 0..count {
                element(self)?;
            }
        }
        Ok(())
    }

    fn tagged_fields(&mut self) -> Result<(), String> {
        let count = self.unsigned_varint()? as usize;
        if count.saturating_mul(2) > self.remaining() {
            return Err(format!(
                "{count} tagged fields cannot fit in {} bytes",
                self.remaining()
            ));
        }
        for _ in 0..count {
            self.unsigned_varint()?;
            let size = self.unsigned_varint()? as usize;
            self.take(size)?;
        }
        Ok(())
    }

    fn walk_struct(&mut self, fields: &'static [Field]) -> Result<(), String> {
        let version = self.version;
        for field in fields
            .iter()
            .filter(|field| (field.since..=field.until).contains(&version))
        {
            match field.kind {
                Int8 => drop(self.take(1)?),
                Int16 => drop(self.take(2)?),
                Int32 => drop(self.take(4)?),
                Int64 => drop(self.take(8)?),
                Uuid => drop(self.take(16)?),
                Str => self.string()?,
                Bytes => self.bytes()?,
                Int32s => self.array(|walker| walker.take(4).map(drop), 4)?,
                Int64s => self.array(|walker| walker.take(8).map(drop), 8)?,
                Strs => self.array(Self::string, 1)?,
                Structs(inner) => self.array(|walker| walker.walk_struct(inner), 1)?,
                OptStruct(inner) => {
                    if self.take(1)?[0] == 1 {
                        self.walk_struct(inner)?;
                    }
                }
            }
        }
        if self.flexible {
            self.tagged_fields()?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::handlers::SUPPORTED_APIS;
    use bytes::BytesMut;
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn encoded(body: &impl Encodable, version: i16) -> Vec<u8> {
        let mut bytes = BytesMut::new();
        body.encode(&mut bytes, version).unwrap();
        bytes.to_vec()
    }

    fn name(text: &'static str) -> TopicName {
        TopicName(StrBytes::from_static_str(text))
    }

    /// A populated request body of `api` valid at `version` (topic "t", group "g").
    pub(crate) fn sample(api: ApiKey, version: i16) -> Vec<u8> {
        let produce = |version: i16| {
            let topic = produce_request::TopicProduceData::default().with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(bytes::Bytes::from(
                        crate::records::batch::testing::build_batch(1, 0, b"abc"),
                    ))),
            ]);
            let topic = if version >= 13 {
                topic.with_topic_id(uuid::Uuid::from_u128(7))
            } else {
                topic.with_name(name("t"))
            };
            ProduceRequest::default()
                .with_transactional_id(None)
                .with_topic_data(vec![topic])
        };
        let fetch = |version: i16| {
            let topic = fetch_request::FetchTopic::default().with_partitions(vec![
                fetch_request::FetchPartition::default().with_partition(1),
            ]);
            let topic = if version >= 13 {
                topic.with_topic_id(uuid::Uuid::from_u128(7))
            } else {
                topic.with_topic(name("t"))
            };
            let request = FetchRequest::default().with_topics(vec![topic]);
            let request = if version >= 7 {
                let forgotten =
                    fetch_request::ForgottenTopic::default().with_partitions(vec![1, 2]);
                let forgotten = if version >= 13 {
                    forgotten.with_topic_id(uuid::Uuid::from_u128(8))
                } else {
                    forgotten.with_topic(name("u"))
                };
                request.with_forgotten_topics_data(vec![forgotten])
            } else {
                request
            };
            if version >= 12 {
                request.with_cluster_id(Some(StrBytes::from_static_str("c")))
            } else {
                request
            }
        };
        let metadata = MetadataRequest::default().with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default().with_name(Some(name("t"))),
        ]));
        let list_offsets = ListOffsetsRequest::default().with_topics(vec![
            list_offsets_request::ListOffsetsTopic::default()
                .with_name(name("t"))
                .with_partitions(vec![
                    list_offsets_request::ListOffsetsPartition::default().with_timestamp(-1)
                ]),
        ]);
        let create = CreateTopicsRequest::default().with_topics(vec![
            create_topics_request::CreatableTopic::default()
                .with_name(name("t"))
                .with_assignments(vec![
                    create_topics_request::CreatableReplicaAssignment::default()
                        .with_broker_ids(vec![BrokerId(1)]),
                ])
                .with_configs(vec![create_topics_request::CreatableTopicConfig::default()
                    .with_name(StrBytes::from_static_str("k"))
                    .with_value(None)]),
        ]);
        let delete = |version: i16| {
            if version >= 6 {
                DeleteTopicsRequest::default()
                    .with_topics(vec![delete_topics_request::DeleteTopicState::default()
                        .with_name(Some(name("t")))])
            } else {
                DeleteTopicsRequest::default().with_topic_names(vec![name("t")])
            }
        };
        let api_versions = |version: i16| {
            if version >= 3 {
                ApiVersionsRequest::default()
                    .with_client_software_name(StrBytes::from_static_str("x"))
                    .with_client_software_version(StrBytes::from_static_str("1"))
            } else {
                ApiVersionsRequest::default()
            }
        };
        match api {
            ApiKey::Produce => encoded(&produce(version), version),
            ApiKey::Fetch => encoded(&fetch(version), version),
            ApiKey::Metadata => encoded(&metadata, version),
            ApiKey::ListOffsets => encoded(&list_offsets, version),
            ApiKey::CreateTopics => encoded(&create, version),
            ApiKey::DeleteTopics => encoded(&delete(version), version),
            ApiKey::DescribeCluster => {
                let request = DescribeClusterRequest::default()
                    .with_include_cluster_authorized_operations(true);
                let request = if version >= 1 {
                    request.with_endpoint_type(1)
                } else {
                    request
                };
                let request = if version >= 2 {
                    request.with_include_fenced_brokers(true)
                } else {
                    request
                };
                encoded(&request, version)
            }
            ApiKey::DescribeConfigs => {
                let request = DescribeConfigsRequest::default().with_resources(vec![
                    describe_configs_request::DescribeConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(StrBytes::from_static_str("t"))
                        .with_configuration_keys(Some(vec![StrBytes::from_static_str(
                            "retention.ms",
                        )])),
                    describe_configs_request::DescribeConfigsResource::default()
                        .with_resource_type(4)
                        .with_resource_name(StrBytes::from_static_str("0")),
                ]);
                let request = request.with_include_synonyms(true);
                let request = if version >= 3 {
                    request.with_include_documentation(true)
                } else {
                    request
                };
                encoded(&request, version)
            }
            ApiKey::AlterConfigs => encoded(
                &AlterConfigsRequest::default()
                    .with_resources(vec![alter_configs_request::AlterConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(StrBytes::from_static_str("t"))
                        .with_configs(vec![alter_configs_request::AlterableConfig::default()
                            .with_name(StrBytes::from_static_str("retention.ms"))
                            .with_value(Some(StrBytes::from_static_str("1000")))])])
                    .with_validate_only(true),
                version,
            ),
            ApiKey::IncrementalAlterConfigs => encoded(
                &IncrementalAlterConfigsRequest::default()
                    .with_resources(vec![
                        incremental_alter_configs_request::AlterConfigsResource::default()
                            .with_resource_type(2)
                            .with_resource_name(StrBytes::from_static_str("t"))
                            .with_configs(vec![
                                incremental_alter_configs_request::AlterableConfig::default()
                                    .with_name(StrBytes::from_static_str("cleanup.policy"))
                                    .with_config_operation(2)
                                    .with_value(Some(StrBytes::from_static_str("compact"))),
                            ]),
                    ])
                    .with_validate_only(true),
                version,
            ),
            ApiKey::CreatePartitions => encoded(
                &CreatePartitionsRequest::default()
                    .with_topics(vec![
                        create_partitions_request::CreatePartitionsTopic::default()
                            .with_name(name("t"))
                            .with_count(3)
                            .with_assignments(Some(vec![
                                create_partitions_request::CreatePartitionsAssignment::default()
                                    .with_broker_ids(vec![BrokerId(0)]),
                            ])),
                    ])
                    .with_validate_only(true),
                version,
            ),
            ApiKey::DescribeLogDirs => encoded(
                &DescribeLogDirsRequest::default().with_topics(Some(vec![
                    describe_log_dirs_request::DescribableLogDirTopic::default()
                        .with_topic(name("t"))
                        .with_partitions(vec![0, 1]),
                ])),
                version,
            ),
            ApiKey::DescribeTopicPartitions => encoded(
                &DescribeTopicPartitionsRequest::default()
                    .with_topics(vec![
                        describe_topic_partitions_request::TopicRequest::default()
                            .with_name(name("t")),
                    ])
                    .with_response_partition_limit(1)
                    .with_cursor(Some(
                        describe_topic_partitions_request::Cursor::default()
                            .with_topic_name(name("t"))
                            .with_partition_index(1),
                    )),
                version,
            ),
            ApiKey::ElectLeaders => {
                let request = ElectLeadersRequest::default().with_topic_partitions(Some(vec![
                    elect_leaders_request::TopicPartitions::default()
                        .with_topic(name("t"))
                        .with_partitions(vec![0, 9]),
                ]));
                let request = if version >= 1 {
                    request.with_election_type(1)
                } else {
                    request
                };
                encoded(&request, version)
            }
            ApiKey::OffsetForLeaderEpoch => encoded(
                &OffsetForLeaderEpochRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_topics(vec![
                        offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                            .with_topic(name("t"))
                            .with_partitions(vec![
                                offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                                    .with_partition(0)
                                    .with_current_leader_epoch(0)
                                    .with_leader_epoch(0),
                            ]),
                    ]),
                version,
            ),
            ApiKey::ListPartitionReassignments => encoded(
                &ListPartitionReassignmentsRequest::default().with_topics(Some(vec![
                    list_partition_reassignments_request::ListPartitionReassignmentsTopics::default()
                        .with_name(name("t"))
                        .with_partition_indexes(vec![0]),
                ])),
                version,
            ),
            ApiKey::DescribeAcls => encoded(
                &DescribeAclsRequest::default()
                    .with_resource_type_filter(2)
                    .with_resource_name_filter(Some(StrBytes::from_static_str("t")))
                    .with_pattern_type_filter(3)
                    .with_operation(2)
                    .with_permission_type(3),
                version,
            ),
            ApiKey::CreateAcls => encoded(
                &CreateAclsRequest::default().with_creations(vec![
                    create_acls_request::AclCreation::default()
                        .with_resource_type(2)
                        .with_resource_name(StrBytes::from_static_str("t"))
                        .with_resource_pattern_type(3)
                        .with_principal(StrBytes::from_static_str("User:x"))
                        .with_host(StrBytes::from_static_str("*"))
                        .with_operation(2)
                        .with_permission_type(3),
                ]),
                version,
            ),
            ApiKey::DeleteAcls => encoded(
                &DeleteAclsRequest::default().with_filters(vec![
                    delete_acls_request::DeleteAclsFilter::default()
                        .with_resource_type_filter(2)
                        .with_pattern_type_filter(3)
                        .with_operation(2)
                        .with_permission_type(3),
                ]),
                version,
            ),
            ApiKey::DeleteRecords => encoded(
                &DeleteRecordsRequest::default()
                    .with_topics(vec![delete_records_request::DeleteRecordsTopic::default()
                        .with_name(name("t"))
                        .with_partitions(vec![
                            delete_records_request::DeleteRecordsPartition::default()
                                .with_partition_index(1)
                                .with_offset(5),
                        ])])
                    .with_timeout_ms(100),
                version,
            ),
            ApiKey::ApiVersions => encoded(&api_versions(version), version),
            ApiKey::WriteTxnMarkers => encoded(
                &WriteTxnMarkersRequest::default().with_markers(vec![
                    write_txn_markers_request::WritableTxnMarker::default()
                        .with_producer_id(ProducerId(9))
                        .with_topics(vec![
                            write_txn_markers_request::WritableTxnMarkerTopic::default()
                                .with_name(name("t"))
                                .with_partition_indexes(vec![0, 7]),
                        ]),
                ]),
                version,
            ),
            other => {
                group_sample(other, version).unwrap_or_else(|| panic!("no sample for {other:?}"))
            }
        }
    }

    /// Every advertised API at every advertised version: a populated request encoded by the
    /// crate passes the guard, and every strict prefix of it is refused.
    #[test]
    fn accepts_every_advertised_version_and_refuses_truncation() {
        for api in SUPPORTED_APIS {
            assert!(covers(api.key), "{:?} has no guard layout", api.key);
            for version in api.versions.min..=api.versions.max {
                let body = sample(api.key, version);
                check_body(api.key, version, &body)
                    .unwrap_or_else(|error| panic!("{:?} v{version}: {error}", api.key));
                if !body.is_empty() {
                    assert!(
                        check_body(api.key, version, &body[..body.len() - 1]).is_err(),
                        "{:?} v{version} truncated",
                        api.key
                    );
                }
            }
        }
    }

    fn text(value: &'static str) -> StrBytes {
        StrBytes::from_static_str(value)
    }

    /// A populated group API request valid at `version`, encoded.
    fn group_sample(api: ApiKey, version: i16) -> Option<Vec<u8>> {
        let from = |min: i16, value: &'static str| (version >= min).then(|| text(value));
        let group = GroupId(text("g"));
        Some(match api {
            ApiKey::FindCoordinator => {
                let request = FindCoordinatorRequest::default().with_key_type(if version >= 1 {
                    1
                } else {
                    0
                });
                let request = if version >= 4 {
                    request.with_coordinator_keys(vec![text("g")])
                } else {
                    request.with_key(text("g"))
                };
                encoded(&request, version)
            }
            ApiKey::JoinGroup => encoded(
                &JoinGroupRequest::default()
                    .with_group_id(group)
                    .with_session_timeout_ms(10_000)
                    .with_rebalance_timeout_ms(if version >= 1 { 30_000 } else { -1 })
                    .with_member_id(text("m"))
                    .with_group_instance_id(from(5, "i"))
                    .with_protocol_type(text("consumer"))
                    .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
                    )
                    .with_name(text("range"))
                    .with_metadata(bytes::Bytes::from_static(b"meta"))])
                    .with_reason(from(8, "why")),
                version,
            ),
            ApiKey::SyncGroup => encoded(
                &SyncGroupRequest::default()
                    .with_group_id(group)
                    .with_generation_id(1)
                    .with_member_id(text("m"))
                    .with_group_instance_id(from(3, "i"))
                    .with_protocol_type(from(5, "consumer"))
                    .with_protocol_name(from(5, "range"))
                    .with_assignments(vec![
                        sync_group_request::SyncGroupRequestAssignment::default()
                            .with_member_id(text("m"))
                            .with_assignment(bytes::Bytes::from_static(b"a")),
                    ]),
                version,
            ),
            ApiKey::Heartbeat => encoded(
                &HeartbeatRequest::default()
                    .with_group_id(group)
                    .with_generation_id(1)
                    .with_member_id(text("m"))
                    .with_group_instance_id(from(3, "i")),
                version,
            ),
            ApiKey::LeaveGroup => {
                let request = LeaveGroupRequest::default().with_group_id(group);
                let request = if version >= 3 {
                    request.with_members(vec![leave_group_request::MemberIdentity::default()
                        .with_member_id(text("m"))
                        .with_group_instance_id(Some(text("i")))
                        .with_reason(from(5, "bye"))])
                } else {
                    request.with_member_id(text("m"))
                };
                encoded(&request, version)
            }
            ApiKey::OffsetCommit => encoded(
                &OffsetCommitRequest::default()
                    .with_group_id(group)
                    .with_generation_id_or_member_epoch(1)
                    .with_member_id(text("m"))
                    .with_group_instance_id(from(7, "i"))
                    .with_topics(vec![
                        offset_commit_request::OffsetCommitRequestTopic::default()
                            .with_name(name("t"))
                            .with_partitions(vec![
                                offset_commit_request::OffsetCommitRequestPartition::default()
                                    .with_committed_offset(5)
                                    .with_committed_leader_epoch(if version >= 6 { 2 } else { -1 })
                                    .with_committed_metadata(Some(text("meta"))),
                            ]),
                    ]),
                version,
            ),
            ApiKey::OffsetFetch => {
                let request = if version >= 8 {
                    OffsetFetchRequest::default().with_groups(vec![
                        offset_fetch_request::OffsetFetchRequestGroup::default()
                            .with_group_id(group)
                            .with_member_id(from(9, "m"))
                            .with_member_epoch(if version >= 9 { 3 } else { -1 })
                            .with_topics(Some(vec![
                                offset_fetch_request::OffsetFetchRequestTopics::default()
                                    .with_name(name("t"))
                                    .with_partition_indexes(vec![0, 1]),
                            ])),
                    ])
                } else {
                    OffsetFetchRequest::default()
                        .with_group_id(group)
                        .with_topics(Some(vec![
                            offset_fetch_request::OffsetFetchRequestTopic::default()
                                .with_name(name("t"))
                                .with_partition_indexes(vec![0, 1]),
                        ]))
                };
                encoded(&request.with_require_stable(version >= 7), version)
            }
            ApiKey::ListGroups => encoded(
                &ListGroupsRequest::default()
                    .with_states_filter(if version >= 4 {
                        vec![text("Stable")]
                    } else {
                        Vec::new()
                    })
                    .with_types_filter(if version >= 5 {
                        vec![text("classic")]
                    } else {
                        Vec::new()
                    }),
                version,
            ),
            ApiKey::DescribeGroups => encoded(
                &DescribeGroupsRequest::default()
                    .with_groups(vec![group])
                    .with_include_authorized_operations(version >= 3),
                version,
            ),
            ApiKey::DeleteGroups => encoded(
                &DeleteGroupsRequest::default().with_groups_names(vec![group]),
                version,
            ),
            ApiKey::OffsetDelete => encoded(
                &OffsetDeleteRequest::default()
                    .with_group_id(group)
                    .with_topics(vec![
                        offset_delete_request::OffsetDeleteRequestTopic::default()
                            .with_name(name("t"))
                            .with_partitions(vec![
                                offset_delete_request::OffsetDeleteRequestPartition::default()
                                    .with_partition_index(3),
                            ]),
                    ]),
                version,
            ),
            ApiKey::InitProducerId => encoded(
                &InitProducerIdRequest::default()
                    .with_transactional_id(None)
                    .with_transaction_timeout_ms(60_000)
                    .with_producer_id(ProducerId(if version >= 3 { 5 } else { -1 }))
                    .with_producer_epoch(if version >= 3 { 2 } else { -1 }),
                version,
            ),
            ApiKey::DescribeProducers => encoded(
                &DescribeProducersRequest::default().with_topics(vec![
                    describe_producers_request::TopicRequest::default()
                        .with_name(name("t"))
                        .with_partition_indexes(vec![0, 1]),
                ]),
                version,
            ),
            ApiKey::AddPartitionsToTxn => {
                let topic = add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                    .with_name(name("t"))
                    .with_partitions(vec![0, 1]);
                let request = if version >= 4 {
                    AddPartitionsToTxnRequest::default().with_transactions(vec![
                        add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default()
                            .with_transactional_id(TransactionalId(text("tx")))
                            .with_producer_id(ProducerId(3))
                            .with_producer_epoch(1)
                            .with_verify_only(true)
                            .with_topics(vec![topic]),
                    ])
                } else {
                    AddPartitionsToTxnRequest::default()
                        .with_v3_and_below_transactional_id(TransactionalId(text("tx")))
                        .with_v3_and_below_producer_id(ProducerId(3))
                        .with_v3_and_below_producer_epoch(1)
                        .with_v3_and_below_topics(vec![topic])
                };
                encoded(&request, version)
            }
            ApiKey::AddOffsetsToTxn => encoded(
                &AddOffsetsToTxnRequest::default()
                    .with_transactional_id(TransactionalId(text("tx")))
                    .with_producer_id(ProducerId(3))
                    .with_producer_epoch(1)
                    .with_group_id(group),
                version,
            ),
            ApiKey::EndTxn => encoded(
                &EndTxnRequest::default()
                    .with_transactional_id(TransactionalId(text("tx")))
                    .with_producer_id(ProducerId(3))
                    .with_producer_epoch(1)
                    .with_committed(true),
                version,
            ),
            ApiKey::TxnOffsetCommit => encoded(
                &TxnOffsetCommitRequest::default()
                    .with_transactional_id(TransactionalId(text("tx")))
                    .with_group_id(group)
                    .with_producer_id(ProducerId(3))
                    .with_producer_epoch(1)
                    .with_generation_id(if version >= 3 { 4 } else { -1 })
                    .with_member_id(if version >= 3 {
                        text("m")
                    } else {
                        StrBytes::default()
                    })
                    .with_group_instance_id(from(3, "i"))
                    .with_topics(vec![
                        txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                            .with_name(name("t"))
                            .with_partitions(vec![
                        txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                            .with_committed_offset(5)
                            .with_committed_leader_epoch(if version >= 2 { 1 } else { -1 })
                            .with_committed_metadata(Some(text("m"))),
                    ]),
                    ]),
                version,
            ),
            ApiKey::DescribeTransactions => encoded(
                &DescribeTransactionsRequest::default()
                    .with_transactional_ids(vec![TransactionalId(text("tx"))]),
                version,
            ),
            ApiKey::ListTransactions => encoded(
                &ListTransactionsRequest::default()
                    .with_state_filters(vec![text("Ongoing")])
                    .with_producer_id_filters(vec![ProducerId(1), ProducerId(2)])
                    .with_duration_filter(if version >= 1 { 1_000 } else { -1 }),
                version,
            ),
            _ => return None,
        })
    }

    #[test]
    fn refuses_a_huge_array_count() {
        let mut body = Vec::new();
        body.extend_from_slice(&(-1i32).to_be_bytes()); // replica id
        body.extend_from_slice(&[0; 13]); // max wait, min bytes, max bytes, isolation
        body.extend_from_slice(&[0; 8]); // session id, epoch
        body.extend_from_slice(&i32::MAX.to_be_bytes()); // topics count
        assert!(check_body(ApiKey::Fetch, 7, &body)
            .unwrap_err()
            .contains("exceeds"));
    }
}
