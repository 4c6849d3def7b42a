//! The network side: accept connections on every listener (bounded together by
//! `max.connections`), TLS where the listener has it, one task per connection, framing with
//! size limits, in-order responses. Knows nothing about APIs.

mod authenticate;
mod connection;
mod connection_limits;
mod frame;
mod request_memory;
mod send_file;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::broker::Broker;
use crate::sasl::SaslServer;
use crate::tls::TlsServer;
use connection_limits::{Admission, OpenByIp};
use request_memory::RequestMemory;

pub use frame::{read_frame_size, FrameError};

/// A listener the server accepts connections on.
#[derive(Debug)]
pub struct Endpoint {
    /// The listener's name, which requests carry so answers name its endpoints.
    pub name: String,
    pub socket: TcpListener,
    /// The TLS server of an SSL listener; `None` for plaintext.
    pub tls: Option<Arc<TlsServer>>,
    /// How a SASL listener authenticates; `None` without SASL.
    pub sasl: Option<Arc<SaslServer>>,
}

/// What a connection knows of the listener it came in on.
#[derive(Debug)]
struct ListenerInfo {
    name: Arc<str>,
    tls: Option<Arc<TlsServer>>,
    sasl: Option<Arc<SaslServer>>,
}

/// Broker-wide limits the connection tasks share.
#[derive(Debug)]
struct Limits {
    /// Bytes of requests read but not answered (`queued.max.request.bytes`).
    request_memory: Arc<RequestMemory>,
    frame_max_bytes: usize,
    /// `connections.max.idle.ms`
    idle: std::time::Duration,
}

/// Serves every endpoint until `shutdown` turns true, then stops accepting, lets connections
/// finish the requests they are answering, and returns.
pub async fn serve(broker: Arc<Broker>, endpoints: Vec<Endpoint>, shutdown: watch::Receiver<bool>) {
    let connections = Arc::new(Semaphore::new(broker.config.max_connections));
    let open_by_ip = Arc::new(OpenByIp::default());
    let limits = Arc::new(Limits {
        request_memory: RequestMemory::new(broker.config.queued_max_request_bytes),
        frame_max_bytes: broker.config.socket_request_max_bytes as usize,
        idle: broker.config.connections_max_idle,
    });
    let mut listeners = JoinSet::new();
    for endpoint in endpoints {
        let listener = Arc::new(ListenerInfo {
            name: Arc::from(endpoint.name),
            tls: endpoint.tls,
            sasl: endpoint.sasl,
        });
        listeners.spawn(accept(
            Arc::clone(&broker),
            endpoint.socket,
            listener,
            Arc::clone(&connections),
            Arc::clone(&open_by_ip),
            Arc::clone(&limits),
            shutdown.clone(),
        ));
    }
    while listeners.join_next().await.is_some() {}
}

/// Accepts on one listener until shutdown, then waits for its connections.
async fn accept(
    broker: Arc<Broker>,
    socket: TcpListener,
    listener: Arc<ListenerInfo>,
    connections: Arc<Semaphore>,
    open_by_ip: Arc<OpenByIp>,
    limits: Arc<Limits>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tasks = JoinSet::new();
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
        let accepted = tokio::select! {
            accepted = socket.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, listener = %listener.name, "accept failed");
                continue;
            }
        };
        let slot = match open_by_ip.admit(&broker, peer.ip()) {
            Admission::Open(slot) => slot,
            Admission::TooMany(max) => {
                tracing::info!(ip = %peer.ip(), max, "connection refused: the address has its maximum of connections");
                continue;
            }
            Admission::Throttled(throttle) => {
                tracing::debug!(ip = %peer.ip(), ?throttle, "connection over the IP's creation rate, closed after its throttle time");
                tasks.spawn(async move {
                    tokio::time::sleep(throttle).await;
                    drop(stream);
                });
                continue;
            }
        };
        // `max.connection.creation.rate`: the listener waits before accepting another.
        let pause = broker.record_accepted();
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, %peer, "set_nodelay failed");
        }
        let served = (
            Arc::clone(&broker),
            Arc::clone(&limits),
            Arc::clone(&listener),
            shutdown.clone(),
        );
        tasks.spawn(async move {
            let (broker, limits, listener, shutdown) = served;
            connection::run(broker, limits, stream, peer, listener, shutdown).await;
            drop(slot);
            drop(permit);
        });
        if !pause.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => break,
            }
        }
        // Reap finished connection tasks so the set does not grow without bound.
        while tasks.try_join_next().is_some() {}
    }
    tracing::info!(
        listener = %listener.name,
        open_connections = tasks.len(),
        "stopped accepting connections"
    );
    while tasks.join_next().await.is_some() {}
}
