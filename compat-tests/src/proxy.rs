//! A TCP proxy on loopback that cuts connections mid-flight: the first `cuts` connections
//! are closed right after they have forwarded a few dozen KiB of requests to the broker, so
//! responses are lost and clients must retry. For idempotence tests.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

const CHUNK_BYTES: usize = 16 * 1024;

/// A running proxy; stops accepting when dropped.
pub struct CuttingProxy {
    /// `127.0.0.1:PORT` clients connect to.
    pub address: String,
    target: Arc<Mutex<Option<String>>>,
    cuts_done: Arc<AtomicUsize>,
}

impl CuttingProxy {
    /// Listens on an ephemeral port; connections are forwarded once `set_target` is called.
    pub fn start(cuts: usize, bytes_before_cut: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let address = listener.local_addr().expect("address").to_string();
        let target: Arc<Mutex<Option<String>>> = Arc::default();
        let cuts_done = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let (accept_target, accept_cuts) = (Arc::clone(&target), Arc::clone(&cuts_done));
        thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let Some(target) = accept_target.lock().ok().and_then(|target| target.clone())
                else {
                    continue;
                };
                let Ok(broker) = TcpStream::connect(&target) else {
                    continue;
                };
                let number = connections.fetch_add(1, Ordering::SeqCst);
                let budget = (number < cuts).then_some(bytes_before_cut);
                forward(client, broker, budget, Arc::clone(&accept_cuts));
            }
        });
        Self {
            address,
            target,
            cuts_done,
        }
    }

    /// Where connections are forwarded to.
    pub fn set_target(&self, broker: &str) {
        if let Ok(mut target) = self.target.lock() {
            *target = Some(broker.to_owned());
        }
    }

    /// Connections cut so far.
    pub fn cuts(&self) -> usize {
        self.cuts_done.load(Ordering::SeqCst)
    }
}

fn forward(client: TcpStream, broker: TcpStream, budget: Option<usize>, cuts: Arc<AtomicUsize>) {
    let (Ok(client_reader), Ok(broker_writer)) = (client.try_clone(), broker.try_clone()) else {
        return;
    };
    let (client_writer, broker_reader) = (client, broker);
    // Responses back to the client, until either side closes.
    thread::spawn(move || copy(broker_reader, client_writer, None, None));
    thread::spawn(move || copy(client_reader, broker_writer, budget, Some(cuts)));
}

fn copy(
    mut from: TcpStream,
    mut to: TcpStream,
    budget: Option<usize>,
    cuts: Option<Arc<AtomicUsize>>,
) {
    let mut buffer = vec![0u8; CHUNK_BYTES];
    let mut forwarded = 0usize;
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if to.write_all(&buffer[..read]).is_err() {
            break;
        }
        forwarded += read;
        if budget.is_some_and(|budget| forwarded >= budget) {
            if let Some(cuts) = &cuts {
                cuts.fetch_add(1, Ordering::SeqCst);
            }
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
