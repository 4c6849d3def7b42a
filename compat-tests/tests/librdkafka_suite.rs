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
//! have three replicas).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use compat_tests::etcd::{start_brokers, SpawnedEtcd};
use compat_tests::SpawnedBroker;

/// Broker version the runner assumes: spool speaks the protocol of Kafka 4.0 (record batch
/// v2 only, no message format v0/v1).
const ASSUMED_KAFKA_VERSION: &str = "4.0.0";
/// Longest one librdkafka test may run, in seconds (its own timeouts are shorter).
const TEST_TIMEOUT_SECONDS: &str = "600";
/// Output lines shown for a failed test.
const FAILURE_TAIL_LINES: usize = 60;

/// One row of `librdkafka-tests.md`.
struct Listed {
    number: String,
    tier: String,
    scenario: String,
}

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
            let number = cells.get(1)?;
            if number.len() != 4 || !number.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let tier = cells.get(2)?;
            if *tier != "fast" && *tier != "full" {
                return None;
            }
            Some(Listed {
                number: number.to_string(),
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

/// Broker settings of librdkafka's test scenarios (`tests/scenarios/*.json`).
fn scenario_config(scenario: &str) -> &'static str {
    match scenario {
        "default" => "\"num.partitions\" = 4\n\"auto.create.topics.enable\" = true\n",
        "noautocreate" => "\"num.partitions\" = 4\n\"auto.create.topics.enable\" = false\n",
        "cluster" => {
            "\"num.partitions\" = 4\n\"auto.create.topics.enable\" = true\n\"default.replication.factor\" = 3\n"
        }
        other => panic!("librdkafka-tests.md names an unknown scenario {other:?}"),
    }
}

/// The runner's own scenario for ours: the cluster runs librdkafka's default one.
fn runner_scenario(scenario: &str) -> &str {
    match scenario {
        "cluster" => "default",
        other => other,
    }
}

/// The brokers a scenario's tests run against: one, or three on one etcd.
struct Target {
    brokers: Vec<SpawnedBroker>,
    _etcd: Option<SpawnedEtcd>,
}

impl Target {
    fn start(scenario: &str) -> Self {
        let config = scenario_config(scenario);
        if scenario != "cluster" {
            let broker = SpawnedBroker::start(config);
            return Self {
                brokers: vec![broker],
                _etcd: None,
            };
        }
        let etcd = SpawnedEtcd::start();
        let brokers = start_brokers(&etcd, "librdkafka", config);
        Self {
            brokers,
            _etcd: Some(etcd),
        }
    }

    fn bootstrap(&self) -> String {
        compat_tests::bootstrap_of(&self.brokers)
    }
}

/// Runs test `number` of the runner against `bootstrap` in `scenario`. The runner works in
/// its own directory (some tests read files next to it, e.g. `../src/statistics_schema.json`).
fn run_one(
    runner: &Path,
    conf_dir: &Path,
    bootstrap: &str,
    number: &str,
    scenario: &str,
) -> Output {
    let tests_dir = runner.parent().expect("tests dir");
    let build = tests_dir.parent().expect("build dir");
    let conf = conf_dir.join("test.conf");
    std::fs::write(
        &conf,
        format!("bootstrap.servers={bootstrap}\nbroker.address.family=v4\n"),
    )
    .expect("test.conf");
    let library_path = format!(
        "{}:{}",
        build.join("src").display(),
        build.join("src-cpp").display()
    );
    Command::new("timeout")
        .arg(TEST_TIMEOUT_SECONDS)
        .arg(runner)
        .args(["-L", "-p1", "-V", ASSUMED_KAFKA_VERSION])
        .args(["-s", runner_scenario(scenario)])
        .current_dir(tests_dir)
        .env("TESTS", number)
        .env("RDKAFKA_TEST_CONF", &conf)
        .env("LD_LIBRARY_PATH", library_path)
        .output()
        .expect("test-runner runs")
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

/// Why test `number` did not pass, if it did not.
fn failure(output: &Output, number: &str) -> Option<String> {
    let text = text(output);
    let outcomes = outcomes(&text, number);
    let passed = outcomes.iter().any(|(_, outcome)| *outcome == "PASSED");
    let failed = outcomes
        .iter()
        .any(|(_, outcome)| *outcome != "PASSED" && *outcome != "SKIPPED");
    if output.status.success() && passed && !failed {
        return None;
    }
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(FAILURE_TAIL_LINES)..].join("\n");
    Some(format!(
        "--- {number}: {} {outcomes:?} ---\n{tail}",
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
            Some(chosen) => chosen
                .split(',')
                .any(|name| [&test.number, &test.scenario].contains(&&name.trim().to_owned())),
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
        let output = run_one(
            &runner,
            conf_dir.path(),
            &target.bootstrap(),
            &test.number,
            &test.scenario,
        );
        for broker in &mut target.brokers {
            broker.stop();
        }
        let failed = failure(&output, &test.number);
        eprintln!(
            "librdkafka {} ({}): {} in {:.1}s",
            test.number,
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
