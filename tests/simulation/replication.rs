//! Deterministic simulation of replication and leader election (issue 29): three brokers
//! holding one partition (min.insync.replicas 2), on a simulated network that delays, drops
//! and reorders messages, with the cluster's metadata in the in-memory store that has etcd's
//! semantics. The decisions are the broker's own code: each broker's `LogManager` and
//! partition, its `Leaders` (follower log ends, the ISR's lag, the high watermark), the wait
//! of an acks=all produce for its replicas, the follower's `fetcher::apply` (appends,
//! truncation on a diverging epoch, the leader's high watermark and log start), the
//! controller's `plan` and `execute` (elections from the ISR, guarded by the partition's
//! version) and the leader's `alter_isr` (compare-and-swap). The glue around them is
//! mirrored here as the broker does it: applying an image's roles (`broker::roles`,
//! `cluster_node::apply_image`), answering a follower's fetch (`handlers::fetch`), one fetch
//! in flight per follower and its flush before the next (`replication::fetcher`), the
//! leader's flush before it acknowledges (`handlers::produce`, `flush.on.ack`).
//!
//! Brokers crash (kill -9) and restart (recovered, registered again: a new broker epoch),
//! lose power (each has a simulated disk of its own: now, or at one of its next fsyncs),
//! have disks that fail every fsync until their next power cut (the partition goes offline),
//! are cut off from the others and from the store for a while (their session may end while
//! they still run and serve as leader: a zombie that never steps down), see the cluster's
//! metadata late, and the clock jumps past `replica.lag.time.max.ms`. Checks:
//! - after every step, no replica's high watermark goes back while it runs, and below its
//!   high watermark every replica holds the same batches, byte for byte, as every other did
//!   (what a high watermark covers is committed);
//! - every acknowledged batch is committed at the offset it was acknowledged at, and no
//!   offset is acknowledged twice;
//! - every leader epoch has one leader, and only that broker writes batches stamped with it;
//! - at the end, with the network healed and every broker running, the replicas converge:
//!   the same log, byte for byte, all in sync, holding every acknowledged batch.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{EpochEndOffset, PartitionData};
use kafka_protocol::ResponseError;
use spool::clock::{Clock, ManualClock, SharedClock};
use spool::cluster::alter_partition::{alter_isr, AlterIsr};
use spool::cluster::controller::{execute, plan, ControllerConfig};
use spool::cluster::image::{
    BrokerRegistration, ControllerRecord, Keys, PartitionState, TopicRecord, NO_LEADER,
};
use spool::cluster::kv::{Kv, Op};
use spool::cluster::local_replicas::{local_changes, local_replicas, Role};
use spool::cluster::memory::MemoryKv;
use spool::cluster::ClusterImage;
use spool::handlers::check_leader_epoch;
use spool::log::{Isolation, LogConfig, LogError, LogManager, Partition};
use spool::records::BatchView;
use spool::replication::fetcher::{apply, ApplyError};
use spool::replication::{
    Followed, FollowerFetch, FollowerPosition, Leaders, REPLICA_LAG_TIME_MAX_MS,
};
use uuid::Uuid;

use crate::disk::{self, Mounted, SimDisk};
use crate::model::{batches_of, Sent, READ_BYTES};
use crate::rng::Rng;

const BROKERS: i32 = 3;
const TOPIC: &str = "replicated";
const TOPIC_ID: Uuid = Uuid::from_u128(0x5eed);
/// Seeds run by default: a replication seed runs some twenty times faster than a storage
/// one.
const DEFAULT_SEEDS: u64 = 2000;
const STEPS_PER_SEED: usize = 300;
/// The producer (not a broker) as a message's sender.
const PRODUCER: i32 = -1;
/// Bytes a follower fetches per partition (Kafka's `replica.fetch.max.bytes` is larger; a
/// small one makes followers lag).
const FETCH_BYTES: usize = 4096;
/// Steps after which a follower gives up on a fetch and sends another (its connection is
/// reopened: the late answer is dropped).
const FETCH_TIMEOUT_STEPS: usize = 4;
/// Steps an acks=all produce waits for its replicas before it times out.
const PRODUCE_TIMEOUT_STEPS: usize = 20;
/// Steps a broker's session outlives its last contact with the store.
const SESSION_STEPS: usize = 3;
/// Rounds the healed cluster gets to converge at the end.
const CONVERGE_ROUNDS: usize = 200;

/// The storage simulation's rolling log, with min.insync.replicas 2.
fn log_config() -> Arc<LogConfig> {
    let (_, rolling) = crate::log_configs().swap_remove(0);
    Arc::new(LogConfig {
        min_insync_replicas: 2,
        ..rolling
    })
}

#[derive(Debug, Clone)]
enum Message {
    /// A follower's fetch, sent while it followed at `leader_epoch`.
    Fetch {
        incarnation: u64,
        sequence: u64,
        leader_epoch: i32,
        position: FollowerPosition,
    },
    /// The leader's answer to it.
    Fetched {
        incarnation: u64,
        sequence: u64,
        leader_epoch: i32,
        data: Box<PartitionData>,
    },
    /// The producer's acks=all batch `id`.
    Produce { id: u64, batch: Bytes },
    /// The broker's answer: the batch's base offset, or why it was not acknowledged.
    Produced {
        id: u64,
        outcome: Result<i64, String>,
    },
}

struct InFlight {
    deliver_at: usize,
    /// Sent before, delivered before, at the same step.
    order: u64,
    from: i32,
    to: i32,
    message: Message,
}

/// An acks=all batch appended by a leader, waiting for its replicas.
struct Pending {
    id: u64,
    info: spool::log::AppendInfo,
    since: usize,
}

/// What a broker process holds while it runs.
struct Running {
    logs: Arc<LogManager>,
    log: Arc<Partition>,
    leaders: Leaders,
    /// The cluster image this broker applied last (it may lag the store).
    image: ClusterImage,
    /// Whom it fetches from, at which epoch (a follower with a live leader).
    following: Option<(i32, i32)>,
    /// Its fetch in flight: sequence number and the step it was sent.
    fetching: Option<(u64, usize)>,
    pending: Vec<Pending>,
    /// The highest high watermark it had.
    high_watermark: i64,
    /// Its log was compared with the committed batches up to here.
    verified_to: i64,
}

struct Broker {
    dir: PathBuf,
    /// Its disk: what an fsync made durable is what a power cut leaves.
    disk: Arc<SimDisk>,
    /// Bumped by every crash: messages to an earlier process are dropped.
    incarnation: u64,
    running: Option<Running>,
    /// Cut off from the other brokers and the producer until this step.
    network_cut_until: usize,
    /// Cut off from the cluster store until this step.
    store_cut_until: usize,
}

#[derive(Debug, Default)]
struct ReplicationStats {
    produced: u64,
    acknowledged: u64,
    refused: u64,
    elections: u64,
    isr_changes: u64,
    isr_changes_refused: u64,
    crashes: u64,
    power_cuts: u64,
    cuts_at_fsync: u64,
    failing_disks: u64,
    offline_reports: u64,
    isolations: u64,
    sessions_ended: u64,
    truncations: u64,
    messages_dropped: u64,
}

struct ReplicationSim<'a> {
    seed: u64,
    step: usize,
    rng: Rng,
    clock: Arc<ManualClock>,
    runtime: &'a tokio::runtime::Runtime,
    kv: Kv,
    store: Arc<MemoryKv>,
    keys: Keys,
    brokers: Vec<Broker>,
    network: Vec<InFlight>,
    sent: u64,
    next_batch: u64,
    /// The leader the producer's metadata names, kept until a send fails.
    producer_leader: Option<i32>,
    /// Acknowledged batches: base offset → batch id.
    acknowledged: BTreeMap<i64, u64>,
    /// What high watermarks covered: base offset → the whole batch.
    committed: BTreeMap<i64, Bytes>,
    /// The leader of every epoch the store has held.
    epoch_leaders: BTreeMap<i32, i32>,
    /// Sessions that end at a step: the broker's registration goes then.
    session_ends: Vec<(usize, i32)>,
    stats: &'a mut ReplicationStats,
    trace: bool,
    _mounted: Vec<Mounted>,
}

impl<'a> ReplicationSim<'a> {
    fn new(
        seed: u64,
        dir: &Path,
        runtime: &'a tokio::runtime::Runtime,
        stats: &'a mut ReplicationStats,
    ) -> Self {
        let store = Arc::new(MemoryKv::new());
        let brokers: Vec<Broker> = (0..BROKERS)
            .map(|id| {
                let dir = dir.join(format!("broker-{id}"));
                std::fs::create_dir(&dir).expect("a broker's dir");
                let disk = Arc::new(SimDisk::new(&dir).expect("a broker's disk"));
                Broker {
                    dir,
                    disk,
                    incarnation: 0,
                    running: None,
                    network_cut_until: 0,
                    store_cut_until: 0,
                }
            })
            .collect();
        let mounted = brokers
            .iter()
            .map(|broker| disk::mount(broker.disk.clone()))
            .collect();
        let mut sim = Self {
            seed,
            step: 0,
            rng: Rng::new(seed),
            clock: Arc::new(ManualClock::new(1_700_000_000_000)),
            runtime,
            kv: Kv::Memory(store.clone()),
            store,
            keys: Keys::new("/sim"),
            brokers,
            network: Vec::new(),
            sent: 0,
            next_batch: 0,
            producer_leader: None,
            acknowledged: BTreeMap::new(),
            committed: BTreeMap::new(),
            epoch_leaders: BTreeMap::new(),
            session_ends: Vec::new(),
            stats,
            trace: std::env::var_os("SPOOL_SIM_TRACE").is_some(),
            _mounted: mounted,
        };
        let mut replicas: Vec<i32> = (0..BROKERS).collect();
        replicas.rotate_left(sim.rng.below(BROKERS as u64) as usize);
        let topic = TopicRecord {
            id: TOPIC_ID,
            replicas: vec![replicas],
            configs: BTreeMap::new(),
        };
        let controller = ControllerRecord { node_id: 0 };
        sim.put(sim.keys.topic(TOPIC), &topic);
        sim.put(sim.keys.controller(), &controller);
        for id in 0..BROKERS {
            sim.start(id);
        }
        sim.control();
        sim
    }

    fn fail(&self, what: String) -> ! {
        panic!(
            "replication seed {} step {}: {what}\n(replay: make simulate SEED={} SEEDS=1 TRACE=1)",
            self.seed, self.step, self.seed
        )
    }

    fn note(&self, what: impl FnOnce() -> String) {
        if self.trace {
            eprintln!("[replication {} #{}] {}", self.seed, self.step, what());
        }
    }

    fn put(&self, key: String, value: &impl serde::Serialize) {
        let value = serde_json::to_vec(value).expect("a record encodes");
        let put = Op::Put {
            key,
            value,
            lease: None,
        };
        if let Err(error) = self.store.commit(&[], vec![put]) {
            self.fail(format!("the store refused a write: {error}"));
        }
    }

    fn stored_image(&self) -> ClusterImage {
        ClusterImage::from_snapshot(&self.keys, &self.store.get_prefix(self.keys.prefix()))
    }

    fn network_cut(&self, id: i32) -> bool {
        self.brokers[id as usize].network_cut_until > self.step
    }

    fn store_cut(&self, id: i32) -> bool {
        self.brokers[id as usize].store_cut_until > self.step
    }

    fn registered(&self, id: i32) -> bool {
        self.stored_image().brokers.contains_key(&id)
    }

    /// Registers broker `id` anew: a new key, so a new broker epoch.
    fn register(&self, id: i32) {
        self.put(self.keys.broker(id), &registration(id, Vec::new()));
    }

    /// What `Broker::run_offline_reports` does: broker `id`, registered, lists its partition
    /// in its registration once it can no longer write it (the key stays, so does its
    /// epoch).
    fn report_offline(&mut self, id: i32) {
        let offline = self.brokers[id as usize]
            .running
            .as_ref()
            .is_some_and(|running| running.log.is_offline());
        let image = self.stored_image();
        let Some(reported) = image.brokers.get(&id) else {
            return;
        };
        if offline && reported.offline.is_empty() {
            self.note(|| format!("broker {id} reports its partition offline"));
            self.stats.offline_reports += 1;
            self.put(self.keys.broker(id), &registration(id, vec![(TOPIC_ID, 0)]));
        }
    }

    /// Ends broker `id`'s session: its registration goes, as when its lease expires.
    fn end_session(&mut self, id: i32) {
        if !self.registered(id) {
            return;
        }
        self.note(|| format!("broker {id}'s session ends"));
        self.stats.sessions_ended += 1;
        if let Err(error) = self
            .store
            .commit(&[], vec![Op::Delete(self.keys.broker(id))])
        {
            self.fail(format!("the store refused a delete: {error}"));
        }
    }

    /// Starts broker `id`: its log recovered, registered, the store's image applied.
    fn start(&mut self, id: i32) {
        self.end_session(id);
        self.register(id);
        let disk = self.brokers[id as usize].disk.clone();
        // A disk that failed an fsync comes back with what it kept (the restart after it
        // starts from a power cut).
        if disk.failing() {
            self.lose_power(id);
        }
        let logs = loop {
            match self.open(id) {
                Ok(logs) => break Arc::new(logs),
                // The power went during recovery: only what the disk kept counts.
                Err(_) if disk.power_was_cut() => {
                    self.stats.cuts_at_fsync += 1;
                    self.lose_power(id);
                }
                Err(error) => self.fail(format!("broker {id} cannot open its log: {error}")),
            }
        };
        let Some(log) = logs.partition(TOPIC, 0) else {
            self.fail(format!("broker {id} has no partition"));
        };
        let high_watermark = log.high_watermark();
        self.note(|| {
            format!(
                "broker {id} starts: log {}..{}, high watermark {high_watermark}",
                log.log_start_offset(),
                log.log_end_offset()
            )
        });
        self.brokers[id as usize].running = Some(Running {
            logs,
            log,
            leaders: Leaders::new(true),
            image: ClusterImage::default(),
            following: None,
            fetching: None,
            pending: Vec::new(),
            high_watermark,
            verified_to: 0,
        });
        self.refresh(id);
    }

    fn open(&self, id: i32) -> Result<LogManager, LogError> {
        let clock: SharedClock = self.clock.clone();
        let logs = LogManager::open_replicas(&self.brokers[id as usize].dir, clock)?;
        logs.open_topic(TOPIC, TOPIC_ID, 0..1, &log_config())?;
        Ok(logs)
    }

    /// kill -9: the process goes (the page cache stays); its session ends a little later.
    fn crash(&mut self, id: i32) {
        let broker = &mut self.brokers[id as usize];
        if broker.running.take().is_none() {
            return;
        }
        broker.incarnation += 1;
        self.stats.crashes += 1;
        let ends_at = self.step + self.rng.below(SESSION_STEPS as u64 + 1) as usize;
        self.session_ends.push((ends_at, id));
        self.note(|| format!("broker {id} is killed; its session ends at step {ends_at}"));
    }

    /// The power goes: the process with it, and what no fsync made durable may be lost.
    fn cut_power(&mut self, id: i32) {
        self.crash(id);
        self.stats.power_cuts += 1;
        self.lose_power(id);
    }

    /// Broker `id`'s disk (its process is down) keeps only what it may after a power cut.
    fn lose_power(&mut self, id: i32) {
        let disk = self.brokers[id as usize].disk.clone();
        if let Err(error) = disk.power_cut(&mut self.rng) {
            self.fail(format!("broker {id}'s disk cannot lose power: {error}"));
        }
        self.note(|| {
            format!(
                "broker {id} loses power; its disk keeps:\n{}",
                disk::describe(disk.root())
            )
        });
    }

    /// Broker `id`'s disk starts failing every fsync (until its next power cut), or loses
    /// power at one of its next fsyncs, wherever in an operation that falls.
    fn disk_trouble(&mut self, id: i32) {
        let disk = self.brokers[id as usize].disk.clone();
        if self.rng.one_in(2) {
            self.stats.failing_disks += 1;
            self.note(|| format!("broker {id}'s disk starts failing fsyncs"));
            disk.fail_syncs();
        } else {
            let passing = self.rng.below(8) as u32;
            self.note(|| format!("broker {id} loses power at the fsync after the next {passing}"));
            disk.cut_power_at_sync(passing, Rng::new(self.rng.next_u64()));
        }
    }

    /// Brokers whose power went at an fsync go down with what their disks kept then.
    fn power_cuts_at_fsync(&mut self) {
        for id in 0..BROKERS {
            let broker = &self.brokers[id as usize];
            if broker.running.is_some() && broker.disk.power_was_cut() {
                self.stats.cuts_at_fsync += 1;
                self.cut_power(id);
            }
        }
    }

    fn disk_failing(&self, id: i32) -> bool {
        self.brokers[id as usize].disk.failing()
    }

    /// Broker `id` applies the store's image, if it can reach the store.
    fn refresh(&mut self, id: i32) {
        if self.store_cut(id) || self.brokers[id as usize].running.is_none() {
            return;
        }
        if !self.registered(id) {
            // Its session ended while it was cut off: it registers again.
            self.note(|| format!("broker {id} registers again"));
            self.register(id);
        }
        self.report_offline(id);
        let image = self.stored_image();
        self.apply_image(id, image);
    }

    /// What `broker::roles` and `cluster_node::apply_image` do with a new image.
    fn apply_image(&mut self, id: i32, after: ClusterImage) {
        let now_ms = self.clock.now_ms();
        let disk = self.brokers[id as usize].disk.clone();
        let Some(running) = self.brokers[id as usize].running.as_mut() else {
            return;
        };
        let before = std::mem::replace(&mut running.image, after);
        let after = &running.image;
        let changes = local_changes(&before, after, id);
        let replicas = after.replicas(TOPIC, 0).unwrap_or_default().to_vec();
        let isr = after
            .topics
            .get(TOPIC)
            .and_then(|topic| after.partition(topic, 0))
            .map(|current| current.state.isr.clone())
            .unwrap_or_default();
        let mut failed = None;
        for replica in &changes.changed {
            match replica.role {
                Role::Leader { leader_epoch } => {
                    match running.log.begin_leader_epoch(leader_epoch) {
                        Ok(()) => {}
                        // Offline: it leads, but takes no writes until it restarts.
                        Err(LogError::Io(_) | LogError::Offline) if disk.failing() => {}
                        Err(error) => {
                            failed = Some(format!(
                                "broker {id} cannot begin epoch {leader_epoch}: {error}"
                            ))
                        }
                    }
                    running.following = None;
                    running.fetching = None;
                    running
                        .leaders
                        .lead(running.log.clone(), id, &replicas, &isr, now_ms);
                }
                Role::Follower {
                    leader,
                    leader_epoch,
                } => {
                    running.leaders.resign(TOPIC, 0);
                    running.log.follow();
                    running.following = after
                        .brokers
                        .contains_key(&leader)
                        .then_some((leader, leader_epoch));
                    running.fetching = None;
                }
            }
        }
        for replica in local_replicas(after, id).values() {
            if let Role::Leader { .. } = replica.role {
                if !running.leaders.set_replicas(TOPIC, 0, &replicas, &isr) {
                    running
                        .leaders
                        .lead(running.log.clone(), id, &replicas, &isr, now_ms);
                }
            }
        }
        if let Some(what) = failed {
            self.fail(what);
        }
    }

    /// The controller plans from the store and commits its decisions.
    fn control(&mut self) {
        let image = self.stored_image();
        let Some(controller) = image.controller else {
            self.fail("no controller".into());
        };
        let decisions = plan(&image, &ControllerConfig::default());
        if decisions.is_empty() {
            return;
        }
        let executed = self
            .runtime
            .block_on(execute(&self.kv, &self.keys, controller, &decisions));
        if let Err(error) = executed {
            self.fail(format!("the controller's commit failed: {error}"));
        }
        let state = self.partition_state();
        self.note(|| format!("controller: {decisions:?} → {state:?}"));
        if let Some(state) = state {
            if state.leader != NO_LEADER {
                match self.epoch_leaders.insert(state.leader_epoch, state.leader) {
                    Some(before) if before != state.leader => self.fail(format!(
                        "epoch {} had leader {before}, now {}",
                        state.leader_epoch, state.leader
                    )),
                    Some(_) => {}
                    None => self.stats.elections += 1,
                }
            }
        }
    }

    fn partition_state(&self) -> Option<PartitionState> {
        let image = self.stored_image();
        let topic = image.topics.get(TOPIC)?;
        image
            .partition(topic, 0)
            .map(|current| current.state.clone())
    }

    fn send(&mut self, from: i32, to: i32, message: Message) {
        if self.rng.one_in(20) || self.isolated_pair(from, to) {
            self.stats.messages_dropped += 1;
            return;
        }
        let deliver_at = self.step + self.rng.below(3) as usize;
        self.sent += 1;
        self.network.push(InFlight {
            deliver_at,
            order: self.sent,
            from,
            to,
            message,
        });
    }

    fn isolated_pair(&self, from: i32, to: i32) -> bool {
        [from, to]
            .into_iter()
            .any(|id| id != PRODUCER && self.network_cut(id))
    }

    /// Delivers every message due, and those their answers make due.
    fn deliver(&mut self) {
        for _ in 0..64 {
            let step = self.step;
            let (mut due, later): (Vec<InFlight>, Vec<InFlight>) =
                std::mem::take(&mut self.network)
                    .into_iter()
                    .partition(|message| message.deliver_at <= step);
            self.network = later;
            if due.is_empty() {
                return;
            }
            due.sort_by_key(|message| (message.deliver_at, message.order));
            for message in due {
                if self.isolated_pair(message.from, message.to) {
                    self.stats.messages_dropped += 1;
                    continue;
                }
                self.receive(message.from, message.to, message.message);
            }
        }
    }

    fn receive(&mut self, from: i32, to: i32, message: Message) {
        match message {
            Message::Fetch {
                incarnation,
                sequence,
                leader_epoch,
                position,
            } => {
                let Some(data) = self.answer_fetch(to, from, leader_epoch, &position) else {
                    return;
                };
                let answer = Message::Fetched {
                    incarnation,
                    sequence,
                    leader_epoch,
                    data: Box::new(data),
                };
                self.send(to, from, answer);
            }
            Message::Fetched {
                incarnation,
                sequence,
                leader_epoch,
                data,
            } => self.apply_fetched(to, incarnation, sequence, leader_epoch, &data),
            Message::Produce { id, batch } => {
                if let Some(outcome) = self.produce_at(to, id, &batch) {
                    self.send(to, PRODUCER, Message::Produced { id, outcome });
                }
            }
            Message::Produced { id, outcome } => self.produced(id, outcome),
        }
    }

    /// What `handlers::fetch` answers a follower's fetch with (`None`: the broker is down).
    fn answer_fetch(
        &mut self,
        at: i32,
        follower: i32,
        current_leader_epoch: i32,
        position: &FollowerPosition,
    ) -> Option<PartitionData> {
        let now_ms = self.clock.now_ms();
        let running = self.brokers[at as usize].running.as_ref()?;
        let data = PartitionData::default()
            .with_high_watermark(-1)
            .with_last_stable_offset(-1)
            .with_log_start_offset(-1);
        let refused = data
            .clone()
            .with_error_code(ResponseError::NotLeaderOrFollower.code());
        if running.image.leader(TOPIC, 0) != Some(at) {
            return Some(refused);
        }
        let log = &running.log;
        let fetched = running
            .leaders
            .on_follower_fetch(TOPIC, 0, follower, position, now_ms);
        let diverging = match fetched {
            Err(_) => return Some(refused),
            Ok(FollowerFetch::Diverging { epoch, end_offset }) => Some((epoch, end_offset)),
            Ok(FollowerFetch::Recorded) => None,
        };
        if let Some(error) = check_leader_epoch(current_leader_epoch, log.leader_epoch()) {
            return Some(data.with_error_code(error.code()));
        }
        if let Some((epoch, end_offset)) = diverging {
            return Some(
                data.with_high_watermark(log.high_watermark())
                    .with_log_start_offset(log.log_start_offset())
                    .with_records(Some(Bytes::new()))
                    .with_diverging_epoch(
                        EpochEndOffset::default()
                            .with_epoch(epoch)
                            .with_end_offset(end_offset),
                    ),
            );
        }
        Some(
            match log.read(position.fetch_offset, FETCH_BYTES, true, Isolation::LogEnd) {
                Ok(read) => data
                    .with_high_watermark(read.high_watermark)
                    .with_last_stable_offset(read.last_stable_offset)
                    .with_log_start_offset(read.log_start_offset)
                    .with_records(Some(read.records)),
                Err(LogError::OffsetOutOfRange {
                    log_start_offset,
                    log_end_offset,
                    ..
                }) => data
                    .with_error_code(ResponseError::OffsetOutOfRange.code())
                    .with_high_watermark(log_end_offset)
                    .with_log_start_offset(log_start_offset),
                // Its disk failed: what the files hold is in doubt, and reads may fail.
                Err(_) if log.is_offline() => {
                    data.with_error_code(ResponseError::KafkaStorageError.code())
                }
                Err(error) => self.fail(format!("broker {at} cannot read its log: {error}")),
            },
        )
    }

    /// The follower applies its leader's answer, as `replication::fetcher` does: with the
    /// epoch it fetched at, unless its process or its fetch is not the one that asked.
    fn apply_fetched(
        &mut self,
        at: i32,
        incarnation: u64,
        sequence: u64,
        leader_epoch: i32,
        data: &PartitionData,
    ) {
        let broker = &mut self.brokers[at as usize];
        if broker.incarnation != incarnation {
            return;
        }
        let Some(running) = broker.running.as_mut() else {
            return;
        };
        if running.fetching.map(|(asked, _)| asked) != Some(sequence) {
            return;
        }
        running.fetching = None;
        let end_before = running.log.log_end_offset();
        let followed = Followed {
            log: running.log.clone(),
            leader_epoch,
        };
        let applied = apply(&followed, data);
        // flush.on.ack: durable before the next fetch reports it.
        let log = running.log.clone();
        let flushed = self.runtime.block_on(log.flush(log.log_end_offset()));
        let end_after = log.log_end_offset();
        if end_after < end_before {
            self.stats.truncations += 1;
        }
        self.note(|| {
            format!(
                "broker {at} applies a fetch at epoch {leader_epoch} (error {}): log end {end_before} → {end_after}, {applied:?}",
                data.error_code
            )
        });
        if let Err(error) = flushed {
            if !self.disk_failing(at) {
                self.fail(format!("broker {at} cannot flush its log: {error}"));
            }
        }
        match applied {
            Ok(()) => {}
            // Its disk failed: the partition is offline, and fetches no more.
            Err(ApplyError::Log(LogError::Io(_) | LogError::Offline)) if self.disk_failing(at) => {}
            Err(error) if error.roles_changing() => {}
            Err(ApplyError::Log(LogError::NotContiguous { .. })) => {}
            Err(ApplyError::Leader(_)) => {}
            Err(error) => self.fail(format!(
                "broker {at} cannot apply its leader's answer: {error}"
            )),
        }
    }

    /// What `handlers::produce` does with an acks=all batch: refused unless this broker
    /// leads with enough replicas in sync, else appended and waited for (`None`: the broker
    /// is down, or the answer waits).
    fn produce_at(&mut self, at: i32, id: u64, batch: &Bytes) -> Option<Result<i64, String>> {
        let running = self.brokers[at as usize].running.as_ref()?;
        if running.image.leader(TOPIC, 0) != Some(at) {
            return Some(Err("NOT_LEADER_OR_FOLLOWER".into()));
        }
        let log = running.log.clone();
        if let Err(error) = log.check_in_sync_replicas() {
            return Some(Err(error.to_string()));
        }
        let view = match BatchView::parse(batch) {
            Ok(view) => view,
            Err(error) => self.fail(format!("the producer's batch does not parse: {error}")),
        };
        let info = match log.append(&view) {
            Ok(info) => info,
            Err(error) => return Some(Err(error.to_string())),
        };
        running.leaders.on_append(TOPIC, 0);
        let epoch_leader = self.epoch_leaders.get(&info.leader_epoch).copied();
        if epoch_leader != Some(at) {
            self.fail(format!(
                "broker {at} appended at offset {} stamped with epoch {}, which {epoch_leader:?} \
                 leads",
                info.base_offset, info.leader_epoch,
            ));
        }
        // flush.on.ack: durable here before it is acknowledged (and counted for the high
        // watermark).
        if let Err(error) = self.runtime.block_on(log.flush(info.last_offset + 1)) {
            return Some(Err(format!("KAFKA_STORAGE_ERROR: {error}")));
        }
        self.note(|| format!("broker {at} appends batch {id} at {}", info.base_offset));
        let since = self.step;
        if let Some(running) = self.brokers[at as usize].running.as_mut() {
            running.pending.push(Pending { id, info, since });
        }
        None
    }

    /// Every broker answers the acks=all produces whose wait ended (`Partition::
    /// wait_replicated`: the high watermark passed them while it still leads in their
    /// epoch, or it was deposed, or the wait timed out).
    fn settle_produces(&mut self) {
        for id in 0..BROKERS {
            let Some(running) = self.brokers[id as usize].running.as_mut() else {
                continue;
            };
            let log = running.log.clone();
            let mut answers = Vec::new();
            let step = self.step;
            running.pending.retain(|pending| {
                let settled = self.runtime.block_on(async {
                    tokio::select! {
                        biased;
                        settled = log.wait_replicated(&pending.info, Duration::from_secs(3600)) => Some(settled),
                        () = std::future::ready(()) => None,
                    }
                });
                let outcome = match settled {
                    Some(Ok(())) => Ok(pending.info.base_offset),
                    Some(Err(error)) => Err(error.to_string()),
                    None if step >= pending.since + PRODUCE_TIMEOUT_STEPS => {
                        Err("REQUEST_TIMED_OUT".into())
                    }
                    None => return true,
                };
                answers.push((pending.id, outcome));
                false
            });
            for (batch, outcome) in answers {
                self.send(id, PRODUCER, Message::Produced { id: batch, outcome });
            }
        }
    }

    /// The producer learns the outcome of batch `id`.
    fn produced(&mut self, id: u64, outcome: Result<i64, String>) {
        let base_offset = match outcome {
            Ok(base_offset) => base_offset,
            Err(_) => {
                // As a client does: the next send asks for metadata first.
                self.producer_leader = None;
                self.stats.refused += 1;
                return;
            }
        };
        self.stats.acknowledged += 1;
        self.note(|| format!("batch {id} acknowledged at {base_offset}"));
        if let Some(other) = self.acknowledged.insert(base_offset, id) {
            self.fail(format!(
                "offset {base_offset} acknowledged for batch {other} and then for batch {id}"
            ));
        }
        self.check_acknowledged(base_offset);
    }

    /// The batch acknowledged at `base_offset` is the one committed there, once both are
    /// known (either may come first: a high watermark passes a batch before its producer
    /// hears of it, and a replica that shows it committed may be down for a while).
    fn check_acknowledged(&self, base_offset: i64) {
        let (Some(&id), Some(batch)) = (
            self.acknowledged.get(&base_offset),
            self.committed.get(&base_offset),
        ) else {
            return;
        };
        if batch_id(batch) != Some(id) {
            self.fail(format!(
                "batch {id} was acknowledged at {base_offset}, where batch {:?} is committed",
                batch_id(batch)
            ));
        }
    }

    /// The producer sends a new acks=all batch to the broker its metadata names as the
    /// leader: the one it sent to last, until a send fails; then the store's, or (stale
    /// metadata) any broker.
    fn produce(&mut self) {
        let to = match self.producer_leader {
            Some(leader) => leader,
            None => match self.partition_state() {
                Some(state) if state.leader != NO_LEADER && !self.rng.one_in(5) => state.leader,
                _ => self.rng.below(BROKERS as u64) as i32,
            },
        };
        self.producer_leader = Some(to);
        let id = self.next_batch;
        self.next_batch += 1;
        let padding = self.rng.below(300) as usize;
        let batch = encode_batch(id, padding, self.clock.now_ms());
        self.stats.produced += 1;
        self.send(PRODUCER, to, Message::Produce { id, batch });
    }

    /// Every follower without a fetch in flight (or whose fetch timed out) sends one.
    fn fetch(&mut self) {
        for id in 0..BROKERS {
            let step = self.step;
            let broker = &mut self.brokers[id as usize];
            let incarnation = broker.incarnation;
            let Some(running) = broker.running.as_mut() else {
                continue;
            };
            let Some((leader, leader_epoch)) = running.following else {
                continue;
            };
            if running.log.is_offline() {
                continue;
            }
            if running
                .fetching
                .is_some_and(|(_, sent)| step < sent + FETCH_TIMEOUT_STEPS)
            {
                continue;
            }
            let log = &running.log;
            let position = FollowerPosition {
                fetch_offset: log.log_end_offset(),
                last_fetched_epoch: log.leader_epoch(),
                log_start_offset: log.log_start_offset(),
            };
            self.sent += 1;
            let sequence = self.sent;
            running.fetching = Some((sequence, step));
            let fetch = Message::Fetch {
                incarnation,
                sequence,
                leader_epoch,
                position,
            };
            self.send(id, leader, fetch);
        }
    }

    /// Every leader that can reach the store proposes the ISR changes it sees
    /// (`broker::roles::run_isr_checks`), by compare-and-swap on the partition as its image
    /// has it.
    fn isr_checks(&mut self) {
        let now_ms = self.clock.now_ms();
        for id in 0..BROKERS {
            if self.store_cut(id) {
                continue;
            }
            let Some(running) = self.brokers[id as usize].running.as_ref() else {
                continue;
            };
            let changes = running.leaders.isr_changes(now_ms, REPLICA_LAG_TIME_MAX_MS);
            let image = running.image.clone();
            let Some(record) = image.topics.get(TOPIC) else {
                continue;
            };
            let Some(current) = image.partition(record, 0) else {
                continue;
            };
            for change in changes {
                let request = AlterIsr {
                    leader: id,
                    partition: 0,
                    leader_epoch: current.state.leader_epoch,
                    version: current.version,
                    isr: change.isr.clone(),
                };
                let altered = self
                    .runtime
                    .block_on(alter_isr(&self.kv, &self.keys, &image, record, request));
                self.note(|| format!("broker {id} asks for ISR {:?}: {altered:?}", change.isr));
                match altered {
                    Ok(partition) => {
                        self.stats.isr_changes += 1;
                        if let Some(running) = self.brokers[id as usize].running.as_ref() {
                            running.leaders.set_isr(TOPIC, 0, &partition.state.isr);
                        }
                    }
                    Err(_) => self.stats.isr_changes_refused += 1,
                }
            }
        }
    }

    /// After every step: high watermarks never go back, and below each every replica holds
    /// the committed batches; every acknowledged batch is committed where it was
    /// acknowledged.
    fn check(&mut self) {
        for id in 0..BROKERS {
            let Some(running) = self.brokers[id as usize].running.as_ref() else {
                continue;
            };
            let log = running.log.clone();
            let high_watermark = log.high_watermark();
            if high_watermark < running.high_watermark {
                self.fail(format!(
                    "broker {id}'s high watermark went back from {} to {high_watermark}",
                    running.high_watermark
                ));
            }
            let from = running.verified_to.max(log.log_start_offset());
            let batches = match read(&log, from, high_watermark) {
                Ok(batches) => batches,
                // Its disk failed: reads of what its files hold may fail.
                Err(_) if log.is_offline() => continue,
                Err(error) => self.fail(format!("broker {id}: {error}")),
            };
            for (base_offset, batch) in batches {
                match self.committed.get(&base_offset).cloned() {
                    Some(committed) if committed != batch => self.fail(format!(
                        "broker {id} holds another batch at {base_offset} than was committed \
                         there (below its high watermark {high_watermark})"
                    )),
                    Some(_) => {}
                    None => {
                        self.committed.insert(base_offset, batch);
                        self.check_acknowledged(base_offset);
                    }
                }
            }
            let Some(running) = self.brokers[id as usize].running.as_mut() else {
                continue;
            };
            running.high_watermark = high_watermark;
            running.verified_to = high_watermark;
        }
    }

    fn run(&mut self) -> Vec<i64> {
        for step in 0..STEPS_PER_SEED {
            self.step = step;
            let due: Vec<i32> = self
                .session_ends
                .iter()
                .filter(|(at, _)| *at <= step)
                .map(|(_, id)| *id)
                .collect();
            self.session_ends.retain(|(at, _)| *at > step);
            for id in due {
                if self.brokers[id as usize].running.is_none() || self.store_cut(id) {
                    self.end_session(id);
                }
            }
            match self.rng.weighted(&[30, 10, 10, 3, 2, 3, 2, 1, 1, 2]) {
                0 => self.produce(),
                1 => self.control(),
                2 => {
                    let id = self.rng.below(BROKERS as u64) as i32;
                    self.refresh(id);
                }
                3 => {
                    let jump = self.rng.between(5_000, 40_000) as i64;
                    self.note(|| format!("the clock jumps {jump} ms"));
                    self.clock.advance(jump);
                }
                4 => {
                    let id = self.rng.below(BROKERS as u64) as i32;
                    self.crash(id);
                }
                5 => {
                    let down: Vec<i32> = (0..BROKERS)
                        .filter(|&id| self.brokers[id as usize].running.is_none())
                        .collect();
                    if !down.is_empty() {
                        let id = down[self.rng.below(down.len() as u64) as usize];
                        self.start(id);
                    }
                }
                6 => self.isolate(),
                7 => {
                    let id = self.rng.below(BROKERS as u64) as i32;
                    self.cut_power(id);
                }
                8 => {
                    let id = self.rng.below(BROKERS as u64) as i32;
                    self.disk_trouble(id);
                }
                _ => {
                    let id = self.rng.below(BROKERS as u64) as i32;
                    if let Some(running) = &self.brokers[id as usize].running {
                        let checkpointed = running.logs.checkpoint_high_watermarks();
                        if let Err(error) = checkpointed {
                            if !self.disk_failing(id) {
                                self.fail(format!("broker {id} cannot checkpoint: {error}"));
                            }
                        }
                    }
                }
            }
            self.clock.advance(self.rng.below(1_000) as i64);
            self.fetch();
            self.deliver();
            if step % 4 == 0 {
                self.isr_checks();
            }
            self.settle_produces();
            self.power_cuts_at_fsync();
            self.check();
        }
        self.converge();
        let state = self.partition_state().unwrap_or_default();
        vec![
            state.leader_epoch.into(),
            self.committed.len() as i64,
            self.acknowledged.len() as i64,
            self.rng.next_u64() as i64,
        ]
    }

    /// Cuts a running broker off for a while from the others, from the store, or from both.
    /// Cut off from the store past its session, its registration goes while it goes on as
    /// if it still led (a zombie, which may still reach the others).
    fn isolate(&mut self) {
        let id = self.rng.below(BROKERS as u64) as i32;
        if self.brokers[id as usize].running.is_none() || self.network_cut(id) || self.store_cut(id)
        {
            return;
        }
        let until = self.step + self.rng.between(5, 40) as usize;
        let (network, store) = match self.rng.below(3) {
            0 => (true, false),
            1 => (false, true),
            _ => (true, true),
        };
        let broker = &mut self.brokers[id as usize];
        if network {
            broker.network_cut_until = until;
        }
        if store {
            broker.store_cut_until = until;
            self.session_ends.push((self.step + SESSION_STEPS, id));
        }
        self.stats.isolations += 1;
        self.note(|| format!("broker {id} is cut off until step {until}: from the others {network}, from the store {store}"));
    }

    /// Heals the network, starts every broker, and lets the cluster settle: every replica
    /// must end in sync with the same log, holding every acknowledged batch.
    fn converge(&mut self) {
        self.step = STEPS_PER_SEED;
        for broker in &mut self.brokers {
            broker.network_cut_until = 0;
            broker.store_cut_until = 0;
        }
        for id in 0..BROKERS {
            // A failing disk is replaced: the broker restarts from what it kept.
            if self.disk_failing(id) {
                self.crash(id);
            }
        }
        for round in 0..CONVERGE_ROUNDS {
            self.step = STEPS_PER_SEED + round;
            for id in 0..BROKERS {
                if self.brokers[id as usize].running.is_none() {
                    self.start(id);
                }
            }
            self.control();
            for id in 0..BROKERS {
                self.refresh(id);
            }
            self.fetch();
            self.deliver();
            self.isr_checks();
            self.settle_produces();
            self.power_cuts_at_fsync();
            self.check();
            self.clock.advance(1_000);
            if self.converged() {
                return self.check_converged();
            }
        }
        let state = self.partition_state();
        let ends: Vec<(i64, i64)> = self
            .brokers
            .iter()
            .filter_map(|broker| broker.running.as_ref())
            .map(|running| (running.log.log_end_offset(), running.log.high_watermark()))
            .collect();
        self.fail(format!(
            "the healed cluster does not converge: {state:?}, (log end, high watermark) of each: \
             {ends:?}"
        ))
    }

    fn converged(&self) -> bool {
        let Some(state) = self.partition_state() else {
            return false;
        };
        if state.leader == NO_LEADER || state.isr.len() != BROKERS as usize {
            return false;
        }
        let ends: BTreeSet<(i64, i64)> = self
            .brokers
            .iter()
            .filter_map(|broker| broker.running.as_ref())
            .map(|running| (running.log.log_end_offset(), running.log.high_watermark()))
            .collect();
        ends.len() == 1 && ends.iter().all(|(end, high)| end == high)
    }

    /// Every replica holds the same batches, and every acknowledged one.
    fn check_converged(&mut self) {
        let logs: Vec<Vec<(i64, Bytes)>> = self
            .brokers
            .iter()
            .filter_map(|broker| broker.running.as_ref())
            .map(|running| {
                let log = &running.log;
                read(log, log.log_start_offset(), log.log_end_offset())
                    .unwrap_or_else(|error| self.fail(error))
            })
            .collect();
        if logs.iter().any(|log| *log != logs[0]) {
            self.fail("the replicas' logs differ after converging".into());
        }
        let held: BTreeMap<i64, Option<u64>> = logs[0]
            .iter()
            .map(|(base_offset, batch)| (*base_offset, batch_id(batch)))
            .collect();
        for (&base_offset, &id) in &self.acknowledged {
            if held.get(&base_offset) != Some(&Some(id)) {
                self.fail(format!(
                    "batch {id}, acknowledged at {base_offset}, is lost: {:?} is there",
                    held.get(&base_offset)
                ));
            }
        }
    }
}

/// Broker `id`'s registration, with the partitions it reports `offline`.
fn registration(id: i32, offline: Vec<(Uuid, i32)>) -> BrokerRegistration {
    BrokerRegistration {
        node_id: id,
        host: "127.0.0.1".into(),
        port: 9092 + id as u16,
        rack: None,
        listeners: Vec::new(),
        offline,
    }
}

/// The whole batches of `log` from `from` to `to` (by base offset).
fn read(log: &Partition, from: i64, to: i64) -> Result<Vec<(i64, Bytes)>, String> {
    let mut batches = Vec::new();
    let mut offset = from;
    while offset < to {
        let read = log
            .read(offset, READ_BYTES, true, Isolation::LogEnd)
            .map_err(|error| format!("reading {offset}: {error}"))?;
        let views = batches_of(&read.records).ok_or(format!("a torn batch at {offset}"))?;
        if views.is_empty() {
            return Err(format!("nothing to read at {offset}, below {to}"));
        }
        for view in views {
            if view.base_offset() >= to {
                return Ok(batches);
            }
            if view.last_offset() >= offset {
                batches.push((view.base_offset(), Bytes::copy_from_slice(view.bytes())));
            }
            offset = view.last_offset() + 1;
        }
    }
    Ok(batches)
}

/// An acks=all batch of one record, from no idempotent producer, whose value starts with
/// `id`.
fn encode_batch(id: u64, padding: usize, timestamp: i64) -> Bytes {
    let mut value = id.to_be_bytes().to_vec();
    value.resize(8 + padding, b'.');
    let sent = Sent {
        records: vec![(None, Some(Bytes::from(value)))],
        timestamp,
        epoch: 0,
        sequence: 0,
        txn: None,
    };
    sent.encode(None)
}

/// The id of the simulation's batch (its record's value starts with it).
fn batch_id(batch: &[u8]) -> Option<u64> {
    let mut bytes = Bytes::copy_from_slice(batch);
    let records = kafka_protocol::records::RecordBatchDecoder::decode(&mut bytes).ok()?;
    let value = records.records.first()?.value.as_ref()?;
    Some(u64::from_be_bytes(value.get(..8)?.try_into().ok()?))
}

fn run_seed(
    seed: u64,
    scratch: &Path,
    runtime: &tokio::runtime::Runtime,
    stats: &mut ReplicationStats,
) -> Vec<i64> {
    let dir = scratch.join(format!("replication-{seed}"));
    std::fs::create_dir(&dir).expect("seed dir");
    let ended = ReplicationSim::new(seed, &dir, runtime, stats).run();
    std::fs::remove_dir_all(&dir).expect("removing the seed's dir");
    ended
}

#[test]
fn acknowledged_records_survive_seeded_elections_crashes_and_partitions() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let scratch = crate::scratch_dir();
    let crate::Ran {
        first,
        seeds,
        stats,
        elapsed,
    } = crate::run_seeds(DEFAULT_SEEDS, &[], |seed, stats: &mut ReplicationStats| {
        run_seed(seed, scratch.path(), &runtime, stats)
    });
    println!(
        "replication simulation: {seeds} seeds (from {first}) × {STEPS_PER_SEED} steps in \
         {elapsed:.1} s = {:.1} seeds/s; {stats:?}",
        seeds as f64 / elapsed
    );
}
