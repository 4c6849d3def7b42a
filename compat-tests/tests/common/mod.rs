//! Produce/consume helpers shared by the rdkafka tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

pub mod cluster;

use compat_tests::SpawnedBroker;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

pub const TIMEOUT: Duration = Duration::from_secs(30);

pub fn producer(broker: &SpawnedBroker, settings: &[(&str, &str)]) -> FutureProducer {
    let mut config = broker.client_config();
    config
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000");
    for (key, value) in settings {
        config.set(*key, *value);
    }
    config.create().expect("producer")
}

/// Produces `count` keyed records to `partition`; returns their (partition, offset).
pub async fn produce(
    producer: &FutureProducer,
    topic: &str,
    partition: Option<i32>,
    count: usize,
) -> Vec<(i32, i64)> {
    let records: Vec<(String, String)> = (0..count)
        .map(|i| (format!("key-{i}"), format!("value-{i}")))
        .collect();
    let sends: Vec<_> = records
        .iter()
        .map(|(key, value)| {
            let mut record = FutureRecord::to(topic).key(key).payload(value);
            if let Some(partition) = partition {
                record = record.partition(partition);
            }
            // send_result enqueues now; send() would enqueue only when awaited, one at a time.
            producer
                .send_result(record)
                .unwrap_or_else(|(error, _)| panic!("enqueue: {error}"))
        })
        .collect();
    let mut delivered = Vec::with_capacity(count);
    for send in sends {
        let delivery = send.await.expect("delivery canceled").expect("delivered");
        delivered.push((delivery.partition, delivery.offset));
    }
    delivered
}

pub fn consumer(broker: &SpawnedBroker) -> BaseConsumer {
    let mut config = broker.client_config();
    // librdkafka's assign() needs a group handle; with auto-commit off and no subscribe()
    // it never joins the group, it only fetches.
    config
        .set("group.id", "compat-tests")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100");
    config.create().expect("consumer")
}

/// Reads `expected` messages of `topic`/`partition` from `start`.
pub fn consume(
    broker: &SpawnedBroker,
    topic: &str,
    partition: i32,
    start: Offset,
    expected: usize,
) -> Vec<OwnedMessage> {
    let consumer = consumer(broker);
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, start)
        .expect("assignment");
    consumer.assign(&assignment).expect("assign");
    let deadline = std::time::Instant::now() + TIMEOUT;
    let mut messages = Vec::with_capacity(expected);
    while messages.len() < expected {
        assert!(
            std::time::Instant::now() < deadline,
            "consumed {} of {expected} messages",
            messages.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => messages.push(message.detach()),
            Some(Err(error)) => panic!("consume error: {error}"),
            None => {}
        }
    }
    messages
}

pub fn text(bytes: Option<&[u8]>) -> String {
    String::from_utf8_lossy(bytes.unwrap_or_default()).into_owned()
}

/// A read_committed consumer (of `group`, committing nothing) assigned every partition of
/// `topic` from the beginning, and each partition's high watermark as of now.
pub fn committed_reader(
    broker: &SpawnedBroker,
    topic: &str,
    partitions: i32,
    group: &str,
) -> (BaseConsumer, BTreeMap<i32, i64>) {
    let consumer: BaseConsumer = broker
        .client_config()
        .set("group.id", group)
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for partition in 0..partitions {
        let (_, high) = consumer
            .fetch_watermarks(topic, partition, TIMEOUT)
            .expect("watermarks");
        ends.insert(partition, high);
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");
    (consumer, ends)
}

/// Every record `consumer` (a [`committed_reader`] of `topic`) reads up to `ends`. A partition is read once the consumer's position reaches its end offset, so
/// transaction markers and aborted records at the end count as read.
pub fn read_to_ends(
    consumer: &BaseConsumer,
    topic: &str,
    ends: &BTreeMap<i32, i64>,
    timeout: Duration,
) -> Vec<OwnedMessage> {
    let caught_up = || {
        let position = consumer.position().expect("position");
        ends.iter().all(|(partition, end)| {
            *end == 0
                || position.find_partition(topic, *partition).is_some_and(
                    |element| matches!(element.offset(), Offset::Offset(at) if at >= *end),
                )
        })
    };
    let deadline = std::time::Instant::now() + timeout;
    let mut messages = Vec::new();
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "{topic}: read {} records, not yet up to {ends:?}",
            messages.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => messages.push(message.detach()),
            Some(Err(error)) => panic!("consume error: {error}"),
            None if caught_up() => return messages,
            None => {}
        }
    }
}
