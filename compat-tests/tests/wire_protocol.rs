//! Protocol details real clients do not let a test choose: exact versions, topic ids,
//! pipelining, malformed batches, special offsets. Driven by `compat_tests::wire`.

use bytes::Bytes;
use compat_tests::wire::WireClient;
use compat_tests::SpawnedBroker;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use spool::records::batch::testing::{build_batch, build_keyed_batch};
use uuid::Uuid;

const CORRUPT_MESSAGE: i16 = 2;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const INVALID_REQUIRED_ACKS: i16 = 21;
const UNSUPPORTED_VERSION: i16 = 35;
const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
const INVALID_RECORD: i16 = 87;
const UNKNOWN_TOPIC_ID: i16 = 100;
const MISMATCHED_ENDPOINT_TYPE: i16 = 114;
const UNSUPPORTED_ENDPOINT_TYPE: i16 = 115;

fn name(text: &str) -> TopicName {
    TopicName(StrBytes::from_string(text.to_owned()))
}

fn create_topic(client: &mut WireClient, topic: &str, partitions: i32) -> Uuid {
    let request = CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
        .with_name(name(topic))
        .with_num_partitions(partitions)
        .with_replication_factor(1)]);
    let response = client.call(7, &request);
    assert_eq!(
        response.topics[0].error_code, 0,
        "{:?}",
        response.topics[0].error_message
    );
    assert_eq!(response.topics[0].num_partitions, partitions);
    response.topics[0].topic_id
}

fn produce_request(topic: TopicProduceData, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![topic])
}

fn partition_data(records: Vec<u8>) -> PartitionProduceData {
    PartitionProduceData::default()
        .with_index(0)
        .with_records(Some(Bytes::from(records)))
}

fn produce(
    client: &mut WireClient,
    version: i16,
    topic: &str,
    records: Vec<u8>,
) -> PartitionProduceResponse {
    let data = TopicProduceData::default()
        .with_name(name(topic))
        .with_partition_data(vec![partition_data(records)]);
    let mut response = client.call(version, &produce_request(data, -1));
    response.responses.remove(0).partition_responses.remove(0)
}

fn fetch_request(topic: FetchTopic, max_bytes: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(max_bytes)
        .with_session_epoch(-1)
        .with_topics(vec![topic])
}

fn fetch_partition(offset: i64, max_bytes: i32) -> FetchPartition {
    FetchPartition::default()
        .with_partition(0)
        .with_fetch_offset(offset)
        .with_partition_max_bytes(max_bytes)
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let broker = SpawnedBroker::start("");
    let mut client = WireClient::connect(&broker.bootstrap);
    create_topic(&mut client, "pipelined", 1);
    let data = || {
        TopicProduceData::default()
            .with_name(name("pipelined"))
            .with_partition_data(vec![partition_data(build_batch(3, 5, b"abc"))])
    };
    // A durable produce (waits for an fsync) followed by requests that answer at once.
    let first = client.send(9, &produce_request(data(), -1));
    let second = client.send(12, &MetadataRequest::default().with_topics(None));
    let third = client.send(
        3,
        &ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("t"))
            .with_client_software_version(StrBytes::from_static_str("1")),
    );
    let fourth = client.send(9, &produce_request(data(), 1));
    let fifth = client.send(
        7,
        &ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name("pipelined"))
                .with_partitions(vec![
                    ListOffsetsPartition::default().with_timestamp(-1)
                ])]),
    );
    let (id, produced) = client.receive::<ProduceRequest>(9);
    assert_eq!(id, first);
    assert_eq!(produced.responses[0].partition_responses[0].base_offset, 0);
    assert_eq!(client.receive::<MetadataRequest>(12).0, second);
    assert_eq!(client.receive::<ApiVersionsRequest>(3).0, third);
    let (id, produced) = client.receive::<ProduceRequest>(9);
    assert_eq!(id, fourth);
    assert_eq!(produced.responses[0].partition_responses[0].base_offset, 3);
    let (id, offsets) = client.receive::<ListOffsetsRequest>(7);
    assert_eq!(id, fifth);
    assert_eq!(offsets.topics[0].partitions[0].offset, 6);
}

#[test]
fn topic_and_cluster_ids_survive_restarts() {
    let mut broker = SpawnedBroker::start("");
    let mut client = WireClient::connect(&broker.bootstrap);
    let created = create_topic(&mut client, "stable", 2);
    let describe = |broker: &SpawnedBroker| {
        let mut client = WireClient::connect(&broker.bootstrap);
        let response = client.call(12, &MetadataRequest::default().with_topics(None));
        let topic = response
            .topics
            .iter()
            .find(|topic| !topic.is_internal)
            .expect("the topic");
        assert_eq!(topic.partitions.len(), 2);
        assert_eq!(topic.partitions[0].leader_epoch, 0);
        (
            response.cluster_id.clone().unwrap().to_string(),
            topic.topic_id,
            response.controller_id,
        )
    };
    let before = describe(&broker);
    assert_eq!(before.1, created);
    broker.stop();
    assert!(
        broker.data_dir().join(".spool-clean-shutdown").exists(),
        "clean shutdown leaves its marker"
    );
    broker.restart();
    assert!(
        !broker.data_dir().join(".spool-clean-shutdown").exists(),
        "the marker is consumed on start"
    );
    assert_eq!(describe(&broker), before, "after a clean restart");
    broker.kill();
    broker.restart();
    assert_eq!(describe(&broker), before, "after kill -9");
}

#[test]
fn produce_and_fetch_by_topic_id() {
    let broker = SpawnedBroker::start("");
    let mut client = WireClient::connect(&broker.bootstrap);
    let id = create_topic(&mut client, "by-id", 1);
    let batch = build_batch(4, 1_000, b"payload-by-id");
    let data = TopicProduceData::default()
        .with_topic_id(id)
        .with_partition_data(vec![partition_data(batch.clone())]);
    let response = client.call(13, &produce_request(data, -1));
    assert_eq!(response.responses[0].topic_id, id);
    assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
    for version in [13, 15, 16, 17, 18] {
        let topic = FetchTopic::default()
            .with_topic_id(id)
            .with_partitions(vec![fetch_partition(0, 1 << 20)]);
        let response = client.call(version, &fetch_request(topic, 1 << 20));
        let partition = &response.responses[0].partitions[0];
        assert_eq!(response.responses[0].topic_id, id, "v{version}");
        assert_eq!(
            (
                partition.error_code,
                partition.high_watermark,
                partition.last_stable_offset
            ),
            (0, 4, 4),
            "v{version}"
        );
        let records = partition.records.as_ref().unwrap();
        // Stored as sent but for the stamped base offset (0) and leader epoch (0).
        assert_eq!(&records[..8], &0i64.to_be_bytes());
        assert_eq!(&records[12..16], &0i32.to_be_bytes());
        assert_eq!(&records[16..], &batch[16..], "v{version}");
    }
    let unknown = FetchTopic::default()
        .with_topic_id(Uuid::from_u128(42))
        .with_partitions(vec![fetch_partition(0, 1024)]);
    let response = client.call(13, &fetch_request(unknown, 1024));
    assert_eq!(
        response.responses[0].partitions[0].error_code,
        UNKNOWN_TOPIC_ID
    );
}

#[test]
fn produce_rejects_bad_batches_with_kafka_errors() {
    let broker = SpawnedBroker::start("");
    let mut client = WireClient::connect(&broker.bootstrap);
    create_topic(&mut client, "strict", 1);
    let mut corrupt = build_batch(2, 0, b"payload");
    *corrupt.last_mut().unwrap() ^= 0xff;
    assert_eq!(
        produce(&mut client, 9, "strict", corrupt).error_code,
        CORRUPT_MESSAGE
    );
    let mut old_magic = build_batch(1, 0, b"x");
    old_magic[16] = 1;
    let response = produce(&mut client, 9, "strict", old_magic);
    assert_eq!(response.error_code, INVALID_RECORD);
    assert_eq!(response.record_errors[0].batch_index, 0, "KIP-467 details");
    // Two records under a header counting one (last offset delta 0, CRC made right):
    // records left over, which Kafka's reader refuses as an incorrect declared batch size.
    let mut extra_record = build_batch(2, 0, b"xy");
    extra_record[23..27].copy_from_slice(&0i32.to_be_bytes());
    spool::records::batch::set_records(&mut extra_record, 1);
    let response = produce(&mut client, 9, "strict", extra_record);
    assert_eq!(
        response.error_code, INVALID_RECORD,
        "{:?}",
        response.error_message
    );
    let mut two_batches = build_batch(1, 0, b"a");
    two_batches.extend(build_batch(1, 0, b"b"));
    assert_eq!(
        produce(&mut client, 9, "strict", two_batches).error_code,
        INVALID_RECORD
    );
    assert_eq!(
        produce(&mut client, 9, "missing-topic", build_batch(1, 0, b"a")).error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    let bad_partition = TopicProduceData::default()
        .with_name(name("strict"))
        .with_partition_data(vec![partition_data(build_batch(1, 0, b"a")).with_index(7)]);
    let response = client.call(9, &produce_request(bad_partition, 1));
    assert_eq!(
        response.responses[0].partition_responses[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    let data = TopicProduceData::default()
        .with_name(name("strict"))
        .with_partition_data(vec![partition_data(build_batch(1, 0, b"a"))]);
    let response = client.call(9, &produce_request(data, 2));
    assert_eq!(
        response.responses[0].partition_responses[0].error_code,
        INVALID_REQUIRED_ACKS
    );
    // Nothing above was appended.
    let good = produce(&mut client, 9, "strict", build_batch(1, 0, b"ok"));
    assert_eq!((good.error_code, good.base_offset), (0, 0));
}

#[test]
fn fetch_out_of_range_min_one_batch_and_sessions() {
    let broker = SpawnedBroker::start("");
    let mut client = WireClient::connect(&broker.bootstrap);
    create_topic(&mut client, "reads", 1);
    for _ in 0..3 {
        produce(&mut client, 9, "reads", build_batch(2, 0, &[7u8; 500]));
    }
    let topic = |offset: i64, max_bytes: i32| {
        FetchTopic::default()
            .with_topic(name("reads"))
            .with_partitions(vec![fetch_partition(offset, max_bytes)])
    };
    let response = client.call(12, &fetch_request(topic(100, 1024), 1024));
    let partition = &response.responses[0].partitions[0];
    assert_eq!(
        (
            partition.error_code,
            partition.high_watermark,
            partition.log_start_offset
        ),
        (OFFSET_OUT_OF_RANGE, 6, 0)
    );
    // max_bytes of 1: still one whole batch (KIP-74), and only one.
    let response = client.call(12, &fetch_request(topic(2, 1), 1));
    let records = response.responses[0].partitions[0].records.clone().unwrap();
    assert_eq!(records.len(), build_batch(2, 0, &[7u8; 500]).len());
    assert_eq!(&records[..8], &2i64.to_be_bytes());
    let with_session = fetch_request(topic(0, 1024), 1024)
        .with_session_id(5)
        .with_session_epoch(1);
    assert_eq!(
        client.call(12, &with_session).error_code,
        FETCH_SESSION_ID_NOT_FOUND
    );
    let new_session = fetch_request(topic(0, 1024), 1024)
        .with_session_id(0)
        .with_session_epoch(0);
    let response = client.call(12, &new_session);
    assert_eq!(
        (response.error_code, response.session_id),
        (0, 0),
        "sessionless answer"
    );
}

#[test]
fn list_offsets_special_timestamps() {
    let broker = SpawnedBroker::start("");
    let mut client = WireClient::connect(&broker.bootstrap);
    create_topic(&mut client, "offsets", 1);
    // Real records (ListOffsets by time reads them): batches of two, stamped 300, 900, 500.
    for timestamp in [300, 900, 500] {
        let batch = build_keyed_batch(
            &[
                (Some(&b"a"[..]), Some(&b"x"[..]), timestamp),
                (Some(&b"b"[..]), Some(&b"y"[..]), timestamp),
            ],
            kafka_protocol::records::Compression::None,
        );
        produce(&mut client, 9, "offsets", batch);
    }
    let query = |client: &mut WireClient, version: i16, timestamp: i64| {
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name("offsets"))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_timestamp(timestamp)
                    .with_current_leader_epoch(-1)])]);
        let response = client.call(version, &request);
        let partition = &response.topics[0].partitions[0];
        (partition.error_code, partition.offset, partition.timestamp)
    };
    assert_eq!(query(&mut client, 9, -1), (0, 6, -1));
    assert_eq!(query(&mut client, 9, -2), (0, 0, -1));
    assert_eq!(
        query(&mut client, 9, -3),
        (0, 2, 900),
        "max timestamp: the first record holding it"
    );
    assert_eq!(query(&mut client, 9, -4), (0, 0, -1));
    assert_eq!(query(&mut client, 9, -5), (0, -1, -1));
    assert_eq!(query(&mut client, 9, 400), (0, 2, 900));
    assert_eq!(query(&mut client, 1, 1000).1, -1, "nothing that late");
    assert_eq!(query(&mut client, 6, -3).0, UNSUPPORTED_VERSION);
}

#[test]
fn metadata_and_delete_by_id() {
    let broker = SpawnedBroker::start("\"auto.create.topics.enable\" = true");
    let mut client = WireClient::connect(&broker.bootstrap);
    let id = create_topic(&mut client, "doomed", 1);
    create_topic(&mut client, "kept", 1);
    let all_v0 = client.call(0, &MetadataRequest::default().with_topics(Some(Vec::new())));
    // Metadata v0 has no is_internal flag: count the internal topics by name.
    let internal = all_v0
        .topics
        .iter()
        .filter(|topic| topic.name.as_ref().is_some_and(|n| n.starts_with("__")))
        .count();
    assert_eq!(
        (all_v0.topics.len(), internal),
        (4, 2),
        "v0: an empty list means all topics, internal ones included"
    );
    let none_v1 = client.call(1, &MetadataRequest::default().with_topics(Some(Vec::new())));
    assert!(none_v1.topics.is_empty(), "v1+: an empty list means none");
    let wanted = |names: &[&str]| {
        MetadataRequest::default()
            .with_topics(Some(
                names
                    .iter()
                    .map(|n| MetadataRequestTopic::default().with_name(Some(name(n))))
                    .collect(),
            ))
            .with_allow_auto_topic_creation(false)
    };
    let response = client.call(12, &wanted(&["bad name", "absent"]));
    let codes: Vec<i16> = response
        .topics
        .iter()
        .map(|topic| topic.error_code)
        .collect();
    assert_eq!(codes, [INVALID_TOPIC_EXCEPTION, UNKNOWN_TOPIC_OR_PARTITION]);
    let by_id = client.call(
        12,
        &MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default()
            .with_name(None)
            .with_topic_id(id)])),
    );
    assert_eq!(
        by_id.topics[0].name.as_ref().map(|n| n.to_string()),
        Some("doomed".to_owned())
    );

    let delete = DeleteTopicsRequest::default().with_topics(vec![
        DeleteTopicState::default().with_topic_id(id),
        DeleteTopicState::default().with_topic_id(Uuid::from_u128(9)),
    ]);
    let response = client.call(6, &delete);
    assert_eq!(response.responses[0].error_code, 0);
    assert_eq!(
        response.responses[0].name.as_ref().map(|n| n.to_string()),
        Some("doomed".to_owned())
    );
    assert_eq!(response.responses[1].error_code, UNKNOWN_TOPIC_ID);
    let remaining = client.call(12, &MetadataRequest::default().with_topics(None));
    let names: Vec<String> = remaining
        .topics
        .iter()
        .filter(|topic| !topic.is_internal)
        .filter_map(|topic| topic.name.as_ref().map(|n| n.to_string()))
        .collect();
    assert_eq!(names, ["kept"]);
}

const ILLEGAL_GENERATION: i16 = 22;
const INVALID_REQUEST: i16 = 42;
const INVALID_SESSION_TIMEOUT: i16 = 26;
const UNKNOWN_MEMBER_ID: i16 = 25;
const MEMBER_ID_REQUIRED: i16 = 79;
const GROUP_ID_NOT_FOUND: i16 = 69;

fn join_request(member_id: &str, session_timeout_ms: i32) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("wire-group")))
        .with_session_timeout_ms(session_timeout_ms)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(StrBytes::from_string(member_id.to_owned()))
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
        )
        .with_name(StrBytes::from_static_str("range"))
        .with_metadata(Bytes::from_static(
            b"\x00\x00\x00\x00\x00\x01\x00\x01t\xff\xff\xff\xff",
        ))])
}

#[test]
fn group_apis_answer_with_kafkas_errors() {
    let broker = SpawnedBroker::start("\"group.initial.rebalance.delay.ms\" = 0");
    let mut client = WireClient::connect(&broker.bootstrap);
    create_topic(&mut client, "t", 1);

    // FindCoordinator: both key types are coordinated here; other key types are invalid.
    let find = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![StrBytes::from_static_str("txn-id")]);
    let found = client.call(4, &find);
    assert_eq!(
        (
            found.coordinators[0].error_code,
            found.coordinators[0].node_id
        ),
        (0, BrokerId(0))
    );
    let bad = client.call(4, &find.clone().with_key_type(7));
    assert_eq!(bad.coordinators[0].error_code, INVALID_REQUEST);
    let old = client.call(
        1,
        &FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g")),
    );
    assert_eq!(
        (old.error_code, old.port.to_string()),
        (0, broker.bootstrap.rsplit(':').next().unwrap().to_owned())
    );

    // JoinGroup: session timeout bounds, KIP-394, then a complete generation.
    assert_eq!(
        client.call(7, &join_request("", 1_000)).error_code,
        INVALID_SESSION_TIMEOUT
    );
    let required = client.call(7, &join_request("", 10_000));
    assert_eq!(required.error_code, MEMBER_ID_REQUIRED);
    let member_id = required.member_id.to_string();
    let joined = client.call(7, &join_request(&member_id, 10_000));
    assert_eq!(
        (
            joined.error_code,
            joined.generation_id,
            joined.leader.to_string()
        ),
        (0, 1, member_id.clone())
    );
    let synced = client.call(
        5,
        &SyncGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str("wire-group")))
            .with_generation_id(1)
            .with_member_id(StrBytes::from_string(member_id.clone()))
            .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
            .with_protocol_name(Some(StrBytes::from_static_str("range")))
            .with_assignments(vec![
                sync_group_request::SyncGroupRequestAssignment::default()
                    .with_member_id(StrBytes::from_string(member_id.clone()))
                    .with_assignment(Bytes::from_static(b"assigned")),
            ]),
    );
    assert_eq!(
        (synced.error_code, synced.assignment.as_ref()),
        (0, &b"assigned"[..])
    );
    let heartbeat = |client: &mut WireClient, generation: i32, member: &str| {
        let request = HeartbeatRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str("wire-group")))
            .with_generation_id(generation)
            .with_member_id(StrBytes::from_string(member.to_owned()));
        client.call(4, &request).error_code
    };
    assert_eq!(heartbeat(&mut client, 1, &member_id), 0);
    assert_eq!(heartbeat(&mut client, 2, &member_id), ILLEGAL_GENERATION);
    assert_eq!(heartbeat(&mut client, 1, "stranger"), UNKNOWN_MEMBER_ID);

    // OffsetCommit: members of the current generation only; unknown groups need generation -1.
    let commit = |client: &mut WireClient, group: &'static str, generation: i32, member: &str| {
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str(group)))
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(StrBytes::from_string(member.to_owned()))
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(name("t"))
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_committed_offset(3)
                            .with_committed_metadata(Some(StrBytes::from_static_str("meta"))),
                    ]),
            ]);
        client.call(8, &request).topics[0].partitions[0].error_code
    };
    assert_eq!(commit(&mut client, "wire-group", 1, &member_id), 0);
    assert_eq!(
        commit(&mut client, "wire-group", 1, "stranger"),
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        commit(&mut client, "wire-group", 7, &member_id),
        ILLEGAL_GENERATION
    );
    assert_eq!(
        commit(&mut client, "nobody-home", 5, ""),
        ILLEGAL_GENERATION
    );
    assert_eq!(commit(&mut client, "group-less", -1, ""), 0);

    // OffsetFetch v8: several groups at once, require_stable, -1 where nothing was committed.
    let fetch = OffsetFetchRequest::default()
        .with_require_stable(true)
        .with_groups(
            ["wire-group", "group-less", "never-committed"]
                .into_iter()
                .map(|group| {
                    offset_fetch_request::OffsetFetchRequestGroup::default()
                        .with_group_id(GroupId(StrBytes::from_static_str(group)))
                        .with_topics(Some(vec![
                            offset_fetch_request::OffsetFetchRequestTopics::default()
                                .with_name(name("t"))
                                .with_partition_indexes(vec![0]),
                        ]))
                })
                .collect(),
        );
    let fetched = client.call(8, &fetch);
    let offsets: Vec<(i64, String)> = fetched
        .groups
        .iter()
        .map(|group| {
            let partition = &group.topics[0].partitions[0];
            (
                partition.committed_offset,
                partition.metadata.clone().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        offsets,
        [
            (3, "meta".to_owned()),
            (3, "meta".to_owned()),
            (-1, String::new())
        ]
    );

    // DescribeGroups v6: an unknown group is GROUP_ID_NOT_FOUND; ours is Stable with its member.
    let described = client.call(
        6,
        &DescribeGroupsRequest::default().with_groups(vec![
            GroupId(StrBytes::from_static_str("wire-group")),
            GroupId(StrBytes::from_static_str("ghost")),
        ]),
    );
    assert_eq!(described.groups[0].group_state.as_str(), "Stable");
    assert_eq!(
        described.groups[0].members[0].member_assignment.as_ref(),
        b"assigned"
    );
    assert_eq!(described.groups[1].error_code, GROUP_ID_NOT_FOUND);

    // ListGroups v4 filters by state.
    let listed = |client: &mut WireClient, state: &'static str| {
        let request =
            ListGroupsRequest::default().with_states_filter(vec![StrBytes::from_static_str(state)]);
        let mut groups: Vec<String> = client
            .call(4, &request)
            .groups
            .iter()
            .map(|g| g.group_id.to_string())
            .collect();
        groups.sort();
        groups
    };
    assert_eq!(listed(&mut client, "Stable"), ["wire-group"]);
    assert_eq!(
        listed(&mut client, "empty"),
        ["group-less"],
        "state names match case-insensitively"
    );

    // LeaveGroup v3 leaves in batches with an answer per member.
    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("wire-group")))
        .with_members(vec![
            leave_group_request::MemberIdentity::default()
                .with_member_id(StrBytes::from_string(member_id.clone())),
            leave_group_request::MemberIdentity::default()
                .with_member_id(StrBytes::from_static_str("stranger")),
        ]);
    let left = client.call(3, &leave);
    let codes: Vec<i16> = left
        .members
        .iter()
        .map(|member| member.error_code)
        .collect();
    assert_eq!((left.error_code, codes), (0, vec![0, UNKNOWN_MEMBER_ID]));
    assert_eq!(listed(&mut client, "Empty"), ["group-less", "wire-group"]);
}

const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
const UNKNOWN_PRODUCER_ID: i16 = 59;

#[test]
fn idempotent_produce_deduplicates_and_checks_sequences() {
    use spool::records::batch::testing::build_idempotent_batch;
    let broker = SpawnedBroker::start("");
    let mut client = WireClient::connect(&broker.bootstrap);
    create_topic(&mut client, "idem", 1);
    let init = client.call(
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000),
    );
    assert_eq!(init.error_code, 0);
    let (producer_id, epoch) = (init.producer_id.0, init.producer_epoch);
    assert_eq!(epoch, 0);
    let second = client.call(
        4,
        &InitProducerIdRequest::default().with_transactional_id(None),
    );
    assert_ne!(
        second.producer_id.0, producer_id,
        "every producer gets its own id"
    );
    let init_transactional = |client: &mut WireClient| {
        let request = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("tx"))))
            .with_transaction_timeout_ms(60_000);
        client.call(4, &request)
    };
    let first = init_transactional(&mut client);
    let again = init_transactional(&mut client);
    assert_eq!((first.error_code, again.error_code), (0, 0));
    assert_eq!(
        again.producer_id, first.producer_id,
        "a transactional id keeps its producer id"
    );
    assert_eq!(
        again.producer_epoch,
        first.producer_epoch + 1,
        "and the epoch is bumped"
    );
    let too_long = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("tx2"))))
        .with_transaction_timeout_ms(i32::MAX);
    assert_eq!(
        client.call(4, &too_long).error_code,
        INVALID_TRANSACTION_TIMEOUT
    );

    let send = |client: &mut WireClient, epoch: i16, sequence: i32| {
        produce(
            client,
            9,
            "idem",
            build_idempotent_batch(producer_id, epoch, sequence, 3, 7, b"idempotent"),
        )
    };
    assert_eq!(send(&mut client, 0, 0).base_offset, 0);
    assert_eq!(send(&mut client, 0, 3).base_offset, 3);
    let retried = send(&mut client, 0, 0);
    assert_eq!(
        (retried.error_code, retried.base_offset),
        (0, 0),
        "a retried batch gets its original offset"
    );
    assert_eq!(
        send(&mut client, 0, 9).error_code,
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert_eq!(
        send(&mut client, 1, 0).base_offset,
        6,
        "a new epoch starts at sequence 0"
    );
    assert_eq!(send(&mut client, 0, 6).error_code, INVALID_PRODUCER_EPOCH);
    let stranger = produce(
        &mut client,
        9,
        "idem",
        build_idempotent_batch(producer_id + 1000, 0, 5, 1, 7, b"x"),
    );
    assert_eq!(stranger.error_code, UNKNOWN_PRODUCER_ID);

    let described = client.call(
        0,
        &DescribeProducersRequest::default().with_topics(vec![
            describe_producers_request::TopicRequest::default()
                .with_name(name("idem"))
                .with_partition_indexes(vec![0]),
        ]),
    );
    let producers = &described.topics[0].partitions[0].active_producers;
    assert_eq!(producers.len(), 1);
    assert_eq!(
        (
            producers[0].producer_id.0,
            producers[0].producer_epoch,
            producers[0].last_sequence
        ),
        (producer_id, 1, 2)
    );
}

#[test]
fn describe_cluster_names_this_broker_at_every_version() {
    let broker = SpawnedBroker::start("");
    let mut client = WireClient::connect(&broker.bootstrap);
    let (host, port) = broker.bootstrap.split_once(':').unwrap();
    for version in 0..=2 {
        let request = DescribeClusterRequest::default()
            .with_include_cluster_authorized_operations(version == 2);
        let request = if version >= 1 {
            request.with_endpoint_type(1)
        } else {
            request
        };
        let response: DescribeClusterResponse = client.call(version, &request);
        assert_eq!(response.error_code, 0, "v{version}");
        assert!(!response.cluster_id.is_empty());
        assert_eq!(response.brokers.len(), 1);
        assert_eq!(response.brokers[0].host.as_str(), host);
        assert_eq!(response.brokers[0].port.to_string(), port);
        assert_eq!(response.controller_id, response.brokers[0].broker_id);
        assert_eq!(
            response.cluster_authorized_operations != i32::MIN,
            version == 2,
            "operations only when asked"
        );
    }
    // A controller endpoint is asked for: spool has none, as a Kafka broker answers.
    let controllers = DescribeClusterRequest::default().with_endpoint_type(2);
    let response: DescribeClusterResponse = client.call(1, &controllers);
    assert_eq!(response.error_code, MISMATCHED_ENDPOINT_TYPE);
    let unknown = DescribeClusterRequest::default().with_endpoint_type(9);
    let response: DescribeClusterResponse = client.call(1, &unknown);
    assert_eq!(response.error_code, UNSUPPORTED_ENDPOINT_TYPE);
}
