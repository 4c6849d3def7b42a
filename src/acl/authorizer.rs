//! Kafka's `StandardAuthorizer` decision: super users may do anything; otherwise a DENY entry
//! matching the principal, host and operation wins, then an ALLOW entry matching them (or
//! one implying the operation); a resource no binding covers at all is allowed only with
//! `allow.everyone.if.no.acl.found`.

use std::collections::BTreeSet;

use super::set::prefixes;
use super::{
    AccessControlEntry, Acls, Operation, PatternType, Permission, Resource, ResourceType, WILDCARD,
};

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
            if !applies(entry, principal, host) {
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

    /// Whether `principal` may do `operation` on some resource of type `kind` (Kafka's
    /// `authorizeByResourceType`, e.g. WRITE on any topic for an idempotent producer): a
    /// super user, or no ACL covering an arbitrary name where that allows; else an ALLOW for
    /// the operation (or ALL) on the wildcard, or on a name or prefix no DENY of a prefix of
    /// it (nor a literal DENY of the same name) takes back. A DENY on the wildcard refuses.
    pub fn authorize_any(
        &self,
        acls: &Acls,
        principal: &str,
        host: &str,
        operation: Operation,
        kind: ResourceType,
    ) -> bool {
        let arbitrary = Resource {
            kind,
            name: "hardcode",
        };
        if self.authorize(acls, principal, host, operation, arbitrary) {
            return true;
        }
        let mut denied_literals = BTreeSet::new();
        let mut denied_prefixes = BTreeSet::new();
        let mut allowed = Vec::new();
        let relevant = acls.entries_of_type(kind).filter(|(_, _, entry)| {
            applies(entry, principal, host)
                && (entry.operation == operation || entry.operation == Operation::All)
        });
        for (pattern_type, name, entry) in relevant {
            match (entry.permission, pattern_type) {
                (Permission::Deny, PatternType::Literal) if name == WILDCARD => return false,
                (Permission::Deny, PatternType::Literal) => {
                    denied_literals.insert(name);
                }
                (Permission::Deny, _) => {
                    denied_prefixes.insert(name);
                }
                (Permission::Allow, _) => allowed.push((pattern_type, name)),
                _ => {}
            }
        }
        allowed.iter().any(|&(pattern_type, name)| {
            let literal = pattern_type == PatternType::Literal;
            (literal && name == WILDCARD)
                || !((literal && denied_literals.contains(name))
                    || prefixes(name).any(|prefix| denied_prefixes.contains(prefix)))
        })
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

/// Whether `entry` names `principal` (or every user) connected from `host` (or anywhere).
fn applies(entry: &AccessControlEntry, principal: &str, host: &str) -> bool {
    (entry.principal == principal || entry.principal == ANY_USER)
        && (entry.host == host || entry.host == WILDCARD)
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
        let from_one_host = binding(
            ResourceType::Group,
            "g",
            PatternType::Literal,
            "User:alice",
            Read,
            Permission::Allow,
        );
        let acls = acls(vec![AclBinding {
            entry: crate::acl::AccessControlEntry {
                host: "10.0.0.1".into(),
                ..from_one_host.entry.clone()
            },
            ..from_one_host
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

    #[test]
    fn any_resource_of_a_type_as_kafka_decides_it() {
        use Operation::*;
        use PatternType::{Literal, Prefixed};
        use Permission::{Allow, Deny};
        let topic = ResourceType::Topic;
        let strict = Authorizer::default();
        let may = |acls: &Acls, principal: &str| {
            strict.authorize_any(acls, principal, "127.0.0.1", Write, topic)
        };
        let literal = acls(vec![binding(
            topic,
            "orders",
            Literal,
            "User:alice",
            Write,
            Allow,
        )]);
        assert!(may(&literal, "User:alice"));
        assert!(!may(&literal, "User:bob"));
        let all = acls(vec![binding(topic, "ord", Prefixed, "User:*", All, Allow)]);
        assert!(may(&all, "User:bob"), "ALL on a prefix, for every user");
        let read_only = acls(vec![binding(
            topic,
            "orders",
            Literal,
            "User:alice",
            Read,
            Allow,
        )]);
        assert!(!may(&read_only, "User:alice"), "another operation");
        let taken_back = acls(vec![
            binding(topic, "orders", Literal, "User:alice", Write, Allow),
            binding(topic, "ord", Prefixed, "User:alice", Write, Deny),
        ]);
        assert!(
            !may(&taken_back, "User:alice"),
            "a DENY on a prefix of the name"
        );
        let elsewhere = acls(vec![
            binding(topic, "orders", Literal, "User:alice", Write, Allow),
            binding(topic, "payments", Prefixed, "User:alice", Write, Deny),
        ]);
        assert!(may(&elsewhere, "User:alice"), "a DENY on another prefix");
        let wildcard_denied = acls(vec![
            binding(topic, "*", Literal, "User:alice", Write, Allow),
            binding(topic, "*", Literal, "User:alice", Write, Deny),
        ]);
        assert!(!may(&wildcard_denied, "User:alice"));
        let wildcard = acls(vec![binding(
            topic,
            "*",
            Literal,
            "User:alice",
            Write,
            Allow,
        )]);
        assert!(may(&wildcard, "User:alice"));
        let open = Authorizer {
            allow_if_no_acl: true,
            super_users: ["User:admin".to_owned()].into(),
        };
        let none = acls(Vec::new());
        assert!(open.authorize_any(&none, "User:bob", "127.0.0.1", Write, topic));
        assert!(open.authorize_any(&taken_back, "User:admin", "127.0.0.1", Write, topic));
        assert!(!strict.authorize_any(&none, "User:bob", "127.0.0.1", Write, topic));
    }
}
