//! The client compatibility matrix: each client's own scenario script (compat-tests/python,
//! compat-tests/js, compat-tests/kcat) runs against a fresh broker, over plaintext and over
//! TLS; the results are printed as tables and written to `target/compat/matrix*.md`. Every
//! scenario a client supports must pass.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use compat_tests::pki::TestCa;
use compat_tests::wire::WireClient;
use compat_tests::SpawnedBroker;

const SCENARIOS: [&str; 7] = [
    "create-topic",
    "produce-keyed-with-headers",
    "consume-from-beginning",
    "group-commit",
    "resume-at-committed-offset",
    "list-describe-groups",
    "lag",
];

/// Scenario name → (outcome, detail), as a client script reported them.
type Outcomes = BTreeMap<String, (String, String)>;

/// A client and how to run its script against a bootstrap address.
struct Client {
    name: &'static str,
    program: PathBuf,
    script: PathBuf,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn clients() -> Vec<Client> {
    let python = root().join("../target/test-venv/bin/python");
    vec![
        Client {
            name: "confluent-kafka (librdkafka)",
            program: python.clone(),
            script: root().join("python/matrix_confluent.py"),
        },
        Client {
            name: "kafka-python",
            program: python.clone(),
            script: root().join("python/matrix_kafka_python.py"),
        },
        Client {
            name: "aiokafka",
            program: python,
            script: root().join("python/matrix_aiokafka.py"),
        },
        Client {
            name: "kafkajs",
            program: PathBuf::from("node"),
            script: root().join("js/matrix_kafkajs.js"),
        },
        Client {
            name: "kcat (current librdkafka)",
            program: PathBuf::from("bash"),
            script: root().join("kcat/matrix_kcat.sh"),
        },
    ]
}

fn installed(client: &Client) -> bool {
    let probe = match client.name {
        "kafkajs" => root().join("js/node_modules/kafkajs").exists(),
        "kcat (current librdkafka)" => Command::new("kcat").arg("-V").output().is_ok(),
        _ => client.program.exists(),
    };
    if !probe {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} is missing: make test installs it",
            client.name
        );
        eprintln!("{} not installed; run `make test-deps`", client.name);
    }
    probe
}

/// The broker config every matrix run shares.
const BROKER_CONFIG: &str = "\"group.initial.rebalance.delay.ms\" = 0";

/// A broker the scenarios run against, and how its clients reach it.
struct Target {
    broker: SpawnedBroker,
    bootstrap: String,
    /// The security settings the scripts read (see python/matrix.py).
    env: Vec<(&'static str, String)>,
}

/// Runs one client's scenarios; returns scenario → (outcome, detail).
fn run(client: &Client, target: &Target) -> Outcomes {
    let output = Command::new("timeout")
        .arg("240")
        .arg(&client.program)
        .arg(&client.script)
        .arg(&target.bootstrap)
        .envs(target.env.iter().map(|(key, value)| (key, value)))
        .current_dir(client.script.parent().expect("script dir"))
        // kcat runs with the current librdkafka that make test-deps links (Debian's is 2.0.x).
        .env(
            "LD_LIBRARY_PATH",
            std::env::var("KCAT_LIBRARY_PATH").unwrap_or_default(),
        )
        .output()
        .expect("client script runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        eprintln!(
            "{} exited with {}:\n{}",
            client.name,
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix("SCENARIO "))
        .map(|rest| {
            let mut parts = rest.splitn(3, ' ');
            let name = parts.next().unwrap_or_default().to_owned();
            let outcome = parts.next().unwrap_or_default().to_owned();
            (
                name,
                (outcome, parts.next().unwrap_or_default().trim().to_owned()),
            )
        })
        .collect()
}

#[test]
fn every_client_passes_every_scenario_it_supports() {
    run_matrix("matrix.md", || {
        let broker = SpawnedBroker::start(BROKER_CONFIG);
        Target {
            bootstrap: broker.bootstrap.clone(),
            broker,
            env: Vec::new(),
        }
    });
}

/// The same scenarios over an SSL listener (the broker's certificate signed by a test CA the
/// clients are given), beside a PLAINTEXT one.
#[test]
fn every_client_passes_every_scenario_over_tls() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new(dir.path(), "matrix");
    let keystore = ca.broker_keystore("broker");
    run_matrix("matrix-ssl.md", || {
        let broker = SpawnedBroker::start_with_listeners(
            &["PLAINTEXT", "SSL"],
            &format!(
                "{BROKER_CONFIG}\n\"ssl.keystore.type\" = \"PEM\"\n\"ssl.keystore.location\" = \"{}\"\n",
                keystore.display()
            ),
        );
        Target {
            bootstrap: broker.address("SSL"),
            broker,
            env: vec![
                ("SPOOL_SECURITY_PROTOCOL", "SSL".into()),
                ("SPOOL_SSL_CA", ca.certificate().display().to_string()),
            ],
        }
    });
}

/// The same scenarios over SASL_SSL, authenticating with each of PLAIN and SCRAM-SHA-512
/// (users from the listener's JAAS entry and from AlterUserScramCredentials).
#[test]
fn every_client_passes_every_scenario_over_sasl_ssl() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new(dir.path(), "matrix-sasl");
    let keystore = ca.broker_keystore("broker");
    for (mechanism, table) in [
        ("PLAIN", "matrix-sasl-plain.md"),
        ("SCRAM-SHA-512", "matrix-sasl-scram.md"),
    ] {
        run_matrix(table, || {
            let broker = SpawnedBroker::start_with_listeners(
                &["PLAINTEXT", "SASL_SSL"],
                &format!(
                    "{BROKER_CONFIG}
\"ssl.keystore.type\" = \"PEM\"
\"ssl.keystore.location\" = \"{}\"
\"sasl.enabled.mechanisms\" = \"PLAIN,SCRAM-SHA-256,SCRAM-SHA-512\"
\"listener.name.sasl_ssl.plain.sasl.jaas.config\" = '{PLAIN_JAAS}'
",
                    keystore.display()
                ),
            );
            WireClient::connect(&broker.bootstrap).set_scram_credential(USER, 2, PASSWORD);
            Target {
                bootstrap: broker.address("SASL_SSL"),
                broker,
                env: vec![
                    ("SPOOL_SECURITY_PROTOCOL", "SASL_SSL".into()),
                    ("SPOOL_SSL_CA", ca.certificate().display().to_string()),
                    ("SPOOL_SASL_MECHANISM", mechanism.into()),
                    ("SPOOL_SASL_USERNAME", USER.into()),
                    ("SPOOL_SASL_PASSWORD", PASSWORD.into()),
                ],
            }
        });
    }
}

/// The matrix's SASL user, known to PLAIN (the JAAS entry) and to SCRAM (stored).
const USER: &str = "matrix-user";
const PASSWORD: &str = "matrix-secret";
const PLAIN_JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_matrix-user="matrix-secret";"#;

/// Runs every installed client against a broker of its own from `target`; the table goes
/// to `target/compat/<file>`.
fn run_matrix(file: &str, target: impl Fn() -> Target) {
    let results: Vec<(&'static str, Outcomes)> = clients()
        .into_iter()
        .filter(installed)
        .map(|client| {
            let target = target();
            let outcomes = run(&client, &target);
            drop(target.broker);
            (client.name, outcomes)
        })
        .collect();
    let mut columns: Vec<String> = SCENARIOS.iter().map(|s| s.to_string()).collect();
    for (_, outcomes) in &results {
        for name in outcomes.keys() {
            if !columns.contains(name) {
                columns.push(name.clone());
            }
        }
    }
    let mut table = format!(
        "| client | {} |\n|---|{}\n",
        columns.join(" | "),
        "---|".repeat(columns.len())
    );
    for (client, outcomes) in &results {
        let cells: Vec<&str> = columns
            .iter()
            .map(
                |column| match outcomes.get(column).map(|(outcome, _)| outcome.as_str()) {
                    Some("pass") => "pass",
                    Some("fail") => "FAIL",
                    _ => "n/a",
                },
            )
            .collect();
        table.push_str(&format!("| {client} | {} |\n", cells.join(" | ")));
    }
    println!("{table}");
    let target = root().join("../target/compat");
    std::fs::create_dir_all(&target).expect("target/compat");
    std::fs::write(target.join(file), &table).expect("matrix table");

    let mut failures = Vec::new();
    for (client, outcomes) in &results {
        for scenario in SCENARIOS {
            if !outcomes.contains_key(scenario) {
                failures.push(format!("{client}: {scenario} did not run"));
            }
        }
        for (scenario, (outcome, detail)) in outcomes {
            // "n/a": the client has no way to do it (reported by its script, with the reason).
            if outcome != "pass" && outcome != "n/a" {
                failures.push(format!("{client}: {scenario}: {outcome} {detail}"));
            }
        }
    }
    assert!(failures.is_empty(), "{table}\n{}", failures.join("\n"));
}
