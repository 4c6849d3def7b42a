//! The log's lifecycle seen through real clients: DeleteRecords (AdminClient) moves the log
//! start offset, consumers behind it follow `auto.offset.reset`, and retention by time and by
//! size deletes old segments in the background.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use compat_tests::{wait_for, SpawnedBroker};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::FutureRecord;
use rdkafka::{Message, Offset, TopicPartitionList};

/// Retention runs every 100 ms in these tests.
const CONFIG: &str = "\"log.retention.check.interval.ms\" = 100\n\"num.partitions\" = 1";

fn admin(broker: &SpawnedBroker) -> AdminClient<DefaultClientContext> {
    broker.client_config().create().expect("admin client")
}

async fn create_topic(broker: &SpawnedBroker, name: &str, configs: &[(&str, &str)]) {
    let mut topic = NewTopic::new(name, 1, TopicReplication::Fixed(1));
    for (key, value) in configs {
        topic = topic.set(key, value);
    }
    let results = admin(broker)
        .create_topics([&topic], &AdminOptions::new())
        .await
        .expect("create_topics");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}

fn low_watermark(broker: &SpawnedBroker, topic: &str) -> i64 {
    consumer(broker)
        .fetch_watermarks(topic, 0, TIMEOUT)
        .expect("watermarks")
        .0
}

#[tokio::test]
async fn delete_records_moves_the_log_start_and_consumers_reset_to_it() {
    let broker = SpawnedBroker::start(CONFIG);
    create_topic(&broker, "trimmed", &[("segment.bytes", "16384")]).await;
    let producer = producer(&broker, &[]);
    produce(&producer, "trimmed", Some(0), 500).await;

    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset("trimmed", 0, Offset::Offset(300))
        .unwrap();
    offsets
        .add_partition_offset("trimmed", 7, Offset::Offset(1))
        .unwrap();
    let result = admin(&broker)
        .delete_records(&offsets, &AdminOptions::new())
        .await
        .expect("delete_records");
    let moved = result.find_partition("trimmed", 0).unwrap();
    assert_eq!(moved.offset(), Offset::Offset(300));
    assert!(moved.error().is_ok());
    let unknown = result.find_partition("trimmed", 7).unwrap();
    assert!(unknown.error().is_err(), "unknown partition: {unknown:?}");
    assert_eq!(low_watermark(&broker, "trimmed"), 300);

    // Past the high watermark: OFFSET_OUT_OF_RANGE.
    let mut beyond = TopicPartitionList::new();
    beyond
        .add_partition_offset("trimmed", 0, Offset::Offset(501))
        .unwrap();
    let result = admin(&broker)
        .delete_records(&beyond, &AdminOptions::new())
        .await
        .expect("delete_records");
    let error = result.find_partition("trimmed", 0).unwrap().error();
    assert!(
        matches!(&error, Err(e) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::OffsetOutOfRange)),
        "{error:?}"
    );

    // A consumer asking for a deleted offset is reset to the new start (earliest).
    let mut config = broker.client_config();
    config
        .set("group.id", "behind")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    let behind: BaseConsumer = config.create().unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset("trimmed", 0, Offset::Offset(10))
        .unwrap();
    behind.assign(&assignment).unwrap();
    let first = wait_for(TIMEOUT, || match behind.poll(Duration::from_millis(100)) {
        Some(Ok(message)) => Some(message.offset()),
        _ => None,
    })
    .expect("a message after the reset");
    assert_eq!(first, 300);

    // The start survives a restart, clean or not.
    let mut broker = broker;
    broker.kill();
    broker.restart();
    assert_eq!(low_watermark(&broker, "trimmed"), 300);
    let rest = consume(&broker, "trimmed", 0, Offset::Beginning, 200);
    assert_eq!(rest[0].offset(), 300);
    assert_eq!(text(rest[199].payload()), "value-499");
}

#[tokio::test]
async fn internal_topics_refuse_delete_records() {
    let broker = SpawnedBroker::start(CONFIG);
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset("__consumer_offsets", 0, Offset::Offset(0))
        .unwrap();
    let result = admin(&broker)
        .delete_records(&offsets, &AdminOptions::new())
        .await
        .expect("delete_records");
    let error = result
        .find_partition("__consumer_offsets", 0)
        .unwrap()
        .error();
    assert!(
        matches!(&error, Err(e) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::InvalidTopic)),
        "{error:?}"
    );
}

#[tokio::test]
async fn retention_by_time_and_by_size_deletes_old_segments() {
    let broker = SpawnedBroker::start(CONFIG);
    // Time: records stamped two hours ago expire under retention.ms of one hour; the active
    // segment stays, so the newest records remain readable.
    create_topic(
        &broker,
        "aged",
        &[("segment.bytes", "16384"), ("retention.ms", "3600000")],
    )
    .await;
    let producer = producer(&broker, &[]);
    let two_hours_ago = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 2 * 3_600_000;
    let value = "x".repeat(100);
    for i in 0..1000 {
        let key = format!("key-{i}");
        producer
            .send(
                FutureRecord::to("aged")
                    .key(&key)
                    .payload(&value)
                    .timestamp(two_hours_ago),
                TIMEOUT,
            )
            .await
            .expect("delivered");
    }
    let start = wait_for(TIMEOUT, || {
        let low = low_watermark(&broker, "aged");
        (low > 0).then_some(low)
    })
    .expect("retention moved the log start");
    assert!(start < 1000, "the active segment stays: start {start}");
    let kept = consume(
        &broker,
        "aged",
        0,
        Offset::Beginning,
        (1000 - start) as usize,
    );
    assert_eq!(kept[0].offset(), start);

    // Size: at most ~64 KiB kept of ~150 KiB produced.
    create_topic(
        &broker,
        "bounded",
        &[("segment.bytes", "16384"), ("retention.bytes", "65536")],
    )
    .await;
    for chunk in 0..10 {
        let sends: Vec<_> = (0..100)
            .map(|i| {
                let key = format!("key-{chunk}-{i}");
                producer
                    .send_result(FutureRecord::to("bounded").key(&key).payload(&value))
                    .unwrap_or_else(|(error, _)| panic!("enqueue: {error}"))
            })
            .collect();
        for send in sends {
            send.await.expect("delivery").expect("delivered");
        }
    }
    let start = wait_for(TIMEOUT, || {
        let low = low_watermark(&broker, "bounded");
        (low > 0).then_some(low)
    })
    .expect("size retention moved the log start");
    assert!(start > 300 && start < 1000, "start {start}");
}
