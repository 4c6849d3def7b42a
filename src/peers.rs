//! The broker's connections to the other brokers of its cluster: Kafka requests over Kafka's
//! own protocol (WriteTxnMarkers to partition leaders; a follower's fetches on connections
//! of their own), through TLS and SASL where the inter-broker listener has them, reopened
//! after any failure, every response size bounded before it is read and every call (its
//! connecting and authenticating included) bounded in time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    RequestHeader, ResponseHeader, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use rustls_pki_types::ServerName;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::sasl::{ClientExchange, SaslCredentials};
use crate::tls::TlsSettings;

/// How long connecting to a broker may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request may take, from writing it to reading its response.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response read from a broker (Kafka's `socket.request.max.bytes` default).
pub const RESPONSE_MAX_BYTES: usize = 100 * 1024 * 1024;
/// The client id brokers send each other.
const CLIENT_ID: &str = "spool-broker";
/// The SaslHandshake and SaslAuthenticate versions a broker authenticates with (KIP-152).
const SASL_HANDSHAKE_VERSION: i16 = 1;
const SASL_AUTHENTICATE_VERSION: i16 = 2;

#[derive(Debug, Error)]
pub enum PeerError {
    #[error("broker {node_id} at {address}: {message}")]
    Io {
        node_id: i32,
        address: String,
        message: String,
    },
    /// Nothing listens at the broker's address: the connection was refused (a host's
    /// answer, unlike a timeout), so that broker's process is not serving there.
    #[error("broker {node_id} at {address}: connection refused")]
    NotListening { node_id: i32, address: String },
    #[error("broker {node_id} sent a malformed response: {message}")]
    Malformed { node_id: i32, message: String },
    #[error("authenticating to broker {node_id} failed: {message}")]
    Authentication { node_id: i32, message: String },
}

/// How a broker connects to the others: as the inter-broker listener's security protocol
/// says — TLS with that listener's stores, SASL with the login of its
/// `sasl.mechanism.inter.broker.protocol` — or in plain text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerSecurity {
    pub tls: Option<TlsSettings>,
    pub sasl: Option<SaslCredentials>,
}

/// One connection to one broker; calls on it take turns.
#[derive(Debug)]
pub struct Peer {
    node_id: i32,
    host: String,
    address: String,
    security: Arc<PeerSecurity>,
    connection: tokio::sync::Mutex<Option<Connection>>,
}

/// What a connection runs over: a TCP stream, or TLS over one.
trait PeerStream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + Sync> PeerStream for S {}

struct Connection {
    stream: Box<dyn PeerStream>,
    next_correlation_id: i32,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("next_correlation_id", &self.next_correlation_id)
            .finish_non_exhaustive()
    }
}

impl Peer {
    /// A connection of its own to broker `node_id` at `host:port`, opened on the first
    /// call: a follower's fetches, which a leader may hold for long, never queue other
    /// requests to that broker behind them (or them behind one that waits for a fetch).
    pub fn new(node_id: i32, host: &str, port: u16, security: Arc<PeerSecurity>) -> Self {
        Self {
            node_id,
            host: host.to_owned(),
            address: format!("{host}:{port}"),
            security,
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
        let result = tokio::time::timeout(REQUEST_TIMEOUT, async {
            if connection.is_none() {
                *connection = Some(self.open().await?);
            }
            match connection.as_mut() {
                Some(open) => self.exchange(open, version, request).await,
                None => Err(self.io_error("no connection")),
            }
        })
        .await
        .unwrap_or_else(|_| Err(self.io_error("request timed out")));
        if result.is_err() {
            *connection = None;
        }
        result
    }

    /// A new connection, through TLS and SASL where the inter-broker listener has them.
    async fn open(&self) -> Result<Connection, PeerError> {
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&self.address))
            .await
            .map_err(|_| self.io_error("connect timed out"))?
            .map_err(|error| match error.kind() {
                std::io::ErrorKind::ConnectionRefused => PeerError::NotListening {
                    node_id: self.node_id,
                    address: self.address.clone(),
                },
                _ => self.io_error(error),
            })?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn PeerStream> = match &self.security.tls {
            None => Box::new(tcp),
            Some(settings) => {
                let config =
                    crate::tls::client_config(settings).map_err(|error| self.refused(error))?;
                let name =
                    ServerName::try_from(self.host.clone()).map_err(|error| self.refused(error))?;
                let tls = tokio_rustls::TlsConnector::from(config)
                    .connect(name, tcp)
                    .await
                    .map_err(|error| self.refused(format!("TLS handshake: {error}")))?;
                Box::new(tls)
            }
        };
        let mut connection = Connection {
            stream,
            next_correlation_id: 0,
        };
        if let Some(credentials) = &self.security.sasl {
            self.authenticate(&mut connection, credentials).await?;
        }
        Ok(connection)
    }

    /// SaslHandshake, then SaslAuthenticate until the exchange is over (KIP-152).
    async fn authenticate(
        &self,
        connection: &mut Connection,
        credentials: &SaslCredentials,
    ) -> Result<(), PeerError> {
        let mechanism = credentials.mechanism.name();
        let handshake =
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
        let answer = self
            .exchange(connection, SASL_HANDSHAKE_VERSION, &handshake)
            .await?;
        if answer.error_code != 0 {
            let offered: Vec<&str> = answer.mechanisms.iter().map(|m| m.as_str()).collect();
            return Err(self.refused(format!("it does not offer {mechanism}, only {offered:?}")));
        }
        let (mut exchange, mut message) =
            ClientExchange::start(credentials.clone()).map_err(|error| self.refused(error))?;
        loop {
            let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(message));
            let answer = self
                .exchange(connection, SASL_AUTHENTICATE_VERSION, &request)
                .await?;
            if answer.error_code != 0 {
                let told = answer.error_message.as_deref().unwrap_or_default();
                return Err(self.refused(format!("error {}: {told}", answer.error_code)));
            }
            match exchange
                .respond(&answer.auth_bytes)
                .map_err(|error| self.refused(error))?
            {
                Some(next) => message = next,
                None => return Ok(()),
            }
        }
    }

    async fn exchange<R: Request>(
        &self,
        open: &mut Connection,
        version: i16,
        request: &R,
    ) -> Result<R::Response, PeerError> {
        let correlation_id = open.next_correlation_id;
        open.next_correlation_id = open.next_correlation_id.wrapping_add(1);
        let frame = self.frame(correlation_id, version, request)?;
        open.stream
            .write_all(&frame)
            .await
            .map_err(|error| self.io_error(error))?;
        open.stream
            .flush()
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

    fn refused(&self, message: impl ToString) -> PeerError {
        PeerError::Authentication {
            node_id: self.node_id,
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
    security: Arc<PeerSecurity>,
    peers: Mutex<HashMap<i32, Arc<Peer>>>,
}

impl Peers {
    pub fn new(security: Arc<PeerSecurity>) -> Self {
        Self {
            security,
            peers: Mutex::default(),
        }
    }

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
                let security = Arc::clone(&self.security);
                let peer = Arc::new(Peer::new(node_id, host, port, security));
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
