//! ListOffsets, long-poll fetch and restarts (clean and kill -9), with rdkafka.

mod common;

use std::time::{Duration, Instant};

use common::*;
use compat_tests::SpawnedBroker;
use rdkafka::consumer::Consumer;
use rdkafka::producer::FutureRecord;
use rdkafka::{Message, Offset, TopicPartitionList};

#[tokio::test]
async fn latest_offset_counts_records_whatever_the_batching() {
    let broker = SpawnedBroker::start("\"num.partitions\" = 1");
    let mut expected = 0;
    for (batch, linger) in [("1", "0"), ("7", "20"), ("500", "50")] {
        let producer = producer(
            &broker,
            &[
                ("acks", "all"),
                ("batch.num.messages", batch),
                ("linger.ms", linger),
            ],
        );
        produce(&producer, "counted", Some(0), 333).await;
        expected += 333;
        let consumer = consumer(&broker);
        let (low, high) = consumer
            .fetch_watermarks("counted", 0, TIMEOUT)
            .expect("watermarks");
        assert_eq!((low, high), (0, expected));
    }
}

#[tokio::test]
async fn offsets_for_times_finds_the_first_batch_at_or_after() {
    let broker = SpawnedBroker::start("");
    let producer = producer(&broker, &[("acks", "all"), ("linger.ms", "0")]);
    for i in 0..10i64 {
        producer
            .send(
                FutureRecord::to("times")
                    .key("k")
                    .payload("v")
                    .partition(0)
                    .timestamp(1_000_000 + i * 1000),
                TIMEOUT,
            )
            .await
            .expect("delivery");
    }
    let consumer = consumer(&broker);
    let offset_for_time = |timestamp: i64| {
        let mut query = TopicPartitionList::new();
        query
            .add_partition_offset("times", 0, Offset::Offset(timestamp))
            .unwrap();
        let found = consumer
            .offsets_for_times(query, TIMEOUT)
            .expect("offsets_for_times");
        found.find_partition("times", 0).unwrap().offset()
    };
    assert_eq!(offset_for_time(1_004_500), Offset::Offset(5));
    assert_eq!(offset_for_time(9_000_000), Offset::End);
}

#[tokio::test]
async fn long_poll_fetch_wakes_as_soon_as_data_arrives() {
    let broker = SpawnedBroker::start("");
    let producer = producer(&broker, &[("acks", "1"), ("linger.ms", "0")]);
    produce(&producer, "long-poll", Some(0), 1).await;
    let mut config = broker.client_config();
    // The broker may hold each fetch for 10 s: only an early wake-up makes this fast.
    config
        .set("group.id", "long-poll")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10000");
    let consumer: rdkafka::consumer::BaseConsumer = config.create().unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset("long-poll", 0, Offset::Offset(1))
        .unwrap();
    consumer.assign(&assignment).unwrap();
    // Let the consumer settle into a waiting fetch.
    let _ = consumer.poll(Duration::from_millis(1500));
    let sent_at = Instant::now();
    produce(&producer, "long-poll", Some(0), 1).await;
    let message = loop {
        assert!(
            sent_at.elapsed() < Duration::from_secs(8),
            "fetch did not wake before its max wait"
        );
        if let Some(result) = consumer.poll(Duration::from_millis(50)) {
            break result.expect("message");
        }
    };
    assert_eq!(message.offset(), 1);
    assert!(
        sent_at.elapsed() < Duration::from_secs(3),
        "woke after {:?}",
        sent_at.elapsed()
    );
}

async fn restart_keeps_acknowledged(crash: bool) {
    let mut broker = SpawnedBroker::start("\"log.segment.bytes\" = 20000\n\"num.partitions\" = 3");
    let first = producer(&broker, &[("acks", "all")]);
    let mut delivered = produce(&first, "durable", None, 1500).await;
    drop(first);
    if crash {
        broker.kill();
    } else {
        broker.stop();
    }
    broker.restart();
    let second = producer(&broker, &[("acks", "all")]);
    delivered.extend(produce(&second, "durable", None, 300).await);
    for partition in 0..3 {
        let mut offsets: Vec<i64> = delivered
            .iter()
            .filter(|(p, _)| *p == partition)
            .map(|(_, o)| *o)
            .collect();
        offsets.sort_unstable();
        assert_eq!(
            offsets,
            (0..offsets.len() as i64).collect::<Vec<_>>(),
            "partition {partition} offsets contiguous"
        );
        let messages = consume(
            &broker,
            "durable",
            partition,
            Offset::Beginning,
            offsets.len(),
        );
        for (message, expected) in messages.iter().zip(&offsets) {
            assert_eq!(message.offset(), *expected);
        }
    }
}

#[tokio::test]
async fn clean_restart_keeps_every_acknowledged_record() {
    restart_keeps_acknowledged(false).await;
}

#[tokio::test]
async fn kill_dash_nine_keeps_every_acknowledged_record() {
    restart_keeps_acknowledged(true).await;
}

#[tokio::test]
async fn oversized_message_gets_message_too_large() {
    let broker = SpawnedBroker::start("\"message.max.bytes\" = 10000");
    let producer = producer(
        &broker,
        &[("acks", "all"), ("message.max.bytes", "1000000")],
    );
    let payload = vec![b'x'; 50_000];
    let result = producer
        .send(
            FutureRecord::to("too-large")
                .key("k")
                .payload(&payload)
                .partition(0),
            TIMEOUT,
        )
        .await;
    let (error, _) = result.expect_err("must be refused");
    assert_eq!(
        error.rdkafka_error_code(),
        Some(rdkafka::types::RDKafkaErrorCode::MessageSizeTooLarge),
        "{error}"
    );
}
