//! Client quotas as Kafka keeps them: values (`producer_byte_rate`, `consumer_byte_rate`,
//! `request_percentage`, `controller_mutation_rate`; `connection_creation_rate` for IPs) set
//! on entities — a user, a client id, both, or an IP, each named or the default — checked as
//! Kafka's controller checks an AlterClientQuotas request, listed as DescribeClientQuotas
//! filters them, and resolved for a (user, client id) in Kafka's order of precedence.
//! [`rate`] measures what a client does against the quota that applies to it.

pub mod rate;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// Bytes a producer may send per second.
pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
/// Bytes a consumer may fetch per second.
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
/// Percentage of one request-handling thread's time.
pub const REQUEST_PERCENTAGE: &str = "request_percentage";
/// Partitions created or deleted per second.
pub const CONTROLLER_MUTATION_RATE: &str = "controller_mutation_rate";
/// Connections an IP may open per second.
pub const CONNECTION_CREATION_RATE: &str = "connection_creation_rate";

/// What an entity names (Kafka's `ClientQuotaEntity` types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EntityType {
    #[serde(rename = "user")]
    User,
    #[serde(rename = "client-id")]
    ClientId,
    #[serde(rename = "ip")]
    Ip,
}

impl EntityType {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "user" => Some(Self::User),
            "client-id" => Some(Self::ClientId),
            "ip" => Some(Self::Ip),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::ClientId => "client-id",
            Self::Ip => "ip",
        }
    }
}

/// A quota entity: each of its types with a name, or `None` for that type's default.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Entity(pub BTreeMap<EntityType, Option<String>>);

impl Entity {
    fn of(parts: &[(EntityType, Option<&str>)]) -> Self {
        Self(
            parts
                .iter()
                .map(|(kind, name)| (*kind, name.map(str::to_owned)))
                .collect(),
        )
    }
}

/// Kafka's spelling, as its error messages name an entity.
impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries: Vec<String> = self
            .0
            .iter()
            .map(|(kind, name)| format!("{}={}", kind.name(), name.as_deref().unwrap_or("null")))
            .collect();
        write!(f, "ClientQuotaEntity(entries={{{}}})", entries.join(", "))
    }
}

/// The quotas of one entity, by key.
pub type Values = BTreeMap<String, f64>;

/// Every quota, by entity.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientQuotas {
    by_entity: HashMap<Entity, Values>,
}

/// Quota values are finite (checked when set; JSON has no NaN), so equality is total.
impl Eq for ClientQuotas {}

/// How an entity and its values are stored, under a key naming the entity (its (type, name)
/// pairs as JSON), so that the cluster store can change them by compare-and-swap as a map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredQuotas {
    entity: Vec<(EntityType, Option<String>)>,
    values: Values,
}

impl ClientQuotas {
    /// The quotas as stored: by entity key.
    pub fn stored(&self) -> BTreeMap<String, StoredQuotas> {
        self.by_entity
            .iter()
            .map(|(entity, values)| {
                let pairs: Vec<(EntityType, Option<String>)> =
                    entity.0.clone().into_iter().collect();
                let key = serde_json::to_string(&pairs).unwrap_or_default();
                (
                    key,
                    StoredQuotas {
                        entity: pairs,
                        values: values.clone(),
                    },
                )
            })
            .collect()
    }

    /// The quotas `stored` holds.
    pub fn from_stored(stored: &BTreeMap<String, StoredQuotas>) -> Self {
        let by_entity = stored
            .values()
            .filter(|quotas| !quotas.values.is_empty())
            .map(|quotas| {
                let entity = Entity(quotas.entity.iter().cloned().collect());
                (entity, quotas.values.clone())
            })
            .collect();
        Self { by_entity }
    }
}

impl Serialize for ClientQuotas {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.stored().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ClientQuotas {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        BTreeMap::<String, StoredQuotas>::deserialize(deserializer)
            .map(|stored| Self::from_stored(&stored))
    }
}

/// One entity's changes in an AlterClientQuotas request: each key set to a value, or
/// removed (`None`).
#[derive(Debug, Clone, PartialEq)]
pub struct Alteration {
    /// (type, name) as the client sent them; `None` names the default.
    pub entity: NamedEntity,
    pub ops: Vec<(String, Option<f64>)>,
}

/// Why an entity's alteration is refused (Kafka's INVALID_REQUEST messages).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidQuota {
    #[error("Invalid empty client quota entity")]
    EmptyEntity,
    #[error("Invalid client quota entity, duplicate entity entry {0}")]
    RepeatedType(String),
    #[error("Unhandled client quota entity type: {0}")]
    UnknownType(String),
    #[error("Empty {0} not supported")]
    EmptyName(String),
    #[error(
        "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId"
    )]
    IpCombined,
    #[error("{0} is not a valid IP or resolvable host.")]
    InvalidIp(String),
    #[error("Ignoring duplicate entity {0}")]
    RepeatedEntity(String),
    #[error("Invalid configuration key {0}")]
    UnknownKey(String),
    #[error("Quota {0} must be greater than 0")]
    NotPositive(String),
    #[error("{0} cannot be a fractional value.")]
    Fractional(String),
    #[error("Proposed value for {0} is too large for {1}.")]
    TooLarge(String, &'static str),
}

/// How a quota key's value is typed (Kafka's `QuotaConfig` definitions).
#[derive(Clone, Copy)]
enum ValueType {
    Long,
    Int,
    Double,
}

const USER_AND_CLIENT_KEYS: [(&str, ValueType); 4] = [
    (PRODUCER_BYTE_RATE, ValueType::Long),
    (CONSUMER_BYTE_RATE, ValueType::Long),
    (REQUEST_PERCENTAGE, ValueType::Double),
    (CONTROLLER_MUTATION_RATE, ValueType::Double),
];
const IP_KEYS: [(&str, ValueType); 1] = [(CONNECTION_CREATION_RATE, ValueType::Int)];

/// Checks an entity's types and names; returns it.
fn validate_entity(parts: &[(String, Option<String>)]) -> Result<Entity, InvalidQuota> {
    if parts.is_empty() {
        return Err(InvalidQuota::EmptyEntity);
    }
    let mut entity = BTreeMap::new();
    for (kind, name) in parts {
        let Some(parsed) = EntityType::parse(kind) else {
            return Err(InvalidQuota::UnknownType(kind.clone()));
        };
        if entity.insert(parsed, name.clone()).is_some() {
            return Err(InvalidQuota::RepeatedType(kind.clone()));
        }
        if name.as_deref() == Some("") {
            return Err(InvalidQuota::EmptyName(kind.clone()));
        }
    }
    Ok(Entity(entity))
}

/// The keys an entity may set.
fn keys_of(entity: &Entity) -> Result<&'static [(&'static str, ValueType)], InvalidQuota> {
    match entity.0.get(&EntityType::Ip) {
        Some(_) if entity.0.len() > 1 => Err(InvalidQuota::IpCombined),
        Some(Some(ip)) if ip.parse::<std::net::IpAddr>().is_err() => {
            Err(InvalidQuota::InvalidIp(ip.clone()))
        }
        Some(_) => Ok(&IP_KEYS),
        None => Ok(&USER_AND_CLIENT_KEYS),
    }
}

fn validate_value(keys: &[(&str, ValueType)], key: &str, value: f64) -> Result<(), InvalidQuota> {
    let Some((_, kind)) = keys.iter().find(|(name, _)| *name == key) else {
        return Err(InvalidQuota::UnknownKey(key.to_owned()));
    };
    // Not a number is no quota either (JSON, where quotas are kept, has none).
    if value <= 0.0 || !value.is_finite() {
        return Err(InvalidQuota::NotPositive(key.to_owned()));
    }
    let integral = |max: f64, type_name: &'static str| {
        if value > max {
            Err(InvalidQuota::TooLarge(key.to_owned(), type_name))
        } else if (value % 1.0).abs() > 1e-6 {
            Err(InvalidQuota::Fractional(key.to_owned()))
        } else {
            Ok(())
        }
    };
    match kind {
        ValueType::Double => Ok(()),
        ValueType::Int => integral(f64::from(i32::MAX), "an INT"),
        ValueType::Long => integral(i64::MAX as f64, "a LONG"),
    }
}

/// An entity as a request names it: (type, name) pairs, `None` naming the default.
pub type NamedEntity = Vec<(String, Option<String>)>;

/// Each distinct entity of an AlterClientQuotas request (in request order, as the client
/// named it) and its outcome.
pub type Outcomes = Vec<(NamedEntity, Result<(), InvalidQuota>)>;

/// What an AlterClientQuotas request makes of the quotas.
pub struct Altered {
    pub quotas: ClientQuotas,
    pub outcomes: Outcomes,
}

/// A DescribeClientQuotas filter component: an entity type and how its name must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    pub entity_type: String,
    pub matching: Matching,
}

/// Kafka's match types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matching {
    /// MATCH_TYPE_EXACT (0): this name.
    Exact(Option<String>),
    /// MATCH_TYPE_DEFAULT (1): the type's default.
    Default(Option<String>),
    /// MATCH_TYPE_SPECIFIED (2): any name, the default included.
    Specified(Option<String>),
    Unknown(i8),
}

/// Why a DescribeClientQuotas filter is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidFilter {
    /// INVALID_REQUEST.
    #[error("{0}")]
    Invalid(String),
    /// UNSUPPORTED_VERSION.
    #[error("Unsupported entity type {0}")]
    UnsupportedType(String),
}

/// The quota that applies to a client and the measure it shares: Kafka's metric tags, the
/// user and client id the matched entity names (empty for a type it does not name).
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub bound: f64,
    pub sensor: SensorId,
}

/// Whose rate a sensor measures: (user, client id), as Kafka tags its quota metrics.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SensorId {
    pub user: String,
    pub client_id: String,
}

impl ClientQuotas {
    pub fn is_empty(&self) -> bool {
        self.by_entity.is_empty()
    }

    /// Every entity with its quotas.
    pub fn entities(&self) -> impl Iterator<Item = (&Entity, &Values)> {
        self.by_entity.iter()
    }

    /// What an AlterClientQuotas request makes of these quotas (invalid entities unchanged),
    /// as Kafka's controller decides: a key or an entity named twice refuses the entity.
    pub fn altered(&self, alterations: &[Alteration]) -> Altered {
        let mut quotas = self.clone();
        let mut outcomes: Outcomes = Vec::new();
        for alteration in alterations {
            let same = |entity: &[(String, Option<String>)]| {
                let mut sorted = entity.to_vec();
                sorted.sort();
                sorted
            };
            let repeated = outcomes
                .iter()
                .position(|(entity, _)| same(entity) == same(&alteration.entity));
            let named_twice = alteration
                .ops
                .iter()
                .enumerate()
                .any(|(at, (key, _))| alteration.ops[..at].iter().any(|(k, _)| k == key));
            let outcome = if repeated.is_some() || named_twice {
                let shown = validate_entity(&alteration.entity)
                    .map_or_else(|_| format!("{:?}", alteration.entity), |e| e.to_string());
                Err(InvalidQuota::RepeatedEntity(shown))
            } else {
                quotas.alter_entity(alteration)
            };
            match repeated {
                Some(at) => outcomes[at].1 = outcome,
                None => outcomes.push((alteration.entity.clone(), outcome)),
            }
        }
        Altered { quotas, outcomes }
    }

    fn alter_entity(&mut self, alteration: &Alteration) -> Result<(), InvalidQuota> {
        let entity = validate_entity(&alteration.entity)?;
        let keys = keys_of(&entity)?;
        for (key, value) in &alteration.ops {
            if let Some(value) = value {
                validate_value(keys, key, *value)?;
            }
        }
        let values = self.by_entity.entry(entity.clone()).or_default();
        for (key, value) in &alteration.ops {
            match value {
                Some(value) => values.insert(key.clone(), *value),
                None => values.remove(key),
            };
        }
        if values.is_empty() {
            self.by_entity.remove(&entity);
        }
        Ok(())
    }

    /// The entities a DescribeClientQuotas filter selects (Kafka's `ClientQuotasImage`
    /// rules): every component must match; `strict` also wants no other types.
    pub fn describe(
        &self,
        components: &[Component],
        strict: bool,
    ) -> Result<Vec<(&Entity, &Values)>, InvalidFilter> {
        let mut exact: BTreeMap<EntityType, Option<&str>> = BTreeMap::new();
        let mut any: Vec<EntityType> = Vec::new();
        for component in components {
            let name = &component.entity_type;
            if name.is_empty() {
                return Err(InvalidFilter::Invalid("Invalid empty entity type.".into()));
            }
            let kind = EntityType::parse(name);
            if kind.is_some_and(|kind| exact.contains_key(&kind) || any.contains(&kind)) {
                return Err(InvalidFilter::Invalid(format!(
                    "Entity type {name} cannot appear more than once in the filter."
                )));
            }
            let Some(kind) = kind else {
                return Err(InvalidFilter::UnsupportedType(name.clone()));
            };
            match &component.matching {
                Matching::Exact(Some(wanted)) => {
                    exact.insert(kind, Some(wanted));
                }
                Matching::Exact(None) => {
                    return Err(InvalidFilter::Invalid(
                        "Request specified MATCH_TYPE_EXACT, but set match string to null.".into(),
                    ))
                }
                Matching::Default(None) => {
                    exact.insert(kind, None);
                }
                Matching::Default(Some(_)) => {
                    return Err(InvalidFilter::Invalid(
                        "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."
                            .into(),
                    ))
                }
                Matching::Specified(None) => any.push(kind),
                Matching::Specified(Some(_)) => return Err(InvalidFilter::Invalid(
                    "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string."
                        .into(),
                )),
                Matching::Unknown(code) => {
                    return Err(InvalidFilter::Invalid(format!("Unknown match type {code}")))
                }
            }
        }
        let names = |kind| exact.contains_key(&kind) || any.contains(&kind);
        if names(EntityType::Ip) && (names(EntityType::User) || names(EntityType::ClientId)) {
            return Err(InvalidFilter::Invalid(
                "Invalid entity filter component combination. IP filter component should not be \
                 used with user or clientId filter component."
                    .into(),
            ));
        }
        let mut found: Vec<(&Entity, &Values)> = self
            .by_entity
            .iter()
            .filter(|(entity, _)| {
                (!strict || entity.0.len() == exact.len() + any.len())
                    && exact.iter().all(|(kind, wanted)| {
                        entity
                            .0
                            .get(kind)
                            .is_some_and(|name| name.as_deref() == *wanted)
                    })
                    && any.iter().all(|kind| entity.0.contains_key(kind))
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(b.0));
        Ok(found)
    }

    /// The `connection_creation_rate` of connections from `ip`: its own, or the default
    /// IP's; measured per IP (the sensor names the IP as its user).
    pub fn connection_rate_of(&self, ip: &str) -> Option<Applied> {
        if self.by_entity.is_empty() {
            return None;
        }
        [Some(ip), None].into_iter().find_map(|name| {
            let entity = Entity::of(&[(EntityType::Ip, name)]);
            let bound = *self.by_entity.get(&entity)?.get(CONNECTION_CREATION_RATE)?;
            Some(Applied {
                bound,
                sensor: SensorId {
                    user: ip.to_owned(),
                    client_id: String::new(),
                },
            })
        })
    }

    /// The `key` quota that applies to `user`'s client `client_id`, in Kafka's order of
    /// precedence: the user and client id, the user and the default client, the user; the
    /// default user with the client id, with the default client, alone; the client id; the
    /// default client.
    pub fn applying(&self, key: &str, user: &str, client_id: &str) -> Option<Applied> {
        use EntityType::{ClientId, User};
        if self.by_entity.is_empty() {
            return None;
        }
        let (u, c) = (Some(user), Some(client_id));
        let candidates = [
            Entity::of(&[(User, u), (ClientId, c)]),
            Entity::of(&[(User, u), (ClientId, None)]),
            Entity::of(&[(User, u)]),
            Entity::of(&[(User, None), (ClientId, c)]),
            Entity::of(&[(User, None), (ClientId, None)]),
            Entity::of(&[(User, None)]),
            Entity::of(&[(ClientId, c)]),
            Entity::of(&[(ClientId, None)]),
        ];
        candidates.into_iter().find_map(|entity| {
            let bound = *self.by_entity.get(&entity)?.get(key)?;
            let tag = |kind| match entity.0.contains_key(&kind) {
                true => match kind {
                    User => user.to_owned(),
                    _ => client_id.to_owned(),
                },
                false => String::new(),
            };
            Some(Applied {
                bound,
                sensor: SensorId {
                    user: tag(User),
                    client_id: tag(ClientId),
                },
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alteration(entity: &[(&str, Option<&str>)], ops: &[(&str, Option<f64>)]) -> Alteration {
        Alteration {
            entity: entity
                .iter()
                .map(|(kind, name)| (kind.to_string(), name.map(str::to_owned)))
                .collect(),
            ops: ops
                .iter()
                .map(|(key, value)| (key.to_string(), *value))
                .collect(),
        }
    }

    fn outcome(quotas: &ClientQuotas, change: Alteration) -> Result<(), InvalidQuota> {
        quotas.altered(&[change]).outcomes.remove(0).1
    }

    #[test]
    fn alterations_are_checked_as_kafkas_controller_checks_them() {
        let none = ClientQuotas::default();
        let refused = |entity: &[(&str, Option<&str>)], ops: &[(&str, Option<f64>)]| {
            outcome(&none, alteration(entity, ops))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(refused(&[], &[]), "Invalid empty client quota entity");
        assert_eq!(
            refused(&[("group", Some("g"))], &[]),
            "Unhandled client quota entity type: group"
        );
        assert_eq!(
            refused(&[("user", Some(""))], &[]),
            "Empty user not supported"
        );
        assert_eq!(
            refused(&[("ip", Some("1.2.3.4")), ("user", Some("a"))], &[]),
            "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId"
        );
        assert_eq!(
            refused(
                &[("user", Some("a"))],
                &[(CONNECTION_CREATION_RATE, Some(1.0))]
            ),
            "Invalid configuration key connection_creation_rate"
        );
        assert_eq!(
            refused(&[("user", Some("a"))], &[(PRODUCER_BYTE_RATE, Some(0.0))]),
            "Quota producer_byte_rate must be greater than 0"
        );
        assert_eq!(
            refused(&[("user", Some("a"))], &[(PRODUCER_BYTE_RATE, Some(1.5))]),
            "producer_byte_rate cannot be a fractional value."
        );
        assert_eq!(
            refused(&[("ip", None)], &[(CONNECTION_CREATION_RATE, Some(3e9))]),
            "Proposed value for connection_creation_rate is too large for an INT."
        );
        assert!(refused(
            &[("user", Some("a"))],
            &[(PRODUCER_BYTE_RATE, Some(1.0)), (PRODUCER_BYTE_RATE, None)]
        )
        .starts_with("Ignoring duplicate entity"));
        // Fractional request percentages are fine; a removal of nothing is a no-op.
        let changed = none.altered(&[alteration(
            &[("user", Some("a")), ("client-id", None)],
            &[(REQUEST_PERCENTAGE, Some(12.5)), (CONSUMER_BYTE_RATE, None)],
        )]);
        assert_eq!(changed.outcomes[0].1, Ok(()));
        let (entity, values) = changed.quotas.entities().next().expect("stored");
        assert_eq!(
            entity.to_string(),
            "ClientQuotaEntity(entries={user=a, client-id=null})"
        );
        assert_eq!(values.get(REQUEST_PERCENTAGE), Some(&12.5));
        // Removing the last value removes the entity.
        let emptied = changed.quotas.altered(&[alteration(
            &[("client-id", None), ("user", Some("a"))],
            &[(REQUEST_PERCENTAGE, None)],
        )]);
        assert!(emptied.quotas.is_empty());
    }

    #[test]
    fn the_closest_entity_applies_and_names_the_shared_measure() {
        let quotas = ClientQuotas::default()
            .altered(&[
                alteration(&[("client-id", None)], &[(PRODUCER_BYTE_RATE, Some(100.0))]),
                alteration(
                    &[("user", Some("alice"))],
                    &[(PRODUCER_BYTE_RATE, Some(200.0))],
                ),
                alteration(
                    &[("user", Some("alice")), ("client-id", Some("loader"))],
                    &[(CONSUMER_BYTE_RATE, Some(300.0))],
                ),
            ])
            .quotas;
        let applied = |key, user, client| quotas.applying(key, user, client);
        let alice = applied(PRODUCER_BYTE_RATE, "alice", "loader").expect("a quota");
        assert_eq!(alice.bound, 200.0);
        assert_eq!(
            alice.sensor,
            SensorId {
                user: "alice".into(),
                client_id: String::new()
            },
            "shared by every client of alice"
        );
        let bob = applied(PRODUCER_BYTE_RATE, "bob", "app").expect("the default client");
        assert_eq!(bob.bound, 100.0);
        assert_eq!(bob.sensor.client_id, "app", "each client id on its own");
        assert_eq!(bob.sensor.user, "");
        assert_eq!(
            applied(CONSUMER_BYTE_RATE, "alice", "loader").map(|a| a.bound),
            Some(300.0)
        );
        assert_eq!(applied(CONSUMER_BYTE_RATE, "alice", "other"), None);
    }

    #[test]
    fn filters_select_as_kafkas_image_does() {
        let quotas = ClientQuotas::default()
            .altered(&[
                alteration(
                    &[("user", Some("alice"))],
                    &[(PRODUCER_BYTE_RATE, Some(1.0))],
                ),
                alteration(&[("user", None)], &[(PRODUCER_BYTE_RATE, Some(2.0))]),
                alteration(
                    &[("user", Some("alice")), ("client-id", Some("c"))],
                    &[(PRODUCER_BYTE_RATE, Some(3.0))],
                ),
                alteration(
                    &[("ip", Some("10.0.0.1"))],
                    &[(CONNECTION_CREATION_RATE, Some(5.0))],
                ),
            ])
            .quotas;
        let component = |kind: &str, matching| Component {
            entity_type: kind.into(),
            matching,
        };
        let count = |components: &[Component], strict| {
            quotas.describe(components, strict).map(|found| found.len())
        };
        let alice = component("user", Matching::Exact(Some("alice".into())));
        assert_eq!(count(std::slice::from_ref(&alice), false), Ok(2));
        assert_eq!(count(&[alice], true), Ok(1));
        assert_eq!(
            count(&[component("user", Matching::Default(None))], false),
            Ok(1)
        );
        assert_eq!(
            count(&[component("user", Matching::Specified(None))], false),
            Ok(3)
        );
        assert_eq!(count(&[], false), Ok(4));
        assert_eq!(
            count(&[component("group", Matching::Specified(None))], false),
            Err(InvalidFilter::UnsupportedType("group".into()))
        );
        assert!(count(
            &[
                component("ip", Matching::Specified(None)),
                component("user", Matching::Specified(None))
            ],
            false
        )
        .is_err());
        let json = serde_json::to_string(&quotas).expect("stored");
        let read: ClientQuotas = serde_json::from_str(&json).expect("read back");
        assert_eq!(read, quotas);
    }
}
