//! DescribeAcls (key 29), CreateAcls (key 30), DeleteAcls (key 31): the ACLs the authorizer
//! decides with, as Kafka's `AclApis` serves them — DESCRIBE on the cluster to list, ALTER to
//! change (CLUSTER_AUTHORIZATION_FAILED otherwise), SECURITY_DISABLED when no authorizer is
//! configured, INVALID_REQUEST with Kafka's messages for bindings and filters it refuses.
//! The three share one model, hence one file.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    ApiKey, CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::errors::for_dynamic_config_error;
use super::SupportedApi;
use crate::acl::{
    AccessControlEntry, AclBinding, AclFilter, Operation, PatternType, Permission, ResourcePattern,
    ResourceType,
};
use crate::broker::{Access, Broker, DynamicConfigError};

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

/// Kafka's messages: DescribeAcls says where, the others do not.
const NO_AUTHORIZER_DESCRIBE: &str = "No Authorizer is configured on the broker";
const NO_AUTHORIZER: &str = "No Authorizer is configured.";
const UNKNOWN_FILTER: &str = "Filter contain UNKNOWN elements";

/// Why a whole request is answered with one error.
fn refusal(
    access: &Access,
    operation: Operation,
    no_authorizer: &'static str,
) -> Option<(ResponseError, Option<StrBytes>)> {
    if !access.is_authorizing() {
        return Some((
            ResponseError::SecurityDisabled,
            Some(StrBytes::from_static_str(no_authorizer)),
        ));
    }
    if !access.allows_cluster(operation) {
        return Some((ResponseError::ClusterAuthorizationFailed, None));
    }
    None
}

pub fn describe(
    broker: &Broker,
    access: &Access,
    request: &DescribeAclsRequest,
) -> DescribeAclsResponse {
    let failed = |(error, message): (ResponseError, Option<StrBytes>)| {
        DescribeAclsResponse::default()
            .with_error_code(error.code())
            .with_error_message(message)
    };
    if let Some(refused) = refusal(access, Operation::Describe, NO_AUTHORIZER_DESCRIBE) {
        return failed(refused);
    }
    let filter = AclFilter {
        resource_type: resource_type(request.resource_type_filter),
        name: request.resource_name_filter.as_ref().map(|n| n.to_string()),
        pattern_type: pattern_type(request.pattern_type_filter),
        principal: request.principal_filter.as_ref().map(|p| p.to_string()),
        host: request.host_filter.as_ref().map(|h| h.to_string()),
        operation: operation(request.operation),
        permission: permission(request.permission_type),
    };
    if filter.check().is_err() {
        return failed((
            ResponseError::InvalidRequest,
            Some(StrBytes::from_static_str(UNKNOWN_FILTER)),
        ));
    }
    let mut by_pattern: BTreeMap<ResourcePattern, Vec<AccessControlEntry>> = BTreeMap::new();
    for binding in broker.describe_acls(&filter) {
        by_pattern
            .entry(binding.pattern)
            .or_default()
            .push(binding.entry);
    }
    let resources = by_pattern
        .into_iter()
        .map(|(pattern, entries)| {
            DescribeAclsResource::default()
                .with_resource_type(pattern.resource_type.code())
                .with_resource_name(StrBytes::from_string(pattern.name))
                .with_pattern_type(pattern.pattern_type.code())
                .with_acls(
                    entries
                        .into_iter()
                        .map(|entry| {
                            AclDescription::default()
                                .with_principal(StrBytes::from_string(entry.principal))
                                .with_host(StrBytes::from_string(entry.host))
                                .with_operation(entry.operation.code())
                                .with_permission_type(entry.permission.code())
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeAclsResponse::default().with_resources(resources)
}

pub async fn create(
    broker: Arc<Broker>,
    access: Access,
    request: CreateAclsRequest,
) -> CreateAclsResponse {
    let bindings: Vec<AclBinding> = request.creations.iter().map(binding).collect();
    let results = per_entry(
        &access,
        bindings.len(),
        broker.create_acls(&bindings),
        |code, message| {
            AclCreationResult::default()
                .with_error_code(code.code())
                .with_error_message(message)
        },
        |()| AclCreationResult::default(),
    )
    .await;
    CreateAclsResponse::default().with_results(results)
}

pub async fn delete(
    broker: Arc<Broker>,
    access: Access,
    request: DeleteAclsRequest,
) -> DeleteAclsResponse {
    let filters: Vec<AclFilter> = request.filters.iter().map(filter).collect();
    let results = per_entry(
        &access,
        filters.len(),
        broker.delete_acls(&filters),
        |code, message| {
            DeleteAclsFilterResult::default()
                .with_error_code(code.code())
                .with_error_message(message)
        },
        |removed: Vec<AclBinding>| {
            DeleteAclsFilterResult::default()
                .with_matching_acls(removed.into_iter().map(matching_acl).collect())
        },
    )
    .await;
    DeleteAclsResponse::default().with_filter_results(results)
}

/// The answer to each of a CreateAcls or DeleteAcls request's `entries`: the request's
/// refusal, or the store's failure, for every one; otherwise each one's outcome, an invalid
/// one INVALID_REQUEST with Kafka's message. `change` runs only when the request is allowed.
async fn per_entry<T, E: std::fmt::Display, R>(
    access: &Access,
    entries: usize,
    change: impl std::future::Future<Output = Result<Vec<Result<T, E>>, DynamicConfigError>>,
    failed: impl Fn(ResponseError, Option<StrBytes>) -> R,
    succeeded: impl Fn(T) -> R,
) -> Vec<R> {
    let every = |error: ResponseError, message: Option<StrBytes>| {
        (0..entries)
            .map(|_| failed(error, message.clone()))
            .collect()
    };
    if let Some((error, message)) = refusal(access, Operation::Alter, NO_AUTHORIZER) {
        return every(error, message);
    }
    match change.await {
        Ok(outcomes) => outcomes
            .into_iter()
            .map(|outcome| match outcome {
                Ok(done) => succeeded(done),
                Err(invalid) => failed(
                    ResponseError::InvalidRequest,
                    Some(StrBytes::from_string(invalid.to_string())),
                ),
            })
            .collect(),
        Err(error) => every(
            for_dynamic_config_error(&error),
            Some(StrBytes::from_string(error.to_string())),
        ),
    }
}

// Codes Kafka does not define read as UNKNOWN, which every check then refuses.
fn resource_type(code: i8) -> ResourceType {
    ResourceType::from_code(code).unwrap_or(ResourceType::Unknown)
}

fn pattern_type(code: i8) -> PatternType {
    PatternType::from_code(code).unwrap_or(PatternType::Unknown)
}

fn operation(code: i8) -> Operation {
    Operation::from_code(code).unwrap_or(Operation::Unknown)
}

fn permission(code: i8) -> Permission {
    Permission::from_code(code).unwrap_or(Permission::Unknown)
}

fn binding(creation: &AclCreation) -> AclBinding {
    AclBinding {
        pattern: ResourcePattern {
            resource_type: resource_type(creation.resource_type),
            name: creation.resource_name.to_string(),
            pattern_type: pattern_type(creation.resource_pattern_type),
        },
        entry: AccessControlEntry {
            principal: creation.principal.to_string(),
            host: creation.host.to_string(),
            operation: operation(creation.operation),
            permission: permission(creation.permission_type),
        },
    }
}

fn filter(filter: &DeleteAclsFilter) -> AclFilter {
    AclFilter {
        resource_type: resource_type(filter.resource_type_filter),
        name: filter.resource_name_filter.as_ref().map(|n| n.to_string()),
        pattern_type: pattern_type(filter.pattern_type_filter),
        principal: filter.principal_filter.as_ref().map(|p| p.to_string()),
        host: filter.host_filter.as_ref().map(|h| h.to_string()),
        operation: operation(filter.operation),
        permission: permission(filter.permission_type),
    }
}

fn matching_acl(binding: AclBinding) -> DeleteAclsMatchingAcl {
    DeleteAclsMatchingAcl::default()
        .with_resource_type(binding.pattern.resource_type.code())
        .with_resource_name(StrBytes::from_string(binding.pattern.name))
        .with_pattern_type(binding.pattern.pattern_type.code())
        .with_principal(StrBytes::from_string(binding.entry.principal))
        .with_host(StrBytes::from_string(binding.entry.host))
        .with_operation(binding.entry.operation.code())
        .with_permission_type(binding.entry.permission.code())
}
