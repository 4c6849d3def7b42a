//! AdminClient topic management, hostile frames, and clients that stall in a handshake or
//! before a request (closed after `connections.max.idle.ms`, memory bounded, other clients
//! unaffected), against a spawned broker.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use compat_tests::bench::rss_mib;
use compat_tests::pki::TestCa;
use compat_tests::wire::WireClient;
use compat_tests::SpawnedBroker;
use kafka_protocol::messages::ApiVersionsRequest;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::Consumer;
use rdkafka::types::RDKafkaErrorCode;

fn admin(broker: &SpawnedBroker) -> AdminClient<DefaultClientContext> {
    broker.client_config().create().expect("admin")
}

#[tokio::test]
async fn admin_creates_and_deletes_topics_with_kafka_errors() {
    let broker = SpawnedBroker::start("");
    let admin = admin(&broker);
    let options = AdminOptions::new();
    let created = admin
        .create_topics(
            &[NewTopic::new("orders", 4, TopicReplication::Fixed(1))],
            &options,
        )
        .await
        .unwrap();
    assert_eq!(created[0], Ok("orders".to_owned()));
    let again = admin
        .create_topics(
            &[
                NewTopic::new("orders", 4, TopicReplication::Fixed(1)),
                NewTopic::new("replicated", 1, TopicReplication::Fixed(3)),
                NewTopic::new("bad name!", 1, TopicReplication::Fixed(1)),
                NewTopic::new("bad-config", 1, TopicReplication::Fixed(1))
                    .set("retention.ms", "soon"),
            ],
            &options,
        )
        .await
        .unwrap();
    let codes: Vec<RDKafkaErrorCode> = again
        .into_iter()
        .map(|result| result.unwrap_err().1)
        .collect();
    assert_eq!(
        codes,
        [
            RDKafkaErrorCode::TopicAlreadyExists,
            RDKafkaErrorCode::InvalidReplicationFactor,
            RDKafkaErrorCode::InvalidTopic,
            RDKafkaErrorCode::InvalidConfig
        ]
    );
    let validate_only = AdminOptions::new().validate_only(true);
    let checked = admin
        .create_topics(
            &[NewTopic::new("dry-run", 2, TopicReplication::Fixed(1))],
            &validate_only,
        )
        .await
        .unwrap();
    assert_eq!(checked[0], Ok("dry-run".to_owned()));

    let consumer = consumer(&broker);
    let metadata = consumer.fetch_metadata(None, TIMEOUT).unwrap();
    let names: Vec<&str> = metadata
        .topics()
        .iter()
        .map(|topic| topic.name())
        .filter(|name| !name.starts_with("__"))
        .collect();
    assert_eq!(names, ["orders"], "validate_only created nothing");
    let orders = metadata
        .topics()
        .iter()
        .find(|topic| topic.name() == "orders")
        .unwrap();
    assert_eq!(orders.partitions().len(), 4);
    assert_eq!(
        metadata.brokers()[0].port() as usize,
        broker
            .bootstrap
            .rsplit(':')
            .next()
            .unwrap()
            .parse::<usize>()
            .unwrap()
    );

    let deleted = admin
        .delete_topics(&["orders", "missing"], &options)
        .await
        .unwrap();
    assert_eq!(deleted[0], Ok("orders".to_owned()));
    assert_eq!(
        deleted[1].as_ref().unwrap_err().1,
        RDKafkaErrorCode::UnknownTopicOrPartition
    );
    assert!(
        !broker.data_dir().join("orders-0").exists(),
        "partition files removed"
    );
    let metadata = consumer.fetch_metadata(None, TIMEOUT).unwrap();
    let mut names: Vec<&str> = metadata.topics().iter().map(|topic| topic.name()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["__consumer_offsets", "__transaction_state"],
        "only the internal topics are left"
    );
}

/// Sends `bytes` on a fresh connection and reports whether the broker closed it.
fn send_hostile(bootstrap: &str, bytes: &[u8]) -> bool {
    let mut socket = TcpStream::connect(bootstrap).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = socket.write_all(bytes);
    let mut buffer = [0u8; 64];
    matches!(socket.read(&mut buffer), Ok(0) | Err(_))
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut bytes = (body.len() as i32).to_be_bytes().to_vec();
    bytes.extend_from_slice(body);
    bytes
}

#[tokio::test]
async fn hostile_frames_close_only_their_connection() {
    let broker = SpawnedBroker::start("");
    let producer = producer(&broker, &[("acks", "all")]);
    produce(&producer, "steady", Some(0), 10).await;

    // Metadata v1 header, then a topic array claiming i32::MAX entries.
    let mut huge_array = vec![0, 3, 0, 1, 0, 0, 0, 9, 0, 1, b'x'];
    huge_array.extend_from_slice(&i32::MAX.to_be_bytes());
    // Fetch v7 header with a truncated body.
    let truncated = [0, 1, 0, 7, 0, 0, 0, 5, 0, 0, 0xff];
    let mut random_after_header = vec![0, 0, 0, 9, 0, 0, 0, 4, 0, 0];
    random_after_header.extend((0..200u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        ("size -1", (-1i32).to_be_bytes().to_vec()),
        ("size 2 GiB", i32::MAX.to_be_bytes().to_vec()),
        ("3-byte frame", frame(&[0, 18, 0])),
        ("truncated header", frame(&[0, 3, 0, 1, 0])),
        ("huge array count", frame(&huge_array)),
        ("truncated body", frame(&truncated)),
        (
            "random bytes after a valid header",
            frame(&random_after_header),
        ),
        (
            "unknown api key",
            frame(&[0x7f, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]),
        ),
    ];
    for (name, bytes) in &hostile {
        assert!(
            send_hostile(&broker.bootstrap, bytes),
            "{name}: connection should be closed"
        );
        // Other clients are unaffected.
        let consumer = consumer(&broker);
        let (_, high) = consumer
            .fetch_watermarks("steady", 0, TIMEOUT)
            .unwrap_or_else(|error| panic!("after {name}: {error}"));
        assert_eq!(high, 10, "after {name}");
    }
    produce(&producer, "steady", Some(0), 1).await;
}

#[test]
fn api_versions_v4_gets_a_v0_answer_with_our_ranges() {
    let broker = SpawnedBroker::start("");
    let mut socket = TcpStream::connect(&broker.bootstrap).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // ApiVersions v4, header v2: key, version, correlation id, client id, no tags; body: two
    // compact strings and no tags.
    let request = frame(&[0, 18, 0, 4, 0, 0, 0, 42, 0, 1, b'c', 0, 2, b'x', 2, b'1', 0]);
    socket.write_all(&request).unwrap();
    let mut size = [0u8; 4];
    socket.read_exact(&mut size).unwrap();
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    socket.read_exact(&mut body).unwrap();
    assert_eq!(&body[..4], &42i32.to_be_bytes(), "correlation id");
    assert_eq!(&body[4..6], &35i16.to_be_bytes(), "UNSUPPORTED_VERSION");
    let count = i32::from_be_bytes(body[6..10].try_into().unwrap());
    assert!(count >= 7, "our API ranges are listed");
}

/// Connections opened by a client that stalls: `count` to `address`, each sending `bytes`
/// and then nothing.
fn stalled(address: &str, count: usize, bytes: &[u8]) -> Vec<TcpStream> {
    (0..count)
        .map(|_| {
            let mut socket = TcpStream::connect(address).expect("connect");
            socket.write_all(bytes).expect("write");
            socket
        })
        .collect()
}

#[test]
fn slow_handshakes_are_closed_and_other_clients_are_unaffected() {
    const IDLE: Duration = Duration::from_secs(2);
    const STALLED_PER_LISTENER: usize = 100;
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new(dir.path(), "slow");
    let broker = SpawnedBroker::start_with_listeners(
        &["PLAINTEXT", "SSL", "SASL_PLAINTEXT"],
        &format!(
            "\"connections.max.idle.ms\" = {}
\"ssl.keystore.type\" = \"PEM\"
\"ssl.keystore.location\" = \"{}\"
\"sasl.enabled.mechanisms\" = \"PLAIN\"
\"listener.name.sasl_plaintext.plain.sasl.jaas.config\" = 'org.apache.kafka.common.security.plain.PlainLoginModule required user_a=\"b\";'
",
            IDLE.as_millis(),
            ca.broker_keystore("broker").display()
        ),
    );
    let pid = broker.pid().expect("a running broker");
    let rss_before = rss_mib(pid).expect("RSS");

    // The first bytes of a TLS ClientHello; half a SaslHandshake frame; nothing at all.
    let client_hello_start = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03];
    let mut half_handshake = 100i32.to_be_bytes().to_vec();
    half_handshake.extend_from_slice(&[0, 17, 0, 1, 0, 0, 0, 1]);
    let started = Instant::now();
    let mut hostile = stalled(
        &broker.address("SSL"),
        STALLED_PER_LISTENER,
        &client_hello_start,
    );
    hostile.extend(stalled(
        &broker.address("SASL_PLAINTEXT"),
        STALLED_PER_LISTENER,
        &half_handshake,
    ));
    hostile.extend(stalled(&broker.bootstrap, STALLED_PER_LISTENER, &[]));

    // Meanwhile another client is answered at once.
    let mut client = WireClient::connect(&broker.bootstrap);
    for _ in 0..20 {
        let asked = Instant::now();
        let answer = client.call(2, &ApiVersionsRequest::default());
        assert_eq!(answer.error_code, 0);
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "{:?}",
            asked.elapsed()
        );
    }

    // Every stalled connection is closed once it has been idle for connections.max.idle.ms.
    for socket in &mut hostile {
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut buffer = [0u8; 16];
        assert!(
            matches!(socket.read(&mut buffer), Ok(0) | Err(_)),
            "a stalled connection left open"
        );
    }
    let closed_after = started.elapsed();
    assert!(
        closed_after >= IDLE && closed_after < IDLE + Duration::from_secs(5),
        "closed after {closed_after:?}"
    );
    let rss_after = rss_mib(pid).expect("RSS");
    println!(
        "{} stalled connections closed after {closed_after:?}; broker RSS {rss_before:.1} -> {rss_after:.1} MiB",
        hostile.len()
    );
    assert!(
        rss_after - rss_before < 64.0,
        "{rss_before} -> {rss_after} MiB"
    );
    // The broker still serves new clients.
    let answer = WireClient::connect(&broker.bootstrap).call(2, &ApiVersionsRequest::default());
    assert_eq!(answer.error_code, 0);
}
