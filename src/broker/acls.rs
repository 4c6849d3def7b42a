//! ACLs as clients manage them (CreateAcls, DescribeAcls, DeleteAcls) and as requests are
//! authorized against them: kept with the metadata — in the cluster store (one map by id,
//! changed by compare-and-swap, awaited until applied here) or a single node's
//! `topics.json` — and checked by the configured authorizer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use super::dynamic_configs::DynamicConfigError;
use super::Broker;
use crate::acl::{
    self, AclBinding, AclFilter, Acls, Authorizer, InvalidAcl, InvalidFilter, Operation, Resource,
    ResourceType,
};

/// What one request's principal may do: decided by the configured authorizer against the
/// ACLs as they were when the request arrived; everything, without an authorizer.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// `None`: no authorizer is configured.
    check: Option<Check>,
}

#[derive(Debug, Clone)]
struct Check {
    authorizer: Arc<Authorizer>,
    acls: Arc<Acls>,
    principal: Arc<str>,
    host: Arc<str>,
}

impl Access {
    /// Whether an authorizer decides (Kafka answers the ACL APIs SECURITY_DISABLED without).
    pub fn is_authorizing(&self) -> bool {
        self.check.is_some()
    }

    /// Whether the principal may do `operation` on `resource`.
    pub fn allows(&self, operation: Operation, resource: Resource<'_>) -> bool {
        self.decide(|authorizer, acls, principal, host| {
            authorizer.authorize(acls, principal, host, operation, resource)
        })
    }

    /// Whether the principal may do `operation` on the cluster.
    pub fn allows_cluster(&self, operation: Operation) -> bool {
        self.allows(operation, Resource::cluster())
    }

    /// Whether the principal may do `operation` on some resource of type `kind`.
    pub fn allows_any(&self, operation: Operation, kind: ResourceType) -> bool {
        self.decide(|authorizer, acls, principal, host| {
            authorizer.authorize_any(acls, principal, host, operation, kind)
        })
    }

    /// `decision` by the authorizer for the principal and host; true without an authorizer.
    fn decide(&self, decision: impl FnOnce(&Authorizer, &Acls, &str, &str) -> bool) -> bool {
        self.check.as_ref().is_none_or(|check| {
            decision(
                &check.authorizer,
                &check.acls,
                &check.principal,
                &check.host,
            )
        })
    }

    /// Kafka's `authorized_operations` bitmask of `resource`: every operation its type
    /// supports, without an authorizer.
    pub fn operations(&self, resource: Resource<'_>) -> i32 {
        match &self.check {
            None => Operation::supported_on(resource.kind)
                .iter()
                .fold(0, |bits, operation| bits | 1 << operation.code()),
            Some(check) => check.authorizer.authorized_operations(
                &check.acls,
                &check.principal,
                &check.host,
                resource,
            ),
        }
    }
}

impl Broker {
    /// What `principal`, connected from `host`, may do now.
    pub fn access(&self, principal: &Arc<str>, host: &str) -> Access {
        let check = self.config.authorizer.as_ref().map(|authorizer| Check {
            authorizer: Arc::clone(authorizer),
            acls: Arc::clone(&self.metadata.image().acls),
            principal: Arc::clone(principal),
            host: Arc::from(host),
        });
        Access { check }
    }

    /// The bindings `filter` selects.
    pub fn describe_acls(&self, filter: &AclFilter) -> Vec<AclBinding> {
        self.metadata
            .image()
            .acls
            .matching(filter)
            .cloned()
            .collect()
    }

    /// Stores the valid ones of `bindings` (each once); returns each one's outcome.
    pub async fn create_acls(
        &self,
        bindings: &[AclBinding],
    ) -> Result<Vec<Result<(), InvalidAcl>>, DynamicConfigError> {
        let outcomes: Vec<_> = bindings.iter().map(AclBinding::validate).collect();
        let valid: Vec<AclBinding> = bindings
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| outcome.is_ok())
            .map(|(binding, _)| binding.clone())
            .collect();
        if !valid.is_empty() {
            let change = |current: &BTreeMap<String, AclBinding>| {
                Ok::<_, DynamicConfigError>(acl::with_created(current, &valid, || {
                    Uuid::new_v4().to_string()
                }))
            };
            self.store_acls(change).await?;
            tracing::info!(created = valid.len(), "created ACLs");
        }
        Ok(outcomes)
    }

    /// Removes what each filter selects, as one change; returns what each removed.
    pub async fn delete_acls(
        &self,
        filters: &[AclFilter],
    ) -> Result<Vec<Result<Vec<AclBinding>, InvalidFilter>>, DynamicConfigError> {
        let checked: Vec<_> = filters.iter().map(AclFilter::check).collect();
        let valid: Vec<AclFilter> = filters
            .iter()
            .zip(&checked)
            .filter(|(_, check)| check.is_ok())
            .map(|(filter, _)| filter.clone())
            .collect();
        // What the stored attempt removed (a compare-and-swap may retry).
        let removed = Mutex::new(Vec::new());
        let change = |current: &BTreeMap<String, AclBinding>| {
            let (next, attempt) = acl::without_matching(current, &valid);
            *removed.lock().unwrap_or_else(|e| e.into_inner()) = attempt;
            Ok::<_, DynamicConfigError>(next)
        };
        self.store_acls(change).await?;
        let mut removed = removed
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter();
        let outcomes = checked
            .into_iter()
            .map(|check| check.map(|()| removed.next().unwrap_or_default()))
            .collect::<Vec<_>>();
        let count: usize = outcomes.iter().flatten().map(Vec::len).sum();
        tracing::info!(deleted = count, "deleted ACLs");
        Ok(outcomes)
    }

    async fn store_acls(
        &self,
        change: impl Fn(
            &BTreeMap<String, AclBinding>,
        ) -> Result<BTreeMap<String, AclBinding>, DynamicConfigError>,
    ) -> Result<(), DynamicConfigError> {
        match &self.cluster {
            Some(node) => {
                let stored = node.membership().update_acls(change).await?;
                self.wait_applied(|image| *image.acls.by_id() == stored)
                    .await;
            }
            None => self.metadata.update_acls(change)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_authorizer_everything_is_allowed() {
        let access = Access::default();
        assert!(!access.is_authorizing());
        assert!(access.allows(Operation::Write, Resource::topic("t")));
        assert!(access.allows_cluster(Operation::ClusterAction));
        assert!(access.allows_any(Operation::Write, ResourceType::Topic));
        // Kafka's answer without an authorizer: every operation the type supports.
        let cluster = [5, 7, 8, 9, 10, 11, 12]
            .iter()
            .fold(0, |bits, code| bits | 1 << code);
        assert_eq!(access.operations(Resource::cluster()), cluster);
        let group = [3, 6, 8, 10, 11]
            .iter()
            .fold(0, |bits, code| bits | 1 << code);
        assert_eq!(access.operations(Resource::group("g")), group);
    }
}
