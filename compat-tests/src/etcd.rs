//! etcd (Debian's `etcd-server`, or the binary `SPOOL_ETCD` names) as a one-member cluster on
//! free loopback ports with its data in a temporary directory, for the cluster tests; killed
//! on drop. It can be killed and started again on the same ports and data, as an etcd restart.
//! [`start_brokers`] starts a cluster of three spool brokers on it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long etcd may take to report itself healthy.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts with fresh ports, in case another process took a port between probe and bind.
const START_ATTEMPTS: usize = 3;

/// The etcd binary: `SPOOL_ETCD`, else `etcd` on the PATH.
fn etcd_binary() -> PathBuf {
    std::env::var_os("SPOOL_ETCD").map_or_else(|| PathBuf::from("etcd"), PathBuf::from)
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}

/// A running etcd.
pub struct SpawnedEtcd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
    /// Another address clients may use (e.g. of a link to another network namespace).
    also_on: Option<String>,
}

impl SpawnedEtcd {
    pub fn start() -> Self {
        Self::start_also_on(None)
    }

    /// Starts etcd listening for clients on `host` too (besides loopback).
    pub fn start_also_on(host: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut etcd = Self {
            child: None,
            dir,
            client_port: 0,
            peer_port: 0,
            also_on: host.map(str::to_owned),
        };
        for attempt in 1..=START_ATTEMPTS {
            etcd.client_port = free_port();
            etcd.peer_port = free_port();
            match etcd.launch() {
                Ok(()) => return etcd,
                Err(error) if attempt < START_ATTEMPTS => {
                    eprintln!("etcd did not start ({error}); trying other ports")
                }
                Err(error) => panic!("etcd did not start: {error}"),
            }
        }
        unreachable!("the last attempt panics")
    }

    /// `127.0.0.1:PORT` clients connect to.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    /// The cluster URL a broker is given, with its own key root.
    pub fn cluster_url(&self, root: &str) -> String {
        format!("etcd://{}/{}", self.endpoint(), root.trim_matches('/'))
    }

    /// The cluster URL for a broker that reaches etcd at `host` (see [`Self::start_also_on`]).
    pub fn cluster_url_at(&self, host: &str, root: &str) -> String {
        format!(
            "etcd://{host}:{}/{}",
            self.client_port,
            root.trim_matches('/')
        )
    }

    /// kill -9, as a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            crate::watchdog::forget(child.id());
        }
    }

    /// Starts again on the same ports and data after [`SpawnedEtcd::kill`].
    pub fn restart(&mut self) {
        self.kill();
        if let Err(error) = self.launch() {
            panic!("etcd did not restart: {error}");
        }
    }

    fn launch(&mut self) -> Result<(), String> {
        let client = format!("http://127.0.0.1:{}", self.client_port);
        let listen = match &self.also_on {
            Some(host) => format!("{client},http://{host}:{}", self.client_port),
            None => client.clone(),
        };
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::File::create(self.dir.path().join("etcd.log"))
            .map_err(|error| error.to_string())?;
        let child = Command::new(etcd_binary())
            .arg("--name=spool-test")
            .arg(format!(
                "--data-dir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--listen-client-urls={listen}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=spool-test={peer}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|error| format!("{} cannot run: {error}", etcd_binary().display()))?;
        crate::watchdog::watch(child.id(), "etcd");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.healthy() {
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() >= deadline {
                self.kill();
                let log =
                    std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                return Err(format!("exited or not healthy in time: {tail:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether `GET /health` on the client port says so.
    fn healthy(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.client_port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let request = "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response.contains("\"health\":\"true\"")
    }
}

/// Brokers 1, 2 and 3 under `root` of `etcd`, each with `settings` (TOML lines).
pub fn start_brokers(etcd: &SpawnedEtcd, root: &str, settings: &str) -> Vec<crate::SpawnedBroker> {
    start_brokers_with(etcd, root, |_| settings.to_owned())
}

/// Brokers 1, 2 and 3 under `root` of `etcd`, each with the settings (TOML lines)
/// `settings_of` gives for its node id.
pub fn start_brokers_with(
    etcd: &SpawnedEtcd,
    root: &str,
    settings_of: impl Fn(i32) -> String,
) -> Vec<crate::SpawnedBroker> {
    start_brokers_with_listeners(etcd, root, &["PLAINTEXT"], settings_of)
}

/// Like [`start_brokers_with`], each broker with a listener of each name in `listeners`; the
/// first is the one they replicate over (`inter.broker.listener.name`).
pub fn start_brokers_with_listeners(
    etcd: &SpawnedEtcd,
    root: &str,
    listeners: &[&str],
    settings_of: impl Fn(i32) -> String,
) -> Vec<crate::SpawnedBroker> {
    (1..=3)
        .map(|node_id| {
            crate::SpawnedBroker::start_with_listeners(
                listeners,
                &format!(
                    "\"node.id\" = {node_id}\n\"cluster.url\" = \"{}\"\n\"inter.broker.listener.name\" = \"{}\"\n{}",
                    etcd.cluster_url(root),
                    listeners[0],
                    settings_of(node_id)
                ),
            )
        })
        .collect()
}

impl Drop for SpawnedEtcd {
    fn drop(&mut self) {
        self.kill();
    }
}
