//! DescribeAcls (key 29), CreateAcls (key 30), DeleteAcls (key 31): spool has no authorizer
//! yet, so each answers SECURITY_DISABLED with Kafka's message, per request or per entry as
//! each response is shaped. The three share this one answer, hence one file.

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::DeleteAclsFilterResult;
use kafka_protocol::messages::{
    ApiKey, CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsResponse,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::SupportedApi;

pub const DESCRIBE_API: SupportedApi = SupportedApi {
    key: ApiKey::DescribeAcls,
    versions: VersionRange { min: 1, max: 3 },
};
pub const CREATE_API: SupportedApi = SupportedApi {
    key: ApiKey::CreateAcls,
    versions: VersionRange { min: 1, max: 3 },
};
pub const DELETE_API: SupportedApi = SupportedApi {
    key: ApiKey::DeleteAcls,
    versions: VersionRange { min: 1, max: 3 },
};

const NO_AUTHORIZER: &str = "No Authorizer is configured on the broker";

fn disabled() -> (i16, Option<StrBytes>) {
    (
        ResponseError::SecurityDisabled.code(),
        Some(StrBytes::from_static_str(NO_AUTHORIZER)),
    )
}

pub fn describe() -> DescribeAclsResponse {
    let (code, message) = disabled();
    DescribeAclsResponse::default()
        .with_error_code(code)
        .with_error_message(message)
}

pub fn create(request: &CreateAclsRequest) -> CreateAclsResponse {
    let results = request
        .creations
        .iter()
        .map(|_| {
            let (code, message) = disabled();
            AclCreationResult::default()
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}

pub fn delete(request: &DeleteAclsRequest) -> DeleteAclsResponse {
    let results = request
        .filters
        .iter()
        .map(|_| {
            let (code, message) = disabled();
            DeleteAclsFilterResult::default()
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}
