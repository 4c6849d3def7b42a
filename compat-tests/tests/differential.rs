//! Differential tests: the same client calls against Apache Kafka (the reference broker,
//! single-node KRaft from Kafka's own jars) and against spool, comparing what a client
//! observes. Each scenario turns what it saw into `name → value` lines; the two brokers must
//! agree on every line except those in [`KNOWN_DIFFERENCES`], each with the reason.

use std::collections::BTreeMap;
use std::time::Duration;

use compat_tests::kafka::ReferenceBroker;
use compat_tests::wire::WireClient;
use compat_tests::SpawnedBroker;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    BrokerId, DescribeConfigsRequest, DescribeGroupsRequest, GroupId, HeartbeatRequest,
    IncrementalAlterConfigsRequest, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    ListOffsetsRequest, MetadataRequest, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(30);

/// What one scenario observed: `name → value`, sorted for a readable diff.
type Observed = BTreeMap<String, String>;

/// Lines where spool differs from Kafka, known and explained: (scenario, line names, why).
/// A line not listed here that differs fails the test.
const KNOWN_DIFFERENCES: &[(&str, &[&str], &str)] = &[
    (
        "topic_validation",
        &["create small segments"],
        "Kafka 4 refuses segment.bytes below 1 MiB (KIP-1030); spool keeps the old minimum (14 \
         bytes) so that its own tests and small deployments can roll segments quickly",
    ),
    (
        "topic_configs",
        &[
            "config remote.storage.enable",
            "config remote.log.copy.disable",
            "config remote.log.delete.on.disable",
            "config remote.copy.lag.bytes",
            "config remote.copy.lag.ms",
            "config local.retention.bytes",
            "config local.retention.ms",
        ],
        "tiered storage (KIP-405) is not offered: spool neither reports nor accepts its configs",
    ),
    (
        "topic_configs",
        &["config min.insync.replicas"],
        "Kafka 4 stores min.insync.replicas as a cluster-wide dynamic default when its storage \
         is formatted (DynamicDefaultBroker); spool's default is its static broker config",
    ),
    (
        "topic_configs",
        &[
            "config compression.gzip.level",
            "config compression.lz4.level",
            "config compression.zstd.level",
            "config errors.deadletterqueue.group.enable",
            "config file.delete.delay.ms",
            "config max.compaction.lag.ms",
            "config max.decompressed.message.bytes",
            "config message.timestamp.after.max.ms",
            "config message.timestamp.before.max.ms",
            "config preallocate",
            "config segment.index.bytes",
            "config segment.jitter.ms",
        ],
        "topic configs spool does not implement yet: DescribeConfigs omits them and CreateTopics / \
         AlterConfigs refuse them with INVALID_CONFIG (Kafka accepts them)",
    ),
];

/// Both brokers, started once for all scenarios.
struct Brokers {
    kafka: ReferenceBroker,
    spool: SpawnedBroker,
}

fn client(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4");
    config
}

/// A topic with one replica (both brokers are single nodes).
fn new_topic(name: &str, partitions: i32) -> NewTopic<'_> {
    NewTopic::new(name, partitions, TopicReplication::Fixed(1))
}

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    client(bootstrap).create().expect("admin client")
}

fn options() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(TIMEOUT))
}

async fn create(bootstrap: &str, topic: NewTopic<'_>) -> String {
    let results = admin(bootstrap).create_topics([&topic], &options()).await;
    match results.expect("CreateTopics answered").remove(0) {
        Ok(_) => "ok".to_owned(),
        Err((_, code)) => format!("{code:?}"),
    }
}

const BROKER_RESOURCE: i8 = 4;

/// One change of IncrementalAlterConfigs: key, operation, value.
type ConfigOp<'a> = (&'a str, i8, Option<&'a str>);

/// The replication throttle rates DescribeConfigs reports for broker `node_id` and for the
/// cluster default, one line each with source, type and synonyms.
fn described_rates(wire: &mut WireClient, node_id: &str) -> String {
    let mut described = Vec::new();
    for (scope, resource) in [("broker", node_id), ("default", "")] {
        let request = DescribeConfigsRequest::default()
            .with_resources(vec![DescribeConfigsResource::default()
                .with_resource_type(BROKER_RESOURCE)
                .with_resource_name(StrBytes::from_string(resource.to_owned()))])
            .with_include_synonyms(true);
        let response = wire.call(4, &request);
        let rates = response.results[0]
            .configs
            .iter()
            .filter(|config| config.name.contains("replication.throttled.rate"));
        for config in rates {
            let synonyms: Vec<String> = config
                .synonyms
                .iter()
                .map(|synonym| format!("{:?}@{}", synonym.value.as_deref(), synonym.source))
                .collect();
            described.push(format!(
                "{scope}: {}={:?} source={} read_only={} type={} synonyms={synonyms:?}",
                config.name.as_str(),
                config.value.as_deref(),
                config.config_source,
                config.read_only,
                config.config_type
            ));
        }
    }
    described.join("; ")
}

/// Dynamic broker configs: the replication throttle rates set on the broker (by its id) and
/// as the cluster default, refused values, what DescribeConfigs reports, and deletes.
async fn dynamic_broker_configs(bootstrap: &str) -> Observed {
    const SET: i8 = 0;
    const DELETE: i8 = 1;
    let mut seen = Observed::new();
    let mut wire = WireClient::connect(bootstrap);
    let metadata = wire.call(
        12,
        &MetadataRequest::default().with_topics(Some(Vec::new())),
    );
    let node_id = metadata.brokers[0].node_id.0.to_string();
    let leader = "leader.replication.throttled.rate";
    let follower = "follower.replication.throttled.rate";
    let steps: &[(&str, &str, &[ConfigOp])] = &[
        ("negative", &node_id, &[(leader, SET, Some("-1"))]),
        ("not a number", &node_id, &[(leader, SET, Some("fast"))]),
        (
            "own rates",
            &node_id,
            &[(leader, SET, Some("1000")), (follower, SET, Some("3000"))],
        ),
        ("default rate", "", &[(leader, SET, Some("2000"))]),
        (
            "own leader rate deleted",
            &node_id,
            &[(leader, DELETE, None)],
        ),
        ("all deleted", &node_id, &[(follower, DELETE, None)]),
        ("default deleted", "", &[(leader, DELETE, None)]),
    ];
    let mut described = described_rates(&mut wire, &node_id);
    for (step, resource, changes) in steps {
        let configs = changes
            .iter()
            .map(|(key, op, value)| {
                AlterableConfig::default()
                    .with_name(StrBytes::from_string(key.to_string()))
                    .with_config_operation(*op)
                    .with_value(value.map(|value| StrBytes::from_string(value.to_owned())))
            })
            .collect();
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(BROKER_RESOURCE)
                .with_resource_name(StrBytes::from_string(resource.to_string()))
                .with_configs(configs),
        ]);
        let error = wire.call(1, &request).responses[0].error_code;
        seen.insert(format!("alter {step}"), format!("error {error}"));
        if error == 0 {
            // Kafka's broker applies an accepted change from its metadata log a moment after
            // answering; every accepted step here changes what is described.
            let deadline = std::time::Instant::now() + TIMEOUT;
            let before = described.clone();
            while described == before && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
                described = described_rates(&mut wire, &node_id);
            }
        }
        seen.insert(format!("described after {step}"), described.clone());
    }
    seen
}

/// Produce with explicit timestamps, then ListOffsets (earliest, latest, by time).
async fn offsets_and_times(bootstrap: &str) -> Observed {
    let mut seen = Observed::new();
    let topic = "diff-offsets";
    seen.insert(
        "create".into(),
        create(bootstrap, new_topic(topic, 2)).await,
    );
    let producer: FutureProducer = client(bootstrap)
        .set("linger.ms", "0")
        .create()
        .expect("producer");
    for (partition, count) in [(0, 10), (1, 3)] {
        for i in 0..count {
            let timestamp = 1_000 * (i + 1);
            let key = format!("k{i}");
            let delivered = producer
                .send(
                    FutureRecord::to(topic)
                        .partition(partition)
                        .key(&key)
                        .payload("v")
                        .timestamp(timestamp),
                    TIMEOUT,
                )
                .await
                .map(|delivery| delivery.offset.to_string())
                .unwrap_or_else(|(error, _)| format!("{error:?}"));
            seen.insert(format!("produce p{partition} t{timestamp}"), delivered);
        }
    }
    let consumer: BaseConsumer = client(bootstrap)
        .set("group.id", "diff-offsets")
        .create()
        .expect("consumer");
    for partition in 0..2 {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, TIMEOUT)
            .expect("watermarks");
        seen.insert(format!("watermarks p{partition}"), format!("{low}..{high}"));
        for timestamp in [0, 1_000, 1_500, 3_000, 10_000, 10_001, 4_102_444_800_000] {
            let mut query = TopicPartitionList::new();
            query
                .add_partition_offset(topic, partition, Offset::Offset(timestamp))
                .expect("query");
            let found = consumer
                .offsets_for_times(query, TIMEOUT)
                .expect("offsets_for_times");
            let element = &found.elements()[0];
            let answer = match element.error() {
                Ok(()) => format!("{:?}", element.offset()),
                Err(error) => format!("{error:?}"),
            };
            seen.insert(format!("by time p{partition} t{timestamp}"), answer);
        }
    }
    seen
}

/// CreateTopics and CreatePartitions requests Kafka refuses, and the codes it refuses them with.
async fn topic_validation(bootstrap: &str) -> Observed {
    let mut seen = Observed::new();
    let long_name = "x".repeat(250);
    let cases: Vec<(&str, NewTopic)> = vec![
        ("invalid name", new_topic("bad/name", 1)),
        ("name too long", new_topic(&long_name, 1)),
        ("dot only", new_topic("..", 1)),
        ("zero partitions", new_topic("diff-zero", 0)),
        (
            "replication 3",
            NewTopic::new("diff-rf", 1, TopicReplication::Fixed(3)),
        ),
        (
            "bad policy",
            new_topic("diff-policy", 1).set("cleanup.policy", "bogus"),
        ),
        (
            "unknown config",
            new_topic("diff-unknown", 1).set("no.such.config", "1"),
        ),
        (
            "negative retention",
            new_topic("diff-retention", 1).set("retention.ms", "-5"),
        ),
        (
            "not a number",
            new_topic("diff-nan", 1).set("segment.bytes", "lots"),
        ),
        (
            "small segments",
            new_topic("diff-small", 1).set("segment.bytes", "65536"),
        ),
        ("valid", new_topic("diff-valid", 2)),
        ("exists", new_topic("diff-valid", 2)),
    ];
    for (name, topic) in cases {
        seen.insert(format!("create {name}"), create(bootstrap, topic).await);
    }
    for (name, count) in [("same count", 2), ("decrease", 1), ("increase", 3)] {
        let results = admin(bootstrap)
            .create_partitions([&NewPartitions::new("diff-valid", count)], &options())
            .await
            .expect("CreatePartitions answered");
        let outcome = match &results[0] {
            Ok(_) => "ok".to_owned(),
            Err((_, code)) => format!("{code:?}"),
        };
        seen.insert(format!("partitions {name}"), outcome);
    }
    let results = admin(bootstrap)
        .create_partitions([&NewPartitions::new("diff-missing", 2)], &options())
        .await
        .expect("CreatePartitions answered");
    seen.insert(
        "partitions of a missing topic".into(),
        results[0]
            .as_ref()
            .map_or_else(|(_, code)| format!("{code:?}"), |_| "ok".to_owned()),
    );
    seen
}

/// DescribeConfigs of a new topic with one override: value, source and flags of each config.
async fn topic_configs(bootstrap: &str) -> Observed {
    let mut seen = Observed::new();
    let topic = "diff-configs";
    create(bootstrap, new_topic(topic, 1).set("retention.ms", "123456")).await;
    let described = admin(bootstrap)
        .describe_configs([&ResourceSpecifier::Topic(topic)], &options())
        .await
        .expect("DescribeConfigs answered")
        .remove(0)
        .expect("topic configs");
    for entry in described.entries {
        seen.insert(
            format!("config {}", entry.name),
            format!(
                "{} {:?} default={} read_only={} sensitive={}",
                entry.value.as_deref().unwrap_or("null"),
                entry.source,
                entry.is_default,
                entry.is_read_only,
                entry.is_sensitive
            ),
        );
    }
    seen
}

/// Committed offsets with metadata, read back by the group; DeleteRecords and the new log start.
async fn commits_and_delete_records(bootstrap: &str) -> Observed {
    let mut seen = Observed::new();
    let topic = "diff-commits";
    create(bootstrap, new_topic(topic, 1)).await;
    let producer: FutureProducer = client(bootstrap).create().expect("producer");
    for i in 0..5 {
        producer
            .send(
                FutureRecord::<str, str>::to(topic).payload(&format!("v{i}")),
                TIMEOUT,
            )
            .await
            .expect("delivered");
    }
    let consumer: BaseConsumer = client(bootstrap)
        .set("group.id", "diff-commits")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset(topic, 0, Offset::Offset(3))
        .expect("offset");
    commit
        .find_partition(topic, 0)
        .expect("partition")
        .set_metadata("checkpoint-7");
    seen.insert(
        "commit".into(),
        format!("{:?}", consumer.commit(&commit, CommitMode::Sync)),
    );
    let mut query = TopicPartitionList::new();
    query.add_partition(topic, 0);
    let committed = consumer
        .committed_offsets(query, TIMEOUT)
        .expect("committed offsets");
    let element = &committed.elements()[0];
    seen.insert(
        "committed".into(),
        format!("{:?} {:?}", element.offset(), element.metadata()),
    );

    for (name, offset) in [("to 2", 2), ("beyond the end", 99)] {
        let mut delete = TopicPartitionList::new();
        delete
            .add_partition_offset(topic, 0, Offset::Offset(offset))
            .expect("offset");
        let outcome = admin(bootstrap)
            .delete_records(&delete, &options())
            .await
            .map(|result| {
                let element = &result.elements()[0];
                format!("{:?} {:?}", element.offset(), element.error())
            })
            .unwrap_or_else(|error| format!("{error:?}"));
        seen.insert(format!("delete records {name}"), outcome);
    }
    let (low, high) = consumer
        .fetch_watermarks(topic, 0, TIMEOUT)
        .expect("watermarks");
    seen.insert("watermarks after delete".into(), format!("{low}..{high}"));
    seen
}

/// Transactions: a committed and an aborted one, read with both isolation levels; the
/// watermarks and what each reader sees.
async fn transaction_visibility(bootstrap: &str) -> Observed {
    let mut seen = Observed::new();
    let topic = "diff-txn";
    create(bootstrap, new_topic(topic, 1)).await;
    let producer: FutureProducer = client(bootstrap)
        .set("transactional.id", "diff-txn")
        .create()
        .expect("transactional producer");
    producer.init_transactions(TIMEOUT).expect("init");
    for (name, commit) in [("committed", true), ("aborted", false), ("second", true)] {
        producer.begin_transaction().expect("begin");
        for i in 0..3 {
            producer
                .send(
                    FutureRecord::<str, str>::to(topic).payload(&format!("{name}-{i}")),
                    TIMEOUT,
                )
                .await
                .expect("delivered");
        }
        let ended = match commit {
            true => producer.commit_transaction(TIMEOUT),
            false => producer.abort_transaction(TIMEOUT),
        };
        seen.insert(format!("end {name}"), format!("{ended:?}"));
    }
    for isolation in ["read_committed", "read_uncommitted"] {
        let (low, high, records) =
            read_to_end(bootstrap, topic, Offset::Beginning, isolation, TIMEOUT);
        seen.insert(format!("{isolation} watermarks"), format!("{low}..{high}"));
        let values: Vec<String> = records
            .iter()
            .map(|(offset, _, value)| format!("{offset}:{value}"))
            .collect();
        seen.insert(format!("{isolation} reads"), values.join(" "));
    }
    seen
}

/// A group with one subscribed member, then after it leaves: as ListGroups and
/// DescribeGroups show it.
async fn group_lifecycle(bootstrap: &str) -> Observed {
    let mut seen = Observed::new();
    let topic = "diff-group";
    create(bootstrap, new_topic(topic, 2)).await;
    let describe = |seen: &mut Observed, stage: &str, client: &BaseConsumer| {
        let groups = client
            .fetch_group_list(Some("diff-group"), TIMEOUT)
            .expect("group list");
        for group in groups.groups() {
            let assigned: Vec<String> = group
                .members()
                .iter()
                .map(|member| {
                    format!(
                        "{} bytes of assignment",
                        member.assignment().map_or(0, <[u8]>::len)
                    )
                })
                .collect();
            seen.insert(
                format!("{stage} group"),
                format!(
                    "state={} protocol_type={} protocol={} members={:?}",
                    group.state(),
                    group.protocol_type(),
                    group.protocol(),
                    assigned
                ),
            );
        }
    };
    let member: BaseConsumer = client(bootstrap)
        .set("group.id", "diff-group")
        .set("partition.assignment.strategy", "range")
        .create()
        .expect("consumer");
    member.subscribe(&[topic]).expect("subscribe");
    let deadline = std::time::Instant::now() + TIMEOUT;
    while member.assignment().map_or(0, |a| a.count()) < 2 && std::time::Instant::now() < deadline {
        member.poll(Duration::from_millis(100));
    }
    seen.insert(
        "assigned partitions".into(),
        member.assignment().map_or(0, |a| a.count()).to_string(),
    );
    describe(&mut seen, "stable", &member);
    member.unsubscribe();
    drop(member);
    let observer: BaseConsumer = client(bootstrap).create().expect("observer");
    let left = compat_tests::wait_for(TIMEOUT, || {
        let groups = observer
            .fetch_group_list(Some("diff-group"), TIMEOUT)
            .ok()?;
        let state = groups.groups().first()?.state().to_owned();
        (state == "Empty").then_some(state)
    });
    seen.insert("after leaving".into(), format!("{left:?}"));
    describe(&mut seen, "empty", &observer);
    seen
}

/// The classic group protocol on the wire: two members join, sync, heartbeat and leave; the
/// error codes, generations, leaders and states each step sees.
async fn group_generations(bootstrap: &str) -> Observed {
    tokio::task::block_in_place(|| GroupWalk::new(bootstrap).run())
}

/// One raw connection per member of the `diff-generations` group.
struct GroupWalk {
    a: WireClient,
    b: WireClient,
    seen: Observed,
}

/// Join / heartbeat versions used (flexible, with KIP-394 member ids).
const JOIN_VERSION: i16 = 6;
const SYNC_VERSION: i16 = 4;
const HEARTBEAT_VERSION: i16 = 4;
const LEAVE_VERSION: i16 = 4;
const DESCRIBE_VERSION: i16 = 5;
const GROUP: &str = "diff-generations";

impl GroupWalk {
    fn new(bootstrap: &str) -> Self {
        Self {
            a: WireClient::connect(bootstrap),
            b: WireClient::connect(bootstrap),
            seen: Observed::new(),
        }
    }

    fn join_request(member_id: &str) -> JoinGroupRequest {
        JoinGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str(GROUP)))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_member_id(StrBytes::from_string(member_id.to_owned()))
            .with_protocol_type(StrBytes::from_static_str("spool-diff"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(StrBytes::from_static_str("p1"))
                .with_metadata(bytes::Bytes::from_static(b"m"))])
    }

    /// A first join without a member id: Kafka hands one out with MEMBER_ID_REQUIRED.
    fn member_id(client: &mut WireClient, seen: &mut Observed, who: &str) -> String {
        let response = client.call(JOIN_VERSION, &Self::join_request(""));
        seen.insert(
            format!("{who} first join"),
            format!("error {}", response.error_code),
        );
        response.member_id.to_string()
    }

    fn note_join(&mut self, step: &str, response: &JoinGroupResponse, leader_is: &str) {
        self.seen.insert(
            step.to_owned(),
            format!(
                "error {} generation {} protocol {:?} leader={} members {}",
                response.error_code,
                response.generation_id,
                response.protocol_name.as_ref().map(ToString::to_string),
                response.leader.as_str() == leader_is,
                response.members.len()
            ),
        );
    }

    fn heartbeat(client: &mut WireClient, member: &str, generation: i32) -> i16 {
        client
            .call(
                HEARTBEAT_VERSION,
                &HeartbeatRequest::default()
                    .with_group_id(GroupId(StrBytes::from_static_str(GROUP)))
                    .with_member_id(StrBytes::from_string(member.to_owned()))
                    .with_generation_id(generation),
            )
            .error_code
    }

    fn sync(client: &mut WireClient, member: &str, generation: i32, assign: &[&str]) -> String {
        let response = client.call(
            SYNC_VERSION,
            &SyncGroupRequest::default()
                .with_group_id(GroupId(StrBytes::from_static_str(GROUP)))
                .with_member_id(StrBytes::from_string(member.to_owned()))
                .with_generation_id(generation)
                .with_assignments(
                    assign
                        .iter()
                        .enumerate()
                        .map(|(index, to)| {
                            SyncGroupRequestAssignment::default()
                                .with_member_id(StrBytes::from_string((*to).to_owned()))
                                .with_assignment(bytes::Bytes::from(format!("for-member-{index}")))
                        })
                        .collect(),
                ),
        );
        format!(
            "error {} assignment {:?}",
            response.error_code, response.assignment
        )
    }

    fn state(&mut self, step: &str) {
        let described = self.a.call(
            DESCRIBE_VERSION,
            &DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(StrBytes::from_static_str(GROUP))]),
        );
        let group = &described.groups[0];
        self.seen.insert(
            format!("{step} described"),
            format!(
                "error {} state {} protocol_type {} protocol {} members {}",
                group.error_code,
                group.group_state,
                group.protocol_type,
                group.protocol_data,
                group.members.len()
            ),
        );
    }

    fn leave(client: &mut WireClient, member: &str) -> String {
        let response = client.call(
            LEAVE_VERSION,
            &LeaveGroupRequest::default()
                .with_group_id(GroupId(StrBytes::from_static_str(GROUP)))
                .with_members(vec![MemberIdentity::default()
                    .with_member_id(StrBytes::from_string(member.to_owned()))]),
        );
        format!(
            "error {} member errors {:?}",
            response.error_code,
            response
                .members
                .iter()
                .map(|m| m.error_code)
                .collect::<Vec<_>>()
        )
    }

    fn run(mut self) -> Observed {
        let a = Self::member_id(&mut self.a, &mut self.seen, "a");
        let joined = self.a.call(JOIN_VERSION, &Self::join_request(&a));
        self.note_join("a joins alone", &joined, &a);
        let first = joined.generation_id;
        let synced = Self::sync(&mut self.a, &a, first, &[&a]);
        self.seen.insert("a syncs".into(), synced);
        let beat = Self::heartbeat(&mut self.a, &a, first);
        self.seen
            .insert("a heartbeat, stable".into(), format!("error {beat}"));
        self.state("one member");

        // B joins: A learns of the rebalance from its heartbeat and rejoins.
        let b = Self::member_id(&mut self.b, &mut self.seen, "b");
        let b_join = self.b.send(JOIN_VERSION, &Self::join_request(&b));
        // B's join travels on its own connection: A heartbeats until the broker has seen it.
        let beat = compat_tests::wait_for(TIMEOUT, || {
            let code = Self::heartbeat(&mut self.a, &a, first);
            (code != 0).then_some(code)
        });
        self.seen.insert(
            "a heartbeat during rebalance".into(),
            format!("error {beat:?}"),
        );
        let a_rejoined = self.a.call(JOIN_VERSION, &Self::join_request(&a));
        let (correlation, b_joined) = self.b.receive::<JoinGroupRequest>(JOIN_VERSION);
        assert_eq!(correlation, b_join);
        self.note_join("a rejoins with b", &a_rejoined, &a);
        self.note_join("b joins", &b_joined, &a);
        let second = a_rejoined.generation_id;
        self.seen.insert(
            "generation advanced by".into(),
            (second - first).to_string(),
        );
        let stale = Self::heartbeat(&mut self.b, &b, first);
        self.seen.insert(
            "b heartbeat, old generation".into(),
            format!("error {stale}"),
        );
        let b_sync = self.b.send(
            SYNC_VERSION,
            &SyncGroupRequest::default()
                .with_group_id(GroupId(StrBytes::from_static_str(GROUP)))
                .with_member_id(StrBytes::from_string(b.clone()))
                .with_generation_id(second),
        );
        let synced = Self::sync(&mut self.a, &a, second, &[&a, &b]);
        self.seen.insert("a syncs as leader".into(), synced);
        let (correlation, b_synced) = self.b.receive::<SyncGroupRequest>(SYNC_VERSION);
        assert_eq!(correlation, b_sync);
        self.seen.insert(
            "b syncs".into(),
            format!(
                "error {} assignment {:?}",
                b_synced.error_code, b_synced.assignment
            ),
        );
        self.state("two members");

        // A leaves: B rebalances alone and becomes the leader.
        let left = Self::leave(&mut self.a, &a);
        self.seen.insert("a leaves".into(), left);
        let beat = Self::heartbeat(&mut self.b, &b, second);
        self.seen
            .insert("b heartbeat after a left".into(), format!("error {beat}"));
        let alone = self.b.call(JOIN_VERSION, &Self::join_request(&b));
        self.note_join("b rejoins alone", &alone, &b);
        self.seen.insert(
            "generation advanced again by".into(),
            (alone.generation_id - second).to_string(),
        );
        let synced = Self::sync(&mut self.b, &b, alone.generation_id, &[&b]);
        self.seen.insert("b syncs alone".into(), synced);
        let left = Self::leave(&mut self.b, &b);
        self.seen.insert("b leaves".into(), left);
        let unknown = Self::leave(&mut self.b, &b);
        self.seen.insert("b leaves again".into(), unknown);
        self.state("everyone left");
        self.seen
    }
}

/// ListOffsets for the record with the largest timestamp (-3, KIP-734), and what
/// DescribeConfigs reports after AlterConfigs replaced a topic's overrides.
async fn max_timestamp_and_altered_configs(bootstrap: &str) -> Observed {
    let mut seen = Observed::new();
    let topic = "diff-max-time";
    create(bootstrap, new_topic(topic, 1).set("retention.ms", "777777")).await;
    let producer: FutureProducer = client(bootstrap).create().expect("producer");
    for timestamp in [5_000, 9_000, 7_000, 9_000, 1_000] {
        producer
            .send(
                FutureRecord::<str, str>::to(topic)
                    .payload("v")
                    .timestamp(timestamp),
                TIMEOUT,
            )
            .await
            .expect("delivered");
    }
    let mut wire = WireClient::connect(bootstrap);
    for (name, timestamp) in [("max timestamp", -3), ("earliest", -2), ("latest", -1)] {
        let response = wire.call(
            LIST_OFFSETS_VERSION,
            &ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![ListOffsetsTopic::default()
                    .with_name(TopicName(StrBytes::from_static_str(topic)))
                    .with_partitions(vec![ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(timestamp)])]),
        );
        let partition = &response.topics[0].partitions[0];
        seen.insert(
            format!("list offsets {name}"),
            format!(
                "error {} offset {} timestamp {}",
                partition.error_code, partition.offset, partition.timestamp
            ),
        );
    }

    let topic_resource = ResourceSpecifier::Topic(topic);
    let altered = admin(bootstrap)
        .alter_configs(
            [&AlterConfig::new(ResourceSpecifier::Topic(topic)).set("segment.ms", "3600000")],
            &options(),
        )
        .await
        .expect("AlterConfigs answered")
        .remove(0)
        .map(|_| "ok".to_owned())
        .unwrap_or_else(|(_, code)| format!("{code:?}"));
    seen.insert("alter configs".into(), altered);
    let described = admin(bootstrap)
        .describe_configs([&topic_resource], &options())
        .await
        .expect("DescribeConfigs answered")
        .remove(0)
        .expect("topic configs");
    for name in ["segment.ms", "retention.ms", "cleanup.policy"] {
        let entry = described.get(name).expect(name);
        seen.insert(
            format!("after alter {name}"),
            format!("{:?} {:?}", entry.value, entry.source),
        );
    }
    seen
}

/// ListOffsets v7+ knows -3 (max timestamp).
const LIST_OFFSETS_VERSION: i16 = 8;

/// Compaction that empties the oldest segment (Kafka's minimum segment.bytes, 1 MiB): which
/// records survive, the log start offset, and where a reader at offset 0 lands.
async fn compaction_keeps_the_log_start(bootstrap: &str) -> Observed {
    let mut seen = Observed::new();
    let topic = "diff-compacted";
    create(
        bootstrap,
        new_topic(topic, 1)
            .set("cleanup.policy", "compact")
            .set("segment.bytes", "1048576")
            .set("min.cleanable.dirty.ratio", "0.01"),
    )
    .await;
    let producer: FutureProducer = client(bootstrap)
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let value = "x".repeat(1000);
    // Two rounds over five keys (each round more than a segment), then unique filler that
    // closes the segment holding the second round.
    let keys: Vec<String> = (0..2 * COMPACTED_ROUND)
        .map(|i| format!("key-{}", i % 5))
        .chain((0..COMPACTED_ROUND).map(|i| format!("filler-{i}")))
        .collect();
    let sends: Vec<_> = keys
        .iter()
        .map(|key| {
            producer
                .send_result(FutureRecord::to(topic).key(key).payload(&value))
                .unwrap_or_else(|(error, _)| panic!("enqueue: {error}"))
        })
        .collect();
    for send in sends {
        send.await.expect("delivery").expect("delivered");
    }
    // (offset, key) of the records read from `start`, and the watermarks.
    let read = |start| {
        let (low, high, records) =
            read_to_end(bootstrap, topic, start, "read_uncommitted", COMPACTED_READ);
        let keys: Vec<(i64, String)> = records
            .into_iter()
            .map(|(offset, key, _)| (offset, key))
            .collect();
        (low, high, keys)
    };
    let survivors = compat_tests::wait_for(Duration::from_secs(60), || {
        let (_, _, records) = read(Offset::Beginning);
        let repeated = records
            .iter()
            .filter(|(_, key)| key.starts_with("key-"))
            .count();
        (repeated == 5).then_some(records)
    });
    let Some(survivors) = survivors else {
        seen.insert("compacted".into(), "not within 60 s".into());
        return seen;
    };
    seen.insert(
        "surviving keyed records".into(),
        format!(
            "{:?}",
            survivors
                .iter()
                .filter(|(_, key)| key.starts_with("key-"))
                .collect::<Vec<_>>()
        ),
    );
    let (low, high, from_zero) = read(Offset::Offset(0));
    seen.insert("watermarks".into(), format!("{low}..{high}"));
    seen.insert(
        "first record read from offset 0".into(),
        format!("{:?}", from_zero.first()),
    );
    seen
}

/// How long one read of the compacted partition may take.
const COMPACTED_READ: Duration = Duration::from_secs(5);

/// Records per round in [`compaction_keeps_the_log_start`]: ~1.2 MiB of 1 KB values.
const COMPACTED_ROUND: usize = 1_200;

/// A record as the differential readers report it: (offset, key, value).
type Record = (i64, String, String);

/// Watermarks of `topic`/0 and every record from `start` until the reader's position reaches
/// the high watermark (markers included), read at `isolation` by a consumer with
/// `auto.offset.reset=latest`; what was read by `deadline` if it does not get there.
fn read_to_end(
    bootstrap: &str,
    topic: &str,
    start: Offset,
    isolation: &str,
    deadline: Duration,
) -> (i64, i64, Vec<Record>) {
    let consumer: BaseConsumer = client(bootstrap)
        .set("group.id", "diff-reader")
        .set("auto.offset.reset", "latest")
        .set("isolation.level", isolation)
        .create()
        .expect("consumer");
    let (low, high) = consumer
        .fetch_watermarks(topic, 0, TIMEOUT)
        .expect("watermarks");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, start)
        .expect("assignment");
    consumer.assign(&assignment).expect("assign");
    let text = |bytes: Option<&[u8]>| {
        bytes.map_or_else(String::new, |b| String::from_utf8_lossy(b).into_owned())
    };
    let mut records = Vec::new();
    let deadline = std::time::Instant::now() + deadline;
    while consumer
        .position()
        .ok()
        .and_then(|position| position.elements().first().map(|e| e.offset()))
        != Some(Offset::Offset(high))
        && std::time::Instant::now() < deadline
    {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.expect("message");
            records.push((
                rdkafka::Message::offset(&message),
                text(rdkafka::Message::key(&message)),
                text(rdkafka::Message::payload(&message)),
            ));
        }
    }
    (low, high, records)
}

/// Lines that differ, with both values, except the known differences of `scenario`; and
/// known differences that no longer differ (the allow-list must not go stale).
fn differences(scenario: &str, kafka: &Observed, spool: &Observed) -> Vec<String> {
    let known = |name: &str| {
        KNOWN_DIFFERENCES
            .iter()
            .any(|(s, lines, _)| *s == scenario && lines.contains(&name))
    };
    let mut names: Vec<&String> = kafka.keys().chain(spool.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let (theirs, ours) = (kafka.get(name), spool.get(name));
            let problem = match (theirs == ours, known(name)) {
                (false, false) => "differ",
                (true, true) => "agree, but are listed as a known difference",
                _ => return None,
            };
            Some(format!(
                "{scenario} / {name}: {problem}: kafka {theirs:?}, spool {ours:?}"
            ))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_answers_as_kafka_does() {
    let brokers = Brokers {
        kafka: ReferenceBroker::start(&[
            "group.initial.rebalance.delay.ms=0",
            "log.cleaner.backoff.ms=100",
        ]),
        spool: SpawnedBroker::start(
            "\"group.initial.rebalance.delay.ms\" = 0\n\"log.cleaner.backoff.ms\" = 100",
        ),
    };
    let mut found = Vec::new();
    macro_rules! compare {
        ($scenario:ident) => {{
            let kafka = $scenario(&brokers.kafka.bootstrap).await;
            let spool = $scenario(&brokers.spool.bootstrap).await;
            assert!(
                !kafka.is_empty(),
                "{} observed nothing",
                stringify!($scenario)
            );
            found.extend(differences(stringify!($scenario), &kafka, &spool));
        }};
    }
    compare!(offsets_and_times);
    compare!(topic_validation);
    compare!(topic_configs);
    compare!(commits_and_delete_records);
    compare!(transaction_visibility);
    compare!(group_lifecycle);
    compare!(group_generations);
    compare!(max_timestamp_and_altered_configs);
    compare!(compaction_keeps_the_log_start);
    compare!(dynamic_broker_configs);
    assert!(
        found.is_empty(),
        "spool and Kafka differ:\n{}",
        found.join("\n")
    );
}
