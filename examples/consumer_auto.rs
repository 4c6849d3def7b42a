//! The auto-commit consumer: `enable.auto.commit=true`, a poll loop, offsets committed in the
//! background. Stops after a quiet period. `cargo run --example consumer_auto [BOOTSTRAP]`.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

const TOPIC: &str = "peter-basic01";
const QUIET: Duration = Duration::from_secs(5);
const LIMIT: Duration = Duration::from_secs(60);

fn main() {
    let bootstrap = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "localhost:9092".into());
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "peter-basic01-auto")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[TOPIC]).expect("subscribe");
    let (started, mut last_message, mut consumed) = (Instant::now(), Instant::now(), 0);
    while started.elapsed() < LIMIT && (consumed == 0 || last_message.elapsed() < QUIET) {
        // Like Java's poll(1000).
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(1000)) {
            consumed += 1;
            last_message = Instant::now();
        }
    }
    // Closing commits the last positions.
    drop(consumer);
    println!("consumed {consumed} records");
}
