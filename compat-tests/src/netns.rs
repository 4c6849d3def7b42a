//! A network namespace of the test's own, joined to this one by a veth pair: a "host" whose
//! link can be cut and healed, for network partitions between brokers. The pair gets a /30 of
//! 10.213.0.0/16 (one end here, one inside); nothing else on the machine is touched, and the
//! namespace (with its end of the pair, which takes the other with it) is deleted on drop.
//!
//! Creating one needs CAP_NET_ADMIN (root); [`IsolatedHost::create`] says why it could not.

use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Subnets to try, in case another test process holds one.
const SUBNET_ATTEMPTS: u32 = 8;
/// /30 subnets of 10.213.0.0/16.
const SUBNETS: u32 = 1 << 14;

static CREATED: AtomicU32 = AtomicU32::new(0);

/// A namespace and the veth pair to it.
pub struct IsolatedHost {
    name: String,
    /// The veth end in this (the test's) namespace.
    outside_link: String,
    /// The address of this namespace's end: services the isolated host must reach listen here.
    pub outside_address: String,
    /// The address of the isolated host.
    pub inside_address: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|error| format!("ip {}: {error}", args.join(" ")))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    ))
}

impl IsolatedHost {
    /// A fresh namespace linked to this one, or why there cannot be one here.
    pub fn create() -> Result<Self, String> {
        let serial = CREATED.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}x{serial}", std::process::id());
        let name = format!("spool-{tag}");
        ip(&["netns", "add", &name])?;
        let mut host = Self {
            name,
            outside_link: format!("vso{tag}"),
            outside_address: String::new(),
            inside_address: String::new(),
        };
        let inside_link = format!("vsi{tag}");
        ip(&[
            "link",
            "add",
            &host.outside_link,
            "type",
            "veth",
            "peer",
            "name",
            &inside_link,
        ])?;
        ip(&["link", "set", &inside_link, "netns", &host.name])?;
        host.inside(&["link", "set", "lo", "up"])?;
        host.inside(&["link", "set", &inside_link, "up"])?;
        let mut last_error = String::new();
        for attempt in 0..SUBNET_ATTEMPTS {
            let subnet = (std::process::id() * 7 + serial * 13 + attempt * 101) % SUBNETS;
            let base = subnet * 4;
            let address =
                |host: u32| format!("10.213.{}.{}", (base + host) >> 8, (base + host) & 0xff);
            let outside = format!("{}/30", address(1));
            match ip(&["addr", "add", &outside, "dev", &host.outside_link]) {
                Ok(()) => {
                    host.outside_address = address(1);
                    host.inside_address = address(2);
                    let inside = format!("{}/30", address(2));
                    host.inside(&["addr", "add", &inside, "dev", &inside_link])?;
                    host.heal()?;
                    return Ok(host);
                }
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

    /// The namespace's name, for `ip netns exec`.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn inside(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["netns", "exec", &self.name, "ip"];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Runs `work` on a thread that has entered the namespace (as a client on the isolated
    /// host would), and returns what it returns.
    pub fn run_inside<T: Send>(&self, work: impl FnOnce() -> T + Send) -> Result<T, String> {
        let path = format!("/var/run/netns/{}", self.name);
        let namespace = std::fs::File::open(&path).map_err(|error| format!("{path}: {error}"))?;
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    // SAFETY: setns(2) on a namespace file we hold open; CLONE_NEWNET moves
                    // only this thread, which ends with `work`.
                    let entered = unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) };
                    if entered != 0 {
                        return Err(format!("setns: {}", std::io::Error::last_os_error()));
                    }
                    Ok(work())
                })
                .join()
                .map_err(|_| "the thread inside the namespace panicked".to_owned())?
        })
    }

    /// Takes the link down: nothing passes either way.
    pub fn cut(&self) -> Result<(), String> {
        ip(&["link", "set", &self.outside_link, "down"])
    }

    /// Brings the link (back) up.
    pub fn heal(&self) -> Result<(), String> {
        ip(&["link", "set", &self.outside_link, "up"])
    }
}

impl Drop for IsolatedHost {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.outside_link]);
        let _ = ip(&["netns", "del", &self.name]);
    }
}
