//! ACLs as clients manage them (CreateAcls, DescribeAcls, DeleteAcls) and as requests are
//! authorized against them: kept with the metadata — in the cluster store (one map by id,
//! changed by compare-and-swap, awaited until applied here) or a single node's
//! `topics.json` — and checked by the configured authorizer.

use std::collections::BTreeMap;
use std::sync::Mutex;

use uuid::Uuid;

use super::dynamic_configs::DynamicConfigError;
use super::Broker;
use crate::acl::{self, AclBinding, AclFilter, InvalidAcl, InvalidFilter, Operation, Resource};

impl Broker {
    /// Whether the request's `principal`, from `host`, may do `operation` on `resource`;
    /// always, without an authorizer.
    pub fn authorize(
        &self,
        principal: &str,
        host: &str,
        operation: Operation,
        resource: Resource<'_>,
    ) -> bool {
        match &self.config.authorizer {
            None => true,
            Some(authorizer) => {
                let acls = &self.metadata.image().acls;
                authorizer.authorize(acls, principal, host, operation, resource)
            }
        }
    }

    /// Whether `principal` is one of `super.users`, or no authorizer is configured.
    pub fn is_super_user(&self, principal: &str) -> bool {
        self.config
            .authorizer
            .as_ref()
            .is_none_or(|authorizer| authorizer.super_users.contains(principal))
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
