//! A minimal blocking Kafka wire client built on `kafka-protocol`, for tests that need exact
//! control over versions, fields and pipelining (things real clients choose for themselves).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// One connection to a broker.
pub struct WireClient {
    stream: TcpStream,
    next_correlation_id: i32,
    client_id: StrBytes,
}

impl WireClient {
    pub fn connect(bootstrap: &str) -> Self {
        Self::over(TcpStream::connect(bootstrap).expect("connect"))
    }

    /// Connects from `local` (a loopback address other than 127.0.0.1, so that the broker
    /// sees another client host).
    pub fn connect_from(bootstrap: &str, local: std::net::IpAddr) -> Self {
        let address: std::net::SocketAddr = bootstrap.parse().expect("bootstrap address");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("runtime");
        let stream = runtime.block_on(async {
            let socket = match local {
                std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
                std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
            }
            .expect("socket");
            socket
                .bind(std::net::SocketAddr::new(local, 0))
                .expect("bind the local address");
            socket.connect(address).await.expect("connect")
        });
        let stream = stream.into_std().expect("std stream");
        stream.set_nonblocking(false).expect("blocking");
        Self::over(stream)
    }

    fn over(stream: TcpStream) -> Self {
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("timeout");
        Self {
            stream,
            next_correlation_id: 1,
            client_id: StrBytes::from_static_str("spool-wire-test"),
        }
    }

    /// The client id the requests carry from now on.
    pub fn with_client_id(mut self, client_id: &'static str) -> Self {
        self.client_id = StrBytes::from_static_str(client_id);
        self
    }

    /// Writes one request without waiting; returns its correlation id.
    pub fn send<R: Request>(&mut self, version: i16, request: &R) -> i32 {
        let (correlation_id, frame) = self.frame(version, request);
        self.stream.write_all(&frame).expect("write");
        correlation_id
    }

    /// The frame of a request (size prefix included) and its correlation id, not sent.
    pub fn frame<R: Request>(&mut self, version: i16, request: &R) -> (i32, Vec<u8>) {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .expect("encode header");
        request.encode(&mut body, version).expect("encode request");
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        (correlation_id, frame)
    }

    /// Reads the next response, which must be for `R` at `version`.
    pub fn receive<R: Request>(&mut self, version: i16) -> (i32, R::Response) {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).expect("response size");
        let mut frame = vec![0u8; i32::from_be_bytes(size) as usize];
        self.stream.read_exact(&mut frame).expect("response body");
        let mut bytes = Bytes::from(frame);
        let header = ResponseHeader::decode(&mut bytes, R::Response::header_version(version))
            .expect("response header");
        let response = R::Response::decode(&mut bytes, version).expect("response body");
        (header.correlation_id, response)
    }

    /// The next response, which must be for `R` at `version`, or `None` if the broker
    /// closed the connection instead.
    pub fn try_receive<R: Request>(&mut self, version: i16) -> Option<R::Response> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).ok()?;
        let mut frame = vec![0u8; i32::from_be_bytes(size) as usize];
        self.stream.read_exact(&mut frame).ok()?;
        let mut bytes = Bytes::from(frame);
        ResponseHeader::decode(&mut bytes, R::Response::header_version(version))
            .expect("response header");
        Some(R::Response::decode(&mut bytes, version).expect("response body"))
    }

    /// Sends a request and waits for its response, or `None` if the broker closes the
    /// connection instead of answering.
    pub fn try_call<R: Request>(&mut self, version: i16, request: &R) -> Option<R::Response> {
        self.send(version, request);
        self.try_receive::<R>(version)
    }

    /// Writes bytes as they are, framed or not.
    pub fn write_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Whether the broker closed the connection (reads end, or it was reset) rather than
    /// leaving it open until the read timeout.
    pub fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.stream.read_to_end(&mut rest) {
            Ok(_) => true,
            Err(error) => !matches!(
                error.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    }

    /// Sends a request and waits for its response.
    pub fn call<R: Request>(&mut self, version: i16, request: &R) -> R::Response {
        let sent = self.send(version, request);
        let (received, response) = self.receive::<R>(version);
        assert_eq!(sent, received, "correlation id");
        response
    }

    /// Creates `name` with one partition and one replica; panics unless the broker does.
    pub fn create_topic(&mut self, name: &str) {
        use kafka_protocol::messages::create_topics_request::CreatableTopic;
        use kafka_protocol::messages::{CreateTopicsRequest, TopicName};
        let created = self.call(
            7,
            &CreateTopicsRequest::default()
                .with_timeout_ms(10_000)
                .with_topics(vec![CreatableTopic::default()
                    .with_name(TopicName(StrBytes::from_string(name.to_owned())))
                    .with_num_partitions(1)
                    .with_replication_factor(1)]),
        );
        assert_eq!(created.topics[0].error_code, 0, "{created:?}");
    }

    /// Stores `user`'s SCRAM credential for `password` (mechanism 1: SHA-256, 2: SHA-512)
    /// as Kafka's admin client does (AlterUserScramCredentials with the salted password);
    /// panics unless the broker accepts it.
    pub fn set_scram_credential(&mut self, user: &str, mechanism: i8, password: &str) {
        use kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion;
        use kafka_protocol::messages::AlterUserScramCredentialsRequest;
        const ITERATIONS: u32 = 4096;
        let (algorithm, length) = match mechanism {
            2 => (ring::pbkdf2::PBKDF2_HMAC_SHA512, 64),
            _ => (ring::pbkdf2::PBKDF2_HMAC_SHA256, 32),
        };
        let salt = format!("salt-of-{user}").into_bytes();
        let mut salted = vec![0u8; length];
        let iterations = std::num::NonZeroU32::new(ITERATIONS).expect("non-zero");
        ring::pbkdf2::derive(
            algorithm,
            iterations,
            &salt,
            password.as_bytes(),
            &mut salted,
        );
        let request = AlterUserScramCredentialsRequest::default().with_upsertions(vec![
            ScramCredentialUpsertion::default()
                .with_name(StrBytes::from_string(user.to_owned()))
                .with_mechanism(mechanism)
                .with_iterations(ITERATIONS as i32)
                .with_salt(Bytes::from(salt))
                .with_salted_password(Bytes::from(salted)),
        ]);
        let response = self.call(0, &request);
        assert!(
            response.results.iter().all(|result| result.error_code == 0),
            "{response:?}"
        );
    }
}

/// DescribeAcls for every binding (ANY / MATCH-all filter fields; the crate's defaults are
/// empty names, which match nothing).
pub fn describe_every_acl() -> kafka_protocol::messages::DescribeAclsRequest {
    kafka_protocol::messages::DescribeAclsRequest::default()
        .with_resource_type_filter(1)
        .with_resource_name_filter(None)
        .with_pattern_type_filter(1)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_operation(1)
        .with_permission_type(1)
}
