//! The broker's connections to the other brokers of its cluster: Kafka requests over Kafka's
//! own protocol (WriteTxnMarkers to partition leaders; a follower's fetches on connections
//! of their own), reopened after any failure, every response size bounded before
//! it is read and every call bounded in time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long connecting to a broker may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request may take, from writing it to reading its response.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response read from a broker (Kafka's `socket.request.max.bytes` default).
pub const RESPONSE_MAX_BYTES: usize = 100 * 1024 * 1024;
/// The client id brokers send each other.
const CLIENT_ID: &str = "spool-broker";

#[derive(Debug, Error)]
pub enum PeerError {
    #[error("broker {node_id} at {address}: {message}")]
    Io {
        node_id: i32,
        address: String,
        message: String,
    },
    #[error("broker {node_id} sent a malformed response: {message}")]
    Malformed { node_id: i32, message: String },
}

/// One connection to one broker; calls on it take turns.
#[derive(Debug)]
pub struct Peer {
    node_id: i32,
    address: String,
    connection: tokio::sync::Mutex<Option<Connection>>,
}

#[derive(Debug)]
struct Connection {
    stream: TcpStream,
    next_correlation_id: i32,
}

impl Peer {
    /// A connection of its own to broker `node_id` at `host:port`, opened on the first
    /// call: a follower's fetches, which a leader may hold for long, never queue other
    /// requests to that broker behind them (or them behind one that waits for a fetch).
    pub fn new(node_id: i32, host: &str, port: u16) -> Self {
        Self {
            node_id,
            address: format!("{host}:{port}"),
            connection: tokio::sync::Mutex::new(None),
        }
    }

    /// Sends `request` at `version` and waits for its response. A failed call drops the
    /// connection; the next call opens a new one.
    pub async fn call<R: Request>(
        &self,
        version: i16,
        request: &R,
    ) -> Result<R::Response, PeerError>
    where
        R::Response: Decodable,
    {
        let mut connection = self.connection.lock().await;
        let result = tokio::time::timeout(
            REQUEST_TIMEOUT,
            self.exchange(&mut connection, version, request),
        )
        .await
        .unwrap_or_else(|_| Err(self.io_error("request timed out")));
        if result.is_err() {
            *connection = None;
        }
        result
    }

    async fn exchange<R: Request>(
        &self,
        connection: &mut Option<Connection>,
        version: i16,
        request: &R,
    ) -> Result<R::Response, PeerError> {
        if connection.is_none() {
            let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&self.address))
                .await
                .map_err(|_| self.io_error("connect timed out"))?
                .map_err(|error| self.io_error(error))?;
            let _ = stream.set_nodelay(true);
            *connection = Some(Connection {
                stream,
                next_correlation_id: 0,
            });
        }
        let Some(open) = connection.as_mut() else {
            return Err(self.io_error("no connection"));
        };
        let correlation_id = open.next_correlation_id;
        open.next_correlation_id = open.next_correlation_id.wrapping_add(1);
        let frame = self.frame(correlation_id, version, request)?;
        open.stream
            .write_all(&frame)
            .await
            .map_err(|error| self.io_error(error))?;
        let mut size = [0u8; 4];
        open.stream
            .read_exact(&mut size)
            .await
            .map_err(|error| self.io_error(error))?;
        let size = usize::try_from(i32::from_be_bytes(size)).unwrap_or(usize::MAX);
        if size > RESPONSE_MAX_BYTES {
            return Err(self.malformed(format!("a {size}-byte response")));
        }
        let mut body = vec![0u8; size];
        open.stream
            .read_exact(&mut body)
            .await
            .map_err(|error| self.io_error(error))?;
        let mut body = Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, R::Response::header_version(version))
            .map_err(|error| self.malformed(error))?;
        if header.correlation_id != correlation_id {
            return Err(self.malformed(format!(
                "correlation id {} for request {correlation_id}",
                header.correlation_id
            )));
        }
        R::Response::decode(&mut body, version).map_err(|error| self.malformed(error))
    }

    /// The size-prefixed request frame.
    fn frame<R: Request>(
        &self,
        correlation_id: i32,
        version: i16,
        request: &R,
    ) -> Result<Bytes, PeerError> {
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        let mut frame = BytesMut::new();
        frame.extend_from_slice(&[0; 4]);
        header
            .encode(&mut frame, R::header_version(version))
            .and_then(|()| request.encode(&mut frame, version))
            .map_err(|error| self.malformed(format!("cannot encode the request: {error}")))?;
        let size = i32::try_from(frame.len() - 4).unwrap_or(i32::MAX);
        frame[..4].copy_from_slice(&size.to_be_bytes());
        Ok(frame.freeze())
    }

    fn io_error(&self, message: impl ToString) -> PeerError {
        PeerError::Io {
            node_id: self.node_id,
            address: self.address.clone(),
            message: message.to_string(),
        }
    }

    fn malformed(&self, message: impl ToString) -> PeerError {
        PeerError::Malformed {
            node_id: self.node_id,
            message: message.to_string(),
        }
    }
}

/// A shared connection to each broker this one sends requests to (transaction markers), by
/// node id.
#[derive(Debug, Default)]
pub struct Peers {
    peers: Mutex<HashMap<i32, Arc<Peer>>>,
}

impl Peers {
    /// The connection to broker `node_id` at `host:port` (a new one if it moved).
    pub fn peer(&self, node_id: i32, host: &str, port: u16) -> Arc<Peer> {
        let address = format!("{host}:{port}");
        let mut peers = self
            .peers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match peers.get(&node_id) {
            Some(peer) if peer.address == address => Arc::clone(peer),
            _ => {
                let peer = Arc::new(Peer::new(node_id, host, port));
                peers.insert(node_id, Arc::clone(&peer));
                peer
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
    use tokio::net::TcpListener;

    /// A one-connection server that answers each request frame with `respond(correlation id)`.
    async fn serve(respond: fn(i32) -> Vec<u8>) -> (String, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            loop {
                let mut size = [0u8; 4];
                if socket.read_exact(&mut size).await.is_err() {
                    return;
                }
                let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
                socket.read_exact(&mut body).await.unwrap();
                let correlation_id = i32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                socket.write_all(&respond(correlation_id)).await.unwrap();
            }
        });
        (address, task)
    }

    fn answer(correlation_id: i32) -> Vec<u8> {
        let mut body = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(correlation_id)
            .encode(&mut body, 0)
            .unwrap();
        ApiVersionsResponse::default()
            .with_error_code(35)
            .encode(&mut body, 0)
            .unwrap();
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        frame
    }

    #[tokio::test]
    async fn calls_match_responses_and_oversized_ones_are_refused() {
        let (address, _server) = serve(answer).await;
        let (host, port) = address.rsplit_once(':').unwrap();
        let peers = Peers::default();
        let peer = peers.peer(2, host, port.parse().unwrap());
        for _ in 0..3 {
            let response = peer.call(0, &ApiVersionsRequest::default()).await.unwrap();
            assert_eq!(response.error_code, 35);
        }
        assert!(Arc::ptr_eq(
            &peer,
            &peers.peer(2, host, port.parse().unwrap())
        ));

        let (huge, _server) =
            serve(|_| (RESPONSE_MAX_BYTES as i32 + 1).to_be_bytes().to_vec()).await;
        let (host, port) = huge.rsplit_once(':').unwrap();
        let peer = peers.peer(3, host, port.parse().unwrap());
        let refused = peer.call(0, &ApiVersionsRequest::default()).await;
        assert!(
            matches!(refused, Err(PeerError::Malformed { node_id: 3, .. })),
            "{refused:?}"
        );
    }
}
