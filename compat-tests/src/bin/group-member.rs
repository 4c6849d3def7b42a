//! A consumer-group member in its own process, so tests can kill it with SIGKILL:
//! `group-member BOOTSTRAP GROUP TOPIC`. Prints `assigned N` whenever its assignment changes
//! and exits after two minutes at most.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

const LIFETIME: Duration = Duration::from_secs(120);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, bootstrap, group, topic] = args.as_slice() else {
        eprintln!("usage: group-member BOOTSTRAP GROUP TOPIC");
        std::process::exit(2);
    };
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic.as_str()]).expect("subscribe");
    let started = Instant::now();
    let mut reported = usize::MAX;
    while started.elapsed() < LIFETIME {
        let _ = consumer.poll(Duration::from_millis(50));
        let assigned = consumer
            .assignment()
            .map_or(0, |assignment| assignment.count());
        if assigned != reported {
            println!("assigned {assigned}");
            reported = assigned;
        }
    }
}
