//! The Prometheus endpoint after a known workload: partition offsets, consumer group lag
//! (produced − committed), request and error counts, bytes in and out, fsyncs, connections.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;

use common::*;
use compat_tests::prometheus::{get, samples};
use compat_tests::wire::WireClient;
use compat_tests::SpawnedBroker;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

fn value(samples: &HashMap<String, f64>, name: &str) -> f64 {
    *samples
        .get(name)
        .unwrap_or_else(|| panic!("no sample {name}"))
}

#[tokio::test]
async fn metrics_report_offsets_lag_requests_and_io() {
    let broker = SpawnedBroker::start("metrics.listen = \"127.0.0.1:0\"\nnum.partitions = 2");
    let url = broker.metrics_url().expect("metrics endpoint");
    let producer = producer(&broker, &[("acks", "all")]);
    produce(&producer, "measured", Some(0), 30).await;
    produce(&producer, "measured", Some(1), 12).await;
    let read = consume(&broker, "measured", 0, Offset::Beginning, 30);
    assert_eq!(read.len(), 30);

    // A group that committed 10 of partition 0's 30 and all 12 of partition 1.
    let committer = consumer(&broker);
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset("measured", 0, Offset::Offset(10))
        .unwrap();
    offsets
        .add_partition_offset("measured", 1, Offset::Offset(12))
        .unwrap();
    committer.commit(&offsets, CommitMode::Sync).unwrap();
    // A request with an error in its answer, to count it.
    let mut client = WireClient::connect(&broker.bootstrap);
    let request = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(
            TopicName(StrBytes::from_static_str("missing-topic")),
        ))]))
        .with_allow_auto_topic_creation(false);
    let answer: MetadataResponse = client.call(12, &request);
    assert_eq!(answer.topics[0].error_code, 3);

    let (status, body) = get(&url, "/metrics");
    assert!(status.contains("200"), "{status}");
    let samples = samples(&body);
    let partition = |name: &str, index: i32| {
        value(
            &samples,
            &format!("spool_{name}{{topic=\"measured\",partition=\"{index}\"}}"),
        )
    };
    assert_eq!(partition("partition_log_end_offset", 0), 30.0);
    assert_eq!(partition("partition_log_end_offset", 1), 12.0);
    assert_eq!(partition("partition_log_start_offset", 0), 0.0);
    assert!(partition("partition_size_bytes", 0) > 0.0);
    let group = |name: &str, index: i32| {
        value(
            &samples,
            &format!(
                "spool_{name}{{group=\"compat-tests\",topic=\"measured\",partition=\"{index}\"}}"
            ),
        )
    };
    assert_eq!(group("consumer_group_committed_offset", 0), 10.0);
    assert_eq!(
        group("consumer_group_lag", 0),
        20.0,
        "produced 30 − committed 10"
    );
    assert_eq!(group("consumer_group_lag", 1), 0.0);
    assert!(value(&samples, "spool_consumer_groups{state=\"Empty\"}") >= 1.0);
    assert!(value(&samples, "spool_topic_bytes_in_total{topic=\"measured\"}") > 0.0);
    assert!(value(&samples, "spool_topic_bytes_out_total{topic=\"measured\"}") > 0.0);
    assert!(
        value(&samples, "spool_fsyncs_total") >= 1.0,
        "acks=all waits for an fsync"
    );
    assert!(value(&samples, "spool_connections") >= 1.0);
    let produced: f64 = samples
        .iter()
        .filter(|(name, _)| name.starts_with("spool_requests_total{api=\"Produce\""))
        .map(|(_, count)| count)
        .sum();
    assert!(produced >= 2.0, "{produced}");
    assert!(
        value(
            &samples,
            "spool_request_errors_total{api=\"Metadata\",error=\"UNKNOWN_TOPIC_OR_PARTITION\"}"
        ) >= 1.0
    );
    assert!(
        body.contains("spool_request_duration_seconds_bucket{le=\""),
        "histogram"
    );
    assert!(body.trim_end().ends_with("# EOF"));

    let (status, _) = get(&url, "/other");
    assert!(status.contains("404"), "{status}");
}

#[test]
fn the_endpoint_survives_bad_requests() {
    let broker = SpawnedBroker::start("metrics.listen = \"127.0.0.1:0\"");
    let url = broker.metrics_url().expect("metrics endpoint");
    let address = url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_owned();
    // An endless header is cut off at the limit; garbage and a silent peer get nothing.
    let mut flood = TcpStream::connect(&address).unwrap();
    let line = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n", "y".repeat(1000));
    let mut answer = String::new();
    for _ in 0..20 {
        if flood.write_all(line.as_bytes()).is_err() {
            break;
        }
    }
    let _ = flood.read_to_string(&mut answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    let mut garbage = TcpStream::connect(&address).unwrap();
    garbage.write_all(b"\x00\x01\x02 nonsense\r\n\r\n").unwrap();
    let mut reply = String::new();
    let _ = garbage.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 405"), "{reply}");
    let _silent = TcpStream::connect(&address).unwrap();
    // The endpoint and the broker still answer.
    let (status, body) = get(&url, "/metrics");
    assert!(
        status.contains("200") && body.contains("spool_connections"),
        "{status}"
    );
    let mut client = WireClient::connect(&broker.bootstrap);
    let metadata: MetadataResponse =
        client.call(12, &MetadataRequest::default().with_topics(Some(vec![])));
    assert_eq!(metadata.brokers.len(), 1);
}

/// Each principal's requests and bytes are counted under its name: two SASL/PLAIN users and an
/// unauthenticated PLAINTEXT client.
#[test]
fn requests_and_bytes_are_counted_per_principal() {
    use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
    let broker = SpawnedBroker::start_with_listeners(
        &["PLAINTEXT", "SASL_PLAINTEXT"],
        r#"metrics.listen = "127.0.0.1:0"
"sasl.enabled.mechanisms" = "PLAIN"
"listener.name.sasl_plaintext.plain.sasl.jaas.config" = 'org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret" user_bob="bob-secret";'
"#,
    );
    let url = broker.metrics_url().expect("metrics endpoint");
    let metadata = MetadataRequest::default().with_topics(Some(Vec::new()));
    for (user, password, requests) in [("alice", "alice-secret", 3), ("bob", "bob-secret", 5)] {
        let mut client = WireClient::connect(&broker.address("SASL_PLAINTEXT"));
        let handshake = client
            .try_call(
                1,
                &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
            )
            .expect("handshake answered");
        assert_eq!(handshake.error_code, 0);
        let token = format!("\0{user}\0{password}");
        let authenticated = client
            .try_call(
                2,
                &SaslAuthenticateRequest::default().with_auth_bytes(token.into_bytes().into()),
            )
            .expect("authentication answered");
        assert_eq!(authenticated.error_code, 0);
        for _ in 0..requests {
            let _: MetadataResponse = client.call(12, &metadata);
        }
    }
    let mut anonymous = WireClient::connect(&broker.address("PLAINTEXT"));
    for _ in 0..2 {
        let _: MetadataResponse = anonymous.call(12, &metadata);
    }

    let samples = compat_tests::prometheus::scrape(&url);
    let of = |metric: &str, principal: &str| {
        value(
            &samples,
            &format!("spool_principal_{metric}_total{{principal=\"{principal}\"}}"),
        )
    };
    assert_eq!(of("requests", "User:alice"), 3.0);
    assert_eq!(of("requests", "User:bob"), 5.0);
    assert_eq!(of("requests", "User:ANONYMOUS"), 2.0);
    // The same request and answer each time: bob's bytes are 5/3 of alice's.
    for metric in ["request_bytes", "response_bytes"] {
        let alice = of(metric, "User:alice");
        assert!(alice > 0.0, "{metric}");
        assert_eq!(of(metric, "User:bob") * 3.0, alice * 5.0, "{metric}");
    }
}
