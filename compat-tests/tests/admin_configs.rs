//! Topic configs and partitions through rdkafka's AdminClient: DescribeConfigs with sources,
//! AlterConfigs applied live (retention acts without a restart) and persisted,
//! CreatePartitions increase-only, seen by producers after a metadata refresh.

mod common;

use std::time::{Duration, Instant};

use common::*;
use compat_tests::{wait_for, SpawnedBroker};
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigEntry, ConfigSource, NewPartitions, NewTopic,
    OwnedResourceSpecifier, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::Consumer;
use rdkafka::types::RDKafkaErrorCode;

/// Retention runs every 200 ms; the file sets the broker default retention in minutes.
const BROKER_CONFIG: &str = "log.retention.minutes = 600\nlog.retention.check.interval.ms = 200";

fn admin(broker: &SpawnedBroker) -> AdminClient<DefaultClientContext> {
    broker.client_config().create().expect("admin")
}

async fn describe_topic(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
) -> Vec<ConfigEntry> {
    let mut results = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .unwrap();
    results.remove(0).expect("describe topic").entries
}

fn entry<'a>(entries: &'a [ConfigEntry], name: &str) -> &'a ConfigEntry {
    entries
        .iter()
        .find(|entry| entry.name == name)
        .unwrap_or_else(|| panic!("no {name} in {entries:?}"))
}

fn partition_count(broker: &SpawnedBroker, topic: &str) -> usize {
    let metadata = consumer(broker)
        .fetch_metadata(Some(topic), TIMEOUT)
        .unwrap();
    metadata.topics()[0].partitions().len()
}

#[tokio::test]
async fn configs_are_described_altered_live_and_persisted() {
    let mut broker = SpawnedBroker::start(BROKER_CONFIG);
    let admin = admin(&broker);
    let options = AdminOptions::new();
    admin
        .create_topics(
            &[NewTopic::new("shrinking", 1, TopicReplication::Fixed(1))
                .set("segment.bytes", "1024")],
            &options,
        )
        .await
        .unwrap()[0]
        .clone()
        .unwrap();

    let entries = describe_topic(&admin, "shrinking").await;
    let segment = entry(&entries, "segment.bytes");
    assert_eq!(segment.value.as_deref(), Some("1024"));
    assert_eq!(segment.source, ConfigSource::DynamicTopic);
    assert!(!segment.is_read_only);
    let retention = entry(&entries, "retention.ms");
    assert_eq!(retention.value.as_deref(), Some("36000000"), "600 minutes");
    assert_eq!(retention.source, ConfigSource::StaticBroker);
    let policy = entry(&entries, "cleanup.policy");
    assert_eq!(policy.value.as_deref(), Some("delete"));
    assert_eq!(policy.source, ConfigSource::Default);
    assert!(policy.is_default);

    let mut brokers = admin
        .describe_configs([&ResourceSpecifier::Broker(0)], &options)
        .await
        .unwrap();
    let broker_entries = brokers.remove(0).expect("describe broker").entries;
    let minutes = entry(&broker_entries, "log.retention.minutes");
    assert_eq!(minutes.value.as_deref(), Some("600"));
    assert_eq!(minutes.source, ConfigSource::StaticBroker);
    let partitions = entry(&broker_entries, "num.partitions");
    assert_eq!(
        (
            partitions.value.as_deref(),
            &partitions.source,
            partitions.is_read_only
        ),
        (Some("1"), &ConfigSource::Default, true)
    );

    // Several segments (one batch per round), so retention has closed ones to delete.
    let producer = producer(&broker, &[("linger.ms", "0")]);
    for _ in 0..12 {
        produce(&producer, "shrinking", Some(0), 5).await;
    }
    let watermarks = |consumer: &rdkafka::consumer::BaseConsumer| {
        consumer.fetch_watermarks("shrinking", 0, TIMEOUT).unwrap()
    };
    let reader = consumer(&broker);
    assert_eq!(watermarks(&reader), (0, 60));

    // validate_only changes nothing.
    let expire = AlterConfig::new(ResourceSpecifier::Topic("shrinking"))
        .set("segment.bytes", "1024")
        .set("retention.ms", "1");
    let validated = admin
        .alter_configs([&expire], &AdminOptions::new().validate_only(true))
        .await
        .unwrap();
    assert_eq!(
        validated[0],
        Ok(OwnedResourceSpecifier::Topic("shrinking".into()))
    );
    let entries = describe_topic(&admin, "shrinking").await;
    assert_eq!(
        entry(&entries, "retention.ms").value.as_deref(),
        Some("36000000")
    );

    let altered = admin.alter_configs([&expire], &options).await.unwrap();
    assert_eq!(
        altered[0],
        Ok(OwnedResourceSpecifier::Topic("shrinking".into()))
    );
    let entries = describe_topic(&admin, "shrinking").await;
    let retention = entry(&entries, "retention.ms");
    assert_eq!(
        (retention.value.as_deref(), &retention.source),
        (Some("1"), &ConfigSource::DynamicTopic)
    );
    // Applied live: retention deletes the closed segments without a restart.
    let start = wait_for(Duration::from_secs(20), || {
        let (low, _) = watermarks(&reader);
        (low > 0).then_some(low)
    });
    assert!(
        start.is_some(),
        "retention.ms=1 did not act: {:?}",
        watermarks(&reader)
    );

    // Refusals (rust-rdkafka's alter_configs drops per-resource errors, so they are checked
    // over the wire in wire_protocol.rs); a refused change leaves the config as it was.
    let refused =
        AlterConfig::new(ResourceSpecifier::Topic("shrinking")).set("retention.ms", "soon");
    admin.alter_configs([&refused], &options).await.unwrap();
    let entries = describe_topic(&admin, "shrinking").await;
    assert_eq!(entry(&entries, "retention.ms").value.as_deref(), Some("1"));
    assert_eq!(
        entry(&entries, "segment.bytes").value.as_deref(),
        Some("1024")
    );

    // Persisted: the override survives a restart.
    drop(admin);
    drop(reader);
    drop(producer);
    broker.stop();
    broker.restart();
    let admin = self::admin(&broker);
    let entries = describe_topic(&admin, "shrinking").await;
    let retention = entry(&entries, "retention.ms");
    assert_eq!(
        (retention.value.as_deref(), &retention.source),
        (Some("1"), &ConfigSource::DynamicTopic)
    );
    assert_eq!(
        entry(&entries, "segment.bytes").value.as_deref(),
        Some("1024")
    );
    broker.stop();
}

#[tokio::test]
async fn partitions_are_only_added_and_producers_see_them() {
    let mut broker = SpawnedBroker::start("");
    let admin = admin(&broker);
    let options = AdminOptions::new();
    admin
        .create_topics(
            &[NewTopic::new("growing", 2, TopicReplication::Fixed(1))],
            &options,
        )
        .await
        .unwrap()[0]
        .clone()
        .unwrap();
    let refreshing = producer(&broker, &[("topic.metadata.refresh.interval.ms", "500")]);
    produce(&refreshing, "growing", None, 20).await;

    let checked = admin
        .create_partitions(
            &[NewPartitions::new("growing", 5)],
            &AdminOptions::new().validate_only(true),
        )
        .await
        .unwrap();
    assert_eq!(checked[0], Ok("growing".to_owned()));
    assert_eq!(
        partition_count(&broker, "growing"),
        2,
        "validate_only added nothing"
    );

    let grown = admin
        .create_partitions(&[NewPartitions::new("growing", 4)], &options)
        .await
        .unwrap();
    assert_eq!(grown[0], Ok("growing".to_owned()));
    assert_eq!(partition_count(&broker, "growing"), 4);

    let codes: Vec<RDKafkaErrorCode> = admin
        .create_partitions(
            &[
                NewPartitions::new("growing", 3),
                NewPartitions::new("missing", 3),
            ],
            &options,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|result| result.unwrap_err().1)
        .collect();
    assert_eq!(
        codes,
        [
            RDKafkaErrorCode::InvalidPartitions,
            RDKafkaErrorCode::UnknownTopicOrPartition
        ]
    );
    let same = admin
        .create_partitions(&[NewPartitions::new("growing", 4)], &options)
        .await
        .unwrap();
    assert_eq!(
        same[0].as_ref().unwrap_err().1,
        RDKafkaErrorCode::InvalidPartitions
    );

    // The default partitioner spreads keys over the new partitions once metadata refreshes.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let placed = produce(&refreshing, "growing", None, 40).await;
        if placed.iter().any(|(partition, _)| *partition >= 2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no record reached partitions 2 or 3"
        );
    }

    // The topic id stays, and the new partitions survive a restart.
    drop(refreshing);
    drop(admin);
    broker.stop();
    broker.restart();
    assert_eq!(partition_count(&broker, "growing"), 4);
    let producer = producer(&broker, &[]);
    let placed = produce(&producer, "growing", Some(3), 3).await;
    assert!(placed.iter().all(|(partition, _)| *partition == 3));
    broker.stop();
}
