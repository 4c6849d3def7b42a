//! One client connection: the TLS handshake where the listener has TLS, then a reader that
//! frames, decodes and dispatches requests in arrival order, and a writer that sends their
//! responses in that same order. Any framing or decoding error closes this connection only.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;
use tokio::io::WriteHalf;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tracing::Instrument;

use super::authenticate::{Authenticator, Verdict};
use super::frame::{read_frame_size, FrameError};
use super::request_memory::Claim;
use super::send_file::{copy_file, send_file, SendFileError};
use super::{Limits, ListenerInfo};
use crate::broker::Broker;
use crate::handlers;
use crate::metrics;
use crate::protocol::{self, DecodeError, Decoded, FramePart, Mute, ResponseFrame, ANONYMOUS};
use crate::tls::{self, MappingError, TlsServer};

/// Requests a connection may have dispatched but not yet answered; past this the connection
/// stops reading (backpressure). Kafka clients pipeline up to 5 by default.
pub const REQUESTS_IN_FLIGHT_MAX: usize = 16;
/// Buffers request prefixes and small requests; larger bodies are read straight into their
/// own buffer, so a bigger one would only add copies and idle memory per connection.
const READ_BUFFER_BYTES: usize = 16 * 1024;
/// Request bodies of this many bytes (produce batches, in practice) are read into one buffer
/// the connection reuses once the previous bodies are dropped: no allocation, zeroing or page
/// faults per request. Smaller bodies get their own allocation, so a small request whose
/// bytes something keeps (a group member's metadata) never pins the shared buffer; larger
/// ones too, so an idle connection holds at most the upper bound.
const SHARED_BODY_BYTES: std::ops::RangeInclusive<usize> = 64 * 1024..=2 << 20;
/// How long a client may take over the TLS handshake; it holds a connection slot meanwhile.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Kafka's `connection.failed.authentication.delay.ms` default: how long the answer to a
/// failed authentication waits.
const FAILED_AUTHENTICATION_DELAY: Duration = Duration::from_millis(100);

/// What the writer does for one request.
enum Reply {
    Frame(ResponseFrame),
    /// acks=0 produce: the client expects no response.
    Nothing,
    /// The response could not be produced: close rather than leave the client waiting.
    Close,
}

#[derive(Debug, Error)]
enum ConnectionError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad frame: {0}")]
    Frame(#[from] FrameError),
    #[error("bad request: {0}")]
    Decode(#[from] DecodeError),
    #[error("request body of {size} bytes arriving too slowly: {received} bytes in {elapsed:?}")]
    SlowBody {
        size: usize,
        received: usize,
        elapsed: Duration,
    },
    #[error("no handler for {0:?}")]
    NoHandler(kafka_protocol::messages::ApiKey),
    #[error("SASL: {0}")]
    Authentication(&'static str),
    #[error("encoding a response failed: {0}")]
    Encode(String),
    #[error("idle for {0:?} (connections.max.idle.ms)")]
    Idle(Duration),
}

/// Serves one connection until the peer closes it, an error occurs, or shutdown.
pub(super) async fn run(
    broker: Arc<Broker>,
    limits: Arc<Limits>,
    socket: TcpStream,
    peer: SocketAddr,
    listener: Arc<ListenerInfo>,
    shutdown: watch::Receiver<bool>,
) {
    let span = tracing::info_span!(
        "connection",
        %peer,
        listener = %listener.name,
        principal = tracing::field::Empty
    );
    async move {
        tracing::debug!("connection opened");
        metrics::global().connection_opened();
        let authenticator = listener.sasl.as_ref().map(|server| {
            Authenticator::new(
                Arc::clone(server),
                Arc::clone(&broker),
                Arc::clone(&listener.name),
            )
        });
        let mut connection = Connection {
            broker,
            limits,
            peer,
            listener: Arc::clone(&listener.name),
            shutdown,
            authenticator,
            principal: Arc::from(ANONYMOUS),
        };
        match &listener.tls {
            None => {
                if listener.sasl.is_none() {
                    tracing::Span::current().record("principal", ANONYMOUS);
                }
                let (reader, writer) = socket.into_split();
                connection.serve(reader, writer).await;
            }
            Some(tls) => {
                let acceptor = tokio_rustls::TlsAcceptor::from(tls.config());
                let handshake_timeout = TLS_HANDSHAKE_TIMEOUT.min(connection.limits.idle);
                match tokio::time::timeout(handshake_timeout, acceptor.accept(socket)).await {
                    Ok(Ok(stream)) => {
                        // A SASL listener names the principal when the client authenticates.
                        let named = match listener.sasl {
                            None => principal(&stream, tls).map(Some),
                            Some(_) => Ok(None),
                        };
                        match named {
                            Ok(named) => {
                                if let Some(principal) = named {
                                    tracing::Span::current().record("principal", &*principal);
                                    connection.principal = Arc::from(principal);
                                }
                                let (reader, writer) = tokio::io::split(stream);
                                connection.serve(reader, writer).await;
                            }
                            // Kafka closes a connection it cannot name a principal for.
                            Err(error) => tracing::info!(%error, "closing connection"),
                        }
                    }
                    Ok(Err(error)) => tracing::info!(%error, "TLS handshake failed"),
                    Err(_) => tracing::info!("TLS handshake timed out"),
                }
            }
        }
        metrics::global().connection_closed();
    }
    .instrument(span)
    .await
}

/// A TLS client's principal: `User:` and what `ssl.principal.mapping.rules` make of its
/// certificate's subject, or anonymous without a certificate.
fn principal(stream: &TlsStream<TcpStream>, tls: &TlsServer) -> Result<String, MappingError> {
    let subject = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|certificate| tls::subject_name(certificate));
    match subject {
        Some(subject) => Ok(format!("User:{}", tls.principal_name(&subject)?)),
        None => Ok(ANONYMOUS.to_owned()),
    }
}

/// A connection past its handshake.
struct Connection {
    broker: Arc<Broker>,
    limits: Arc<Limits>,
    peer: SocketAddr,
    listener: Arc<str>,
    shutdown: watch::Receiver<bool>,
    /// On a SASL listener: the authentication, which must succeed before anything else.
    authenticator: Option<Authenticator>,
    /// Who the connection's requests come from, unless it authenticates with SASL.
    principal: Arc<str>,
}

impl Connection {
    async fn serve<R, W>(self, reader: R, writer: W)
    where
        R: AsyncRead + Unpin,
        W: ResponseSink + 'static,
    {
        let (replies, pending) = mpsc::channel(REQUESTS_IN_FLIGHT_MAX);
        let unanswered = Arc::new(AtomicUsize::new(0));
        let writer =
            tokio::spawn(write_replies(writer, pending, Arc::clone(&unanswered)).in_current_span());
        match self.read_requests(reader, replies, &unanswered).await {
            Ok(()) => tracing::debug!("connection closed"),
            // A peer that drops the connection is routine; bad input is worth a warning.
            Err(ConnectionError::Io(error)) => tracing::debug!(%error, "connection lost"),
            Err(error @ ConnectionError::Idle(_)) => tracing::debug!(%error, "closing connection"),
            Err(error @ ConnectionError::SlowBody { .. }) => {
                tracing::info!(%error, "closing connection")
            }
            Err(error) => tracing::warn!(%error, "closing connection"),
        }
        match writer.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::debug!(%error, "writing responses failed"),
            Err(error) => tracing::error!(%error, "response writer panicked"),
        }
    }

    async fn read_requests(
        mut self,
        reader: impl AsyncRead + Unpin,
        replies: mpsc::Sender<JoinHandle<Reply>>,
        unanswered: &AtomicUsize,
    ) -> Result<(), ConnectionError> {
        let Self {
            broker,
            limits,
            peer,
            listener,
            shutdown,
            authenticator,
            principal,
        } = &mut self;
        let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, reader);
        let mut shared_bodies = BytesMut::new();
        // Kafka's spelling of the peer in group member descriptions.
        let client_host = format!("/{}", peer.ip());
        let mute = Arc::new(Mute::default());
        let mut principal_metrics = PrincipalCounters::default();
        loop {
            let mut prefix = [0u8; 4];
            {
                let read = reader.read_exact(&mut prefix);
                tokio::pin!(read);
                let mut idle_until = Instant::now() + limits.idle;
                loop {
                    tokio::select! {
                        read = &mut read => match read {
                            Ok(_) => break,
                            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                            Err(error) => return Err(error.into()),
                        },
                        () = tokio::time::sleep_until(idle_until.into()) => {
                            // Waiting for its answers is not idle.
                            if unanswered.load(Ordering::Acquire) == 0 {
                                return Err(ConnectionError::Idle(limits.idle));
                            }
                            idle_until = Instant::now() + limits.idle;
                        }
                        _ = shutdown.changed() => return Ok(()),
                        _ = replies.closed() => return Ok(()),
                    }
                }
            }
            // A throttled client's next request waits until its throttle time has passed (a
            // throttle decided while this read was waiting counts too).
            if let Some(until) = mute.until() {
                tokio::select! {
                    () = tokio::time::sleep_until(until.into()) => {}
                    _ = shutdown.changed() => return Ok(()),
                }
            }
            let frame_max_bytes = match authenticator {
                Some(authenticator) => authenticator.frame_max_bytes(limits.frame_max_bytes),
                None => limits.frame_max_bytes,
            };
            let size = read_frame_size(prefix, frame_max_bytes)?;
            // Wait for room in the broker-wide pool before allocating the body.
            let claim = limits.request_memory.claim(size).await;
            let body =
                read_body(&mut reader, &mut shared_bodies, size, &claim, limits.idle).await?;
            let reply = match protocol::decode_request(body, handlers::SUPPORTED_APIS)? {
                Decoded::UnsupportedApiVersions {
                    correlation_id,
                    api_version,
                } => {
                    tracing::debug!(
                        api_version,
                        "ApiVersions version not supported, answering with v0"
                    );
                    drop(claim);
                    tokio::spawn(std::future::ready(Reply::Frame(ResponseFrame::from(
                        protocol::encode_unsupported_api_versions(
                            correlation_id,
                            handlers::SUPPORTED_APIS,
                        ),
                    ))))
                }
                Decoded::Request { mut context, body } => {
                    context.client_host.clone_from(&client_host);
                    context.listener = Arc::clone(listener);
                    context.principal = Arc::clone(principal);
                    context.mute = Arc::clone(&mute);
                    let verdict = match authenticator {
                        Some(authenticator) => {
                            let verdict = authenticator.examine(context.api_version, &body);
                            if let Some(authenticated) = authenticator.principal() {
                                if let Verdict::Answer(_) = verdict {
                                    tracing::Span::current().record("principal", &**authenticated);
                                }
                                context.principal = Arc::clone(authenticated);
                            }
                            verdict
                        }
                        None => Verdict::Dispatch,
                    };
                    let (answer, close) = match verdict {
                        Verdict::Dispatch => (None, false),
                        Verdict::Answer(answer) => (Some(answer), false),
                        Verdict::AnswerAndClose(answer) => (Some(answer), true),
                        Verdict::Close(reason) => {
                            return Err(ConnectionError::Authentication(reason))
                        }
                    };
                    if let Some(answer) = answer {
                        drop(claim);
                        let frame = handlers::Response::Message(answer)
                            .encode(&context)
                            .map_err(ConnectionError::Encode)?;
                        let reply = tokio::spawn(async move {
                            // Kafka answers a failed authentication after a pause
                            // (`connection.failed.authentication.delay.ms`), which slows
                            // password guessing.
                            if close {
                                tokio::time::sleep(FAILED_AUTHENTICATION_DELAY).await;
                            }
                            Reply::Frame(frame)
                        });
                        unanswered.fetch_add(1, Ordering::AcqRel);
                        if replies.send(reply).await.is_err() || close {
                            return Ok(());
                        }
                        continue;
                    }
                    let span = tracing::debug_span!(
                        "request",
                        api = ?context.api_key,
                        version = context.api_version,
                        correlation_id = context.correlation_id,
                        client_id = context.client_id.as_deref().unwrap_or(""),
                    );
                    let arrived = Instant::now();
                    let counters = principal_metrics.of(&context.principal);
                    let pending = span
                        .in_scope(|| handlers::dispatch(broker, &context, *body))
                        .ok_or(ConnectionError::NoHandler(context.api_key))?;
                    tokio::spawn(
                        async move {
                            let response = pending.await;
                            drop(claim);
                            metrics::global().request(
                                context.api_key,
                                context.api_version,
                                arrived.elapsed(),
                                &response
                                    .as_ref()
                                    .map(handlers::Response::error_codes)
                                    .unwrap_or_default(),
                            );
                            match response.map(|response| response.encode(&context)) {
                                None => {
                                    counters.request(size, 0);
                                    Reply::Nothing
                                }
                                Some(Ok(frame)) => {
                                    counters.request(size, frame.len());
                                    Reply::Frame(frame)
                                }
                                Some(Err(error)) => {
                                    tracing::error!(%error, "encoding response failed");
                                    Reply::Close
                                }
                            }
                        }
                        .instrument(span),
                    )
                }
            };
            unanswered.fetch_add(1, Ordering::AcqRel);
            if replies.send(reply).await.is_err() {
                return Ok(());
            }
        }
    }
}

/// The request counters of the connection's principal, looked up again only when it
/// authenticates as another.
#[derive(Default)]
struct PrincipalCounters(Option<(Arc<str>, Arc<metrics::PrincipalMetrics>)>);

impl PrincipalCounters {
    fn of(&mut self, principal: &Arc<str>) -> Arc<metrics::PrincipalMetrics> {
        match &self.0 {
            Some((known, counters)) if Arc::ptr_eq(known, principal) => Arc::clone(counters),
            _ => {
                let counters = Arc::new(metrics::global().principal(principal));
                self.0 = Some((Arc::clone(principal), Arc::clone(&counters)));
                counters
            }
        }
    }
}

/// Reads a request body of `size` bytes, into `shared` when its size is in
/// [`SHARED_BODY_BYTES`]. A body that must wait for the network is read only as long as it
/// keeps the pace the request memory pool asks, and no byte of it is `idle` apart.
async fn read_body(
    reader: &mut BufReader<impl AsyncRead + Unpin>,
    shared: &mut BytesMut,
    size: usize,
    claim: &Claim,
    idle: Duration,
) -> Result<Bytes, ConnectionError> {
    let mut own = BytesMut::new();
    let buffer = if SHARED_BODY_BYTES.contains(&size) {
        shared
    } else {
        &mut own
    };
    buffer.reserve(size);
    let arriving = (reader.buffer().len() < size).then(|| claim.arriving());
    let started = Instant::now();
    while buffer.len() < size {
        let received = buffer.len();
        let mut rest = (&mut *buffer).limit(size - received);
        let read = reader.read_buf(&mut rest);
        let read = match &arriving {
            None => read.await?,
            Some(arriving) => tokio::select! {
                read = read => {
                    let read = read?;
                    arriving.received(read);
                    read
                }
                () = arriving.too_slow() => {
                    return Err(ConnectionError::SlowBody {
                        size,
                        received,
                        elapsed: started.elapsed(),
                    })
                }
                () = tokio::time::sleep(idle) => return Err(ConnectionError::Idle(idle)),
            },
        };
        if read == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
    }
    Ok(buffer.split().freeze())
}

/// Writes replies in request order. Buffered bytes are flushed before waiting on a reply that
/// is not ready yet, so an answered request never waits behind a slow one in the buffer.
async fn write_replies<W: ResponseSink>(
    writer: W,
    mut pending: mpsc::Receiver<JoinHandle<Reply>>,
    unanswered: Arc<AtomicUsize>,
) -> std::io::Result<()> {
    let mut writer = FrameWriter {
        sendfile: writer.tcp().is_some(),
        socket: BufWriter::new(writer),
    };
    loop {
        let reply = match pending.try_recv() {
            Ok(reply) => reply,
            Err(mpsc::error::TryRecvError::Empty) => {
                writer.flush().await?;
                match pending.recv().await {
                    Some(reply) => reply,
                    None => break,
                }
            }
            Err(mpsc::error::TryRecvError::Disconnected) => break,
        };
        if !reply.is_finished() {
            writer.flush().await?;
        }
        let reply = reply.await;
        unanswered.fetch_sub(1, Ordering::AcqRel);
        match reply {
            Ok(Reply::Frame(frame)) => writer.write(&frame).await?,
            Ok(Reply::Nothing) => {}
            Ok(Reply::Close) => break,
            Err(error) => {
                tracing::error!(%error, "request task failed");
                break;
            }
        }
    }
    writer.flush().await?;
    writer.socket.into_inner().shutdown().await
}

/// Where a connection's responses go: a plain socket, which file ranges can be sent to
/// with sendfile(2), or a TLS stream, which must encrypt them.
pub(super) trait ResponseSink: AsyncWrite + Unpin + Send {
    /// The socket sendfile(2) can write to, if the bytes go to it unchanged.
    fn tcp(&self) -> Option<&TcpStream>;
}

impl ResponseSink for OwnedWriteHalf {
    fn tcp(&self) -> Option<&TcpStream> {
        Some(self.as_ref())
    }
}

impl ResponseSink for WriteHalf<TlsStream<TcpStream>> {
    fn tcp(&self) -> Option<&TcpStream> {
        None
    }
}

/// A connection's outgoing side: response bytes through a buffer, segment-file ranges with
/// sendfile(2) on plain sockets (or copied, over TLS or if the file system refuses sendfile).
struct FrameWriter<W> {
    socket: BufWriter<W>,
    sendfile: bool,
}

impl<W: ResponseSink> FrameWriter<W> {
    async fn write(&mut self, frame: &ResponseFrame) -> std::io::Result<()> {
        for part in frame.parts() {
            match part {
                FramePart::Bytes(bytes) => self.socket.write_all(bytes).await?,
                FramePart::File(slice) => {
                    if self.sendfile {
                        self.socket.flush().await?;
                    }
                    if let Some(tcp) = self.socket.get_ref().tcp().filter(|_| self.sendfile) {
                        match send_file(tcp, slice).await {
                            Ok(()) => continue,
                            Err(SendFileError::Io(error)) => return Err(error),
                            Err(SendFileError::Unsupported) => {
                                tracing::info!("sendfile unsupported here; copying instead");
                                self.sendfile = false;
                            }
                        }
                    }
                    copy_file(&mut self.socket, slice).await?;
                }
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        self.socket.flush().await
    }
}
