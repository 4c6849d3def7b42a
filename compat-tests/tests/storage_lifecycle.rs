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
    // What is kept is at least retention.bytes, and less than that plus a closed segment
    // plus the active one.
    let log_bytes = || -> u64 {
        std::fs::read_dir(broker.data_dir().join("bounded-0"))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "log"))
            .map(|entry| entry.metadata().unwrap().len())
            .sum()
    };
    let kept = wait_for(TIMEOUT, || {
        let kept = log_bytes();
        (kept < 65536 + 2 * 16384).then_some(kept)
    })
    .expect("size retention deleted segments");
    assert!(kept >= 65536, "kept {kept} bytes");
    assert!(low_watermark(&broker, "bounded") > 0);
}

/// Every (offset, key, value) of `topic`/0 from the beginning to the high watermark.
fn read_partition(broker: &SpawnedBroker, topic: &str) -> Vec<(i64, String, Option<String>)> {
    let consumer = consumer(broker);
    let (_, high) = consumer.fetch_watermarks(topic, 0, TIMEOUT).unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut records = Vec::new();
    let deadline = std::time::Instant::now() + TIMEOUT;
    while records
        .last()
        .is_none_or(|(offset, _, _)| offset + 1 < high)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "read {} records",
            records.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => records.push((
                message.offset(),
                text(message.key()),
                message.payload().map(|value| text(Some(value))),
            )),
            Some(Err(error)) => panic!("consume: {error}"),
            None => {}
        }
    }
    records
}

#[tokio::test]
async fn compaction_keeps_the_newest_value_per_key_through_real_clients() {
    // Retention runs often too: it must not take segments compaction emptied as a reason to
    // move the log start offset.
    let broker = SpawnedBroker::start(
        "\"log.cleaner.backoff.ms\" = 100\n\"log.retention.check.interval.ms\" = 100\n\"log.segment.bytes\" = 16384\n\"num.partitions\" = 1",
    );
    create_topic(
        &broker,
        "compacted",
        &[
            ("cleanup.policy", "compact"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("segment.bytes", "4096"),
        ],
    )
    .await;
    let producer = producer(&broker, &[("compression.type", "lz4"), ("linger.ms", "20")]);
    let mut newest = std::collections::HashMap::new();
    for round in 0..40 {
        let sends: Vec<_> = (0..50)
            .map(|key| {
                let key = format!("key-{key}");
                let value = format!("{key}-v{round}-{}", "x".repeat(100));
                let send = producer
                    .send_result(FutureRecord::to("compacted").key(&key).payload(&value))
                    .unwrap_or_else(|(error, _)| panic!("enqueue: {error}"));
                (key, value, send)
            })
            .collect();
        for (key, value, send) in sends {
            let delivery = send.await.unwrap().expect("delivered");
            newest.insert(key, (delivery.offset, Some(value)));
        }
    }
    // Tombstones for five keys.
    for key in 0..5 {
        let key = format!("key-{key}");
        let delivery = producer
            .send(FutureRecord::<str, str>::to("compacted").key(&key), TIMEOUT)
            .await
            .expect("tombstone delivered");
        newest.insert(key, (delivery.offset, None));
    }
    // A keyless record is refused, as Kafka refuses it for compacted topics.
    let refused = producer
        .send(
            FutureRecord::<str, str>::to("compacted").payload("no key"),
            TIMEOUT,
        )
        .await;
    assert!(
        matches!(&refused, Err((e, _)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::InvalidRecord)),
        "{refused:?}"
    );

    // Unique-key filler rolls the segments holding the updates, so all of them are closed
    // (the active segment is never compacted).
    for i in 0..300 {
        let key = format!("filler-{i}");
        producer
            .send(
                FutureRecord::to("compacted")
                    .key(&key)
                    .payload(&"f".repeat(100)),
                TIMEOUT,
            )
            .await
            .expect("filler delivered");
    }
    // Compacted: one record per key, its newest, and no empty segment file left.
    let partition_dir = broker.data_dir().join("compacted-0");
    let compacted = wait_for(TIMEOUT, || {
        let empty_segment = std::fs::read_dir(&partition_dir)
            .expect("partition dir")
            .filter_map(Result::ok)
            .any(|entry| {
                entry.file_name().to_string_lossy().ends_with(".log")
                    && entry.metadata().is_ok_and(|meta| meta.len() == 0)
            });
        if empty_segment {
            return None;
        }
        let records = read_partition(&broker, "compacted");
        let mut per_key = std::collections::HashMap::new();
        for (_, key, _) in &records {
            *per_key.entry(key.clone()).or_insert(0) += 1;
        }
        per_key.values().all(|&count| count == 1).then_some(records)
    })
    .expect("the cleaner compacted the closed segments");
    assert!(
        compacted.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "offsets increase"
    );
    for (key, (offset, value)) in &newest {
        assert!(
            compacted.contains(&(*offset, key.clone(), value.clone())),
            "newest {key} at {offset} is kept"
        );
    }
    // Segments whose every record was superseded are gone, but the log start stays at 0
    // (Kafka's cleaner never moves it): a consumer at 0 with auto.offset.reset=latest gets
    // every surviving record rather than OFFSET_OUT_OF_RANGE and a jump to the end.
    assert!(compacted[0].0 > 0, "the oldest records were compacted away");
    assert_eq!(low_watermark(&broker, "compacted"), 0);
    let from_zero = consumer(&broker);
    from_zero
        .assign(&{
            let mut assignment = TopicPartitionList::new();
            assignment
                .add_partition_offset("compacted", 0, Offset::Offset(0))
                .unwrap();
            assignment
        })
        .unwrap();
    let first = wait_for(TIMEOUT, || {
        match from_zero.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => Some(message.offset()),
            Some(Err(error)) => panic!("consume from 0: {error}"),
            None => None,
        }
    })
    .expect("a record from offset 0");
    assert_eq!(first, compacted[0].0);
}

#[tokio::test]
async fn consumer_offsets_are_compacted_and_commits_survive_it() {
    let mut broker = SpawnedBroker::start(
        "\"log.cleaner.backoff.ms\" = 100\n\"log.segment.bytes\" = 16384\n\"offsets.topic.num.partitions\" = 1\n\"log.cleaner.min.cleanable.ratio\" = 0.01",
    );
    create_topic(&broker, "anything", &[]).await;
    let mut config = broker.client_config();
    config
        .set("group.id", "committer")
        .set("enable.auto.commit", "false");
    let committer: BaseConsumer = config.create().unwrap();
    for offset in 1..=600 {
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset("anything", 0, Offset::Offset(offset))
            .unwrap();
        committer
            .commit(&offsets, rdkafka::consumer::CommitMode::Sync)
            .expect("commit");
    }
    let records = wait_for(TIMEOUT, || {
        let records = read_partition(&broker, "__consumer_offsets");
        (records.len() < 300).then_some(records)
    })
    .expect("__consumer_offsets compacted");
    assert!(!records.is_empty());
    broker.stop();
    broker.restart();
    let mut config = broker.client_config();
    config.set("group.id", "committer");
    let reader: BaseConsumer = config.create().unwrap();
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition("anything", 0);
    let committed = reader.committed_offsets(wanted, TIMEOUT).unwrap();
    assert_eq!(
        committed.find_partition("anything", 0).unwrap().offset(),
        Offset::Offset(600)
    );
}
