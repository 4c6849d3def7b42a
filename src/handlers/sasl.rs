//! SaslHandshake (key 17) and SaslAuthenticate (key 36). On a SASL listener the connection
//! answers them itself while it authenticates (`server/authenticate.rs`, with the answers
//! built here); a request reaching a handler came on a listener without SASL or after the
//! connection authenticated, and Kafka answers those with ILLEGAL_SASL_STATE.

use kafka_protocol::messages::{ApiKey, SaslAuthenticateResponse, SaslHandshakeResponse};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::SupportedApi;
use crate::sasl::Mechanism;

/// v0 sent the tokens as raw frames after the handshake; Kafka deprecates it and clients
/// that know ApiVersions use v1, so spool offers v1 only.
pub const HANDSHAKE_API: SupportedApi = SupportedApi {
    key: ApiKey::SaslHandshake,
    versions: VersionRange { min: 1, max: 1 },
};
pub const AUTHENTICATE_API: SupportedApi = SupportedApi {
    key: ApiKey::SaslAuthenticate,
    versions: VersionRange { min: 0, max: 2 },
};

/// A handshake answered with `error` (none: accepted), listing the listener's mechanisms.
pub fn handshake(error: Option<ResponseError>, mechanisms: &[Mechanism]) -> SaslHandshakeResponse {
    SaslHandshakeResponse::default()
        .with_error_code(error.map_or(0, |error| error.code()))
        .with_mechanisms(
            mechanisms
                .iter()
                .map(|mechanism| StrBytes::from_static_str(mechanism.name()))
                .collect(),
        )
}

/// The server's next bytes of an exchange.
pub fn authenticate_step(bytes: Vec<u8>, session_lifetime_ms: i64) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_auth_bytes(bytes.into())
        .with_session_lifetime_ms(session_lifetime_ms)
}

/// An exchange that failed with `error` and its message.
pub fn authenticate_failed(error: ResponseError, message: String) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(error.code())
        .with_error_message(Some(StrBytes::from_string(message)))
}

/// A handshake outside authentication.
pub fn handshake_out_of_place() -> SaslHandshakeResponse {
    handshake(Some(ResponseError::IllegalSaslState), &[])
}

/// A SaslAuthenticate outside authentication, with Kafka's message.
pub fn authenticate_out_of_place() -> SaslAuthenticateResponse {
    authenticate_failed(
        ResponseError::IllegalSaslState,
        "SaslAuthenticate request received after successful authentication".into(),
    )
}
