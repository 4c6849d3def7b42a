//! Kafka's access control model: ACL bindings (a resource pattern — type, name, literal or
//! prefixed — and an entry — principal, host, operation, allow or deny), the filters that
//! DescribeAcls and DeleteAcls match them with, and the set of bindings a broker authorizes
//! requests against ([`Acls`], [`Authorizer`]). A leaf: it knows neither Kafka's requests nor
//! where bindings are kept.

mod authorizer;
mod set;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use authorizer::Authorizer;
pub use set::{with_created, without_matching, Acls};

/// The resource name that matches every name of its type (literal patterns only).
pub const WILDCARD: &str = "*";
/// The one name of the cluster resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// Defines a Kafka enum with its wire codes and names.
macro_rules! kafka_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $code:literal, $text:literal;)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name {
            $($variant,)*
        }

        impl $name {
            /// The value of a wire code (`None`: a code Kafka does not define).
            pub fn from_code(code: i8) -> Option<Self> {
                match code {
                    $($code => Some(Self::$variant),)*
                    _ => None,
                }
            }

            pub fn code(self) -> i8 {
                match self {
                    $(Self::$variant => $code,)*
                }
            }

            /// Kafka's name (as `kafka-acls` prints it).
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

kafka_enum! {
    /// What a pattern names (Kafka's `ResourceType`).
    ResourceType {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Topic = 2, "TOPIC";
        Group = 3, "GROUP";
        Cluster = 4, "CLUSTER";
        TransactionalId = 5, "TRANSACTIONAL_ID";
        DelegationToken = 6, "DELEGATION_TOKEN";
        User = 7, "USER";
    }
}

kafka_enum! {
    /// How a pattern's name matches (Kafka's `PatternType`; ANY and MATCH in filters only).
    PatternType {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Match = 2, "MATCH";
        Literal = 3, "LITERAL";
        Prefixed = 4, "PREFIXED";
    }
}

kafka_enum! {
    /// What a principal does to a resource (Kafka's `AclOperation`).
    Operation {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        All = 2, "ALL";
        Read = 3, "READ";
        Write = 4, "WRITE";
        Create = 5, "CREATE";
        Delete = 6, "DELETE";
        Alter = 7, "ALTER";
        Describe = 8, "DESCRIBE";
        ClusterAction = 9, "CLUSTER_ACTION";
        DescribeConfigs = 10, "DESCRIBE_CONFIGS";
        AlterConfigs = 11, "ALTER_CONFIGS";
        IdempotentWrite = 12, "IDEMPOTENT_WRITE";
        CreateTokens = 13, "CREATE_TOKENS";
        DescribeTokens = 14, "DESCRIBE_TOKENS";
        TwoPhaseCommit = 15, "TWO_PHASE_COMMIT";
    }
}

kafka_enum! {
    /// Whether an entry allows or denies (Kafka's `AclPermissionType`).
    Permission {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Deny = 2, "DENY";
        Allow = 3, "ALLOW";
    }
}

impl Operation {
    /// The operations that may be granted on a resource type (Kafka's
    /// `AclEntry.supportedOperations`), which `authorized_operations` bitmasks cover.
    pub fn supported_on(resource: ResourceType) -> &'static [Operation] {
        use Operation::*;
        match resource {
            ResourceType::Topic => &[
                Read,
                Write,
                Create,
                Describe,
                Delete,
                Alter,
                DescribeConfigs,
                AlterConfigs,
            ],
            ResourceType::Group => &[Read, Describe, Delete, DescribeConfigs, AlterConfigs],
            ResourceType::Cluster => &[
                Create,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                Alter,
                Describe,
            ],
            ResourceType::TransactionalId => &[Describe, Write, TwoPhaseCommit],
            ResourceType::DelegationToken => &[Describe],
            ResourceType::User => &[CreateTokens, DescribeTokens],
            ResourceType::Unknown | ResourceType::Any => &[],
        }
    }

    /// Whether an ALLOW entry for `self` allows `wanted`: the same operation, ALL, or one
    /// that implies it (READ, WRITE, DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies
    /// DESCRIBE_CONFIGS).
    fn allows(self, wanted: Operation) -> bool {
        use Operation::*;
        self == wanted
            || self == All
            || (wanted == Describe && matches!(self, Read | Write | Delete | Alter))
            || (wanted == DescribeConfigs && self == AlterConfigs)
    }
}

/// A resource: what is authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource<'a> {
    pub kind: ResourceType,
    pub name: &'a str,
}

impl<'a> Resource<'a> {
    pub fn topic(name: &'a str) -> Self {
        Self {
            kind: ResourceType::Topic,
            name,
        }
    }

    pub fn group(name: &'a str) -> Self {
        Self {
            kind: ResourceType::Group,
            name,
        }
    }

    pub fn transactional_id(name: &'a str) -> Self {
        Self {
            kind: ResourceType::TransactionalId,
            name,
        }
    }

    pub fn cluster() -> Self {
        Self {
            kind: ResourceType::Cluster,
            name: CLUSTER_NAME,
        }
    }
}

/// The resources a binding covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourcePattern {
    pub resource_type: ResourceType,
    pub name: String,
    pub pattern_type: PatternType,
}

/// Who may or may not do what, from where.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccessControlEntry {
    /// `Type:Name`, e.g. `User:alice`; `User:*` is every user.
    pub principal: String,
    /// An IP address as the client connects from, or `*`.
    pub host: String,
    pub operation: Operation,
    pub permission: Permission,
}

/// One ACL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AclBinding {
    pub pattern: ResourcePattern,
    pub entry: AccessControlEntry,
}

/// Why a binding cannot be stored (Kafka's INVALID_REQUEST messages).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidAcl {
    #[error("Invalid resourceType {0}")]
    ResourceType(ResourceType),
    #[error("Invalid patternType {0}")]
    PatternType(PatternType),
    #[error("Invalid operation {0}")]
    Operation(Operation),
    #[error("Invalid permissionType {0}")]
    Permission(Permission),
    #[error("Invalid empty resource name")]
    EmptyName,
    #[error("The only valid name for the CLUSTER resource is {CLUSTER_NAME}")]
    ClusterName,
    #[error("Could not parse principal from `{0}` (no colon is found).")]
    Principal(String),
}

impl AclBinding {
    /// Kafka's checks of a binding to create (`AclApis.handleCreateAcls`,
    /// `AclControlManager.validateNewAcl`).
    pub fn validate(&self) -> Result<(), InvalidAcl> {
        let pattern = &self.pattern;
        if pattern.resource_type == ResourceType::Cluster && pattern.name != CLUSTER_NAME {
            return Err(InvalidAcl::ClusterName);
        }
        if pattern.name.is_empty() {
            return Err(InvalidAcl::EmptyName);
        }
        if matches!(
            pattern.resource_type,
            ResourceType::Unknown | ResourceType::Any
        ) {
            return Err(InvalidAcl::ResourceType(pattern.resource_type));
        }
        if !matches!(
            pattern.pattern_type,
            PatternType::Literal | PatternType::Prefixed
        ) {
            return Err(InvalidAcl::PatternType(pattern.pattern_type));
        }
        let entry = &self.entry;
        if matches!(entry.operation, Operation::Unknown | Operation::Any) {
            return Err(InvalidAcl::Operation(entry.operation));
        }
        if !matches!(entry.permission, Permission::Allow | Permission::Deny) {
            return Err(InvalidAcl::Permission(entry.permission));
        }
        if !entry.principal.contains(':') {
            return Err(InvalidAcl::Principal(entry.principal.clone()));
        }
        Ok(())
    }
}

/// Which bindings a DescribeAcls or DeleteAcls filter selects; `None` fields match anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: ResourceType,
    pub name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Operation,
    pub permission: Permission,
}

/// Which half of a filter names an UNKNOWN value (Kafka's INVALID_REQUEST messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum InvalidFilter {
    #[error("Unknown patternFilter.")]
    Pattern,
    #[error("Unknown entryFilter.")]
    Entry,
}

impl AclFilter {
    /// Kafka refuses a filter with an UNKNOWN field.
    pub fn check(&self) -> Result<(), InvalidFilter> {
        if self.resource_type == ResourceType::Unknown || self.pattern_type == PatternType::Unknown
        {
            return Err(InvalidFilter::Pattern);
        }
        if self.operation == Operation::Unknown || self.permission == Permission::Unknown {
            return Err(InvalidFilter::Entry);
        }
        Ok(())
    }

    /// Kafka's `AclBindingFilter.matches`: MATCH selects the patterns that would apply to
    /// the named resource (its literal name, the wildcard, prefixes of it).
    pub fn matches(&self, binding: &AclBinding) -> bool {
        self.matches_pattern(&binding.pattern) && self.matches_entry(&binding.entry)
    }

    fn matches_pattern(&self, pattern: &ResourcePattern) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != pattern.resource_type {
            return false;
        }
        if !matches!(self.pattern_type, PatternType::Any | PatternType::Match)
            && self.pattern_type != pattern.pattern_type
        {
            return false;
        }
        let Some(name) = &self.name else {
            return true;
        };
        if self.pattern_type != PatternType::Match {
            return *name == pattern.name;
        }
        match pattern.pattern_type {
            PatternType::Literal => *name == pattern.name || pattern.name == WILDCARD,
            PatternType::Prefixed => name.starts_with(&pattern.name),
            _ => false,
        }
    }

    fn matches_entry(&self, entry: &AccessControlEntry) -> bool {
        self.principal
            .as_ref()
            .is_none_or(|p| *p == entry.principal)
            && self.host.as_ref().is_none_or(|h| *h == entry.host)
            && (self.operation == Operation::Any || self.operation == entry.operation)
            && (self.permission == Permission::Any || self.permission == entry.permission)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn binding(
        resource_type: ResourceType,
        name: &str,
        pattern_type: PatternType,
        principal: &str,
        operation: Operation,
        permission: Permission,
    ) -> AclBinding {
        AclBinding {
            pattern: ResourcePattern {
                resource_type,
                name: name.into(),
                pattern_type,
            },
            entry: AccessControlEntry {
                principal: principal.into(),
                host: WILDCARD.into(),
                operation,
                permission,
            },
        }
    }

    fn any_filter() -> AclFilter {
        AclFilter {
            resource_type: ResourceType::Any,
            name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: Operation::Any,
            permission: Permission::Any,
        }
    }

    #[test]
    fn codes_and_names_are_kafkas() {
        assert_eq!(Operation::from_code(12), Some(Operation::IdempotentWrite));
        assert_eq!(Operation::IdempotentWrite.name(), "IDEMPOTENT_WRITE");
        assert_eq!(ResourceType::TransactionalId.code(), 5);
        assert_eq!(PatternType::from_code(9), None);
        assert_eq!(
            serde_json::to_string(&Permission::Allow).unwrap(),
            "\"ALLOW\""
        );
    }

    #[test]
    fn bindings_are_checked_as_kafka_checks_them() {
        use Operation::Read;
        use Permission::Allow;
        let ok = binding(
            ResourceType::Topic,
            "t",
            PatternType::Literal,
            "User:a",
            Read,
            Allow,
        );
        assert_eq!(ok.validate(), Ok(()));
        let refused = |change: &dyn Fn(&mut AclBinding)| {
            let mut binding = ok.clone();
            change(&mut binding);
            binding.validate().unwrap_err()
        };
        assert_eq!(refused(&|b| b.pattern.name.clear()), InvalidAcl::EmptyName);
        assert_eq!(
            refused(&|b| b.pattern.resource_type = ResourceType::Cluster),
            InvalidAcl::ClusterName
        );
        assert_eq!(
            refused(&|b| b.pattern.pattern_type = PatternType::Match),
            InvalidAcl::PatternType(PatternType::Match)
        );
        assert_eq!(
            refused(&|b| b.entry.operation = Operation::Any),
            InvalidAcl::Operation(Operation::Any)
        );
        assert_eq!(
            refused(&|b| b.entry.permission = Permission::Any),
            InvalidAcl::Permission(Permission::Any)
        );
        assert!(matches!(
            refused(&|b| b.entry.principal = "alice".into()),
            InvalidAcl::Principal(_)
        ));
    }

    #[test]
    fn filters_match_as_kafkas_do() {
        use Operation::{Read, Write};
        use Permission::Allow;
        let literal = binding(
            ResourceType::Topic,
            "orders",
            PatternType::Literal,
            "User:a",
            Read,
            Allow,
        );
        let wildcard = binding(
            ResourceType::Topic,
            "*",
            PatternType::Literal,
            "User:a",
            Write,
            Allow,
        );
        let prefixed = binding(
            ResourceType::Topic,
            "ord",
            PatternType::Prefixed,
            "User:b",
            Read,
            Allow,
        );
        let group = binding(
            ResourceType::Group,
            "orders",
            PatternType::Literal,
            "User:a",
            Read,
            Allow,
        );
        let all = [&literal, &wildcard, &prefixed, &group];
        let selected = |filter: &AclFilter| -> Vec<&AclBinding> {
            all.iter().copied().filter(|b| filter.matches(b)).collect()
        };
        assert_eq!(selected(&any_filter()).len(), 4);
        let by_match = AclFilter {
            resource_type: ResourceType::Topic,
            name: Some("orders".into()),
            pattern_type: PatternType::Match,
            ..any_filter()
        };
        assert_eq!(selected(&by_match), [&literal, &wildcard, &prefixed]);
        let exact = AclFilter {
            pattern_type: PatternType::Literal,
            ..by_match.clone()
        };
        assert_eq!(selected(&exact), [&literal]);
        let any_pattern_named = AclFilter {
            pattern_type: PatternType::Any,
            ..by_match.clone()
        };
        assert_eq!(selected(&any_pattern_named), [&literal]);
        let of_b = AclFilter {
            principal: Some("User:b".into()),
            ..any_filter()
        };
        assert_eq!(selected(&of_b), [&prefixed]);
        let writes = AclFilter {
            operation: Write,
            ..any_filter()
        };
        assert_eq!(selected(&writes), [&wildcard]);
    }
}
