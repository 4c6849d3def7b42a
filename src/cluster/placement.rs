//! Where a new topic's replicas go, as Kafka places them: the live brokers are ordered so
//! that racks (`broker.rack`) alternate, partition `p`'s preferred leader is the
//! `start + p`-th of them (so leadership spreads evenly), and its other replicas follow at a
//! shift that changes every round, each on a rack the partition does not use yet while one
//! is left. Brokers without a rack count as one rack of their own.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlacementError {
    /// Kafka's INVALID_REPLICATION_FACTOR.
    #[error("replication factor {requested} is not between 1 and the {available} live brokers")]
    InvalidReplicationFactor { requested: i16, available: usize },
    /// Kafka's INVALID_PARTITIONS.
    #[error("{0} partitions: a topic needs at least one")]
    InvalidPartitions(i32),
}

/// A live broker a replica may go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub node_id: i32,
    pub rack: Option<String>,
}

/// Replicas for partitions `first_partition..first_partition + count`, preferred leader
/// first. `start` varies where the round begins (callers derive it from the topic id, so
/// topics do not all start on the same broker).
pub fn assign_replicas(
    brokers: &[Candidate],
    first_partition: i32,
    count: i32,
    replication_factor: i16,
    start: usize,
) -> Result<Vec<Vec<i32>>, PlacementError> {
    if count < 1 {
        return Err(PlacementError::InvalidPartitions(count));
    }
    let factor = usize::try_from(replication_factor).unwrap_or(0);
    if factor == 0 || factor > brokers.len() {
        return Err(PlacementError::InvalidReplicationFactor {
            requested: replication_factor,
            available: brokers.len(),
        });
    }
    let ordered = rack_alternating(brokers);
    let racks: BTreeSet<Option<&str>> = ordered
        .iter()
        .map(|broker| broker.rack.as_deref())
        .collect();
    let n = ordered.len();
    let mut assignment = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    for partition in first_partition..first_partition + count {
        let round = usize::try_from(partition).unwrap_or(0);
        let first = (start + round) % n;
        let shift = if n > 1 {
            (start / n + round / n) % (n - 1)
        } else {
            0
        };
        // Every other broker, starting `shift` places after the leader.
        let followers: Vec<&Candidate> = (0..n.saturating_sub(1))
            .map(|i| ordered[(first + 1 + (shift + i) % (n - 1)) % n])
            .collect();
        let mut chosen = vec![ordered[first]];
        let mut used_racks = BTreeSet::from([ordered[first].rack.as_deref()]);
        for follower in &followers {
            if chosen.len() == factor || used_racks.len() == racks.len() {
                break;
            }
            if used_racks.insert(follower.rack.as_deref()) {
                chosen.push(follower);
            }
        }
        for follower in &followers {
            if chosen.len() == factor {
                break;
            }
            if !chosen
                .iter()
                .any(|broker| broker.node_id == follower.node_id)
            {
                chosen.push(follower);
            }
        }
        assignment.push(chosen.iter().map(|broker| broker.node_id).collect());
    }
    Ok(assignment)
}

/// The brokers with racks alternating: the first of each rack, then the second of each, …
/// (racks and the brokers within one in sorted order).
fn rack_alternating(brokers: &[Candidate]) -> Vec<&Candidate> {
    let mut by_rack: BTreeMap<Option<&str>, Vec<&Candidate>> = BTreeMap::new();
    for broker in brokers {
        by_rack
            .entry(broker.rack.as_deref())
            .or_default()
            .push(broker);
    }
    by_rack
        .values_mut()
        .for_each(|rack| rack.sort_by_key(|broker| broker.node_id));
    let deepest = by_rack.values().map(Vec::len).max().unwrap_or(0);
    (0..deepest)
        .flat_map(|depth| {
            by_rack
                .values()
                .filter_map(move |rack| rack.get(depth).copied())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn brokers(racks: &[Option<&str>]) -> Vec<Candidate> {
        racks
            .iter()
            .enumerate()
            .map(|(index, rack)| Candidate {
                node_id: index as i32 + 1,
                rack: rack.map(str::to_owned),
            })
            .collect()
    }

    #[test]
    fn three_brokers_lead_two_of_six_partitions_each() {
        let assignment = assign_replicas(&brokers(&[None; 3]), 0, 6, 3, 0).unwrap();
        assert_eq!(
            assignment,
            [
                [1, 2, 3],
                [2, 3, 1],
                [3, 1, 2],
                [1, 3, 2],
                [2, 1, 3],
                [3, 2, 1]
            ]
        );
    }

    #[test]
    fn replicas_of_a_partition_go_to_different_racks_first() {
        let cluster = brokers(&[Some("a"), Some("a"), Some("b"), Some("b")]);
        for replicas in assign_replicas(&cluster, 0, 8, 2, 5).unwrap() {
            let racks: BTreeSet<_> = replicas.iter().map(|id| (id - 1) / 2).collect();
            assert_eq!(racks.len(), 2, "{replicas:?}");
        }
    }

    #[test]
    fn impossible_requests_are_refused_with_kafkas_errors() {
        let cluster = brokers(&[None, None]);
        assert_eq!(
            assign_replicas(&cluster, 0, 1, 3, 0),
            Err(PlacementError::InvalidReplicationFactor {
                requested: 3,
                available: 2
            })
        );
        assert!(assign_replicas(&cluster, 0, 1, 0, 0).is_err());
        assert_eq!(
            assign_replicas(&cluster, 0, 0, 1, 0),
            Err(PlacementError::InvalidPartitions(0))
        );
    }

    proptest! {
        #[test]
        fn placements_are_distinct_balanced_and_rack_spread(
            racks in proptest::collection::vec(proptest::option::of(0u8..3), 1..8),
            count in 1i32..60,
            factor_seed in 0usize..8,
            start in 0usize..1000,
        ) {
            let names: Vec<Option<String>> =
                racks.iter().map(|rack| rack.map(|rack| format!("r{rack}"))).collect();
            let cluster: Vec<Candidate> = names
                .iter()
                .enumerate()
                .map(|(index, rack)| Candidate { node_id: index as i32, rack: rack.clone() })
                .collect();
            let factor = 1 + factor_seed % cluster.len();
            let assignment = assign_replicas(&cluster, 0, count, factor as i16, start).unwrap();
            prop_assert_eq!(assignment.len(), count as usize);
            let distinct_racks: BTreeSet<_> = names.iter().collect();
            let mut leaders = vec![0usize; cluster.len()];
            for replicas in &assignment {
                let unique: BTreeSet<_> = replicas.iter().collect();
                prop_assert_eq!(unique.len(), factor);
                let spread: BTreeSet<_> =
                    replicas.iter().map(|id| &names[*id as usize]).collect();
                prop_assert_eq!(spread.len(), factor.min(distinct_racks.len()));
                leaders[replicas[0] as usize] += 1;
            }
            let most = leaders.iter().max().copied().unwrap_or(0);
            let least = leaders.iter().min().copied().unwrap_or(0);
            prop_assert!(most - least <= 1, "leaders {:?}", leaders);
        }
    }
}
