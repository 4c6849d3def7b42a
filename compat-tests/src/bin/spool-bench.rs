//! A first produce/consume throughput run (`make bench`): starts a broker on a temporary data
//! dir, produces 1 KiB messages with acks=all through rdkafka, consumes them back, and prints
//! the figures. Bounded in count and time. The performance issue grows this into the full tool.

use std::time::{Duration, Instant};

use compat_tests::SpawnedBroker;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const MESSAGES: usize = 200_000;
const MESSAGE_BYTES: usize = 1024;
const TIME_LIMIT: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() {
    let broker = SpawnedBroker::start(&std::env::var("SPOOL_BENCH_CONFIG").unwrap_or_default());
    let payload = vec![b'x'; MESSAGE_BYTES];
    let producer: FutureProducer = broker
        .client_config()
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("producer");
    let started = Instant::now();
    let mut pending = Vec::with_capacity(10_000);
    let mut produced = 0;
    while produced < MESSAGES && started.elapsed() < TIME_LIMIT {
        let record = FutureRecord::<(), _>::to("bench")
            .payload(&payload)
            .partition(0);
        match producer.send_result(record) {
            Ok(delivery) => pending.push(delivery),
            Err((error, _)) => panic!("enqueue failed: {error}"),
        }
        produced += 1;
        if pending.len() == 10_000 {
            await_deliveries(&mut pending).await;
        }
    }
    await_deliveries(&mut pending).await;
    report(
        "produce (acks=all, fsync group commit)",
        produced,
        started.elapsed(),
    );

    let consumer: BaseConsumer = broker
        .client_config()
        .set("group.id", "bench")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset("bench", 0, Offset::Beginning)
        .expect("assignment");
    consumer.assign(&assignment).expect("assign");
    let started = Instant::now();
    let mut consumed = 0;
    while consumed < produced && started.elapsed() < TIME_LIMIT {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            message.expect("message");
            consumed += 1;
        }
    }
    report("consume", consumed, started.elapsed());
}

async fn await_deliveries(pending: &mut Vec<rdkafka::producer::DeliveryFuture>) {
    for delivery in pending.drain(..) {
        delivery
            .await
            .expect("delivery canceled")
            .expect("delivered");
    }
}

fn report(what: &str, messages: usize, elapsed: Duration) {
    let seconds = elapsed.as_secs_f64();
    let megabytes = (messages * MESSAGE_BYTES) as f64 / (1024.0 * 1024.0);
    println!(
        "{what}: {messages} x {MESSAGE_BYTES} B in {seconds:.2} s = {:.0} msgs/s, {:.1} MiB/s",
        messages as f64 / seconds,
        megabytes / seconds
    );
}
