//! A small blocking Kafka client for the `spool` command-line tools: one connection per
//! broker, versions negotiated with ApiVersions, responses read with size limits. It talks to
//! any Kafka-compatible broker, not only spool.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{
    Decodable, Encodable, HeaderVersion, Request, StrBytes, VersionRange,
};
use thiserror::Error;

/// Largest response the tools accept.
const RESPONSE_MAX_BYTES: usize = 256 << 20;
const IO_TIMEOUT: Duration = Duration::from_secs(30);
const CLIENT_ID: &str = "spool-cli";

/// What can go wrong talking to a broker.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot reach {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("I/O error talking to {address}: {source}")]
    Io {
        address: String,
        source: std::io::Error,
    },
    #[error("{address} does not support API key {api_key} in versions {wanted}")]
    Unsupported {
        address: String,
        api_key: i16,
        wanted: String,
    },
    #[error("bad response from {address}: {message}")]
    Protocol { address: String, message: String },
}

/// A connection to one broker.
pub struct Connection {
    address: String,
    stream: TcpStream,
    next_correlation_id: i32,
    versions: HashMap<i16, (i16, i16)>,
}

impl Connection {
    /// Connects and learns the broker's API versions.
    pub fn open(address: &str) -> Result<Self, ClientError> {
        let connect_error = |source| ClientError::Connect {
            address: address.to_owned(),
            source,
        };
        let target = address
            .to_socket_addrs()
            .map_err(connect_error)?
            .next()
            .ok_or_else(|| connect_error(std::io::Error::other("no address")))?;
        let stream = TcpStream::connect_timeout(&target, IO_TIMEOUT).map_err(connect_error)?;
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .map_err(connect_error)?;
        stream
            .set_write_timeout(Some(IO_TIMEOUT))
            .map_err(connect_error)?;
        let mut connection = Self {
            address: address.to_owned(),
            stream,
            next_correlation_id: 1,
            versions: HashMap::new(),
        };
        let versions: ApiVersionsResponse =
            connection.exchange(&ApiVersionsRequest::default(), 0)?;
        connection.versions = versions
            .api_keys
            .iter()
            .map(|api| (api.api_key, (api.min_version, api.max_version)))
            .collect();
        Ok(connection)
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// Sends `request` at the highest version both sides support within `ours`.
    pub fn call<R: Request>(
        &mut self,
        request: &R,
        ours: VersionRange,
    ) -> Result<R::Response, ClientError> {
        let version = match self.versions.get(&R::KEY) {
            Some(&(min, max)) if min.max(ours.min) <= max.min(ours.max) => max.min(ours.max),
            _ => {
                return Err(ClientError::Unsupported {
                    address: self.address.clone(),
                    api_key: R::KEY,
                    wanted: ours.to_string(),
                })
            }
        };
        self.exchange(request, version)
    }

    /// The version `call` would use for `R` within `ours`.
    pub fn version_of<R: Request>(&self, ours: VersionRange) -> Option<i16> {
        let &(min, max) = self.versions.get(&R::KEY)?;
        (min.max(ours.min) <= max.min(ours.max)).then(|| max.min(ours.max))
    }

    fn exchange<R: Request>(
        &mut self,
        request: &R,
        version: i16,
    ) -> Result<R::Response, ClientError> {
        let io = |source| ClientError::Io {
            address: self.address.clone(),
            source,
        };
        let protocol = |message: String| ClientError::Protocol {
            address: self.address.clone(),
            message,
        };
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .map_err(|error| protocol(error.to_string()))?;
        request
            .encode(&mut body, version)
            .map_err(|error| protocol(error.to_string()))?;
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame).map_err(io)?;

        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).map_err(io)?;
        let size = i32::from_be_bytes(size);
        if size < 4 || size as usize > RESPONSE_MAX_BYTES {
            return Err(protocol(format!("response size {size}")));
        }
        let mut frame = vec![0u8; size as usize];
        self.stream.read_exact(&mut frame).map_err(io)?;
        let mut bytes = Bytes::from(frame);
        let header = ResponseHeader::decode(&mut bytes, R::Response::header_version(version))
            .map_err(|error| protocol(error.to_string()))?;
        if header.correlation_id != correlation_id {
            return Err(protocol(format!(
                "correlation id {} for request {correlation_id}",
                header.correlation_id
            )));
        }
        R::Response::decode(&mut bytes, version).map_err(|error| protocol(error.to_string()))
    }
}
