//! The asynchronous-commit consumer: process, then `commitAsync()`; a final synchronous
//! commit on the way out. `cargo run --example consumer_async [BOOTSTRAP]`.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

const TOPIC: &str = "peter-basic01";
const QUIET: Duration = Duration::from_secs(5);
const LIMIT: Duration = Duration::from_secs(60);

fn main() {
    let bootstrap = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "localhost:9092".into());
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "peter-basic01-async")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[TOPIC]).expect("subscribe");
    let (started, mut last_message, mut consumed) = (Instant::now(), Instant::now(), 0);
    while started.elapsed() < LIMIT && (consumed == 0 || last_message.elapsed() < QUIET) {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(1000)) {
            consumed += 1;
            last_message = Instant::now();
            consumer
                .commit_message(&message, CommitMode::Async)
                .expect("commitAsync");
        }
    }
    match consumer.commit_consumer_state(CommitMode::Sync) {
        // Nothing left to commit: the asynchronous commits already covered everything.
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(error) => panic!("final commitSync: {error}"),
    }
    println!("consumed {consumed} records");
}
