//! TLS listeners: Kafka's Java tools and librdkafka over SSL with client certificates
//! (`ssl.client.auth=required`), a renewed certificate served without a restart,
//! `ssl.principal.mapping.rules` naming a certificate's holder (and refusing one no rule
//! names), and plaintext bytes sent to an SSL listener closing only that connection. (Every client of
//! the matrix runs its scenarios over SSL in `matrix.rs`.)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use compat_tests::kafka::tool;
use compat_tests::pki::TestCa;
use compat_tests::wire::WireClient;
use compat_tests::{kcat_command, wait_for, SpawnedBroker};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{ApiVersionsRequest, CreateTopicsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

/// How long a broker may take to serve a renewed certificate.
const RELOAD_DEADLINE: Duration = Duration::from_secs(15);

/// A broker with a PLAINTEXT and an SSL listener serving `keystore`, plus `extra` TOML.
fn tls_broker(keystore: &Path, extra: &str) -> SpawnedBroker {
    SpawnedBroker::start_with_listeners(
        &["PLAINTEXT", "SSL"],
        &format!(
            "\"ssl.keystore.type\" = \"PEM\"\n\"ssl.keystore.location\" = \"{}\"\n{extra}",
            keystore.display()
        ),
    )
}

/// `kcat -L` over SSL to `address`, trusting `ca`, with a client certificate if given.
fn kcat_metadata(address: &str, ca: &Path, client: Option<(&Path, &Path)>) -> Output {
    let ca = format!("ssl.ca.location={}", ca.display());
    let mut args = vec![
        "-b",
        address,
        "-L",
        "-m",
        "5",
        "-X",
        "security.protocol=SSL",
        "-X",
        &ca,
    ];
    let certificate;
    let key;
    if let Some((certificate_path, key_path)) = client {
        certificate = format!("ssl.certificate.location={}", certificate_path.display());
        key = format!("ssl.key.location={}", key_path.display());
        args.extend(["-X", &certificate, "-X", &key]);
    }
    kcat_command(&args).output().expect("kcat runs")
}

#[test]
fn java_tools_and_librdkafka_over_tls_with_client_certificates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new(dir.path(), "mtls");
    let broker = tls_broker(
        &ca.broker_keystore("broker"),
        &format!(
            "\"ssl.client.auth\" = \"required\"\n\"ssl.truststore.type\" = \"PEM\"\n\"ssl.truststore.location\" = \"{}\"\n",
            ca.certificate().display()
        ),
    );
    let ssl = broker.address("SSL");
    let alice = ca.client("alice");

    // Kafka's console tools, configured as a Java user would for PEM stores.
    let properties = dir.path().join("client.properties");
    std::fs::write(
        &properties,
        format!(
            "security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={}\nssl.keystore.type=PEM\nssl.keystore.location={}\n",
            ca.certificate().display(),
            alice.keystore.display()
        ),
    )
    .expect("client.properties");
    let properties = properties.display().to_string();
    let produced = tool(
        "kafka-console-producer",
        &[
            "--bootstrap-server",
            &ssl,
            "--topic",
            "over-tls",
            "--command-config",
            &properties,
        ],
        "one\ntwo\nthree\n",
    );
    assert!(produced.success, "{}", produced.text());
    let consumed = tool(
        "kafka-console-consumer",
        &[
            "--bootstrap-server",
            &ssl,
            "--topic",
            "over-tls",
            "--from-beginning",
            "--max-messages",
            "3",
            "--command-config",
            &properties,
        ],
        "",
    );
    assert!(consumed.success, "{}", consumed.text());
    assert_eq!(
        consumed.lines().collect::<Vec<_>>(),
        ["one", "two", "three"]
    );

    // librdkafka: told the SSL listener's address by Metadata over SSL; refused without a
    // client certificate.
    let with_certificate = kcat_metadata(
        &ssl,
        &ca.certificate(),
        Some((&alice.certificate, &alice.key)),
    );
    let listed = String::from_utf8_lossy(&with_certificate.stdout);
    assert!(with_certificate.status.success(), "{listed}");
    assert!(listed.contains(&format!("at {ssl}")), "{listed}");
    assert!(listed.contains("topic \"over-tls\""), "{listed}");
    let without = kcat_metadata(&ssl, &ca.certificate(), None);
    assert!(
        !without.status.success(),
        "metadata without a client certificate: {}",
        String::from_utf8_lossy(&without.stdout)
    );

    // The PLAINTEXT listener's clients are told the PLAINTEXT endpoints.
    let plain = kcat_command(&["-b", &broker.bootstrap, "-L", "-m", "5"])
        .output()
        .expect("kcat runs");
    let listed = String::from_utf8_lossy(&plain.stdout);
    assert!(
        listed.contains(&format!("at {}", broker.bootstrap)),
        "{listed}"
    );
}

#[test]
fn a_renewed_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let old_ca = TestCa::new(dir.path(), "old");
    let new_ca = TestCa::new(dir.path(), "new");
    let keystore = old_ca.broker_keystore("broker");
    let broker = tls_broker(&keystore, "");
    let ssl = broker.address("SSL");
    let trusts = |ca: &TestCa| {
        kcat_metadata(&ssl, &ca.certificate(), None)
            .status
            .success()
    };
    assert!(trusts(&old_ca));
    assert!(!trusts(&new_ca));

    // The renewed certificate replaces the file (written aside, then renamed).
    assert_eq!(new_ca.broker_keystore("broker"), keystore);
    wait_for(RELOAD_DEADLINE, || trusts(&new_ca).then_some(()))
        .expect("the renewed certificate is served");
    assert!(!trusts(&old_ca));
}

#[test]
fn plaintext_bytes_on_a_tls_listener_close_only_that_connection() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new(dir.path(), "mixed");
    let broker = tls_broker(&ca.broker_keystore("broker"), "");
    let mut socket = TcpStream::connect(broker.address("SSL")).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // An ApiVersions v3 request, as a plaintext client would open with.
    let mut client = WireClient::connect(&broker.bootstrap);
    let api_versions = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("wire"))
        .with_client_software_version(StrBytes::from_static_str("1"));
    let (_, frame) = client.frame(3, &api_versions);
    socket.write_all(&frame).expect("write");
    let mut answer = Vec::new();
    let closed = socket.read_to_end(&mut answer);
    assert!(closed.is_ok(), "the connection is closed: {closed:?}");
    // Whatever came back is a TLS alert, never a Kafka response.
    assert!(
        answer.first().is_none_or(|&byte| byte == 0x15),
        "{answer:?}"
    );
    // The PLAINTEXT listener goes on answering.
    let answer = client.call(3, &api_versions);
    assert_eq!(answer.error_code, 0);
}

#[test]
fn principal_mapping_rules_name_client_certificates_and_refuse_the_unmapped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new(dir.path(), "mapped");
    // Only alice's subject is mapped (to `alice@spool tests`, a super user); under the
    // standard authorizer nobody else may describe anything.
    let broker = tls_broker(
        &ca.broker_keystore("broker"),
        &format!(
            "\"ssl.client.auth\" = \"required\"
\"ssl.truststore.type\" = \"PEM\"
\"ssl.truststore.location\" = \"{}\"
\"ssl.principal.mapping.rules\" = \"RULE:^CN=(alice),O=(.*?)$/$1@$2/L\"
\"authorizer.class.name\" = \"org.apache.kafka.metadata.authorizer.StandardAuthorizer\"
\"super.users\" = \"User:ANONYMOUS;User:alice@spool tests\"
",
            ca.certificate().display()
        ),
    );
    let mut admin = WireClient::connect(&broker.bootstrap);
    let created = admin.call(
        7,
        &CreateTopicsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("mapped")))
                .with_num_partitions(1)
                .with_replication_factor(1)]),
    );
    assert_eq!(created.topics[0].error_code, 0, "{created:?}");

    let ssl = broker.address("SSL");
    let alice = ca.client("alice");
    let listed = kcat_metadata(
        &ssl,
        &ca.certificate(),
        Some((&alice.certificate, &alice.key)),
    );
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{text}");
    // Seen only as the super user the rule names (`User:CN=alice,O=spool tests` is not).
    assert!(text.contains("topic \"mapped\""), "{text}");

    // No rule applies to bob's subject: his connections are closed.
    let bob = ca.client("bob");
    let refused = kcat_metadata(&ssl, &ca.certificate(), Some((&bob.certificate, &bob.key)));
    assert!(
        !refused.status.success(),
        "metadata for an unmapped subject: {}",
        String::from_utf8_lossy(&refused.stdout)
    );
}
