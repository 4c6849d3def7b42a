//! The synchronous-commit consumer: process, then `commitSync()`.
//! `cargo run --example consumer_sync [BOOTSTRAP]` (default localhost:9092).

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};

const TOPIC: &str = "peter-basic01";
const QUIET: Duration = Duration::from_secs(5);
const LIMIT: Duration = Duration::from_secs(60);

fn main() {
    let bootstrap = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "localhost:9092".into());
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "peter-basic01-sync")
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
            // Processed: commit synchronously before taking the next one.
            consumer
                .commit_message(&message, CommitMode::Sync)
                .expect("commitSync");
        }
    }
    println!("consumed {consumed} records");
}
