//! Kafka's `StandardAuthorizer` decision: super users may do anything; otherwise a DENY entry
//! matching the principal, host and operation wins, then an ALLOW entry matching them (or
//! one implying the operation); a resource no binding covers at all is allowed only with
//! `allow.everyone.if.no.acl.found`.

use std::collections::BTreeSet;

use super::{Acls, Operation, Permission, Resource, WILDCARD};

/// Every principal of a type (`User:*`).
const ANY_USER: &str = "User:*";

/// How a broker decides (Kafka's `authorizer.class.name` set to its standard authorizer).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Authorizer {
    /// `super.users`: principals no ACL applies to.
    pub super_users: BTreeSet<String>,
    /// `allow.everyone.if.no.acl.found`.
    pub allow_if_no_acl: bool,
}

impl Authorizer {
    /// Whether `principal`, connected from `host`, may do `operation` on `resource`.
    pub fn authorize(
        &self,
        acls: &Acls,
        principal: &str,
        host: &str,
        operation: Operation,
        resource: Resource<'_>,
    ) -> bool {
        if self.super_users.contains(principal) {
            return true;
        }
        let mut covered = false;
        let mut allowed = false;
        for entry in acls.entries_for(resource) {
            covered = true;
            let applies = (entry.principal == principal || entry.principal == ANY_USER)
                && (entry.host == host || entry.host == WILDCARD);
            if !applies {
                continue;
            }
            match entry.permission {
                Permission::Deny
                    if entry.operation == operation || entry.operation == Operation::All =>
                {
                    return false
                }
                Permission::Allow if entry.operation.allows(operation) => allowed = true,
                _ => {}
            }
        }
        allowed || (!covered && self.allow_if_no_acl)
    }

    /// Kafka's `authorized_operations` bitmask: bit `code` set for each operation the
    /// resource type supports that `principal` may do on it.
    pub fn authorized_operations(
        &self,
        acls: &Acls,
        principal: &str,
        host: &str,
        resource: Resource<'_>,
    ) -> i32 {
        Operation::supported_on(resource.kind)
            .iter()
            .filter(|operation| self.authorize(acls, principal, host, **operation, resource))
            .fold(0, |bits, operation| bits | 1 << operation.code())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::acl::tests::binding;
    use crate::acl::{AclBinding, PatternType, ResourceType};

    fn acls(bindings: Vec<AclBinding>) -> Acls {
        let by_id: BTreeMap<String, AclBinding> = bindings
            .into_iter()
            .enumerate()
            .map(|(id, binding)| (id.to_string(), binding))
            .collect();
        Acls::from(by_id)
    }

    #[test]
    fn deny_wins_then_allow_and_implied_operations() {
        use Operation::*;
        use PatternType::{Literal, Prefixed};
        use Permission::{Allow, Deny};
        let topic = ResourceType::Topic;
        let acls = acls(vec![
            binding(topic, "orders", Literal, "User:alice", Read, Allow),
            binding(topic, "ord", Prefixed, "User:alice", Write, Allow),
            binding(topic, "*", Literal, "User:*", AlterConfigs, Allow),
            binding(topic, "orders-secret", Literal, "User:alice", All, Deny),
            binding(topic, "orders-secret", Literal, "User:bob", Read, Allow),
        ]);
        let authorizer = Authorizer::default();
        let may = |principal: &str, operation: Operation, name: &str| {
            authorizer.authorize(
                &acls,
                principal,
                "127.0.0.1",
                operation,
                Resource::topic(name),
            )
        };
        assert!(may("User:alice", Read, "orders"));
        assert!(
            may("User:alice", Describe, "orders"),
            "READ implies DESCRIBE"
        );
        assert!(may("User:alice", Write, "orders-2"), "by prefix");
        assert!(!may("User:alice", Read, "orders-2"));
        assert!(!may("User:alice", Write, "or"), "shorter than the prefix");
        assert!(
            may("User:carol", DescribeConfigs, "anything"),
            "ALTER_CONFIGS implies it, for every user"
        );
        assert!(
            !may("User:alice", Write, "orders-secret"),
            "DENY ALL wins over a prefix ALLOW"
        );
        assert!(may("User:bob", Read, "orders-secret"));
        assert!(!may("User:bob", Write, "orders-secret"));
        assert_eq!(
            authorizer.authorized_operations(
                &acls,
                "User:alice",
                "127.0.0.1",
                Resource::topic("orders")
            ),
            1 << 3 | 1 << 4 | 1 << 8 | 1 << 10 | 1 << 11
        );
    }

    #[test]
    fn super_users_hosts_and_resources_no_acl_covers() {
        use Operation::*;
        let acls = acls(vec![AclBinding {
            entry: crate::acl::AccessControlEntry {
                host: "10.0.0.1".into(),
                ..binding(
                    ResourceType::Group,
                    "g",
                    PatternType::Literal,
                    "User:alice",
                    Read,
                    Permission::Allow,
                )
                .entry
            },
            ..binding(
                ResourceType::Group,
                "g",
                PatternType::Literal,
                "User:alice",
                Read,
                Permission::Allow,
            )
        }]);
        let strict = Authorizer::default();
        let open = Authorizer {
            allow_if_no_acl: true,
            super_users: ["User:admin".to_owned()].into(),
        };
        let group = Resource::group("g");
        assert!(strict.authorize(&acls, "User:alice", "10.0.0.1", Read, group));
        assert!(!strict.authorize(&acls, "User:alice", "127.0.0.1", Read, group));
        // A covered resource stays closed to others even when no ACL means open.
        assert!(!open.authorize(&acls, "User:bob", "10.0.0.1", Read, group));
        assert!(open.authorize(
            &acls,
            "User:bob",
            "10.0.0.1",
            Read,
            Resource::group("other")
        ));
        assert!(!strict.authorize(
            &acls,
            "User:bob",
            "10.0.0.1",
            Read,
            Resource::group("other")
        ));
        assert!(open.authorize(&acls, "User:admin", "10.0.0.1", Delete, group));
    }
}
