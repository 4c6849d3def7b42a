//! The Kafka wire protocol: request header and body decoding (guarded so that no client input
//! reaches a decoder it could crash) against the table of supported APIs it is handed, and
//! response framing. It knows no handler and no storage.

pub mod fetch_response;
pub mod guard;
mod response_frame;

pub use response_frame::{FramePart, ResponseFrame};

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, RequestHeader, RequestKind, ResponseHeader, ResponseKind,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes, VersionRange};
use kafka_protocol::ResponseError;
use thiserror::Error;

/// Smallest request header: api key, api version, correlation id, client id length.
pub const REQUEST_HEADER_MIN_BYTES: usize = 10;

/// An API and the versions of it the broker fully implements: an entry of the table that
/// ApiVersions advertises and the decoder admits.
#[derive(Debug, Clone, Copy)]
pub struct SupportedApi {
    pub key: ApiKey,
    pub versions: VersionRange,
}

/// The versions of `key` in `supported`, if any.
fn supported_versions(supported: &[SupportedApi], key: ApiKey) -> Option<VersionRange> {
    supported
        .iter()
        .find(|api| api.key == key)
        .map(|api| api.versions)
}

/// What a request header says, kept for the response and for logging.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<StrBytes>,
    /// The peer's address as Kafka reports it (`/127.0.0.1`); set by the connection.
    pub client_host: String,
    /// The name of the listener the request came in on; set by the connection.
    pub listener: Arc<str>,
    /// Who the connection authenticated as (`User:…`); set by the connection.
    pub principal: Arc<str>,
    /// The request's size on the wire (header and body, without the size prefix), which
    /// produce quotas count.
    pub size: usize,
    /// The connection's mute: a throttled client's next request is read only after it.
    pub mute: Arc<Mute>,
}

/// Until when a connection is not read: Kafka mutes a throttled client's channel for its
/// throttle time, so a client that ignores `throttle_time_ms` is held back all the same.
#[derive(Debug, Default)]
pub struct Mute {
    until: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Mute {
    /// Keeps the connection muted for at least `throttle` from now.
    pub fn extend(&self, throttle: std::time::Duration) {
        if throttle.is_zero() {
            return;
        }
        let end = std::time::Instant::now() + throttle;
        let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        *until = Some(until.map_or(end, |current| current.max(end)));
    }

    /// When the connection may be read again, if it is muted now.
    pub fn until(&self) -> Option<std::time::Instant> {
        let until = *self.until.lock().unwrap_or_else(|e| e.into_inner());
        until.filter(|end| *end > std::time::Instant::now())
    }
}

/// A throttle time as responses tell it (`throttle_time_ms`).
pub fn throttle_time_ms(throttle: std::time::Duration) -> i32 {
    i32::try_from(throttle.as_millis()).unwrap_or(i32::MAX)
}

/// Kafka's principal of a client that did not authenticate.
pub const ANONYMOUS: &str = "User:ANONYMOUS";

impl RequestContext {
    /// A request's context before the connection fills in who sent it: no client id, an
    /// anonymous principal on no listener, unmuted.
    pub fn new(api_key: ApiKey, api_version: i16, correlation_id: i32, size: usize) -> Self {
        Self {
            api_key,
            api_version,
            correlation_id,
            client_id: None,
            client_host: String::new(),
            listener: Arc::from(""),
            principal: Arc::from(ANONYMOUS),
            size,
            mute: Arc::default(),
        }
    }

    /// The peer's IP address as ACL hosts name it (`127.0.0.1`).
    pub fn host(&self) -> &str {
        self.client_host.trim_start_matches('/')
    }
}

/// A decoded request, or the one case answered without decoding a body.
#[derive(Debug)]
pub enum Decoded {
    Request {
        context: RequestContext,
        body: Box<RequestKind>,
    },
    /// ApiVersions at a version we do not speak: answered with a v0 UNSUPPORTED_VERSION
    /// response listing our ranges, so the client can retry with one we do.
    UnsupportedApiVersions {
        correlation_id: i32,
        api_version: i16,
    },
}

/// Why a frame could not be decoded; the connection is closed.
#[derive(Debug, Error)]
pub enum DecodeError {
    #[error("frame of {0} bytes is shorter than a request header")]
    TooShort(usize),
    #[error("unknown api key {0}")]
    UnknownApiKey(i16),
    #[error("{api:?} v{version} is not supported (supported: {supported})")]
    UnsupportedVersion {
        api: ApiKey,
        version: i16,
        supported: String,
    },
    #[error("malformed {api:?} v{version} request: {message}")]
    Malformed {
        api: ApiKey,
        version: i16,
        message: String,
    },
    /// The guard let through a body the decoder panicked on: a gap in the guard (the
    /// fuzz targets fail on it), which still costs only this connection.
    #[error("{api:?} v{version} request made the decoder panic")]
    DecoderPanicked { api: ApiKey, version: i16 },
}

/// Decodes one request frame (the bytes after the size prefix) of an API in `supported`.
pub fn decode_request(
    mut frame: Bytes,
    supported: &[SupportedApi],
) -> Result<Decoded, DecodeError> {
    if frame.len() < REQUEST_HEADER_MIN_BYTES {
        return Err(DecodeError::TooShort(frame.len()));
    }
    let size = frame.len();
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let api_version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api = ApiKey::try_from(raw_key).map_err(|_| DecodeError::UnknownApiKey(raw_key))?;
    let Some(versions) = supported_versions(supported, api) else {
        return Err(DecodeError::UnknownApiKey(raw_key));
    };
    if !(versions.min..=versions.max).contains(&api_version) {
        if api == ApiKey::ApiVersions {
            return Ok(Decoded::UnsupportedApiVersions {
                correlation_id,
                api_version,
            });
        }
        return Err(DecodeError::UnsupportedVersion {
            api,
            version: api_version,
            supported: versions.to_string(),
        });
    }
    let malformed = |message: String| DecodeError::Malformed {
        api,
        version: api_version,
        message,
    };
    let header_version = api.request_header_version(api_version);
    let header_len = guard::check_header(header_version, &frame).map_err(malformed)?;
    guard::check_body(api, api_version, &frame[header_len..]).map_err(malformed)?;
    // The guard has checked every length and count; should the decoder still panic on some
    // input, that must cost only this connection, never the broker.
    let decoded = catch_unwind(AssertUnwindSafe(
        || -> Result<(RequestHeader, RequestKind), String> {
            let header = RequestHeader::decode(&mut frame, header_version)
                .map_err(|error| error.to_string())?;
            let body = RequestKind::decode(api, &mut frame, api_version)
                .map_err(|error| error.to_string())?;
            Ok((header, body))
        },
    ));
    match decoded {
        Ok(Ok((header, body))) => Ok(Decoded::Request {
            context: RequestContext {
                // A copy: a slice of the frame would keep the whole request body (a
                // produce's records) alive for as long as the context lives.
                client_id: header
                    .client_id
                    .map(|id| StrBytes::from_string(id.to_string())),
                ..RequestContext::new(api, api_version, correlation_id, size)
            },
            body: Box::new(body),
        }),
        Ok(Err(message)) => Err(malformed(message)),
        Err(_) => Err(DecodeError::DecoderPanicked {
            api,
            version: api_version,
        }),
    }
}

/// Encodes a response frame: size prefix, response header (version chosen by the API), body.
pub fn encode_response(context: &RequestContext, response: &ResponseKind) -> Result<Bytes, String> {
    let mut frame = BytesMut::new();
    frame.put_i32(0);
    encode_response_header(&mut frame, context)?;
    response
        .encode(&mut frame, context.api_version)
        .map_err(|error| error.to_string())?;
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    Ok(frame.freeze())
}

/// The response header of `context`'s API and version.
fn encode_response_header(out: &mut BytesMut, context: &RequestContext) -> Result<(), String> {
    let header_version = context.api_key.response_header_version(context.api_version);
    ResponseHeader::default()
        .with_correlation_id(context.correlation_id)
        .encode(out, header_version)
        .map_err(|error| error.to_string())
}

/// The ApiVersions entries of `supported`.
pub fn api_version_entries(supported: &[SupportedApi]) -> Vec<ApiVersion> {
    supported
        .iter()
        .map(|api| {
            ApiVersion::default()
                .with_api_key(api.key as i16)
                .with_min_version(api.versions.min)
                .with_max_version(api.versions.max)
        })
        .collect()
}

/// The v0-encoded UNSUPPORTED_VERSION answer, listing `supported`, to an ApiVersions request
/// we cannot decode.
pub fn encode_unsupported_api_versions(correlation_id: i32, supported: &[SupportedApi]) -> Bytes {
    let response = ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(api_version_entries(supported));
    let mut frame = BytesMut::new();
    frame.put_i32(0);
    frame.put_i32(correlation_id);
    // v0 of ApiVersionsResponse has only fixed-size fields and arrays: encoding cannot fail.
    if let Err(error) = response.encode(&mut frame, 0) {
        tracing::error!(%error, "encoding ApiVersions v0 failed");
    }
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    frame.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiVersionsRequest;

    /// A table as the handlers give one: ApiVersions v0-3 and Metadata v0-12.
    const SUPPORTED: &[SupportedApi] = &[
        SupportedApi {
            key: ApiKey::ApiVersions,
            versions: VersionRange { min: 0, max: 3 },
        },
        SupportedApi {
            key: ApiKey::Metadata,
            versions: VersionRange { min: 0, max: 12 },
        },
    ];

    fn decode(frame: Bytes) -> Result<Decoded, DecodeError> {
        decode_request(frame, SUPPORTED)
    }

    fn frame(api: ApiKey, version: i16, body: &impl Encodable) -> Bytes {
        let header = RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(7)
            .with_client_id(Some(StrBytes::from_static_str("test")));
        let mut bytes = BytesMut::new();
        header
            .encode(&mut bytes, api.request_header_version(version))
            .unwrap();
        body.encode(&mut bytes, version).unwrap();
        bytes.freeze()
    }

    #[test]
    fn decodes_every_advertised_api_versions_version() {
        for version in 0..=3 {
            let request = ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("t"))
                .with_client_software_version(StrBytes::from_static_str("1"));
            match decode(frame(ApiKey::ApiVersions, version, &request)).unwrap() {
                Decoded::Request { context, body }
                    if matches!(*body, RequestKind::ApiVersions(_)) =>
                {
                    assert_eq!(context.correlation_id, 7);
                    assert_eq!(context.client_id.as_deref(), Some("test"));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn newer_api_versions_gets_the_v0_fallback() {
        let decoded = decode(frame(
            ApiKey::ApiVersions,
            4,
            &ApiVersionsRequest::default(),
        ))
        .unwrap();
        assert!(matches!(
            decoded,
            Decoded::UnsupportedApiVersions {
                correlation_id: 7,
                api_version: 4
            }
        ));
        let response = encode_unsupported_api_versions(7, SUPPORTED);
        assert_eq!(&response[4..8], &7i32.to_be_bytes());
        let mut body = response.slice(8..);
        let decoded = ApiVersionsResponse::decode(&mut body, 0).unwrap();
        assert_eq!(decoded.error_code, 35);
        assert_eq!(decoded.api_keys.len(), SUPPORTED.len());
    }

    #[test]
    fn rejects_short_unknown_and_unsupported() {
        assert!(matches!(
            decode(Bytes::from_static(&[0, 3, 0])),
            Err(DecodeError::TooShort(3))
        ));
        let unknown = Bytes::from_static(&[0x7f, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert!(matches!(
            decode(unknown),
            Err(DecodeError::UnknownApiKey(0x7f00))
        ));
        let metadata_v14 = Bytes::from_static(&[0, 3, 0, 14, 0, 0, 0, 1, 0xff, 0xff, 0]);
        assert!(matches!(
            decode(metadata_v14),
            Err(DecodeError::UnsupportedVersion { .. })
        ));
    }
}
