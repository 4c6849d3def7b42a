//! librdkafka's own integration tests against spool: the `test-runner` that
//! `scripts/build-librdkafka-tests.sh` builds from the librdkafka source rdkafka-sys ships.
//!
//! `compat-tests/librdkafka-tests.md` lists every broker-facing test with its tier (`fast`: run
//! by `make test`; `full`: added by `make compat`, which sets `SPOOL_LIBRDKAFKA_TIER=full`) or
//! the reason it is excluded; `SPOOL_LIBRDKAFKA_TESTS=0090,0103` runs just those numbers (in
//! every scenario that lists them), `SPOOL_LIBRDKAFKA_TESTS=cluster` every test of a scenario.
//! Each test runs alone, bounded in time, against a fresh broker configured like librdkafka's
//! own test clusters for the test's scenario (4 partitions per auto-created topic;
//! `noautocreate` turns auto-creation off; `cluster` is three brokers on one etcd whose topics
//! have three replicas; `acl`, `ssl`, `sasl_plain` and `sasl_scram` add an authorizer, TLS
//! with client certificates and SASL listeners; `oidc` is `cluster` with OAUTHBEARER clients
//! that fetch their tokens from a token endpoint of the harness). A row `0081/Acls` runs only
//! the sub-tests whose name contains `Acls`; `0126/*` runs all and fails if one is skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use compat_tests::etcd::{start_brokers, start_brokers_with_listeners, SpawnedEtcd};
use compat_tests::jwt::{TokenIssuer, AUDIENCE, ISSUER};
use compat_tests::oidc::{self, TokenEndpoint};
use compat_tests::pki::TestCa;
use compat_tests::wire::WireClient;
use compat_tests::SpawnedBroker;

/// Broker version the runner assumes: spool speaks the protocol of Kafka 4.0 (record batch
/// v2 only, no message format v0/v1).
const ASSUMED_KAFKA_VERSION: &str = "4.0.0";
/// Longest one librdkafka test may run, in seconds (its own timeouts are shorter).
const TEST_TIMEOUT_SECONDS: &str = "600";
/// Output lines shown for a failed test.
const FAILURE_TAIL_LINES: usize = 60;

/// One row of `librdkafka-tests.md`: a test number, or `number/name` to run only the
/// sub-tests whose name contains `name` (the runner's `SUBTESTS`; [`ALL_SUBTESTS`]: every
/// sub-test, none of which may be skipped).
struct Listed {
    number: String,
    subtests: Option<String>,
    tier: String,
    scenario: String,
}

impl Listed {
    /// As the list writes it: `0081/Acls`, `0090`.
    fn name(&self) -> String {
        match &self.subtests {
            Some(subtests) => format!("{}/{subtests}", self.number),
            None => self.number.clone(),
        }
    }
}

/// A row's sub-test name meaning all of them.
const ALL_SUBTESTS: &str = "*";

fn manifest_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The listed tests: rows whose first cell is a test number and whose second is a tier (the
/// table of excluded tests has reasons there).
fn listed_tests() -> Vec<Listed> {
    let text = std::fs::read_to_string(manifest_dir().join("librdkafka-tests.md"))
        .expect("compat-tests/librdkafka-tests.md");
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let (number, subtests) = match cells.get(1)?.split_once('/') {
                Some((number, subtests)) => (number, Some(subtests.to_string())),
                None => (*cells.get(1)?, None),
            };
            if number.len() != 4 || !number.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let tier = cells.get(2)?;
            if *tier != "fast" && *tier != "full" {
                return None;
            }
            Some(Listed {
                number: number.to_string(),
                subtests,
                tier: tier.to_string(),
                scenario: cells.get(3)?.to_string(),
            })
        })
        .collect()
}

/// The built runner (`target/librdkafka-tests/<rdkafka-sys version>/tests/test-runner`).
fn runner() -> Option<PathBuf> {
    let builds = manifest_dir().join("../target/librdkafka-tests");
    let found = std::fs::read_dir(&builds)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("tests/test-runner"))
        .find(|path| path.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "librdkafka's test runner is missing: make test builds it"
        );
        eprintln!("librdkafka test runner not built; run `make test-deps` to run this test");
    }
    found
}

/// Broker settings of librdkafka's test scenarios (`tests/scenarios/*.json`: 4 partitions per
/// auto-created topic; `noautocreate` turns auto-creation off), plus ours: `cluster` (three
/// replicas), `acl` (Kafka's StandardAuthorizer allowing what no ACL names, as librdkafka's
/// ACL tests expect), `ssl` (client certificates required), `sasl_plain` (SASL_PLAINTEXT with
/// PLAIN) and `sasl_scram` (SASL_SSL with SCRAM-SHA-512), whose sessions last
/// [`SESSION_MS`], and `oidc` (three brokers, SASL_PLAINTEXT with OAUTHBEARER), whose
/// sessions last [`OIDC_SESSION_MS`].
fn scenario_config(scenario: &str) -> String {
    let auto_create = scenario != "noautocreate";
    let common = format!("\"num.partitions\" = 4\n\"auto.create.topics.enable\" = {auto_create}\n");
    let own = match scenario {
        "default" | "noautocreate" | "ssl" => String::new(),
        "cluster" => "\"default.replication.factor\" = 3\n".to_owned(),
        "oidc" => format!(
            "\"default.replication.factor\" = 3
\"sasl.enabled.mechanisms\" = \"OAUTHBEARER\"
\"sasl.oauthbearer.expected.audience\" = \"{AUDIENCE}\"
\"sasl.oauthbearer.expected.issuer\" = \"{ISSUER}\"
\"connections.max.reauth.ms\" = {OIDC_SESSION_MS}
"
        ),
        "acl" => format!(
            "\"authorizer.class.name\" = \"{AUTHORIZER}\"\n\"allow.everyone.if.no.acl.found\" = true\n"
        ),
        "sasl_plain" => format!(
            "\"sasl.enabled.mechanisms\" = \"PLAIN\"
\"listener.name.sasl_plaintext.plain.sasl.jaas.config\" = '{PLAIN_LOGIN_MODULE} required user_{USER}=\"{PASSWORD}\";'
\"connections.max.reauth.ms\" = {SESSION_MS}
"
        ),
        "sasl_scram" => format!(
            "\"sasl.enabled.mechanisms\" = \"SCRAM-SHA-512\"\n\"connections.max.reauth.ms\" = {SESSION_MS}\n"
        ),
        other => panic!("librdkafka-tests.md names an unknown scenario {other:?}"),
    };
    common + &own
}

/// Kafka's authorizer, which spool's takes the name of.
const AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";
const PLAIN_LOGIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
/// The SASL user the runner authenticates as, and its password.
const USER: &str = "librdkafka";
const PASSWORD: &str = "librdkafka-secret";
/// `connections.max.reauth.ms` of the SASL scenarios: 0142 re-authenticates seven times.
const SESSION_MS: u64 = 10_000;
/// `connections.max.reauth.ms` of `oidc`: its clients re-authenticate with their fetched
/// tokens twice while a test waits 5 s between producing and consuming.
const OIDC_SESSION_MS: u64 = 2_000;
/// How much longer than its own 60 s the OIDC test may run: its sub-tests take about 100 s,
/// and librdkafka's CI, where it runs against trivup, triples every test's timeout too.
const OIDC_TIMEOUT_MULTIPLIER: u32 = 3;
/// The SCRAM mechanism of `sasl_scram` (Kafka's wire number for SCRAM-SHA-512).
const SCRAM_SHA_512: i8 = 2;

/// The runner's own scenario for ours: librdkafka's default one but for `noautocreate`.
fn runner_scenario(scenario: &str) -> &str {
    match scenario {
        "noautocreate" => "noautocreate",
        _ => "default",
    }
}

/// The brokers a scenario's tests run against (one, or three on one etcd), the address the
/// runner bootstraps from and its `test.conf` lines beyond that (security settings).
struct Target {
    brokers: Vec<SpawnedBroker>,
    bootstrap: String,
    client_conf: String,
    /// Environment of the runner beyond the defaults (where the `oidc` tests find their token
    /// endpoint and keys).
    env: Vec<(&'static str, String)>,
    _etcd: Option<SpawnedEtcd>,
    _files: Option<tempfile::TempDir>,
    _token_endpoint: Option<TokenEndpoint>,
}

impl Target {
    fn start(scenario: &str) -> Self {
        let config = scenario_config(scenario);
        match scenario {
            "cluster" => {
                let etcd = SpawnedEtcd::start();
                let brokers = start_brokers(&etcd, "librdkafka", &config);
                Self {
                    bootstrap: compat_tests::bootstrap_of(&brokers),
                    brokers,
                    client_conf: String::new(),
                    env: Vec::new(),
                    _etcd: Some(etcd),
                    _files: None,
                    _token_endpoint: None,
                }
            }
            "oidc" => Self::oidc(&config),
            "ssl" | "sasl_scram" => Self::secured(scenario, &config),
            "sasl_plain" => Self::single(
                SpawnedBroker::start_with_listeners(&["PLAINTEXT", "SASL_PLAINTEXT"], &config),
                "SASL_PLAINTEXT",
                sasl_conf("SASL_PLAINTEXT", "PLAIN"),
            ),
            _ => Self::single(SpawnedBroker::start(&config), "PLAINTEXT", String::new()),
        }
    }

    fn single(broker: SpawnedBroker, listener: &str, client_conf: String) -> Self {
        Self {
            bootstrap: broker.address(listener),
            brokers: vec![broker],
            client_conf,
            env: Vec::new(),
            _etcd: None,
            _files: None,
            _token_endpoint: None,
        }
    }

    /// A broker whose clients connect over TLS: with a client certificate (`ssl`) or as a
    /// SCRAM user created beforehand on its PLAINTEXT listener (`sasl_scram`).
    fn secured(scenario: &str, config: &str) -> Self {
        let dir = tempfile::tempdir().expect("certificates dir");
        let ca = TestCa::new(dir.path(), "librdkafka");
        let keystore = ca.broker_keystore("broker");
        let tls = format!(
            "\"ssl.keystore.type\" = \"PEM\"\n\"ssl.keystore.location\" = \"{}\"\n",
            keystore.display()
        );
        let ca_location = format!("ssl.ca.location={}\n", ca.certificate().display());
        let mut target = if scenario == "ssl" {
            let client_auth = format!(
                "\"ssl.client.auth\" = \"required\"\n\"ssl.truststore.type\" = \"PEM\"\n\"ssl.truststore.location\" = \"{}\"\n",
                ca.certificate().display()
            );
            let broker = SpawnedBroker::start_with_listeners(
                &["PLAINTEXT", "SSL"],
                &format!("{config}{tls}{client_auth}"),
            );
            Self::single(broker, "SSL", client_certificate(&ca))
        } else {
            let broker = SpawnedBroker::start_with_listeners(
                &["PLAINTEXT", "SASL_SSL"],
                &format!("{config}{tls}"),
            );
            WireClient::connect(&broker.address("PLAINTEXT")).set_scram_credential(
                USER,
                SCRAM_SHA_512,
                PASSWORD,
            );
            let client_conf = sasl_conf("SASL_SSL", "SCRAM-SHA-512") + &ca_location;
            Self::single(broker, "SASL_SSL", client_conf)
        };
        target._files = Some(dir);
        target
    }

    /// Three brokers whose SASL_PLAINTEXT listeners validate tokens of a token endpoint the
    /// clients fetch them from (client credentials, jwt-bearer assertions signed with the
    /// client's RSA key, or as from Azure's instance metadata service), as trivup's OIDC app
    /// serves librdkafka's tests; the brokers replicate over PLAINTEXT.
    fn oidc(config: &str) -> Self {
        let dir = tempfile::tempdir().expect("token files dir");
        let issuer = TokenIssuer::new("librdkafka-oidc");
        let key_set = dir.path().join("jwks.json");
        std::fs::write(&key_set, issuer.key_set()).expect("key set");
        let endpoint = TokenEndpoint::start(issuer, dir.path());
        let etcd = SpawnedEtcd::start();
        let settings = format!(
            "{config}\"sasl.oauthbearer.jwks.endpoint.url\" = \"file://{}\"\n",
            key_set.display()
        );
        let brokers = start_brokers_with_listeners(
            &etcd,
            "librdkafka",
            &["PLAINTEXT", "SASL_PLAINTEXT"],
            |_| settings.clone(),
        );
        let bootstrap = brokers
            .iter()
            .map(|broker| broker.address("SASL_PLAINTEXT"))
            .collect::<Vec<_>>()
            .join(",");
        let client_conf = format!(
            "security.protocol=SASL_PLAINTEXT
sasl.mechanism=OAUTHBEARER
sasl.oauthbearer.method=OIDC
sasl.oauthbearer.client.id={}
sasl.oauthbearer.client.secret={}
sasl.oauthbearer.scope={}
sasl.oauthbearer.token.endpoint.url={}
sasl.oauthbearer.extensions=ExtensionworkloadIdentity=spool,Extensioncluster=librdkafka
test.timeout.multiplier={OIDC_TIMEOUT_MULTIPLIER}
",
            oidc::CLIENT_ID,
            oidc::CLIENT_SECRET,
            oidc::SCOPES[0],
            endpoint.valid_url()
        );
        let env = vec![
            ("VALID_OIDC_URL", endpoint.valid_url()),
            ("INVALID_OIDC_URL", endpoint.bad_format_url()),
            ("EXPIRED_TOKEN_OIDC_URL", endpoint.expired_url()),
            (
                "OAUTHBEARER_CLIENT_PRIVATE_KEY",
                endpoint.client_key().display().to_string(),
            ),
            (
                "OAUTHBEARER_CLIENT_PRIVATE_KEY_ENCRYPTED",
                endpoint.client_key_encrypted().display().to_string(),
            ),
            (
                "OAUTHBEARER_CLIENT_PRIVATE_KEY_PASSWORD",
                oidc::KEY_PASSPHRASE.to_owned(),
            ),
        ];
        Self {
            bootstrap,
            brokers,
            client_conf,
            env,
            _etcd: Some(etcd),
            _files: Some(dir),
            _token_endpoint: Some(endpoint),
        }
    }
}

/// `test.conf` lines authenticating as [`USER`] with `mechanism` over `protocol`.
fn sasl_conf(protocol: &str, mechanism: &str) -> String {
    format!(
        "security.protocol={protocol}\nsasl.mechanism={mechanism}\nsasl.username={USER}\nsasl.password={PASSWORD}\n"
    )
}

/// `test.conf` lines presenting a new client certificate of `ca` (written next to its own).
fn client_certificate(ca: &TestCa) -> String {
    let client = ca.client(USER);
    format!(
        "security.protocol=SSL\nssl.ca.location={}\nssl.certificate.location={}\nssl.key.location={}\n",
        ca.certificate().display(),
        client.certificate.display(),
        client.key.display()
    )
}

/// Runs `test` of the runner against `target`. The runner works in its own directory (some
/// tests read files next to it, e.g. `../src/statistics_schema.json`); tests that change the
/// broker with Kafka's scripts (e.g. `kafka-acls.sh`) find them under `KAFKA_PATH`, and
/// `kafka-topics.sh` is pointed at `BROKERS`.
fn run_one(runner: &Path, conf_dir: &Path, target: &Target, test: &Listed) -> Output {
    let tests_dir = runner.parent().expect("tests dir");
    let build = tests_dir.parent().expect("build dir");
    let conf = conf_dir.join("test.conf");
    std::fs::write(
        &conf,
        format!(
            "bootstrap.servers={}\nbroker.address.family=v4\n{}",
            target.bootstrap, target.client_conf
        ),
    )
    .expect("test.conf");
    let library_path = format!(
        "{}:{}",
        build.join("src").display(),
        build.join("src-cpp").display()
    );
    let mut command = Command::new("timeout");
    command
        .arg(TEST_TIMEOUT_SECONDS)
        .arg(runner)
        .args(["-L", "-p1", "-V", ASSUMED_KAFKA_VERSION])
        .args(["-s", runner_scenario(&test.scenario)])
        .current_dir(tests_dir)
        .env("TESTS", &test.number)
        .env("RDKAFKA_TEST_CONF", &conf)
        .env("KAFKA_PATH", compat_tests::kafka::kafka_home())
        .env("BROKERS", &target.bootstrap)
        .env("LD_LIBRARY_PATH", library_path)
        .envs(target.env.iter().map(|(name, value)| (name, value)));
    if let Some(subtests) = test
        .subtests
        .as_deref()
        .filter(|name| *name != ALL_SUBTESTS)
    {
        command.env("SUBTESTS", subtests);
    }
    command.output().expect("test-runner runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Outcomes the runner's summary table gives for the tests numbered `number` (a number can
/// name several tests, e.g. `0045_subscribe_update` and `0045_resubscribe_with_regex`).
fn outcomes(text: &str, number: &str) -> Vec<(String, String)> {
    let prefix = format!("{number}_");
    text.lines()
        .filter_map(|line| {
            let line = strip_colors(line);
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells.get(1)?;
            let outcome = cells.get(2)?;
            name.starts_with(&prefix)
                .then(|| (name.to_string(), outcome.to_string()))
        })
        .collect()
}

/// Drops the ANSI colour escapes (`ESC [ ... m`) the runner writes.
fn strip_colors(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            plain.push(c);
        }
    }
    plain
}

/// Sub-test lines of the runner's output (`[ <name>: PASS (..) ]`, `[ <name>: SKIP: .. ]`) for
/// the sub-tests whose name contains `name`, with their outcome.
fn subtest_outcomes<'a>(text: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.lines().filter_map(move |line| {
        let (_, subtest) = line.split_once("[ ")?;
        if !subtest.contains(name) {
            return None;
        }
        [": PASS (", ": SKIP: "]
            .into_iter()
            .find(|outcome| subtest.contains(outcome))
    })
}

/// Why `test` did not pass, if it did not. A test run for some (or all) of its sub-tests
/// passes only when at least one of them ran and passed and none was skipped.
fn failure(output: &Output, test: &Listed) -> Option<String> {
    let text = strip_colors(&text(output));
    let outcomes = outcomes(&text, &test.number);
    let passed = outcomes.iter().any(|(_, outcome)| *outcome == "PASSED");
    let failed = outcomes
        .iter()
        .any(|(_, outcome)| *outcome != "PASSED" && *outcome != "SKIPPED");
    let subtests_ran = match test.subtests.as_deref() {
        None => true,
        // Some sub-tests skip with a warning of their own ("Skipping … variation"), some
        // have names that end in a line break, which puts their outcome on a line of its own.
        Some(ALL_SUBTESTS) => {
            text.contains(": PASS (") && !text.to_ascii_lowercase().contains("skip")
        }
        Some(name) => {
            let subtests: Vec<&str> = subtest_outcomes(&text, name).collect();
            subtests.contains(&": PASS (") && !subtests.contains(&": SKIP: ")
        }
    };
    if output.status.success() && passed && !failed && subtests_ran {
        return None;
    }
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(FAILURE_TAIL_LINES)..].join("\n");
    Some(format!(
        "--- {}: {} {outcomes:?} ---\n{tail}",
        test.name(),
        output.status
    ))
}

#[test]
fn librdkafka_integration_tests_pass() {
    let Some(runner) = runner() else { return };
    let full = std::env::var("SPOOL_LIBRDKAFKA_TIER").as_deref() == Ok("full");
    let chosen = std::env::var("SPOOL_LIBRDKAFKA_TESTS").ok();
    let selected: Vec<Listed> = listed_tests()
        .into_iter()
        .filter(|test| match &chosen {
            Some(chosen) => chosen.split(',').any(|name| {
                [test.number.clone(), test.name(), test.scenario.clone()]
                    .contains(&name.trim().to_owned())
            }),
            None => test.tier == "fast" || (full && test.tier == "full"),
        })
        .collect();
    assert!(!selected.is_empty(), "no librdkafka tests selected");

    let conf_dir = tempfile::tempdir().expect("conf dir");
    let mut failures = Vec::new();
    for test in &selected {
        // A fresh broker (or cluster) per test: no test sees what another left behind.
        let mut target = Target::start(&test.scenario);
        let started = Instant::now();
        let output = run_one(&runner, conf_dir.path(), &target, test);
        for broker in &mut target.brokers {
            broker.stop();
        }
        let failed = failure(&output, test);
        eprintln!(
            "librdkafka {} ({}): {} in {:.1}s",
            test.name(),
            test.scenario,
            if failed.is_some() { "FAILED" } else { "passed" },
            started.elapsed().as_secs_f64()
        );
        failures.extend(failed.map(|failure| format!("[{}] {failure}", test.scenario)));
    }
    eprintln!(
        "librdkafka suite ({}): {} of {} tests passed",
        chosen
            .as_deref()
            .unwrap_or(if full { "full tier" } else { "fast tier" }),
        selected.len() - failures.len(),
        selected.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
