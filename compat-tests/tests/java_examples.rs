//! The classic Java producer/consumer programs of `examples/java`, compiled against Kafka's own
//! client jars and run unchanged (Kafka's defaults, so idempotent producers) against a spawned
//! broker: an Admin program creates the topic with configs and adds partitions; every produced
//! record is consumed exactly once by each group; consumers stopped and restarted resume at
//! their committed offsets; the Admin program reports lag 0 at the end.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use compat_tests::kafka::{java, javac, run_bounded};
use compat_tests::SpawnedBroker;

const TOPIC: &str = "peter-basic01";
/// Each consumer example and the group it commits in.
const CONSUMERS: [(&str, &str); 3] = [
    ("ConsumerAuto", "peter-basic01-auto"),
    ("ConsumerSync", "peter-basic01-sync"),
    ("ConsumerAsync", "peter-basic01-async"),
];

struct Examples {
    classes: tempfile::TempDir,
    bootstrap: String,
}

impl Examples {
    fn compile(bootstrap: &str) -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/java");
        let sources: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("examples/java")
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "java"))
            .collect();
        let classes = tempfile::tempdir().expect("classes dir");
        javac(&sources, classes.path());
        Self {
            classes,
            bootstrap: bootstrap.to_owned(),
        }
    }

    /// Runs one example to completion; it must succeed. Returns its stdout.
    fn run(&self, class: &str, args: &[&str]) -> String {
        let mut all = vec![self.bootstrap.as_str()];
        all.extend_from_slice(args);
        let run = run_bounded(&mut java(self.classes.path(), class, &all), "");
        assert!(run.success, "{class} failed:\n{}", run.text());
        run.stdout
    }

    /// Runs the three consumers at once (one per group); returns the keys each one printed,
    /// failing if a consumer saw a record twice.
    fn consume_all(&self) -> Vec<BTreeSet<String>> {
        std::thread::scope(|scope| {
            let runs: Vec<_> = CONSUMERS
                .iter()
                .map(|(class, _)| scope.spawn(move || (class, self.run(class, &[]))))
                .collect();
            runs.into_iter()
                .map(|run| {
                    let (class, stdout) = run.join().expect("consumer thread");
                    let keys: Vec<String> = stdout
                        .lines()
                        .filter_map(|line| line.strip_prefix("record "))
                        .map(|rest| rest.split(' ').next().unwrap_or_default().to_owned())
                        .collect();
                    let unique: BTreeSet<String> = keys.iter().cloned().collect();
                    assert_eq!(
                        unique.len(),
                        keys.len(),
                        "{class} saw a record twice:\n{stdout}"
                    );
                    assert!(
                        stdout.contains(&format!("consumed {} records", keys.len())),
                        "{stdout}"
                    );
                    unique
                })
                .collect()
        })
    }
}

fn keys(prefix: &str) -> BTreeSet<String> {
    (0..10).map(|i| format!("{prefix}-{i}")).collect()
}

#[test]
fn java_examples_run_unchanged() {
    let broker = SpawnedBroker::start("\"group.initial.rebalance.delay.ms\" = 0");
    let examples = Examples::compile(&broker.bootstrap);

    let created = examples.run("AdminExample", &["create", TOPIC, "2", "3"]);
    assert!(
        created.contains("created topic peter-basic01 with 2 partitions"),
        "{created}"
    );
    assert!(created.contains("now has 3 partitions"), "{created}");
    assert!(
        created.contains("config retention.ms=604800000 (DYNAMIC_TOPIC_CONFIG)"),
        "{created}"
    );
    assert!(
        created.contains("config segment.bytes=1048576 (DYNAMIC_TOPIC_CONFIG)"),
        "{created}"
    );

    assert!(examples
        .run("ProducerFireForgot", &[])
        .contains("sent 10 records"));
    let sync = examples.run("ProducerSync", &[]);
    assert_eq!(
        sync.lines().filter(|l| l.starts_with("partition ")).count(),
        10,
        "{sync}"
    );
    let first: BTreeSet<String> = keys("fire").union(&keys("sync")).cloned().collect();
    for seen in examples.consume_all() {
        assert_eq!(seen, first);
    }

    // Restarted, each consumer resumes at its group's committed offset: only the new records.
    let callbacks = examples.run("ProducerAsync", &[]);
    assert_eq!(
        callbacks
            .lines()
            .filter(|l| l.starts_with("callback: partition "))
            .count(),
        10,
        "{callbacks}"
    );
    for seen in examples.consume_all() {
        assert_eq!(seen, keys("async"));
    }

    let groups: Vec<&str> = CONSUMERS.iter().map(|(_, group)| *group).collect();
    let mut args = vec!["lag"];
    args.extend(&groups);
    let lag = examples.run("AdminExample", &args);
    for group in groups {
        assert!(
            lag.contains(&format!("group {group} state Empty members 0 lag 0")),
            "{lag}"
        );
        let committed: i64 = lag
            .lines()
            .filter(|line| line.starts_with(&format!("group {group} {TOPIC}-")))
            .filter_map(|line| {
                line.split(" committed ")
                    .nth(1)?
                    .split(' ')
                    .next()?
                    .parse::<i64>()
                    .ok()
            })
            .sum();
        assert_eq!(committed, 30, "{lag}");
    }
}
