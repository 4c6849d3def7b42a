//! The crash test's consumer group: members subscribed to the main topic consume it and
//! commit what they consumed, through the classic protocol's joins, syncs, heartbeats and
//! rebalances, while the broker is killed under them. After each restart the group's committed
//! offsets must be at least every commit the broker acknowledged, and must never go back.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::SpawnedBroker;

const GROUP: &str = "crash-members";
const MEMBERS: usize = 2;
/// A member commits after this many records, or when a poll finds nothing new.
const COMMIT_EVERY: usize = 200;

/// What the members did and what the checks found.
#[derive(Debug, Default, Clone, Copy)]
pub struct MembersReport {
    pub consumed: usize,
    pub commits_acknowledged: usize,
    /// Summed over the partitions at the last check.
    pub committed: i64,
}

/// What the member threads share with the checks.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    consumed: AtomicUsize,
    commits_acknowledged: AtomicUsize,
    /// The highest offset the broker acknowledged committing, by partition.
    acknowledged: Mutex<BTreeMap<i32, i64>>,
}

/// The group's members, running until dropped.
pub struct Members {
    config: ClientConfig,
    topic: &'static str,
    partitions: i32,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    /// The committed offsets found by the last check.
    last_seen: BTreeMap<i32, i64>,
}

impl Members {
    pub fn start(broker: &SpawnedBroker, topic: &'static str, partitions: i32) -> Self {
        let config = broker.client_config();
        let shared = Arc::new(Shared::default());
        let threads = (0..MEMBERS)
            .map(|_| {
                let (config, shared) = (config.clone(), Arc::clone(&shared));
                std::thread::spawn(move || member(config, topic, &shared))
            })
            .collect();
        Self {
            config,
            topic,
            partitions,
            shared,
            threads,
            last_seen: BTreeMap::new(),
        }
    }

    /// Checks the group's committed offsets against the acknowledged commits and the last
    /// check's.
    pub fn verify(&mut self) -> Result<MembersReport, String> {
        let acknowledged = self.shared.acknowledged.lock().unwrap().clone();
        let consumer: BaseConsumer = self
            .config
            .clone()
            .set("group.id", GROUP)
            .create()
            .map_err(|error| error.to_string())?;
        let mut wanted = TopicPartitionList::new();
        for partition in 0..self.partitions {
            wanted.add_partition(self.topic, partition);
        }
        let committed = consumer
            .committed_offsets(wanted, Duration::from_secs(30))
            .map_err(|error| format!("{GROUP}'s committed offsets: {error}"))?;
        let mut now = BTreeMap::new();
        for element in committed.elements() {
            if let Offset::Offset(offset) = element.offset() {
                now.insert(element.partition(), offset);
            }
        }
        for partition in 0..self.partitions {
            let found = now.get(&partition).copied().unwrap_or(-1);
            let floor = acknowledged.get(&partition).copied().unwrap_or(-1);
            let before = self.last_seen.get(&partition).copied().unwrap_or(-1);
            if found < floor || found < before {
                return Err(format!(
                    "{GROUP} partition {partition}: committed offset {found}, but a commit of \
                     {floor} was acknowledged and {before} was committed at the last check"
                ));
            }
        }
        self.last_seen = now;
        Ok(MembersReport {
            consumed: self.shared.consumed.load(Ordering::Relaxed),
            commits_acknowledged: self.shared.commits_acknowledged.load(Ordering::Relaxed),
            committed: self.last_seen.values().sum(),
        })
    }
}

impl Drop for Members {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// One member: consumes the topic from the group's committed offsets (the beginning when none)
/// and commits its position for its current assignment, synchronously.
fn member(mut config: ClientConfig, topic: &str, shared: &Shared) {
    let consumer: BaseConsumer = match config
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("reconnect.backoff.max.ms", "200")
        .create()
    {
        Ok(consumer) => consumer,
        Err(error) => panic!("group member: {error}"),
    };
    if let Err(error) = consumer.subscribe(&[topic]) {
        panic!("subscribe: {error}");
    }
    let mut uncommitted = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(_)) => {
                shared.consumed.fetch_add(1, Ordering::Relaxed);
                uncommitted += 1;
                if uncommitted < COMMIT_EVERY {
                    continue;
                }
            }
            // The broker is down or the group rebalancing: the client recovers on its own.
            Some(Err(_)) => continue,
            None if uncommitted == 0 => continue,
            None => {}
        }
        uncommitted = 0;
        commit_position(&consumer, shared);
    }
}

/// Commits the member's position in each partition it is assigned and has consumed from;
/// records the offsets once the broker acknowledged them.
fn commit_position(consumer: &BaseConsumer, shared: &Shared) {
    let Ok(position) = consumer.position() else {
        return;
    };
    let mut offsets = TopicPartitionList::new();
    let mut positions = Vec::new();
    for element in position.elements() {
        if let Offset::Offset(offset) = element.offset() {
            if offsets
                .add_partition_offset(element.topic(), element.partition(), element.offset())
                .is_ok()
            {
                positions.push((element.partition(), offset));
            }
        }
    }
    if positions.is_empty() || consumer.commit(&offsets, CommitMode::Sync).is_err() {
        return;
    }
    shared.commits_acknowledged.fetch_add(1, Ordering::Relaxed);
    let mut acknowledged = shared.acknowledged.lock().unwrap();
    for (partition, offset) in positions {
        let highest = acknowledged.entry(partition).or_insert(offset);
        *highest = (*highest).max(offset);
    }
}
