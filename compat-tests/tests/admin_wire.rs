//! Admin APIs at the wire level, where clients hide details: every advertised version,
//! synonyms and config types, refusal codes and messages, DescribeTopicPartitions paging,
//! log dir sizes, leader epochs, elections, reassignments, ACLs.

use bytes::Bytes;
use compat_tests::wire::WireClient;
use compat_tests::SpawnedBroker;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use spool::records::batch::testing::{build_batch, build_records_batch};

const INVALID_REQUEST: i16 = 42;
const INVALID_CONFIG: i16 = 40;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const ELECTION_NOT_NEEDED: i16 = 84;
const SECURITY_DISABLED: i16 = 54;
const FENCED_LEADER_EPOCH: i16 = 74;
const UNKNOWN_LEADER_EPOCH: i16 = 75;
const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

fn name(value: &str) -> TopicName {
    TopicName(text(value))
}

fn create_topic(client: &mut WireClient, topic: &str, partitions: i32, configs: &[(&str, &str)]) {
    let configs = configs
        .iter()
        .map(|(key, value)| {
            CreatableTopicConfig::default()
                .with_name(text(key))
                .with_value(Some(text(value)))
        })
        .collect();
    let request = CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
        .with_name(name(topic))
        .with_num_partitions(partitions)
        .with_replication_factor(1)
        .with_configs(configs)]);
    let response = client.call(7, &request);
    assert_eq!(
        response.topics[0].error_code, 0,
        "{:?}",
        response.topics[0].error_message
    );
}

fn describe(
    client: &mut WireClient,
    version: i16,
    resource_type: i8,
    resource: &str,
    keys: Option<&[&str]>,
) -> describe_configs_response::DescribeConfigsResult {
    let request = DescribeConfigsRequest::default()
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(text(resource))
            .with_configuration_keys(
                keys.map(|keys| keys.iter().map(|key| text(key)).collect()),
            )])
        .with_include_synonyms(true);
    let response: DescribeConfigsResponse = client.call(version, &request);
    response.results.into_iter().next().unwrap()
}

fn value_of(client: &mut WireClient, topic: &str, key: &str) -> Option<String> {
    let result = describe(client, 4, TOPIC, topic, Some(&[key]));
    result.configs[0]
        .value
        .as_ref()
        .map(|value| value.to_string())
}

/// A config key, an operation, a value.
type Change<'a> = (&'a str, i8, Option<&'a str>);

fn incremental(
    client: &mut WireClient,
    resource_type: i8,
    resource: &str,
    changes: &[Change],
) -> (i16, String) {
    let configs = changes
        .iter()
        .map(|(key, op, value)| {
            AlterableConfig::default()
                .with_name(text(key))
                .with_config_operation(*op)
                .with_value(value.map(text))
        })
        .collect();
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(text(resource))
            .with_configs(configs),
    ]);
    let response: IncrementalAlterConfigsResponse = client.call(1, &request);
    let result = &response.responses[0];
    (
        result.error_code,
        result
            .error_message
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default(),
    )
}

#[test]
fn describe_configs_reports_sources_synonyms_and_types_at_every_version() {
    let broker = SpawnedBroker::start("log.retention.hours = 2");
    let mut client = WireClient::connect(&broker.bootstrap);
    create_topic(
        &mut client,
        "described",
        1,
        &[("cleanup.policy", "compact")],
    );
    for version in 1..=4 {
        let result = describe(&mut client, version, TOPIC, "described", None);
        assert_eq!(result.error_code, 0, "v{version}");
        let policy = result
            .configs
            .iter()
            .find(|config| config.name.as_str() == "cleanup.policy")
            .unwrap();
        assert_eq!(policy.value.as_deref(), Some("compact"));
        assert_eq!(policy.config_source, 1, "DYNAMIC_TOPIC_CONFIG");
        let synonyms: Vec<(&str, i8)> = policy
            .synonyms
            .iter()
            .map(|synonym| (synonym.name.as_str(), synonym.source))
            .collect();
        assert_eq!(synonyms, [("cleanup.policy", 1), ("log.cleanup.policy", 5)]);
        assert_eq!(
            policy.config_type,
            if version >= 3 { 7 } else { 0 },
            "LIST from v3"
        );
        let retention = result
            .configs
            .iter()
            .find(|config| config.name.as_str() == "retention.ms")
            .unwrap();
        assert_eq!(retention.value.as_deref(), Some("7200000"));
        assert_eq!(retention.config_source, 4, "STATIC_BROKER_CONFIG");
    }
    // Only the asked keys; unknown keys are left out, as Kafka does.
    let result = describe(
        &mut client,
        4,
        TOPIC,
        "described",
        Some(&["segment.bytes", "nope"]),
    );
    let names: Vec<&str> = result.configs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["segment.bytes"]);

    let result = describe(
        &mut client,
        4,
        BROKER,
        "0",
        Some(&["log.retention.hours", "num.partitions"]),
    );
    let configs: Vec<(&str, Option<&str>, i8, bool)> = result
        .configs
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.value.as_deref(),
                c.config_source,
                c.read_only,
            )
        })
        .collect();
    assert_eq!(
        configs,
        [
            ("log.retention.hours", Some("2"), 4, true),
            ("num.partitions", Some("1"), 5, true)
        ]
    );
    // The cluster-wide dynamic defaults: none.
    let defaults = describe(&mut client, 4, BROKER, "", None);
    assert_eq!((defaults.error_code, defaults.configs.len()), (0, 0));
    for (resource_type, resource, code) in [
        (BROKER, "7", INVALID_REQUEST),
        (BROKER, "x", INVALID_REQUEST),
        (TOPIC, "missing", UNKNOWN_TOPIC_OR_PARTITION),
        (8, "0", INVALID_REQUEST),
    ] {
        let result = describe(&mut client, 4, resource_type, resource, None);
        assert_eq!(result.error_code, code, "{resource_type} {resource}");
        assert!(result.error_message.is_some());
    }
}

#[test]
fn incremental_alter_configs_sets_deletes_appends_and_subtracts() {
    let broker = SpawnedBroker::start("");
    let mut client = WireClient::connect(&broker.bootstrap);
    create_topic(&mut client, "altered", 1, &[("retention.ms", "1000")]);

    let ok = incremental(
        &mut client,
        TOPIC,
        "altered",
        &[
            ("cleanup.policy", APPEND, Some("compact")),
            ("retention.ms", DELETE, None),
        ],
    );
    assert_eq!(ok.0, 0, "{}", ok.1);
    assert_eq!(
        value_of(&mut client, "altered", "cleanup.policy").as_deref(),
        Some("delete,compact")
    );
    assert_eq!(
        value_of(&mut client, "altered", "retention.ms").as_deref(),
        Some("604800000")
    );
    let ok = incremental(
        &mut client,
        TOPIC,
        "altered",
        &[("cleanup.policy", SUBTRACT, Some("delete"))],
    );
    assert_eq!(ok.0, 0, "{}", ok.1);
    assert_eq!(
        value_of(&mut client, "altered", "cleanup.policy").as_deref(),
        Some("compact")
    );

    // Refusals name the key, and change nothing.
    let refusals: [(&[Change], i16, &str); 6] = [
        (
            &[("segment.ms", SET, Some("soon"))],
            INVALID_CONFIG,
            "segment.ms",
        ),
        (
            &[("no.such.key", SET, Some("1"))],
            INVALID_CONFIG,
            "no.such.key",
        ),
        (
            &[("retention.ms", APPEND, Some("5"))],
            INVALID_CONFIG,
            "retention.ms",
        ),
        (
            &[("retention.ms", SET, None)],
            INVALID_REQUEST,
            "retention.ms",
        ),
        (
            &[
                ("retention.ms", SET, Some("5")),
                ("retention.ms", DELETE, None),
            ],
            INVALID_REQUEST,
            "duplicate",
        ),
        (&[("retention.ms", 9, Some("5"))], INVALID_REQUEST, "9"),
    ];
    for (changes, code, named) in refusals {
        let (error, message) = incremental(&mut client, TOPIC, "altered", changes);
        assert_eq!(error, code, "{changes:?}: {message}");
        assert!(message.contains(named), "{changes:?}: {message}");
    }
    assert_eq!(
        value_of(&mut client, "altered", "retention.ms").as_deref(),
        Some("604800000")
    );
    let (error, message) = incremental(
        &mut client,
        BROKER,
        "0",
        &[("num.partitions", SET, Some("3"))],
    );
    assert_eq!(error, INVALID_REQUEST);
    assert!(message.contains("num.partitions"), "{message}");
    // Dynamic broker configs: the replication throttle rates, of this broker or of every
    // broker (the empty name), checked, described with their source, and deleted.
    let rate = "leader.replication.throttled.rate";
    for (value, code) in [("-1", INVALID_REQUEST), ("fast", INVALID_REQUEST)] {
        let (error, message) = incremental(&mut client, BROKER, "0", &[(rate, SET, Some(value))]);
        assert_eq!(error, code, "{value}: {message}");
    }
    let (error, message) = incremental(&mut client, BROKER, "0", &[(rate, SET, Some("1000"))]);
    assert_eq!(error, 0, "{message}");
    let (error, message) = incremental(&mut client, BROKER, "", &[(rate, SET, Some("2000"))]);
    assert_eq!(error, 0, "{message}");
    let described = describe(&mut client, 4, BROKER, "0", Some(&[rate]));
    let config = &described.configs[0];
    assert_eq!(
        (
            config.value.as_deref(),
            config.config_source,
            config.read_only
        ),
        (Some("1000"), 2, false),
        "DYNAMIC_BROKER_CONFIG"
    );
    let sources: Vec<i8> = config
        .synonyms
        .iter()
        .map(|synonym| synonym.source)
        .collect();
    assert_eq!(sources, [2, 3], "then DYNAMIC_DEFAULT_BROKER_CONFIG");
    let defaults = describe(&mut client, 4, BROKER, "", None);
    let names: Vec<(&str, i8)> = defaults
        .configs
        .iter()
        .map(|config| (config.name.as_str(), config.config_source))
        .collect();
    assert_eq!(names, [(rate, 3)]);
    // Deleting (as kafka-reassign-partitions --verify does) falls back to the default.
    let (error, message) = incremental(&mut client, BROKER, "0", &[(rate, DELETE, None)]);
    assert_eq!(error, 0, "{message}");
    let described = describe(&mut client, 4, BROKER, "0", Some(&[rate]));
    assert_eq!(described.configs[0].value.as_deref(), Some("2000"));
    let (error, message) = incremental(&mut client, BROKER, "", &[(rate, DELETE, None)]);
    assert_eq!(error, 0, "{message}");
    assert!(describe(&mut client, 4, BROKER, "0", Some(&[rate]))
        .configs
        .is_empty());
    // Throttled replica lists: `*` or partition:broker items.
    let (error, message) = incremental(
        &mut client,
        TOPIC,
        "altered",
        &[("leader.replication.throttled.replicas", SET, Some("0-1"))],
    );
    assert_eq!(error, INVALID_CONFIG, "{message}");
    let (error, message) = incremental(
        &mut client,
        TOPIC,
        "altered",
        &[("leader.replication.throttled.replicas", SET, Some("*"))],
    );
    assert_eq!(error, 0, "{message}");
    let (error, message) = incremental(
        &mut client,
        TOPIC,
        "altered",
        &[("leader.replication.throttled.replicas", DELETE, None)],
    );
    assert_eq!(error, 0, "{message}");
    let (error, _) = incremental(
        &mut client,
        TOPIC,
        "missing",
        &[("retention.ms", SET, Some("5"))],
    );
    assert_eq!(error, UNKNOWN_TOPIC_OR_PARTITION);
    let (error, message) = incremental(
        &mut client,
        TOPIC,
        "__consumer_offsets",
        &[("cleanup.policy", SET, Some("delete"))],
    );
    assert_eq!(error, INVALID_CONFIG, "{message}");
    let (error, message) = incremental(
        &mut client,
        TOPIC,
        "__consumer_offsets",
        &[("segment.bytes", SET, Some("1048576"))],
    );
    assert_eq!(
        error, 0,
        "other configs of internal topics may change: {message}"
    );

    // validate_only checks and changes nothing; a resource named twice is refused twice.
    let twice = AlterConfigsResource::default()
        .with_resource_type(TOPIC)
        .with_resource_name(text("altered"))
        .with_configs(vec![AlterableConfig::default()
            .with_name(text("retention.ms"))
            .with_config_operation(SET)
            .with_value(Some(text("5")))]);
    let request = IncrementalAlterConfigsRequest::default()
        .with_resources(vec![twice.clone()])
        .with_validate_only(true);
    let response: IncrementalAlterConfigsResponse = client.call(0, &request);
    assert_eq!(response.responses[0].error_code, 0);
    assert_eq!(
        value_of(&mut client, "altered", "retention.ms").as_deref(),
        Some("604800000")
    );
    let request =
        IncrementalAlterConfigsRequest::default().with_resources(vec![twice.clone(), twice]);
    let response: IncrementalAlterConfigsResponse = client.call(1, &request);
    let codes: Vec<i16> = response.responses.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, [INVALID_REQUEST, INVALID_REQUEST]);

    // Legacy AlterConfigs replaces every override, at each version.
    for version in 0..=2 {
        let request = AlterConfigsRequest::default().with_resources(vec![
            alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(TOPIC)
                .with_resource_name(text("altered"))
                .with_configs(vec![alter_configs_request::AlterableConfig::default()
                    .with_name(text("segment.bytes"))
                    .with_value(Some(text("4096")))]),
        ]);
        let response: AlterConfigsResponse = client.call(version, &request);
        assert_eq!(response.responses[0].error_code, 0, "v{version}");
    }
    assert_eq!(
        value_of(&mut client, "altered", "segment.bytes").as_deref(),
        Some("4096")
    );
    assert_eq!(
        value_of(&mut client, "altered", "cleanup.policy").as_deref(),
        Some("delete")
    );
}

#[test]
fn describe_topic_partitions_pages_with_a_cursor() {
    let broker = SpawnedBroker::start("");
    let mut client = WireClient::connect(&broker.bootstrap);
    create_topic(&mut client, "a-three", 3, &[]);
    create_topic(&mut client, "b-two", 2, &[]);
    let page =
        |client: &mut WireClient, limit: i32, cursor: Option<(&str, i32)>, topics: &[&str]| {
            let request = DescribeTopicPartitionsRequest::default()
                .with_topics(
                    topics
                        .iter()
                        .map(|topic| {
                            describe_topic_partitions_request::TopicRequest::default()
                                .with_name(name(topic))
                        })
                        .collect(),
                )
                .with_response_partition_limit(limit)
                .with_cursor(cursor.map(|(topic, partition)| {
                    describe_topic_partitions_request::Cursor::default()
                        .with_topic_name(name(topic))
                        .with_partition_index(partition)
                }));
            let response: DescribeTopicPartitionsResponse = client.call(0, &request);
            response
        };
    let listed = |response: &DescribeTopicPartitionsResponse| -> Vec<(String, i16, Vec<i32>)> {
        response
            .topics
            .iter()
            .map(|topic| {
                (
                    topic
                        .name
                        .as_ref()
                        .map(|n| n.to_string())
                        .unwrap_or_default(),
                    topic.error_code,
                    topic.partitions.iter().map(|p| p.partition_index).collect(),
                )
            })
            .collect()
    };
    let cursor = |response: &DescribeTopicPartitionsResponse| {
        response
            .next_cursor
            .as_ref()
            .map(|c| (c.topic_name.to_string(), c.partition_index))
    };
    // All topics from "a-three" on (the internal "__…" topics sort first), two partitions
    // at a time.
    let first = page(&mut client, 2, Some(("a-three", 0)), &[]);
    assert_eq!(listed(&first), [("a-three".to_owned(), 0, vec![0, 1])]);
    assert_eq!(cursor(&first), Some(("a-three".to_owned(), 2)));
    // A page fills up across topics.
    let second = page(&mut client, 2, Some(("a-three", 2)), &[]);
    assert_eq!(
        listed(&second),
        [
            ("a-three".to_owned(), 0, vec![2]),
            ("b-two".to_owned(), 0, vec![0])
        ]
    );
    assert_eq!(cursor(&second), Some(("b-two".to_owned(), 1)));
    let third = page(
        &mut client,
        2,
        Some(("b-two", 1)),
        &["a-three", "b-two", "c-missing"],
    );
    assert_eq!(
        listed(&third),
        [
            ("b-two".to_owned(), 0, vec![1]),
            ("c-missing".to_owned(), UNKNOWN_TOPIC_OR_PARTITION, vec![])
        ],
        "a-three is before the cursor"
    );
    assert_eq!(cursor(&third), None);
    let last = page(&mut client, 10, None, &["b-two", "c-missing"]);
    assert_eq!(
        listed(&last),
        [
            ("b-two".to_owned(), 0, vec![0, 1]),
            ("c-missing".to_owned(), UNKNOWN_TOPIC_OR_PARTITION, vec![])
        ]
    );
    assert_eq!(cursor(&last), None);
    assert!(last.topics[0]
        .partitions
        .iter()
        .all(|p| p.leader_id.0 == 0 && p.isr_nodes.len() == 1));
    let refused = page(&mut client, 10, Some(("zzz", 0)), &["b-two"]);
    assert_eq!(refused.topics[0].error_code, INVALID_REQUEST);
}

#[test]
fn log_dirs_epochs_elections_reassignments_and_acls() {
    let broker = SpawnedBroker::start("");
    let mut client = WireClient::connect(&broker.bootstrap);
    create_topic(&mut client, "sized", 2, &[]);
    produce_batch(&mut client, "sized", 1, build_batch(5, 0, b"payload"));

    for version in 1..=4 {
        let request = DescribeLogDirsRequest::default().with_topics(Some(vec![
            describe_log_dirs_request::DescribableLogDirTopic::default()
                .with_topic(name("sized"))
                .with_partitions(vec![0, 1, 7]),
        ]));
        let response: DescribeLogDirsResponse = client.call(version, &request);
        let dir = &response.results[0];
        assert_eq!(dir.error_code, 0);
        assert!(std::path::Path::new(dir.log_dir.as_str()).is_absolute());
        let sizes: Vec<(i32, i64)> = dir.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.partition_size))
            .collect();
        assert_eq!(sizes.len(), 2, "v{version}: {sizes:?}");
        assert_eq!(sizes[0], (0, 0));
        assert!(sizes[1].1 > 0, "v{version}: {sizes:?}");
        if version >= 4 {
            assert!(
                dir.total_bytes > 0 && dir.usable_bytes > 0 && dir.usable_bytes <= dir.total_bytes
            );
        }
    }
    let all: DescribeLogDirsResponse =
        client.call(4, &DescribeLogDirsRequest::default().with_topics(None));
    assert!(all.results[0]
        .topics
        .iter()
        .any(|t| t.name.as_str() == "__consumer_offsets"));

    for version in 2..=4 {
        let asked = |partition: i32, current: i32, epoch: i32| {
            offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                .with_partition(partition)
                .with_current_leader_epoch(current)
                .with_leader_epoch(epoch)
        };
        let request = OffsetForLeaderEpochRequest::default().with_topics(vec![
            offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                .with_topic(name("sized"))
                .with_partitions(vec![
                    asked(1, 0, 0),
                    asked(1, -1, 3),
                    asked(1, 2, 0),
                    asked(9, -1, 0),
                ]),
        ]);
        let request = if version >= 3 {
            request.with_replica_id(BrokerId(-1))
        } else {
            request
        };
        let response: OffsetForLeaderEpochResponse = client.call(version, &request);
        let answers: Vec<(i16, i32, i64)> = response.topics[0]
            .partitions
            .iter()
            .map(|p| (p.error_code, p.leader_epoch, p.end_offset))
            .collect();
        assert_eq!(
            answers,
            [
                (0, 0, 5),
                (0, -1, -1),
                (UNKNOWN_LEADER_EPOCH, -1, -1),
                (UNKNOWN_TOPIC_OR_PARTITION, -1, -1)
            ],
            "v{version}"
        );
    }
    let fenced = OffsetForLeaderEpochRequest::default().with_topics(vec![
        offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
            .with_topic(name("sized"))
            .with_partitions(vec![
                offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                    .with_partition(0)
                    .with_current_leader_epoch(-2)
                    .with_leader_epoch(0),
            ]),
    ]);
    let response: OffsetForLeaderEpochResponse = client.call(4, &fenced);
    assert_eq!(
        response.topics[0].partitions[0].error_code,
        FENCED_LEADER_EPOCH
    );

    for version in 0..=2 {
        let request = ElectLeadersRequest::default().with_topic_partitions(Some(vec![
            elect_leaders_request::TopicPartitions::default()
                .with_topic(name("sized"))
                .with_partitions(vec![0, 5]),
        ]));
        let response: ElectLeadersResponse = client.call(version, &request);
        let codes: Vec<i16> = response.replica_election_results[0]
            .partition_result
            .iter()
            .map(|p| p.error_code)
            .collect();
        assert_eq!(
            codes,
            [ELECTION_NOT_NEEDED, UNKNOWN_TOPIC_OR_PARTITION],
            "v{version}"
        );
        let all: ElectLeadersResponse = client.call(
            version,
            &ElectLeadersRequest::default().with_topic_partitions(None),
        );
        assert!(all
            .replica_election_results
            .iter()
            .all(|t| t.partition_result.is_empty()));
    }

    let reassignments: ListPartitionReassignmentsResponse = client.call(
        0,
        &ListPartitionReassignmentsRequest::default().with_topics(None),
    );
    assert_eq!(
        (reassignments.error_code, reassignments.topics.len()),
        (0, 0)
    );
    // On a single node its own id is the only valid target, and nothing ever moves.
    let reassignable = |index: i32, replicas: Option<&[i32]>| {
        alter_partition_reassignments_request::ReassignablePartition::default()
            .with_partition_index(index)
            .with_replicas(replicas.map(|ids| ids.iter().copied().map(BrokerId).collect()))
    };
    for version in 0..=1 {
        let request = AlterPartitionReassignmentsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![
                alter_partition_reassignments_request::ReassignableTopic::default()
                    .with_name(name("sized"))
                    .with_partitions(vec![
                        reassignable(0, Some(&[0])),
                        reassignable(1, Some(&[0, 1])),
                        reassignable(5, Some(&[0])),
                    ]),
                alter_partition_reassignments_request::ReassignableTopic::default()
                    .with_name(name("sized-not"))
                    .with_partitions(vec![reassignable(0, None)]),
            ]);
        let response: AlterPartitionReassignmentsResponse = client.call(version, &request);
        let codes: Vec<Vec<i16>> = response
            .responses
            .iter()
            .map(|topic| topic.partitions.iter().map(|p| p.error_code).collect())
            .collect();
        assert_eq!(
            codes,
            [
                vec![0, INVALID_REPLICA_ASSIGNMENT, UNKNOWN_TOPIC_OR_PARTITION],
                vec![UNKNOWN_TOPIC_OR_PARTITION]
            ],
            "v{version}"
        );
        let cancel = AlterPartitionReassignmentsRequest::default().with_topics(vec![
            alter_partition_reassignments_request::ReassignableTopic::default()
                .with_name(name("sized"))
                .with_partitions(vec![reassignable(1, None)]),
        ]);
        let response: AlterPartitionReassignmentsResponse = client.call(version, &cancel);
        assert_eq!(
            response.responses[0].partitions[0].error_code, NO_REASSIGNMENT_IN_PROGRESS,
            "v{version}"
        );
    }

    for version in 1..=3 {
        let described: DescribeAclsResponse = client.call(
            version,
            &DescribeAclsRequest::default()
                .with_resource_type_filter(1)
                .with_pattern_type_filter(1)
                .with_operation(1)
                .with_permission_type(1),
        );
        assert_eq!(described.error_code, SECURITY_DISABLED);
        let created: CreateAclsResponse = client.call(
            version,
            &CreateAclsRequest::default().with_creations(vec![
                create_acls_request::AclCreation::default()
                    .with_resource_type(2)
                    .with_resource_name(text("sized"))
                    .with_resource_pattern_type(3)
                    .with_principal(text("User:alice"))
                    .with_host(text("*"))
                    .with_operation(3)
                    .with_permission_type(3),
            ]),
        );
        assert_eq!(created.results[0].error_code, SECURITY_DISABLED);
        let deleted: DeleteAclsResponse = client.call(
            version,
            &DeleteAclsRequest::default().with_filters(vec![
                delete_acls_request::DeleteAclsFilter::default()
                    .with_resource_type_filter(1)
                    .with_pattern_type_filter(1)
                    .with_operation(1)
                    .with_permission_type(1),
            ]),
        );
        assert_eq!(deleted.filter_results[0].error_code, SECURITY_DISABLED);
    }
}

/// Produces `batch` to `topic`/`partition` (acks=all); returns the base offset.
fn produce_batch(client: &mut WireClient, topic: &str, partition: i32, batch: Vec<u8>) -> i64 {
    let produce = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(Bytes::from(batch)))])]);
    let produced: ProduceResponse = client.call(9, &produce);
    let answer = &produced.responses[0].partition_responses[0];
    assert_eq!(answer.error_code, 0);
    answer.base_offset
}

/// The first stored batch at `offset` of partition 0 of `topic`: its codec id and record count.
fn stored_batch(client: &mut WireClient, topic: &str, offset: i64) -> (i16, usize) {
    let fetch = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(vec![fetch_request::FetchPartition::default()
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])]);
    let fetched: FetchResponse = client.call(12, &fetch);
    let mut records = fetched.responses[0].partitions[0].records.clone().unwrap();
    let attributes = i16::from_be_bytes([records[21], records[22]]);
    let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut records).unwrap();
    (attributes & 0x07, set.records.len())
}

#[test]
fn topic_compression_type_recompresses_produced_batches() {
    let broker = SpawnedBroker::start("");
    let mut client = WireClient::connect(&broker.bootstrap);
    create_topic(&mut client, "as-sent", 1, &[]);
    create_topic(&mut client, "gzipped", 1, &[("compression.type", "gzip")]);
    let plain = || build_records_batch(&[1, 2, 3], Compression::None);
    produce_batch(&mut client, "as-sent", 0, plain());
    assert_eq!(
        stored_batch(&mut client, "as-sent", 0),
        (0, 3),
        "producer's codec kept"
    );
    produce_batch(&mut client, "gzipped", 0, plain());
    assert_eq!(
        stored_batch(&mut client, "gzipped", 0),
        (1, 3),
        "stored as gzip"
    );
    // Changing compression.type applies to the next batches.
    let (error, message) = incremental(
        &mut client,
        TOPIC,
        "as-sent",
        &[("compression.type", SET, Some("zstd"))],
    );
    assert_eq!(error, 0, "{message}");
    let (error, message) = incremental(
        &mut client,
        TOPIC,
        "as-sent",
        &[("compression.type", SET, Some("brotli"))],
    );
    assert_eq!(error, INVALID_CONFIG);
    assert!(message.contains("compression.type"), "{message}");
    assert_eq!(produce_batch(&mut client, "as-sent", 0, plain()), 3);
    assert_eq!(stored_batch(&mut client, "as-sent", 3), (4, 3), "zstd");
}

#[test]
fn create_partitions_at_every_version() {
    let broker = SpawnedBroker::start("");
    let mut client = WireClient::connect(&broker.bootstrap);
    create_topic(&mut client, "grown", 1, &[]);
    for version in 0..=3 {
        let count = 2 + i32::from(version);
        let request = CreatePartitionsRequest::default()
            .with_topics(vec![
                create_partitions_request::CreatePartitionsTopic::default()
                    .with_name(name("grown"))
                    .with_count(count)
                    .with_assignments(Some(vec![
                        create_partitions_request::CreatePartitionsAssignment::default()
                            .with_broker_ids(vec![BrokerId(0)]),
                    ])),
            ])
            .with_timeout_ms(30_000);
        let response: CreatePartitionsResponse = client.call(version, &request);
        let result = &response.results[0];
        assert_eq!(
            result.error_code, 0,
            "v{version}: {:?}",
            result.error_message
        );
        let same: CreatePartitionsResponse = client.call(version, &request);
        assert_eq!(
            same.results[0].error_code, 37,
            "v{version}: INVALID_PARTITIONS for an equal count"
        );
    }
    let metadata: MetadataResponse = client.call(
        12,
        &MetadataRequest::default().with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default().with_name(Some(name("grown"))),
        ])),
    );
    assert_eq!(metadata.topics[0].partitions.len(), 5);
}
