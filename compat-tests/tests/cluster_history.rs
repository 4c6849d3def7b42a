//! Jepsen-style history check of replication: three brokers on etcd, a topic of replication
//! factor 3 with `min.insync.replicas=2`, an idempotent acks=all producer writing unique
//! values while partition leaders are killed with SIGKILL and restarted again and again.
//! Afterwards a read_committed consumer reads every partition from the start, and the
//! history must hold: every acknowledged value is read exactly once, at the offset its
//! acknowledgement named; no value is read twice; nothing is read that was never sent.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::{leaders_and_isrs, start_cluster};
use common::{committed_reader, read_to_ends, text, TIMEOUT};
use compat_tests::etcd::SpawnedEtcd;
use compat_tests::{wait_for, SpawnedBroker};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, Message};

/// etcd's shortest practical lease: each kill costs about one session.
const SESSION_MS: u64 = 3000;
const TOPIC: &str = "history";
const PARTITIONS: i32 = 3;
/// Leader kills (and restarts) in one run; `SPOOL_HISTORY_KILLS` overrides it.
const KILLS_DEFAULT: usize = 50;
/// Bounds the producer: values sent per millisecond of the run, and in all.
const SEND_INTERVAL: Duration = Duration::from_millis(2);
const VALUES_MAX: usize = 200_000;

/// What the producer was told about each value: where it was acknowledged, or that it failed
/// (which leaves it undetermined: it may or may not have been written).
#[derive(Default)]
struct History {
    acknowledged: HashMap<String, (i32, i64)>,
    failed: usize,
}

#[derive(Clone)]
struct Recorder(Arc<Mutex<History>>);

impl ClientContext for Recorder {}

impl ProducerContext for Recorder {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let mut history = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(message) => {
                let value = String::from_utf8_lossy(message.payload().unwrap_or_default());
                history
                    .acknowledged
                    .insert(value.into_owned(), (message.partition(), message.offset()));
            }
            Err(_) => history.failed += 1,
        }
    }
}

fn all_bootstraps(brokers: &[SpawnedBroker]) -> String {
    brokers
        .iter()
        .map(|broker| broker.bootstrap.clone())
        .collect::<Vec<_>>()
        .join(",")
}

/// Partition → (leader, sorted ISR) as `broker` answers Metadata.
fn states(broker: &SpawnedBroker) -> Option<BTreeMap<i32, (i32, Vec<i32>)>> {
    leaders_and_isrs(broker, TOPIC, PARTITIONS as usize)
}

/// The next of a fixed pseudo-random sequence (the run is the same for a given seed).
fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *seed >> 33
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_writes_survive_repeated_leader_kills_exactly_once() {
    let kills: usize = std::env::var("SPOOL_HISTORY_KILLS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(KILLS_DEFAULT);
    let etcd = SpawnedEtcd::start();
    let mut brokers = start_cluster(&etcd, "history", SESSION_MS);
    let admin: AdminClient<DefaultClientContext> =
        brokers[0].client_config().create().expect("admin");
    let topic = NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(3))
        .set("min.insync.replicas", "2");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let created = admin
        .create_topics(&[topic], &options)
        .await
        .expect("create");
    assert_eq!(created, [Ok(TOPIC.to_owned())]);
    let all_in_sync = |broker: &SpawnedBroker| {
        states(broker).filter(|view| {
            view.values()
                .all(|(leader, isr)| *leader > 0 && *isr == [1, 2, 3])
        })
    };
    wait_for(TIMEOUT, || all_in_sync(&brokers[0])).expect("every replica in sync");

    let history = Arc::new(Mutex::new(History::default()));
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", all_bootstraps(&brokers))
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "120000");
    let producer: ThreadedProducer<Recorder> = config
        .create_with_context(Recorder(Arc::clone(&history)))
        .expect("producer");
    let producing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sender = {
        let producing = Arc::clone(&producing);
        std::thread::spawn(move || {
            let mut sent = 0;
            while producing.load(std::sync::atomic::Ordering::Relaxed) && sent < VALUES_MAX {
                let value = format!("v-{sent}");
                let record = BaseRecord::<str, str>::to(TOPIC)
                    .partition(sent as i32 % PARTITIONS)
                    .payload(&value);
                match producer.send(record) {
                    Ok(()) => sent += 1,
                    // The queue is full while leaders move: wait for room.
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
                std::thread::sleep(SEND_INTERVAL);
            }
            producer.flush(Duration::from_secs(120)).expect("flush");
            sent
        })
    };

    let mut seed = 0x5eed_u64;
    let started = Instant::now();
    for kill in 0..kills {
        let partition = (next(&mut seed) % PARTITIONS as u64) as i32;
        let observer = &brokers[(kill + 1) % 3];
        let view = wait_for(TIMEOUT, || all_in_sync(observer))
            .unwrap_or_else(|| panic!("kill {kill}: replicas not back in sync"));
        let victim = view[&partition].0;
        brokers[victim as usize - 1].kill();
        let survivor = &brokers[victim as usize % 3];
        wait_for(TIMEOUT, || {
            states(survivor).filter(|view| {
                view.values()
                    .all(|(leader, _)| *leader > 0 && *leader != victim)
            })
        })
        .unwrap_or_else(|| panic!("kill {kill}: no new leader after broker {victim}"));
        brokers[victim as usize - 1].restart();
    }
    wait_for(TIMEOUT, || all_in_sync(&brokers[0])).expect("back in sync after the last kill");
    producing.store(false, std::sync::atomic::Ordering::Relaxed);
    let sent = sender.join().expect("sender");
    let run = started.elapsed();

    let history = history.lock().unwrap_or_else(|p| p.into_inner());
    let read = read_everything(&brokers[0]);
    eprintln!(
        "history: {kills} leader kills in {run:.0?}; {sent} sent, {} acknowledged, {} failed, {} read",
        history.acknowledged.len(),
        history.failed,
        read.len()
    );
    let problems = check(&history.acknowledged, sent, &read);
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        history.acknowledged.len() > sent / 2,
        "too few writes were acknowledged to mean anything"
    );
    for broker in &mut brokers {
        broker.stop();
    }
}

/// What is wrong with a history (at most a few examples of each kind): values read more than
/// once, read but never sent (`v-0` … `v-{sent - 1}` were), acknowledged but never read,
/// or read at another place than acknowledged.
fn check(
    acknowledged: &HashMap<String, (i32, i64)>,
    sent: usize,
    read: &[(String, (i32, i64))],
) -> Vec<String> {
    const EXAMPLES: usize = 5;
    let mut seen: HashMap<&str, Vec<(i32, i64)>> = HashMap::new();
    for (value, at) in read {
        seen.entry(value.as_str()).or_default().push(*at);
    }
    let mut problems = Vec::new();
    let mut report = |kind: &str, examples: Vec<String>| {
        if !examples.is_empty() {
            problems.push(format!("{kind}: {}", examples.join(", ")));
        }
    };
    let duplicated = seen.iter().filter(|(_, at)| at.len() > 1);
    report(
        "read more than once",
        duplicated
            .take(EXAMPLES)
            .map(|(value, at)| format!("{value} at {at:?}"))
            .collect(),
    );
    let sent_value = |value: &str| {
        value
            .strip_prefix("v-")
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| n < sent)
    };
    let unknown = seen.keys().filter(|value| !sent_value(value));
    report(
        "read but never sent",
        unknown
            .take(EXAMPLES)
            .map(|value| value.to_string())
            .collect(),
    );
    let lost = acknowledged
        .iter()
        .filter(|(value, _)| !seen.contains_key(value.as_str()));
    report(
        "acknowledged, never read",
        lost.take(EXAMPLES)
            .map(|(value, at)| format!("{value} acknowledged at {at:?}"))
            .collect(),
    );
    // librdkafka acknowledges without an offset (-1001) what it knows persisted only
    // because the broker acknowledged a later sequence of the idempotent producer (its
    // "implicit ack" after a lost answer): such a value must be in its partition.
    let moved = acknowledged.iter().filter_map(|(value, at)| {
        let found = seen.get(value.as_str())?.first()?;
        let same_place = match at.1 {
            offset if offset < 0 => found.0 == at.0,
            _ => found == at,
        };
        (!same_place).then(|| format!("{value} acknowledged at {at:?}, read at {found:?}"))
    });
    report(
        "read elsewhere than acknowledged",
        moved.take(EXAMPLES).collect(),
    );
    problems
}

#[test]
fn the_checker_finds_lost_duplicated_moved_and_unknown_values() {
    let at = |offset: i64| (0, offset);
    let acknowledged: HashMap<String, (i32, i64)> =
        [("v-0", at(0)), ("v-1", at(1)), ("v-2", at(2))]
            .into_iter()
            .map(|(value, at)| (value.to_owned(), at))
            .collect();
    let read = |values: &[(&str, i64)]| -> Vec<(String, (i32, i64))> {
        values
            .iter()
            .map(|(value, offset)| (value.to_string(), at(*offset)))
            .collect()
    };
    let good = read(&[("v-0", 0), ("v-1", 1), ("v-2", 2), ("v-3", 3)]);
    assert!(
        check(&acknowledged, 4, &good).is_empty(),
        "an unacknowledged value may appear"
    );
    let mut without_offset = acknowledged.clone();
    without_offset.insert("v-3".to_owned(), (0, -1001));
    assert!(
        check(&without_offset, 4, &good).is_empty(),
        "an acknowledgement without an offset is read in its partition"
    );
    let elsewhere = [("v-3".to_owned(), (1, 3))];
    let moved = check(&without_offset, 4, &[&good[..3], &elsewhere[..]].concat());
    assert!(
        moved.len() == 1 && moved[0].starts_with("read elsewhere"),
        "{moved:?}"
    );
    let bad = [
        (read(&[("v-0", 0), ("v-1", 1)]), "acknowledged, never read"),
        (
            read(&[("v-0", 0), ("v-1", 1), ("v-2", 2), ("v-2", 3)]),
            "read more than once",
        ),
        (
            read(&[("v-0", 0), ("v-1", 1), ("v-2", 3)]),
            "read elsewhere",
        ),
        (
            read(&[("v-0", 0), ("v-1", 1), ("v-2", 2), ("v-9", 3)]),
            "read but never sent",
        ),
    ];
    for (history, kind) in bad {
        let problems = check(&acknowledged, 4, &history);
        assert!(
            problems.len() == 1 && problems[0].starts_with(kind),
            "{kind}: {problems:?}"
        );
    }
}

/// Every value of every partition up to its high watermark, with where it was read, by a
/// read_committed consumer.
fn read_everything(broker: &SpawnedBroker) -> Vec<(String, (i32, i64))> {
    let (consumer, ends) = committed_reader(broker, TOPIC, PARTITIONS, "history-checker");
    read_to_ends(&consumer, TOPIC, &ends, TIMEOUT * 4)
        .iter()
        .map(|message| {
            (
                text(message.payload()),
                (message.partition(), message.offset()),
            )
        })
        .collect()
}
