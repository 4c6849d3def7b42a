//! Idempotent producers: rdkafka with `enable.idempotence=true` through a proxy that cuts
//! connections mid-flight (so acknowledgements are lost and batches retried): every record
//! lands exactly once, offsets have no gaps.

mod common;

use std::collections::HashMap;

use common::*;
use compat_tests::proxy::CuttingProxy;
use compat_tests::SpawnedBroker;
use rdkafka::Offset;

#[tokio::test]
async fn idempotent_producer_survives_cut_connections_without_duplicates_or_gaps() {
    let proxy = CuttingProxy::start(6, 8 * 1024);
    let broker = SpawnedBroker::start(&format!(
        "\"advertised.listeners\" = \"{}\"\n\"num.partitions\" = 3",
        proxy.address
    ));
    proxy.set_target(&broker.bootstrap);
    let mut config = broker.client_config();
    config
        .set("bootstrap.servers", &proxy.address)
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        .set("batch.num.messages", "50")
        .set("message.timeout.ms", "60000");
    let producer: rdkafka::producer::FutureProducer = config.create().expect("producer");
    let delivered = produce(&producer, "exactly-once", None, 3000).await;
    assert!(
        proxy.cuts() >= 3,
        "the proxy cut {} connections",
        proxy.cuts()
    );

    let mut per_partition: HashMap<i32, Vec<i64>> = HashMap::new();
    for (partition, offset) in &delivered {
        per_partition.entry(*partition).or_default().push(*offset);
    }
    let mut keys = std::collections::HashSet::new();
    for (partition, offsets) in per_partition {
        let messages = consume(
            &broker,
            "exactly-once",
            partition,
            Offset::Beginning,
            offsets.len(),
        );
        let stored: Vec<i64> = messages.iter().map(rdkafka::Message::offset).collect();
        assert_eq!(
            stored,
            (0..offsets.len() as i64).collect::<Vec<_>>(),
            "partition {partition}: no gaps"
        );
        for message in &messages {
            assert!(
                keys.insert(text(rdkafka::Message::key(message))),
                "duplicate {:?}",
                text(rdkafka::Message::key(message))
            );
        }
        let (_, high) = rdkafka::consumer::Consumer::fetch_watermarks(
            &consumer(&broker),
            "exactly-once",
            partition,
            TIMEOUT,
        )
        .unwrap();
        assert_eq!(
            high,
            offsets.len() as i64,
            "partition {partition}: nothing stored twice"
        );
    }
    assert_eq!(keys.len(), 3000);
}
