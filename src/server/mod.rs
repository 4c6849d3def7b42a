//! The network side: accept connections (bounded by `max.connections`), one task per
//! connection, framing with size limits, in-order responses. Knows nothing about APIs.

mod connection;
mod frame;
mod send_file;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::broker::Broker;

pub use frame::{read_frame_size, FrameError};

/// Broker-wide limits the connection tasks share.
#[derive(Debug)]
struct Limits {
    /// Bytes of requests read but not answered (`queued.max.request.bytes`).
    request_bytes: Arc<Semaphore>,
    frame_max_bytes: usize,
}

/// Serves `listener` until `shutdown` turns true, then stops accepting, lets connections
/// finish the requests they are answering, and returns.
pub async fn serve(
    broker: Arc<Broker>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let connections = Arc::new(Semaphore::new(broker.config.max_connections));
    let limits = Arc::new(Limits {
        request_bytes: Arc::new(Semaphore::new(broker.config.queued_max_request_bytes)),
        frame_max_bytes: broker.config.socket_request_max_bytes as usize,
    });
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
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        let (socket, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                continue;
            }
        };
        if let Err(error) = socket.set_nodelay(true) {
            tracing::debug!(%error, %peer, "set_nodelay failed");
        }
        let broker = Arc::clone(&broker);
        let limits = Arc::clone(&limits);
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            connection::run(broker, limits, socket, peer, shutdown).await;
            drop(permit);
        });
        // Reap finished connection tasks so the set does not grow without bound.
        while tasks.try_join_next().is_some() {}
    }
    tracing::info!(
        open_connections = tasks.len(),
        "stopped accepting connections"
    );
    while tasks.join_next().await.is_some() {}
}
