//! The classic "fire and forget" producer: send records without waiting for each answer.
//! `cargo run --example producer_fire_forget [BOOTSTRAP]` (default localhost:9092).

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

const TOPIC: &str = "peter-basic01";
const RECORDS: usize = 10;

fn main() {
    let bootstrap = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "localhost:9092".into());
    // Kafka's defaults otherwise: acks=all, idempotence on, retries, batching by linger.ms.
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("producer");
    for i in 0..RECORDS {
        let (key, value) = (format!("fire-{i}"), format!("fire-and-forget message {i}"));
        // Fire and forget: enqueue and move on, nobody looks at the result.
        let _ = producer.send(BaseRecord::to(TOPIC).key(&key).payload(&value));
        producer.poll(Duration::ZERO);
    }
    // Queued records still go out before the program ends.
    producer.flush(Duration::from_secs(30)).expect("flush");
    println!("sent {RECORDS} records without waiting");
}
