//! The request body layouts the guard walks: each advertised API's fields, with the versions
//! that have them, as Kafka's message specs (`clients/src/main/resources/common/message/`)
//! define them.

use kafka_protocol::messages::ApiKey;

/// One field of a request struct, present in versions `since..=until`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Field {
    pub(super) kind: Kind,
    pub(super) since: i16,
    pub(super) until: i16,
}

/// The wire type of a field.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
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
    /// a struct that is always there (a tagged field's value).
    Struct(&'static [Field]),
    /// a tagged field the crate knows (tag, value): it decodes the value from the stream
    /// itself rather than within the size the sender gave, so the guard walks the value and
    /// requires it to fill exactly that size. Walked among the struct's tagged fields.
    Tagged(u32, &'static Kind),
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
    since(17, Tagged(0, &Uuid)),
    since(18, Tagged(1, &Int64)),
];
const FETCH_REPLICA_STATE: &[Field] = &[f(Int32), f(Int64)];
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
    since(12, Tagged(0, &Str)),
    since(15, Tagged(1, &Struct(FETCH_REPLICA_STATE))),
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
const REASSIGNABLE_PARTITION: &[Field] = &[f(Int32), f(Int32s)];
const REASSIGNABLE_TOPIC: &[Field] = &[f(Str), f(Structs(REASSIGNABLE_PARTITION))];
const ALTER_PARTITION_REASSIGNMENTS: &[Field] =
    &[f(Int32), since(1, Int8), f(Structs(REASSIGNABLE_TOPIC))];
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

const SASL_HANDSHAKE: &[Field] = &[f(Str)];
const SASL_AUTHENTICATE: &[Field] = &[f(Bytes)];
const DESCRIBE_SCRAM_CREDENTIALS: &[Field] = &[f(Structs(&[f(Str)]))];
const SCRAM_DELETION: &[Field] = &[f(Str), f(Int8)];
const SCRAM_UPSERTION: &[Field] = &[f(Str), f(Int8), f(Int32), f(Bytes), f(Bytes)];
const ALTER_SCRAM_CREDENTIALS: &[Field] =
    &[f(Structs(SCRAM_DELETION)), f(Structs(SCRAM_UPSERTION))];

const QUOTA_COMPONENT: &[Field] = &[f(Str), f(Int8), f(Str)];
const DESCRIBE_CLIENT_QUOTAS: &[Field] = &[f(Structs(QUOTA_COMPONENT)), f(Int8)];
const QUOTA_ENTITY: &[Field] = &[f(Str), f(Str)];
/// A quota op: key, value (a float64, eight bytes like an int64) and whether to remove.
const QUOTA_OP: &[Field] = &[f(Str), f(Int64), f(Int8)];
const QUOTA_ENTRY: &[Field] = &[f(Structs(QUOTA_ENTITY)), f(Structs(QUOTA_OP))];
const ALTER_CLIENT_QUOTAS: &[Field] = &[f(Structs(QUOTA_ENTRY)), f(Int8)];

const OFFSET_DELETE_PARTITION: &[Field] = &[f(Int32)];
const OFFSET_DELETE_TOPIC: &[Field] = &[f(Str), f(Structs(OFFSET_DELETE_PARTITION))];
const OFFSET_DELETE: &[Field] = &[f(Str), f(Structs(OFFSET_DELETE_TOPIC))];

/// The body layout of an API and the first version that uses the flexible (compact, tagged)
/// encoding. `None` for APIs without a layout here, which must not be advertised.
pub(super) fn layout(api: ApiKey) -> Option<(&'static [Field], i16)> {
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
        ApiKey::AlterPartitionReassignments => (ALTER_PARTITION_REASSIGNMENTS, 0),
        // A DescribeAcls request is one filter; CreateAcls is an array of creations, which
        // have the filter's layout.
        ApiKey::DescribeAcls => (ACL_FILTER, 2),
        ApiKey::CreateAcls => (CREATE_ACLS, 2),
        ApiKey::DeleteAcls => (DELETE_ACLS, 2),
        // SaslHandshake has no flexible version.
        ApiKey::SaslHandshake => (SASL_HANDSHAKE, i16::MAX),
        ApiKey::SaslAuthenticate => (SASL_AUTHENTICATE, 2),
        // Both SCRAM credential APIs are flexible from v0.
        ApiKey::DescribeClientQuotas => (DESCRIBE_CLIENT_QUOTAS, 1),
        ApiKey::AlterClientQuotas => (ALTER_CLIENT_QUOTAS, 1),
        ApiKey::DescribeUserScramCredentials => (DESCRIBE_SCRAM_CREDENTIALS, 0),
        ApiKey::AlterUserScramCredentials => (ALTER_SCRAM_CREDENTIALS, 0),
        _ => return None,
    })
}
