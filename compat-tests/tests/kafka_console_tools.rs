//! Kafka's own console tools (Java) against spool, when `KAFKA_HOME` points at a Kafka
//! distribution: kafka-topics, kafka-configs, kafka-console-producer/consumer,
//! kafka-consumer-groups, kafka-get-offsets, kafka-delete-records, kafka-log-dirs and
//! kafka-broker-api-versions. Kafka's jars are not in the registries this project reaches,
//! so without `KAFKA_HOME` the test says it is skipped and passes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use compat_tests::SpawnedBroker;

const TOPIC: &str = "console";
const GROUP: &str = "console-group";

struct Tools {
    bin: PathBuf,
    bootstrap: String,
}

impl Tools {
    /// Runs `bin/<tool>.sh --bootstrap-server B ARGS` (bounded); returns (success, output).
    fn run(&self, tool: &str, args: &[&str], input: &str) -> (bool, String) {
        let mut child = Command::new("timeout")
            .arg("120")
            .arg(self.bin.join(format!("{tool}.sh")))
            .arg("--bootstrap-server")
            .arg(&self.bootstrap)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("{tool}: {error}"));
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input.as_bytes()).expect("stdin");
        drop(stdin);
        let output = child.wait_with_output().expect("tool finishes");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    }

    /// Runs a tool that must succeed and print `expected`.
    fn expect(&self, tool: &str, args: &[&str], input: &str, expected: &str) -> String {
        let (success, text) = self.run(tool, args, input);
        assert!(success, "{tool} {args:?} failed:\n{text}");
        assert!(
            text.contains(expected),
            "{tool} {args:?}: no `{expected}` in:\n{text}"
        );
        text
    }
}

#[test]
fn kafka_console_tools_work_against_spool() {
    let Some(home) = std::env::var_os("KAFKA_HOME") else {
        eprintln!("kafka console tools: skipped, KAFKA_HOME is not set (KAFKA_HOME=/path/to/kafka make test)");
        return;
    };
    let bin = Path::new(&home).join("bin");
    assert!(
        bin.join("kafka-topics.sh").exists(),
        "{} has no kafka-topics.sh",
        bin.display()
    );
    let broker = SpawnedBroker::start("group.initial.rebalance.delay.ms = 0");
    let tools = Tools {
        bin,
        bootstrap: broker.bootstrap.clone(),
    };

    tools.expect("kafka-broker-api-versions", &[], "", "Produce(0)");
    tools.expect(
        "kafka-topics",
        &[
            "--create",
            "--topic",
            TOPIC,
            "--partitions",
            "3",
            "--replication-factor",
            "1",
            "--config",
            "retention.ms=3600000",
        ],
        "",
        "Created topic console",
    );
    tools.expect("kafka-topics", &["--list"], "", TOPIC);
    let described = tools.expect(
        "kafka-topics",
        &["--describe", "--topic", TOPIC],
        "",
        "PartitionCount: 3",
    );
    assert!(described.contains("retention.ms=3600000"), "{described}");
    tools.expect(
        "kafka-topics",
        &["--alter", "--topic", TOPIC, "--partitions", "4"],
        "",
        "",
    );
    tools.expect(
        "kafka-topics",
        &["--describe", "--topic", TOPIC],
        "",
        "PartitionCount: 4",
    );
    let (shrunk, text) = tools.run(
        "kafka-topics",
        &["--alter", "--topic", TOPIC, "--partitions", "2"],
        "",
    );
    assert!(
        !shrunk && text.contains("partitions"),
        "decrease must fail:\n{text}"
    );

    let topic_entity = ["--entity-type", "topics", "--entity-name", TOPIC];
    let with = |extra: &[&'static str]| -> Vec<&str> {
        topic_entity
            .iter()
            .copied()
            .chain(extra.iter().copied())
            .collect()
    };
    tools.expect(
        "kafka-configs",
        &with(&["--alter", "--add-config", "retention.ms=1000"]),
        "",
        "Completed updating config",
    );
    tools.expect(
        "kafka-configs",
        &with(&["--describe"]),
        "",
        "retention.ms=1000",
    );
    tools.expect(
        "kafka-configs",
        &with(&["--alter", "--delete-config", "retention.ms"]),
        "",
        "Completed updating config",
    );
    tools.expect(
        "kafka-configs",
        &[
            "--entity-type",
            "brokers",
            "--entity-name",
            "0",
            "--describe",
            "--all",
        ],
        "",
        "num.partitions=",
    );

    let lines: String = (0..12).map(|i| format!("line-{i}\n")).collect();
    tools.expect("kafka-console-producer", &["--topic", TOPIC], &lines, "");
    let consumed = tools.expect(
        "kafka-console-consumer",
        &[
            "--topic",
            TOPIC,
            "--from-beginning",
            "--max-messages",
            "12",
            "--group",
            GROUP,
        ],
        "",
        "Processed a total of 12 messages",
    );
    assert_eq!(
        consumed
            .lines()
            .filter(|line| line.starts_with("line-"))
            .count(),
        12
    );
    tools.expect("kafka-consumer-groups", &["--list"], "", GROUP);
    tools.expect(
        "kafka-consumer-groups",
        &["--describe", "--group", GROUP],
        "",
        "LOG-END-OFFSET",
    );

    let offsets = tools.expect("kafka-get-offsets", &["--topic", TOPIC], "", "console:0:");
    let total: i64 = offsets
        .lines()
        .filter_map(|line| {
            line.strip_prefix("console:")?
                .split(':')
                .nth(1)?
                .parse::<i64>()
                .ok()
        })
        .sum();
    assert_eq!(total, 12, "{offsets}");

    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(
        file.path(),
        r#"{"partitions":[{"topic":"console","partition":0,"offset":0}],"version":1}"#,
    )
    .expect("offsets file");
    let path = file.path().to_string_lossy().into_owned();
    tools.expect(
        "kafka-delete-records",
        &["--offset-json-file", &path],
        "",
        "low_watermark: 0",
    );
    tools.expect(
        "kafka-log-dirs",
        &["--describe", "--topic-list", TOPIC],
        "",
        "console-0",
    );

    tools.expect(
        "kafka-consumer-groups",
        &["--delete", "--group", GROUP],
        "",
        "successful",
    );
    tools.expect("kafka-topics", &["--delete", "--topic", TOPIC], "", "");
    let (_, listed) = tools.run("kafka-topics", &["--list"], "");
    assert!(!listed.lines().any(|line| line.trim() == TOPIC), "{listed}");
}
