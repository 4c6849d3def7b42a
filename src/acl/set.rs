//! The ACLs a cluster keeps: stored by id (as Kafka keys them, so the same binding is kept
//! once), and indexed by resource type, pattern type and name, so that authorizing a
//! request looks up its resource's literal name, the wildcard and each of its prefixes
//! instead of scanning every binding.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{
    AccessControlEntry, AclBinding, AclFilter, PatternType, Resource, ResourceType, WILDCARD,
};

/// Bindings by the resource pattern they name.
type PatternIndex = HashMap<(ResourceType, PatternType), BTreeMap<String, Vec<AccessControlEntry>>>;

/// Every ACL, by id, with an index for authorization.
#[derive(Debug, Clone, Default)]
pub struct Acls {
    by_id: BTreeMap<String, AclBinding>,
    index: PatternIndex,
}

impl PartialEq for Acls {
    fn eq(&self, other: &Self) -> bool {
        self.by_id == other.by_id
    }
}

impl Eq for Acls {}

impl From<BTreeMap<String, AclBinding>> for Acls {
    fn from(by_id: BTreeMap<String, AclBinding>) -> Self {
        let mut index = PatternIndex::new();
        for binding in by_id.values() {
            let pattern = &binding.pattern;
            index
                .entry((pattern.resource_type, pattern.pattern_type))
                .or_default()
                .entry(pattern.name.clone())
                .or_default()
                .push(binding.entry.clone());
        }
        Self { by_id, index }
    }
}

impl Serialize for Acls {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.by_id.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Acls {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        BTreeMap::<String, AclBinding>::deserialize(deserializer).map(Self::from)
    }
}

impl Acls {
    /// The bindings by id, as they are stored.
    pub fn by_id(&self) -> &BTreeMap<String, AclBinding> {
        &self.by_id
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The bindings `filter` selects.
    pub fn matching<'a>(&'a self, filter: &'a AclFilter) -> impl Iterator<Item = &'a AclBinding> {
        self.by_id
            .values()
            .filter(|binding| filter.matches(binding))
    }

    /// Every literal and prefixed pattern of resource type `kind`, with each of its entries.
    pub(super) fn entries_of_type(
        &self,
        kind: ResourceType,
    ) -> impl Iterator<Item = (PatternType, &str, &AccessControlEntry)> {
        [PatternType::Literal, PatternType::Prefixed]
            .into_iter()
            .filter_map(move |pattern_type| {
                self.index
                    .get(&(kind, pattern_type))
                    .map(|names| (pattern_type, names))
            })
            .flat_map(|(pattern_type, names)| {
                names.iter().flat_map(move |(name, entries)| {
                    entries
                        .iter()
                        .map(move |entry| (pattern_type, name.as_str(), entry))
                })
            })
    }

    /// The entries of every binding whose pattern covers `resource`: its literal name, the
    /// wildcard, and prefixes of its name.
    pub(super) fn entries_for<'a>(
        &'a self,
        resource: Resource<'a>,
    ) -> impl Iterator<Item = &'a AccessControlEntry> {
        let literal = self.index.get(&(resource.kind, PatternType::Literal));
        let prefixed = self.index.get(&(resource.kind, PatternType::Prefixed));
        let wildcard = (resource.name != WILDCARD).then_some(WILDCARD);
        let literal_entries = literal.into_iter().flat_map(move |names| {
            std::iter::once(resource.name)
                .chain(wildcard)
                .filter_map(|name| names.get(name))
                .flatten()
        });
        let prefixed_entries = prefixed.into_iter().flat_map(move |names| {
            prefixes(resource.name)
                .filter_map(|prefix| names.get(prefix))
                .flatten()
        });
        literal_entries.chain(prefixed_entries)
    }
}

/// Every non-empty prefix of `name`, shortest first.
pub(super) fn prefixes(name: &str) -> impl Iterator<Item = &str> {
    (1..=name.len())
        .filter(|end| name.is_char_boundary(*end))
        .map(|end| &name[..end])
}

/// `stored` with `created` added under fresh ids, each binding once; what `make_id` gives
/// must be unique.
pub fn with_created(
    stored: &BTreeMap<String, AclBinding>,
    created: &[AclBinding],
    mut make_id: impl FnMut() -> String,
) -> BTreeMap<String, AclBinding> {
    let mut next = stored.clone();
    for binding in created {
        if !next.values().any(|existing| existing == binding) {
            next.insert(make_id(), binding.clone());
        }
    }
    next
}

/// `stored` without what `filters` select, and what each filter removed.
pub fn without_matching(
    stored: &BTreeMap<String, AclBinding>,
    filters: &[AclFilter],
) -> (BTreeMap<String, AclBinding>, Vec<Vec<AclBinding>>) {
    let removed = filters
        .iter()
        .map(|filter| {
            stored
                .values()
                .filter(|binding| filter.matches(binding))
                .cloned()
                .collect()
        })
        .collect();
    let next = stored
        .iter()
        .filter(|(_, binding)| !filters.iter().any(|filter| filter.matches(binding)))
        .map(|(id, binding)| (id.clone(), binding.clone()))
        .collect();
    (next, removed)
}
