//! Apache Kafka's own Java distribution: `KAFKA_HOME` if set, else the one `make test-deps`
//! lays out from Maven Central in `target/kafka` (scripts/kafka-dist.sh): its tools, Java
//! programs built against its jars, and Kafka itself as the reference broker.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// How long one run of a Kafka tool or Java program may take before it counts as hung.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

/// JVM options for short-lived tools: quick start-up matters more than peak speed.
const QUICK_JVM: &str = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto";

/// The Kafka distribution's root; panics (telling how to get one) when there is none.
pub fn kafka_home() -> PathBuf {
    let home = std::env::var_os("KAFKA_HOME").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/kafka"),
        PathBuf::from,
    );
    assert!(
        home.join("bin/kafka-topics.sh").exists(),
        "no Kafka distribution at {}: `make test-deps` builds one from Maven Central, or set KAFKA_HOME",
        home.display()
    );
    home
}

/// `-cp` value for Java programs built against Kafka's jars (`extra` first).
pub fn classpath(extra: &Path) -> String {
    format!("{}:{}/libs/*", extra.display(), kafka_home().display())
}

/// What a finished tool or program printed.
pub struct Run {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Self {
        Self {
            success: output.status.success(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Both streams, for assertion messages and checks that do not care which.
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Asserts that stdout holds each of `expected`.
    pub fn assert_prints(&self, expected: &[&str]) {
        for text in expected {
            assert!(
                self.stdout.contains(text),
                "no `{text}` in:\n{}",
                self.stdout
            );
        }
    }

    /// Lines of stdout, trimmed, without blanks.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.stdout
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
    }
}

/// Kafka errors a client reports when it could not read or did not get a proper answer.
const TRANSPORT_ERRORS: &[&str] = &[
    "UnknownServerException",
    "TimeoutException",
    "DisconnectException",
    "NetworkException",
];

/// The exceptions named in a Java stack trace in `text` that are not Kafka's report of an
/// error code the broker answered with: those of a malformed answer (SchemaException,
/// BufferUnderflowException, NullPointerException...) or of no answer.
fn unexplained_exceptions(text: &str) -> Vec<&str> {
    if !text.contains("\tat ") {
        return Vec::new();
    }
    text.split(|c: char| c.is_whitespace() || c == ':')
        .filter(|word| word.ends_with("Exception") || word.ends_with("Error"))
        .filter(|word| word.contains('.'))
        .filter(|name| {
            let reported = name.starts_with("org.apache.kafka.common.errors.")
                || name.starts_with("java.util.concurrent.");
            !reported || TRANSPORT_ERRORS.iter().any(|error| name.ends_with(error))
        })
        .collect()
}

/// Runs `command` under `timeout` with `input` on stdin. A hang fails the test, and so does
/// a Java stack trace unless it is the tool's own report of a Kafka error code (Kafka's tools
/// print those with a trace against a real broker too).
pub fn run_bounded(command: &mut Command, input: &str) -> Run {
    let mut child = command
        .env("KAFKA_JVM_PERFORMANCE_OPTS", QUICK_JVM)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{command:?}: {error}"));
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("stdin");
    drop(stdin);
    let run = Run::from(child.wait_with_output().expect("process finishes"));
    assert_ne!(run.code, Some(124), "{command:?} hung:\n{}", run.text());
    let text = run.text();
    let unexplained = unexplained_exceptions(&text);
    assert!(
        unexplained.is_empty(),
        "{command:?} failed with {unexplained:?}:\n{text}"
    );
    run
}

/// `bin/<tool>.sh ARGS` of the Kafka distribution, bounded by [`TOOL_TIMEOUT`].
pub fn tool(name: &str, args: &[&str], input: &str) -> Run {
    let script = kafka_home().join("bin").join(format!("{name}.sh"));
    run_bounded(
        Command::new("timeout")
            .arg(TOOL_TIMEOUT.as_secs().to_string())
            .arg(script)
            .args(args),
        input,
    )
}

/// Compiles `sources` against Kafka's jars into `classes`.
pub fn javac(sources: &[PathBuf], classes: &Path) {
    let output = Command::new("javac")
        .arg("-d")
        .arg(classes)
        .arg("-cp")
        .arg(classpath(classes))
        .args(sources)
        .output()
        .expect("javac runs");
    assert!(
        output.status.success(),
        "javac failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `java -cp classes:KAFKA_HOME/libs/* CLASS ARGS` bounded by [`TOOL_TIMEOUT`], for programs
/// that finish (see [`run_bounded`]).
pub fn java(classes: &Path, class: &str, args: &[&str]) -> Command {
    let mut command = Command::new("timeout");
    command
        .arg(TOOL_TIMEOUT.as_secs().to_string())
        .arg("java")
        .args(java_args(classes, class, args));
    command
}

/// `java -cp classes:KAFKA_HOME/libs/* CLASS ARGS` with no bound, for a program that runs until
/// it is stopped (its pid is java's, so a SIGKILL reaches it).
pub fn java_process(classes: &Path, class: &str, args: &[&str]) -> Command {
    let mut command = Command::new("java");
    command.args(java_args(classes, class, args));
    command
}

fn java_args(classes: &Path, class: &str, args: &[&str]) -> Vec<String> {
    let mut all = vec![
        "-cp".to_owned(),
        classpath(classes),
        format!(
            "-Dlog4j2.configurationFile={}/config/tools-log4j2.properties",
            kafka_home().display()
        ),
        class.to_owned(),
    ];
    all.extend(args.iter().map(|arg| (*arg).to_owned()));
    all
}

/// Apache Kafka single-node (KRaft) on free loopback ports, started and stopped by
/// `scripts/kafka-reference.sh`; stopped on drop.
pub struct ReferenceBroker {
    dir: tempfile::TempDir,
    /// `127.0.0.1:PORT` it listens on.
    pub bootstrap: String,
}

impl ReferenceBroker {
    /// Formats fresh storage and starts Kafka with `properties` (`key=value`) added.
    pub fn start(properties: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let bootstrap = start_reference("start", dir.path(), properties);
        Self { dir, bootstrap }
    }

    /// The broker's process id (the JVM's: the scripts `exec` down to it).
    pub fn pid(&self) -> Option<u32> {
        pid_in(self.dir.path())
    }
}

impl Drop for ReferenceBroker {
    fn drop(&mut self) {
        reference("stop", self.dir.path());
    }
}

/// Apache Kafka as a cluster of KRaft nodes 1..=n (each a broker and a voter of the
/// controller quorum) on free loopback ports, by `scripts/kafka-reference.sh`; stopped on
/// drop.
pub struct ReferenceCluster {
    dir: tempfile::TempDir,
    /// Each node's `127.0.0.1:PORT`, node 1 first.
    pub bootstraps: Vec<String>,
}

impl ReferenceCluster {
    /// Formats fresh storage for `nodes` nodes and starts them with `properties` added.
    pub fn start(nodes: usize, properties: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let count = nodes.to_string();
        let args: Vec<&str> = std::iter::once(count.as_str())
            .chain(properties.iter().copied())
            .collect();
        let bootstrap = start_reference("start-cluster", dir.path(), &args);
        let bootstraps = bootstrap.split(',').map(str::to_owned).collect();
        Self { dir, bootstraps }
    }

    /// Kills node `node_id` with SIGKILL.
    pub fn kill(&self, node_id: i32) {
        reference("kill", &self.node_dir(node_id));
    }

    /// Starts killed node `node_id` again on its storage; returns once it says it started.
    pub fn restart(&self, node_id: i32) {
        assert!(
            reference("restart", &self.node_dir(node_id)),
            "Kafka node {node_id} did not start again"
        );
    }

    fn node_dir(&self, node_id: i32) -> PathBuf {
        self.dir.path().join(format!("node-{node_id}"))
    }
}

impl Drop for ReferenceCluster {
    fn drop(&mut self) {
        reference("stop", self.dir.path());
    }
}

/// Runs `kafka-reference.sh COMMAND DIR ARGS...`; returns the bootstrap it prints.
fn start_reference(command: &str, dir: &Path, args: &[&str]) -> String {
    let output = Command::new(reference_script())
        .arg(command)
        .arg(dir)
        .args(args)
        .env("KAFKA_HOME", kafka_home())
        .output()
        .expect("kafka-reference.sh runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("kafka listening on "))
        .unwrap_or_else(|| {
            panic!(
                "Kafka did not start:\n{stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
        .to_owned()
}

/// Runs `kafka-reference.sh COMMAND DIR`; whether it succeeded.
fn reference(command: &str, dir: &Path) -> bool {
    Command::new(reference_script())
        .arg(command)
        .arg(dir)
        .env("KAFKA_HOME", kafka_home())
        .status()
        .is_ok_and(|status| status.success())
}

/// The process id in `dir/kafka.pid` (the JVM's: the scripts `exec` down to it).
fn pid_in(dir: &Path) -> Option<u32> {
    std::fs::read_to_string(dir.join("kafka.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn reference_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka-reference.sh")
}

#[cfg(test)]
mod tests {
    use super::unexplained_exceptions;

    #[test]
    fn only_kafka_error_codes_may_come_with_a_stack_trace() {
        let reported = "java.util.concurrent.ExecutionException: org.apache.kafka.common.errors.GroupIdNotFoundException: Group g not found.\n\tat java.base/x.y(Z.java:1)\nCaused by: org.apache.kafka.common.errors.GroupIdNotFoundException: Group g not found.";
        assert!(unexplained_exceptions(reported).is_empty());
        let malformed = "org.apache.kafka.common.protocol.types.SchemaException: Error reading field 'x'\n\tat org.apache.kafka.A.b(A.java:1)";
        assert_eq!(
            unexplained_exceptions(malformed),
            ["org.apache.kafka.common.protocol.types.SchemaException"]
        );
        let unknown = "java.util.concurrent.ExecutionException: org.apache.kafka.common.errors.UnknownServerException: x\n\tat a.b(C.java:1)";
        assert_eq!(
            unexplained_exceptions(unknown),
            ["org.apache.kafka.common.errors.UnknownServerException"]
        );
        assert!(unexplained_exceptions("Error: no.such.Exception without a trace").is_empty());
    }
}
