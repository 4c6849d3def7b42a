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
}

impl WireClient {
    pub fn connect(bootstrap: &str) -> Self {
        let stream = TcpStream::connect(bootstrap).expect("connect");
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("timeout");
        Self {
            stream,
            next_correlation_id: 1,
        }
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
            .with_client_id(Some(StrBytes::from_static_str("spool-wire-test")));
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

    /// Sends a request and waits for its response.
    pub fn call<R: Request>(&mut self, version: i16, request: &R) -> R::Response {
        let sent = self.send(version, request);
        let (received, response) = self.receive::<R>(version);
        assert_eq!(sent, received, "correlation id");
        response
    }
}
