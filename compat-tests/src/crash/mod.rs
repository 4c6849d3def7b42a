//! Crash testing: a mixed workload runs against a broker that is killed with SIGKILL at random
//! moments and restarted on the same data. Idempotent and plain acks=all producers write to a
//! topic, to one trimmed by retention (`retention.bytes`) and to a compacted one; a
//! transactional producer commits and aborts transactions (`transactions`); the members of a
//! consumer group consume the first topic and commit what they consumed (`members`), and a
//! group-less consumer commits an offset now and then.
//!
//! After every restart the harness checks that every acknowledged record is readable at its
//! acknowledged offset with the same key, value and headers (in the retained topic, at or
//! above its log start, which never goes back; in the compacted one, each key's newest
//! acknowledged record or a newer one, `compacted`), that no record of an idempotent producer
//! is stored twice, that offsets are unique and increasing, that every transaction is all or
//! nothing, that committed group offsets survived and never went back, and that every
//! segment's indexes agree with its batches (`spool dump-log --verify`). Some cycles also
//! append garbage to a segment before the restart and check that recovery truncates exactly
//! at the end of the last valid batch.
//!
//! `make test` runs a short form (tests/crash_recovery.rs); `make crash-test` the long form
//! (`spool-crash-test`, 100 cycles); `make soak` an hour of it.

mod compacted;
mod members;
mod transactions;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::SpawnedBroker;
pub use compacted::CompactedReport;
use members::Members;
pub use members::MembersReport;
use transactions::Transactions;
pub use transactions::TxnReport;

const TOPIC: &str = "crash";
/// Trimmed by retention to about two segments.
const RETAINED_TOPIC: &str = "crash-retained";
const SEGMENT_BYTES: i64 = 65_536;
const RETENTION_BYTES: i64 = 2 * SEGMENT_BYTES;
const GROUP: &str = "crash-group";
/// Producer deliveries still pending this long after a restart count as failed (not acked).
const DELIVERY_TIMEOUT_MS: &str = "15000";
/// Longest the verification of one cycle may take.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(120);
/// Records a producer enqueues before it waits for their acknowledgements.
const ROUND_RECORDS: usize = 20;

/// What a run does.
#[derive(Debug, Clone)]
pub struct CrashConfig {
    pub cycles: usize,
    /// Producers write for a random time up to this before the kill.
    pub max_run: Duration,
    pub partitions: i32,
    /// Half of them idempotent.
    pub producers: usize,
    /// Records per producer per cycle, at most (writes stop earlier, at the kill).
    pub records_per_cycle: usize,
    /// Pause between a producer's rounds of 20 records: keeps writes flowing for the whole
    /// cycle (10 ms: about 2000 records/s per producer at most) so the kill lands among writes
    /// in flight.
    pub round_pause: Duration,
    /// Every n-th cycle appends garbage to a segment before restarting.
    pub torn_tail_every: usize,
    pub seed: u64,
    /// A soak: no cycle starts once the run has lasted this long (`cycles` still bounds it).
    pub until: Option<Duration>,
}

/// What a run checked.
#[derive(Debug, Clone, Default)]
pub struct CrashReport {
    pub cycles: usize,
    pub acknowledged: usize,
    /// Acknowledged records found intact, summed over every verification.
    pub records_checked: usize,
    pub torn_tails_recovered: usize,
    pub segments_verified: usize,
    /// The broker's resident memory just before each kill, in MiB.
    pub rss_before_kill_mib: Vec<f64>,
    /// The retained topic's log start at the last check (retention moved it that far).
    pub retained_log_start: i64,
    pub compacted: CompactedReport,
    pub transactions: TxnReport,
    pub members: MembersReport,
}

/// A topic the idempotent and plain producers write to, and how each record is keyed.
#[derive(Clone, Copy)]
struct Stream {
    topic: &'static str,
    /// The key of producer `index`'s `i`-th record in `cycle`.
    key: fn(cycle: usize, index: usize, i: usize) -> String,
}

/// Keys unique to each record: `c{cycle}-p{index}-{i}`.
fn unique_key(cycle: usize, index: usize, i: usize) -> String {
    format!("c{cycle}-p{index}-{i}")
}

const MAIN: Stream = Stream {
    topic: TOPIC,
    key: unique_key,
};
const RETAINED: Stream = Stream {
    topic: RETAINED_TOPIC,
    key: unique_key,
};
const COMPACTED: Stream = Stream {
    topic: compacted::TOPIC,
    key: compacted::key,
};

/// A producer and what it writes.
#[derive(Clone)]
struct Writer {
    stream: Stream,
    index: usize,
    producer: FutureProducer,
}

/// One record read back.
#[derive(Debug, Clone)]
struct Stored {
    partition: i32,
    offset: i64,
    key: String,
    value: Vec<u8>,
}

/// One acknowledged record.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Acked {
    key: String,
    value: Vec<u8>,
    cycle: String,
}

/// Every acknowledgement so far, by (partition, offset), and any offset acknowledged for two
/// different records (which must never happen).
#[derive(Debug, Default)]
struct Ledger {
    acked: BTreeMap<(i32, i64), Acked>,
    conflicts: Vec<String>,
}

impl Ledger {
    fn record(&mut self, partition: i32, offset: i64, record: Acked) {
        if let Some(previous) = self.acked.insert((partition, offset), record.clone()) {
            if previous != record {
                self.conflicts.push(format!(
                    "partition {partition} offset {offset} acknowledged for {} and {}",
                    previous.key, record.key
                ));
            }
        }
    }

    /// The offset after the newest acknowledged record of `partition` (0 if none).
    fn next_offset(&self, partition: i32) -> i64 {
        self.acked
            .range((partition, 0)..(partition + 1, 0))
            .next_back()
            .map_or(0, |((_, offset), _)| offset + 1)
    }
}

/// Small deterministic generator (xorshift64*), so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}

/// Runs the crash cycles; the error says which check failed, with the seed and the data
/// directory (kept for inspection).
pub async fn run(config: &CrashConfig) -> Result<CrashReport, String> {
    let mut broker = SpawnedBroker::start(&format!(
        r#""num.partitions" = {}
"log.segment.bytes" = {SEGMENT_BYTES}
"log.index.interval.bytes" = 1024
"group.initial.rebalance.delay.ms" = 0
"log.retention.check.interval.ms" = 1000
"log.cleaner.backoff.ms" = 1000"#,
        config.partitions
    ));
    match run_cycles(config, &mut broker).await {
        Ok(report) => {
            broker.stop();
            Ok(report)
        }
        Err(error) => Err(format!(
            "{error} (seed {}; data kept in {})",
            config.seed,
            broker.keep_data().display()
        )),
    }
}

async fn run_cycles(
    config: &CrashConfig,
    broker: &mut SpawnedBroker,
) -> Result<CrashReport, String> {
    let mut rng = Rng(config.seed | 1);
    create_topics(broker, config.partitions).await?;
    let producer = |index: usize| -> FutureProducer {
        broker
            .client_config()
            .set("acks", "all")
            .set("enable.idempotence", idempotent(index).to_string())
            .set("linger.ms", "2")
            .set("message.timeout.ms", DELIVERY_TIMEOUT_MS)
            .set("reconnect.backoff.max.ms", "200")
            .create()
            .expect("producer")
    };
    // The main topic's producers, half idempotent; then one idempotent producer (index 0)
    // for each of the retained and the compacted topic.
    let writer = |stream, index| Writer {
        stream,
        index,
        producer: producer(index),
    };
    let writers: Vec<Writer> = (0..config.producers)
        .map(|index| writer(MAIN, index))
        .chain([writer(RETAINED, 0), writer(COMPACTED, 0)])
        .collect();
    let ledgers: HashMap<&str, Arc<Mutex<Ledger>>> = [MAIN, RETAINED, COMPACTED]
        .iter()
        .map(|stream| (stream.topic, Arc::default()))
        .collect();
    let mut transactions = Transactions::new(broker);
    transactions.initialise().await?;
    let mut members = Members::start(broker, TOPIC, config.partitions);
    let mut committed: Option<i64> = None;
    let mut report = CrashReport::default();
    let mut checked_from: HashMap<i32, i64> = HashMap::new();

    let started = Instant::now();
    for cycle in 0..config.cycles {
        if config.until.is_some_and(|until| started.elapsed() >= until) {
            break;
        }
        // Write for a while, commit a group offset, then kill the broker mid-flight.
        let run_for = Duration::from_millis(50 + rng.below(config.max_run.as_millis() as u64));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = writers
            .iter()
            .map(|writer| {
                write(
                    writer.clone(),
                    cycle,
                    config.records_per_cycle,
                    config.round_pause,
                    Arc::clone(&stop),
                    Arc::clone(&ledgers[writer.stream.topic]),
                )
            })
            .map(tokio::spawn)
            .collect();
        let txn_task = transactions.write(cycle, config.round_pause, Arc::clone(&stop));
        tokio::time::sleep(run_for / 2).await;
        let next = ledgers[TOPIC].lock().unwrap().next_offset(0);
        if next > 0 && commit(broker, next).is_ok() {
            committed = Some(next);
        }
        tokio::time::sleep(run_for / 2).await;
        if let Some(rss) = broker.pid().and_then(crate::bench::rss_mib) {
            report.rss_before_kill_mib.push(rss);
        }
        broker.kill();
        stop.store(true, Ordering::Relaxed);

        let torn = config.torn_tail_every > 0
            && cycle % config.torn_tail_every == config.torn_tail_every - 1;
        let torn_file = if torn {
            let partition = rng.below(config.partitions as u64) as i32;
            Some(tear_tail(broker.data_dir(), partition)?)
        } else {
            None
        };
        broker.restart();
        // Every delivery resolves (acked after the restart, or failed) before checking, and
        // every transaction is ended by a new producer's initialisation.
        for task in tasks {
            task.await
                .map_err(|error| format!("writer task: {error}"))?;
        }
        let txns = txn_task
            .await
            .map_err(|error| format!("transactional writer task: {error}"))?;
        transactions.record(txns);
        transactions.initialise().await?;
        if let Some((path, valid_prefix)) = torn_file {
            check_truncated_at(&path, &valid_prefix)?;
            report.torn_tails_recovered += 1;
        }

        // Every cycle checks what is new since the last check; every tenth, and the last,
        // re-reads everything.
        let last = cycle + 1 == config.cycles
            || config.until.is_some_and(|until| started.elapsed() >= until);
        let full = cycle % 10 == 9 || last;
        let (acked_now, conflicts, next_offsets) = {
            let ledger = ledgers[TOPIC].lock().unwrap();
            let next: HashMap<i32, i64> = (0..config.partitions)
                .map(|partition| (partition, ledger.next_offset(partition)))
                .collect();
            (ledger.acked.clone(), ledger.conflicts.clone(), next)
        };
        let from = if full { HashMap::new() } else { checked_from };
        let verified = verify_records(broker, TOPIC, config.partitions, &acked_now, &from)
            .map_err(|message| format!("cycle {cycle}: {message}; {conflicts:?}"))?;
        report.records_checked += verified;
        checked_from = next_offsets;
        let in_cycle = |message: String| format!("cycle {cycle}: {message}");
        for (topic, ledger) in &ledgers {
            if let Some(conflict) = ledger.lock().unwrap().conflicts.first() {
                return Err(in_cycle(format!("{topic}: {conflict}")));
            }
        }
        let retained = ledgers[RETAINED_TOPIC].lock().unwrap().acked.clone();
        let log_start = retained_log_start(broker)?;
        if log_start < report.retained_log_start {
            return Err(in_cycle(format!(
                "{RETAINED_TOPIC}'s log start went back from {} to {log_start}",
                report.retained_log_start
            )));
        }
        report.retained_log_start = log_start;
        report.records_checked +=
            verify_records(broker, RETAINED_TOPIC, 1, &retained, &HashMap::new())
                .map_err(in_cycle)?;
        let compacted = ledgers[compacted::TOPIC].lock().unwrap().acked.clone();
        report.compacted = compacted::verify(broker, &compacted).map_err(in_cycle)?;
        report.transactions = transactions.verify().map_err(in_cycle)?;
        report.members = members.verify().map_err(in_cycle)?;
        if let Some(offset) = committed {
            verify_commit(broker, offset).map_err(in_cycle)?;
        }
        report.segments_verified += verify_segments(broker.data_dir())?;
        report.cycles = cycle + 1;
        report.acknowledged = ledgers
            .values()
            .map(|ledger| ledger.lock().unwrap().acked.len())
            .sum();
    }
    Ok(report)
}

/// Creates the main topic with `partitions`, the retained and compacted topics with one
/// each, and the transactional producer's topic.
async fn create_topics(broker: &SpawnedBroker, partitions: i32) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> =
        broker.client_config().create().map_err(|e| e.to_string())?;
    let retention_bytes = RETENTION_BYTES.to_string();
    let topics = [
        NewTopic::new(TOPIC, partitions, TopicReplication::Fixed(1)),
        NewTopic::new(RETAINED_TOPIC, 1, TopicReplication::Fixed(1))
            .set("retention.bytes", &retention_bytes),
        NewTopic::new(compacted::TOPIC, 1, TopicReplication::Fixed(1))
            .set("cleanup.policy", "compact")
            .set("min.cleanable.dirty.ratio", "0.1"),
        NewTopic::new(
            transactions::TOPIC,
            transactions::PARTITIONS,
            TopicReplication::Fixed(1),
        ),
    ];
    let results = admin
        .create_topics(&topics, &AdminOptions::new())
        .await
        .map_err(|e| e.to_string())?;
    for result in results {
        result.map_err(|error| format!("create topic: {error:?}"))?;
    }
    Ok(())
}

/// The retained topic's log start (its low watermark).
fn retained_log_start(broker: &SpawnedBroker) -> Result<i64, String> {
    let consumer: BaseConsumer = broker.client_config().create().map_err(|e| e.to_string())?;
    consumer
        .fetch_watermarks(RETAINED_TOPIC, 0, Duration::from_secs(30))
        .map(|(low, _)| low)
        .map_err(|e| format!("watermarks: {e}"))
}

/// Writes up to `count` records in paced rounds until `stop`, then waits for every delivery
/// (acknowledged, possibly after the restart, or failed); records every acknowledgement.
async fn write(
    writer: Writer,
    cycle: usize,
    count: usize,
    round_pause: Duration,
    stop: Arc<AtomicBool>,
    ledger: Arc<Mutex<Ledger>>,
) {
    let Writer {
        stream,
        index,
        producer,
    } = writer;
    let mut pending = Vec::with_capacity(ROUND_RECORDS);
    let cycle_text = cycle.to_string();
    for i in 0..count {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let key = (stream.key)(cycle, index, i);
        let value = format!("{}:{}", unique_key(cycle, index, i), "v".repeat(i % 100)).into_bytes();
        let headers = OwnedHeaders::new().insert(Header {
            key: "cycle",
            value: Some(cycle_text.as_str()),
        });
        let record = FutureRecord::to(stream.topic)
            .key(&key)
            .payload(&value)
            .headers(headers);
        match producer.send_result(record) {
            Ok(delivery) => pending.push((key, value, delivery)),
            // The local queue is full or the producer is failing: stop this cycle's writes.
            Err(_) => break,
        }
        if pending.len() >= ROUND_RECORDS {
            if settle(&mut pending, &cycle_text, &ledger).await {
                break;
            }
            tokio::time::sleep(round_pause).await;
        }
    }
    settle(&mut pending, &cycle_text, &ledger).await;
}

/// Awaits every pending delivery; returns whether any failed.
async fn settle(
    pending: &mut Vec<(String, Vec<u8>, rdkafka::producer::DeliveryFuture)>,
    cycle: &str,
    ledger: &Mutex<Ledger>,
) -> bool {
    let mut failed = false;
    for (key, value, delivery) in pending.drain(..) {
        match delivery.await {
            Ok(Ok(delivery)) => ledger.lock().unwrap().record(
                delivery.partition,
                delivery.offset,
                Acked {
                    key,
                    value,
                    cycle: cycle.to_owned(),
                },
            ),
            _ => failed = true,
        }
    }
    failed
}

/// A consumer of the harness's group that commits only when told.
fn group_consumer(broker: &SpawnedBroker) -> Result<BaseConsumer, String> {
    broker
        .client_config()
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| e.to_string())
}

/// Commits `offset` for partition 0 synchronously (Ok once the broker acknowledged it).
fn commit(broker: &SpawnedBroker, offset: i64) -> Result<(), String> {
    let consumer = group_consumer(broker)?;
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(TOPIC, 0, Offset::Offset(offset))
        .map_err(|e| e.to_string())?;
    consumer
        .commit(&offsets, CommitMode::Sync)
        .map_err(|e| e.to_string())
}

/// The group's committed offset for partition 0 is at least the last acknowledged commit.
fn verify_commit(broker: &SpawnedBroker, expected: i64) -> Result<(), String> {
    let consumer = group_consumer(broker)?;
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition(TOPIC, 0);
    let committed = consumer
        .committed_offsets(wanted, Duration::from_secs(30))
        .map_err(|e| format!("committed offsets: {e}"))?;
    match committed
        .find_partition(TOPIC, 0)
        .map(|element| element.offset())
    {
        Some(Offset::Offset(offset)) if offset >= expected => Ok(()),
        other => Err(format!(
            "committed offset {other:?}, acknowledged commit was {expected}"
        )),
    }
}

/// Reads every partition of `topic` from `from` (default: its log start) to its high watermark
/// and checks the acknowledged records there; returns how many were checked. Records below
/// the log start (retention may move it during the read) are not checked.
fn verify_records(
    broker: &SpawnedBroker,
    topic: &str,
    partitions: i32,
    acked: &BTreeMap<(i32, i64), Acked>,
    from: &HashMap<i32, i64>,
) -> Result<usize, String> {
    let consumer: BaseConsumer = broker
        .client_config()
        .set("group.id", "crash-verifier")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "50")
        .create()
        .map_err(|e| e.to_string())?;
    let watermarks = |partition| {
        consumer
            .fetch_watermarks(topic, partition, Duration::from_secs(30))
            .map_err(|e| format!("watermarks: {e}"))
    };
    let mut assignment = TopicPartitionList::new();
    let mut ends = HashMap::new();
    let mut starts = HashMap::new();
    for partition in 0..partitions {
        let (log_start, high) = watermarks(partition)?;
        let start = from.get(&partition).copied().unwrap_or(0).max(log_start);
        starts.insert(partition, start);
        if start < high {
            assignment
                .add_partition_offset(topic, partition, Offset::Offset(start))
                .map_err(|e| e.to_string())?;
            ends.insert(partition, high);
        }
    }
    let mut stored: HashMap<(i32, i64), Acked> = HashMap::new();
    let mut last_offset: HashMap<i32, i64> = HashMap::new();
    if !ends.is_empty() {
        consumer.assign(&assignment).map_err(|e| e.to_string())?;
    }
    let deadline = Instant::now() + VERIFY_TIMEOUT;
    while !ends.is_empty() {
        if Instant::now() > deadline {
            return Err(format!("reading back timed out; partitions left {ends:?}"));
        }
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.map_err(|e| format!("consume: {e}"))?;
        let (partition, offset) = (message.partition(), message.offset());
        if let Some(previous) = last_offset.insert(partition, offset) {
            if offset <= previous {
                return Err(format!(
                    "partition {partition}: offset {offset} after {previous}"
                ));
            }
        }
        let cycle = message
            .headers()
            .and_then(|headers| headers.iter().find(|header| header.key == "cycle"))
            .and_then(|header| header.value)
            .map(|value| String::from_utf8_lossy(value).into_owned())
            .unwrap_or_default();
        stored.insert(
            (partition, offset),
            Acked {
                key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
                value: message.payload().unwrap_or_default().to_vec(),
                cycle,
            },
        );
        if ends.get(&partition).is_some_and(|&high| offset + 1 >= high) {
            ends.remove(&partition);
        }
    }
    duplicated_beyond_idempotence(&stored)?;
    let mut checked = 0;
    for (&(partition, offset), record) in acked {
        if offset < starts.get(&partition).copied().unwrap_or(0) {
            continue;
        }
        match stored.get(&(partition, offset)) {
            Some(found) if found == record => checked += 1,
            Some(found) => {
                return Err(format!(
                    "{topic} partition {partition} offset {offset}: acknowledged {record:?}, \
                     stored {found:?}"
                ))
            }
            // Retention removed it while the records were read.
            None if offset < watermarks(partition)?.0 => {}
            None => {
                return Err(format!(
                    "{topic} partition {partition} offset {offset}: acknowledged record {} is \
                     missing",
                    record.key
                ))
            }
        }
    }
    Ok(checked)
}

/// Every record of `topic`'s `partitions` from their log starts to their ends (the high
/// watermark, or the last stable offset when `config` reads committed), in offset order per
/// partition.
fn read_to_end(
    mut config: rdkafka::ClientConfig,
    topic: &str,
    partitions: i32,
) -> Result<Vec<Stored>, String> {
    let consumer: BaseConsumer = config
        .set("group.id", "crash-verifier")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "50")
        .create()
        .map_err(|e| e.to_string())?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .map_err(|e| e.to_string())?;
    }
    consumer.assign(&assignment).map_err(|e| e.to_string())?;
    let mut stored = Vec::new();
    let mut at_end = HashSet::new();
    let deadline = Instant::now() + VERIFY_TIMEOUT;
    while at_end.len() < partitions as usize {
        if Instant::now() > deadline {
            return Err(format!("reading {topic} back timed out"));
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                at_end.insert(partition);
            }
            Some(Err(error)) => return Err(format!("consume {topic}: {error}")),
            Some(Ok(message)) => stored.push(Stored {
                partition: message.partition(),
                offset: message.offset(),
                key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
                value: message.payload().unwrap_or_default().to_vec(),
            }),
        }
    }
    Ok(stored)
}

/// Whether producer `index` is idempotent: half of them are.
fn idempotent(index: usize) -> bool {
    index.is_multiple_of(2)
}

/// Fails if a record of an idempotent producer (keys `c{cycle}-p{index}-{i}`) is stored at
/// two offsets. Plain producers may store a record twice when a retry follows a
/// lost acknowledgement; idempotent ones never.
fn duplicated_beyond_idempotence(stored: &HashMap<(i32, i64), Acked>) -> Result<(), String> {
    let mut seen: HashMap<&str, (i32, i64)> = HashMap::new();
    for (&at, record) in stored {
        let idempotent = record
            .key
            .split('-')
            .nth(1)
            .and_then(|producer| producer.strip_prefix('p'))
            .and_then(|index| index.parse::<usize>().ok())
            .is_some_and(idempotent);
        if !idempotent {
            continue;
        }
        if let Some(first) = seen.insert(&record.key, at) {
            return Err(format!(
                "idempotent producer's record {} stored twice, at {first:?} and {at:?}",
                record.key
            ));
        }
    }
    Ok(())
}

fn topic_dirs(data_dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(data_dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| {
                    path.file_name().is_some_and(|name| {
                        name.to_string_lossy().starts_with(&format!("{TOPIC}-"))
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn segment_files(data_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = topic_dirs(data_dir)
        .iter()
        .flat_map(|dir| {
            std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
        })
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .collect();
    files.sort();
    files
}

/// `spool dump-log --verify` over every segment; returns how many were checked.
fn verify_segments(data_dir: &Path) -> Result<usize, String> {
    let files = segment_files(data_dir);
    for file in &files {
        spool::cli::dump_log::run(file, true).map_err(|report| {
            format!(
                "{}: {}",
                file.display(),
                report.lines().last().unwrap_or("")
            )
        })?;
    }
    Ok(files.len())
}

/// Appends garbage (a plausible batch header start, then junk) to the newest segment of
/// `partition`; returns the file and its valid prefix (what recovery must keep).
fn tear_tail(data_dir: &Path, partition: i32) -> Result<(PathBuf, Vec<u8>), String> {
    let dir = data_dir.join(format!("{TOPIC}-{partition}"));
    let newest = segment_files(data_dir)
        .into_iter()
        .rfind(|path| path.parent() == Some(dir.as_path()))
        .ok_or_else(|| format!("no segment in {}", dir.display()))?;
    let mut bytes = std::fs::read(&newest).map_err(|e| e.to_string())?;
    let valid = spool::cli::dump_log::valid_length(&bytes) as usize;
    let valid_prefix = bytes[..valid].to_vec();
    bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 1, 0]);
    bytes.extend_from_slice(&[0x5A; 100]);
    std::fs::write(&newest, bytes).map_err(|e| e.to_string())?;
    Ok((newest, valid_prefix))
}

/// After recovery (and any appends since), the file starts with exactly the valid prefix and
/// holds only valid batches: the garbage was cut where the last valid batch ended.
fn check_truncated_at(path: &Path, valid_prefix: &[u8]) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let valid = spool::cli::dump_log::valid_length(&bytes) as usize;
    if bytes.len() < valid_prefix.len() || bytes[..valid_prefix.len()] != *valid_prefix {
        return Err(format!(
            "recovery changed the valid prefix of {} ({} bytes)",
            path.display(),
            valid_prefix.len()
        ));
    }
    if valid != bytes.len() {
        return Err(format!(
            "{} still holds invalid bytes at {valid} after recovery (valid prefix {})",
            path.display(),
            valid_prefix.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(keys: &[(i64, &str)]) -> HashMap<(i32, i64), Acked> {
        keys.iter()
            .map(|&(offset, key)| {
                let record = Acked {
                    key: key.to_owned(),
                    value: Vec::new(),
                    cycle: "0".to_owned(),
                };
                ((0, offset), record)
            })
            .collect()
    }

    #[test]
    fn only_an_idempotent_producers_record_stored_twice_is_a_duplicate() {
        assert!(duplicated_beyond_idempotence(&stored(&[(0, "c0-p1-7"), (1, "c0-p1-7")])).is_ok());
        assert!(duplicated_beyond_idempotence(&stored(&[(0, "c0-p2-7"), (1, "c0-p2-8")])).is_ok());
        let twice = duplicated_beyond_idempotence(&stored(&[(0, "c0-p2-7"), (5, "c0-p2-7")]));
        assert!(twice.is_err_and(|error| error.contains("c0-p2-7")));
    }
}
