//! Admin scenarios with kafka-python's KafkaAdminClient (its own protocol implementation):
//! `python/admin_kafka_python.py` against a fresh broker must pass every step.

use std::path::Path;
use std::process::Command;

use compat_tests::SpawnedBroker;

#[test]
fn kafka_python_admin_client_scenarios_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("../target/test-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/install-test-deps.sh (make test does)",
        python.display()
    );
    let mut broker = SpawnedBroker::start("");
    // Bounded: a hung client fails the test instead of stalling the suite.
    let output = Command::new("timeout")
        .arg("120")
        .arg(python)
        .arg(root.join("python/admin_kafka_python.py"))
        .arg(&broker.bootstrap)
        .output()
        .expect("run python");
    broker.stop();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("ALL PASSED"),
        "kafka-python admin scenarios failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
}
