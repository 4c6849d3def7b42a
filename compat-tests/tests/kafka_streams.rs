//! Kafka Streams (kafka-streams 4.x, `processing.guarantee=exactly_once_v2`) against spool:
//! the word count of `examples/java/streams/WordCount.java` (input → repartition topic →
//! count in a state store with its compacted changelog → output). The application is killed
//! with SIGKILL in the middle of its input and restarted; what read_committed readers see of
//! the output must then be exact: per word, counts that only go up, one at a time, ending at
//! the word's true count (no count lost, none doubled).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{committed_reader, read_to_ends, text};
use compat_tests::kafka::{java_process, javac};
use compat_tests::{wait_for, SpawnedBroker};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;

const INPUT: &str = "words-input";
const OUTPUT: &str = "word-counts";
const PARTITIONS: i32 = 3;
const LINES: usize = 4_000;
/// Lines produced before the application starts; the rest arrive while it runs.
const FIRST_LINES: usize = 500;
/// The paced part of the input: chunks of lines, a pause after each.
const CHUNK: usize = 100;
const CHUNK_PAUSE: Duration = Duration::from_millis(30);
const WORDS_PER_LINE: usize = 5;
const VOCABULARY: [&str; 13] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike",
];
/// How long the application may take to start, restore and catch up.
const APP_TIMEOUT: Duration = Duration::from_secs(120);
const TIMEOUT: Duration = Duration::from_secs(30);

/// The word-count application process; SIGKILLed on drop.
struct App(Child);

impl App {
    fn start(classes: &Path, bootstrap: &str, state_dir: &Path) -> Self {
        let state = state_dir.to_string_lossy();
        let child = java_process(
            classes,
            "WordCount",
            &[bootstrap, INPUT, OUTPUT, &state, "spool-wordcount"],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the Streams application");
        Self(child)
    }

    /// SIGTERM: KafkaStreams.close() from its shutdown hook; it must exit within the bound.
    fn stop(mut self) {
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let stopped = wait_for(TIMEOUT, || self.0.try_wait().expect("wait").map(|_| ()));
        assert!(stopped.is_some(), "the application did not stop on SIGTERM");
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Line `i` of the input: a fixed pattern over the vocabulary, so every word has a known count.
fn line(i: usize) -> String {
    (0..WORDS_PER_LINE)
        .map(|j| VOCABULARY[(i * 7 + j * 3 + i / 13) % VOCABULARY.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

async fn produce_lines(producer: &FutureProducer, lines: std::ops::Range<usize>) {
    let sends: Vec<_> = lines
        .map(|i| {
            let key = format!("line-{i}");
            producer
                .send_result(FutureRecord::to(INPUT).key(&key).payload(&line(i)))
                .unwrap_or_else(|(error, _)| panic!("enqueue: {error}"))
        })
        .collect();
    for send in sends {
        send.await.expect("delivery").expect("delivered");
    }
}

/// Every count of the output a read_committed reader sees, per word in offset order, up to
/// the end offsets as of now.
fn committed_counts(broker: &SpawnedBroker) -> BTreeMap<String, Vec<i64>> {
    let (consumer, ends) = committed_reader(broker, OUTPUT, PARTITIONS, "wordcount-checker");
    let mut per_partition: BTreeMap<i32, Vec<(String, i64)>> = BTreeMap::new();
    for message in read_to_ends(&consumer, OUTPUT, &ends, TIMEOUT) {
        let count = i64::from_be_bytes(
            message
                .payload()
                .and_then(|bytes| bytes.try_into().ok())
                .expect("an 8-byte count"),
        );
        per_partition
            .entry(message.partition())
            .or_default()
            .push((text(message.key()), count));
    }
    let mut counts: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for records in per_partition.into_values() {
        for (word, count) in records {
            counts.entry(word).or_default().push(count);
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn word_count_is_exact_across_a_kill_9() {
    let broker = SpawnedBroker::start("\"group.initial.rebalance.delay.ms\" = 0");
    let admin: AdminClient<DefaultClientContext> = broker.client_config().create().expect("admin");
    let topics = [
        NewTopic::new(INPUT, PARTITIONS, TopicReplication::Fixed(1)),
        NewTopic::new(OUTPUT, PARTITIONS, TopicReplication::Fixed(1)),
    ];
    for created in admin
        .create_topics(&topics, &AdminOptions::new())
        .await
        .expect("CreateTopics")
    {
        created.expect("topic created");
    }
    let classes = tempfile::tempdir().expect("classes dir");
    let source =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/java/streams/WordCount.java");
    javac(&[source], classes.path());
    let state_dir = tempfile::tempdir().expect("state dir");

    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for i in 0..LINES {
        for word in line(i).split(' ') {
            *expected.entry(word.to_owned()).or_default() += 1;
        }
    }
    let producer: FutureProducer = broker
        .client_config()
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    produce_lines(&producer, 0..FIRST_LINES).await;

    // First run: once it has committed output, the rest of the input arrives in paced chunks
    // and the application is killed with SIGKILL while it is processing them.
    let first = App::start(classes.path(), &broker.bootstrap, state_dir.path());
    wait_for(APP_TIMEOUT, || {
        (!committed_counts(&broker).is_empty()).then_some(())
    })
    .expect("the application committed output");
    let produced = Arc::new(AtomicUsize::new(FIRST_LINES));
    let feeder = tokio::spawn({
        let produced = Arc::clone(&produced);
        async move {
            for start in (FIRST_LINES..LINES).step_by(CHUNK) {
                produce_lines(&producer, start..(start + CHUNK).min(LINES)).await;
                produced.store(start + CHUNK, Ordering::Release);
                tokio::time::sleep(CHUNK_PAUSE).await;
            }
        }
    });
    let kill_at = FIRST_LINES + (LINES - FIRST_LINES) / 4;
    tokio::task::block_in_place(|| {
        wait_for(TIMEOUT, || {
            (produced.load(Ordering::Acquire) >= kill_at).then_some(())
        })
    })
    .expect("input is flowing");
    drop(first);
    assert!(
        !feeder.is_finished(),
        "killed while its input was still arriving"
    );
    let at_kill: usize = committed_counts(&broker).values().map(Vec::len).sum();
    feeder.await.expect("feeder");

    // Second run, same state directory: restores its store and finishes the input.
    let second = App::start(classes.path(), &broker.bootstrap, state_dir.path());
    let counts = wait_for(APP_TIMEOUT, || {
        let counts = committed_counts(&broker);
        let finals: BTreeMap<String, i64> = counts
            .iter()
            .filter_map(|(word, seen)| Some((word.clone(), *seen.last()?)))
            .collect();
        (finals == expected).then_some(counts)
    })
    .unwrap_or_else(|| {
        panic!(
            "final counts never matched {expected:?}; last seen: {:?}",
            committed_counts(&broker)
                .into_iter()
                .map(|(word, seen)| (word, seen.last().copied()))
                .collect::<Vec<_>>()
        )
    });
    second.stop();
    let total: usize = counts.values().map(Vec::len).sum();
    eprintln!("output records read_committed: {at_kill} when killed, {total} at the end");

    // Streams created its internal topics with their configs through the admin API.
    for (topic, policy) in [
        ("spool-wordcount-counts-changelog", "compact"),
        ("spool-wordcount-by-word-repartition", "delete"),
    ] {
        let described = admin
            .describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new())
            .await
            .expect("DescribeConfigs")
            .remove(0)
            .unwrap_or_else(|error| panic!("{topic}: {error:?}"));
        let value = described
            .get("cleanup.policy")
            .and_then(|entry| entry.value.clone());
        assert_eq!(value.as_deref(), Some(policy), "{topic}");
    }
    for (word, seen) in &counts {
        assert!(
            seen.windows(2).all(|pair| pair[0] < pair[1]),
            "{word}: a count repeated or went back after the crash: {seen:?}"
        );
        assert!(seen.iter().all(|count| *count >= 1), "{word}: {seen:?}");
    }
}
