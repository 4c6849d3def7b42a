//! Disk faults under a running broker, injected by `compat_tests::faults` (a preloaded library
//! failing the broker's storage calls under its data directory): EIO and ENOSPC on append, EIO
//! on fsync, ENOSPC when a segment rolls. Each produce the fault hits fails with
//! KAFKA_STORAGE_ERROR; nothing acknowledged is lost or corrupted, before or after a restart;
//! the partition takes writes again once the disk is back (after a failed fsync, once the
//! broker has restarted, as Kafka's log directory does).

mod common;

use common::*;
use compat_tests::faults::{DiskFaults, Fault};
use compat_tests::SpawnedBroker;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset};

const TOPIC: &str = "disk";
/// Small segments, so that a few dozen records roll several.
const CONFIG: &str = "\"log.segment.bytes\" = 2048\n\"num.partitions\" = 1";
/// Produce attempts a fault gets to show itself (a roll comes every ~20 records).
const ATTEMPTS_MAX: usize = 100;

/// A broker whose storage calls go through the fault layer.
struct FaultyBroker {
    broker: SpawnedBroker,
    faults: DiskFaults,
    _dir: tempfile::TempDir,
}

impl FaultyBroker {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        let faults = DiskFaults::new(&data_dir);
        let broker = SpawnedBroker::start_in_with_env(&data_dir, CONFIG, faults.env());
        Self {
            broker,
            faults,
            _dir: dir,
        }
    }

    fn producer(&self) -> FutureProducer {
        producer(
            &self.broker,
            &[
                ("acks", "all"),
                ("message.send.max.retries", "0"),
                ("message.timeout.ms", "10000"),
                ("linger.ms", "0"),
            ],
        )
    }
}

/// Produces one record of `value`; its offset, or the error the broker answered.
async fn produce_one(producer: &FutureProducer, value: &str) -> Result<i64, KafkaError> {
    producer
        .send(
            FutureRecord::<(), _>::to(TOPIC).payload(value).partition(0),
            TIMEOUT,
        )
        .await
        .map(|delivery| delivery.offset)
        .map_err(|(error, _)| error)
}

fn is_storage_error(error: &KafkaError) -> bool {
    matches!(
        error,
        KafkaError::MessageProduction(RDKafkaErrorCode::KafkaStorageError)
    )
}

/// What one scenario produced: the acknowledged records (offset, value), in order.
#[derive(Default)]
struct Acknowledged(Vec<(i64, String)>);

impl Acknowledged {
    /// Produces `count` records named `stage-i`, each of which must be acknowledged.
    async fn produce(&mut self, producer: &FutureProducer, stage: &str, count: usize) {
        for i in 0..count {
            let value = format!("{stage}-{i}");
            let offset = produce_one(producer, &value)
                .await
                .unwrap_or_else(|error| panic!("{value}: {error}"));
            self.0.push((offset, value));
        }
    }

    /// Produces under a fault until one record is refused; returns the refusal.
    async fn produce_until_refused(&mut self, producer: &FutureProducer) -> KafkaError {
        for i in 0..ATTEMPTS_MAX {
            let value = format!("faulty-{i}");
            match produce_one(producer, &value).await {
                Ok(offset) => self.0.push((offset, value)),
                Err(error) => return error,
            }
        }
        panic!("{ATTEMPTS_MAX} records produced under the fault, none refused")
    }

    /// Reads the partition from the start and checks that every acknowledged record is there
    /// at its offset, intact, and that no offset holds a record twice.
    fn check(&self, broker: &SpawnedBroker) {
        let end = self.0.last().expect("records").0 as usize + 1;
        let messages = consume(broker, TOPIC, 0, Offset::Beginning, end);
        let offsets: Vec<i64> = messages.iter().map(|message| message.offset()).collect();
        assert_eq!(
            offsets,
            (0..end as i64).collect::<Vec<_>>(),
            "dense offsets"
        );
        for (offset, value) in &self.0 {
            assert_eq!(
                &text(messages[*offset as usize].payload()),
                value,
                "offset {offset}"
            );
        }
        let mut values: Vec<String> = messages.iter().map(|m| text(m.payload())).collect();
        values.sort();
        values.dedup();
        assert_eq!(values.len(), messages.len(), "a record stored twice");
    }
}

/// Restarts the broker (its log recovered from disk) and checks everything acknowledged, then
/// that the partition takes writes.
async fn restart_and_check(faulty: &mut FaultyBroker, acknowledged: &mut Acknowledged) {
    faulty.broker.stop();
    faulty.broker.restart();
    acknowledged.check(&faulty.broker);
    acknowledged
        .produce(&faulty.producer(), "restarted", 5)
        .await;
    acknowledged.check(&faulty.broker);
}

/// A fault the partition survives without a restart: refused while armed, writes again once
/// disarmed, everything acknowledged readable then and after a restart.
async fn recovers_without_a_restart(fault: Fault) {
    let mut faulty = FaultyBroker::start();
    let producer = faulty.producer();
    let mut acknowledged = Acknowledged::default();
    acknowledged.produce(&producer, "before", 30).await;

    faulty.faults.set(fault);
    let refusal = acknowledged.produce_until_refused(&producer).await;
    assert!(is_storage_error(&refusal), "{fault:?}: {refusal:?}");
    faulty.faults.set(Fault::None);

    acknowledged.produce(&producer, "after", 30).await;
    acknowledged.check(&faulty.broker);
    restart_and_check(&mut faulty, &mut acknowledged).await;
}

#[tokio::test]
async fn eio_on_append_is_a_storage_error_and_the_partition_writes_again_when_the_disk_is_back() {
    recovers_without_a_restart(Fault::WriteEio).await;
}

#[tokio::test]
async fn enospc_on_append_is_a_storage_error_and_the_partition_writes_again_when_there_is_room() {
    recovers_without_a_restart(Fault::WriteEnospc).await;
}

#[tokio::test]
async fn a_segment_roll_that_cannot_create_its_files_is_a_storage_error_and_rolls_later() {
    recovers_without_a_restart(Fault::CreateEnospc).await;
}

#[tokio::test]
async fn a_failed_fsync_takes_the_partition_offline_until_a_restart_loses_nothing_acknowledged() {
    let mut faulty = FaultyBroker::start();
    let producer = faulty.producer();
    let mut acknowledged = Acknowledged::default();
    acknowledged.produce(&producer, "before", 30).await;

    faulty.faults.set(Fault::SyncEio);
    let refusal = acknowledged.produce_until_refused(&producer).await;
    assert!(is_storage_error(&refusal), "{refusal:?}");
    faulty.faults.set(Fault::None);
    // What the kernel kept of the unsynced writes is unknown: the partition takes no more
    // writes, though the disk answers again, and still serves what it acknowledged.
    let refused = produce_one(&producer, "after-the-failed-fsync").await;
    assert!(refused.as_ref().is_err_and(is_storage_error), "{refused:?}");
    acknowledged.check(&faulty.broker);

    // A restart recovers the log from disk: the partition writes again.
    restart_and_check(&mut faulty, &mut acknowledged).await;
}
