//! The asynchronous producer: send with a delivery callback that reports each result.
//! `cargo run --example producer_async [BOOTSTRAP]` (default localhost:9092).

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

const TOPIC: &str = "peter-basic01";
const RECORDS: usize = 10;

/// The callback, like Java's `Callback.onCompletion`.
struct PrintDelivery;

impl ClientContext for PrintDelivery {}

impl ProducerContext for PrintDelivery {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(message) => println!(
                "callback: partition {} offset {}",
                message.partition(),
                message.offset()
            ),
            Err((error, _)) => println!("callback: failed: {error}"),
        }
    }
}

fn main() {
    let bootstrap = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "localhost:9092".into());
    let producer: ThreadedProducer<PrintDelivery> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create_with_context(PrintDelivery)
        .expect("producer");
    for i in 0..RECORDS {
        let (key, value) = (format!("async-{i}"), format!("asynchronous message {i}"));
        producer
            .send(BaseRecord::to(TOPIC).key(&key).payload(&value))
            .expect("enqueue");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}
