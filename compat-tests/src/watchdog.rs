//! A hung test must fail the run in bounded time, not hold CI until its global limit: every
//! broker and etcd a test spawns is watched, and one that has lived longer than any test
//! needs means its test hangs (a client call without a timeout, a destructor waiting on a
//! broker that never answers). Then the watchdog prints which test spawned it and every
//! thread's stack of the test process (with gdb, when the machine has it), kills every
//! watched process and exits the test binary with a failure.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Command;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

/// No test holds one broker or etcd process longer; `SPOOL_TEST_PROCESS_LIFETIME_MAX_S`
/// overrides it (for long benchmarks and crash runs).
const PROCESS_LIFETIME_MAX: Duration = Duration::from_secs(600);
const CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Bounds the stack dump, so a stuck debugger cannot hang the watchdog itself.
const STACK_DUMP_TIMEOUT_S: &str = "60";
/// The exit code of a test binary whose test failed.
const FAILED_EXIT_CODE: i32 = 101;

struct Watched {
    what: String,
    test: String,
    since: Instant,
}

static WATCHED: Mutex<BTreeMap<u32, Watched>> = Mutex::new(BTreeMap::new());
static MONITOR: Once = Once::new();

fn watched() -> std::sync::MutexGuard<'static, BTreeMap<u32, Watched>> {
    WATCHED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn lifetime_max() -> Duration {
    std::env::var("SPOOL_TEST_PROCESS_LIFETIME_MAX_S")
        .ok()
        .and_then(|seconds| seconds.parse().ok())
        .map_or(PROCESS_LIFETIME_MAX, Duration::from_secs)
}

/// Watches process `pid` (`what` it is) from now until [`forget`].
pub fn watch(pid: u32, what: &str) {
    MONITOR.call_once(|| {
        let limit = lifetime_max();
        std::thread::Builder::new()
            .name("test-watchdog".into())
            .spawn(move || monitor(limit))
            .expect("watchdog thread");
    });
    // libtest names each test's thread after the test.
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed thread")
        .to_owned();
    watched().insert(
        pid,
        Watched {
            what: what.to_owned(),
            test,
            since: Instant::now(),
        },
    );
}

/// Stops watching `pid` (it exited or was killed).
pub fn forget(pid: u32) {
    watched().remove(&pid);
}

fn monitor(limit: Duration) {
    loop {
        std::thread::sleep(CHECK_INTERVAL);
        let overdue = watched()
            .iter()
            .find(|(_, process)| process.since.elapsed() > limit)
            .map(|(pid, process)| format!("{} (pid {pid}) of test {}", process.what, process.test));
        if let Some(overdue) = overdue {
            say(&format!(
                "{overdue} has lived longer than {limit:?}: the test hangs"
            ));
            dump_stacks();
            for pid in watched().keys() {
                unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
            }
            say("killed every spawned process; failing the run");
            std::process::exit(FAILED_EXIT_CODE);
        }
    }
}

/// Every thread's stack of this process, on stderr, if gdb can attach.
fn dump_stacks() {
    let dumped = Command::new("timeout")
        .arg(STACK_DUMP_TIMEOUT_S)
        .arg("gdb")
        .args(["--batch", "--nx", "-p"])
        .arg(std::process::id().to_string())
        .args(["-ex", "thread apply all bt"])
        .status();
    if !matches!(dumped, Ok(status) if status.success()) {
        say("no stack dump (gdb missing or not allowed to attach)");
    }
}

/// Straight to stderr: `eprintln!` in a thread a test spawned goes to that test's captured
/// output, which is lost when the watchdog exits.
fn say(message: &str) {
    let _ = writeln!(std::io::stderr(), "watchdog: {message}");
}
