//! kcat (a second real client) against a spawned broker: metadata, produce, consume, and the
//! same messages again after a clean restart and after kill -9.
//!
//! Debian's kcat links librdkafka 2.0.x, which cannot parse ApiVersions v3; `make test` points
//! `KCAT_LIBRARY_PATH` at the current librdkafka bundled with the confluent-kafka wheel.

use std::io::Write;
use std::process::{Command, Stdio};

use compat_tests::{kcat_command, SpawnedBroker};

/// Runs kcat (bounded by `timeout`) with `input` on stdin; returns stdout.
fn kcat(args: &[&str], input: &str) -> String {
    let mut child = kcat_command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kcat runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("kcat stdin");
    let output = child.wait_with_output().expect("kcat output");
    assert!(
        output.status.success(),
        "kcat {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn kcat_available() -> bool {
    let found = Command::new("kcat")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "kcat is missing: make test installs it"
        );
        eprintln!("kcat not installed; run `make test-deps` to run this test");
    }
    found
}

#[test]
fn kcat_metadata_produce_consume_and_restart() {
    if !kcat_available() {
        return;
    }
    let mut broker = SpawnedBroker::start("");
    let bootstrap = broker.bootstrap.clone();
    let version = kcat(&["-V"], "");
    assert!(
        !version.contains("librdkafka version 2.0."),
        "kcat must run with a current librdkafka: {version}"
    );

    let lines: Vec<String> = (0..50).map(|i| format!("message-{i}")).collect();
    kcat(
        &["-b", &bootstrap, "-P", "-t", "demo"],
        &(lines.join("\n") + "\n"),
    );
    let metadata = kcat(&["-b", &bootstrap, "-L", "-t", "demo"], "");
    assert!(
        metadata.contains("topic \"demo\" with 1 partitions"),
        "{metadata}"
    );
    assert!(
        metadata.contains(&format!("broker 0 at {bootstrap}")),
        "{metadata}"
    );

    let consume = |broker: &SpawnedBroker| {
        kcat(
            &[
                "-b",
                &broker.bootstrap,
                "-C",
                "-t",
                "demo",
                "-o",
                "beginning",
                "-e",
                "-q",
            ],
            "",
        )
    };
    assert_eq!(consume(&broker).lines().collect::<Vec<_>>(), lines);

    broker.stop();
    broker.restart();
    assert_eq!(
        consume(&broker).lines().collect::<Vec<_>>(),
        lines,
        "after a clean restart"
    );

    broker.kill();
    broker.restart();
    assert_eq!(
        consume(&broker).lines().collect::<Vec<_>>(),
        lines,
        "after kill -9"
    );
}
