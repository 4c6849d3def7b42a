//! ACLs under Kafka's standard authorizer: `kafka-acls` adds, lists and removes literal and
//! prefixed bindings (kept across a restart) as a super user; a principal without the
//! cluster permissions is refused the ACL APIs with CLUSTER_AUTHORIZATION_FAILED and sees
//! only the topics she may describe; in a cluster, bindings stored through one broker are
//! listed by the others. `acl_matrix.rs` compares every API's checks with Kafka's.

use std::time::Duration;

use compat_tests::etcd::SpawnedEtcd;
use compat_tests::kafka::{tool, Run};
use compat_tests::wire::{describe_every_acl, WireClient};
use compat_tests::{wait_for, SpawnedBroker};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    CreateAclsRequest, MetadataRequest, SaslAuthenticateRequest, SaslHandshakeRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

const AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";
const PLAIN_JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_alice="alice-secret";"#;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// How long a change may take to reach every broker of a cluster.
const CLUSTER_PROPAGATION: Duration = Duration::from_secs(15);

fn acls(broker: &SpawnedBroker, properties: &str, args: &[&str]) -> Run {
    let address = broker.address("SASL_PLAINTEXT");
    let mut all = vec![
        "--bootstrap-server",
        &address,
        "--command-config",
        properties,
    ];
    all.extend_from_slice(args);
    tool("kafka-acls", &all, "")
}

#[test]
fn kafka_acls_manages_bindings_kept_across_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut broker = SpawnedBroker::start_with_listeners(
        &["PLAINTEXT", "SASL_PLAINTEXT"],
        &format!(
            "\"sasl.enabled.mechanisms\" = \"PLAIN\"
\"listener.name.sasl_plaintext.plain.sasl.jaas.config\" = '{PLAIN_JAAS}'
\"authorizer.class.name\" = \"{AUTHORIZER}\"
\"super.users\" = \"User:admin\"
"
        ),
    );
    let admin = dir.path().join("admin.properties");
    std::fs::write(
        &admin,
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"admin-secret\";\n",
    )
    .expect("admin properties");
    let admin = admin.display().to_string();

    for args in [
        &[
            "--add",
            "--allow-principal",
            "User:alice",
            "--operation",
            "Read",
            "--operation",
            "Describe",
            "--topic",
            "orders",
        ][..],
        &[
            "--add",
            "--allow-principal",
            "User:alice",
            "--operation",
            "Write",
            "--topic",
            "ord",
            "--resource-pattern-type",
            "prefixed",
        ],
        &[
            "--add",
            "--deny-principal",
            "User:bob",
            "--deny-host",
            "10.0.0.1",
            "--operation",
            "All",
            "--group",
            "payments",
        ],
    ] {
        let added = acls(&broker, &admin, args);
        assert!(added.success, "{args:?}: {}", added.text());
    }
    let expected = [
        "ResourcePattern(resourceType=TOPIC, name=orders, patternType=LITERAL)",
        "(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)",
        "(principal=User:alice, host=*, operation=DESCRIBE, permissionType=ALLOW)",
        "ResourcePattern(resourceType=TOPIC, name=ord, patternType=PREFIXED)",
        "(principal=User:alice, host=*, operation=WRITE, permissionType=ALLOW)",
        "ResourcePattern(resourceType=GROUP, name=payments, patternType=LITERAL)",
        "(principal=User:bob, host=10.0.0.1, operation=ALL, permissionType=DENY)",
    ];
    let listed = acls(&broker, &admin, &["--list"]);
    for line in expected {
        assert!(
            listed.text().contains(line),
            "{line} in:\n{}",
            listed.text()
        );
    }

    // Kept in topics.json: the same after a restart.
    broker.stop();
    broker.restart();
    let listed = acls(&broker, &admin, &["--list", "--topic", "orders"]);
    assert!(listed.text().contains(expected[1]), "{}", listed.text());
    assert!(!listed.text().contains("PREFIXED"), "{}", listed.text());
    let removed = acls(
        &broker,
        &admin,
        &[
            "--remove",
            "--force",
            "--allow-principal",
            "User:alice",
            "--operation",
            "Read",
            "--topic",
            "orders",
        ],
    );
    assert!(removed.success, "{}", removed.text());
    let listed = acls(&broker, &admin, &["--list"]);
    assert!(!listed.text().contains(expected[1]), "{}", listed.text());
    assert!(listed.text().contains(expected[2]), "{}", listed.text());

    // alice may not read or change ACLs; she may see the topic she may describe (which does
    // not exist) but not another.
    let mut alice = WireClient::connect(&broker.address("SASL_PLAINTEXT"));
    alice
        .try_call(
            1,
            &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
        )
        .expect("handshake");
    let authenticated = alice
        .try_call(
            2,
            &SaslAuthenticateRequest::default()
                .with_auth_bytes(bytes::Bytes::from_static(b"\0alice\0alice-secret")),
        )
        .expect("authenticated");
    assert_eq!(authenticated.error_code, 0);
    let described = alice.try_call(3, &describe_every_acl()).expect("answered");
    assert_eq!(described.error_code, CLUSTER_AUTHORIZATION_FAILED);
    assert!(described.resources.is_empty());
    let named = |name: &'static str| {
        MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_static_str(name))))
    };
    let metadata = alice
        .try_call(
            12,
            &MetadataRequest::default()
                .with_topics(Some(vec![named("orders"), named("secret")]))
                .with_allow_auto_topic_creation(false),
        )
        .expect("answered");
    let errors: Vec<(Option<&str>, i16)> = metadata
        .topics
        .iter()
        .map(|topic| {
            (
                topic.name.as_deref().map(|name| name.as_str()),
                topic.error_code,
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            (Some("orders"), UNKNOWN_TOPIC_OR_PARTITION),
            (Some("secret"), TOPIC_AUTHORIZATION_FAILED)
        ]
    );
}

fn creation(topic: &'static str) -> AclCreation {
    AclCreation::default()
        .with_resource_type(2)
        .with_resource_name(StrBytes::from_static_str(topic))
        .with_resource_pattern_type(3)
        .with_principal(StrBytes::from_static_str("User:alice"))
        .with_host(StrBytes::from_static_str("*"))
        .with_operation(3)
        .with_permission_type(3)
}

#[test]
fn a_cluster_keeps_acls_in_etcd_for_every_broker() {
    let etcd = SpawnedEtcd::start();
    let brokers: Vec<SpawnedBroker> = (1..=2)
        .map(|node_id| {
            SpawnedBroker::start(&format!(
                "\"node.id\" = {node_id}\n\"cluster.url\" = \"{}\"\n\"authorizer.class.name\" = \"{AUTHORIZER}\"\n\"super.users\" = \"User:ANONYMOUS\"\n",
                etcd.cluster_url("/acls")
            ))
        })
        .collect();
    let mut first = WireClient::connect(&brokers[0].bootstrap);
    let mut created = first.call(
        3,
        &CreateAclsRequest::default().with_creations(vec![creation("shared")]),
    );
    assert_eq!(created.results[0].error_code, 0);
    // The same binding again is kept once; an invalid one is refused with Kafka's message.
    let invalid = creation("").with_resource_type(4);
    created = first.call(
        3,
        &CreateAclsRequest::default().with_creations(vec![creation("shared"), invalid]),
    );
    assert_eq!(created.results[0].error_code, 0);
    assert_eq!(created.results[1].error_code, 42);
    assert_eq!(
        created.results[1].error_message.as_deref(),
        Some("The only valid name for the CLUSTER resource is kafka-cluster")
    );
    let own = first.call(3, &describe_every_acl());
    assert_eq!(own.resources.len(), 1, "{own:?}");
    let mut second = WireClient::connect(&brokers[1].bootstrap);
    let listed = wait_for(CLUSTER_PROPAGATION, || {
        let described = second.call(3, &describe_every_acl());
        (!described.resources.is_empty()).then_some(described)
    })
    .expect("broker 2 lists the binding stored through broker 1");
    assert_eq!(listed.resources.len(), 1);
    let resource = &listed.resources[0];
    assert_eq!(resource.resource_name.as_str(), "shared");
    assert_eq!(resource.acls.len(), 1);
    assert_eq!(resource.acls[0].principal.as_str(), "User:alice");
}
