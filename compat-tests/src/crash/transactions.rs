//! The crash test's transactional workload: one transactional producer writes small
//! transactions over two partitions, committing most and aborting some, while the broker is
//! killed. After each restart a new producer with the same transactional id is initialised,
//! which ends whatever the killed one left open (InitProducerId fences it), and a
//! read_committed consumer checks that every transaction is all or nothing: a commit the
//! broker acknowledged is there whole, an acknowledged abort left nothing, one whose end was
//! cut off by the kill is either, no record is read twice, and nothing holds the last stable
//! offset back.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaError};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

use super::read_to_end;
use crate::SpawnedBroker;

pub const TOPIC: &str = "crash-txn";
pub const PARTITIONS: i32 = 2;
const TRANSACTIONAL_ID: &str = "crash-txn-producer";
/// How long a commit, an abort or an initialisation may take (a kill and restart included).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long initialising a producer after a restart may keep retrying.
const INIT_DEADLINE: Duration = Duration::from_secs(60);
/// Records per transaction, at most.
const MAX_RECORDS: usize = 8;
/// Every n-th transaction is aborted by its producer.
const ABORT_EVERY: usize = 5;

/// How a transaction ended, as far as its producer knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Committed,
    Aborted,
    /// The commit or abort failed or timed out (the broker was killed): either may hold.
    InDoubt,
}

#[derive(Debug, Clone)]
pub struct Txn {
    id: String,
    /// The values sent, each with its partition.
    values: Vec<(i32, String)>,
    outcome: Outcome,
}

/// What the read back found.
#[derive(Debug, Default, Clone, Copy)]
pub struct TxnReport {
    pub committed: usize,
    pub aborted: usize,
    /// Ended by the kill; of them, how many turned out committed.
    pub in_doubt: usize,
    pub in_doubt_committed: usize,
}

/// The transactional producer and every transaction it began.
pub struct Transactions {
    bootstrap: rdkafka::ClientConfig,
    producer: Option<ThreadedProducer<DefaultProducerContext>>,
    txns: Vec<Txn>,
}

impl Transactions {
    pub fn new(broker: &SpawnedBroker) -> Self {
        Self {
            bootstrap: broker.client_config(),
            producer: None,
            txns: Vec::new(),
        }
    }

    /// A new producer with the transactional id, initialised: what an earlier one left open
    /// is ended (prepared commits completed, the rest aborted) once this returns.
    pub async fn initialise(&mut self) -> Result<(), String> {
        let config = self.bootstrap.clone();
        let producer = tokio::task::spawn_blocking(move || initialised_producer(config))
            .await
            .map_err(|error| format!("transactional producer task: {error}"))??;
        self.producer = Some(producer);
        Ok(())
    }

    /// Writes transactions until `stop` (or the first that fails to end); the returned task
    /// yields them to `record`.
    pub fn write(
        &mut self,
        cycle: usize,
        round_pause: Duration,
        stop: Arc<AtomicBool>,
    ) -> tokio::task::JoinHandle<Vec<Txn>> {
        let producer = self.producer.take();
        let begun = self.txns.len();
        tokio::task::spawn_blocking(move || match producer {
            Some(producer) => write(&producer, cycle, begun, round_pause, &stop),
            None => Vec::new(),
        })
    }

    pub fn record(&mut self, txns: Vec<Txn>) {
        self.txns.extend(txns);
    }

    /// Reads both partitions as a read_committed consumer and checks every transaction.
    /// Call after `initialise`, so that nothing is left open.
    pub fn verify(&self) -> Result<TxnReport, String> {
        no_transaction_left_open(&self.bootstrap)?;
        let read = read_committed(&self.bootstrap)?;
        let mut report = TxnReport::default();
        let mut sent = HashSet::new();
        for txn in &self.txns {
            let held = txn
                .values
                .iter()
                .filter(|(partition, value)| read.get(value) == Some(partition))
                .count();
            let whole = held == txn.values.len();
            match (txn.outcome, held) {
                (Outcome::Committed, _) if whole => report.committed += 1,
                (Outcome::Aborted, 0) => report.aborted += 1,
                (Outcome::InDoubt, 0) => report.in_doubt += 1,
                (Outcome::InDoubt, _) if whole => {
                    report.in_doubt += 1;
                    report.in_doubt_committed += 1;
                }
                (outcome, held) => {
                    return Err(format!(
                        "transaction {} ({outcome:?}): {held} of its {} records are read committed",
                        txn.id,
                        txn.values.len()
                    ))
                }
            }
            sent.extend(txn.values.iter().map(|(_, value)| value.as_str()));
        }
        if let Some(stray) = read.keys().find(|value| !sent.contains(value.as_str())) {
            return Err(format!("{stray} is read committed but was never sent"));
        }
        Ok(report)
    }
}

fn initialised_producer(
    mut config: rdkafka::ClientConfig,
) -> Result<ThreadedProducer<DefaultProducerContext>, String> {
    let producer: ThreadedProducer<DefaultProducerContext> = config
        .set("transactional.id", TRANSACTIONAL_ID)
        .set("transaction.timeout.ms", "20000")
        .set("linger.ms", "2")
        .set("reconnect.backoff.max.ms", "200")
        .create()
        .map_err(|error| error.to_string())?;
    let deadline = Instant::now() + INIT_DEADLINE;
    loop {
        match producer.init_transactions(CALL_TIMEOUT) {
            Ok(()) => return Ok(producer),
            // Retriable (the coordinator is loading, the old transaction is still ending).
            Err(KafkaError::Transaction(error)) if not_yet(&error) => {}
            Err(error) => return Err(format!("init_transactions: {error}")),
        }
        if Instant::now() > deadline {
            return Err(format!(
                "init_transactions kept failing for {INIT_DEADLINE:?}"
            ));
        }
    }
}

/// Transactions of a few records each, over both partitions, until `stop` or one that cannot
/// be ended (its outcome is then in doubt and the producer is left for the next initialise).
/// `begun` transactions came before these.
fn write(
    producer: &ThreadedProducer<DefaultProducerContext>,
    cycle: usize,
    begun: usize,
    round_pause: Duration,
    stop: &AtomicBool,
) -> Vec<Txn> {
    let mut txns = Vec::new();
    for n in 1.. {
        if stop.load(Ordering::Relaxed) || producer.begin_transaction().is_err() {
            break;
        }
        let id = format!("c{cycle}-t{n}");
        let mut txn = Txn {
            values: Vec::new(),
            outcome: Outcome::InDoubt,
            id,
        };
        let mut sent_all = true;
        for i in 0..1 + (cycle + n) % MAX_RECORDS {
            let partition = (i % PARTITIONS as usize) as i32;
            let value = format!("{}/{i}", txn.id);
            let record = BaseRecord::<str, str>::to(TOPIC)
                .partition(partition)
                .key(&txn.id)
                .payload(&value);
            if producer.send(record).is_err() {
                sent_all = false;
                break;
            }
            txn.values.push((partition, value));
        }
        let commit = sent_all && !(begun + n).is_multiple_of(ABORT_EVERY);
        let ended = if commit {
            producer.commit_transaction(CALL_TIMEOUT)
        } else {
            producer.abort_transaction(CALL_TIMEOUT)
        };
        txn.outcome = match (&ended, commit) {
            (Ok(()), true) => Outcome::Committed,
            (Ok(()), false) => Outcome::Aborted,
            (Err(_), _) => Outcome::InDoubt,
        };
        txns.push(txn);
        if ended.is_err() {
            break;
        }
        std::thread::sleep(round_pause);
    }
    txns
}

/// Fails if a partition's last stable offset is below its high watermark: with every
/// transaction ended, one would be hanging.
fn no_transaction_left_open(config: &rdkafka::ClientConfig) -> Result<(), String> {
    let ends = |isolation: &str| -> Result<Vec<i64>, String> {
        let consumer: BaseConsumer = config
            .clone()
            .set("isolation.level", isolation)
            .create()
            .map_err(|error| error.to_string())?;
        (0..PARTITIONS)
            .map(|partition| {
                consumer
                    .fetch_watermarks(TOPIC, partition, Duration::from_secs(30))
                    .map(|(_, high)| high)
                    .map_err(|error| format!("watermarks: {error}"))
            })
            .collect()
    };
    let stable = ends("read_committed")?;
    let high = ends("read_uncommitted")?;
    if stable != high {
        return Err(format!(
            "last stable offsets {stable:?} below the high watermarks {high:?} with no \
             transaction open"
        ));
    }
    Ok(())
}

/// Every value read committed, with its partition; fails on a value read twice.
fn read_committed(config: &rdkafka::ClientConfig) -> Result<BTreeMap<String, i32>, String> {
    let mut config = config.clone();
    config.set("isolation.level", "read_committed");
    let mut read = BTreeMap::new();
    for record in read_to_end(config, TOPIC, PARTITIONS)? {
        let value = String::from_utf8_lossy(&record.value).into_owned();
        if let Some(partition) = read.insert(value.clone(), record.partition) {
            return Err(format!(
                "{value} read twice (partitions {partition} and {})",
                record.partition
            ));
        }
    }
    Ok(read)
}

/// Whether InitProducerId's `error` only means "not yet": the coordinator is loading, or
/// the transaction it fences is still ending.
fn not_yet(error: &RDKafkaError) -> bool {
    error.is_retriable()
        || matches!(
            error.code(),
            RDKafkaErrorCode::CoordinatorLoadInProgress
                | RDKafkaErrorCode::ConcurrentTransactions
                | RDKafkaErrorCode::OperationTimedOut
        )
}
