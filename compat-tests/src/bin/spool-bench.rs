//! A first produce/consume throughput run (`make bench`): starts a broker on a temporary data
//! dir, produces 1 KiB messages with acks=all through rdkafka, consumes them back, and prints
//! the figures; then 16 producers write to one partition at once, and `perf` (when it can
//! trace the broker) counts the broker's fsyncs and appended batches, to show how many
//! acknowledged batches one group-commit fsync covers. Bounded in count and time. The
//! performance issue grows this into the full tool.

use std::time::{Duration, Instant};

use compat_tests::SpawnedBroker;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const MESSAGES: usize = 200_000;
const MESSAGE_BYTES: usize = 1024;
const TIME_LIMIT: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() {
    let broker = SpawnedBroker::start(&std::env::var("SPOOL_BENCH_CONFIG").unwrap_or_default());
    let payload = vec![b'x'; MESSAGE_BYTES];
    let producer: FutureProducer = broker
        .client_config()
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("producer");
    let started = Instant::now();
    let mut pending = Vec::with_capacity(10_000);
    let mut produced = 0;
    while produced < MESSAGES && started.elapsed() < TIME_LIMIT {
        let record = FutureRecord::<(), _>::to("bench")
            .payload(&payload)
            .partition(0);
        match producer.send_result(record) {
            Ok(delivery) => pending.push(delivery),
            Err((error, _)) => panic!("enqueue failed: {error}"),
        }
        produced += 1;
        if pending.len() == 10_000 {
            await_deliveries(&mut pending).await;
        }
    }
    await_deliveries(&mut pending).await;
    report(
        "produce (acks=all, fsync group commit)",
        produced,
        started.elapsed(),
    );

    let consumer: BaseConsumer = broker
        .client_config()
        .set("group.id", "bench")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset("bench", 0, Offset::Beginning)
        .expect("assignment");
    consumer.assign(&assignment).expect("assign");
    let started = Instant::now();
    let mut consumed = 0;
    while consumed < produced && started.elapsed() < TIME_LIMIT {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            message.expect("message");
            consumed += 1;
        }
    }
    report("consume", consumed, started.elapsed());

    group_commit(&broker).await;
}

/// Producers writing to one partition at once in the group-commit phase.
const CONCURRENT_PRODUCERS: usize = 16;
/// Messages each of them sends, in rounds of `ROUND` awaited deliveries.
const MESSAGES_PER_PRODUCER: usize = 4000;
const ROUND: usize = 50;

/// 16 producers with acks=all on one partition; reports acknowledged batches per fsync.
async fn group_commit(broker: &SpawnedBroker) {
    let payload = vec![b'x'; MESSAGE_BYTES];
    let tracer = SyscallCounter::attach();
    let started = Instant::now();
    let producers = (0..CONCURRENT_PRODUCERS).map(|_| {
        let producer: FutureProducer = broker
            .client_config()
            .set("acks", "all")
            .set("linger.ms", "1")
            .create()
            .expect("producer");
        let payload = payload.clone();
        tokio::spawn(async move {
            let mut sent = 0;
            while sent < MESSAGES_PER_PRODUCER && started.elapsed() < TIME_LIMIT {
                let mut pending: Vec<_> = (0..ROUND)
                    .map(|_| {
                        let record = FutureRecord::<(), _>::to("bench-16")
                            .payload(&payload)
                            .partition(0);
                        producer.send_result(record).expect("enqueue")
                    })
                    .collect();
                await_deliveries(&mut pending).await;
                sent += ROUND;
            }
            sent
        })
    });
    let mut produced = 0;
    for producer in producers.collect::<Vec<_>>() {
        produced += producer.await.expect("producer task");
    }
    let elapsed = started.elapsed();
    report(
        &format!("produce, {CONCURRENT_PRODUCERS} producers on one partition (acks=all)"),
        produced,
        elapsed,
    );
    match tracer.and_then(SyscallCounter::finish) {
        Some(counts) => {
            let fsyncs = counts.fdatasync + counts.fsync;
            let batches = batches_in(&broker.data_dir().join("bench-16-0"));
            println!(
                "group commit: {fsyncs} fsyncs ({:.0}/s), {batches} batches appended, {:.1} batches per fsync",
                fsyncs as f64 / elapsed.as_secs_f64(),
                batches as f64 / fsyncs.max(1) as f64
            );
        }
        None => {
            println!("group commit: perf cannot trace the broker here; fsync counts not measured")
        }
    }
}

/// How many batches the partition directory's segments hold.
fn batches_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
                .filter_map(|path| std::fs::read(path).ok())
                .map(|bytes| spool::cli::dump_log::batch_count(&bytes))
                .sum()
        })
        .unwrap_or(0)
}

/// fsync system calls on the machine while the phase runs, counted by `perf stat` tracepoints.
struct SyscallCounter {
    child: std::process::Child,
}

#[derive(Debug, Default)]
struct SyscallCounts {
    fdatasync: u64,
    fsync: u64,
}

impl SyscallCounter {
    fn attach() -> Option<Self> {
        let child = std::process::Command::new("perf")
            // System-wide (-a): the broker fsyncs on blocking-pool threads that may start after
            // perf attaches, which `-p` would miss. Run the bench on an otherwise idle machine.
            .args([
                "stat",
                "-x,",
                "-a",
                "-e",
                "syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .ok()?;
        // perf needs a moment to attach before the load starts.
        std::thread::sleep(Duration::from_millis(300));
        Some(Self { child })
    }

    fn finish(self) -> Option<SyscallCounts> {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let output = self.child.wait_with_output().ok()?;
        let mut counts = SyscallCounts::default();
        let mut counted = false;
        for line in String::from_utf8_lossy(&output.stderr).lines() {
            let fields: Vec<&str> = line.split(',').collect();
            let (Some(value), Some(event)) = (fields.first(), fields.get(2)) else {
                continue;
            };
            let Ok(value) = value.parse::<u64>() else {
                continue;
            };
            match *event {
                "syscalls:sys_enter_fdatasync" => counts.fdatasync = value,
                "syscalls:sys_enter_fsync" => counts.fsync = value,
                _ => continue,
            }
            counted = true;
        }
        counted.then_some(counts)
    }
}

async fn await_deliveries(pending: &mut Vec<rdkafka::producer::DeliveryFuture>) {
    for delivery in pending.drain(..) {
        delivery
            .await
            .expect("delivery canceled")
            .expect("delivered");
    }
}

fn report(what: &str, messages: usize, elapsed: Duration) {
    let seconds = elapsed.as_secs_f64();
    let megabytes = (messages * MESSAGE_BYTES) as f64 / (1024.0 * 1024.0);
    println!(
        "{what}: {messages} x {MESSAGE_BYTES} B in {seconds:.2} s = {:.0} msgs/s, {:.1} MiB/s",
        messages as f64 / seconds,
        megabytes / seconds
    );
}
