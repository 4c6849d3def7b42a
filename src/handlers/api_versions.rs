//! ApiVersions (key 18): what spool speaks. Versions we cannot decode are answered by the
//! connection with a v0 UNSUPPORTED_VERSION response (see `protocol`).

use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::SupportedApi;
use crate::protocol;

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::ApiVersions,
    versions: VersionRange { min: 0, max: 3 },
};

pub fn handle(version: i16, request: &ApiVersionsRequest) -> ApiVersionsResponse {
    let response = ApiVersionsResponse::default()
        .with_api_keys(protocol::api_version_entries(super::SUPPORTED_APIS));
    if version >= 3
        && !(is_valid_software_field(&request.client_software_name)
            && is_valid_software_field(&request.client_software_version))
    {
        return response.with_error_code(ResponseError::InvalidRequest.code());
    }
    response
}

/// Kafka's rule for client software name and version: `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`.
fn is_valid_software_field(value: &str) -> bool {
    let bytes = value.as_bytes();
    let edge_ok = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    edge_ok(bytes.first())
        && edge_ok(bytes.last())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_fields_follow_kafkas_pattern() {
        for good in ["librdkafka", "apache-kafka-java", "2.12.1", "a"] {
            assert!(is_valid_software_field(good), "{good}");
        }
        for bad in ["", "-x", "x-", "has space", "x_y"] {
            assert!(!is_valid_software_field(bad), "{bad}");
        }
    }
}
