//! SASL listeners: SCRAM credentials managed with Kafka's `kafka-configs` (kept across a
//! restart), Kafka's Java clients authenticating with SCRAM and PLAIN and refused with a
//! wrong password, and what a client may do before it authenticates: nothing but
//! ApiVersions and the handshake, in frames no larger than `sasl.server.max.receive.size`.
//! In a cluster, a user stored through one broker authenticates on the others. (Every client
//! of the matrix runs its scenarios over SASL_SSL in `matrix.rs`.)

use std::time::Duration;

use compat_tests::etcd::SpawnedEtcd;
use compat_tests::kafka::{tool, Run};
use compat_tests::wire::WireClient;
use compat_tests::{kcat_command, wait_for, SpawnedBroker};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    ApiVersionsRequest, DescribeUserScramCredentialsRequest, MetadataRequest,
    SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_protocol::protocol::StrBytes;

const PLAIN_JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";"#;
/// How long a change may take to reach every broker of a cluster.
const CLUSTER_PROPAGATION: Duration = Duration::from_secs(15);
/// Kafka's SASL_AUTHENTICATION_FAILED, UNSUPPORTED_SASL_MECHANISM.
const SASL_AUTHENTICATION_FAILED: i16 = 58;
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;

/// A broker with a PLAINTEXT and a SASL_PLAINTEXT listener offering PLAIN (user alice) and
/// both SCRAM mechanisms, its pre-authentication frames held to `max_receive` bytes.
fn sasl_broker(max_receive: usize) -> SpawnedBroker {
    SpawnedBroker::start_with_listeners(
        &["PLAINTEXT", "SASL_PLAINTEXT"],
        &format!(
            "\"sasl.enabled.mechanisms\" = \"PLAIN,SCRAM-SHA-256,SCRAM-SHA-512\"
\"listener.name.sasl_plaintext.plain.sasl.jaas.config\" = '{PLAIN_JAAS}'
\"sasl.server.max.receive.size\" = {max_receive}
"
        ),
    )
}

/// Java client properties for `mechanism` as `user`.
fn java_client(dir: &std::path::Path, mechanism: &str, user: &str, password: &str) -> String {
    let module = match mechanism {
        "PLAIN" => "org.apache.kafka.common.security.plain.PlainLoginModule",
        _ => "org.apache.kafka.common.security.scram.ScramLoginModule",
    };
    let path = dir.join(format!("{user}-{mechanism}.properties"));
    std::fs::write(
        &path,
        format!(
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism={mechanism}\nsasl.jaas.config={module} required username=\"{user}\" password=\"{password}\";\n"
        ),
    )
    .expect("client properties");
    path.display().to_string()
}

fn produce(address: &str, properties: &str, lines: &str) -> Run {
    tool(
        "kafka-console-producer",
        &[
            "--bootstrap-server",
            address,
            "--topic",
            "authenticated",
            "--command-config",
            properties,
            "--producer-property",
            "max.block.ms=15000",
        ],
        lines,
    )
}

/// `kafka-configs --alter ARGS` for user bob, through the PLAINTEXT listener.
fn configure_bob(broker: &SpawnedBroker, args: &[&str]) -> Run {
    let mut all = vec!["--bootstrap-server", broker.bootstrap.as_str(), "--alter"];
    all.extend_from_slice(args);
    all.extend(["--entity-type", "users", "--entity-name", "bob"]);
    tool("kafka-configs", &all, "")
}

/// The SCRAM mechanisms and iterations `user` has, as DescribeUserScramCredentials says.
fn described(broker: &SpawnedBroker, user: &str) -> Vec<(i8, i32)> {
    let request = DescribeUserScramCredentialsRequest::default().with_users(Some(vec![
        UserName::default().with_name(StrBytes::from_string(user.to_owned())),
    ]));
    let response = WireClient::connect(&broker.bootstrap).call(0, &request);
    response
        .results
        .iter()
        .flat_map(|result| &result.credential_infos)
        .map(|info| (info.mechanism, info.iterations))
        .collect()
}

#[test]
fn kafka_configs_manages_scram_users_and_java_clients_authenticate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut broker = sasl_broker(524_288);
    // One mechanism per call: Kafka refuses a user named twice in one request (both of
    // kafka-configs' upsertions for one user), and so does spool.
    for credential in [
        "SCRAM-SHA-256=[iterations=8192,password=bob-secret]",
        "SCRAM-SHA-512=[password=bob-secret]",
    ] {
        let added = configure_bob(&broker, &["--add-config", credential]);
        assert!(added.success, "{}", added.text());
    }
    let twice = configure_bob(
        &broker,
        &[
            "--add-config",
            "SCRAM-SHA-256=[password=x],SCRAM-SHA-512=[password=x]",
        ],
    );
    assert!(
        twice.text().contains("DuplicateResourceException"),
        "{}",
        twice.text()
    );
    assert_eq!(described(&broker, "bob"), [(1, 8192), (2, 4096)]);

    // Credentials are kept: a restart changes nothing.
    broker.stop();
    broker.restart();
    let sasl = broker.address("SASL_PLAINTEXT");
    let bob_512 = java_client(dir.path(), "SCRAM-SHA-512", "bob", "bob-secret");
    let produced = produce(&sasl, &bob_512, "one\ntwo\n");
    assert!(produced.success, "{}", produced.text());
    let alice = java_client(dir.path(), "PLAIN", "alice", "alice-secret");
    let consumed = tool(
        "kafka-console-consumer",
        &[
            "--bootstrap-server",
            &sasl,
            "--topic",
            "authenticated",
            "--from-beginning",
            "--max-messages",
            "2",
            "--command-config",
            &alice,
        ],
        "",
    );
    assert!(consumed.success, "{}", consumed.text());
    assert_eq!(consumed.lines().collect::<Vec<_>>(), ["one", "two"]);

    // A wrong password fails with Kafka's authentication error.
    let wrong = java_client(dir.path(), "SCRAM-SHA-256", "bob", "not-bob-secret");
    let refused = produce(&sasl, &wrong, "three\n");
    assert!(
        refused.text().contains("SaslAuthenticationException"),
        "{}",
        refused.text()
    );

    // Deleting a mechanism's credential ends authentication with it.
    let deleted = configure_bob(&broker, &["--delete-config", "SCRAM-SHA-512"]);
    assert!(deleted.success, "{}", deleted.text());
    assert_eq!(described(&broker, "bob"), [(1, 8192)]);
    let refused = produce(&sasl, &bob_512, "four\n");
    assert!(
        refused.text().contains("SaslAuthenticationException"),
        "{}",
        refused.text()
    );
}

fn handshake(mechanism: &'static str) -> SaslHandshakeRequest {
    SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism))
}

fn authenticate(bytes: &'static [u8]) -> SaslAuthenticateRequest {
    SaslAuthenticateRequest::default().with_auth_bytes(bytes::Bytes::from_static(bytes))
}

#[test]
fn before_authentication_only_the_handshake_is_served() {
    let broker = sasl_broker(4096);
    let connect = || WireClient::connect(&broker.address("SASL_PLAINTEXT"));

    // Any other request first ends the connection.
    let mut raw = connect();
    assert!(raw.try_call(12, &MetadataRequest::default()).is_none());

    // A frame larger than sasl.server.max.receive.size is refused before it is read.
    let mut raw = connect();
    raw.write_raw(&(64_i32 << 20).to_be_bytes());
    assert!(raw.closed());

    // ApiVersions, then a mechanism the listener does not offer: answered, then closed.
    let mut raw = connect();
    let versions = raw
        .try_call(3, &ApiVersionsRequest::default())
        .expect("ApiVersions answered");
    assert!(versions.api_keys.iter().any(|api| api.api_key == 17));
    let answer = raw
        .try_call(1, &handshake("GSSAPI"))
        .expect("handshake answered");
    assert_eq!(answer.error_code, UNSUPPORTED_SASL_MECHANISM);
    let offered: Vec<&str> = answer.mechanisms.iter().map(|m| m.as_str()).collect();
    assert_eq!(offered, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]);
    assert!(raw.closed());

    // A wrong password: Kafka's error and message, then closed.
    let mut raw = connect();
    let answer = raw
        .try_call(1, &handshake("PLAIN"))
        .expect("handshake answered");
    assert_eq!(answer.error_code, 0);
    let failed = raw
        .try_call(2, &authenticate(b"\0alice\0guess"))
        .expect("authenticate answered");
    assert_eq!(failed.error_code, SASL_AUTHENTICATION_FAILED);
    assert_eq!(
        failed.error_message.as_deref(),
        Some("Authentication failed: Invalid username or password")
    );
    assert!(raw.closed());

    // The right password: then requests are served.
    let mut raw = connect();
    raw.try_call(1, &handshake("PLAIN"))
        .expect("handshake answered");
    let done = raw
        .try_call(2, &authenticate(b"\0alice\0alice-secret"))
        .expect("authenticate answered");
    assert_eq!(done.error_code, 0);
    let metadata = raw
        .try_call(12, &MetadataRequest::default())
        .expect("Metadata answered");
    let sasl = broker.address("SASL_PLAINTEXT");
    assert_eq!(
        metadata
            .brokers
            .iter()
            .map(|b| format!("{}:{}", b.host.as_str(), b.port))
            .collect::<Vec<_>>(),
        [sasl]
    );
}

/// Whether kcat can read Metadata from `broker`'s SASL listener as `user` with SCRAM-SHA-256.
fn scram_metadata(broker: &SpawnedBroker, user: &str, password: &str) -> bool {
    let address = broker.address("SASL_PLAINTEXT");
    let username = format!("sasl.username={user}");
    let password = format!("sasl.password={password}");
    kcat_command(&[
        "-b",
        &address,
        "-L",
        "-m",
        "5",
        "-X",
        "security.protocol=SASL_PLAINTEXT",
        "-X",
        "sasl.mechanisms=SCRAM-SHA-256",
        "-X",
        &username,
        "-X",
        &password,
    ])
    .output()
    .expect("kcat runs")
    .status
    .success()
}

#[test]
fn a_cluster_keeps_scram_users_in_etcd_for_every_broker() {
    let etcd = SpawnedEtcd::start();
    let brokers: Vec<SpawnedBroker> = (1..=2)
        .map(|node_id| {
            SpawnedBroker::start_with_listeners(
                &["PLAINTEXT", "SASL_PLAINTEXT"],
                &format!(
                    "\"node.id\" = {node_id}\n\"cluster.url\" = \"{}\"\n\"sasl.enabled.mechanisms\" = \"SCRAM-SHA-256\"\n",
                    etcd.cluster_url("/sasl")
                ),
            )
        })
        .collect();
    assert!(!scram_metadata(&brokers[1], "carol", "carol-secret"));
    // Stored through broker 1, authenticated by broker 2.
    WireClient::connect(&brokers[0].bootstrap).set_scram_credential("carol", 1, "carol-secret");
    wait_for(CLUSTER_PROPAGATION, || {
        scram_metadata(&brokers[1], "carol", "carol-secret").then_some(())
    })
    .expect("broker 2 authenticates the user stored through broker 1");
    assert!(!scram_metadata(&brokers[1], "carol", "wrong"));
}
