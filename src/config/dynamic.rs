//! Dynamic broker configs: the keys Kafka lets a running broker change through
//! IncrementalAlterConfigs / AlterConfigs on a broker resource, per broker or as the
//! cluster-wide default (an empty resource name). spool's are the replication throttle
//! rates, which Kafka accepts only dynamically; every other broker key is static.

use std::collections::BTreeMap;

use super::values::ConfigType;

/// Bytes per second the leader replicas of a broker may send to throttled followers.
pub const LEADER_REPLICATION_THROTTLED_RATE: &str = "leader.replication.throttled.rate";
/// Bytes per second a broker's throttled follower replicas may fetch.
pub const FOLLOWER_REPLICATION_THROTTLED_RATE: &str = "follower.replication.throttled.rate";

/// Every dynamic broker key, with its type (both are longs ≥ 0; unset means unbounded,
/// Kafka's default of `Long.MAX_VALUE`).
pub const DYNAMIC_BROKER_KEYS: &[(&str, ConfigType)] = &[
    (FOLLOWER_REPLICATION_THROTTLED_RATE, ConfigType::Long),
    (LEADER_REPLICATION_THROTTLED_RATE, ConfigType::Long),
];

/// Whether `name` may be changed while brokers run.
pub fn is_dynamic(name: &str) -> bool {
    DYNAMIC_BROKER_KEYS.iter().any(|(key, _)| *key == name)
}

/// Checks one dynamic `name = value`; the error text is for the client.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    match value.trim().parse::<i64>() {
        Ok(number) if number >= 0 => Ok(()),
        Ok(number) => Err(format!(
            "Invalid value {number} for configuration {name}: Value must be at least 0"
        )),
        Err(_) => Err(format!(
            "Invalid value {value} for configuration {name}: Not a number of type LONG"
        )),
    }
}

/// Where a dynamic broker config is set: for one broker, or for every broker that sets it
/// for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DynamicScope {
    Broker(i32),
    ClusterDefault,
}

impl DynamicScope {
    /// The scope of broker `node_id`, or with `None` the cluster default (as the cluster
    /// store names them).
    pub fn of(node_id: Option<i32>) -> Self {
        node_id.map_or(Self::ClusterDefault, Self::Broker)
    }

    /// The broker this scope is for; `None` for the cluster default.
    pub fn node_id(self) -> Option<i32> {
        match self {
            Self::Broker(node_id) => Some(node_id),
            Self::ClusterDefault => None,
        }
    }
}

/// The dynamic broker configs of a cluster (or of a single node), by scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DynamicBrokerConfigs {
    pub by_scope: BTreeMap<DynamicScope, BTreeMap<String, String>>,
}

impl DynamicBrokerConfigs {
    /// The values set at `scope`.
    pub fn at(&self, scope: DynamicScope) -> Option<&BTreeMap<String, String>> {
        self.by_scope.get(&scope)
    }

    /// The value of `name` broker `node_id` runs with, and the scope it comes from.
    pub fn effective(&self, node_id: i32, name: &str) -> Option<(&str, DynamicScope)> {
        [DynamicScope::Broker(node_id), DynamicScope::ClusterDefault]
            .into_iter()
            .find_map(|scope| Some((self.at(scope)?.get(name)?.as_str(), scope)))
    }

    /// A rate in bytes per second broker `node_id` runs with; `None` when unbounded.
    pub fn rate(&self, node_id: i32, name: &str) -> Option<u64> {
        let (value, _) = self.effective(node_id, name)?;
        value.trim().parse::<u64>().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broker_value_wins_over_the_cluster_default() {
        let mut configs = DynamicBrokerConfigs::default();
        let rate = LEADER_REPLICATION_THROTTLED_RATE;
        assert_eq!(configs.rate(1, rate), None);
        configs.by_scope.insert(
            DynamicScope::ClusterDefault,
            BTreeMap::from([(rate.to_owned(), "100".to_owned())]),
        );
        configs.by_scope.insert(
            DynamicScope::Broker(2),
            BTreeMap::from([(rate.to_owned(), "5".to_owned())]),
        );
        assert_eq!(configs.rate(1, rate), Some(100));
        assert_eq!(configs.rate(2, rate), Some(5));
        assert_eq!(
            configs.effective(1, rate),
            Some(("100", DynamicScope::ClusterDefault))
        );
        assert_eq!(configs.rate(2, FOLLOWER_REPLICATION_THROTTLED_RATE), None);
    }

    #[test]
    fn rates_are_non_negative_longs() {
        assert!(is_dynamic(FOLLOWER_REPLICATION_THROTTLED_RATE));
        assert!(!is_dynamic("num.partitions"));
        assert!(validate(LEADER_REPLICATION_THROTTLED_RATE, "0").is_ok());
        assert!(validate(LEADER_REPLICATION_THROTTLED_RATE, "-1").is_err());
        assert!(validate(LEADER_REPLICATION_THROTTLED_RATE, "fast").is_err());
    }
}
