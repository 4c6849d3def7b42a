//! SASL sessions: OAUTHBEARER with signed JWTs (librdkafka through confluent-kafka's token
//! callback, Kafka's Java clients fetching tokens from a token endpoint with client
//! credentials), sessions bounded by `connections.max.reauth.ms` and by the token's expiry,
//! clients re-authenticating in place (KIP-368) without being disconnected, and, on the wire,
//! what Kafka refuses: another principal or mechanism on re-authentication, a request after
//! the session ended, a token signed by an unknown key.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use compat_tests::jwt::{TokenIssuer, AUDIENCE, ISSUER};
use compat_tests::kafka::{kafka_home, run_bounded, TOOL_TIMEOUT};
use compat_tests::oidc::{self, TokenEndpoint};
use compat_tests::prometheus::scrape;
use compat_tests::wire::WireClient;
use compat_tests::{wait_for, SpawnedBroker};
use kafka_protocol::messages::{MetadataRequest, SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;

/// `connections.max.reauth.ms` of the brokers here: short, so tests see several sessions.
const SESSION_MS: i64 = 1500;
const PLAIN_JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret" user_bob="bob-secret";"#;
const SASL_AUTHENTICATION_FAILED: i16 = 58;
const ILLEGAL_SASL_STATE: i16 = 34;
/// How long clients get to do what a test waits for (several sessions' worth).
const PATIENCE: Duration = Duration::from_secs(30);
const LISTENER: &str = "SASL_PLAINTEXT";

/// A broker whose SASL_PLAINTEXT listener offers PLAIN (alice, bob), SCRAM-SHA-256 and
/// OAUTHBEARER validated against `issuer`'s key set, with sessions of [`SESSION_MS`].
fn broker(dir: &Path, issuer: &TokenIssuer) -> SpawnedBroker {
    let key_set = dir.join("jwks.json");
    std::fs::write(&key_set, issuer.key_set()).expect("key set");
    SpawnedBroker::start_with_listeners(
        &["PLAINTEXT", LISTENER],
        &format!(
            "\"metrics.listen\" = \"127.0.0.1:0\"
\"sasl.enabled.mechanisms\" = \"PLAIN,SCRAM-SHA-256,OAUTHBEARER\"
\"listener.name.sasl_plaintext.plain.sasl.jaas.config\" = '{PLAIN_JAAS}'
\"listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class\" = \"org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler\"
\"sasl.oauthbearer.jwks.endpoint.url\" = \"file://{}\"
\"sasl.oauthbearer.expected.audience\" = \"{AUDIENCE}\"
\"sasl.oauthbearer.expected.issuer\" = \"{ISSUER}\"
\"connections.max.reauth.ms\" = {SESSION_MS}
",
            key_set.display()
        ),
    )
}

/// The broker's count of SASL exchanges on the SASL listener with `mechanism` of `kind`
/// (`authentication`, `reauthentication`) and `outcome` (`success`, `failure`).
fn exchanges(broker: &SpawnedBroker, mechanism: &str, kind: &str, outcome: &str) -> f64 {
    let url = broker.metrics_url().expect("metrics endpoint");
    let name = format!(
        "spool_sasl_authentications_total{{listener=\"{LISTENER}\",mechanism=\"{mechanism}\",kind=\"{kind}\",outcome=\"{outcome}\"}}"
    );
    scrape(&url).get(&name).copied().unwrap_or_default()
}

fn expired_sessions_closed(broker: &SpawnedBroker) -> f64 {
    let url = broker.metrics_url().expect("metrics endpoint");
    scrape(&url)
        .get("spool_sasl_expired_sessions_closed_total")
        .copied()
        .unwrap_or_default()
}

/// `python/oauthbearer_confluent.py ARGS` (confluent-kafka, whose librdkafka has
/// OAUTHBEARER), bounded; its output and whether it succeeded.
fn confluent(args: &[&str]) -> (bool, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new("timeout")
        .arg("90")
        .arg(root.join("../target/test-venv/bin/python"))
        .arg(root.join("python/oauthbearer_confluent.py"))
        .args(args)
        .output()
        .expect("python runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn librdkafka_authenticates_with_a_token_and_reauthenticates_in_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    let issuer = TokenIssuer::new("key-1");
    let broker = broker(dir.path(), &issuer);
    let address = broker.address(LISTENER);

    // Records produced 300 ms apart over several sessions, each acknowledged, with the
    // connections re-authenticated rather than dropped; then read back.
    let token = issuer.token("alice", Duration::from_secs(3600));
    let (succeeded, output) = confluent(&[&address, &token, "produce-consume", "16", "0.3"]);
    assert!(succeeded, "{output}");
    assert!(output.contains("ok 16"), "{output}");
    let renewed = exchanges(&broker, "OAUTHBEARER", "reauthentication", "success");
    assert!(renewed >= 2.0, "{renewed} re-authentications");
    assert_eq!(expired_sessions_closed(&broker), 0.0);

    // A token signed by a key the broker does not know gets nowhere.
    let forged = TokenIssuer::new("key-1").token("alice", Duration::from_secs(3600));
    let (succeeded, output) = confluent(&[&address, &forged, "refused"]);
    assert!(succeeded && output.contains("refused"), "{output}");
    assert!(exchanges(&broker, "OAUTHBEARER", "authentication", "failure") >= 1.0);
}

#[test]
fn java_clients_fetch_tokens_from_a_token_endpoint_and_reauthenticate_in_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    let issuer = TokenIssuer::new("key-1");
    let broker = broker(dir.path(), &issuer);
    let endpoint = TokenEndpoint::start(issuer, dir.path());
    let properties = dir.path().join("client.properties");
    std::fs::write(
        &properties,
        format!(
            "security.protocol=SASL_PLAINTEXT
sasl.mechanism=OAUTHBEARER
sasl.login.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler
sasl.oauthbearer.token.endpoint.url={}
sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientId=\"{}\" clientSecret=\"{}\" scope=\"{}\";
",
            endpoint.valid_url(),
            oidc::CLIENT_ID,
            oidc::CLIENT_SECRET,
            oidc::SCOPES[0],
        ),
    )
    .expect("client properties");
    // Kafka's clients fetch tokens only from URLs the JVM allows.
    let java_options = format!(
        "-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={}",
        endpoint.valid_url()
    );
    let address = broker.address(LISTENER);
    let properties = properties.display().to_string();
    let console = |tool: &str, args: &[&str]| {
        let mut command = Command::new("timeout");
        command
            .arg(TOOL_TIMEOUT.as_secs().to_string())
            .arg(kafka_home().join("bin").join(format!("{tool}.sh")))
            .args(["--bootstrap-server", &address, "--topic", "java-tokens"])
            .args(["--command-config", &properties])
            .args(args)
            .env("KAFKA_OPTS", &java_options);
        command
    };

    // A consumer waiting for records keeps its connections through several sessions.
    let consumer = console(
        "kafka-console-consumer",
        &["--from-beginning", "--max-messages", "3"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("console consumer");
    wait_for(PATIENCE, || {
        (exchanges(&broker, "OAUTHBEARER", "reauthentication", "success") >= 2.0).then_some(())
    })
    .expect("the Java consumer re-authenticates");
    let produced = run_bounded(
        &mut console("kafka-console-producer", &[]),
        "one\ntwo\nthree\n",
    );
    assert!(produced.success, "{}", produced.text());
    let output = consumer.wait_with_output().expect("consumer finishes");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(text.lines().collect::<Vec<_>>(), ["one", "two", "three"]);
    assert_eq!(expired_sessions_closed(&broker), 0.0);
    assert_eq!(
        exchanges(&broker, "OAUTHBEARER", "authentication", "failure"),
        0.0
    );
}

fn handshake(mechanism: &'static str) -> SaslHandshakeRequest {
    SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism))
}

fn authenticate(bytes: impl Into<bytes::Bytes>) -> SaslAuthenticateRequest {
    SaslAuthenticateRequest::default().with_auth_bytes(bytes.into())
}

/// A PLAIN exchange for `user` with SaslAuthenticate `version`; the session lifetime the
/// broker grants.
fn plain_login(client: &mut WireClient, user: &str, version: i16) -> i64 {
    let accepted = client.try_call(1, &handshake("PLAIN")).expect("handshake");
    assert_eq!(accepted.error_code, 0);
    let message = format!("\0{user}\0{user}-secret");
    let done = client
        .try_call(version, &authenticate(message.into_bytes()))
        .expect("authenticated");
    assert_eq!(done.error_code, 0, "{:?}", done.error_message);
    done.session_lifetime_ms
}

fn metadata_served(client: &mut WireClient) -> bool {
    client.try_call(12, &MetadataRequest::default()).is_some()
}

/// The failure a SaslAuthenticate gets (the connection then closes).
fn refusal(client: &mut WireClient, bytes: impl Into<bytes::Bytes>) -> String {
    let failed = client.try_call(2, &authenticate(bytes)).expect("answered");
    assert_eq!(failed.error_code, SASL_AUTHENTICATION_FAILED);
    assert!(client.closed());
    failed
        .error_message
        .map(|m| m.to_string())
        .unwrap_or_default()
}

fn bearer(token: &str) -> Vec<u8> {
    format!("n,,\x01auth=Bearer {token}\x01\x01").into_bytes()
}

#[test]
fn sessions_end_unless_renewed_by_the_same_principal_and_mechanism() {
    let dir = tempfile::tempdir().expect("temp dir");
    let issuer = TokenIssuer::new("key-1");
    let broker = broker(dir.path(), &issuer);
    let connect = || WireClient::connect(&broker.address(LISTENER));

    // Renewed in place, as often as the client likes, with the same user and mechanism.
    let mut client = connect();
    assert_eq!(plain_login(&mut client, "alice", 1), SESSION_MS);
    assert!(metadata_served(&mut client));
    assert_eq!(plain_login(&mut client, "alice", 2), SESSION_MS);
    assert!(metadata_served(&mut client));
    // Another mechanism: the handshake is accepted, the exchange refused.
    let accepted = client
        .try_call(1, &handshake("SCRAM-SHA-256"))
        .expect("handshake");
    assert_eq!(accepted.error_code, 0);
    assert_eq!(
        refusal(&mut client, "n,,n=alice,r=nonce"),
        "SASL mechanism 'SCRAM-SHA-256' requested by client is not supported for re-authentication of mechanism 'PLAIN'"
    );

    // Another user.
    let mut client = connect();
    plain_login(&mut client, "alice", 2);
    client.try_call(1, &handshake("PLAIN")).expect("handshake");
    assert_eq!(
        refusal(&mut client, "\0bob\0bob-secret"),
        "Cannot change principals during re-authentication from User.alice: User.bob"
    );

    // A client that cannot re-authenticate (SaslAuthenticate v0) is told no lifetime; a
    // handshake after authentication is out of place for it, and once its session is over
    // its next request closes the connection.
    let mut client = connect();
    let authenticated = Instant::now();
    assert_eq!(plain_login(&mut client, "alice", 0), 0);
    let out_of_place = client.try_call(1, &handshake("PLAIN")).expect("answered");
    assert_eq!(out_of_place.error_code, ILLEGAL_SASL_STATE);
    assert!(metadata_served(&mut client));
    let session = Duration::from_millis(SESSION_MS as u64);
    std::thread::sleep(
        session.saturating_sub(authenticated.elapsed()) + Duration::from_millis(100),
    );
    assert!(!metadata_served(&mut client));
    assert!(expired_sessions_closed(&broker) >= 1.0);

    // OAUTHBEARER: the session ends with the token if that is sooner.
    let mut client = connect();
    client
        .try_call(1, &handshake("OAUTHBEARER"))
        .expect("handshake");
    let short = issuer.token("alice", Duration::from_secs(1));
    let done = client
        .try_call(2, &authenticate(bearer(&short)))
        .expect("answered");
    assert_eq!(done.error_code, 0);
    assert!((0..=1000).contains(&done.session_lifetime_ms), "{done:?}");

    // An unknown key's token: Kafka's error answer, the client's acknowledgement, failure.
    let mut client = connect();
    client
        .try_call(1, &handshake("OAUTHBEARER"))
        .expect("handshake");
    let forged = TokenIssuer::new("key-1").token("alice", Duration::from_secs(60));
    let challenge = client
        .try_call(2, &authenticate(bearer(&forged)))
        .expect("answered");
    assert_eq!(challenge.error_code, 0);
    assert_eq!(&challenge.auth_bytes[..], br#"{"status":"invalid_token"}"#);
    assert_eq!(
        refusal(&mut client, &b"\x01"[..]),
        r#"{"status":"invalid_token"}"#
    );
}
