//! A cluster whose brokers reach each other over a secured inter-broker listener, under an
//! authorizer that lets only its super users replicate (a follower's fetch needs
//! CLUSTER_ACTION): SASL_SSL with SCRAM-SHA-512 (the brokers' credential created with
//! `kafka-configs`, as Kafka's operators do), and SSL with client certificates (the brokers'
//! certificate subject as their principal). acks=all with `min.insync.replicas=3` succeeds
//! and every replica stays in sync only when every follower fetches (with a principal that
//! is not a super user, both checks fail); Kafka's console tools drive it over a SASL_PLAINTEXT
//! client listener as an administrator.

use std::path::Path;

use compat_tests::etcd::SpawnedEtcd;
use compat_tests::kafka::{tool, Run};
use compat_tests::pki::TestCa;
use compat_tests::SpawnedBroker;

const AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";
const PLAIN_JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret";"#;
const SCRAM_JAAS: &str = r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="broker-secret";"#;
/// What the brokers' certificates (`TestCa::broker_keystore`) name as their subject.
const BROKER_SUBJECT: &str = "User:CN=spool broker,O=spool tests";

/// Three brokers under `root` of `etcd`: an INTERNAL listener (`internal` TOML lines set its
/// security) the brokers use among themselves, and a CLIENT listener where `admin` (PLAIN)
/// is a super user with `super_user`.
fn start_cluster(
    etcd: &SpawnedEtcd,
    root: &str,
    ca: &TestCa,
    internal: &str,
    super_user: &str,
) -> Vec<SpawnedBroker> {
    let keystore = ca.broker_keystore("broker");
    (1..=3)
        .map(|node_id| {
            SpawnedBroker::start_with_listeners(
                &["CLIENT", "INTERNAL"],
                &format!(
                    "\"node.id\" = {node_id}
\"cluster.url\" = \"{}\"
\"inter.broker.listener.name\" = \"INTERNAL\"
\"ssl.keystore.type\" = \"PEM\"
\"ssl.keystore.location\" = \"{}\"
\"ssl.truststore.type\" = \"PEM\"
\"ssl.truststore.location\" = \"{}\"
\"listener.name.client.sasl.enabled.mechanisms\" = \"PLAIN\"
\"listener.name.client.plain.sasl.jaas.config\" = '{PLAIN_JAAS}'
\"authorizer.class.name\" = \"{AUTHORIZER}\"
\"super.users\" = \"User:admin;{super_user}\"
{internal}
",
                    etcd.cluster_url(root),
                    keystore.display(),
                    ca.certificate().display(),
                ),
            )
        })
        .collect()
}

/// The administrator's client properties (PLAIN over SASL_PLAINTEXT).
fn admin_properties(dir: &Path) -> String {
    let path = dir.join("admin.properties");
    std::fs::write(
        &path,
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"admin-secret\";\n",
    )
    .expect("admin properties");
    path.display().to_string()
}

/// Runs Kafka tool `name` against `broker`'s CLIENT listener as the administrator.
fn admin_tool(name: &str, broker: &SpawnedBroker, admin: &str, args: &[&str], input: &str) -> Run {
    let address = broker.address("CLIENT");
    let mut all = vec!["--bootstrap-server", &address, "--command-config", admin];
    all.extend_from_slice(args);
    let run = tool(name, &all, input);
    assert!(run.success, "{name} {args:?}: {}", run.text());
    run
}

/// A topic of three replicas, all of which must be in sync to acknowledge: the records
/// produced with acks=all are acknowledged only if both followers fetch from the leader,
/// and every replica stays in sync.
fn replicate(brokers: &[SpawnedBroker], admin: &str) {
    admin_tool(
        "kafka-topics",
        &brokers[0],
        admin,
        &[
            "--create",
            "--topic",
            "replicated",
            "--partitions",
            "3",
            "--replication-factor",
            "3",
            "--config",
            "min.insync.replicas=3",
        ],
        "",
    );
    let lines: String = (0..30).map(|i| format!("record-{i}\n")).collect();
    let produced = admin_tool(
        "kafka-console-producer",
        &brokers[1],
        admin,
        &[
            "--topic",
            "replicated",
            "--command-property",
            "acks=all",
            "--command-property",
            "delivery.timeout.ms=60000",
        ],
        &lines,
    );
    // The console producer exits 0 whatever happened to its sends; it tells failures.
    assert!(
        !produced.text().contains("Error when sending"),
        "{}",
        produced.text()
    );
    let consumed = admin_tool(
        "kafka-console-consumer",
        &brokers[2],
        admin,
        &[
            "--topic",
            "replicated",
            "--from-beginning",
            "--max-messages",
            "30",
        ],
        "",
    );
    assert!(
        consumed.text().contains("Processed a total of 30 messages"),
        "{}",
        consumed.text()
    );
    let described = admin_tool(
        "kafka-topics",
        &brokers[0],
        admin,
        &["--describe", "--topic", "replicated"],
        "",
    );
    let in_sync = described
        .stdout
        .lines()
        .filter(|line| line.contains("Partition:"))
        .filter(|line| {
            let isr = line.split("Isr:").nth(1).unwrap_or_default();
            isr.split_whitespace()
                .next()
                .unwrap_or_default()
                .split(',')
                .count()
                == 3
        })
        .count();
    assert_eq!(in_sync, 3, "{}", described.stdout);
}

#[test]
fn brokers_replicate_over_sasl_ssl_with_scram_as_their_super_user() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new(dir.path(), "cluster");
    let etcd = SpawnedEtcd::start();
    let brokers = start_cluster(
        &etcd,
        "/scram",
        &ca,
        &format!(
            "\"listener.security.protocol.map\" = \"CLIENT:SASL_PLAINTEXT,INTERNAL:SASL_SSL\"
\"listener.name.internal.sasl.enabled.mechanisms\" = \"SCRAM-SHA-512\"
\"sasl.mechanism.inter.broker.protocol\" = \"SCRAM-SHA-512\"
\"listener.name.internal.scram-sha-512.sasl.jaas.config\" = '{SCRAM_JAAS}'"
        ),
        "User:broker",
    );
    let admin = admin_properties(dir.path());
    // The brokers' own credential, as Kafka's operators create it.
    admin_tool(
        "kafka-configs",
        &brokers[0],
        &admin,
        &[
            "--alter",
            "--add-config",
            "SCRAM-SHA-512=[iterations=4096,password=broker-secret]",
            "--entity-type",
            "users",
            "--entity-name",
            "broker",
        ],
        "",
    );
    replicate(&brokers, &admin);
}

#[test]
fn brokers_replicate_over_ssl_with_their_certificates_as_principal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new(dir.path(), "cluster");
    let etcd = SpawnedEtcd::start();
    let brokers = start_cluster(
        &etcd,
        "/mtls",
        &ca,
        "\"listener.security.protocol.map\" = \"CLIENT:SASL_PLAINTEXT,INTERNAL:SSL\"
\"listener.name.internal.ssl.client.auth\" = \"required\"",
        BROKER_SUBJECT,
    );
    let admin = admin_properties(dir.path());
    replicate(&brokers, &admin);
}
