//! Overload against a spawned broker: ten thousand connections held, a slow-loris client, a
//! flood of requests from one client. The broker's memory stays bounded and another client's
//! produce latency stays within twice its unloaded figure.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use compat_tests::bench::{peak_rss_mib, rss_mib};
use compat_tests::wire::WireClient;
use compat_tests::{wait_for, SpawnedBroker};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiVersionsRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use spool::records::batch::testing::build_batch;

/// Produce round trips behind each latency figure, one every interval: two seconds of a
/// client producing 200 requests a second.
const PROBES: usize = 400;
const PROBE_INTERVAL: Duration = Duration::from_millis(5);
/// Below these, a latency difference is scheduling noise on a shared two-core machine, where
/// the load, the probe and the broker take turns on the cores: the factor of two applies to
/// figures above them. A flood from one client puts the probe's p99 at 2-4 ms there.
const MEDIAN_FLOOR: Duration = Duration::from_millis(1);
const P99_FLOOR: Duration = Duration::from_millis(5);
/// The largest frame the broker takes by default (`socket.request.max.bytes`).
const FRAME_MAX_BYTES: i32 = 104_857_600;

/// Held by each test for its whole run: a load beside another test's would skew both
/// latency figures.
static ONE_LOAD_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_load_at_a_time() -> MutexGuard<'static, ()> {
    ONE_LOAD_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A client producing one small batch at a time and timing each acknowledgement.
struct Probe {
    client: WireClient,
    request: ProduceRequest,
}

/// Median and 99th percentile of a run of round trips.
#[derive(Debug, Clone, Copy)]
struct Latency {
    median: Duration,
    p99: Duration,
}

impl Probe {
    fn new(broker: &SpawnedBroker) -> Self {
        let mut client = WireClient::connect(&broker.bootstrap);
        client.create_topic("probe");
        let request = produce_request("probe", 100);
        Self { client, request }
    }

    fn measure(&mut self) -> Latency {
        let mut took: Vec<Duration> = (0..PROBES)
            .map(|_| {
                std::thread::sleep(PROBE_INTERVAL);
                let sent = Instant::now();
                let answer = self.client.call(9, &self.request);
                let code = answer.responses[0].partition_responses[0].error_code;
                assert_eq!(code, 0, "probe produce failed");
                sent.elapsed()
            })
            .collect();
        took.sort();
        Latency {
            median: took[PROBES / 2],
            p99: took[PROBES * 99 / 100],
        }
    }
}

/// An acks=1 Produce request of one batch of `value_bytes` to partition 0 of `topic`.
fn produce_request(topic: &'static str, value_bytes: usize) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str(topic)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_records(Some(Bytes::from(build_batch(
                    1,
                    0,
                    &vec![b'v'; value_bytes],
                ))))])])
}

/// Asserts that `loaded` is within twice `unloaded` (figures under [`MEDIAN_FLOOR`] and
/// [`P99_FLOOR`] count as the floor).
fn assert_within_twice(unloaded: Latency, loaded: Latency, load: &str) {
    println!("{load}: produce latency unloaded {unloaded:?}, loaded {loaded:?}");
    for (what, before, after, floor) in [
        ("median", unloaded.median, loaded.median, MEDIAN_FLOOR),
        ("p99", unloaded.p99, loaded.p99, P99_FLOOR),
    ] {
        assert!(
            after <= 2 * before.max(floor),
            "{load}: {what} produce latency {after:?}, unloaded {before:?}"
        );
    }
}

/// Makes room for `descriptors` open files in this process and in each broker it starts, which
/// inherits its limits.
fn allow_open_files(descriptors: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit that getrlimit fills in.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    if limit.rlim_cur >= descriptors {
        return;
    }
    limit.rlim_cur = descriptors;
    limit.rlim_max = limit.rlim_max.max(descriptors);
    // SAFETY: `limit` is a valid rlimit; raising the hard limit needs CAP_SYS_RESOURCE.
    let raised = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(
        raised,
        0,
        "cannot allow {descriptors} open files: {}",
        std::io::Error::last_os_error()
    );
}

/// An ApiVersions v3 request as a client sends it, naming its software.
fn api_versions() -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("overload"))
        .with_client_software_version(StrBytes::from_static_str("1"))
}

fn broker_rss(broker: &SpawnedBroker) -> f64 {
    rss_mib(broker.pid().expect("a running broker")).expect("broker RSS")
}

#[test]
fn ten_thousand_connections_are_held_in_bounded_memory_without_slowing_others() {
    const HELD: usize = 10_000;
    /// What one idle connection may cost the broker: its task, socket halves and buffers.
    const CONNECTION_KIB_MAX: f64 = 64.0;
    let _serial = one_load_at_a_time();
    allow_open_files(HELD as u64 + 1024);
    let broker = SpawnedBroker::start(&format!("\"max.connections\" = {}", HELD + 100));
    let mut probe = Probe::new(&broker);
    let unloaded = probe.measure();
    let rss_before = broker_rss(&broker);

    let opened = Instant::now();
    let mut held: Vec<WireClient> = (0..HELD)
        .map(|_| WireClient::connect(&broker.bootstrap))
        .collect();
    println!("connected in {:?}", opened.elapsed());
    // Each connection is a client that has asked something, not only a socket.
    for client in &mut held {
        client.send(3, &api_versions());
    }
    for client in &mut held {
        let (_, answer) = client.receive::<ApiVersionsRequest>(3);
        assert_eq!(answer.error_code, 0);
    }
    let opened_in = opened.elapsed();
    let rss_held = broker_rss(&broker);
    let loaded = probe.measure();

    // Every connection is still served.
    for client in &mut held {
        client.send(3, &api_versions());
    }
    for client in &mut held {
        let (_, answer) = client.receive::<ApiVersionsRequest>(3);
        assert_eq!(answer.error_code, 0);
    }
    let per_connection_kib = (rss_held - rss_before) * 1024.0 / HELD as f64;
    println!(
        "{HELD} connections opened and answered in {opened_in:?}; broker RSS {rss_before:.0} -> \
         {rss_held:.0} MiB ({per_connection_kib:.1} KiB per connection)"
    );
    assert!(
        per_connection_kib < CONNECTION_KIB_MAX,
        "{per_connection_kib:.1} KiB per connection"
    );
    assert_within_twice(unloaded, loaded, "10 000 connections held");
}

/// The start of a Produce v9 request whose size prefix claims `size` bytes: a client that
/// announces a request and never finishes sending it.
fn announced_request(size: i32) -> Vec<u8> {
    let mut bytes = size.to_be_bytes().to_vec();
    bytes.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 1]);
    bytes
}

/// Connections of a slow-loris client, each announcing a request of `size` bytes and then
/// sending one more byte of it every `pace` until the broker closes it or `stop` is set.
/// `announced` is set once every connection has announced its request. Returns the number of
/// connections the broker closed, and the ones still open.
fn slow_loris(
    bootstrap: &str,
    connections: usize,
    size: i32,
    pace: Duration,
    announced: &AtomicBool,
    stop: &AtomicBool,
) -> (usize, Vec<TcpStream>) {
    let mut open: Vec<TcpStream> = (0..connections)
        .map(|_| {
            let mut socket = TcpStream::connect(bootstrap).expect("connect");
            socket.write_all(&announced_request(size)).expect("write");
            socket
        })
        .collect();
    announced.store(true, Ordering::Release);
    let mut closed = 0;
    while !stop.load(Ordering::Acquire) && !open.is_empty() {
        std::thread::sleep(pace);
        let before = open.len();
        open.retain_mut(|socket| socket.write_all(&[0]).is_ok());
        closed += before - open.len();
    }
    (closed, open)
}

/// Whether the broker has closed `socket`: a write to it fails once the broker's reset has
/// come back.
fn closed_by_broker(socket: &mut TcpStream) -> bool {
    socket.write_all(&[0]).is_err()
}

#[test]
fn a_slow_loris_client_holds_neither_memory_nor_other_clients_back() {
    const CONNECTIONS: usize = 200;
    /// The pace of the slow client: far below the 64 KiB/s a body must keep.
    const PACE: Duration = Duration::from_millis(50);
    /// Two claims of the largest frame fill the pool, and a waiting claim cuts a stalled body
    /// after 100 ms: the last of them is cut after about 10 s.
    const CUT_WITHIN: Duration = Duration::from_secs(30);
    let _serial = one_load_at_a_time();
    allow_open_files(CONNECTIONS as u64 + 1024);
    let broker = SpawnedBroker::start("");
    let mut probe = Probe::new(&broker);
    let unloaded = probe.measure();
    let rss_before = broker_rss(&broker);

    let announced = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let attack = std::thread::spawn({
        let bootstrap = broker.bootstrap.clone();
        let (announced, stop) = (Arc::clone(&announced), Arc::clone(&stop));
        move || {
            slow_loris(
                &bootstrap,
                CONNECTIONS,
                FRAME_MAX_BYTES,
                PACE,
                &announced,
                &stop,
            )
        }
    });
    // Every slow connection has claimed, or waits to claim, the largest frame.
    wait_for(Duration::from_secs(30), || {
        announced.load(Ordering::Acquire).then_some(())
    })
    .expect("the slow connections are open");
    let loaded = probe.measure();
    let rss_attacked = broker_rss(&broker);
    stop.store(true, Ordering::Release);
    let (closed_during, mut open) = attack.join().expect("slow-loris thread");

    // The rest are closed once their claims are granted and their bodies fall behind.
    let started = Instant::now();
    let all_closed = wait_for(CUT_WITHIN, || {
        open.retain_mut(|socket| !closed_by_broker(socket));
        open.is_empty().then_some(())
    });
    println!(
        "slow loris: {closed_during} of {CONNECTIONS} connections cut during the attack, the \
         rest {:?} after it; broker RSS {rss_before:.0} -> {rss_attacked:.0} MiB",
        started.elapsed()
    );
    assert!(
        all_closed.is_some(),
        "{} slow connections left open",
        open.len()
    );
    assert!(
        closed_during > 0,
        "no slow connection was cut during the attack"
    );
    assert!(
        rss_attacked - rss_before < 64.0,
        "{rss_before:.0} -> {rss_attacked:.0} MiB"
    );
    assert_within_twice(unloaded, loaded, "slow loris");
}

#[test]
fn a_flood_from_one_client_does_not_slow_others_down() {
    /// The flooding client's requests: produce batches of this size, as many in flight as
    /// the broker reads ahead on one connection, for at most this long or this many.
    const BATCH_BYTES: usize = 256 * 1024;
    const IN_FLIGHT: usize = 16;
    const FLOOD_FOR: Duration = Duration::from_secs(60);
    const FLOOD_REQUESTS_MAX: usize = 200_000;
    /// What the flood may add to the broker's memory: its requests in flight, far below the
    /// pool (`queued.max.request.bytes`, 256 MiB), and what the connection buffers.
    const FLOOD_MIB_MAX: f64 = 64.0;
    let _serial = one_load_at_a_time();
    let broker = SpawnedBroker::start("");
    let mut probe = Probe::new(&broker);
    let unloaded = probe.measure();
    let rss_before = broker_rss(&broker);

    let mut flooder = WireClient::connect(&broker.bootstrap);
    flooder.create_topic("flood");
    let request = produce_request("flood", BATCH_BYTES);
    let stop = Arc::new(AtomicBool::new(false));
    let flood = std::thread::spawn({
        let stop = Arc::clone(&stop);
        move || {
            let started = Instant::now();
            let mut sent = 0;
            for _ in 0..IN_FLIGHT {
                flooder.send(9, &request);
            }
            while !stop.load(Ordering::Acquire)
                && started.elapsed() < FLOOD_FOR
                && sent < FLOOD_REQUESTS_MAX
            {
                let (_, answer) = flooder.receive::<ProduceRequest>(9);
                assert_eq!(answer.responses[0].partition_responses[0].error_code, 0);
                flooder.send(9, &request);
                sent += 1;
            }
            (sent, started.elapsed())
        }
    });
    let loaded = probe.measure();
    stop.store(true, Ordering::Release);
    let (sent, flooded_for) = flood.join().expect("flooding thread");
    let rss_peak = peak_rss_mib(broker.pid().expect("a running broker")).expect("peak RSS");
    println!(
        "flood: {sent} requests of {} KiB answered in {flooded_for:?} ({:.0} MiB/s); broker \
         RSS {rss_before:.0} MiB, peak {rss_peak:.0} MiB",
        BATCH_BYTES / 1024,
        (sent * BATCH_BYTES) as f64 / (1 << 20) as f64 / flooded_for.as_secs_f64()
    );
    assert!(
        rss_peak - rss_before < FLOOD_MIB_MAX,
        "{rss_before:.0} -> peak {rss_peak:.0} MiB"
    );
    assert!(
        flooded_for < FLOOD_FOR && sent < FLOOD_REQUESTS_MAX,
        "the flood ended before the probe did"
    );
    assert_within_twice(unloaded, loaded, "flood from one client");
}
