//! `make bench` / `spool-bench`: the standard scenarios against a broker it starts (a fresh
//! one per scenario, so each reports its own peak RSS), or against any Kafka-compatible
//! broker with `--bootstrap` (and `--broker-pid` for its CPU and memory):
//!
//! - a: 1 KiB messages, 1 partition, acks=all — b: 1 KiB, 6 partitions, 4 producers —
//!   c: 100-byte messages — d: consume from page cache with large fetches — e: produce
//!   latency at 50 % of (a)'s throughput, broker and clients on separate CPUs —
//!   group-commit: 16 producers on one partition, fsyncs counted with `perf` when it can
//!   trace the broker — idle-partitions: the broker's RSS growth per partition when a topic
//!   of 1 000 empty partitions is created — replication: three brokers on one etcd, scenario
//!   (a) on a topic of replication factor 3 beside one of replication factor 1 (throughput
//!   ratio), then leader failover times (kill -9 → first acks=all acknowledgement).
//!
//! With `--versus-kafka`, each of a–e also runs on Apache Kafka (single-node KRaft from the
//! jars in KAFKA_HOME, started fresh per scenario by scripts/kafka-reference.sh, Kafka's
//! defaults) with the same clients and settings, and a table of spool/Kafka ratios follows;
//! Kafka's own perf-test tools then run against both. The replication scenario runs on three
//! Kafka nodes too (each a broker and a controller voter, the same session timeout).
//!
//! Or one custom workload (`--message-bytes`, `--partitions`, …). Progress goes to stderr; a
//! summary table and one JSON line per workload to stdout, also written to
//! `target/bench/<workload>.json`. Every phase is bounded in count and time.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use compat_tests::bench::{self, ConsumeMode, Results, Workload};
use compat_tests::etcd::{start_brokers, SpawnedEtcd};
use compat_tests::failover;
use compat_tests::kafka::{ReferenceBroker, ReferenceCluster};
use compat_tests::SpawnedBroker;
use rdkafka::producer::{FutureProducer, FutureRecord};

const MESSAGE_BYTES: usize = 1024;
const TIME_LIMIT: Duration = Duration::from_secs(120);

#[derive(Debug, Parser)]
#[command(name = "spool-bench")]
struct Args {
    /// Benchmark this broker instead of starting spool.
    #[arg(long)]
    bootstrap: Option<String>,
    /// The broker's process id (with --bootstrap), for CPU seconds per GiB and peak RSS.
    #[arg(long)]
    broker_pid: Option<u32>,
    /// spool's metrics endpoint (with --bootstrap; `http://HOST:PORT/metrics`), for the
    /// broker's own Produce latency beside the clients' figures.
    #[arg(long)]
    broker_metrics: Option<String>,
    /// Scenarios to run, comma-separated: a,b,c,d,e,group-commit,idle-partitions,replication.
    #[arg(
        long,
        default_value = "a,b,c,d,e,group-commit,idle-partitions,replication",
        value_delimiter = ','
    )]
    scenarios: Vec<String>,
    /// Where the JSON results go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Run one custom workload with these settings instead of the scenarios.
    #[arg(long)]
    custom: bool,
    #[arg(long, default_value_t = 1024)]
    message_bytes: usize,
    #[arg(long, default_value_t = 200_000)]
    messages: u64,
    /// Upper bound on each phase, in seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    #[arg(long, default_value_t = 1)]
    partitions: i32,
    /// Replicas per partition (more than one needs a cluster).
    #[arg(long, default_value_t = 1)]
    replication_factor: i32,
    #[arg(long, default_value_t = 1)]
    producers: usize,
    /// Consumers reading the messages back concurrently (end-to-end latency), the partitions
    /// dealt out between them (at most one per partition); 0 to only produce.
    #[arg(long, default_value_t = 1)]
    consumers: usize,
    #[arg(long, default_value = "all")]
    acks: String,
    #[arg(long, default_value = "none")]
    compression: String,
    #[arg(long, default_value_t = 5)]
    linger_ms: u32,
    #[arg(long, default_value_t = 1_000_000)]
    batch_bytes: u32,
    /// Messages per second across producers (default: as fast as possible).
    #[arg(long)]
    rate: Option<u64>,
    /// Also run each scenario on Apache Kafka (KAFKA_HOME) and print spool/Kafka ratios.
    #[arg(long)]
    versus_kafka: bool,
}

fn custom_workload(args: &Args) -> Workload {
    Workload {
        message_bytes: args.message_bytes,
        messages: args.messages,
        max_duration: Duration::from_secs(args.seconds),
        partitions: args.partitions,
        replication_factor: args.replication_factor,
        producers: args.producers,
        consume: if args.consumers == 0 {
            ConsumeMode::None
        } else {
            ConsumeMode::Concurrent
        },
        consumers: args.consumers.max(1),
        acks: args.acks.clone(),
        compression: args.compression.clone(),
        linger_ms: args.linger_ms,
        batch_bytes: args.batch_bytes,
        rate: args.rate,
        ..Workload::new("custom")
    }
}

/// A fresh spool, with `SPOOL_BENCH_CONFIG` as extra config, serving metrics on a free port
/// unless that config says otherwise.
fn start_broker() -> SpawnedBroker {
    let mut config = std::env::var("SPOOL_BENCH_CONFIG").unwrap_or_default();
    if !config.contains("metrics.listen") {
        config.push_str("\n\"metrics.listen\" = \"127.0.0.1:0\"\n");
    }
    SpawnedBroker::start(&config)
}

/// Runs `workload`, reading the broker's Produce latency histogram before and after when
/// `metrics` names spool's endpoint.
fn run_measured(
    bootstrap: &str,
    workload: &Workload,
    pid: Option<u32>,
    metrics: Option<&str>,
) -> Result<Results, String> {
    let before = metrics.and_then(bench::produce_latency_histogram);
    let mut results = bench::run(bootstrap, workload, pid)?;
    results.broker_produce_latency = metrics
        .zip(before)
        .and_then(|(url, before)| {
            bench::produce_latency_histogram(url).map(|after| (before, after))
        })
        .and_then(|(before, after)| bench::bucket_percentiles(&before, &after));
    Ok(results)
}

/// Runs `workload` on the given broker, or on a fresh spool; with `separate_cores` (and a
/// machine of at least two), the fresh spool runs on the upper half of the CPUs and the
/// clients on the lower half, so latency is not the two fighting over a core.
fn run(args: &Args, workload: &Workload, separate_cores: bool) -> Results {
    let outcome = match &args.bootstrap {
        Some(bootstrap) => run_measured(
            bootstrap,
            workload,
            args.broker_pid,
            args.broker_metrics.as_deref(),
        ),
        None => {
            let mut broker = start_broker();
            let results = pinned_apart(broker.pid(), separate_cores, || {
                run_measured(
                    &broker.bootstrap,
                    workload,
                    broker.pid(),
                    broker.metrics_url().as_deref(),
                )
            });
            broker.stop();
            results
        }
    };
    outcome.unwrap_or_else(|error| panic!("workload {}: {error}", workload.name))
}

/// Runs `workload` on a fresh Apache Kafka with the same clients and settings.
fn run_on_kafka(workload: &Workload, separate_cores: bool) -> Results {
    let kafka = ReferenceBroker::start(&[]);
    let results = pinned_apart(kafka.pid(), separate_cores, || {
        bench::run(&kafka.bootstrap, workload, kafka.pid())
    });
    drop(kafka);
    results.unwrap_or_else(|error| panic!("workload {} on Kafka: {error}", workload.name))
}

/// CPUs of the machine (not of this process's affinity, which pinning narrows).
fn online_cpus() -> usize {
    // SAFETY: sysconf has no preconditions.
    usize::try_from(unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }).map_or(1, |n| n.max(1))
}

/// Runs `work` with the broker process `pid` and this process on separate CPUs when
/// `separate_cores` (see [`pin_apart`]), unpinning this process afterwards.
fn pinned_apart<T>(pid: Option<u32>, separate_cores: bool, work: impl FnOnce() -> T) -> T {
    let pinned = separate_cores && pin_apart(pid);
    let result = work();
    if pinned {
        unpin_self();
    }
    result
}

/// Pins the broker process `pid` to the upper half of the CPUs and this process to the lower half.
fn pin_apart(pid: Option<u32>) -> bool {
    let cpus = online_cpus();
    let (Some(pid), true) = (pid, cpus >= 2) else {
        eprintln!("latency: one CPU here, broker and clients share it");
        return false;
    };
    let (clients, brokers): (Vec<usize>, Vec<usize>) = (0..cpus).partition(|cpu| *cpu < cpus / 2);
    match bench::pin_process(pid, &brokers)
        .and_then(|()| bench::pin_process(std::process::id(), &clients))
    {
        Ok(()) => {
            eprintln!("latency: broker on CPUs {brokers:?}, clients on {clients:?}");
            true
        }
        Err(error) => {
            eprintln!("latency: cannot pin ({error}); broker and clients share the CPUs");
            false
        }
    }
}

fn unpin_self() {
    let all: Vec<usize> = (0..online_cpus()).collect();
    if let Err(error) = bench::pin_process(std::process::id(), &all) {
        eprintln!("cannot unpin the clients: {error}");
    }
}

fn main() {
    let args = Args::parse();
    if args.custom && args.consumers > usize::try_from(args.partitions).unwrap_or(0) {
        eprintln!(
            "--consumers {} needs at least as many partitions (--partitions {}): each reads its own",
            args.consumers, args.partitions
        );
        std::process::exit(2);
    }
    let workloads: Vec<String> = if args.custom {
        vec!["custom".to_owned()]
    } else {
        args.scenarios.clone()
    };
    let mut results: Vec<(Workload, Results)> = Vec::new();
    let mut kafka_results: Vec<(Workload, Results)> = Vec::new();
    for name in &workloads {
        if name == "group-commit" {
            if args.bootstrap.is_some() {
                eprintln!("group-commit: needs a broker this tool starts (it reads its segments); skipped");
                continue;
            }
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            let broker = start_broker();
            runtime.block_on(group_commit(&broker));
            continue;
        }
        if name == "idle-partitions" {
            idle_partitions(&args);
            continue;
        }
        if name == "replication" {
            if args.bootstrap.is_some() {
                eprintln!("replication: needs a cluster this tool starts; skipped");
                continue;
            }
            replication(&args);
            continue;
        }
        let a_rate = results
            .iter()
            .find(|(workload, _)| workload.name == "a")
            .map(|(_, results)| results.produce.messages_per_second);
        let workload = if name == "custom" {
            custom_workload(&args)
        } else {
            match bench::scenario(name, a_rate) {
                Some(workload) => workload,
                None if name == "e" => {
                    eprintln!("e: needs scenario a's throughput first (run a,e); skipped");
                    continue;
                }
                None => {
                    panic!("unknown scenario {name} (a, b, c, d, e, group-commit, idle-partitions, replication)")
                }
            }
        };
        eprintln!("running {name}: {workload:?}");
        let outcome = run(&args, &workload, name == "e");
        save(&args, name, &outcome.to_json(&workload));
        if args.versus_kafka {
            eprintln!("running {name} on Apache Kafka");
            let kafka = run_on_kafka(&workload, name == "e");
            save(&args, &format!("{name}-kafka"), &kafka.to_json(&workload));
            kafka_results.push((workload.clone(), kafka));
        }
        if name == "a" {
            kafka_perf_tests(&args, &workload);
        }
        results.push((workload, outcome));
    }
    if !results.is_empty() {
        print!("{}", summary(&results));
    }
    if !kafka_results.is_empty() {
        print!(
            "\nApache Kafka (same clients and settings):{}",
            summary(&kafka_results)
        );
        print!("{}", ratios(&results, &kafka_results));
    }
}

/// spool's figures divided by Kafka's, per scenario run on both.
fn ratios(spool: &[(Workload, Results)], kafka: &[(Workload, Results)]) -> String {
    let ratio = |ours: Option<f64>, theirs: Option<f64>| match (ours, theirs) {
        (Some(ours), Some(theirs)) if theirs > 0.0 => format!("{:.2}", ours / theirs),
        _ => "-".to_owned(),
    };
    let mut text = String::from(
        "\nspool / Kafka  produce MiB/s  consume MiB/s  ack p50  ack p99  e2e p99  CPU s/GiB  peak RSS\n",
    );
    for (_, theirs) in kafka {
        let Some((_, ours)) = spool.iter().find(|(_, r)| r.workload == theirs.workload) else {
            continue;
        };
        let consume = |r: &Results| r.consume.as_ref().map(|c| c.mib_per_second);
        let ack = |r: &Results, p99: bool| r.ack_latency.map(|p| if p99 { p.p99 } else { p.p50 });
        let e2e = |r: &Results| r.end_to_end_latency.map(|p| p.p99);
        let cpu = |r: &Results| r.broker.map(|b| b.cpu_seconds_per_gib);
        let rss = |r: &Results| r.broker.map(|b| b.peak_rss_mib);
        text.push_str(&format!(
            "{:<13}  {:>12}  {:>13}  {:>7}  {:>7}  {:>7}  {:>9}  {:>8}\n",
            ours.workload,
            ratio(
                Some(ours.produce.mib_per_second),
                Some(theirs.produce.mib_per_second)
            ),
            ratio(consume(ours), consume(theirs)),
            ratio(ack(ours, false), ack(theirs, false)),
            ratio(ack(ours, true), ack(theirs, true)),
            ratio(e2e(ours), e2e(theirs)),
            ratio(cpu(ours), cpu(theirs)),
            ratio(rss(ours), rss(theirs)),
        ));
    }
    text.push_str(
        "(throughput: above 1 spool is faster; latency, CPU and RSS: below 1 spool uses less. \
         spool fsyncs before acknowledging acks=all (flush.on.ack, group commit); Kafka's defaults do not fsync.)\n",
    );
    text
}

/// Prints a workload's JSON line and writes it to `<out>/<name>.json`.
fn save(args: &Args, name: &str, json: &serde_json::Value) {
    let line = json.to_string();
    println!("{line}");
    if std::fs::create_dir_all(&args.out).is_ok() {
        let _ = std::fs::write(args.out.join(format!("{name}.json")), format!("{line}\n"));
    }
}

/// RSS growth per empty partition, on the given broker (with --broker-pid) or a fresh spool.
fn idle_partitions(args: &Args) {
    let partitions = bench::IDLE_PARTITIONS;
    let outcome = match (&args.bootstrap, args.broker_pid) {
        (Some(bootstrap), Some(pid)) => bench::idle_partitions(bootstrap, pid, partitions),
        (Some(_), None) => {
            eprintln!("idle-partitions: needs --broker-pid with --bootstrap; skipped");
            return;
        }
        (None, _) => {
            let mut broker = start_broker();
            let pid = broker.pid().expect("spawned broker has a pid");
            let outcome = bench::idle_partitions(&broker.bootstrap, pid, partitions);
            broker.stop();
            outcome
        }
    };
    let growth = outcome.unwrap_or_else(|error| panic!("idle-partitions: {error}"));
    save(args, "idle-partitions", &growth.to_json());
    println!(
        "idle partitions: RSS {:.1} MiB -> {:.1} MiB with {partitions} more partitions = {:.1} KiB per partition",
        growth.rss_before_mib,
        growth.rss_after_mib,
        growth.kib_per_partition()
    );
}

/// Session of the replication scenario's brokers: etcd's shortest practical lease.
const REPLICATION_SESSION: Duration = Duration::from_secs(3);
/// Leader kills the replication scenario times.
const FAILOVER_ROUNDS: usize = 3;

/// Replication figures of one cluster.
struct Replication {
    /// Scenario (a)'s produce throughput on replication factor 1, then 3.
    rf1_mib_per_second: f64,
    rf3_mib_per_second: f64,
    failovers: Vec<failover::Failover>,
}

impl Replication {
    fn rf3_share(&self) -> f64 {
        self.rf3_mib_per_second / self.rf1_mib_per_second
    }

    /// The median time to the first acknowledgement after a leader kill.
    fn median_first_ack(&self) -> Duration {
        let mut times: Vec<Duration> = self.failovers.iter().map(|f| f.first_ack).collect();
        times.sort_unstable();
        times.get(times.len() / 2).copied().unwrap_or_default()
    }
}

/// Three brokers on one etcd: scenario (a) on a topic of replication factor 1, then on one
/// of replication factor 3 (acks=all waits for all three), and leader failover times; with
/// `--versus-kafka` the same on three Apache Kafka nodes (KRaft, each a broker and a
/// controller voter) with the same session timeout, and the ratios.
fn replication(args: &Args) {
    let etcd = SpawnedEtcd::start();
    let mut brokers = start_brokers(
        &etcd,
        "bench",
        &format!(
            "\"broker.session.timeout.ms\" = {}\n",
            REPLICATION_SESSION.as_millis()
        ),
    );
    let ours = replicate(args, "spool", "", brokers.as_mut_slice());
    for broker in &mut brokers {
        broker.stop();
    }
    if !args.versus_kafka {
        return;
    }
    let session = format!(
        "broker.session.timeout.ms={}",
        REPLICATION_SESSION.as_millis()
    );
    let heartbeat = format!(
        "broker.heartbeat.interval.ms={}",
        REPLICATION_SESSION.as_millis() / 3
    );
    let mut kafka = ReferenceCluster::start(3, &[&session, &heartbeat]);
    let theirs = replicate(args, "Apache Kafka", "-kafka", &mut kafka);
    println!(
        "replication, spool / Kafka: RF=3 throughput {:.2}, RF=3 share of RF=1 {:.0} % / {:.0} %, median first acknowledgement after a leader kill {:.2} s / {:.2} s",
        ours.rf3_mib_per_second / theirs.rf3_mib_per_second,
        100.0 * ours.rf3_share(),
        100.0 * theirs.rf3_share(),
        ours.median_first_ack().as_secs_f64(),
        theirs.median_first_ack().as_secs_f64(),
    );
}

/// The replication figures of the three-node cluster `nodes` (`name` in what it prints,
/// `suffix` on its JSON files).
fn replicate<C: failover::Nodes + ?Sized>(
    args: &Args,
    name: &str,
    suffix: &str,
    nodes: &mut C,
) -> Replication {
    let bootstrap: Vec<String> = (1..=nodes.count())
        .map(|id| nodes.bootstrap_of(id))
        .collect();
    let bootstrap = bootstrap.join(",");
    let mut throughput = Vec::new();
    for replication_factor in [1, 3] {
        let workload = Workload {
            name: format!("a-rf{replication_factor}"),
            replication_factor,
            ..bench::scenario("a", None).expect("scenario a")
        };
        eprintln!(
            "running {} on {name}'s three nodes: {workload:?}",
            workload.name
        );
        let results = bench::run(&bootstrap, &workload, None)
            .unwrap_or_else(|error| panic!("workload {} on {name}: {error}", workload.name));
        save(
            args,
            &format!("{}{suffix}", workload.name),
            &results.to_json(&workload),
        );
        throughput.push(results.produce.mib_per_second);
    }
    let figures = Replication {
        rf1_mib_per_second: throughput[0],
        rf3_mib_per_second: throughput[1],
        failovers: failover::measure(nodes, FAILOVER_ROUNDS)
            .unwrap_or_else(|error| panic!("failover on {name}: {error}")),
    };
    println!(
        "replication on {name}: scenario a on three nodes, acks=all: RF=1 {:.1} MiB/s, RF=3 {:.1} MiB/s = {:.0} % of RF=1",
        figures.rf1_mib_per_second,
        figures.rf3_mib_per_second,
        100.0 * figures.rf3_share()
    );
    let seconds = |time: fn(&failover::Failover) -> Duration| {
        let all: Vec<String> = figures
            .failovers
            .iter()
            .map(|failover| format!("{:.2}", time(failover).as_secs_f64()))
            .collect();
        all.join(", ")
    };
    println!(
        "failover on {name} after a leader kill -9 (session timeout {:.1} s): new leader in Metadata after {} s; first acks=all acknowledgement after {} s",
        REPLICATION_SESSION.as_secs_f64(),
        seconds(|failover| failover.new_leader),
        seconds(|failover| failover.first_ack),
    );
    let json_seconds = |time: fn(&failover::Failover) -> Duration| {
        figures
            .failovers
            .iter()
            .map(|failover| time(failover).as_secs_f64())
            .collect::<Vec<_>>()
    };
    save(
        args,
        &format!("replication-failover{suffix}"),
        &serde_json::json!({
            "session_timeout_s": REPLICATION_SESSION.as_secs_f64(),
            "new_leader_s": json_seconds(|failover| failover.new_leader),
            "first_ack_s": json_seconds(|failover| failover.first_ack),
        }),
    );
    figures
}

/// Kafka's own load generators for scenario (a), beside ours, when KAFKA_HOME holds a Kafka
/// distribution: against spool, and against Kafka too with `--versus-kafka`.
fn kafka_perf_tests(args: &Args, workload: &Workload) {
    let Some(bin) = std::env::var_os("KAFKA_HOME")
        .map(|home| PathBuf::from(home).join("bin"))
        .filter(|bin| bin.join("kafka-producer-perf-test.sh").exists())
    else {
        eprintln!("kafka-producer-perf-test: skipped, KAFKA_HOME holds no Kafka distribution");
        return;
    };
    match &args.bootstrap {
        Some(bootstrap) => perf_tools(&bin, "this broker", bootstrap, workload),
        None => {
            let broker = start_broker();
            perf_tools(&bin, "spool", &broker.bootstrap, workload);
        }
    }
    if args.versus_kafka {
        let kafka = ReferenceBroker::start(&[]);
        perf_tools(&bin, "Kafka", &kafka.bootstrap, workload);
    }
}

/// kafka-producer-perf-test then kafka-consumer-perf-test with `workload`'s count and size.
fn perf_tools(bin: &std::path::Path, label: &str, bootstrap: &str, workload: &Workload) {
    let topic = "bench-kafka-perf-test";
    let messages = workload.messages.to_string();
    let bytes = workload.message_bytes.to_string();
    let producer_props = format!("bootstrap.servers={bootstrap}");
    let runs: [(&str, Vec<&str>); 2] = [
        (
            "kafka-producer-perf-test.sh",
            vec![
                "--topic",
                topic,
                "--num-records",
                &messages,
                "--record-size",
                &bytes,
                "--throughput",
                "-1",
                "--command-property",
                &producer_props,
                "acks=all",
                "linger.ms=5",
                "batch.size=1000000",
            ],
        ),
        (
            "kafka-consumer-perf-test.sh",
            vec![
                "--bootstrap-server",
                bootstrap,
                "--topic",
                topic,
                "--num-records",
                &messages,
                "--timeout",
                "60000",
            ],
        ),
    ];
    for (tool, tool_args) in runs {
        match std::process::Command::new("timeout")
            .arg("300")
            .arg(bin.join(tool))
            .args(&tool_args)
            .output()
        {
            Ok(output) => {
                let text = String::from_utf8_lossy(&output.stdout);
                let last: Vec<&str> = text.lines().rev().take(2).collect();
                println!(
                    "{tool} on {label} (scenario a's size and count): {}",
                    last.into_iter().rev().collect::<Vec<_>>().join(" | ")
                );
            }
            Err(error) => eprintln!("{tool}: {error}"),
        }
    }
}

/// The results as one table.
fn summary(results: &[(Workload, Results)]) -> String {
    let dash = || "-".to_owned();
    let mut text = String::from(
        "\nworkload  produce msgs/s  MiB/s   ack p50/p99/p99.9/max ms     consume msgs/s  MiB/s   e2e p50/p99/p99.9/max ms     CPU s/GiB  peak RSS MiB\n",
    );
    for (_, result) in results {
        let latency = |p: &Option<bench::Percentiles>| {
            p.map_or_else(dash, |p| {
                format!("{:.2}/{:.2}/{:.2}/{:.1}", p.p50, p.p99, p.p999, p.max)
            })
        };
        let consume = result.consume.as_ref();
        text.push_str(&format!(
            "{:<9} {:>14.0}  {:>6.1}  {:<28} {:>14}  {:>6}  {:<28} {:>9}  {:>12}\n",
            result.workload,
            result.produce.messages_per_second,
            result.produce.mib_per_second,
            latency(&result.ack_latency),
            consume.map_or_else(dash, |c| format!("{:.0}", c.messages_per_second)),
            consume.map_or_else(dash, |c| format!("{:.1}", c.mib_per_second)),
            latency(&result.end_to_end_latency),
            result
                .broker
                .map_or_else(dash, |b| format!("{:.2}", b.cpu_seconds_per_gib)),
            result
                .broker
                .map_or_else(dash, |b| format!("{:.0}", b.peak_rss_mib)),
        ));
    }
    for (_, result) in results {
        if let Some(p) = result.broker_produce_latency {
            text.push_str(&format!(
                "{}: broker's own Produce latency (its histogram buckets): p50 <= {} ms, p99 <= {} ms, p99.9 <= {} ms\n",
                result.workload, p.p50_at_most, p.p99_at_most, p.p999_at_most
            ));
        }
        if let Some(phases) = result.broker.and_then(|b| b.phases) {
            text.push_str(&format!(
                "{}: broker CPU s/GiB by phase: produce {:.2}, consume {:.2}\n",
                result.workload,
                phases.produce_cpu_seconds_per_gib,
                phases.consume_cpu_seconds_per_gib
            ));
        }
    }
    text
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
