//! Runs the real `spool` binary on an ephemeral loopback port for tests with real clients.

pub mod bench;
pub mod crash;
pub mod etcd;
pub mod failover;
pub mod faults;
pub mod jwt;
pub mod kafka;
pub mod netns;
pub mod oidc;
pub mod pki;
pub mod prometheus;
pub mod proxy;
pub mod watchdog;
pub mod wire;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;

/// Where brokers listen unless told otherwise.
const LOOPBACK: &str = "127.0.0.1";
/// How long a broker may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one kcat run may take.
const KCAT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a clean shutdown may take.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The broker binary: `SPOOL_BIN`, else the workspace's release build.
pub fn broker_binary() -> PathBuf {
    if let Ok(path) = std::env::var("SPOOL_BIN") {
        return PathBuf::from(path);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/spool");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --release` first (make test does)",
        path.display()
    );
    path
}

/// A broker process and its data directory; killed on drop.
pub struct SpawnedBroker {
    child: Option<Child>,
    data_dir: PathBuf,
    config: String,
    /// The temporary directory holding the data, removed on drop (none if the caller owns it).
    temp: Option<tempfile::TempDir>,
    /// The address it listens on, and the network namespace it runs in (none: this one).
    host: String,
    netns: Option<String>,
    /// `127.0.0.1:PORT` the broker's first listener listens on.
    pub bootstrap: String,
    /// The names of its listeners, the first one PLAINTEXT unless told otherwise.
    listener_names: Vec<String>,
    /// Each listener's `127.0.0.1:PORT`, as the broker printed them.
    listeners: Arc<Mutex<BTreeMap<String, String>>>,
    /// The Prometheus endpoint's URL, when the config set `metrics.listen`.
    metrics_url: Arc<Mutex<Option<String>>>,
    /// Environment variables the broker process gets beyond this one's.
    env: Vec<(String, String)>,
}

impl SpawnedBroker {
    /// Starts a broker on a fresh data dir; `config` is extra TOML.
    pub fn start(config: &str) -> Self {
        Self::start_on(LOOPBACK, None, config)
    }

    /// Starts a broker with a listener of each name in `listeners` (on loopback, each on a
    /// port of its own) on a fresh data dir; `config` is extra TOML (which must not set
    /// `listeners`; it may map them to protocols and configure them).
    pub fn start_with_listeners(listeners: &[&str], config: &str) -> Self {
        let mut broker = Self::unstarted(LOOPBACK, None, config);
        broker.listener_names = listeners.iter().map(|name| name.to_string()).collect();
        broker.launch();
        broker
    }

    /// `127.0.0.1:PORT` of the listener named `name`.
    pub fn address(&self, name: &str) -> String {
        self.listeners
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("the broker has no listener {name}"))
    }

    /// Starts a broker listening on `host` (an address of its namespace), in network namespace
    /// `netns` if given, on a fresh data dir; `config` is extra TOML.
    pub fn start_on(host: &str, netns: Option<&str>, config: &str) -> Self {
        let mut broker = Self::unstarted(host, netns, config);
        broker.launch();
        broker
    }

    fn unstarted(host: &str, netns: Option<&str>, config: &str) -> Self {
        let temp = tempfile::tempdir().expect("temp dir");
        let data_dir = temp.path().join("data");
        Self {
            child: None,
            data_dir,
            config: config.to_owned(),
            temp: Some(temp),
            host: host.to_owned(),
            netns: netns.map(str::to_owned),
            bootstrap: String::new(),
            listener_names: vec!["PLAINTEXT".to_owned()],
            listeners: Arc::default(),
            metrics_url: Arc::default(),
            env: Vec::new(),
        }
    }

    /// Starts a broker on `data_dir`, which the caller owns (e.g. on a file system it mounted).
    pub fn start_in(data_dir: &Path, config: &str) -> Self {
        Self::start_in_with_env(data_dir, config, Vec::new())
    }

    /// Starts a broker on `data_dir`, which the caller owns, with `env` added to its
    /// environment (kept across restarts).
    pub fn start_in_with_env(data_dir: &Path, config: &str, env: Vec<(String, String)>) -> Self {
        let mut broker = Self {
            child: None,
            data_dir: data_dir.to_owned(),
            config: config.to_owned(),
            temp: None,
            host: LOOPBACK.to_owned(),
            netns: None,
            bootstrap: String::new(),
            listener_names: vec!["PLAINTEXT".to_owned()],
            listeners: Arc::default(),
            metrics_url: Arc::default(),
            env,
        };
        broker.launch();
        broker
    }

    /// The broker process's id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The Prometheus endpoint (`http://HOST:PORT/metrics`), if the broker serves one.
    pub fn metrics_url(&self) -> Option<String> {
        self.metrics_url
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Keeps the data directory after the broker is dropped (to inspect a failure); returns it.
    pub fn keep_data(&mut self) -> &Path {
        if let Some(temp) = self.temp.take() {
            let _ = temp.keep();
        }
        &self.data_dir
    }

    fn launch(&mut self) {
        let config_path = self.data_dir.with_extension("toml");
        std::fs::create_dir_all(&self.data_dir).expect("data dir");
        // Reuse the ports of an earlier run so clients configured before a restart reconnect.
        let bound = self
            .listeners
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let listen: Vec<String> = self
            .listener_names
            .iter()
            .map(|name| match bound.get(name) {
                Some(address) => format!("{name}://{address}"),
                None => format!("{name}://{}:0", self.host),
            })
            .collect();
        let listen = listen.join(",");
        let text = format!(
            "listeners = \"{listen}\"\n\"log.dirs\" = \"{}\"\n{}\n",
            self.data_dir.display(),
            self.config
        );
        std::fs::write(&config_path, text).expect("config");
        let mut command = match &self.netns {
            Some(netns) => {
                // `ip netns exec` enters the namespace and execs the broker: same pid.
                let mut command = Command::new("ip");
                command.args(["netns", "exec", netns]).arg(broker_binary());
                command
            }
            None => Command::new(broker_binary()),
        };
        let mut child = command
            .arg("--config")
            .arg(&config_path)
            .env(
                "RUST_LOG",
                std::env::var("SPOOL_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .envs(self.env.clone())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn spool");
        watchdog::watch(child.id(), "broker");
        let stdout = child.stdout.take().expect("stdout");
        let (found, listening) = mpsc::channel();
        let metrics_url = Arc::clone(&self.metrics_url);
        let listeners = Arc::clone(&self.listeners);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some((name, address)) = line
                    .strip_prefix("spool listener ")
                    .and_then(|rest| rest.split_once(" on "))
                {
                    listeners
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(name.to_owned(), address.to_owned());
                }
                if let Some(url) = line.strip_prefix("spool metrics on ") {
                    *metrics_url.lock().unwrap_or_else(|e| e.into_inner()) = Some(url.to_owned());
                }
                if let Some(address) = line.strip_prefix("spool listening on ") {
                    let _ = found.send(address.to_owned());
                }
            }
        });
        self.bootstrap = listening
            .recv_timeout(START_TIMEOUT)
            .expect("broker did not start listening");
        self.child = Some(child);
    }

    /// SIGTERM and wait: a clean shutdown.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Bounded below by STOP_TIMEOUT.
            watchdog::forget(child.id());
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + STOP_TIMEOUT;
            loop {
                match child.try_wait().expect("wait") {
                    Some(status) => {
                        assert!(status.success(), "broker exited with {status}");
                        return;
                    }
                    None if Instant::now() > deadline => {
                        let _ = child.kill();
                        panic!("broker did not stop within {STOP_TIMEOUT:?}");
                    }
                    None => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
    }

    /// SIGKILL: a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            watchdog::forget(child.id());
        }
    }

    /// Starts the broker again on the same data dir and port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill the broker first");
        self.launch();
    }

    /// A client config pointing at this broker.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("broker.address.family", "v4");
        config
    }
}

/// The bootstrap list of `brokers`: their addresses, comma-separated.
pub fn bootstrap_of(brokers: &[SpawnedBroker]) -> String {
    let addresses: Vec<&str> = brokers.iter().map(|b| b.bootstrap.as_str()).collect();
    addresses.join(",")
}

impl Drop for SpawnedBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `kcat ARGS` bounded by `timeout`, with the current librdkafka `make test` links
/// (`KCAT_LIBRARY_PATH`; Debian's 2.0.x cannot parse ApiVersions v3).
pub fn kcat_command(args: &[&str]) -> Command {
    let mut command = Command::new("timeout");
    command
        .arg(KCAT_TIMEOUT.as_secs().to_string())
        .arg("kcat")
        .args(args)
        .env(
            "LD_LIBRARY_PATH",
            std::env::var("KCAT_LIBRARY_PATH").unwrap_or_default(),
        );
    command
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
