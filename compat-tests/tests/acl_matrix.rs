//! The ACL matrix against the reference: Apache Kafka and spool, both with Kafka's standard
//! authorizer configured the same way, answer every API spool serves for a client with and
//! without the permissions the API needs; what the client observes (error codes, authorized
//! operations and error messages) must be the same.
//!
//! Both brokers listen in plaintext, so every client is `User:ANONYMOUS`: the client under
//! test connects from 127.0.0.2, the administrator from 127.0.0.1, and ACLs name the host.
//! With `allow.everyone.if.no.acl.found=true` and an ALLOW-ALL binding for the
//! administrator's host on every topic, group, transactional id and the cluster, a resource
//! is closed to the client until a stage of a case grants it what it needs (Kafka's own
//! inter-broker traffic, from 127.0.0.1, keeps its rights).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bytes::Bytes;
use compat_tests::kafka::ReferenceBroker;
use compat_tests::wire::{describe_every_acl, WireClient};
use compat_tests::{wait_for, SpawnedBroker};
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialDeletion;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_producers_request::TopicRequest as ProducersTopic;
use kafka_protocol::messages::describe_topic_partitions_request::TopicRequest as PartitionsTopic;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{
    incremental_alter_configs_request as incremental, AddOffsetsToTxnRequest,
    AddPartitionsToTxnRequest, AlterClientQuotasRequest, AlterConfigsRequest,
    AlterPartitionReassignmentsRequest, AlterUserScramCredentialsRequest, CreateAclsRequest,
    CreatePartitionsRequest, CreateTopicsRequest, DeleteAclsRequest, DeleteGroupsRequest,
    DeleteRecordsRequest, DeleteTopicsRequest, DescribeClientQuotasRequest, DescribeClusterRequest,
    DescribeConfigsRequest, DescribeGroupsRequest, DescribeLogDirsRequest,
    DescribeProducersRequest, DescribeTopicPartitionsRequest, DescribeTransactionsRequest,
    DescribeUserScramCredentialsRequest, ElectLeadersRequest, EndTxnRequest, FetchRequest,
    FindCoordinatorRequest, GroupId, HeartbeatRequest, IncrementalAlterConfigsRequest,
    InitProducerIdRequest, JoinGroupRequest, LeaveGroupRequest, ListGroupsRequest,
    ListOffsetsRequest, ListPartitionReassignmentsRequest, ListTransactionsRequest,
    MetadataRequest, OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest,
    OffsetForLeaderEpochRequest, ProduceRequest, ProducerId, SyncGroupRequest, TopicName,
    TransactionalId, TxnOffsetCommitRequest, WriteTxnMarkersRequest,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use spool::records::batch::testing::build_records_batch;

const AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";
const ANONYMOUS: &str = "User:ANONYMOUS";
const ADMIN_HOST: &str = "127.0.0.1";
const CLIENT_HOST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// How long a coordinator may take to come up (Kafka creates its internal topics lazily).
const COORDINATOR_WAIT: Duration = Duration::from_secs(30);
/// How long a created or deleted binding may take to reach the authorizer.
const ACL_PROPAGATION: Duration = Duration::from_secs(15);

// Kafka's codes: resource types, operations, pattern and permission types.
const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const CLUSTER: i8 = 4;
const TRANSACTIONAL_ID: i8 = 5;
const ALL: i8 = 2;
const READ: i8 = 3;
const WRITE: i8 = 4;
const CREATE: i8 = 5;
const DELETE: i8 = 6;
const ALTER: i8 = 7;
const DESCRIBE: i8 = 8;
const DESCRIBE_CONFIGS: i8 = 10;
const ALTER_CONFIGS: i8 = 11;
const IDEMPOTENT_WRITE: i8 = 12;
const LITERAL: i8 = 3;
const ALLOW: i8 = 3;

/// A permission given to the client under test: `operation` on the resource of `kind`
/// named `name`.
#[derive(Clone, Copy)]
struct Grant {
    kind: i8,
    name: &'static str,
    operation: i8,
}

const fn grant(kind: i8, name: &'static str, operation: i8) -> Grant {
    Grant {
        kind,
        name,
        operation,
    }
}

/// One API's case: a request observed once per stage, each stage with its own grants (the
/// first with none).
struct Case {
    name: &'static str,
    stages: &'static [&'static [Grant]],
    observe: fn(&mut WireClient) -> String,
}

/// Lines where spool differs from Kafka, known and explained: (line, why).
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[];

/// Lines whose error messages differ from Kafka's, for a reason; their codes are compared.
const KNOWN_MESSAGE_DIFFERENCES: &[(&str, &str)] = &[
    ("AlterPartitionReassignments / stage 0", CONTROLLER_REFUSAL),
    ("AlterUserScramCredentials / stage 0", CONTROLLER_REFUSAL),
    ("CreateAcls / stage 0", CONTROLLER_REFUSAL),
    ("ElectLeaders / stage 0", CONTROLLER_REFUSAL),
    ("ListPartitionReassignments / stage 0", CONTROLLER_REFUSAL),
];

/// Kafka's controller tells a refused cluster operation as "Request Request(processor=…,
/// session=…@…, buffer=…) needs ALTER permission.", a print of its internal request object;
/// spool says "Cluster authorization failed." (nothing for CreateAcls).
const CONTROLLER_REFUSAL: &str = "Kafka's message prints its own request object";

const CASES: &[Case] = &[
    Case {
        name: "Metadata named topic",
        stages: &[&[], &[grant(TOPIC, "t", DESCRIBE)]],
        observe: |client| {
            let request = MetadataRequest::default()
                .with_topics(Some(vec![
                    MetadataRequestTopic::default().with_name(Some(topic("t")))
                ]))
                .with_include_topic_authorized_operations(true);
            codes(&client.call(12, &request))
        },
    },
    Case {
        name: "Metadata cluster operations",
        stages: &[&[], &[grant(CLUSTER, "kafka-cluster", DESCRIBE)]],
        observe: |client| {
            let request = MetadataRequest::default()
                .with_topics(Some(Vec::new()))
                .with_include_cluster_authorized_operations(true);
            codes(&client.call(10, &request))
        },
    },
    Case {
        name: "Metadata all topics",
        stages: &[&[], &[grant(TOPIC, "t", DESCRIBE)]],
        observe: |client| {
            let response = client.call(12, &MetadataRequest::default().with_topics(None));
            let listed = response
                .topics
                .iter()
                .any(|listed| listed.name.as_deref().map(|name| name.as_str()) == Some("t"));
            format!("lists t: {listed}")
        },
    },
    Case {
        name: "Metadata auto-creation",
        stages: &[&[], &[grant(TOPIC, "auto-t", DESCRIBE)]],
        observe: |client| {
            let request = MetadataRequest::default()
                .with_topics(Some(vec![
                    MetadataRequestTopic::default().with_name(Some(topic("auto-t")))
                ]))
                .with_allow_auto_topic_creation(true);
            codes(&client.call(12, &request))
        },
    },
    Case {
        name: "Produce",
        stages: &[&[], &[grant(TOPIC, "t", WRITE)]],
        observe: |client| {
            let request = ProduceRequest::default()
                .with_acks(1)
                .with_timeout_ms(10_000)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(topic("t"))
                    .with_partition_data(vec![PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(Bytes::from(build_records_batch(
                            &[now_ms()],
                            Compression::None,
                        ))))])]);
            codes(&client.call(9, &request))
        },
    },
    Case {
        name: "Fetch",
        stages: &[&[], &[grant(TOPIC, "t", READ)]],
        observe: |client| {
            let request = FetchRequest::default()
                .with_max_wait_ms(0)
                .with_max_bytes(1 << 20)
                .with_session_epoch(-1)
                .with_replica_id(kafka_protocol::messages::BrokerId(-1))
                .with_topics(vec![FetchTopic::default()
                    .with_topic(topic("t"))
                    .with_partitions(vec![FetchPartition::default()
                        .with_partition(0)
                        .with_partition_max_bytes(1 << 20)])]);
            codes(&client.call(12, &request))
        },
    },
    Case {
        name: "ListOffsets",
        stages: &[&[], &[grant(TOPIC, "t", DESCRIBE)]],
        observe: |client| {
            let request = ListOffsetsRequest::default()
                .with_replica_id(kafka_protocol::messages::BrokerId(-1))
                .with_topics(vec![ListOffsetsTopic::default()
                    .with_name(topic("t"))
                    .with_partitions(vec![
                        ListOffsetsPartition::default().with_timestamp(-2)
                    ])]);
            codes(&client.call(7, &request))
        },
    },
    Case {
        name: "OffsetForLeaderEpoch",
        stages: &[&[], &[grant(TOPIC, "t", DESCRIBE)]],
        observe: |client| {
            let request = OffsetForLeaderEpochRequest::default()
                .with_replica_id(kafka_protocol::messages::BrokerId(-1))
                .with_topics(vec![OffsetForLeaderTopic::default()
                    .with_topic(topic("t"))
                    .with_partitions(vec![OffsetForLeaderPartition::default()
                        .with_current_leader_epoch(-1)
                        .with_leader_epoch(0)])]);
            codes(&client.call(4, &request))
        },
    },
    Case {
        name: "FindCoordinator group",
        stages: &[&[], &[grant(GROUP, "g", DESCRIBE)]],
        observe: |client| {
            let request = FindCoordinatorRequest::default()
                .with_key_type(0)
                .with_coordinator_keys(vec![StrBytes::from_static_str("g")]);
            codes(&client.call(4, &request))
        },
    },
    Case {
        name: "FindCoordinator transaction",
        stages: &[&[], &[grant(TRANSACTIONAL_ID, "x", DESCRIBE)]],
        observe: |client| {
            let request = FindCoordinatorRequest::default()
                .with_key_type(1)
                .with_coordinator_keys(vec![StrBytes::from_static_str("x")]);
            codes(&client.call(4, &request))
        },
    },
    Case {
        name: "JoinGroup",
        stages: &[&[], &[grant(GROUP, "joining", READ)]],
        observe: |client| {
            let request = JoinGroupRequest::default()
                .with_group_id(group("joining"))
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(10_000)
                .with_protocol_type(StrBytes::from_static_str("consumer"))
                .with_protocols(vec![
                    kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol::default()
                        .with_name(StrBytes::from_static_str("range")),
                ]);
            let response = client.call(5, &request);
            format!("error_code: {}", response.error_code)
        },
    },
    Case {
        name: "Heartbeat",
        stages: &[&[], &[grant(GROUP, "g", READ)]],
        observe: |client| {
            let request = HeartbeatRequest::default()
                .with_group_id(group("g"))
                .with_generation_id(1)
                .with_member_id(StrBytes::from_static_str("m"));
            codes(&client.call(4, &request))
        },
    },
    Case {
        name: "SyncGroup",
        stages: &[&[], &[grant(GROUP, "g", READ)]],
        observe: |client| {
            let request = SyncGroupRequest::default()
                .with_group_id(group("g"))
                .with_generation_id(1)
                .with_member_id(StrBytes::from_static_str("m"))
                .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
                .with_protocol_name(Some(StrBytes::from_static_str("range")))
                .with_assignments(Vec::<SyncGroupRequestAssignment>::new());
            codes(&client.call(5, &request))
        },
    },
    Case {
        name: "LeaveGroup",
        stages: &[&[], &[grant(GROUP, "g", READ)]],
        observe: |client| {
            let request = LeaveGroupRequest::default()
                .with_group_id(group("g"))
                .with_members(vec![
                    MemberIdentity::default().with_member_id(StrBytes::from_static_str("m"))
                ]);
            codes(&client.call(4, &request))
        },
    },
    Case {
        name: "OffsetCommit",
        stages: &[
            &[],
            &[grant(GROUP, "g", READ)],
            &[grant(GROUP, "g", READ), grant(TOPIC, "t", READ)],
        ],
        observe: |client| {
            let request = OffsetCommitRequest::default()
                .with_group_id(group("g"))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(topic("t"))
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default().with_committed_offset(0)
                    ])]);
            codes(&client.call(8, &request))
        },
    },
    Case {
        name: "OffsetFetch named topic",
        stages: &[
            &[],
            &[grant(GROUP, "g", DESCRIBE)],
            &[grant(GROUP, "g", DESCRIBE), grant(TOPIC, "t", DESCRIBE)],
        ],
        observe: |client| {
            let request = OffsetFetchRequest::default()
                .with_group_id(group("g"))
                .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                    .with_name(topic("t"))
                    .with_partition_indexes(vec![0])]));
            codes(&client.call(7, &request))
        },
    },
    Case {
        name: "OffsetFetch every topic",
        stages: &[
            &[],
            &[grant(GROUP, "g", DESCRIBE)],
            &[grant(GROUP, "g", DESCRIBE), grant(TOPIC, "t", DESCRIBE)],
        ],
        observe: |client| {
            let request = OffsetFetchRequest::default()
                .with_group_id(group("g"))
                .with_topics(None);
            codes(&client.call(7, &request))
        },
    },
    Case {
        name: "DescribeGroups",
        stages: &[&[], &[grant(GROUP, "g", DESCRIBE)]],
        observe: |client| {
            let request = DescribeGroupsRequest::default()
                .with_groups(vec![group("g")])
                .with_include_authorized_operations(true);
            codes(&client.call(5, &request))
        },
    },
    Case {
        name: "ListGroups",
        stages: &[
            &[],
            &[grant(GROUP, "g", DESCRIBE)],
            &[grant(CLUSTER, "kafka-cluster", DESCRIBE)],
        ],
        observe: |client| {
            let response = client.call(4, &ListGroupsRequest::default());
            let mut listed: Vec<&str> = response
                .groups
                .iter()
                .map(|group| group.group_id.as_str())
                .filter(|id| id.starts_with('g'))
                .collect();
            listed.sort_unstable();
            format!("error_code: {} lists {listed:?}", response.error_code)
        },
    },
    Case {
        name: "OffsetDelete",
        stages: &[
            &[],
            &[grant(GROUP, "g", DELETE)],
            &[grant(GROUP, "g", DELETE), grant(TOPIC, "t", READ)],
        ],
        observe: |client| {
            let request = OffsetDeleteRequest::default()
                .with_group_id(group("g"))
                .with_topics(vec![OffsetDeleteRequestTopic::default()
                    .with_name(topic("t"))
                    .with_partitions(vec![OffsetDeleteRequestPartition::default()])]);
            codes(&client.call(0, &request))
        },
    },
    Case {
        name: "DeleteGroups",
        stages: &[&[], &[grant(GROUP, "g-del", DELETE)]],
        observe: |client| {
            let request = DeleteGroupsRequest::default().with_groups_names(vec![group("g-del")]);
            codes(&client.call(2, &request))
        },
    },
    Case {
        name: "CreateTopics",
        stages: &[
            &[],
            &[grant(TOPIC, "new-t", CREATE)],
            &[
                grant(TOPIC, "new-t", CREATE),
                grant(TOPIC, "new-t", DESCRIBE_CONFIGS),
            ],
            &[grant(CLUSTER, "kafka-cluster", CREATE)],
        ],
        observe: |client| {
            let request = CreateTopicsRequest::default()
                .with_timeout_ms(10_000)
                .with_validate_only(true)
                .with_topics(vec![CreatableTopic::default()
                    .with_name(topic("new-t"))
                    .with_num_partitions(1)
                    .with_replication_factor(1)]);
            let response = client.call(7, &request);
            let topic = &response.topics[0];
            format!(
                "error_code: {} topic_config_error_code: {} num_partitions: {} configs told: {}",
                topic.error_code,
                topic.topic_config_error_code,
                topic.num_partitions,
                topic
                    .configs
                    .as_ref()
                    .is_some_and(|configs| !configs.is_empty())
            )
        },
    },
    Case {
        name: "DeleteTopics",
        stages: &[
            &[],
            &[grant(TOPIC, "t-del", DESCRIBE)],
            &[grant(TOPIC, "t-del", DELETE)],
        ],
        observe: |client| {
            let request = DeleteTopicsRequest::default()
                .with_timeout_ms(10_000)
                .with_topics(vec![
                    DeleteTopicState::default().with_name(Some(topic("t-del")))
                ]);
            codes(&client.call(6, &request))
        },
    },
    Case {
        name: "DeleteRecords",
        stages: &[&[], &[grant(TOPIC, "t", DELETE)]],
        observe: |client| {
            let request = DeleteRecordsRequest::default()
                .with_timeout_ms(10_000)
                .with_topics(vec![DeleteRecordsTopic::default()
                    .with_name(topic("t"))
                    .with_partitions(vec![
                        DeleteRecordsPartition::default().with_offset(0)
                    ])]);
            codes(&client.call(2, &request))
        },
    },
    Case {
        name: "CreatePartitions",
        stages: &[&[], &[grant(TOPIC, "t", ALTER)]],
        observe: |client| {
            let request = CreatePartitionsRequest::default()
                .with_timeout_ms(10_000)
                .with_validate_only(true)
                .with_topics(vec![CreatePartitionsTopic::default()
                    .with_name(topic("t"))
                    .with_count(2)]);
            codes(&client.call(3, &request))
        },
    },
    Case {
        name: "DescribeConfigs topic",
        stages: &[&[], &[grant(TOPIC, "t", DESCRIBE_CONFIGS)]],
        observe: |client| {
            let request = DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_static_str("t"))
                    .with_configuration_keys(Some(vec![StrBytes::from_static_str(
                        "cleanup.policy",
                    )])),
            ]);
            codes(&client.call(4, &request))
        },
    },
    Case {
        name: "DescribeConfigs cluster defaults",
        stages: &[&[], &[grant(CLUSTER, "kafka-cluster", DESCRIBE_CONFIGS)]],
        observe: |client| {
            let request = DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(4)
                    .with_configuration_keys(Some(vec![StrBytes::from_static_str(
                        "log.retention.ms",
                    )])),
            ]);
            let response = client.call(4, &request);
            format!("error_code: {}", response.results[0].error_code)
        },
    },
    Case {
        name: "IncrementalAlterConfigs",
        stages: &[&[], &[grant(TOPIC, "t", ALTER_CONFIGS)]],
        observe: |client| {
            let request = IncrementalAlterConfigsRequest::default()
                .with_validate_only(true)
                .with_resources(vec![incremental::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_static_str("t"))
                    .with_configs(vec![incremental::AlterableConfig::default()
                        .with_name(StrBytes::from_static_str("retention.ms"))
                        .with_value(Some(StrBytes::from_static_str("100000")))])]);
            codes(&client.call(1, &request))
        },
    },
    Case {
        name: "AlterConfigs",
        stages: &[&[], &[grant(TOPIC, "t", ALTER_CONFIGS)]],
        observe: |client| {
            use kafka_protocol::messages::alter_configs_request::{
                AlterConfigsResource, AlterableConfig,
            };
            let request = AlterConfigsRequest::default()
                .with_validate_only(true)
                .with_resources(vec![AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_static_str("t"))
                    .with_configs(vec![AlterableConfig::default()
                        .with_name(StrBytes::from_static_str("retention.ms"))
                        .with_value(Some(StrBytes::from_static_str("100000")))])]);
            codes(&client.call(2, &request))
        },
    },
    Case {
        name: "DescribeLogDirs",
        stages: &[&[], &[grant(CLUSTER, "kafka-cluster", DESCRIBE)]],
        observe: |client| {
            let response = client.call(4, &DescribeLogDirsRequest::default().with_topics(None));
            format!(
                "error_code: {} dirs told: {}",
                response.error_code,
                !response.results.is_empty()
            )
        },
    },
    Case {
        name: "DescribeCluster",
        stages: &[&[], &[grant(CLUSTER, "kafka-cluster", DESCRIBE)]],
        observe: |client| {
            let request = DescribeClusterRequest::default()
                .with_include_cluster_authorized_operations(true)
                .with_endpoint_type(1);
            codes(&client.call(1, &request))
        },
    },
    Case {
        name: "ElectLeaders",
        stages: &[&[], &[grant(CLUSTER, "kafka-cluster", ALTER)]],
        observe: |client| {
            let request = ElectLeadersRequest::default()
                .with_timeout_ms(10_000)
                .with_topic_partitions(Some(vec![TopicPartitions::default()
                    .with_topic(topic("t"))
                    .with_partitions(vec![0])]));
            codes(&client.call(2, &request))
        },
    },
    Case {
        name: "ListPartitionReassignments",
        stages: &[&[], &[grant(CLUSTER, "kafka-cluster", DESCRIBE)]],
        observe: |client| {
            let request = ListPartitionReassignmentsRequest::default()
                .with_timeout_ms(10_000)
                .with_topics(None);
            codes(&client.call(0, &request))
        },
    },
    Case {
        name: "AlterPartitionReassignments",
        stages: &[&[], &[grant(CLUSTER, "kafka-cluster", ALTER)]],
        observe: |client| {
            let request = AlterPartitionReassignmentsRequest::default()
                .with_timeout_ms(10_000)
                .with_topics(vec![ReassignableTopic::default()
                    .with_name(topic("t"))
                    .with_partitions(vec![
                        ReassignablePartition::default().with_replicas(None)
                    ])]);
            codes(&client.call(0, &request))
        },
    },
    Case {
        name: "InitProducerId idempotent",
        stages: &[
            &[],
            &[grant(TOPIC, "t", WRITE)],
            &[grant(CLUSTER, "kafka-cluster", IDEMPOTENT_WRITE)],
        ],
        observe: |client| {
            let request = InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1);
            codes(&client.call(5, &request))
        },
    },
    Case {
        name: "InitProducerId transactional",
        stages: &[&[], &[grant(TRANSACTIONAL_ID, "y", WRITE)]],
        observe: |client| {
            let request = InitProducerIdRequest::default()
                .with_transactional_id(Some(txn("y")))
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1);
            let response = until_coordinated(|| client.call(5, &request), |r| r.error_code);
            codes(&response)
        },
    },
    Case {
        name: "AddPartitionsToTxn",
        stages: &[
            &[],
            &[grant(TRANSACTIONAL_ID, "x", WRITE)],
            &[
                grant(TRANSACTIONAL_ID, "x", WRITE),
                grant(TOPIC, "t", WRITE),
            ],
        ],
        observe: |client| {
            let request = AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(txn("x"))
                .with_v3_and_below_producer_id(ProducerId(0))
                .with_v3_and_below_producer_epoch(0)
                .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                    .with_name(topic("t"))
                    .with_partitions(vec![0])]);
            codes(&client.call(3, &request))
        },
    },
    Case {
        name: "AddOffsetsToTxn",
        stages: &[
            &[],
            &[grant(TRANSACTIONAL_ID, "x", WRITE)],
            &[grant(TRANSACTIONAL_ID, "x", WRITE), grant(GROUP, "g", READ)],
        ],
        observe: |client| {
            let request = AddOffsetsToTxnRequest::default()
                .with_transactional_id(txn("x"))
                .with_producer_id(ProducerId(0))
                .with_group_id(group("g"));
            codes(&client.call(3, &request))
        },
    },
    Case {
        name: "EndTxn",
        stages: &[&[], &[grant(TRANSACTIONAL_ID, "x", WRITE)]],
        observe: |client| {
            let request = EndTxnRequest::default()
                .with_transactional_id(txn("x"))
                .with_producer_id(ProducerId(0));
            codes(&client.call(3, &request))
        },
    },
    Case {
        name: "TxnOffsetCommit",
        stages: &[
            &[],
            &[grant(TRANSACTIONAL_ID, "x", WRITE)],
            &[grant(TRANSACTIONAL_ID, "x", WRITE), grant(GROUP, "g", READ)],
        ],
        observe: |client| {
            let request = TxnOffsetCommitRequest::default()
                .with_transactional_id(txn("x"))
                .with_group_id(group("g"))
                .with_producer_id(ProducerId(0))
                .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                    .with_name(topic("t"))
                    .with_partitions(vec![TxnOffsetCommitRequestPartition::default()])]);
            codes(&client.call(3, &request))
        },
    },
    Case {
        name: "DescribeTransactions",
        stages: &[&[], &[grant(TRANSACTIONAL_ID, "x", DESCRIBE)]],
        observe: |client| {
            let request =
                DescribeTransactionsRequest::default().with_transactional_ids(vec![txn("x")]);
            let response = client.call(0, &request);
            let state = &response.transaction_states[0];
            format!(
                "error_code: {} state: {}",
                state.error_code,
                state.transaction_state.as_str()
            )
        },
    },
    Case {
        name: "ListTransactions",
        stages: &[&[], &[grant(TRANSACTIONAL_ID, "x", DESCRIBE)]],
        observe: |client| {
            let response = client.call(
                0,
                &ListTransactionsRequest::default().with_duration_filter(-1),
            );
            let listed = response
                .transaction_states
                .iter()
                .any(|state| state.transactional_id.as_str() == "x");
            format!("error_code: {} lists x: {listed}", response.error_code)
        },
    },
    Case {
        name: "DescribeProducers",
        stages: &[&[], &[grant(TOPIC, "t", READ)]],
        observe: |client| {
            let request =
                DescribeProducersRequest::default().with_topics(vec![ProducersTopic::default()
                    .with_name(topic("t"))
                    .with_partition_indexes(vec![0])]);
            codes(&client.call(0, &request))
        },
    },
    Case {
        name: "WriteTxnMarkers",
        stages: &[&[]],
        observe: |client| {
            let request =
                WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
                    .with_producer_id(ProducerId(12_345))
                    .with_topics(vec![WritableTxnMarkerTopic::default()
                        .with_name(topic("t"))
                        .with_partition_indexes(vec![0])])]);
            codes(&client.call(1, &request))
        },
    },
    Case {
        name: "DescribeUserScramCredentials",
        stages: &[&[], &[grant(CLUSTER, "kafka-cluster", DESCRIBE)]],
        observe: |client| {
            // Kafka fails to answer a refused request whose user list is null (it lists its users).
            let request =
                DescribeUserScramCredentialsRequest::default().with_users(Some(Vec::new()));
            codes(&client.call(0, &request))
        },
    },
    Case {
        name: "AlterUserScramCredentials",
        stages: &[&[], &[grant(CLUSTER, "kafka-cluster", ALTER)]],
        observe: |client| {
            let request = AlterUserScramCredentialsRequest::default().with_deletions(vec![
                ScramCredentialDeletion::default()
                    .with_name(StrBytes::from_static_str("nobody"))
                    .with_mechanism(1),
            ]);
            codes(&client.call(0, &request))
        },
    },
    Case {
        name: "DescribeClientQuotas",
        stages: &[&[], &[grant(CLUSTER, "kafka-cluster", DESCRIBE_CONFIGS)]],
        observe: |client| codes(&client.call(1, &DescribeClientQuotasRequest::default())),
    },
    Case {
        name: "AlterClientQuotas",
        stages: &[&[], &[grant(CLUSTER, "kafka-cluster", ALTER_CONFIGS)]],
        observe: |client| {
            use kafka_protocol::messages::alter_client_quotas_request::{
                EntityData, EntryData, OpData,
            };
            let request = AlterClientQuotasRequest::default()
                .with_validate_only(true)
                .with_entries(vec![EntryData::default()
                    .with_entity(vec![EntityData::default()
                        .with_entity_type(StrBytes::from_static_str("client-id"))
                        .with_entity_name(Some(StrBytes::from_static_str("app")))])
                    .with_ops(vec![OpData::default()
                        .with_key(StrBytes::from_static_str("producer_byte_rate"))
                        .with_value(1024.0)])]);
            codes(&client.call(1, &request))
        },
    },
    Case {
        name: "DescribeAcls",
        stages: &[&[], &[grant(CLUSTER, "kafka-cluster", DESCRIBE)]],
        observe: |client| {
            let response = client.call(3, &describe_every_acl());
            format!("error_code: {}", response.error_code)
        },
    },
    Case {
        name: "CreateAcls",
        stages: &[&[]],
        observe: |client| {
            let request = CreateAclsRequest::default()
                .with_creations(vec![creation(grant(TOPIC, "t", READ), "127.0.0.3")]);
            codes(&client.call(3, &request))
        },
    },
    Case {
        name: "DescribeTopicPartitions",
        stages: &[&[], &[grant(TOPIC, "t", DESCRIBE)]],
        observe: |client| {
            let request = DescribeTopicPartitionsRequest::default()
                .with_response_partition_limit(100)
                .with_topics(vec![PartitionsTopic::default().with_name(topic("t"))]);
            codes(&client.call(0, &request))
        },
    },
];

fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since_epoch.as_millis()).expect("milliseconds fit")
}

fn topic(name: &'static str) -> TopicName {
    TopicName(StrBytes::from_static_str(name))
}

fn group(name: &'static str) -> GroupId {
    GroupId(StrBytes::from_static_str(name))
}

fn txn(name: &'static str) -> TransactionalId {
    TransactionalId(StrBytes::from_static_str(name))
}

/// The error codes (and authorized operations bitmasks) of a response, in the order its
/// fields print — what the client acts on — then, after ` | `, its error messages if it has
/// any.
fn codes(response: &impl std::fmt::Debug) -> String {
    let printed = format!("{response:?}");
    let mut found = Vec::new();
    for field in printed.split([',', '{', '(']) {
        let Some((name, value)) = field.trim().split_once(": ") else {
            continue;
        };
        if name.ends_with("error_code") || name.ends_with("authorized_operations") {
            found.push(format!(
                "{name}: {}",
                value.trim_end_matches(['}', ')', ' '])
            ));
        }
    }
    let mut messages = Vec::new();
    let mut rest = printed.as_str();
    while let Some(at) = rest.find("error_message: ") {
        rest = &rest[at + "error_message: ".len()..];
        let end = match rest.starts_with("None") {
            true => "None".len(),
            false => rest.find("\")").map_or(rest.len(), |end| end + 2),
        };
        messages.push(&rest[..end]);
    }
    let codes = found.join(" ");
    match messages.is_empty() {
        true => codes,
        false => format!("{codes} | {}", messages.join(" ")),
    }
}

/// What a line observed, its messages left out.
fn without_messages(observed: &str) -> &str {
    observed.split(" | ").next().unwrap_or(observed)
}

/// Calls until the coordinator answers something else than "not yet".
fn until_coordinated<T>(mut call: impl FnMut() -> T, error: impl Fn(&T) -> i16) -> T {
    const NOT_YET: [i16; 3] = [14, 15, 16];
    let mut last = call();
    let _ = wait_for(COORDINATOR_WAIT, || {
        if !NOT_YET.contains(&error(&last)) {
            return Some(());
        }
        std::thread::sleep(Duration::from_millis(200));
        last = call();
        None
    });
    last
}

fn creation(grant: Grant, host: &str) -> AclCreation {
    AclCreation::default()
        .with_resource_type(grant.kind)
        .with_resource_name(StrBytes::from_static_str(grant.name))
        .with_resource_pattern_type(LITERAL)
        .with_principal(StrBytes::from_static_str(ANONYMOUS))
        .with_host(StrBytes::from_string(host.to_owned()))
        .with_operation(grant.operation)
        .with_permission_type(ALLOW)
}

/// Bindings for the client host stored through the administrator's connection.
fn acl_count(admin: &mut WireClient, host: &str) -> usize {
    let response = admin.call(
        3,
        &describe_every_acl().with_host_filter(Some(StrBytes::from_string(host.to_owned()))),
    );
    assert_eq!(response.error_code, 0, "{response:?}");
    response
        .resources
        .iter()
        .map(|resource| resource.acls.len())
        .sum()
}

fn grant_all(admin: &mut WireClient, grants: &[Grant], host: &str) {
    if grants.is_empty() {
        return;
    }
    let before = acl_count(admin, host);
    let creations = grants.iter().map(|grant| creation(*grant, host)).collect();
    let created = admin.call(3, &CreateAclsRequest::default().with_creations(creations));
    for result in &created.results {
        assert_eq!(result.error_code, 0, "{created:?}");
    }
    wait_for(ACL_PROPAGATION, || {
        (acl_count(admin, host) >= before + grants.len()).then_some(())
    })
    .expect("the grants reach the authorizer");
}

fn revoke_all(admin: &mut WireClient, host: &str) {
    let filter = DeleteAclsFilter::default()
        .with_resource_type_filter(1)
        .with_resource_name_filter(None)
        .with_pattern_type_filter(1)
        .with_principal_filter(None)
        .with_host_filter(Some(StrBytes::from_string(host.to_owned())))
        .with_operation(1)
        .with_permission_type(1);
    let deleted = admin.call(3, &DeleteAclsRequest::default().with_filters(vec![filter]));
    assert_eq!(deleted.filter_results[0].error_code, 0, "{deleted:?}");
    wait_for(ACL_PROPAGATION, || {
        (acl_count(admin, host) == 0).then_some(())
    })
    .expect("the grants are taken back");
}

/// What the matrix needs on a broker: the resources, and every resource type closed to all
/// but the administrator's host.
fn prepare(bootstrap: &str) {
    let mut admin = WireClient::connect(bootstrap);
    let cover: Vec<AclCreation> = [
        grant(TOPIC, "*", ALL),
        grant(GROUP, "*", ALL),
        grant(TRANSACTIONAL_ID, "*", ALL),
        grant(CLUSTER, "kafka-cluster", ALL),
    ]
    .into_iter()
    .map(|grant| creation(grant, ADMIN_HOST))
    .collect();
    let created = admin.call(3, &CreateAclsRequest::default().with_creations(cover));
    assert!(
        created.results.iter().all(|result| result.error_code == 0),
        "{created:?}"
    );
    wait_for(ACL_PROPAGATION, || {
        (acl_count(&mut admin, ADMIN_HOST) == 4).then_some(())
    })
    .expect("the administrator's bindings apply");

    let topics = ["t", "t-del"]
        .into_iter()
        .map(|name| {
            CreatableTopic::default()
                .with_name(topic(name))
                .with_num_partitions(1)
                .with_replication_factor(1)
        })
        .collect();
    let created = admin.call(
        7,
        &CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(topics),
    );
    assert!(
        created.topics.iter().all(|topic| topic.error_code == 0),
        "{created:?}"
    );
    // A committed offset makes each group exist; Kafka creates its coordinators' topics
    // when they are first looked up.
    for name in ["g", "g-del"] {
        find_coordinator(&mut admin, 0, name);
        let commit = OffsetCommitRequest::default()
            .with_group_id(group(name))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(topic("t"))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default().with_committed_offset(0)
                ])]);
        let committed = until_coordinated(
            || admin.call(8, &commit),
            |response| response.topics[0].partitions[0].error_code,
        );
        assert_eq!(codes(&committed), "error_code: 0", "{committed:?}");
    }
    // A transactional id with its producer.
    find_coordinator(&mut admin, 1, "x");
    let init = InitProducerIdRequest::default()
        .with_transactional_id(Some(txn("x")))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let initialized = until_coordinated(|| admin.call(5, &init), |r| r.error_code);
    assert_eq!(initialized.error_code, 0, "{initialized:?}");
}

/// Looks up the coordinator of `key` until there is one.
fn find_coordinator(admin: &mut WireClient, key_type: i8, key: &'static str) {
    let request = FindCoordinatorRequest::default()
        .with_key_type(key_type)
        .with_coordinator_keys(vec![StrBytes::from_static_str(key)]);
    let found = until_coordinated(
        || admin.call(4, &request),
        |response| response.coordinators[0].error_code,
    );
    assert_eq!(found.coordinators[0].error_code, 0, "{found:?}");
}

/// Every case's observation at every stage on one broker.
fn run_matrix(bootstrap: &str) -> BTreeMap<String, String> {
    prepare(bootstrap);
    let mut admin = WireClient::connect(bootstrap);
    let client_host = CLIENT_HOST.to_string();
    let mut observed = BTreeMap::new();
    for case in CASES {
        for (stage, grants) in case.stages.iter().enumerate() {
            grant_all(&mut admin, grants, &client_host);
            let mut client = WireClient::connect_from(bootstrap, IpAddr::V4(CLIENT_HOST));
            let seen = (case.observe)(&mut client);
            observed.insert(format!("{} / stage {stage}", case.name), seen);
            revoke_all(&mut admin, &client_host);
        }
    }
    observed
}

#[test]
fn every_api_authorizes_as_kafka_does() {
    let kafka = ReferenceBroker::start(&[
        &format!("authorizer.class.name={AUTHORIZER}"),
        "allow.everyone.if.no.acl.found=true",
        "group.initial.rebalance.delay.ms=0",
    ]);
    let expected = run_matrix(&kafka.bootstrap);
    drop(kafka);
    let spool = SpawnedBroker::start(&format!(
        "\"authorizer.class.name\" = \"{AUTHORIZER}\"\n\"allow.everyone.if.no.acl.found\" = true\n\"group.initial.rebalance.delay.ms\" = 0\n"
    ));
    let seen = run_matrix(&spool.bootstrap);

    let mut differences = Vec::new();
    for (line, kafka_saw) in &expected {
        let spool_saw = seen.get(line).map_or("(nothing)", String::as_str);
        let known = |list: &[(&str, &str)]| list.iter().any(|(known, _)| known == line);
        let same = match known(KNOWN_MESSAGE_DIFFERENCES) {
            true => without_messages(spool_saw) == without_messages(kafka_saw),
            false => spool_saw == kafka_saw,
        };
        if !same && !known(KNOWN_DIFFERENCES) {
            differences.push(format!(
                "{line}\n  kafka: {kafka_saw}\n  spool: {spool_saw}"
            ));
        }
    }
    for (line, saw) in &expected {
        println!("{line}: {saw}");
    }
    assert!(
        differences.is_empty(),
        "spool authorizes differently from Kafka:\n{}",
        differences.join("\n")
    );
}
