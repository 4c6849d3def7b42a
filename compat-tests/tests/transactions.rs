//! Transactions with rdkafka: commit visible to read_committed, abort invisible to it but
//! visible to read_uncommitted, consume-transform-produce with send_offsets_to_transaction,
//! and zombie fencing by a second producer with the same transactional id.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use compat_tests::SpawnedBroker;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};

const CONFIG: &str = "\"group.initial.rebalance.delay.ms\" = 0\n\"num.partitions\" = 2";

fn transactional_producer(
    broker: &SpawnedBroker,
    id: &str,
) -> ThreadedProducer<DefaultProducerContext> {
    let mut config = broker.client_config();
    config
        .set("transactional.id", id)
        .set("linger.ms", "1")
        .set("transaction.timeout.ms", "30000");
    let producer: ThreadedProducer<DefaultProducerContext> = config.create().expect("producer");
    producer
        .init_transactions(TIMEOUT)
        .expect("init_transactions");
    producer
}

fn send(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    values: impl IntoIterator<Item = String>,
) {
    for value in values {
        producer
            .send(
                BaseRecord::<str, str>::to(topic)
                    .key(&value)
                    .payload(&value),
            )
            .expect("enqueue");
    }
}

/// Every value in `topic` as a consumer with `isolation` sees it, reading to the end.
fn read_all(broker: &SpawnedBroker, topic: &str, partitions: i32, isolation: &str) -> Vec<String> {
    let mut config = broker.client_config();
    config
        .set("group.id", "reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation);
    let consumer: BaseConsumer = config.create().unwrap();
    let mut assignment = TopicPartitionList::new();
    let mut ends = HashMap::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .unwrap();
        let (_, high) = consumer
            .fetch_watermarks(topic, partition, TIMEOUT)
            .unwrap();
        ends.insert(partition, high);
    }
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let mut values = Vec::new();
    loop {
        let done = (0..partitions).all(|partition| {
            let position = consumer.position().unwrap();
            let offset = position
                .find_partition(topic, partition)
                .map(|element| element.offset());
            ends[&partition] == 0
                || matches!(offset, Some(Offset::Offset(at)) if at >= ends[&partition])
        });
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "did not reach the end of {topic}: {ends:?}"
        );
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(50)) {
            values.push(text(message.payload()));
        }
    }
    values.sort();
    values
}

#[tokio::test]
async fn committed_is_visible_and_aborted_is_not_to_read_committed() {
    let broker = SpawnedBroker::start(CONFIG);
    let producer = transactional_producer(&broker, "txn-visibility");
    producer.begin_transaction().unwrap();
    send(
        &producer,
        "txn-out",
        (0..10).map(|i| format!("committed-{i:02}")),
    );
    producer.commit_transaction(TIMEOUT).expect("commit");
    producer.begin_transaction().unwrap();
    send(
        &producer,
        "txn-out",
        (0..5).map(|i| format!("aborted-{i:02}")),
    );
    producer.flush(TIMEOUT).unwrap();
    producer.abort_transaction(TIMEOUT).expect("abort");

    let committed = read_all(&broker, "txn-out", 2, "read_committed");
    assert_eq!(
        committed,
        (0..10)
            .map(|i| format!("committed-{i:02}"))
            .collect::<Vec<_>>()
    );
    let uncommitted = read_all(&broker, "txn-out", 2, "read_uncommitted");
    assert_eq!(
        uncommitted.len(),
        15,
        "aborted records stay in the log: {uncommitted:?}"
    );
}

#[tokio::test]
async fn consume_transform_produce_commits_offsets_with_the_output() {
    let broker = SpawnedBroker::start(CONFIG);
    let plain = producer(&broker, &[("acks", "all")]);
    produce(&plain, "ctp-in", None, 20).await;
    let mut config = broker.client_config();
    config
        .set("group.id", "transformers")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed");
    let consumer: BaseConsumer = config.create().unwrap();
    consumer.subscribe(&["ctp-in"]).unwrap();
    let producer = transactional_producer(&broker, "transformer");
    let mut done = 0;
    let deadline = Instant::now() + TIMEOUT;
    while done < 20 {
        assert!(Instant::now() < deadline, "transformed {done} of 20");
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(50)) else {
            continue;
        };
        producer.begin_transaction().unwrap();
        let transformed = text(message.payload()).to_uppercase();
        producer
            .send(
                BaseRecord::<str, str>::to("ctp-out")
                    .key(&transformed)
                    .payload(&transformed),
            )
            .unwrap();
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(
                "ctp-in",
                message.partition(),
                Offset::Offset(message.offset() + 1),
            )
            .unwrap();
        producer
            .send_offsets_to_transaction(&offsets, &consumer.group_metadata().unwrap(), TIMEOUT)
            .unwrap();
        producer.commit_transaction(TIMEOUT).expect("commit");
        done += 1;
    }
    let output = read_all(&broker, "ctp-out", 2, "read_committed");
    assert_eq!(output.len(), 20);
    assert!(output.iter().all(|value| value.starts_with("VALUE-")));
    let committed = consumer.committed(TIMEOUT).unwrap();
    let total: i64 = committed
        .elements()
        .iter()
        .map(|element| match element.offset() {
            Offset::Offset(at) => at,
            _ => 0,
        })
        .sum();
    assert_eq!(
        total, 20,
        "the transactions committed the input offsets: {committed:?}"
    );
    let _ = consumer.commit_consumer_state(CommitMode::Sync);
}

#[tokio::test]
async fn a_second_producer_with_the_same_id_fences_the_first() {
    let broker = SpawnedBroker::start(CONFIG);
    let zombie = transactional_producer(&broker, "shared-id");
    zombie.begin_transaction().unwrap();
    send(&zombie, "fenced", ["from-zombie".to_owned()]);
    zombie.flush(TIMEOUT).unwrap();
    // The new instance bumps the epoch and aborts the zombie's open transaction.
    let fresh = transactional_producer(&broker, "shared-id");
    // The zombie writes again to the partition it already wrote to: the older epoch is
    // INVALID_PRODUCER_EPOCH, which librdkafka treats as fatal fencing.
    send(&zombie, "fenced", ["from-zombie".to_owned()]);
    let _ = zombie.flush(TIMEOUT);
    match zombie.commit_transaction(TIMEOUT) {
        Err(KafkaError::Transaction(error)) => {
            assert!(error.is_fatal(), "fencing must be fatal: {error}");
            assert_eq!(error.code(), RDKafkaErrorCode::Fenced, "{error}");
        }
        other => panic!("the zombie must not commit: {other:?}"),
    }
    fresh.begin_transaction().unwrap();
    send(&fresh, "fenced", ["from-fresh".to_owned()]);
    fresh
        .commit_transaction(TIMEOUT)
        .expect("the new instance commits");
    assert_eq!(
        read_all(&broker, "fenced", 2, "read_committed"),
        ["from-fresh"]
    );
}

#[tokio::test]
async fn a_transaction_open_during_kill_dash_nine_is_resolved_after_restart() {
    let mut broker = SpawnedBroker::start(&format!(
        "{CONFIG}\n\"transaction.abort.timed.out.transaction.cleanup.interval.ms\" = 200"
    ));
    // Committed across the crash: the producer commits after the broker came back.
    let survivor = transactional_producer(&broker, "survives-crash");
    survivor.begin_transaction().unwrap();
    send(&survivor, "crash-txn", (0..5).map(|i| format!("kept-{i}")));
    survivor.flush(TIMEOUT).unwrap();
    // Abandoned across the crash: its producer never returns, the timeout aborts it.
    let mut config = broker.client_config();
    config
        .set("transactional.id", "abandoned")
        .set("transaction.timeout.ms", "2000");
    let abandoned: ThreadedProducer<DefaultProducerContext> = config.create().unwrap();
    abandoned.init_transactions(TIMEOUT).unwrap();
    abandoned.begin_transaction().unwrap();
    send(&abandoned, "crash-txn", (0..3).map(|i| format!("lost-{i}")));
    abandoned.flush(TIMEOUT).unwrap();
    drop(abandoned);

    broker.kill();
    broker.restart();
    survivor
        .commit_transaction(TIMEOUT)
        .expect("commit after the restart");
    let committed = compat_tests::wait_for(TIMEOUT, || {
        let values = read_all(&broker, "crash-txn", 2, "read_committed");
        (values.len() == 5).then_some(values)
    });
    assert_eq!(
        committed,
        Some((0..5).map(|i| format!("kept-{i}")).collect::<Vec<_>>())
    );
    assert_eq!(
        read_all(&broker, "crash-txn", 2, "read_uncommitted").len(),
        8,
        "aborted data stays in the log"
    );
    // The abandoned transaction times out and is aborted: the last stable offset catches up
    // with the high watermark everywhere.
    let watermark = |isolation: &str, partition: i32| {
        let mut config = broker.client_config();
        config
            .set("group.id", "watermarks")
            .set("isolation.level", isolation);
        let consumer: BaseConsumer = config.create().unwrap();
        consumer
            .fetch_watermarks("crash-txn", partition, TIMEOUT)
            .unwrap()
            .1
    };
    let settled = compat_tests::wait_for(TIMEOUT, || {
        (0..2)
            .all(|p| watermark("read_committed", p) == watermark("read_uncommitted", p))
            .then_some(())
    });
    assert!(
        settled.is_some(),
        "the abandoned transaction was not aborted"
    );
    assert_eq!(read_all(&broker, "crash-txn", 2, "read_committed").len(), 5);
}

/// One consume-transform-produce step; any error means "start over from the committed
/// offsets" for the caller.
fn transform_one(
    consumer: &BaseConsumer,
    producer: &ThreadedProducer<DefaultProducerContext>,
    kill_before_commit: &mut dyn FnMut(),
) -> Result<Option<String>, rdkafka::error::KafkaError> {
    let Some(message) = consumer.poll(Duration::from_millis(50)) else {
        return Ok(None);
    };
    let message = message?;
    let input = text(message.payload());
    producer.begin_transaction()?;
    let output = format!("out-{input}");
    producer
        .send(
            BaseRecord::<str, str>::to("eos-out")
                .key(&output)
                .payload(&output),
        )
        .map_err(|(error, _)| error)?;
    let mut offsets = TopicPartitionList::new();
    offsets.add_partition_offset(
        "eos-in",
        message.partition(),
        Offset::Offset(message.offset() + 1),
    )?;
    producer.send_offsets_to_transaction(
        &offsets,
        &consumer.group_metadata().expect("group metadata"),
        TIMEOUT,
    )?;
    kill_before_commit();
    producer.commit_transaction(TIMEOUT)?;
    Ok(Some(input))
}

#[tokio::test]
async fn exactly_once_pipeline_survives_broker_kills_mid_transaction() {
    let mut broker = SpawnedBroker::start(CONFIG);
    let plain = producer(&broker, &[("acks", "all")]);
    produce(&plain, "eos-in", None, 40).await;
    drop(plain);
    let consumer_for = |broker: &SpawnedBroker| -> BaseConsumer {
        let mut config = broker.client_config();
        config
            .set("group.id", "eos")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed");
        let consumer: BaseConsumer = config.create().unwrap();
        consumer.subscribe(&["eos-in"]).unwrap();
        consumer
    };
    let mut consumer = consumer_for(&broker);
    let mut producer = transactional_producer(&broker, "eos-pipeline");
    let mut committed_inputs = std::collections::HashSet::new();
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while committed_inputs.len() < 40 {
        assert!(
            Instant::now() < deadline,
            "processed {} of 40",
            committed_inputs.len()
        );
        let mut kill = || {
            if kills < 2 && committed_inputs.len() >= 10 + 15 * kills {
                kills += 1;
                broker.kill();
                broker.restart();
            }
        };
        match transform_one(&consumer, &producer, &mut kill) {
            Ok(Some(input)) => {
                assert!(
                    committed_inputs.insert(input.clone()),
                    "{input} was committed twice"
                );
            }
            Ok(None) => {}
            Err(error) => {
                // Start over from what was committed: a new producer fences the old one and
                // aborts its transaction; a new consumer resumes at the committed offsets.
                eprintln!("starting over after: {error}");
                let _ = producer.abort_transaction(Duration::from_secs(5));
                drop(consumer);
                consumer = consumer_for(&broker);
                producer = transactional_producer(&broker, "eos-pipeline");
            }
        }
    }
    assert_eq!(kills, 2);
    let outputs = read_all(&broker, "eos-out", 2, "read_committed");
    let distinct: std::collections::HashSet<&String> = outputs.iter().collect();
    assert_eq!(
        outputs.len(),
        40,
        "every input produced exactly one committed output: {outputs:?}"
    );
    assert_eq!(distinct.len(), 40, "no duplicate output");
}

#[tokio::test]
async fn describe_and_list_transactions_show_an_open_transaction() {
    use compat_tests::wire::WireClient;
    use kafka_protocol::messages::{
        DescribeTransactionsRequest, ListTransactionsRequest, TransactionalId,
    };
    use kafka_protocol::protocol::StrBytes;

    let broker = SpawnedBroker::start(CONFIG);
    let producer = transactional_producer(&broker, "described");
    producer.begin_transaction().unwrap();
    send(&producer, "described-topic", ["x".to_owned()]);
    producer.flush(TIMEOUT).unwrap();

    let mut client = WireClient::connect(&broker.bootstrap);
    let described = client.call(
        0,
        &DescribeTransactionsRequest::default().with_transactional_ids(vec![
            TransactionalId(StrBytes::from_static_str("described")),
            TransactionalId(StrBytes::from_static_str("nobody")),
        ]),
    );
    let state = &described.transaction_states[0];
    assert_eq!(
        (state.error_code, state.transaction_state.as_str()),
        (0, "Ongoing")
    );
    assert_eq!(state.topics[0].topic.as_str(), "described-topic");
    assert_eq!(state.transaction_timeout_ms, 30_000);
    assert_eq!(
        described.transaction_states[1].error_code, 105,
        "TRANSACTIONAL_ID_NOT_FOUND"
    );

    let listed = client.call(
        1,
        &ListTransactionsRequest::default()
            .with_state_filters(vec![
                StrBytes::from_static_str("Ongoing"),
                StrBytes::from_static_str("Bogus"),
            ])
            .with_duration_filter(-1),
    );
    let ids: Vec<&str> = listed
        .transaction_states
        .iter()
        .map(|state| state.transactional_id.as_str())
        .collect();
    assert_eq!(ids, ["described"]);
    assert_eq!(
        listed
            .unknown_state_filters
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>(),
        ["Bogus"]
    );
    producer.commit_transaction(TIMEOUT).unwrap();
    let after = client.call(
        0,
        &ListTransactionsRequest::default()
            .with_state_filters(vec![StrBytes::from_static_str("Ongoing")]),
    );
    assert!(
        after.transaction_states.is_empty(),
        "committed: no longer ongoing"
    );
}

/// OffsetFetch with `require_stable` (v7+, KIP-447) withholds an offset an open transaction
/// commits (UNSTABLE_OFFSET_COMMIT); without it, the last committed offset is answered; once
/// the transaction commits, its offset is.
#[tokio::test]
async fn offsets_committed_in_an_open_transaction_are_unstable_until_it_ends() {
    use compat_tests::wire::WireClient;
    use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
    use kafka_protocol::messages::{GroupId, OffsetFetchRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;

    const UNSTABLE_OFFSET_COMMIT: i16 = 88;
    let broker = SpawnedBroker::start(CONFIG);
    let mut config = broker.client_config();
    config.set("group.id", "stable-readers");
    let group_member: BaseConsumer = config.create().unwrap();
    let producer = transactional_producer(&broker, "stable-writer");
    producer.begin_transaction().unwrap();
    // Writing creates the topic whose offsets the transaction commits.
    send(&producer, "stable-in", ["x".to_owned()]);
    producer.flush(TIMEOUT).unwrap();
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset("stable-in", 0, Offset::Offset(5))
        .unwrap();
    producer
        .send_offsets_to_transaction(&offsets, &group_member.group_metadata().unwrap(), TIMEOUT)
        .unwrap();

    let mut client = WireClient::connect(&broker.bootstrap);
    let mut fetch = |require_stable: bool| {
        let request = OffsetFetchRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str("stable-readers")))
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("stable-in")))
                .with_partition_indexes(vec![0])]))
            .with_require_stable(require_stable);
        let response = client.call(7, &request);
        let partition = &response.topics[0].partitions[0];
        (partition.error_code, partition.committed_offset)
    };
    assert_eq!(fetch(true), (UNSTABLE_OFFSET_COMMIT, -1));
    assert_eq!(fetch(false), (0, -1), "nothing committed yet");
    producer.commit_transaction(TIMEOUT).unwrap();
    assert_eq!(fetch(true), (0, 5));
}
