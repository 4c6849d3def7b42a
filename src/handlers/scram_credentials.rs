//! DescribeUserScramCredentials (key 50) and AlterUserScramCredentials (key 51): the users'
//! SCRAM credentials, mechanisms and iterations only (never salts or keys), and changes to
//! them, answered per user as Kafka answers. The two share one model, hence one file.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, ApiKey,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;

use super::errors::{for_dynamic_config_error, for_scram_refusal, kafka_message};
use super::SupportedApi;
use crate::acl::Operation;
use crate::broker::{Access, Broker, ScramDeletion, ScramUpsertion};

pub const DESCRIBE_API: SupportedApi = SupportedApi {
    key: ApiKey::DescribeUserScramCredentials,
    versions: VersionRange { min: 0, max: 0 },
};
pub const ALTER_API: SupportedApi = SupportedApi {
    key: ApiKey::AlterUserScramCredentials,
    versions: VersionRange { min: 0, max: 0 },
};

const DESCRIBE_DUPLICATE_USER: &str =
    "Cannot describe SCRAM credentials for the same user twice in a single request: ";
const DESCRIBE_UNKNOWN_USER: &str = "Attempt to describe a user credential that does not exist: ";

/// Needs DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED otherwise).
pub fn describe(
    broker: &Broker,
    access: &Access,
    request: &DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    if !access.allows_cluster(Operation::Describe) {
        // Kafka tells this refusal by its code alone.
        let error = ResponseError::ClusterAuthorizationFailed;
        let message = None;
        let results = request
            .users
            .iter()
            .flatten()
            .map(|_| {
                DescribeUserScramCredentialsResult::default()
                    .with_error_code(error.code())
                    .with_error_message(message.clone())
            })
            .collect();
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(error.code())
            .with_error_message(message)
            .with_results(results);
    }
    let stored = broker.scram_credentials();
    // How often each user is asked for; none named: every user.
    let mut asked: BTreeMap<&str, usize> = BTreeMap::new();
    match request.users.as_deref() {
        None | Some([]) => asked.extend(stored.keys().map(|user| (user.as_str(), 1))),
        Some(users) => {
            for user in users {
                *asked.entry(user.name.as_str()).or_default() += 1;
            }
        }
    }
    let results = asked
        .into_iter()
        .map(|(user, times)| {
            let result = DescribeUserScramCredentialsResult::default()
                .with_user(StrBytes::from_string(user.to_owned()));
            let failed = |error: ResponseError, message: &str| {
                result
                    .clone()
                    .with_error_code(error.code())
                    .with_error_message(Some(StrBytes::from_string(format!("{message}{user}"))))
            };
            if times > 1 {
                return failed(ResponseError::DuplicateResource, DESCRIBE_DUPLICATE_USER);
            }
            match stored.get(user) {
                Some(credentials) => result.clone().with_credential_infos(
                    credentials
                        .iter()
                        .map(|(mechanism, credential)| {
                            CredentialInfo::default()
                                .with_mechanism(mechanism.scram_type())
                                .with_iterations(credential.iterations)
                        })
                        .collect(),
                ),
                None => failed(ResponseError::ResourceNotFound, DESCRIBE_UNKNOWN_USER),
            }
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_results(results)
}

/// Needs ALTER on the cluster (each named user CLUSTER_AUTHORIZATION_FAILED otherwise).
pub async fn alter(
    broker: Arc<Broker>,
    access: Access,
    request: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let deletions: Vec<ScramDeletion> = request
        .deletions
        .iter()
        .map(|deletion| ScramDeletion {
            user: deletion.name.to_string(),
            mechanism: deletion.mechanism,
        })
        .collect();
    let upsertions: Vec<ScramUpsertion> = request
        .upsertions
        .iter()
        .map(|upsertion| ScramUpsertion {
            user: upsertion.name.to_string(),
            mechanism: upsertion.mechanism,
            iterations: upsertion.iterations,
            salt: upsertion.salt.to_vec(),
            salted_password: upsertion.salted_password.to_vec(),
        })
        .collect();
    let result = |user: String, error: Option<(ResponseError, String)>| {
        let (code, message) = error.map_or((0, None), |(error, message)| {
            (error.code(), Some(StrBytes::from_string(message)))
        });
        AlterUserScramCredentialsResult::default()
            .with_user(StrBytes::from_string(user))
            .with_error_code(code)
            .with_error_message(message)
    };
    let refused = ResponseError::ClusterAuthorizationFailed;
    let results = match access.allows_cluster(Operation::Alter) {
        false => {
            let users: std::collections::BTreeSet<&String> = deletions
                .iter()
                .map(|d| &d.user)
                .chain(upsertions.iter().map(|u| &u.user))
                .collect();
            users
                .into_iter()
                .map(|user| {
                    result(
                        user.clone(),
                        Some((refused, kafka_message(refused).to_string())),
                    )
                })
                .collect()
        }
        true => match broker
            .alter_scram_credentials(&deletions, &upsertions)
            .await
        {
            Ok(outcomes) => outcomes
                .into_iter()
                .map(|(user, outcome)| {
                    let error = outcome
                        .err()
                        .map(|refusal| (for_scram_refusal(&refusal), refusal.to_string()));
                    result(user, error)
                })
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "storing SCRAM credentials failed");
                let code = for_dynamic_config_error(&error);
                let users = deletions.iter().map(|d| &d.user);
                users
                    .chain(upsertions.iter().map(|u| &u.user))
                    .map(|user| result(user.clone(), Some((code, error.to_string()))))
                    .collect()
            }
        },
    };
    AlterUserScramCredentialsResponse::default().with_results(results)
}
