//! The synchronous producer: wait for each record's acknowledgement and print where it went.
//! `cargo run --example producer_sync [BOOTSTRAP]` (default localhost:9092).

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};

const TOPIC: &str = "peter-basic01";
const RECORDS: usize = 10;

#[tokio::main]
async fn main() {
    let bootstrap = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "localhost:9092".into());
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("producer");
    for i in 0..RECORDS {
        let (key, value) = (format!("sync-{i}"), format!("synchronous message {i}"));
        // Like Java's send(record).get(): block until the broker has the record.
        let delivery = producer
            .send(
                FutureRecord::to(TOPIC).key(&key).payload(&value),
                Duration::from_secs(30),
            )
            .await;
        match delivery {
            Ok(delivered) => println!(
                "partition {} offset {}",
                delivered.partition, delivered.offset
            ),
            Err((error, _)) => panic!("send failed: {error}"),
        }
    }
}
