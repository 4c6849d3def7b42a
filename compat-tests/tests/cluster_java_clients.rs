//! Kafka's Java clients through a leader failover, unchanged: `compat-tests/java/
//! FailoverClients.java` runs an idempotent producer (Kafka's defaults: acks=all), a
//! transactional producer and a read_committed consumer group member against three brokers,
//! on a topic of replication factor 3 with `min.insync.replicas=2`. While they run, the broker
//! that leads a partition of the topic, coordinates the group and coordinates the
//! transactional id is killed with SIGKILL, and later restarted. The clients must finish on
//! their own (no failed send, no failed transaction, every value consumed), and the topic must
//! then hold, for a read_committed reader, exactly the acknowledged values at their
//! acknowledged offsets and the committed transactions' values, once each, and nothing else.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use common::cluster::{coordinated_by, create_replicated_topic, partition_leaders, start_cluster};
use common::{committed_reader, read_to_ends, text, TIMEOUT};
use compat_tests::etcd::SpawnedEtcd;
use compat_tests::kafka::{java_process, javac};
use compat_tests::wire::WireClient;
use compat_tests::{bootstrap_of, wait_for};
use rdkafka::Message;

/// etcd's shortest practical lease: the failover waits for it.
const SESSION_MS: u64 = 3000;
const TOPIC: &str = "java-failover";
const PARTITIONS: i32 = 3;
/// What the Java program writes: values of the idempotent producer (2 ms apart), and
/// transactions of `TXN_SIZE` values (100 ms apart).
const RECORDS: usize = 4000;
const TRANSACTIONS: usize = 40;
const TXN_SIZE: usize = 10;
/// Progress the clients make before the kill.
const ACKED_BEFORE_KILL: usize = 800;
const COMMITTED_BEFORE_KILL: usize = 5;
/// How long the Java program may run in all.
const RUN_TIMEOUT: Duration = Duration::from_secs(240);
/// FindCoordinator key types.
const GROUP_KEY: i8 = 0;
const TRANSACTION_KEY: i8 = 1;

/// The running Java program and the lines it has printed so far; SIGKILLed on drop.
struct JavaClients {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// Reads stdout into `lines` until the program exits.
    reader: Option<JoinHandle<()>>,
}

impl JavaClients {
    fn start(classes: &Path, args: &[&str]) -> Self {
        let mut child = java_process(classes, "FailoverClients", args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start FailoverClients");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let reader = std::thread::spawn({
            let lines = Arc::clone(&lines);
            move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            }
        });
        Self {
            child,
            lines,
            reader: Some(reader),
        }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How many printed lines start with `word`.
    fn count(&self, word: &str) -> usize {
        let prefix = format!("{word} ");
        self.lines()
            .iter()
            .filter(|line| line.starts_with(&prefix))
            .count()
    }

    /// Waits for the program to exit; its exit code and everything it printed.
    fn finish(mut self) -> (Option<i32>, Vec<String>) {
        let status = wait_for(RUN_TIMEOUT, || self.child.try_wait().expect("wait"));
        let status = status.unwrap_or_else(|| {
            let tail: Vec<String> = self.lines().into_iter().rev().take(30).collect();
            panic!("FailoverClients did not finish; last lines (newest first): {tail:#?}")
        });
        if let Some(reader) = self.reader.take() {
            reader.join().expect("stdout reader");
        }
        (status.code(), self.lines())
    }
}

impl Drop for JavaClients {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the Java program reported.
#[derive(Default)]
struct Report {
    /// Value → (partition, offset) of each acknowledged send.
    acknowledged: BTreeMap<String, (i32, i64)>,
    committed: BTreeSet<String>,
    aborted: BTreeSet<String>,
    consumed: BTreeSet<String>,
    /// Offset commits the group member saw fail (and covered with its next commit).
    commits_failed: usize,
    failures: Vec<String>,
}

impl Report {
    fn parse(lines: &[String]) -> Self {
        let mut report = Self::default();
        for line in lines {
            let words: Vec<&str> = line.split(' ').collect();
            match words.as_slice() {
                ["acked", value, partition, offset] => {
                    let at = (
                        partition.parse().expect("partition"),
                        offset.parse().expect("offset"),
                    );
                    report.acknowledged.insert((*value).to_owned(), at);
                }
                ["txn-committed", prefix] => report.committed.extend(txn_values(prefix)),
                ["txn-aborted", prefix, ..] => report.aborted.extend(txn_values(prefix)),
                ["consumed", value, ..] => {
                    report.consumed.insert((*value).to_owned());
                }
                ["commit-failed", ..] => report.commits_failed += 1,
                ["failed", ..] => report.failures.push(line.clone()),
                _ => {}
            }
        }
        report
    }
}

fn txn_values(prefix: &str) -> impl Iterator<Item = String> + '_ {
    (0..TXN_SIZE).map(move |j| format!("{prefix}-{j}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn java_clients_run_through_a_leader_failover_unchanged() {
    let etcd = SpawnedEtcd::start();
    let mut brokers = start_cluster(&etcd, "java-failover", SESSION_MS);
    create_replicated_topic(&brokers[0], TOPIC, PARTITIONS).await;

    // The victim leads partition 0 and coordinates the group and the transactional id.
    let victim = wait_for(TIMEOUT, || {
        partition_leaders(&brokers[0], TOPIC, PARTITIONS)
    })
    .expect("leaders")
    .get(&0)
    .copied()
    .expect("partition 0 has a leader");
    let mut client = WireClient::connect(&brokers[0].bootstrap);
    let group = coordinated_by(&mut client, GROUP_KEY, "java-readers", victim);
    let transactional_id = coordinated_by(&mut client, TRANSACTION_KEY, "java-txn", victim);
    drop(client);

    let classes = tempfile::tempdir().expect("classes dir");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("java/FailoverClients.java");
    javac(&[source], classes.path());
    let bootstrap = bootstrap_of(&brokers);
    let (records, transactions) = (RECORDS.to_string(), TRANSACTIONS.to_string());
    let clients = JavaClients::start(
        classes.path(),
        &[
            &bootstrap,
            TOPIC,
            &group,
            &transactional_id,
            &records,
            &transactions,
        ],
    );
    wait_for(RUN_TIMEOUT, || {
        (clients.count("acked") >= ACKED_BEFORE_KILL
            && clients.count("txn-committed") >= COMMITTED_BEFORE_KILL
            && clients.count("consumed") > 0)
            .then_some(())
    })
    .unwrap_or_else(|| panic!("no progress before the kill: {:#?}", clients.lines()));

    let victim_index = (victim - 1) as usize;
    brokers[victim_index].kill();
    let survivor = (victim_index + 1) % brokers.len();
    wait_for(TIMEOUT, || {
        partition_leaders(&brokers[survivor], TOPIC, PARTITIONS)
            .filter(|view| view.get(&0).is_some_and(|l| *l != victim))
    })
    .expect("a new leader for partition 0");
    assert!(
        clients.count("acked") < RECORDS,
        "the kill came after the producer had finished"
    );
    brokers[victim_index].restart();

    let (code, lines) = clients.finish();
    let report = Report::parse(&lines);
    assert_eq!(
        code,
        Some(0),
        "FailoverClients failed: {:#?}",
        report.failures
    );
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    assert_eq!(report.acknowledged.len(), RECORDS);
    assert_eq!(report.committed.len(), TRANSACTIONS * TXN_SIZE);

    // The consumer group member saw every value the producers know to be there.
    let missing: Vec<&String> = report
        .acknowledged
        .keys()
        .chain(&report.committed)
        .filter(|value| !report.consumed.contains(*value))
        .collect();
    assert!(missing.is_empty(), "the group member missed {missing:?}");

    // The topic: each acknowledged value once, where it was acknowledged; each committed
    // transaction's values once; nothing aborted, nothing unknown.
    let (reader, ends) = committed_reader(&brokers[survivor], TOPIC, PARTITIONS, "java-checker");
    let mut read: BTreeMap<String, Vec<(i32, i64)>> = BTreeMap::new();
    for message in read_to_ends(&reader, TOPIC, &ends, TIMEOUT * 2) {
        read.entry(text(message.payload()))
            .or_default()
            .push((message.partition(), message.offset()));
    }
    for (value, at) in &report.acknowledged {
        assert_eq!(read.get(value), Some(&vec![*at]), "acknowledged {value}");
    }
    for value in &report.committed {
        assert_eq!(read.get(value).map(Vec::len), Some(1), "committed {value}");
    }
    let unknown: Vec<&String> = read
        .keys()
        .filter(|value| !report.acknowledged.contains_key(*value))
        .filter(|value| !report.committed.contains(*value))
        .collect();
    assert!(
        unknown.is_empty(),
        "read but never acknowledged or committed: {unknown:?}"
    );
    eprintln!(
        "Java clients through the failover of broker {victim}: {} acknowledged, {} committed \
         in transactions ({} aborted and retried), {} consumed by the group ({} offset commits \
         failed over)",
        report.acknowledged.len(),
        report.committed.len(),
        report.aborted.len(),
        report.consumed.len(),
        report.commits_failed
    );
}
