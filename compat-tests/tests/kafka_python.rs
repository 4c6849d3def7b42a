//! kafka-python, a client with its own protocol implementation, runs
//! `compat-tests/python/kafka_python_groups.py` against a spawned broker.
//! `make test` installs it into `target/test-venv` (scripts/install-test-deps.sh).

use std::path::PathBuf;
use std::process::Command;

use compat_tests::SpawnedBroker;

fn python() -> Option<PathBuf> {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-venv/bin/python");
    let has_client = python.exists()
        && Command::new(&python)
            .args(["-c", "import kafka"])
            .status()
            .is_ok_and(|status| status.success());
    if !has_client {
        assert!(
            std::env::var_os("CI").is_none(),
            "kafka-python is missing: make test installs it"
        );
        eprintln!("kafka-python not installed; run `make test-deps` to run this test");
        return None;
    }
    Some(python)
}

#[test]
fn kafka_python_groups_commits_resume_and_lag() {
    let Some(python) = python() else { return };
    let broker = SpawnedBroker::start("\"group.initial.rebalance.delay.ms\" = 0");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/kafka_python_groups.py");
    let output = Command::new("timeout")
        .arg("120")
        .arg(python)
        .arg(script)
        .arg(&broker.bootstrap)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "kafka-python scenarios failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("kafka-python: all scenarios passed"),
        "{stdout}"
    );
}
