//! The broker-wide memory pool for request bodies (`queued.max.request.bytes`, KIP-72): a
//! request claims its whole size, as its frame prefix gives it, before its body is read, and
//! gives it back once answered. Claims are whole so two large requests can never each hold half
//! of what both need; the bytes of requests read but not answered stay under the pool's size.
//!
//! Two rules keep one slow or greedy client from stalling the rest, which Kafka's pool does not:
//! - A claim that fits is granted at once, even while a larger one waits, so a client claiming
//!   huge frames does not queue everyone else behind it.
//! - A body must keep arriving: after [`BODY_GRACE`], at least [`BODY_MIN_BYTES_PER_SEC`]. When
//!   a claim does not fit, bodies that have averaged less than that rate since their first
//!   [`CONTENDED_GRACE`] are cut at once, so a slow-loris client cannot hold the pool while
//!   others wait.
//!
//! The price of the first rule: a large claim waits until the pool has room for all of it, so
//! small requests that keep the pool nearly full can hold it back. The pool is far larger than
//! `socket.request.max.bytes`, so that takes an overloaded broker.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// How long a body may take to start arriving before [`BODY_MIN_BYTES_PER_SEC`] applies: room
/// for TCP retransmissions on a lossy network. Real clients write the size and the body in one
/// go.
pub const BODY_GRACE: Duration = Duration::from_secs(5);
/// The slowest a body may arrive (64 KiB/s; a 1 MiB produce request in 16 s).
pub const BODY_MIN_BYTES_PER_SEC: u64 = 64 * 1024;
/// The grace a body gets while other claims wait: long enough not to judge it on its first
/// packets.
pub const CONTENDED_GRACE: Duration = Duration::from_millis(100);

/// The pool, shared by every connection.
#[derive(Debug)]
pub struct RequestMemory {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    free: usize,
    /// Bodies being read, whose claims are held.
    arriving: Vec<Arc<Arrival>>,
    /// Claims waiting for room.
    waiting: Vec<Arc<Waiter>>,
}

/// A claim waiting for room, woken when bytes return and it fits.
#[derive(Debug)]
struct Waiter {
    bytes: usize,
    room: Notify,
}

/// Keeps a waiter listed while its claim waits, including a claim dropped while waiting.
struct Waiting<'a> {
    memory: &'a RequestMemory,
    waiter: Arc<Waiter>,
}

/// Bytes of the pool held for one request; returned when dropped.
#[derive(Debug)]
pub struct Claim {
    memory: Arc<RequestMemory>,
    bytes: usize,
}

/// A body being read under a claim: how much of it has come, and a signal to stop reading it.
#[derive(Debug)]
struct Arrival {
    started: Instant,
    received: AtomicUsize,
    cut: Notify,
}

/// Registers a body as arriving; deregisters it when dropped.
#[derive(Debug)]
pub struct Arriving<'a> {
    memory: &'a RequestMemory,
    arrival: Arc<Arrival>,
}

impl RequestMemory {
    pub fn new(bytes: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                free: bytes,
                arriving: Vec::new(),
                waiting: Vec::new(),
            }),
        })
    }

    /// Claims `bytes`, waiting until they are free. The caller has checked them against
    /// `socket.request.max.bytes`, which the configuration keeps within the pool.
    pub async fn claim(self: &Arc<Self>, bytes: usize) -> Claim {
        let mut waiting: Option<Waiting<'_>> = None;
        loop {
            let (waiter, next_look) = {
                let mut state = self.lock();
                if state.free >= bytes {
                    state.free -= bytes;
                    drop(state);
                    drop(waiting);
                    return Claim {
                        memory: Arc::clone(self),
                        bytes,
                    };
                }
                let listed = waiting.get_or_insert_with(|| {
                    let waiter = Arc::new(Waiter {
                        bytes,
                        room: Notify::new(),
                    });
                    state.waiting.push(Arc::clone(&waiter));
                    Waiting {
                        memory: self,
                        waiter,
                    }
                });
                (
                    Arc::clone(&listed.waiter),
                    state.cut_bodies_behind(Instant::now()),
                )
            };
            // A wake-up between the unlock and here is kept by `room` (notify_one).
            match next_look {
                Some(at) => tokio::select! {
                    () = waiter.room.notified() => {}
                    () = tokio::time::sleep_until(at) => {}
                },
                None => waiter.room.notified().await,
            }
        }
    }

    /// Bytes no claim holds.
    #[cfg(test)]
    fn free(&self) -> usize {
        self.lock().free
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    /// Cuts the bodies behind the minimum rate since their contended grace; returns when the
    /// next of the others will be, unless more of it comes first.
    fn cut_bodies_behind(&self, now: Instant) -> Option<Instant> {
        let mut next = None;
        for arrival in &self.arriving {
            let due = arrival.due(CONTENDED_GRACE);
            if due <= now {
                arrival.cut.notify_one();
            } else {
                next = Some(next.map_or(due, |next: Instant| next.min(due)));
            }
        }
        next
    }
}

impl Claim {
    /// Marks the claim's body as arriving from now on, until the returned guard drops.
    pub fn arriving(&self) -> Arriving<'_> {
        let arrival = Arc::new(Arrival {
            started: Instant::now(),
            received: AtomicUsize::new(0),
            cut: Notify::new(),
        });
        self.memory.lock().arriving.push(Arc::clone(&arrival));
        Arriving {
            memory: &self.memory,
            arrival,
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut state = self.memory.lock();
        state.free += self.bytes;
        for waiter in &state.waiting {
            if waiter.bytes <= state.free {
                waiter.room.notify_one();
            }
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        unlist(&mut self.memory.lock().waiting, &self.waiter);
    }
}

impl Arrival {
    /// When the body falls behind the minimum rate counted from `grace` after its start,
    /// unless more of it comes.
    fn due(&self, grace: Duration) -> Instant {
        let received = self.received.load(Ordering::Relaxed) as f64;
        self.started + grace + Duration::from_secs_f64(received / BODY_MIN_BYTES_PER_SEC as f64)
    }
}

impl Arriving<'_> {
    /// Counts `bytes` more of the body as come.
    pub fn received(&self, bytes: usize) {
        self.arrival.received.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Resolves when the body should stop being read: it fell behind the minimum rate, or a
    /// waiting claim cut it.
    pub async fn too_slow(&self) {
        tokio::select! {
            () = tokio::time::sleep_until(self.arrival.due(BODY_GRACE)) => {}
            () = self.arrival.cut.notified() => {}
        }
    }
}

impl Drop for Arriving<'_> {
    fn drop(&mut self) {
        unlist(&mut self.memory.lock().arriving, &self.arrival);
    }
}

/// Removes `item` from `list`, where it is at most once.
fn unlist<T>(list: &mut Vec<Arc<T>>, item: &Arc<T>) {
    if let Some(at) = list.iter().position(|listed| Arc::ptr_eq(listed, item)) {
        list.swap_remove(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task claiming `bytes`; it ends with the size of its claim once granted.
    fn claim_in_background(
        memory: &Arc<RequestMemory>,
        bytes: usize,
    ) -> tokio::task::JoinHandle<usize> {
        let memory = Arc::clone(memory);
        tokio::spawn(async move { memory.claim(bytes).await.bytes })
    }

    #[tokio::test]
    async fn a_claim_that_fits_is_granted_while_a_larger_one_waits() {
        let memory = RequestMemory::new(100);
        let held = memory.claim(60).await;
        let large = claim_in_background(&memory, 80);
        tokio::task::yield_now().await;
        let small = tokio::time::timeout(Duration::from_secs(1), memory.claim(30))
            .await
            .expect("a claim that fits is not queued behind a larger one");
        assert_eq!(memory.free(), 10);
        drop(small);
        drop(held);
        assert_eq!(large.await.unwrap(), 80);
        assert_eq!(memory.free(), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_claim_cuts_a_body_behind_the_minimum_rate() {
        let memory = RequestMemory::new(100);
        let held = memory.claim(100).await;
        let arriving = held.arriving();
        tokio::time::advance(Duration::from_millis(100)).await;
        // 10 bytes in the body's first 100 ms: far behind the minimum rate.
        arriving.received(10);
        let waiting = claim_in_background(&memory, 1);
        tokio::time::timeout(Duration::from_secs(1), arriving.too_slow())
            .await
            .expect("the waiting claim cuts the lagging body");
        drop(arriving);
        drop(held);
        assert_eq!(waiting.await.unwrap(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_claim_leaves_a_body_arriving_at_the_minimum_rate() {
        let memory = RequestMemory::new(100);
        let held = memory.claim(50).await;
        let arriving = held.arriving();
        let waiting = claim_in_background(&memory, 60);
        for _ in 0..100 {
            arriving.received(BODY_MIN_BYTES_PER_SEC as usize / 10);
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        assert!(!waiting.is_finished());
        tokio::select! {
            () = arriving.too_slow() => panic!("a body on schedule was cut"),
            () = tokio::task::yield_now() => {}
        }
        drop(arriving);
        drop(held);
        assert_eq!(waiting.await.unwrap(), 60);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_is_due_once_its_grace_is_spent() {
        let memory = RequestMemory::new(100);
        let held = memory.claim(50).await;
        let arriving = held.arriving();
        let started = Instant::now();
        arriving.too_slow().await;
        assert_eq!(started.elapsed(), BODY_GRACE);
        // Bytes that come push the due time out at the minimum rate.
        arriving.received(BODY_MIN_BYTES_PER_SEC as usize);
        let started = Instant::now();
        arriving.too_slow().await;
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }
}
