//! rdkafka producers and consumers against a spawned spool broker.

mod common;

use common::*;
use compat_tests::SpawnedBroker;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::{Message, Offset, Timestamp};

async fn create_topic(broker: &SpawnedBroker, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = broker.client_config().create().expect("admin");
    let results = admin
        .create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .expect("create_topics");
    for result in results {
        result.expect("topic created");
    }
}

#[tokio::test]
async fn every_acks_level_and_codec_round_trips() {
    let broker = SpawnedBroker::start("");
    for acks in ["0", "1", "all"] {
        for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
            let topic = format!("codec-{codec}-acks-{acks}");
            create_topic(&broker, &topic, 1).await;
            let producer = producer(
                &broker,
                &[
                    ("acks", acks),
                    ("compression.type", codec),
                    ("batch.num.messages", "50"),
                ],
            );
            let delivered = produce(&producer, &topic, Some(0), 200).await;
            if acks != "0" {
                let offsets: Vec<i64> = delivered.iter().map(|(_, offset)| *offset).collect();
                assert_eq!(
                    offsets,
                    (0..200).collect::<Vec<_>>(),
                    "{topic}: contiguous offsets"
                );
            }
            let messages = consume(&broker, &topic, 0, Offset::Beginning, 200);
            for (i, message) in messages.iter().enumerate() {
                assert_eq!(message.offset(), i as i64, "{topic}");
                assert_eq!(text(message.key()), format!("key-{i}"), "{topic}");
                assert_eq!(text(message.payload()), format!("value-{i}"), "{topic}");
            }
        }
    }
}

#[tokio::test]
async fn keys_headers_and_timestamps_are_preserved() {
    let broker = SpawnedBroker::start("");
    create_topic(&broker, "headers", 1).await;
    let producer = producer(&broker, &[("acks", "all")]);
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "trace",
            value: Some("abc"),
        })
        .insert(Header {
            key: "empty",
            value: None::<&str>,
        });
    producer
        .send(
            FutureRecord::to("headers")
                .key("k")
                .payload("v")
                .timestamp(1_600_000_000_123)
                .headers(headers)
                .partition(0),
            TIMEOUT,
        )
        .await
        .expect("delivery");
    let message = consume(&broker, "headers", 0, Offset::Beginning, 1).remove(0);
    assert_eq!(text(message.key()), "k");
    assert_eq!(text(message.payload()), "v");
    assert_eq!(
        message.timestamp(),
        Timestamp::CreateTime(1_600_000_000_123)
    );
    let headers = message.headers().expect("headers");
    assert_eq!(headers.count(), 2);
    assert_eq!(headers.get(0).key, "trace");
    assert_eq!(headers.get(0).value, Some(&b"abc"[..]));
    assert_eq!(headers.get(1).value, None);
}

#[tokio::test]
async fn many_partitions_and_auto_create() {
    let broker = SpawnedBroker::start("\"num.partitions\" = 12");
    // No CreateTopics: the producer's metadata request auto-creates with num.partitions.
    let producer = producer(&broker, &[("acks", "1")]);
    let delivered = produce(&producer, "auto-created", None, 600).await;
    let mut per_partition = [0usize; 12];
    for (partition, _) in &delivered {
        per_partition[*partition as usize] += 1;
    }
    assert!(
        per_partition.iter().filter(|count| **count > 0).count() > 6,
        "keys spread: {per_partition:?}"
    );
    for (partition, count) in per_partition.iter().enumerate() {
        let messages = consume(
            &broker,
            "auto-created",
            partition as i32,
            Offset::Beginning,
            *count,
        );
        assert_eq!(messages.len(), *count);
    }
}

#[tokio::test]
async fn log_append_time_topics_stamp_the_broker_time() {
    let broker = SpawnedBroker::start("");
    let admin: AdminClient<DefaultClientContext> = broker.client_config().create().expect("admin");
    let topic = NewTopic::new("append-time", 1, TopicReplication::Fixed(1))
        .set("message.timestamp.type", "LogAppendTime");
    admin
        .create_topics(&[topic], &AdminOptions::new())
        .await
        .expect("create")[0]
        .as_ref()
        .expect("created");
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let producer = producer(&broker, &[("acks", "all")]);
    producer
        .send(
            FutureRecord::to("append-time")
                .key("k")
                .payload("v")
                .timestamp(1_000)
                .partition(0),
            TIMEOUT,
        )
        .await
        .expect("delivery");
    let message = consume(&broker, "append-time", 0, Offset::Beginning, 1).remove(0);
    match message.timestamp() {
        Timestamp::LogAppendTime(ts) => assert!(ts >= before && ts < before + 60_000, "{ts}"),
        other => panic!("expected LogAppendTime, got {other:?}"),
    }
}

/// `min.insync.replicas` above the in-sync replicas (one, on a single node): acks=all is
/// refused with NOT_ENOUGH_REPLICAS before anything is appended; acks=1 is not affected.
#[tokio::test]
async fn acks_all_needs_min_insync_replicas() {
    use bytes::Bytes;
    use compat_tests::wire::WireClient;
    use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{CreateTopicsRequest, ProduceRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use spool::records::batch::testing::build_batch;

    const NOT_ENOUGH_REPLICAS: i16 = 19;
    let broker = SpawnedBroker::start("");
    let mut client = WireClient::connect(&broker.bootstrap);
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_static_str("guarded")))
        .with_num_partitions(1)
        .with_replication_factor(1)
        .with_configs(vec![CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str("min.insync.replicas"))
            .with_value(Some(StrBytes::from_static_str("2")))]);
    let created = client.call(7, &CreateTopicsRequest::default().with_topics(vec![topic]));
    assert_eq!(created.topics[0].error_code, 0);
    let mut produce = |acks: i16| {
        let data = TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("guarded")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::from(build_batch(1, 0, b"x"))))]);
        let request = ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(5000)
            .with_topic_data(vec![data]);
        let response = client.call(9, &request);
        let answer = &response.responses[0].partition_responses[0];
        (answer.error_code, answer.base_offset)
    };
    assert_eq!(produce(-1), (NOT_ENOUGH_REPLICAS, -1));
    assert_eq!(
        produce(1),
        (0, 0),
        "nothing was appended by the refused produce"
    );
}
