//! Failover time of a cluster, for `spool-bench`: an acks=all producer writes one record at a
//! time to a one-partition topic of replication factor 3 while the partition's leader is
//! killed with SIGKILL; the figure is the time from the kill to the first acknowledgement
//! that follows it. The killed broker is restarted and back in the ISR before the next round.
//! The cluster is spool's brokers or Apache Kafka's nodes. Every wait is bounded.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::bench::{client, create_topic};
use crate::kafka::ReferenceCluster;
use crate::{wait_for, SpawnedBroker};

/// A cluster whose nodes 1..=n can be killed and started again.
pub trait Nodes {
    /// How many nodes it has.
    fn count(&self) -> usize;
    /// The `HOST:PORT` of node `node_id` (1-based).
    fn bootstrap_of(&self, node_id: usize) -> String;
    /// SIGKILL of node `node_id`.
    fn kill(&mut self, node_id: usize);
    /// Starts killed node `node_id` again on its data.
    fn restart(&mut self, node_id: usize);
}

impl Nodes for [SpawnedBroker] {
    fn count(&self) -> usize {
        self.len()
    }
    fn bootstrap_of(&self, node_id: usize) -> String {
        self[node_id - 1].bootstrap.clone()
    }
    fn kill(&mut self, node_id: usize) {
        self[node_id - 1].kill();
    }
    fn restart(&mut self, node_id: usize) {
        self[node_id - 1].restart();
    }
}

impl Nodes for ReferenceCluster {
    fn count(&self) -> usize {
        self.bootstraps.len()
    }
    fn bootstrap_of(&self, node_id: usize) -> String {
        self.bootstraps[node_id - 1].clone()
    }
    fn kill(&mut self, node_id: usize) {
        ReferenceCluster::kill(self, node_id as i32);
    }
    fn restart(&mut self, node_id: usize) {
        ReferenceCluster::restart(self, node_id as i32);
    }
}

const TOPIC: &str = "bench-failover";
/// How long one failover, one rejoin, or the first acknowledgement may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// The producer's bound on one record (librdkafka retries within it).
const MESSAGE_TIMEOUT_MS: &str = "30000";

/// Leader and in-sync replica count of partition 0 of [`TOPIC`], as `bootstrap` says.
fn partition_state(bootstrap: &str) -> Option<(i32, usize)> {
    let consumer: BaseConsumer = client(bootstrap).create().ok()?;
    let metadata = consumer
        .fetch_metadata(Some(TOPIC), Duration::from_secs(5))
        .ok()?;
    let partition = metadata.topics().first()?.partitions().first()?;
    (partition.leader() >= 0).then(|| (partition.leader(), partition.isr().len()))
}

/// A producer writing one record at a time until stopped: when it sent each record that
/// was acknowledged, and when the acknowledgement came.
struct Writer {
    acknowledged: Arc<Mutex<Vec<(Instant, Instant)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Writer {
    fn start(bootstrap: &str) -> Result<Self, String> {
        let producer: FutureProducer = client(bootstrap)
            .set("acks", "all")
            .set("linger.ms", "0")
            .set("message.timeout.ms", MESSAGE_TIMEOUT_MS)
            .create()
            .map_err(|error| error.to_string())?;
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| error.to_string())?;
        let thread = thread::spawn({
            let (acknowledged, stop) = (Arc::clone(&acknowledged), Arc::clone(&stop));
            move || {
                while !stop.load(Ordering::Relaxed) {
                    let record = FutureRecord::<(), _>::to(TOPIC).payload("failover");
                    let sent = Instant::now();
                    if runtime
                        .block_on(producer.send(record, Duration::from_secs(5)))
                        .is_ok()
                    {
                        acknowledged
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                            .push((sent, Instant::now()));
                    }
                }
            }
        });
        Ok(Self {
            acknowledged,
            stop,
            thread: Some(thread),
        })
    }

    /// When the first record sent after `instant` was acknowledged.
    fn acknowledged_after(&self, instant: Instant) -> Option<Instant> {
        let acknowledged = self
            .acknowledged
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        acknowledged
            .iter()
            .find(|(sent, _)| *sent > instant)
            .map(|(_, at)| *at)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One leader kill: when the cluster named a new leader, and when the producer had the
/// acknowledgement of the first record it sent after the kill (which adds the client's retry backoff: librdkafka's grows to
/// `retry.backoff.max.ms`, 1 s, while the partition has no leader).
#[derive(Debug, Clone, Copy)]
pub struct Failover {
    pub new_leader: Duration,
    pub first_ack: Duration,
}

/// Kills the leader of a fresh one-partition, three-replica topic `rounds` times on the
/// cluster of `nodes`, timing each [`Failover`].
pub fn measure<C: Nodes + ?Sized>(nodes: &mut C, rounds: usize) -> Result<Vec<Failover>, String> {
    let all: Vec<String> = (1..=nodes.count())
        .map(|id| nodes.bootstrap_of(id))
        .collect();
    let bootstrap = all.join(",");
    create_topic(&bootstrap, TOPIC, 1, 3)?;
    let in_sync = |bootstrap: &str| {
        wait_for(STEP_TIMEOUT, || {
            partition_state(bootstrap).filter(|(_, isr)| *isr == 3)
        })
        .ok_or_else(|| format!("{TOPIC} has not three in-sync replicas"))
    };
    in_sync(&bootstrap)?;
    let writer = Writer::start(&bootstrap)?;
    let mut failovers = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        wait_for(STEP_TIMEOUT, || {
            writer.acknowledged_after(Instant::now() - Duration::from_millis(100))
        })
        .ok_or("the producer is not writing")?;
        let (leader, _) = in_sync(&bootstrap)?;
        let victim = usize::try_from(leader)
            .ok()
            .filter(|id| (1..=nodes.count()).contains(id))
            .ok_or_else(|| format!("leader {leader} is none of the nodes started"))?;
        let survivor = nodes.bootstrap_of(victim % nodes.count() + 1);
        let killed_at = Instant::now();
        nodes.kill(victim);
        // Records sent from here on need the new leader: one sent earlier may have been
        // acknowledged by the old one with its answer still on the way.
        let dead_at = Instant::now();
        wait_for(STEP_TIMEOUT, || {
            partition_state(&survivor).filter(|(new_leader, _)| *new_leader != leader)
        })
        .ok_or("no new leader after the kill")?;
        let new_leader = killed_at.elapsed();
        let acknowledged = wait_for(STEP_TIMEOUT, || writer.acknowledged_after(dead_at))
            .ok_or("no acknowledgement after the kill")?;
        failovers.push(Failover {
            new_leader,
            first_ack: acknowledged - killed_at,
        });
        nodes.restart(victim);
        in_sync(&nodes.bootstrap_of(victim))?;
    }
    Ok(failovers)
}
