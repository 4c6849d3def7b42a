//! DescribeClientQuotas (key 48) and AlterClientQuotas (key 49): the quotas of users,
//! client ids and IPs, as `kafka-configs --entity-type users|clients|ips` manages them —
//! DESCRIBE_CONFIGS / ALTER_CONFIGS on the cluster required (CLUSTER_AUTHORIZATION_FAILED
//! otherwise), Kafka's checks and messages for what is refused. The two share one model,
//! hence one file.

use std::sync::Arc;

use kafka_protocol::messages::{
    alter_client_quotas_response, describe_client_quotas_response, AlterClientQuotasRequest,
    AlterClientQuotasResponse, ApiKey, DescribeClientQuotasRequest, DescribeClientQuotasResponse,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::errors::{for_dynamic_config_error, kafka_message};
use super::SupportedApi;
use crate::acl::Operation;
use crate::broker::{Access, Broker};
use crate::quota::{Alteration, Component, InvalidFilter, Matching};

pub const DESCRIBE_API: SupportedApi = SupportedApi {
    key: ApiKey::DescribeClientQuotas,
    versions: VersionRange { min: 0, max: 1 },
};
pub const ALTER_API: SupportedApi = SupportedApi {
    key: ApiKey::AlterClientQuotas,
    versions: VersionRange { min: 0, max: 1 },
};

/// Kafka's match type codes.
const MATCH_EXACT: i8 = 0;
const MATCH_DEFAULT: i8 = 1;
const MATCH_SPECIFIED: i8 = 2;

pub fn describe(
    broker: &Broker,
    access: &Access,
    request: &DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    let failed = |error: ResponseError, message: Option<String>| {
        DescribeClientQuotasResponse::default()
            .with_error_code(error.code())
            .with_error_message(message.map(StrBytes::from_string))
            .with_entries(None)
    };
    if !access.allows_cluster(Operation::DescribeConfigs) {
        // Kafka tells this refusal by its code alone.
        return failed(ResponseError::ClusterAuthorizationFailed, None);
    }
    let components: Vec<Component> = request
        .components
        .iter()
        .map(|component| {
            let name = component._match.as_ref().map(|name| name.to_string());
            Component {
                entity_type: component.entity_type.to_string(),
                matching: match component.match_type {
                    MATCH_EXACT => Matching::Exact(name),
                    MATCH_DEFAULT => Matching::Default(name),
                    MATCH_SPECIFIED => Matching::Specified(name),
                    other => Matching::Unknown(other),
                },
            }
        })
        .collect();
    match broker.describe_client_quotas(&components, request.strict) {
        Err(refused) => {
            let error = match refused {
                InvalidFilter::Invalid(_) => ResponseError::InvalidRequest,
                InvalidFilter::UnsupportedType(_) => ResponseError::UnsupportedVersion,
            };
            failed(error, Some(refused.to_string()))
        }
        Ok(found) => {
            let entries = found
                .into_iter()
                .map(|(entity, values)| {
                    let entity = entity
                        .0
                        .into_iter()
                        .map(|(kind, name)| {
                            describe_client_quotas_response::EntityData::default()
                                .with_entity_type(StrBytes::from_static_str(kind.name()))
                                .with_entity_name(name.map(StrBytes::from_string))
                        })
                        .collect();
                    let values = values
                        .into_iter()
                        .map(|(key, value)| {
                            describe_client_quotas_response::ValueData::default()
                                .with_key(StrBytes::from_string(key))
                                .with_value(value)
                        })
                        .collect();
                    describe_client_quotas_response::EntryData::default()
                        .with_entity(entity)
                        .with_values(values)
                })
                .collect();
            // Kafka's answer has an empty message.
            DescribeClientQuotasResponse::default()
                .with_error_message(Some(StrBytes::default()))
                .with_entries(Some(entries))
        }
    }
}

pub async fn alter(
    broker: Arc<Broker>,
    access: Access,
    request: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    let alterations: Vec<Alteration> = request
        .entries
        .iter()
        .map(|entry| Alteration {
            entity: entry
                .entity
                .iter()
                .map(|part| {
                    let name = part.entity_name.as_ref().map(|name| name.to_string());
                    (part.entity_type.to_string(), name)
                })
                .collect(),
            ops: entry
                .ops
                .iter()
                .map(|op| (op.key.to_string(), (!op.remove).then_some(op.value)))
                .collect(),
        })
        .collect();
    let every_entity = |error: ResponseError, message: String| {
        alterations
            .iter()
            .map(|alteration| (alteration.entity.clone(), Some((error, message.clone()))))
            .collect::<Vec<_>>()
    };
    let outcomes = if !access.allows_cluster(Operation::AlterConfigs) {
        let error = ResponseError::ClusterAuthorizationFailed;
        every_entity(error, kafka_message(error).to_string())
    } else {
        match broker
            .alter_client_quotas(&alterations, request.validate_only)
            .await
        {
            Ok(outcomes) => outcomes
                .into_iter()
                .map(|(entity, outcome)| {
                    let refused = outcome
                        .err()
                        .map(|refused| (ResponseError::InvalidRequest, refused.to_string()));
                    (entity, refused)
                })
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "storing client quotas failed");
                every_entity(for_dynamic_config_error(&error), error.to_string())
            }
        }
    };
    let entries = outcomes
        .into_iter()
        .map(|(entity, refused)| {
            let entity = entity
                .into_iter()
                .map(|(kind, name)| {
                    alter_client_quotas_response::EntityData::default()
                        .with_entity_type(StrBytes::from_string(kind))
                        .with_entity_name(name.map(StrBytes::from_string))
                })
                .collect();
            let (code, message) = refused.map_or((0, None), |(error, message)| {
                (error.code(), Some(StrBytes::from_string(message)))
            });
            alter_client_quotas_response::EntryData::default()
                .with_error_code(code)
                .with_error_message(message)
                .with_entity(entity)
        })
        .collect();
    AlterClientQuotasResponse::default().with_entries(entries)
}
