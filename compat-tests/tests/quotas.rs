//! Client quotas: `kafka-configs` sets, lists and removes quotas of users and client ids
//! (kept across a restart, Kafka's checks refusing bad values); a producer over its
//! `producer_byte_rate` is held to it (within 10 % over 20 s, librdkafka); a consumer over its
//! `consumer_byte_rate` gets empty fetches with its throttle time, and its connection is not
//! read until the throttle time has passed; in a cluster, quotas stored through one broker
//! apply on the others; `max.connections.per.ip` (with overrides) closes connections over it,
//! and an IP's `connection_creation_rate` closes those opened faster;
//! `max.connection.creation.rate` paces the listeners after their first burst; a client over its
//! `request_percentage` is throttled (at most a window) and muted; a client over its
//! `controller_mutation_rate` gets what Apache Kafka answers to the same sequence of creations,
//! deletions and partition additions (refusals, throttle times).

use std::time::{Duration, Instant};

use bytes::Bytes;
use compat_tests::etcd::SpawnedEtcd;
use compat_tests::kafka::{tool, ReferenceBroker, Run};
use compat_tests::wire::WireClient;
use compat_tests::{wait_for, SpawnedBroker};
use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    AlterClientQuotasRequest, ApiVersionsRequest, BrokerId, CreatePartitionsRequest,
    CreateTopicsRequest, DeleteTopicsRequest, DescribeClientQuotasRequest, FetchRequest,
    MetadataRequest, ProduceRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use spool::records::batch::testing::build_batch;

/// The producer's quota, and how long it runs: the first seconds spend the burst the quota
/// allows (its whole span at once), the 20 s after them are measured.
const PRODUCER_QUOTA: f64 = 200.0 * 1024.0;
const PRODUCER_RUN: Duration = Duration::from_secs(26);
const MEASURED_FROM: Duration = Duration::from_secs(6);
const MEASURED_FOR: Duration = Duration::from_secs(20);
const RECORD_BYTES: usize = 1000;
/// Sends awaiting their acknowledgement at once.
const IN_FLIGHT: usize = 64;

fn configs(broker: &SpawnedBroker, args: &[&str]) -> Run {
    let mut all = vec!["--bootstrap-server", broker.bootstrap.as_str()];
    all.extend_from_slice(args);
    tool("kafka-configs", &all, "")
}

#[test]
fn kafka_configs_manages_client_quotas_kept_across_a_restart() {
    let mut broker = SpawnedBroker::start("");
    let set = configs(
        &broker,
        &[
            "--alter",
            "--add-config",
            "producer_byte_rate=1048576,consumer_byte_rate=2097152",
            "--entity-type",
            "users",
            "--entity-name",
            "alice",
        ],
    );
    assert!(set.success, "{}", set.text());
    let defaults = configs(
        &broker,
        &[
            "--alter",
            "--add-config",
            "request_percentage=50",
            "--entity-type",
            "clients",
            "--entity-default",
        ],
    );
    assert!(defaults.success, "{}", defaults.text());
    let fractional = configs(
        &broker,
        &[
            "--alter",
            "--add-config",
            "producer_byte_rate=1.5",
            "--entity-type",
            "users",
            "--entity-name",
            "bob",
        ],
    );
    assert!(!fractional.success);
    assert!(
        fractional
            .text()
            .contains("producer_byte_rate cannot be a fractional value."),
        "{}",
        fractional.text()
    );

    broker.stop();
    broker.restart();
    let alice = configs(
        &broker,
        &[
            "--describe",
            "--entity-type",
            "users",
            "--entity-name",
            "alice",
        ],
    );
    alice.assert_prints(&["Quota configs for user-principal 'alice' are consumer_byte_rate=2097152.0, producer_byte_rate=1048576.0"]);
    let clients = configs(&broker, &["--describe", "--entity-type", "clients"]);
    clients.assert_prints(&["Quota configs for the default client-id are request_percentage=50.0"]);

    let removed = configs(
        &broker,
        &[
            "--alter",
            "--delete-config",
            "producer_byte_rate",
            "--entity-type",
            "users",
            "--entity-name",
            "alice",
        ],
    );
    assert!(removed.success, "{}", removed.text());
    let alice = configs(
        &broker,
        &[
            "--describe",
            "--entity-type",
            "users",
            "--entity-name",
            "alice",
        ],
    );
    alice.assert_prints(&[
        "Quota configs for user-principal 'alice' are consumer_byte_rate=2097152.0",
    ]);
}

#[test]
fn a_cluster_keeps_client_quotas_in_etcd_for_every_broker() {
    let etcd = SpawnedEtcd::start();
    let brokers: Vec<SpawnedBroker> = (1..=2)
        .map(|node_id| {
            SpawnedBroker::start(&format!(
                "\"node.id\" = {node_id}\n\"cluster.url\" = \"{}\"\n",
                etcd.cluster_url("/quotas")
            ))
        })
        .collect();
    let mut first = WireClient::connect(&brokers[0].bootstrap);
    set_client_quota(&mut first, "shared", "consumer_byte_rate", 4096.0);
    let mut second = WireClient::connect(&brokers[1].bootstrap);
    let described = wait_for(Duration::from_secs(15), || {
        let described = second.call(1, &DescribeClientQuotasRequest::default());
        let entries = described.entries.unwrap_or_default();
        (!entries.is_empty()).then_some(entries)
    })
    .expect("broker 2 lists the quota stored through broker 1");
    assert_eq!(described.len(), 1);
    let entry = &described[0];
    assert_eq!(entry.entity[0].entity_type.as_str(), "client-id");
    assert_eq!(
        entry.entity[0]
            .entity_name
            .as_ref()
            .map(|name| name.to_string()),
        Some("shared".to_owned())
    );
    assert_eq!(entry.values[0].key.as_str(), "consumer_byte_rate");
    assert_eq!(entry.values[0].value, 4096.0);
}

/// Whether a connection from `ip` is served (answers ApiVersions) rather than closed.
fn served_from(broker: &SpawnedBroker, ip: [u8; 4]) -> Option<WireClient> {
    let mut client = WireClient::connect_from(&broker.bootstrap, std::net::IpAddr::from(ip));
    client
        .try_call(3, &ApiVersionsRequest::default())
        .map(|_| client)
}

#[test]
fn connections_over_an_ips_maximum_or_creation_rate_are_closed() {
    let broker = SpawnedBroker::start(
        "\"max.connections.per.ip\" = 2\n\"max.connections.per.ip.overrides\" = \"127.0.0.2:4\"\n",
    );
    let open: Vec<WireClient> = (0..2)
        .map(|_| served_from(&broker, [127, 0, 0, 1]).expect("within the maximum"))
        .collect();
    assert!(
        served_from(&broker, [127, 0, 0, 1]).is_none(),
        "a third is closed"
    );
    let overridden: Vec<WireClient> = (0..4)
        .map(|_| served_from(&broker, [127, 0, 0, 2]).expect("within the override"))
        .collect();
    assert!(
        served_from(&broker, [127, 0, 0, 2]).is_none(),
        "a fifth is closed"
    );
    drop(open);
    drop(overridden);
    wait_for(Duration::from_secs(10), || {
        served_from(&broker, [127, 0, 0, 1])
    })
    .expect("a closed connection gives its slot back");

    // One connection a second from 127.0.0.3, after a first burst of the quota's span.
    let mut admin = WireClient::connect(&broker.bootstrap);
    let altered = admin.call(
        1,
        &AlterClientQuotasRequest::default().with_entries(vec![EntryData::default()
            .with_entity(vec![EntityData::default()
                .with_entity_type(StrBytes::from_static_str("ip"))
                .with_entity_name(Some(StrBytes::from_static_str("127.0.0.3")))])
            .with_ops(vec![OpData::default()
                .with_key(StrBytes::from_static_str("connection_creation_rate"))
                .with_value(1.0)])]),
    );
    assert_eq!(altered.entries[0].error_code, 0, "{altered:?}");
    let attempts = 14;
    let served = (0..attempts)
        .filter(|_| served_from(&broker, [127, 0, 0, 3]).is_some())
        .count();
    assert!(
        (11..attempts).contains(&served),
        "{served} of {attempts} served"
    );
}

#[test]
fn listeners_accept_at_most_the_brokers_connection_creation_rate() {
    // Five a second: after a first burst of the quota's span (55), the rest wait their turn.
    const RATE: f64 = 5.0;
    const BURST: usize = 55;
    const CONNECTIONS: usize = 80;
    let broker = SpawnedBroker::start("\"max.connection.creation.rate\" = 5\n");
    let start = Instant::now();
    let mut answered = Vec::with_capacity(CONNECTIONS);
    let mut open = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let mut client = WireClient::connect(&broker.bootstrap);
        client.call(2, &ApiVersionsRequest::default());
        answered.push(start.elapsed());
        open.push(client);
    }
    println!("answered at {answered:?}");
    let after_burst = (CONNECTIONS - BURST) as f64 / RATE;
    let last = answered[CONNECTIONS - 1].as_secs_f64();
    assert!(
        answered[BURST / 2] < Duration::from_secs(2),
        "the burst is accepted at once: {answered:?}"
    );
    assert!(
        last >= after_burst * 0.8 && last <= after_burst * 1.5 + 1.0,
        "{CONNECTIONS} connections answered after {last:.1} s, {after_burst:.1} s expected"
    );
}

/// Sets `key` of client id `client` to `value`.
fn set_client_quota(
    client: &mut WireClient,
    client_id: &'static str,
    key: &'static str,
    value: f64,
) {
    let altered = client.call(
        1,
        &AlterClientQuotasRequest::default().with_entries(vec![EntryData::default()
            .with_entity(vec![EntityData::default()
                .with_entity_type(StrBytes::from_static_str("client-id"))
                .with_entity_name(Some(StrBytes::from_static_str(client_id)))])
            .with_ops(vec![OpData::default()
                .with_key(StrBytes::from_static_str(key))
                .with_value(value)])]),
    );
    assert_eq!(altered.entries[0].error_code, 0, "{altered:?}");
}

#[test]
fn a_producer_over_its_byte_rate_is_held_to_it() {
    let broker = SpawnedBroker::start("");
    let mut admin = WireClient::connect(&broker.bootstrap);
    admin.create_topic("throttled");
    set_client_quota(&mut admin, "loader", "producer_byte_rate", PRODUCER_QUOTA);

    let producer: FutureProducer = broker
        .client_config()
        .set("client.id", "loader")
        .set("linger.ms", "5")
        .set("acks", "1")
        .create()
        .expect("producer");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let start = Instant::now();
    let acknowledged: Vec<Duration> = runtime.block_on(async {
        let payload = vec![b'x'; RECORD_BYTES];
        let mut sends = tokio::task::JoinSet::new();
        let mut acknowledged = Vec::new();
        while start.elapsed() < PRODUCER_RUN {
            while sends.len() >= IN_FLIGHT {
                if let Some(Ok(Some(at))) = sends.join_next().await {
                    acknowledged.push(at);
                }
            }
            let producer = producer.clone();
            let payload = payload.clone();
            sends.spawn(async move {
                let record = FutureRecord::<(), _>::to("throttled").payload(&payload);
                let sent = producer
                    .send(record, Timeout::After(Duration::from_secs(60)))
                    .await;
                sent.is_ok().then(|| start.elapsed())
            });
        }
        acknowledged
    });
    let measured = acknowledged
        .iter()
        .filter(|at| **at >= MEASURED_FROM && **at < MEASURED_FROM + MEASURED_FOR)
        .count();
    let rate = (measured * RECORD_BYTES) as f64 / MEASURED_FOR.as_secs_f64();
    let ratio = rate / PRODUCER_QUOTA;
    let mut per_second = vec![0usize; PRODUCER_RUN.as_secs() as usize + 2];
    for at in &acknowledged {
        per_second[at.as_secs() as usize] += 1;
    }
    println!("acknowledged per second: {per_second:?}");
    println!(
        "{} records acknowledged; {rate:.0} B/s of payload over {MEASURED_FOR:?}: {:.1} % of the quota",
        acknowledged.len(),
        ratio * 100.0
    );
    // The quota counts whole requests; the payload is most of them.
    assert!((0.9..=1.1).contains(&ratio), "{ratio}");
    // Unthrottled, the producer sends far more than its quota.
    assert!(
        acknowledged.len() as f64 * RECORD_BYTES as f64
            > PRODUCER_QUOTA * PRODUCER_RUN.as_secs_f64(),
        "the first burst spends the whole span's allowance"
    );
}

#[test]
fn a_consumer_over_its_byte_rate_gets_empty_fetches_and_waits_its_throttle_time() {
    const QUOTA: f64 = 10_000.0;
    let broker = SpawnedBroker::start("");
    let mut admin = WireClient::connect(&broker.bootstrap);
    admin.create_topic("read");
    for _ in 0..100 {
        let produced = admin.call(
            9,
            &ProduceRequest::default()
                .with_acks(1)
                .with_timeout_ms(10_000)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_static_str("read")))
                    .with_partition_data(vec![PartitionProduceData::default()
                        .with_records(Some(Bytes::from(build_batch(
                            1,
                            0,
                            &[b'r'; 5_000],
                        ))))])]),
        );
        assert_eq!(produced.responses[0].partition_responses[0].error_code, 0);
    }
    set_client_quota(&mut admin, "reader", "consumer_byte_rate", QUOTA);

    let mut reader = WireClient::connect(&broker.bootstrap).with_client_id("reader");
    let fetch = |offset: i64, max_bytes: i32| {
        FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_bytes(max_bytes)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str("read")))
                .with_partitions(vec![FetchPartition::default()
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1 << 20)])])
    };
    // A fetch carries at most the quota's span but one window (100 000 bytes); the bucket
    // holds 110 000: a second fetch of 30 000 goes below zero.
    let first = reader.call(12, &fetch(0, 1 << 20));
    let records = first.responses[0].partitions[0]
        .records
        .as_ref()
        .map_or(0, Bytes::len);
    assert!(records > 0 && records <= 100_000, "{records} bytes");
    assert_eq!(first.throttle_time_ms, 0);
    let mut throttled = None;
    for offset in 1..10 {
        let answer = reader.call(12, &fetch(offset * 20, 30_000));
        if answer.throttle_time_ms > 0 {
            throttled = Some(answer);
            break;
        }
    }
    let throttled = throttled.expect("a fetch over the quota is throttled");
    assert!(throttled.responses.is_empty(), "{throttled:?}");
    // The connection is muted: the next request is read once the throttle time is over.
    let asked = Instant::now();
    reader.call(3, &ApiVersionsRequest::default());
    let waited = asked.elapsed();
    let throttle = Duration::from_millis(throttled.throttle_time_ms as u64);
    assert!(
        waited + Duration::from_millis(50) >= throttle,
        "answered after {waited:?}, throttled for {throttle:?}"
    );
}

#[test]
fn a_client_over_its_request_percentage_is_throttled_and_muted() {
    let broker = SpawnedBroker::start("");
    let mut admin = WireClient::connect(&broker.bootstrap);
    admin.create_topic("busy");
    // A hundredth of a percent of a thread: the bucket holds 1.1 ms of request time.
    set_client_quota(&mut admin, "busy", "request_percentage", 0.01);

    let mut busy = WireClient::connect(&broker.bootstrap).with_client_id("busy");
    let every_topic = MetadataRequest::default().with_topics(None);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut calls = 0;
    let throttle = loop {
        let answer = busy.call(12, &every_topic);
        calls += 1;
        if answer.throttle_time_ms > 0 {
            break Duration::from_millis(answer.throttle_time_ms as u64);
        }
        assert!(
            Instant::now() < deadline && calls < 100_000,
            "not throttled after {calls} requests"
        );
    };
    println!("throttled for {throttle:?} after {calls} requests");
    // Kafka bounds a request-time throttle to one quota window.
    assert!(throttle <= Duration::from_secs(1), "{throttle:?}");
    // Another client is not throttled.
    assert_eq!(admin.call(12, &every_topic).throttle_time_ms, 0);
    // The throttled connection is read again only once its throttle time has passed.
    let asked = Instant::now();
    busy.call(3, &ApiVersionsRequest::default());
    let waited = asked.elapsed();
    assert!(
        waited + Duration::from_millis(50) >= throttle,
        "answered after {waited:?}, throttled for {throttle:?}"
    );
}

/// What a broker answered to one step of [`mutation_steps`]: each topic's error code and
/// message, and the throttle time.
#[derive(Debug)]
struct MutationAnswer {
    topics: Vec<(i16, Option<String>)>,
    throttle_ms: i32,
}

impl MutationAnswer {
    /// From each topic's error code and message, and the response's throttle time.
    fn new<'a>(
        topics: impl Iterator<Item = (i16, &'a Option<StrBytes>)>,
        throttle_ms: i32,
    ) -> Self {
        Self {
            topics: topics
                .map(|(code, message)| (code, message.as_ref().map(StrBytes::to_string)))
                .collect(),
            throttle_ms,
        }
    }
}

fn new_topic(name: &'static str, partitions: i32) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_static_str(name)))
        .with_num_partitions(partitions)
        .with_replication_factor(1)
}

fn topic_name(name: &'static str) -> TopicName {
    TopicName(StrBytes::from_static_str(name))
}

/// Creates, deletes and grows topics as client `mutator`, whose `controller_mutation_rate`
/// is one partition a second (a bucket of 11): strict versions refuse a topic once the
/// bucket is below zero, permissive ones take it and throttle.
fn mutation_steps(bootstrap: &str) -> Vec<(&'static str, MutationAnswer)> {
    let mut admin = WireClient::connect(bootstrap);
    set_client_quota(&mut admin, "mutator", "controller_mutation_rate", 1.0);
    // Kafka applies a quota once its controller has it; the broker lists it then too.
    wait_for(Duration::from_secs(15), || {
        let described = admin.call(1, &DescribeClientQuotasRequest::default());
        (!described.entries.unwrap_or_default().is_empty()).then_some(())
    })
    .expect("the quota is listed");
    // Each step on its own connection: a throttled one is muted for its throttle time.
    let mutator = || WireClient::connect(bootstrap).with_client_id("mutator");
    let create = |version: i16, validate_only: bool, topics: Vec<CreatableTopic>| {
        let answer = mutator().call(
            version,
            &CreateTopicsRequest::default()
                .with_timeout_ms(10_000)
                .with_validate_only(validate_only)
                .with_topics(topics),
        );
        let topics = answer
            .topics
            .iter()
            .map(|t| (t.error_code, &t.error_message));
        MutationAnswer::new(topics, answer.throttle_time_ms)
    };
    let delete = |version: i16, name: &'static str| {
        let request = match version {
            6.. => DeleteTopicsRequest::default().with_topics(vec![
                DeleteTopicState::default().with_name(Some(topic_name(name)))
            ]),
            _ => DeleteTopicsRequest::default().with_topic_names(vec![topic_name(name)]),
        };
        let answer = mutator().call(version, &request.with_timeout_ms(10_000));
        let topics = answer
            .responses
            .iter()
            .map(|t| (t.error_code, &t.error_message));
        MutationAnswer::new(topics, answer.throttle_time_ms)
    };
    let grow = |version: i16, name: &'static str, count: i32| {
        let answer = mutator().call(
            version,
            &CreatePartitionsRequest::default()
                .with_timeout_ms(10_000)
                .with_topics(vec![CreatePartitionsTopic::default()
                    .with_name(topic_name(name))
                    .with_count(count)
                    .with_assignments(None)]),
        );
        let topics = answer
            .results
            .iter()
            .map(|t| (t.error_code, &t.error_message));
        MutationAnswer::new(topics, answer.throttle_time_ms)
    };
    vec![
        ("create 8 (v7)", create(7, false, vec![new_topic("a", 8)])),
        (
            "create 8 then 1 (v7)",
            create(7, false, vec![new_topic("b", 8), new_topic("c", 1)]),
        ),
        ("validate 1 (v7)", create(7, true, vec![new_topic("x", 1)])),
        ("create 1 (v5)", create(5, false, vec![new_topic("d", 1)])),
        ("delete 8 (v6)", delete(6, "a")),
        ("delete 8 (v4)", delete(4, "a")),
        ("grow by 1 (v3)", grow(3, "d", 2)),
        ("grow by 1 (v2)", grow(2, "d", 2)),
    ]
}

#[test]
fn controller_mutations_over_the_quota_are_refused_or_throttled_as_kafka_does() {
    let kafka = ReferenceBroker::start(&[]);
    let expected = mutation_steps(&kafka.bootstrap);
    drop(kafka);
    let spool = SpawnedBroker::start("");
    let seen = mutation_steps(&spool.bootstrap);
    for ((step, kafka_saw), (_, spool_saw)) in expected.iter().zip(&seen) {
        println!("{step}\n  kafka: {kafka_saw:?}\n  spool: {spool_saw:?}");
    }
    for ((step, kafka_saw), (_, spool_saw)) in expected.iter().zip(&seen) {
        assert_eq!(kafka_saw.topics, spool_saw.topics, "{step}");
        // Both count the same tokens, but each broker takes the steps at its own pace (the
        // bucket refills a token a second).
        let apart = (kafka_saw.throttle_ms - spool_saw.throttle_ms).abs();
        assert!(apart <= 1_000, "{step}: {kafka_saw:?} / {spool_saw:?}");
    }
    // The sequence does get refused and throttled.
    assert_eq!(seen[1].1.topics[1].0, 89, "{:?}", seen[1]);
    assert!(seen[3].1.throttle_ms > 0, "{:?}", seen[3]);
}
