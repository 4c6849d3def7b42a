//! The benchmark behind `make bench` and `spool-bench`: rdkafka producers and a consumer
//! against any bootstrap, reporting throughput, produce (ack) latency and end-to-end latency
//! percentiles, and — given the broker's pid — its CPU seconds per GiB and peak RSS. Every
//! phase is bounded in count and time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;

/// Bytes at the start of each payload: the send time (µs since the epoch), for end-to-end
/// latency.
const STAMP_BYTES: usize = 8;
const GIB: f64 = (1u64 << 30) as f64;

/// What one run does.
#[derive(Debug, Clone)]
pub struct Workload {
    pub name: String,
    pub message_bytes: usize,
    /// Messages to produce in all (split between the producers).
    pub messages: u64,
    /// Upper bound on each phase.
    pub max_duration: Duration,
    pub partitions: i32,
    /// Replicas of each partition (more than one needs a cluster).
    pub replication_factor: i32,
    pub producers: usize,
    /// Read the messages back: concurrently (end-to-end latency), or only once all are
    /// produced (consume from page cache).
    pub consume: ConsumeMode,
    /// Consumers reading them back, the partitions dealt out between them.
    pub consumers: usize,
    pub acks: String,
    pub compression: String,
    pub linger_ms: u32,
    pub batch_bytes: u32,
    /// Messages per second across producers (latency at a fixed rate); `None`: as fast as
    /// possible.
    pub rate: Option<u64>,
    /// Consumer `fetch.max.bytes` and `max.partition.fetch.bytes`.
    pub fetch_bytes: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeMode {
    None,
    Concurrent,
    AfterProduce,
}

impl Workload {
    /// Scenario defaults: 1 KiB, one partition, one producer, acks=all, read concurrently.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            message_bytes: 1024,
            messages: 200_000,
            max_duration: Duration::from_secs(60),
            partitions: 1,
            replication_factor: 1,
            producers: 1,
            consume: ConsumeMode::Concurrent,
            consumers: 1,
            acks: "all".to_owned(),
            compression: "none".to_owned(),
            linger_ms: 5,
            batch_bytes: 1_000_000,
            rate: None,
            fetch_bytes: 52_428_800,
        }
    }
}

/// Throughput of one phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throughput {
    pub messages: u64,
    pub seconds: f64,
    pub messages_per_second: f64,
    pub mib_per_second: f64,
}

impl Throughput {
    fn new(messages: u64, message_bytes: usize, elapsed: Duration) -> Self {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        Self {
            messages,
            seconds,
            messages_per_second: messages as f64 / seconds,
            mib_per_second: (messages as f64 * message_bytes as f64) / (1024.0 * 1024.0) / seconds,
        }
    }
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    /// From latencies in microseconds (sorted here); `None` when there are none.
    pub fn of(mut micros: Vec<u64>) -> Option<Self> {
        if micros.is_empty() {
            return None;
        }
        micros.sort_unstable();
        let at = |quantile: f64| {
            let index =
                ((micros.len() as f64 * quantile).ceil() as usize).clamp(1, micros.len()) - 1;
            micros[index] as f64 / 1000.0
        };
        Some(Self {
            p50: at(0.50),
            p99: at(0.99),
            p999: at(0.999),
            max: at(1.0),
        })
    }
}

/// What the broker process spent, from `/proc`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BrokerCost {
    pub cpu_seconds: f64,
    pub cpu_seconds_per_gib: f64,
    /// When the messages are read back after producing: the CPU seconds per GiB of each
    /// phase on its own.
    pub phases: Option<PhaseCost>,
    /// Peak resident memory of the process since it started (VmHWM).
    pub peak_rss_mib: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhaseCost {
    pub produce_cpu_seconds_per_gib: f64,
    pub consume_cpu_seconds_per_gib: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Results {
    pub workload: String,
    pub produce: Throughput,
    pub ack_latency: Option<Percentiles>,
    pub consume: Option<Throughput>,
    pub end_to_end_latency: Option<Percentiles>,
    pub broker: Option<BrokerCost>,
    /// The broker's own Produce latency, from spool's metrics endpoint when it has one.
    pub broker_produce_latency: Option<BucketPercentiles>,
}

/// Upper bounds, in ms, of the histogram buckets that hold the p50, p99 and p99.9.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketPercentiles {
    pub p50_at_most: f64,
    pub p99_at_most: f64,
    pub p999_at_most: f64,
}

/// Cumulative histogram buckets: (upper bound in seconds, observations at or below it).
pub type Histogram = Vec<(f64, f64)>;

/// How long a metrics scrape may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// spool's `spool_request_duration_seconds` buckets for Produce, read from its metrics
/// endpoint (`http://HOST:PORT/metrics`); `None` if the endpoint does not answer.
pub fn produce_latency_histogram(url: &str) -> Option<Histogram> {
    use std::io::{Read, Write};
    let address = url.strip_prefix("http://")?.strip_suffix("/metrics")?;
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(SCRAPE_TIMEOUT)).ok()?;
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: {address}\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let buckets: Histogram = text
        .lines()
        .filter_map(|line| {
            let labels = line.strip_prefix("spool_request_duration_seconds_bucket{")?;
            let (labels, count) = labels.split_once("} ")?;
            if !labels.split(',').any(|label| label == "api=\"Produce\"") {
                return None;
            }
            let bound = labels
                .split(',')
                .find_map(|label| label.strip_prefix("le=\""))?
                .trim_end_matches('"');
            let bound = match bound {
                "+Inf" => f64::INFINITY,
                bound => bound.parse().ok()?,
            };
            Some((bound, count.trim().parse().ok()?))
        })
        .collect();
    // No buckets yet (no Produce request so far) is an empty histogram, not a failure.
    Some(buckets)
}

/// The bucket percentiles of what was observed between two readings of a histogram.
pub fn bucket_percentiles(before: &Histogram, after: &Histogram) -> Option<BucketPercentiles> {
    let delta: Histogram = after
        .iter()
        .map(|(bound, count)| {
            let earlier = before
                .iter()
                .find(|(b, _)| b == bound)
                .map_or(0.0, |(_, c)| *c);
            (*bound, count - earlier)
        })
        .collect();
    let total = delta.iter().map(|(_, count)| *count).fold(0.0, f64::max);
    let at = |q: f64| {
        delta
            .iter()
            .find(|(_, count)| *count >= q * total)
            .map(|(bound, _)| bound * 1000.0)
    };
    (total > 0.0).then(|| {
        Some(BucketPercentiles {
            p50_at_most: at(0.5)?,
            p99_at_most: at(0.99)?,
            p999_at_most: at(0.999)?,
        })
    })?
}

impl Results {
    pub fn to_json(&self, workload: &Workload) -> serde_json::Value {
        let percentiles = |p: &Option<Percentiles>| {
            p.map(|p| json!({"p50_ms": p.p50, "p99_ms": p.p99, "p999_ms": p.p999, "max_ms": p.max}))
        };
        let throughput = |t: &Throughput| json!({"messages": t.messages, "seconds": t.seconds, "msgs_per_s": t.messages_per_second, "mib_per_s": t.mib_per_second});
        json!({
            "workload": self.workload,
            "parameters": {
                "message_bytes": workload.message_bytes, "messages": workload.messages,
                "partitions": workload.partitions,
                "replication_factor": workload.replication_factor,
                "producers": workload.producers,
                "consumers": workload.consumers,
                "acks": workload.acks, "compression": workload.compression,
                "linger_ms": workload.linger_ms, "batch_bytes": workload.batch_bytes,
                "rate": workload.rate, "fetch_bytes": workload.fetch_bytes,
            },
            "produce": throughput(&self.produce),
            "ack_latency": percentiles(&self.ack_latency),
            "consume": self.consume.as_ref().map(throughput),
            "end_to_end_latency": percentiles(&self.end_to_end_latency),
            "broker": self.broker.map(|b| json!({
                "cpu_seconds": b.cpu_seconds, "cpu_seconds_per_gib": b.cpu_seconds_per_gib,
                "produce_cpu_seconds_per_gib": b.phases.map(|p| p.produce_cpu_seconds_per_gib),
                "consume_cpu_seconds_per_gib": b.phases.map(|p| p.consume_cpu_seconds_per_gib),
                "peak_rss_mib": b.peak_rss_mib,
            })),
            "broker_produce_latency": self.broker_produce_latency.map(|p| json!({
                "p50_ms_at_most": p.p50_at_most, "p99_ms_at_most": p.p99_at_most,
                "p999_ms_at_most": p.p999_at_most,
            })),
        })
    }
}

/// Acknowledgement latencies, recorded by the producer's delivery callback.
struct Acks {
    started: Instant,
    latencies: Mutex<Vec<u64>>,
    acked: Arc<AtomicU64>,
    failed: AtomicU64,
}

/// The producers' context: shares one [`Acks`].
struct AckContext(Arc<Acks>);

impl ClientContext for AckContext {}

impl ProducerContext for AckContext {
    /// When the message was handed to the producer, in µs since `started`.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_at: usize) {
        let acks = &self.0;
        if result.is_err() {
            acks.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let now = acks.started.elapsed().as_micros() as u64;
        let latency = now.saturating_sub(sent_at as u64);
        acks.latencies
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(latency);
        acks.acked.fetch_add(1, Ordering::Relaxed);
    }
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_micros() as u64)
}

pub fn client(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    config
}

/// Creates the run's topic (a fresh name per run).
pub fn create_topic(
    bootstrap: &str,
    name: &str,
    partitions: i32,
    replication_factor: i32,
) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> =
        client(bootstrap).create().map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let created = runtime
        .block_on(admin.create_topics(
            &[NewTopic::new(
                name,
                partitions,
                TopicReplication::Fixed(replication_factor),
            )],
            &AdminOptions::new(),
        ))
        .map_err(|e| e.to_string())?;
    match created.first() {
        Some(Ok(_)) => Ok(()),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok(()),
        Some(Err((_, code))) => Err(format!("create topic {name}: {code}")),
        None => Err("create topic: no result".into()),
    }
}

/// CPU ticks (user + system) of `pid`.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(ticks as f64 / per_second)
}

/// The peak resident memory of process `pid` so far (VmHWM), in MiB.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    memory_mib(pid, "VmHWM:")
}

/// The resident memory of process `pid` now, in MiB.
pub fn rss_mib(pid: u32) -> Option<f64> {
    memory_mib(pid, "VmRSS:")
}

/// A memory figure of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`), in MiB.
fn memory_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Restricts every thread of process `pid` to `cpus`; threads it starts later inherit that.
pub fn pin_process(pid: u32, cpus: &[usize]) -> std::io::Result<()> {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        // SAFETY: CPU_SET ignores CPUs beyond the set's size.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let tid: libc::pid_t = task?
            .file_name()
            .to_string_lossy()
            .parse()
            .map_err(std::io::Error::other)?;
        // SAFETY: `set` is a valid cpu_set_t of the size given.
        let done =
            unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) };
        if done != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Partitions the idle-partitions scenario creates.
pub const IDLE_PARTITIONS: i32 = 1000;

/// The broker's resident memory before and after creating one topic of `partitions`
/// partitions into which nothing is produced.
#[derive(Debug, Clone, Copy)]
pub struct IdleGrowth {
    pub partitions: i32,
    pub rss_before_mib: f64,
    pub rss_after_mib: f64,
}

impl IdleGrowth {
    pub fn kib_per_partition(&self) -> f64 {
        (self.rss_after_mib - self.rss_before_mib) * 1024.0 / f64::from(self.partitions.max(1))
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "workload": "idle-partitions",
            "partitions": self.partitions,
            "rss_before_mib": self.rss_before_mib,
            "rss_after_mib": self.rss_after_mib,
            "kib_per_partition": self.kib_per_partition(),
        })
    }
}

/// Measures how the broker's RSS grows with `partitions` new, empty partitions.
pub fn idle_partitions(
    bootstrap: &str,
    broker_pid: u32,
    partitions: i32,
) -> Result<IdleGrowth, String> {
    let rss = || memory_mib(broker_pid, "VmRSS:").ok_or("cannot read the broker's RSS");
    let rss_before_mib = rss()?;
    create_topic(
        bootstrap,
        &format!("bench-idle-{}", now_micros()),
        partitions,
        1,
    )?;
    Ok(IdleGrowth {
        partitions,
        rss_before_mib,
        rss_after_mib: rss()?,
    })
}

/// Runs `workload` against `bootstrap`; progress lines go to stderr.
pub fn run(
    bootstrap: &str,
    workload: &Workload,
    broker_pid: Option<u32>,
) -> Result<Results, String> {
    let topic = format!("bench-{}-{}", workload.name, now_micros());
    create_topic(
        bootstrap,
        &topic,
        workload.partitions,
        workload.replication_factor,
    )?;
    let cpu_before = broker_pid.and_then(cpu_seconds);
    let produced = Arc::new(AtomicU64::new(0));
    let consumed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + workload.max_duration;

    // The consumer stops at the number of messages actually acknowledged (known at the end).
    let expected = Arc::new(AtomicU64::new(u64::MAX));
    let concurrent = (workload.consume == ConsumeMode::Concurrent).then(|| {
        let (workload, bootstrap, topic) = (workload.clone(), bootstrap.to_owned(), topic.clone());
        let (consumed, expected) = (Arc::clone(&consumed), Arc::clone(&expected));
        let (ready, fetching) = std::sync::mpsc::channel();
        let marker = send_markers(&bootstrap, &topic, workload.partitions);
        let readers = workload.consumers.max(1);
        let handle = thread::spawn(move || {
            Reading {
                bootstrap: &bootstrap,
                topic: &topic,
                workload: &workload,
                consumed: &consumed,
                expected: &expected,
                deadline,
            }
            .all(Some(ready))
        });
        // Produce only once every consumer is fetching (has read a marker), so end-to-end
        // latency does not include their start-up.
        match marker {
            Ok(()) => {
                let waited = Instant::now() + Duration::from_secs(10);
                for _ in 0..readers {
                    let left = waited.saturating_duration_since(Instant::now());
                    if fetching.recv_timeout(left).is_err() {
                        break;
                    }
                }
            }
            Err(error) => eprintln!("marker record: {error}"),
        }
        handle
    });

    let progress = {
        let (produced, consumed) = (Arc::clone(&produced), Arc::clone(&consumed));
        let name = workload.name.clone();
        let total = workload.messages;
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = Arc::clone(&done);
        let handle = thread::spawn(move || {
            let mut ticks = 0;
            while !stop.load(Ordering::Relaxed) && ticks < 36_000 {
                thread::park_timeout(Duration::from_millis(100));
                ticks += 1;
                if ticks % 10 == 0 {
                    eprintln!(
                        "[{name}] produced {}/{total}, consumed {}",
                        produced.load(Ordering::Relaxed),
                        consumed.load(Ordering::Relaxed)
                    );
                }
            }
        });
        (done, handle)
    };

    let (produce, ack_latencies) = produce(bootstrap, &topic, workload, &produced, deadline)?;
    let cpu_after_produce = broker_pid.and_then(cpu_seconds);
    expected.store(produce.messages, Ordering::Release);
    let (consume_result, e2e) = match workload.consume {
        ConsumeMode::None => (None, Vec::new()),
        ConsumeMode::Concurrent => concurrent
            .map(|handle| handle.join().map_err(|_| "consumer panicked".to_owned()))
            .transpose()?
            .map_or((None, Vec::new()), |(throughput, e2e)| {
                (Some(throughput), e2e)
            }),
        ConsumeMode::AfterProduce => {
            let reading = Reading {
                bootstrap,
                topic: &topic,
                workload,
                consumed: &consumed,
                expected: &expected,
                deadline: Instant::now() + workload.max_duration,
            };
            (Some(reading.all(None).0), Vec::new())
        }
    };
    progress.0.store(true, Ordering::Relaxed);
    progress.1.thread().unpark();
    let _ = progress.1.join();

    let broker = broker_pid.and_then(|pid| {
        let cpu_after = cpu_seconds(pid)?;
        let cpu = cpu_after - cpu_before?;
        let gib = (produce.messages as f64 * workload.message_bytes as f64 / GIB).max(1e-12);
        let moved = gib * if consume_result.is_some() { 2.0 } else { 1.0 };
        let phases = (workload.consume == ConsumeMode::AfterProduce)
            .then(|| {
                let middle = cpu_after_produce?;
                Some(PhaseCost {
                    produce_cpu_seconds_per_gib: (middle - cpu_before?) / gib,
                    consume_cpu_seconds_per_gib: (cpu_after - middle) / gib,
                })
            })
            .flatten();
        Some(BrokerCost {
            cpu_seconds: cpu,
            cpu_seconds_per_gib: cpu / moved,
            phases,
            peak_rss_mib: peak_rss_mib(pid)?,
        })
    });
    Ok(Results {
        workload: workload.name.clone(),
        produce,
        ack_latency: Percentiles::of(ack_latencies),
        consume: consume_result,
        end_to_end_latency: if workload.consume == ConsumeMode::Concurrent {
            Percentiles::of(e2e)
        } else {
            None
        },
        broker,
        broker_produce_latency: None,
    })
}

/// The producers: each sends its share (at its share of the rate), then flushes.
fn produce(
    bootstrap: &str,
    topic: &str,
    workload: &Workload,
    produced: &Arc<AtomicU64>,
    deadline: Instant,
) -> Result<(Throughput, Vec<u64>), String> {
    let acks = Arc::new(Acks {
        started: Instant::now(),
        latencies: Mutex::new(Vec::with_capacity(
            workload.messages.min(10_000_000) as usize
        )),
        acked: Arc::clone(produced),
        failed: AtomicU64::new(0),
    });
    let started = Instant::now();
    let per_producer = workload.messages / workload.producers.max(1) as u64;
    let handles: Vec<_> = (0..workload.producers.max(1))
        .map(|_| {
            let producer: Result<ThreadedProducer<AckContext>, String> = client(bootstrap)
                .set("acks", &workload.acks)
                .set("compression.type", &workload.compression)
                .set("linger.ms", workload.linger_ms.to_string())
                .set("batch.size", workload.batch_bytes.to_string())
                .set("queue.buffering.max.messages", "1000000")
                .set("queue.buffering.max.kbytes", "1048576")
                .create_with_context(AckContext(Arc::clone(&acks)))
                .map_err(|e| e.to_string());
            let topic = topic.to_owned();
            let clock = acks.started;
            let message_bytes = workload.message_bytes.max(STAMP_BYTES);
            let interval = workload.rate.map(|rate| {
                Duration::from_secs_f64(workload.producers.max(1) as f64 / rate.max(1) as f64)
            });
            thread::spawn(move || -> Result<u64, String> {
                let producer = producer?;
                let mut payload = vec![b'x'; message_bytes];
                let begun = Instant::now();
                let mut sent = 0u64;
                while sent < per_producer && Instant::now() < deadline {
                    if let Some(interval) = interval {
                        let due = begun + interval.mul_f64(sent as f64);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            thread::sleep(wait);
                        }
                    }
                    payload[..STAMP_BYTES].copy_from_slice(&now_micros().to_be_bytes());
                    let mut record = BaseRecord::<(), [u8], usize>::with_opaque_to(
                        &topic,
                        clock.elapsed().as_micros() as usize,
                    )
                    .payload(&payload);
                    loop {
                        match producer.send(record) {
                            Ok(()) => break,
                            Err((error, back)) => {
                                if error.rdkafka_error_code() != Some(RDKafkaErrorCode::QueueFull) {
                                    return Err(format!("produce: {error}"));
                                }
                                // The local queue is full: let deliveries drain it.
                                thread::sleep(Duration::from_millis(1));
                                record = back;
                            }
                        }
                    }
                    sent += 1;
                }
                let left = deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_secs(5));
                producer.flush(left).map_err(|e| format!("flush: {e}"))?;
                Ok(sent)
            })
        })
        .collect();
    for handle in handles {
        handle
            .join()
            .map_err(|_| "producer panicked".to_owned())??;
    }
    let elapsed = started.elapsed();
    let failed = acks.failed.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(format!("{failed} messages were not acknowledged"));
    }
    let latencies = std::mem::take(
        &mut *acks
            .latencies
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    );
    Ok((
        Throughput::new(
            produced.load(Ordering::Relaxed),
            workload.message_bytes,
            elapsed,
        ),
        latencies,
    ))
}

/// The payload of the marker records sent before a concurrent run: a consumer is fetching
/// once it has read one. Their zero stamp keeps them out of the counts and latencies.
const MARKER: [u8; STAMP_BYTES] = [0; STAMP_BYTES];

/// Sends a marker record to each partition.
fn send_markers(bootstrap: &str, topic: &str, partitions: i32) -> Result<(), String> {
    let producer: rdkafka::producer::BaseProducer =
        client(bootstrap).create().map_err(|e| e.to_string())?;
    for partition in 0..partitions {
        producer
            .send(
                BaseRecord::<(), [u8]>::to(topic)
                    .payload(&MARKER[..])
                    .partition(partition),
            )
            .map_err(|(error, _)| error.to_string())?;
    }
    producer
        .flush(Duration::from_secs(10))
        .map_err(|e| e.to_string())
}

/// Deals `partitions` out to `consumers` (round robin); none gets an empty share when there are
/// at least as many partitions as consumers.
pub fn assignments(partitions: i32, consumers: usize) -> Vec<Vec<i32>> {
    let consumers = consumers.max(1);
    let mut shares = vec![Vec::new(); consumers];
    for partition in 0..partitions {
        shares[partition as usize % consumers].push(partition);
    }
    shares
}

/// What one consumer read: its messages' count and end-to-end latencies (µs), and when it read
/// the first and the last.
struct Consumed {
    count: u64,
    first: Option<Instant>,
    last: Option<Instant>,
    latencies: Vec<u64>,
}

/// What the consumers of one run share.
struct Reading<'a> {
    bootstrap: &'a str,
    topic: &'a str,
    workload: &'a Workload,
    /// Messages read so far, by all of them.
    consumed: &'a AtomicU64,
    /// Where they stop: the messages acknowledged (`u64::MAX` while producers are running).
    expected: &'a AtomicU64,
    deadline: Instant,
}

impl Reading<'_> {
    /// Runs the workload's consumers, each on its share of the partitions, until they have
    /// read the expected messages between them (or the deadline); returns their combined
    /// throughput and end-to-end latencies. Each says on `ready` when it is fetching.
    fn all(&self, ready: Option<std::sync::mpsc::Sender<()>>) -> (Throughput, Vec<u64>) {
        let shares = assignments(self.workload.partitions, self.workload.consumers);
        let readers: Vec<Consumed> = thread::scope(|scope| {
            let handles: Vec<_> = shares
                .iter()
                .map(|partitions| {
                    let ready = ready.clone();
                    scope.spawn(move || self.one(partitions, ready))
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|handle| handle.join().ok())
                .collect()
        });
        let count = readers.iter().map(|reader| reader.count).sum();
        let first = readers.iter().filter_map(|reader| reader.first).min();
        let last = readers.iter().filter_map(|reader| reader.last).max();
        let elapsed = first
            .zip(last)
            .map_or(Duration::ZERO, |(first, last)| last.duration_since(first));
        let latencies = readers
            .into_iter()
            .flat_map(|reader| reader.latencies)
            .collect();
        (
            Throughput::new(count, self.workload.message_bytes, elapsed),
            latencies,
        )
    }

    /// One consumer: reads `partitions` from the beginning until all have read the expected
    /// messages, or the deadline. Says on `ready` when it is fetching.
    fn one(&self, partitions: &[i32], ready: Option<std::sync::mpsc::Sender<()>>) -> Consumed {
        let Reading {
            bootstrap,
            topic,
            workload,
            consumed,
            expected,
            deadline,
        } = *self;
        let consumer: BaseConsumer = match client(bootstrap)
            .set("group.id", format!("{topic}-reader"))
            .set("enable.auto.commit", "false")
            .set("fetch.max.bytes", workload.fetch_bytes.to_string())
            .set(
                "max.partition.fetch.bytes",
                workload.fetch_bytes.to_string(),
            )
            .set("fetch.wait.max.ms", "10")
            // librdkafka pauses fetching for this long once its local queue holds more than
            // queued.min.messages (1 s by default): with small messages and large fetches that
            // pause, not the broker, would be the end-to-end latency.
            .set("fetch.queue.backoff.ms", "1")
            .create()
        {
            Ok(consumer) => consumer,
            Err(error) => {
                eprintln!("consumer: {error}");
                return Consumed {
                    count: 0,
                    first: None,
                    last: None,
                    latencies: Vec::new(),
                };
            }
        };
        let mut assignment = TopicPartitionList::new();
        for &partition in partitions {
            let _ = assignment.add_partition_offset(topic, partition, Offset::Beginning);
        }
        if let Err(error) = consumer.assign(&assignment) {
            eprintln!("assign: {error}");
        }
        let share = workload.messages / workload.consumers.max(1) as u64;
        let mut latencies = Vec::with_capacity(share.min(10_000_000) as usize);
        let mut ready = ready;
        let mut first = None;
        let mut last = None;
        let mut count = 0u64;
        while consumed.load(Ordering::Relaxed) < expected.load(Ordering::Acquire)
            && Instant::now() < deadline
        {
            let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let now = now_micros();
            let stamp = message
                .payload()
                .and_then(|payload| payload.get(..STAMP_BYTES))
                .map(|stamp| {
                    let mut sent = [0u8; STAMP_BYTES];
                    sent.copy_from_slice(stamp);
                    u64::from_be_bytes(sent)
                });
            if stamp == Some(0) {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(());
                }
                continue;
            }
            first.get_or_insert_with(Instant::now);
            if let Some(sent) = stamp {
                latencies.push(now.saturating_sub(sent));
            }
            count += 1;
            last = Some(Instant::now());
            consumed.fetch_add(1, Ordering::Relaxed);
        }
        Consumed {
            count,
            first,
            last,
            latencies,
        }
    }
}

/// The standard scenarios (issue: a–e), `a_rate` being scenario (a)'s produce rate.
pub fn scenario(name: &str, a_rate: Option<f64>) -> Option<Workload> {
    let mut workload = Workload::new(name);
    match name {
        "a" => {}
        "b" => {
            workload.partitions = 6;
            workload.producers = 4;
        }
        "c" => {
            workload.message_bytes = 100;
            workload.messages = 1_000_000;
        }
        "d" => {
            workload.messages = 500_000;
            workload.consume = ConsumeMode::AfterProduce;
        }
        "e" => {
            // Produce latency only: a concurrent consumer would compete with the producer and
            // the broker for the same cores and measure the machine instead.
            let rate = (a_rate? * 0.5).max(1.0) as u64;
            workload.rate = Some(rate);
            workload.messages = rate * 20;
            // At linger 0 rdkafka sends a request per handful of messages (~10 000/s at half of
            // a's rate) and its own queueing becomes the tail: with fsync off, the broker
            // answered 99.9 % of requests within 3.2 ms while the clients saw p99 30 ms.
            workload.linger_ms = 1;
            workload.consume = ConsumeMode::None;
        }
        _ => return None,
    }
    Some(workload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_percentiles_use_the_observations_between_readings() {
        let before = vec![(0.001, 10.0), (0.002, 10.0), (f64::INFINITY, 10.0)];
        let after = vec![(0.001, 1000.0), (0.002, 1095.0), (f64::INFINITY, 1110.0)];
        let p = bucket_percentiles(&before, &after).unwrap();
        assert_eq!((p.p50_at_most, p.p99_at_most), (1.0, f64::INFINITY));
        let after = vec![(0.001, 1000.0), (0.002, 1110.0), (f64::INFINITY, 1110.0)];
        let p = bucket_percentiles(&before, &after).unwrap();
        assert_eq!(
            (p.p50_at_most, p.p99_at_most, p.p999_at_most),
            (1.0, 2.0, 2.0)
        );
        assert_eq!(bucket_percentiles(&before, &before), None);
    }

    #[test]
    fn partitions_are_dealt_out_round_robin() {
        assert_eq!(
            assignments(6, 4),
            vec![vec![0, 4], vec![1, 5], vec![2], vec![3]]
        );
        assert_eq!(assignments(1, 1), vec![vec![0]]);
        assert_eq!(assignments(3, 0), vec![vec![0, 1, 2]]);
    }

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let micros: Vec<u64> = (1..=1000).map(|i| i * 1000).collect();
        let p = Percentiles::of(micros).unwrap();
        assert_eq!((p.p50, p.p99, p.p999, p.max), (500.0, 990.0, 999.0, 1000.0));
        assert_eq!(Percentiles::of(Vec::new()), None);
        let one = Percentiles::of(vec![2500]).unwrap();
        assert_eq!((one.p50, one.max), (2.5, 2.5));
    }
}
