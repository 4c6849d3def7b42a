//! Deterministic simulation of the storage engine and the coordinators (issue 29): the
//! broker's `LogManager` and partitions, with its group and transaction coordinators, driven
//! by a seed through produce (idempotent, plain and transactional producers), transactional
//! offset commits, EndTxn and the coordinator's timer, acks=all flushes, DeleteRecords,
//! retention, compaction, clock jumps, process crashes, power cuts and failing fsyncs, on a
//! simulated disk (`disk.rs`) that keeps only what an fsync reached. After every step the
//! logs' offsets (and last stable offsets) are checked against a model of what was
//! acknowledged, and after every restart the whole log is read back:
//! - nothing acknowledged is lost: after a power cut every offset an acks=all flush covered
//!   is there, after a process crash or a clean shutdown every offset appended;
//! - nothing is invented or torn: every batch read back is, byte for byte, the one appended
//!   at that offset, and offsets are dense;
//! - no idempotent producer's batch is stored twice, however often it is retried;
//! - the log start never moves back below where DeleteRecords or retention put it;
//! - read_committed, every transaction is all or nothing, as asked and promised, and its
//!   group's committed offset with it (`txn.rs`); no transaction hangs.
//!
//! Everything runs on the test's thread (an fsync on tokio's blocking pool, awaited at once),
//! the clock is manual and the only randomness is the seed's, so a failing seed replays the
//! same run: `make simulate SEED=<seed> SEEDS=1 TRACE=1` prints each step of it.
//! `SPOOL_SIM_SEED` and `SPOOL_SIM_SEEDS` say which seeds run (1 to 200 by default).
//!
//! Replication and leader election across three brokers run in `replication.rs`, a test of
//! their own with the same seeds.

mod disk;
mod model;
mod replication;
mod rng;
mod txn;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use spool::clock::{Clock, ManualClock, SharedClock};
use spool::config::{BrokerConfig, Overrides};
use spool::group::offsets::CommittedOffset;
use spool::group::{GroupCoordinator, OFFSETS_TOPIC};
use spool::log::producer_state::ProducerError;
use spool::log::{LogConfig, LogError, LogManager, Partition, TimestampType};
use spool::producer_ids::ProducerIds;
use spool::records::BatchView;
use spool::txn::state::TxnStatus;
use spool::txn::{TxnCoordinator, TRANSACTION_TOPIC};
use uuid::Uuid;

use disk::SimDisk;
use model::{KeyValue, LogModel, Producer, Sent};
use rng::Rng;
use txn::{OpenTxn, TxnProducer, TxnRecord, Txns};

const DEFAULT_SEEDS: u64 = 200;
/// Seeds past the default range that once failed (long runs found them): a default run
/// runs them too.
const FOUND_SEEDS: &[u64] = &[
    1507,  // the checker: a transaction's offsets are not visible until its markers are.
    3145,  // recovery: an empty segment behind a clean shutdown left on a lying disk.
    7860,  // recovery: a recovery point a lying disk kept past the log it kept.
    8250,  // recovery: a producer snapshot that forgot aborts below a log start since lost.
    11920, // the checker: a log start inside a hole a lie left.
    13515, // recovery: a log starting again at its start behind a clean shutdown.
];
/// The first seeds of a run run twice: each must end the same way.
const REPLAYED_SEEDS: usize = 3;
const STEPS_PER_SEED: usize = 300;
/// Kafka's limit for idempotence: at most five batches in flight per producer.
const MAX_IN_FLIGHT: usize = 5;
/// Steps between reads of the whole logs (besides the one after each restart).
const FULL_CHECK_EVERY: usize = 25;
const IDEMPOTENT_PRODUCERS: usize = 3;
/// The idempotent producers' ids: far above those the broker hands out.
const IDEMPOTENT_IDS_FROM: i64 = 1 << 40;
const PLAIN_PRODUCERS: usize = 1;
const TXN_PRODUCERS: usize = 2;
/// The logs transactions write to (not the compacted one).
const TXN_LOGS: [usize; 2] = [0, 1];
/// The topic the transactional producers' groups consume (only their offsets exist).
const INPUT_TOPIC: &str = "input";
/// `transaction.timeout.ms` of the transactional producers: the clock's jumps pass it.
const TXN_TIMEOUT_MS: i32 = 60_000;
/// How many keys the records of the compacted log have.
const KEYS: u64 = 8;
/// The most bytes a disk that fills up still takes (a few batches, or part of one).
const DISK_ROOM_BYTES: u64 = 4096;
/// `log.cleaner.dedupe.buffer.size`, as a count of keys.
const DEDUPE_LIMIT: usize = 1024;

/// The logs of a run: one that rolls by size and time, one that retention trims, one that
/// compaction keeps the newest record of each key of.
fn log_configs() -> Vec<(&'static str, LogConfig)> {
    let base = LogConfig {
        segment_bytes: 2048,
        segment_ms: 60_000,
        index_interval_bytes: 256,
        max_message_bytes: 1_000_000,
        timestamp_type: TimestampType::CreateTime,
        flush_messages: u64::MAX,
        flush_ms: i64::MAX,
        retention_ms: -1,
        retention_bytes: -1,
        delete_enabled: true,
        compact_enabled: false,
        min_compaction_lag_ms: 0,
        min_insync_replicas: 1,
        delete_retention_ms: 86_400_000,
        min_cleanable_dirty_ratio: 0.5,
        compression: None,
    };
    let retained = LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 128,
        retention_bytes: 3072,
        ..base.clone()
    };
    let compacted = LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 128,
        delete_enabled: false,
        compact_enabled: true,
        delete_retention_ms: 60_000,
        min_cleanable_dirty_ratio: 0.1,
        ..base.clone()
    };
    vec![
        ("rolling", base),
        ("retained", retained),
        ("compacted", compacted),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// kill -9: the page cache survives.
    Process,
    /// The machine loses power: only what fsyncs reached survives.
    PowerCut,
    /// A clean shutdown, then the power goes: nothing may be lost.
    CleanThenPowerCut,
}

#[derive(Debug, Default)]
struct Stats {
    batches: u64,
    flushes: u64,
    retries_deduplicated: u64,
    producer_resets: u64,
    restarts: [u64; 3],
    failed_flushes: u64,
    records_compacted: u64,
    /// Power cuts at an fsync, in the middle of whatever operation made it.
    cuts_at_fsync: u64,
    /// Times the disk filled up, and restarts whose recovery found it full.
    disk_fills: u64,
    full_at_recovery: u64,
    /// Times the disk started lying, and the offsets its lying fsyncs had "acknowledged"
    /// that the power cut ending the lie took.
    lies: u64,
    lost_to_lies: u64,
    batches_lost_to_lies: u64,
    transactions: u64,
    commits: u64,
    aborts: u64,
    /// Offsets committed as part of a transaction (TxnOffsetCommit).
    offset_commits: u64,
    /// Transactions read back whole by read_committed reads, and read back aborted.
    read_committed: u64,
    read_aborted: u64,
    /// Transactional producers fenced by the coordinator's abort of their timed-out
    /// transaction.
    fenced: u64,
}

/// A lying disk's run, until the power cut that ends it.
struct Lie {
    /// Per log, its durable end when the lie began: the last the disk made durable.
    durable_ends: Vec<i64>,
    /// Per log, how far the lying fsyncs claimed to make it durable.
    claimed_ends: Vec<i64>,
}

/// The broker's storage and coordinators, as one process holds them.
struct Node {
    logs: Arc<LogManager>,
    groups: GroupCoordinator,
    txns: TxnCoordinator,
    producer_ids: ProducerIds,
}

struct Sim<'a> {
    seed: u64,
    step: usize,
    rng: Rng,
    disk: Arc<SimDisk>,
    clock: Arc<ManualClock>,
    runtime: &'a tokio::runtime::Runtime,
    /// `None` only while restarting.
    node: Option<Node>,
    logs: Vec<LogModel>,
    producers: Vec<Producer>,
    txn_producers: Vec<TxnProducer>,
    txns: Txns,
    /// The transactional id each producer id was handed to.
    producer_id_owners: BTreeMap<i64, String>,
    /// While the disk lies: what the checks may hold the logs to.
    lie: Option<Lie>,
    /// Whether the disk lied in this run.
    disk_lied: bool,
    stats: &'a mut Stats,
    trace: bool,
}

impl<'a> Sim<'a> {
    /// A run on `disk`, which must be intercepting the log's fsyncs already.
    fn new(
        seed: u64,
        disk: Arc<SimDisk>,
        runtime: &'a tokio::runtime::Runtime,
        stats: &'a mut Stats,
    ) -> Self {
        let mut rng = Rng::new(seed);
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        let logs: Vec<LogModel> = log_configs()
            .into_iter()
            .map(|(topic, config)| LogModel::new(topic, config))
            .collect();
        let producers = (0..IDEMPOTENT_PRODUCERS + PLAIN_PRODUCERS)
            .map(|at| {
                let id = (at < IDEMPOTENT_PRODUCERS).then_some(IDEMPOTENT_IDS_FROM + at as i64);
                Producer::new(id, rng.below(logs.len() as u64) as usize)
            })
            .collect();
        let node = open(&disk, &clock, &logs).expect("opening an empty data dir");
        let txn_producers = (0..TXN_PRODUCERS)
            .map(|at| TxnProducer::new(format!("txn-{at}"), format!("group-{at}")))
            .collect();
        Self {
            seed,
            step: 0,
            rng,
            disk,
            clock,
            runtime,
            node: Some(node),
            logs,
            producers,
            txn_producers,
            txns: Vec::new(),
            producer_id_owners: BTreeMap::new(),
            lie: None,
            disk_lied: false,
            stats,
            trace: std::env::var_os("SPOOL_SIM_TRACE").is_some(),
        }
    }

    fn fail(&self, what: String) -> ! {
        panic!(
            "seed {} step {}: {what}\n(replay: make simulate SEED={} SEEDS=1 TRACE=1)\nthe data \
             dir:\n{}",
            self.seed,
            self.step,
            self.seed,
            disk::describe(self.disk.root())
        )
    }

    fn note(&self, what: impl FnOnce() -> String) {
        if self.trace {
            eprintln!("[{} #{}] {}", self.seed, self.step, what());
        }
    }

    fn node(&self) -> &Node {
        match &self.node {
            Some(node) => node,
            None => self.fail("the node is not running".into()),
        }
    }

    fn partition(&self, log: usize) -> Arc<Partition> {
        match self.node().logs.partition(self.logs[log].topic, 0) {
            Some(partition) => partition,
            None => self.fail(format!("{} is not open", self.logs[log].topic)),
        }
    }

    /// Whether the disk fails fsyncs now, failed one since the last power cut, or refused a
    /// write for want of room since the last restart: then an operation may fail, and a
    /// partition may have gone offline.
    fn disk_trouble(&self) -> bool {
        self.disk.failing() || self.disk.sync_failed() || self.disk.refused_write()
    }

    /// Runs the seed's steps; returns what the run ended with, which a replay of the seed
    /// must end with too.
    fn run(&mut self) -> Vec<i64> {
        for step in 0..STEPS_PER_SEED {
            self.step = step;
            match self
                .rng
                .weighted(&[40, 12, 4, 3, 3, 3, 3, 2, 1, 3, 3, 16, 2, 2, 2, 1])
            {
                0 => self.produce(),
                1 => {
                    let log = self.rng.below(self.logs.len() as u64) as usize;
                    self.flush(log);
                }
                2 => self.tick(),
                3 => self.delete_records(),
                4 => self.retention(),
                5 => self.restart(Stop::Process),
                6 => self.restart(Stop::PowerCut),
                7 => self.restart(Stop::CleanThenPowerCut),
                8 => {
                    self.note(|| "the disk starts failing fsyncs".into());
                    self.disk.fail_syncs();
                }
                // Compaction rewrites what is durable: a lying disk can take the old
                // segment's name to the new one without its contents.
                9 if !self.disk.lying() => self.clean(),
                9 => {}
                10 => {
                    let passing = self.rng.below(8) as u32;
                    self.note(|| format!("the power goes at the fsync after the next {passing}"));
                    self.disk
                        .cut_power_at_sync(passing, Rng::new(self.rng.next_u64()));
                }
                // What a transaction coordinator promises on a lying disk may be lost
                // whole: none begins or ends until the lie is over.
                11 if !self.disk.lying() => self.transact(),
                12 if !self.disk.lying() => self.coordinator_timers(),
                11 | 12 => {}
                13 => {
                    let bytes = self.rng.below(DISK_ROOM_BYTES);
                    self.note(|| format!("the disk fills up after {bytes} bytes more"));
                    self.stats.disk_fills += 1;
                    self.disk.fill_after(bytes);
                }
                14 => {
                    self.note(|| "space is freed on the disk".into());
                    self.disk.free_space();
                }
                // A disk caught lying is replaced: it lies once per run at most (the holes a
                // lie leaves stay, and a second lie could take the recovery point that keeps
                // recovery from reading them as a crash's).
                _ if !self.disk_lied => {
                    self.disk_lied = true;
                    self.note(|| {
                        "the disk starts lying: fsyncs succeed, nothing is durable".into()
                    });
                    self.stats.lies += 1;
                    self.disk.lie();
                    self.lie = Some(Lie {
                        durable_ends: self.logs.iter().map(|log| log.durable_end).collect(),
                        claimed_ends: vec![0; self.logs.len()],
                    });
                }
                _ => {}
            }
            if self.disk.power_was_cut() {
                self.stats.cuts_at_fsync += 1;
                self.restart(Stop::PowerCut);
            }
            self.check_offsets();
            if step % FULL_CHECK_EVERY == FULL_CHECK_EVERY - 1 {
                self.check_logs();
            }
        }
        // The disk has room again at the end: whatever a full disk held up must finish.
        self.disk.free_space();
        self.restart(Stop::CleanThenPowerCut);
        self.check_every_transaction_ends();
        let ends = self.logs.iter().flat_map(|log| [log.log_start, log.end]);
        ends.chain([self.txns.len() as i64, self.rng.next_u64() as i64])
            .collect()
    }

    /// Once every transaction left open timed out, the coordinator aborted each: no log
    /// holds a transaction open (a hanging transaction would hold its LSO back forever).
    fn check_every_transaction_ends(&mut self) {
        self.clock.advance(i64::from(TXN_TIMEOUT_MS) + 1);
        self.coordinator_timers();
        for log in TXN_LOGS {
            let partition = self.partition(log);
            let (stable, end) = (partition.last_stable_offset(), partition.high_watermark());
            if stable != end {
                self.fail(format!(
                    "{}: a transaction hangs: the LSO stays at {stable}, the log ends at {end}",
                    self.logs[log].topic
                ));
            }
        }
        self.check_logs();
        for record in &self.txns {
            match record.seen {
                Some(true) => self.stats.read_committed += 1,
                Some(false) => self.stats.read_aborted += 1,
                None => {}
            }
        }
    }

    /// One new batch from a random producer.
    fn produce(&mut self) {
        let at = self.rng.below(self.producers.len() as u64) as usize;
        let log = self.producers[at].log;
        if self.producers[at].retrying && !self.retry_producer(at) {
            return;
        }
        if self.producers[at].unacked.len() == MAX_IN_FLIGHT {
            self.flush(log);
            if self.producers[at].unacked.len() == MAX_IN_FLIGHT {
                return;
            }
        }
        let records = self.new_records(log);
        let producer = &self.producers[at];
        let id = producer.id;
        let mut sent = Sent {
            records,
            timestamp: self.clock.now_ms(),
            epoch: producer.epoch,
            sequence: producer.next_sequence,
            txn: None,
        };
        let mut appended = self.append(log, &sent, id);
        if let (Appended::UnknownProducer, Some(id)) = (&appended, id) {
            if self.logs[log].holds_batches_of(id) {
                self.fail(format!(
                    "the log forgot producer {id}, whose batches it holds"
                ));
            }
            // DeleteRecords or retention took every batch of the producer, and with them
            // its state.
            self.reset_producer(at);
            (sent.epoch, sent.sequence) = (self.producers[at].epoch, 0);
            appended = self.append(log, &sent, Some(id));
        }
        match appended {
            Appended::New => {
                let producer = &mut self.producers[at];
                if producer.id.is_some() {
                    producer.next_sequence += sent.records.len() as i32;
                    producer.unacked.push(sent);
                }
            }
            Appended::Refused => {}
            Appended::Duplicate | Appended::UnknownProducer | Appended::TooOld => {
                self.fail("a new batch was not appended as one".into())
            }
        }
    }

    /// One to three new records for `log` (keyed, some tombstones, on the compacted log),
    /// each value unique.
    fn new_records(&mut self, log: usize) -> Vec<KeyValue> {
        let count = self.rng.between(1, 4);
        let keyed = self.logs[log].config.compact_enabled;
        (0..count)
            .map(|record| {
                let key = keyed.then(|| Bytes::from(format!("key-{}", self.rng.below(KEYS))));
                if keyed && self.rng.one_in(10) {
                    return (key, None);
                }
                let padding = self.rng.below(300) as usize;
                let mut value = format!("{}/{}/{record}/", self.seed, self.step).into_bytes();
                value.extend((0..padding).map(|byte| (byte % 251) as u8));
                (key, Some(Bytes::from(value)))
            })
            .collect()
    }

    /// Appends `sent` to `log` and checks where it landed against the model.
    fn append(&mut self, log: usize, sent: &Sent, producer: Option<i64>) -> Appended {
        let partition = self.partition(log);
        let batch = sent.encode(producer);
        let view = BatchView::parse(&batch).expect("the simulation's own batch");
        match partition.append(&view) {
            Ok(info) if info.base_offset == self.logs[log].end => {
                self.note(|| {
                    format!(
                        "{} appended {}..={} (producer {producer:?}, sequence {})",
                        self.logs[log].topic, info.base_offset, info.last_offset, sent.sequence
                    )
                });
                let appended =
                    self.logs[log].appended(info.base_offset, &view, &sent.records, sent.txn);
                if let Err(problem) = appended {
                    self.fail(problem);
                }
                self.stats.batches += 1;
                Appended::New
            }
            Ok(info) => match (producer, self.logs[log].batches.get(&info.base_offset)) {
                (Some(id), Some(stored))
                    if stored.producer == Some((id, sent.epoch, sent.sequence)) =>
                {
                    self.stats.retries_deduplicated += 1;
                    Appended::Duplicate
                }
                _ => self.fail(format!(
                    "{}: a batch of producer {producer:?} (sequence {}) was answered with \
                     offset {} while the log ends at {}",
                    self.logs[log].topic, sent.sequence, info.base_offset, self.logs[log].end
                )),
            },
            // Refused for want of room only while the disk is full; offline only after a
            // failed fsync or a refused write.
            Err(LogError::Io(_)) if self.disk.sync_failed() || self.disk.full() => {
                Appended::Refused
            }
            Err(LogError::Offline) if self.disk_trouble() => Appended::Refused,
            Err(LogError::Producer(ProducerError::UnknownProducer { .. })) => {
                Appended::UnknownProducer
            }
            Err(LogError::Producer(ProducerError::OutOfOrderSequence { last, .. }))
                if last > sent.sequence =>
            {
                Appended::TooOld
            }
            Err(error) => self.fail(format!("append to {}: {error}", self.logs[log].topic)),
        }
    }

    /// An acks=all acknowledgement: fsyncs `log` up to its end.
    fn flush(&mut self, log: usize) {
        let partition = self.partition(log);
        let target = partition.log_end_offset();
        match self.runtime.block_on(partition.flush(target)) {
            // The client takes it as an acknowledgement; the checks cannot hold the log to it.
            Ok(()) if self.disk.lying() => {
                self.note(|| format!("{} \"flushed\" to {target}", self.logs[log].topic));
                if let Some(lie) = self.lie.as_mut() {
                    lie.claimed_ends[log] = target;
                }
            }
            Ok(()) => {
                self.note(|| format!("{} flushed to {target}", self.logs[log].topic));
                self.logs[log].durable_end = target;
                // A producer whose retry was refused has batches the log does not hold yet.
                let acked = self
                    .producers
                    .iter_mut()
                    .filter(|p| p.log == log && !p.retrying);
                for producer in acked {
                    producer.unacked.clear();
                }
                let open_txns = self
                    .txn_producers
                    .iter_mut()
                    .filter_map(|p| p.open.as_mut());
                for open in open_txns {
                    open.unacked.retain(|(sent_to, _)| *sent_to != log);
                }
                self.stats.flushes += 1;
            }
            Err(_) if self.disk_trouble() => self.stats.failed_flushes += 1,
            Err(error) => self.fail(format!("flush of {}: {error}", self.logs[log].topic)),
        }
    }

    fn tick(&mut self) {
        let ms = match self.rng.one_in(10) {
            true => 86_400_000,
            false => self.rng.below(30_000) as i64,
        };
        self.note(|| format!("the clock moves {ms} ms"));
        self.clock.advance(ms);
    }

    /// One compaction pass over every log (only the compacted one has anything to do).
    fn clean(&mut self) {
        for log in 0..self.logs.len() {
            let cleaned = self.partition(log).clean(DEDUPE_LIMIT);
            // The cleaner makes what it works on durable first (also when it fails after).
            let durable = self.partition(log).durable_offset();
            let model = &mut self.logs[log];
            model.durable_end = model.durable_end.max(durable);
            match cleaned {
                Ok(report) => {
                    self.stats.records_compacted += report.records_removed;
                    self.note(|| {
                        format!(
                            "{}: compaction rewrote {} segments, removed {} records",
                            self.logs[log].topic, report.segments, report.records_removed
                        )
                    });
                }
                Err(error) if self.disk_trouble() => {
                    self.note(|| format!("{}: compaction failed: {error}", self.logs[log].topic))
                }
                Err(error) => self.fail(format!("compaction of {}: {error}", self.logs[log].topic)),
            }
        }
    }

    /// DeleteRecords, on a log whose cleanup policy has `delete` (Kafka refuses it on
    /// compact-only topics).
    fn delete_records(&mut self) {
        let log = self.rng.below(self.logs.len() as u64) as usize;
        if !self.logs[log].config.delete_enabled {
            return;
        }
        let partition = self.partition(log);
        let start = partition.log_start_offset() as u64;
        let offset = self.rng.between(start, partition.high_watermark() as u64) as i64;
        match partition.delete_records_before(offset) {
            Ok(new_start) if new_start == offset.max(start as i64) => {
                self.note(|| format!("{} starts at {new_start}", self.logs[log].topic));
                self.logs[log].log_start = new_start;
            }
            Ok(new_start) => self.fail(format!(
                "DeleteRecords before {offset} moved the log start to {new_start}"
            )),
            Err(_) if self.disk_trouble() => {}
            Err(error) => self.fail(format!("DeleteRecords: {error}")),
        }
    }

    fn retention(&mut self) {
        let log = self.rng.below(self.logs.len() as u64) as usize;
        let partition = self.partition(log);
        match partition.apply_retention() {
            Ok(deleted) => {
                let start = partition.log_start_offset();
                self.note(|| {
                    format!(
                        "{}: retention deleted {deleted} segments, starts at {start}",
                        self.logs[log].topic
                    )
                });
                self.logs[log].log_start = start;
            }
            Err(_) if self.disk_trouble() => {}
            Err(error) => self.fail(format!("retention: {error}")),
        }
    }

    fn restart(&mut self, stop: Stop) {
        let stopping = self.node.take();
        let mut stop = stop;
        if let (Stop::CleanThenPowerCut, Some(node)) = (stop, &stopping) {
            match node.logs.shutdown() {
                Ok(()) => {}
                Err(error) if self.disk_trouble() => {
                    self.note(|| format!("the clean shutdown failed: {error}"))
                }
                Err(error) => self.fail(format!("clean shutdown: {error}")),
            }
        }
        drop(stopping);
        // The disk comes back with the restart, which finds only what the disk kept.
        if self.disk.failing() || self.disk.lying() {
            stop = Stop::PowerCut;
        }
        self.note(|| format!("restart after {stop:?}"));
        let mut cut_power = stop != Stop::Process;
        loop {
            if cut_power {
                if let Err(error) = self.disk.power_cut(&mut self.rng) {
                    self.fail(format!("power cut: {error}"));
                }
            }
            match open(&self.disk, &self.clock, &self.logs) {
                Ok(node) => break self.node = Some(node),
                // The power went during recovery: only what the disk kept counts.
                Err(_) if self.disk.power_was_cut() => {
                    (stop, cut_power) = (Stop::PowerCut, true);
                    self.stats.cuts_at_fsync += 1;
                    self.note(|| "the power went during recovery".into());
                }
                // Recovery found no room for what it writes: it starts again once space
                // is freed.
                Err(error) if self.disk.full() => {
                    cut_power = false;
                    self.stats.full_at_recovery += 1;
                    self.note(|| {
                        format!("recovery failed on a full disk ({error}); space is freed")
                    });
                    self.disk.free_space();
                }
                Err(error) => self.fail(format!("reopening after {stop:?}: {error}")),
            }
        }
        self.disk.forget_refused_writes();
        self.stats.restarts[stop as usize] += 1;
        if let Some(lie) = self.lie.take() {
            self.after_lie(&lie);
        }
        for log in 0..self.logs.len() {
            self.check_recovered(log, stop);
        }
        // The coordinator's timer runs at start: prepared transactions are completed.
        self.coordinator_timers();
        self.retry_unacknowledged();
        for at in 0..self.txn_producers.len() {
            self.retry_transactional(at);
        }
        self.check_transactions();
    }

    /// The power cut ending a lie took what the disk claimed to hold since it began: the
    /// model forgets the batches lost (holes included), and the idempotent producers give up
    /// on what they had in flight and start a new epoch, as clients whose batches were
    /// refused as out of order. The log start may have gone back: a checkpoint replaced
    /// while the disk lied is lost, the old one with it, and segments deleted since come
    /// back.
    fn after_lie(&mut self, lie: &Lie) {
        for (log, &claimed) in lie.claimed_ends.iter().enumerate() {
            let partition = self.partition(log);
            let model = &mut self.logs[log];
            // Nothing the lying disk took since the lie began may have been on it.
            model.durable_end = model.durable_end.min(lie.durable_ends[log]);
            model.log_start = model.log_start.min(partition.log_start_offset());
            let must_hold = self.logs[log].durable_end;
            match self.logs[log].forget_lost(&partition, must_hold) {
                Ok(lost) => self.stats.batches_lost_to_lies += lost as u64,
                Err(problem) => self.fail(problem),
            }
            let end = partition.log_end_offset();
            self.stats.lost_to_lies += (claimed - end).max(0) as u64;
        }
        for at in 0..self.producers.len() {
            if self.producers[at].id.is_some() {
                self.producers[at].unacked.clear();
                self.producers[at].retrying = false;
                self.reset_producer(at);
            }
        }
    }

    /// Reads the whole log back after a restart and checks it against the model.
    fn check_recovered(&mut self, log: usize, stop: Stop) {
        let partition = self.partition(log);
        let must_hold = match stop {
            Stop::PowerCut => self.logs[log].durable_end,
            Stop::Process | Stop::CleanThenPowerCut => self.logs[log].end,
        };
        let end = partition.log_end_offset();
        // (A hole a lying disk left at the end counts as lost already.)
        if end < must_hold && !self.logs[log].lost(end, must_hold) {
            self.fail(format!(
                "{} lost acknowledged records: it ends at {end} after {stop:?}, acknowledged \
                 up to {must_hold}",
                self.logs[log].topic
            ));
        }
        if let Err(problem) = self.logs[log].check_log(&partition, must_hold) {
            self.fail(format!("after {stop:?}: {problem}"));
        }
        self.note(|| format!("{} recovered to {end}", self.logs[log].topic));
        if let Err(problem) = self.logs[log].recovered(&partition, must_hold) {
            self.fail(problem);
        }
    }

    /// Idempotent producers send again what was not acknowledged, in order, as a client
    /// does after its connection broke.
    fn retry_unacknowledged(&mut self) {
        for at in 0..self.producers.len() {
            self.retry_producer(at);
        }
    }

    /// Sends producer `at`'s unacknowledged batches again, in order. Returns whether the log
    /// took them all: the disk may refuse one, and then the producer tries again before it
    /// sends anything new, as a client retries a batch refused with KAFKA_STORAGE_ERROR.
    fn retry_producer(&mut self, at: usize) -> bool {
        let (log, id) = (self.producers[at].log, self.producers[at].id);
        let Some(id) = id else { return true };
        let mut unacked = std::mem::take(&mut self.producers[at].unacked);
        let mut next = 0;
        while next < unacked.len() {
            let batch = (id, unacked[next].epoch, unacked[next].sequence);
            if self.logs[log].deleted(batch) {
                // DeleteRecords or retention removed it before it was acknowledged: the
                // log could only refuse its sequence as too old.
                unacked.remove(next);
                continue;
            }
            match self.append(log, &unacked[next], Some(id)) {
                Appended::New | Appended::Duplicate => next += 1,
                // The log lost every batch of the producer, and with them its state.
                Appended::UnknownProducer if !self.logs[log].holds_batches_of(id) => {
                    self.producers[at].unacked = std::mem::take(&mut unacked);
                    self.reset_producer(at);
                    unacked = std::mem::take(&mut self.producers[at].unacked);
                }
                // Compaction removed it (every record superseded) after it was appended,
                // and the producer's state was rebuilt without it: refused as older than
                // the producer's last batch, as Kafka does.
                Appended::TooOld if self.logs[log].appended_batch(batch) => {
                    unacked.remove(next);
                }
                Appended::Refused if self.disk_trouble() => {
                    let producer = &mut self.producers[at];
                    (producer.unacked, producer.retrying) = (unacked, true);
                    return false;
                }
                Appended::UnknownProducer | Appended::Refused | Appended::TooOld => {
                    self.fail(format!(
                        "producer {id}'s retry of sequence {} was refused",
                        unacked[next].sequence
                    ))
                }
            }
        }
        let producer = &mut self.producers[at];
        (producer.unacked, producer.retrying) = (unacked, false);
        true
    }

    /// The log knows nothing of a producer whose sequence is past 0: as a client does
    /// (KIP-360), the producer bumps its epoch and numbers what it has to send from 0.
    fn reset_producer(&mut self, at: usize) {
        let producer = &mut self.producers[at];
        let (model, id) = (&self.logs[producer.log], producer.id.unwrap_or(-1));
        producer
            .unacked
            .retain(|sent| !model.deleted((id, sent.epoch, sent.sequence)));
        producer.epoch += 1;
        producer.next_sequence = 0;
        for sent in &mut producer.unacked {
            sent.epoch = producer.epoch;
            sent.sequence = producer.next_sequence;
            producer.next_sequence += sent.records.len() as i32;
        }
        self.stats.producer_resets += 1;
    }

    /// A step of a random transactional producer: InitProducerId while it has no producer
    /// id, then transactions of a few batches over the transactional logs, mostly committed.
    fn transact(&mut self) {
        let at = self.rng.below(self.txn_producers.len() as u64) as usize;
        let Some((producer_id, epoch)) = self.txn_producers[at].id else {
            return self.init_transactions(at);
        };
        let producer = &mut self.txn_producers[at];
        if producer.open.is_none() {
            // beginTransaction: nothing reaches the broker until the first partition is added.
            self.txns.push(TxnRecord {
                transactional_id: producer.transactional_id.clone(),
                producer_id,
                epoch,
                asked: None,
                promised: None,
                seen: None,
                input_offset: None,
            });
            producer.open = Some(OpenTxn {
                txn: self.txns.len() - 1,
                logs: BTreeSet::new(),
                offsets_added: false,
                unacked: Vec::new(),
            });
            self.stats.transactions += 1;
        }
        match self.rng.weighted(&[6, 1, 2, 1]) {
            0 => self.send_in_transaction(at),
            1 => self.commit_input_offset(at),
            choice => self.end_transaction(at, choice == 2),
        }
    }

    /// InitProducerId: a new producer id, or the next epoch of the producer's (which ends
    /// its transaction left open).
    fn init_transactions(&mut self, at: usize) {
        let transactional_id = self.txn_producers[at].transactional_id.clone();
        let node = self.node();
        let answer = self.runtime.block_on(node.txns.init_producer_id(
            &transactional_id,
            TXN_TIMEOUT_MS,
            &node.producer_ids,
            &node.groups,
        ));
        self.adopt_markers();
        match answer {
            Ok((producer_id, epoch)) => {
                self.note(|| {
                    format!("{transactional_id} is producer {producer_id} at epoch {epoch}")
                });
                let owner = self
                    .producer_id_owners
                    .entry(producer_id)
                    .or_insert_with(|| transactional_id.clone());
                if *owner != transactional_id {
                    let owner = owner.clone();
                    self.fail(format!(
                        "producer id {producer_id} was handed to {owner} and {transactional_id}"
                    ));
                }
                self.txn_producers[at].initialized(Some((producer_id, epoch)));
            }
            Err(_) if self.disk_trouble() => {}
            Err(error) => self.fail(format!("InitProducerId of {transactional_id}: {error:?}")),
        }
    }

    /// A batch of the open transaction to a random transactional log (added to the
    /// transaction first), checked by the coordinator as Produce does.
    fn send_in_transaction(&mut self, at: usize) {
        let log = TXN_LOGS[self.rng.below(TXN_LOGS.len() as u64) as usize];
        let in_flight = |sim: &Self| {
            let open = sim.txn_producers[at].open.as_ref();
            open.map_or(0, |open| {
                open.unacked.iter().filter(|(to, _)| *to == log).count()
            })
        };
        if in_flight(self) == MAX_IN_FLIGHT {
            self.flush(log);
            if in_flight(self) == MAX_IN_FLIGHT {
                return;
            }
        }
        let producer = &self.txn_producers[at];
        let (Some((producer_id, epoch)), Some(open)) = (producer.id, &producer.open) else {
            return;
        };
        let topic = self.logs[log].topic;
        if !open.logs.contains(&log) {
            let node = self.node();
            let added = self.runtime.block_on(node.txns.add_partitions(
                &producer.transactional_id,
                producer_id,
                epoch,
                &[(topic.to_owned(), 0)],
                false,
            ));
            if let Err(error) = added {
                return self.transaction_refused(at, error, "AddPartitionsToTxn");
            }
            if let Some(open) = self.txn_producers[at].open.as_mut() {
                open.logs.insert(log);
            }
        }
        let records = self.new_records(log);
        let producer = &self.txn_producers[at];
        let Some(open) = &producer.open else { return };
        let sent = Sent {
            records,
            timestamp: self.clock.now_ms(),
            epoch,
            sequence: producer.sequences.get(&log).copied().unwrap_or(0),
            txn: Some(open.txn),
        };
        self.send_transactional(at, log, sent, false);
    }

    /// TxnOffsetCommit of the producer's next input offset for its group, the group's
    /// offsets partition added to the transaction first (AddOffsetsToTxn).
    fn commit_input_offset(&mut self, at: usize) {
        let node = self.node();
        let producer = &self.txn_producers[at];
        let (Some((producer_id, epoch)), Some(open)) = (producer.id, &producer.open) else {
            return;
        };
        let (txn, group_id) = (open.txn, producer.group_id.clone());
        let offsets = node.txns.offsets_partition(&group_id, &node.groups);
        if !open.offsets_added {
            let added = self.runtime.block_on(node.txns.add_partitions(
                &producer.transactional_id,
                producer_id,
                epoch,
                std::slice::from_ref(&offsets),
                false,
            ));
            if let Err(error) = added {
                return self.transaction_refused(at, error, "AddOffsetsToTxn");
            }
            if let Some(open) = self.txn_producers[at].open.as_mut() {
                open.offsets_added = true;
            }
        }
        let node = self.node();
        let checked = node
            .txns
            .check_write(producer_id, epoch, &offsets.0, offsets.1);
        if let Err(error) = checked {
            return self.transaction_refused(at, error, "TxnOffsetCommit");
        }
        let offset = self.txn_producers[at].next_input;
        self.txn_producers[at].next_input += 1;
        let committed = CommittedOffset {
            offset,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: self.clock.now_ms(),
        };
        let entries = vec![((INPUT_TOPIC.to_owned(), 0), Some(committed))];
        let node = self.node();
        let written = self.runtime.block_on(node.groups.commit_transactional(
            &group_id,
            producer_id,
            epoch,
            entries,
        ));
        match written {
            Ok(()) => {
                self.note(|| format!("transaction {txn} commits {group_id}'s offset {offset}"));
                self.txns[txn].input_offset = Some(offset);
                self.stats.offset_commits += 1;
            }
            Err(_) if self.disk_trouble() => {
                self.abandon_transaction(at);
            }
            Err(error) => self.fail(format!("TxnOffsetCommit of {group_id}: {error}")),
        }
    }

    /// Sends `sent` (a batch of the producer's open transaction) to `log` as Produce does:
    /// checked by the transaction coordinator, then appended (a `retry` may find it there
    /// already). False if the transaction cannot go on.
    fn send_transactional(&mut self, at: usize, log: usize, sent: Sent, retry: bool) -> bool {
        let Some((producer_id, epoch)) = self.txn_producers[at].id else {
            return false;
        };
        let topic = self.logs[log].topic;
        if let Err(error) = self.node().txns.check_write(producer_id, epoch, topic, 0) {
            self.transaction_refused(at, error, "Produce");
            return false;
        }
        match self.append(log, &sent, Some(producer_id)) {
            Appended::New => {
                let producer = &mut self.txn_producers[at];
                let next = sent.sequence + sent.records.len() as i32;
                producer.sequences.insert(log, next);
                if let Some(open) = producer.open.as_mut() {
                    open.unacked.push((log, sent));
                }
                true
            }
            Appended::Duplicate if retry => {
                if let Some(open) = self.txn_producers[at].open.as_mut() {
                    open.unacked.push((log, sent));
                }
                true
            }
            // The disk failed (the client aborts), or DeleteRecords or retention took every
            // batch of the producer and with them its state (the client aborts and bumps its
            // epoch, KIP-360): both start over with InitProducerId.
            Appended::Refused => self.abandon_transaction(at),
            Appended::UnknownProducer if !self.logs[log].holds_batches_of(producer_id) => {
                self.abandon_transaction(at)
            }
            Appended::UnknownProducer | Appended::TooOld | Appended::Duplicate => {
                self.fail(format!(
                    "{topic}: producer {producer_id}'s batch (sequence {}) of its transaction \
                     was not appended as one",
                    sent.sequence
                ))
            }
        }
    }

    /// The producer drops its transaction unanswered and starts over with InitProducerId,
    /// which aborts it.
    fn abandon_transaction(&mut self, at: usize) -> bool {
        self.note(|| {
            let producer = &self.txn_producers[at];
            format!("{} abandons its transaction", producer.transactional_id)
        });
        self.txn_producers[at].initialized(None);
        false
    }

    /// The coordinator refused a request of the producer's transaction.
    fn transaction_refused(&mut self, at: usize, error: ResponseError, request: &str) {
        match error {
            // The coordinator aborted the transaction (it timed out) with a newer epoch.
            ResponseError::ProducerFenced | ResponseError::InvalidProducerEpoch => {
                if let Some(open) = &self.txn_producers[at].open {
                    self.txns[open.txn].promised = Some(false);
                }
                self.note(|| format!("{} is fenced", self.txn_producers[at].transactional_id));
                self.txn_producers[at].initialized(None);
                self.stats.fenced += 1;
            }
            _ if self.disk_trouble() => {
                self.abandon_transaction(at);
            }
            error => self.fail(format!(
                "{request} of {}: {error:?}",
                self.txn_producers[at].transactional_id
            )),
        }
    }

    /// EndTxn, once every batch of the transaction is acknowledged (acks=all: the client
    /// waits for its produce requests first). When one is not, the transaction aborts
    /// instead of committing, and the producer starts over with a new epoch after it (its
    /// sequences are in doubt), as Kafka's client does.
    fn end_transaction(&mut self, at: usize, commit: bool) {
        let Some(open) = &self.txn_producers[at].open else {
            return;
        };
        let (txn, logs, offsets_added) = (open.txn, open.logs.clone(), open.offsets_added);
        for &log in &logs {
            self.flush(log);
        }
        let acknowledged = self.txn_producers[at]
            .open
            .as_ref()
            .is_some_and(|open| open.unacked.is_empty());
        let commit = commit && acknowledged;
        let producer = &self.txn_producers[at];
        let Some((producer_id, epoch)) = producer.id else {
            return;
        };
        self.txns[txn].asked = Some(commit);
        if logs.is_empty() && !offsets_added {
            // Nothing was added to it: the client ends it on its own.
            self.txn_producers[at].open = None;
            return;
        }
        let node = self.node();
        let ended = self.runtime.block_on(node.txns.end_txn(
            &producer.transactional_id,
            producer_id,
            epoch,
            commit,
            &node.groups,
        ));
        self.adopt_markers();
        match ended {
            Ok(()) => {
                self.note(|| format!("transaction {txn} ended, commit: {commit}"));
                self.txns[txn].promised = Some(commit);
                self.txn_producers[at].open = None;
                if !acknowledged {
                    self.txn_producers[at].initialized(None);
                }
                match commit {
                    true => self.stats.commits += 1,
                    false => self.stats.aborts += 1,
                }
            }
            Err(error) => self.transaction_refused(at, error, "EndTxn"),
        }
    }

    /// The transaction coordinator's timer: completes prepared transactions, aborts those
    /// open past their timeout.
    fn coordinator_timers(&mut self) {
        let node = self.node();
        self.runtime
            .block_on(node.txns.complete_and_expire(&node.groups));
        self.adopt_markers();
    }

    /// Takes the markers the coordinator wrote into the model.
    fn adopt_markers(&mut self) {
        for log in TXN_LOGS {
            let partition = self.partition(log);
            if let Err(problem) = self.logs[log].adopt_markers(&partition) {
                self.fail(problem);
            }
        }
    }

    /// After a restart, a transactional producer sends again what was not acknowledged, in
    /// order.
    fn retry_transactional(&mut self, at: usize) {
        let Some(open) = self.txn_producers[at].open.as_mut() else {
            return;
        };
        let unacked = std::mem::take(&mut open.unacked);
        let Some((producer_id, _)) = self.txn_producers[at].id else {
            return;
        };
        for (log, sent) in unacked {
            if self.logs[log].deleted((producer_id, sent.epoch, sent.sequence)) {
                continue;
            }
            if !self.send_transactional(at, log, sent, true) {
                return;
            }
        }
    }

    /// Reads every log back whole, and as read_committed consumers.
    fn check_logs(&mut self) {
        for (at, model) in self.logs.iter().enumerate() {
            if let Err(problem) = model.check_log(&self.partition(at), model.end) {
                self.fail(problem);
            }
        }
        self.check_transactions();
    }

    /// Reads the transactions' logs as read_committed consumers, and their groups' committed
    /// offsets: each transaction all or nothing, as asked and promised.
    fn check_transactions(&mut self) {
        for log in TXN_LOGS {
            let partition = self.partition(log);
            if let Err(problem) =
                txn::check_read_committed(&self.logs[log], &partition, &mut self.txns)
            {
                self.fail(problem);
            }
        }
        let states = self.runtime.block_on(self.node().txns.list());
        for at in 0..self.txn_producers.len() {
            let group_id = &self.txn_producers[at].group_id;
            let committed = self.node().groups.committed(group_id, INPUT_TOPIC, 0);
            let committed = committed.map(|committed| committed.offset);
            let producer = &mut self.txn_producers[at];
            let completing = states.iter().any(|(id, meta)| {
                *id == producer.transactional_id && meta.status == TxnStatus::PrepareCommit
            });
            let checked = txn::check_committed_input(producer, committed, completing, &self.txns);
            if let Err(problem) = checked {
                self.fail(problem);
            }
        }
    }

    /// The cheap checks after every step: offsets as the model has them.
    fn check_offsets(&self) {
        for (at, model) in self.logs.iter().enumerate() {
            let partition = self.partition(at);
            let (end, high_watermark, start) = (
                partition.log_end_offset(),
                partition.high_watermark(),
                partition.log_start_offset(),
            );
            if end != model.end || high_watermark != end || start < model.log_start || start > end {
                self.fail(format!(
                    "{}: log [{start}, {end}) with high watermark {high_watermark}; the model \
                     has [{}, {})",
                    model.topic, model.log_start, model.end
                ));
            }
            let stable = partition.last_stable_offset();
            let (lowest, highest) = model.last_stable_offset_bounds(start);
            if stable < lowest || stable > highest {
                self.fail(format!(
                    "{}: the LSO is {stable}, the open transactions put it in [{lowest}, \
                     {highest}]",
                    model.topic
                ));
            }
        }
    }
}

/// What became of a batch sent.
enum Appended {
    New,
    /// A retry of a batch the log holds: answered with where it is.
    Duplicate,
    /// The disk failed.
    Refused,
    /// The log knows nothing of the producer, yet its sequence is not 0.
    UnknownProducer,
    /// The log holds later batches of the producer than this one.
    TooOld,
}

/// Starts the node on `disk`: the run's logs and the coordinators' internal topics (one
/// partition each), recovered, and the coordinators loaded from theirs.
fn open(disk: &SimDisk, clock: &Arc<ManualClock>, logs: &[LogModel]) -> Result<Node, LogError> {
    let mut config = BrokerConfig::from_map(BTreeMap::new(), &Overrides::default())
        .expect("the default broker config");
    config.group.offsets_topic_partitions = 1;
    config.txn.state_partitions = 1;
    let clock: SharedClock = clock.clone();
    let manager = Arc::new(LogManager::open(disk.root(), clock.clone())?);
    let internal = Arc::new(LogConfig {
        delete_enabled: false,
        compact_enabled: true,
        ..(*logs[0].config).clone()
    });
    let topics = logs
        .iter()
        .map(|log| (log.topic, &log.config))
        .chain([(OFFSETS_TOPIC, &internal), (TRANSACTION_TOPIC, &internal)]);
    for (at, (topic, config)) in topics.enumerate() {
        let topic_id = Uuid::from_u128(at as u128 + 1);
        manager.open_topic(topic, topic_id, 0..1, config)?;
    }
    let groups = GroupCoordinator::open(config.group, clock.clone(), manager.clone())?;
    let txns = TxnCoordinator::open(config.txn, clock, manager.clone(), None)?;
    let producer_ids = ProducerIds::open(disk.root()).map_err(LogError::Io)?;
    Ok(Node {
        logs: manager,
        groups,
        txns,
        producer_ids,
    })
}

/// Where the simulated disks live: a tmpfs when there is one (fsyncs are simulated anyway).
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let builder = tempfile::Builder::new()
        .prefix("spool-sim-")
        .tempdir_in(shm);
    builder.unwrap_or_else(|_| tempfile::tempdir().expect("temp dir"))
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
}

/// What a run of seeds did.
struct Ran<S> {
    first: u64,
    seeds: u64,
    stats: S,
    /// Seconds the seeds took (their replays aside).
    elapsed: f64,
}

/// Runs the seeds `SPOOL_SIM_SEED` and `SPOOL_SIM_SEEDS` say (1 to `default_seeds`, then
/// the `found` ones) with `run`, which returns what each ended with; then the first
/// [`REPLAYED_SEEDS`] again, each of which must end the same way.
fn run_seeds<S: Default>(
    default_seeds: u64,
    found: &[u64],
    mut run: impl FnMut(u64, &mut S) -> Vec<i64>,
) -> Ran<S> {
    let chosen = env_u64("SPOOL_SIM_SEED").is_some() || env_u64("SPOOL_SIM_SEEDS").is_some();
    let first = env_u64("SPOOL_SIM_SEED").unwrap_or(1);
    let seeds = env_u64("SPOOL_SIM_SEEDS").unwrap_or(default_seeds);
    let found = if chosen { &[][..] } else { found };
    let mut stats = S::default();
    let started = Instant::now();
    let mut replayed = Vec::new();
    for seed in (first..first + seeds).chain(found.iter().copied()) {
        let ended = run(seed, &mut stats);
        if replayed.len() < REPLAYED_SEEDS {
            replayed.push((seed, ended));
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    for (seed, ended) in replayed {
        let again = run(seed, &mut S::default());
        assert_eq!(again, ended, "seed {seed} did not replay the same run");
    }
    Ran {
        first,
        seeds: seeds + found.len() as u64,
        stats,
        elapsed,
    }
}

/// Runs `seed` on a fresh simulated disk under `scratch`: what the run ended with.
fn run_seed(
    seed: u64,
    scratch: &Path,
    runtime: &tokio::runtime::Runtime,
    stats: &mut Stats,
) -> Vec<i64> {
    let dir = scratch.join(seed.to_string());
    std::fs::create_dir(&dir).expect("seed dir");
    let disk = Arc::new(SimDisk::new(&dir).expect("simulated disk"));
    let mounted = disk::mount(disk.clone());
    let ended = Sim::new(seed, disk, runtime, stats).run();
    drop(mounted);
    std::fs::remove_dir_all(&dir).expect("removing the seed's dir");
    ended
}

#[test]
fn acknowledged_records_survive_seeded_crashes_power_cuts_and_failing_fsyncs() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let scratch = scratch_dir();
    let Ran {
        first,
        seeds,
        stats,
        elapsed,
    } = run_seeds(DEFAULT_SEEDS, FOUND_SEEDS, |seed, stats: &mut Stats| {
        run_seed(seed, scratch.path(), &runtime, stats)
    });
    println!(
        "simulation: {seeds} seeds (from {first}) × {STEPS_PER_SEED} steps in {elapsed:.1} s = \
         {:.1} seeds/s; {} batches appended, {} acks=all flushes, {} records compacted away, {} retries deduplicated, \
         {} producers reset, restarts: {} process crashes, {} power cuts, {} clean stops then power cuts, {} of \
         the power cuts at an fsync; {} failed flushes; {} disks filling up, {} of them during recovery; {} lying disks, \
         {} offsets their fsyncs claimed lost ({} batches forgotten); {} transactions: {} committed, {} aborted, {} producers \
         fenced by a timeout's abort, {} offset commits in them; read back: {} transactions committed, {} aborted",
        seeds as f64 / elapsed,
        stats.batches,
        stats.flushes,
        stats.records_compacted,
        stats.retries_deduplicated,
        stats.producer_resets,
        stats.restarts[Stop::Process as usize],
        stats.restarts[Stop::PowerCut as usize],
        stats.restarts[Stop::CleanThenPowerCut as usize],
        stats.cuts_at_fsync,
        stats.failed_flushes,
        stats.disk_fills,
        stats.full_at_recovery,
        stats.lies,
        stats.lost_to_lies,
        stats.batches_lost_to_lies,
        stats.transactions,
        stats.commits,
        stats.aborts,
        stats.fenced,
        stats.offset_commits,
        stats.read_committed,
        stats.read_aborted,
    );
}
