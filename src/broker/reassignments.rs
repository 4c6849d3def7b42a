//! Partition reassignments as clients ask for them (AlterPartitionReassignments,
//! ListPartitionReassignments; `kafka-reassign-partitions`). In a cluster they are written to
//! the store, where the controller completes them (`cluster::reassignment`); on a single
//! node every partition has its one replica, the only valid target, so nothing ever moves.

use std::collections::BTreeMap;

use super::Broker;
use crate::cluster::reassignment::{check_target, in_progress, Outcomes};
pub use crate::cluster::reassignment::{ReassignmentError, Target};

/// A partition whose replicas are moving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ongoing {
    pub partition: i32,
    /// Every replica: the target ones first, then those being removed.
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

impl Broker {
    /// Starts, replaces or cancels the reassignment of each of `topic`'s partitions in
    /// `targets`; with `keep_factor`, refuses a target that changes the replication
    /// factor. In a cluster, waits (bounded) until this broker applied the change.
    pub async fn reassign_partitions(
        &self,
        topic: &str,
        targets: &[(i32, Target)],
        keep_factor: bool,
    ) -> Outcomes {
        let Some(node) = &self.cluster else {
            return self.reassign_alone(topic, targets);
        };
        let unclean_default = self.config.cluster.controller.unclean_election;
        let altered = node
            .membership()
            .alter_reassignments(topic, targets, unclean_default, keep_factor)
            .await;
        match altered {
            Ok(altered) => {
                if let Some(revision) = altered.revision {
                    self.wait_applied(|image| image.revision >= revision).await;
                    tracing::info!(topic, ?targets, "partition reassignment requested");
                }
                altered.outcomes
            }
            Err(error) => targets
                .iter()
                .map(|(partition, _)| (*partition, Err(ReassignmentError::Store(error.clone()))))
                .collect(),
        }
    }

    /// A single node's answer: its own id is the only replica there is.
    fn reassign_alone(&self, topic: &str, targets: &[(i32, Target)]) -> Outcomes {
        let node_id = self.config.node_id;
        let image = self.metadata.image();
        let outcome = |partition: i32, target: &Target| {
            if !image.has_partition(topic, partition) {
                return Err(ReassignmentError::UnknownPartition(format!(
                    "{topic}:{partition}"
                )));
            }
            match target {
                Target::Cancel => Err(ReassignmentError::NoneInProgress),
                Target::Replicas(replicas) => check_target(replicas, |id| id == node_id),
            }
        };
        targets
            .iter()
            .map(|(partition, target)| (*partition, outcome(*partition, target)))
            .collect()
    }

    /// The reassignments in progress, by topic: of every topic (`asked` = `None`) or of the
    /// named partitions of the named topics (unknown ones are left out, as Kafka does).
    pub fn reassignments(
        &self,
        asked: Option<&[(String, Vec<i32>)]>,
    ) -> BTreeMap<String, Vec<Ongoing>> {
        let Some(node) = &self.cluster else {
            return BTreeMap::new();
        };
        let image = node.image();
        let wanted = |topic: &str, partition: i32| {
            asked.is_none_or(|asked| {
                asked
                    .iter()
                    .any(|(name, partitions)| name == topic && partitions.contains(&partition))
            })
        };
        let mut ongoing: BTreeMap<String, Vec<Ongoing>> = BTreeMap::new();
        for (name, topic) in &image.topics {
            for (index, replicas) in topic.replicas.iter().enumerate() {
                let partition = index as i32;
                let Some(current) = image.partition(topic, partition) else {
                    continue;
                };
                if !in_progress(&current.state) || !wanted(name, partition) {
                    continue;
                }
                ongoing.entry(name.clone()).or_default().push(Ongoing {
                    partition,
                    replicas: replicas.clone(),
                    adding: current.state.adding_replicas.clone(),
                    removing: current.state.removing_replicas.clone(),
                });
            }
        }
        ongoing
    }
}
