//! The controller's duties, done by whichever broker holds the controller key: keep every
//! partition led by a live in-sync replica. From each new image it plans [`Decision`]s —
//! elect a new leader when one dies, drop dead followers from the ISR, create states a topic
//! lacks, remove states whose topic is gone, complete partition reassignments whose new
//! replicas are in sync, and now and then give leadership back to preferred replicas — then commits each guarded by its partition's version and by the
//! controller key's revision, so a deposed controller's decisions change nothing.
//!
//! Planning is a pure function of the image, which the tests drive directly.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use super::image::{ClusterImage, Controller, Keys, Partition, PartitionState, NO_LEADER};
use super::kv::{Condition, Kv, KvError, Op};
use super::reassignment::plan_completions;
use super::topics::initial_state;

/// The topic config that allows electing a replica outside the ISR (losing what it lacks).
pub const UNCLEAN_LEADER_ELECTION: &str = "unclean.leader.election.enable";
/// Kafka's `leader.imbalance.check.interval.seconds` default.
pub const IMBALANCE_CHECK_INTERVAL_DEFAULT: Duration = Duration::from_secs(300);
/// Kafka's `leader.imbalance.per.broker.percentage` default.
pub const IMBALANCE_PERCENT_DEFAULT: u32 = 10;
/// Pause before planning again after the store failed a commit.
const RETRY_BACKOFF: Duration = Duration::from_millis(250);

/// How the controller elects leaders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerConfig {
    /// The broker's `unclean.leader.election.enable`; a topic's own setting overrides it.
    pub unclean_election: bool,
    /// `auto.leader.rebalance.enable`.
    pub auto_rebalance: bool,
    /// `leader.imbalance.check.interval.seconds`.
    pub imbalance_check_interval: Duration,
    /// `leader.imbalance.per.broker.percentage`: a broker leading fewer of the partitions it
    /// is preferred for than this share gets them back.
    pub imbalance_percent: u32,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            unclean_election: false,
            auto_rebalance: true,
            imbalance_check_interval: IMBALANCE_CHECK_INTERVAL_DEFAULT,
            imbalance_percent: IMBALANCE_PERCENT_DEFAULT,
        }
    }
}

/// Why a partition's state changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The leader died; an in-sync replica takes over.
    Failover,
    /// No in-sync replica is alive; an out-of-sync one leads (the topic allows it).
    Unclean,
    /// No replica can lead.
    Offline,
    /// Dead followers leave the ISR.
    IsrShrink,
    /// The preferred replica leads again.
    Preferred,
}

/// One change the controller makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A partition without a state gets its first one.
    Create {
        topic_id: Uuid,
        partition: i32,
        state: PartitionState,
    },
    /// A partition's state changes, if it is still at `version`.
    Change {
        topic_id: Uuid,
        partition: i32,
        version: i64,
        state: PartitionState,
        reason: Reason,
    },
    /// A state whose topic (or partition) no longer exists goes.
    Remove {
        topic_id: Uuid,
        partition: i32,
        version: i64,
    },
}

/// Why a preferred-leader election cannot happen (Kafka's ElectLeaders errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionError {
    /// ELECTION_NOT_NEEDED: the preferred replica leads already.
    NotNeeded,
    /// PREFERRED_LEADER_NOT_AVAILABLE: it is dead or out of sync.
    PreferredNotAvailable,
}

/// The state that makes the preferred replica (the first of `replicas`) the leader of
/// partition `key`.
pub fn preferred_election(
    replicas: &[i32],
    key: (Uuid, i32),
    partition: &Partition,
    image: &ClusterImage,
) -> Result<PartitionState, ElectionError> {
    let state = &partition.state;
    let preferred = *replicas
        .first()
        .ok_or(ElectionError::PreferredNotAvailable)?;
    if state.leader == preferred {
        return Err(ElectionError::NotNeeded);
    }
    if !image.hosts(preferred, key.0, key.1) || !state.isr.contains(&preferred) {
        return Err(ElectionError::PreferredNotAvailable);
    }
    let isr = state.isr.clone();
    Ok(elected(state, preferred, isr, image))
}

/// `state` at the next leader epoch, led by `leader` (a live broker) with `isr`.
fn elected(
    state: &PartitionState,
    leader: i32,
    isr: Vec<i32>,
    image: &ClusterImage,
) -> PartitionState {
    let leader_broker_epoch = image.broker_epoch(leader).unwrap_or_default();
    PartitionState {
        leader,
        leader_epoch: state.leader_epoch + 1,
        isr,
        leader_broker_epoch,
        ..state.clone()
    }
}

/// What keeps partition `key` (`partition` as the image has it) led by a live in-sync
/// replica, if anything must change. A replica its broker reported offline counts as dead.
fn next_state(
    replicas: &[i32],
    key: (Uuid, i32),
    partition: &Partition,
    image: &ClusterImage,
    unclean: bool,
) -> Option<(PartitionState, Reason)> {
    let state = &partition.state;
    let live = |id: &i32| image.hosts(*id, key.0, key.1);
    let leader_epoch_now = image.broker_epoch(state.leader);
    if live(&state.leader) && leader_epoch_now == Some(state.leader_broker_epoch) {
        let isr: Vec<i32> = state
            .isr
            .iter()
            .copied()
            .filter(|id| *id == state.leader || live(id))
            .collect();
        let shrunk = PartitionState {
            isr,
            ..state.clone()
        };
        return (shrunk != *state).then_some((shrunk, Reason::IsrShrink));
    }
    // The leader died, restarted (registered again since its election), or there is none.
    let restarted = Some(state.leader).filter(live);
    let live_isr: Vec<i32> = state.isr.iter().copied().filter(live).collect();
    // Replica order first, so the preferred replica wins when it is in sync; a restarted
    // leader only when no other in-sync replica is alive.
    let in_sync = replicas
        .iter()
        .chain(&live_isr)
        .copied()
        .find(|id| live_isr.contains(id) && Some(*id) != restarted)
        .or(restarted);
    if let Some(leader) = in_sync {
        let isr = live_isr
            .into_iter()
            .filter(|id| *id == leader || Some(*id) != restarted)
            .collect();
        return Some((elected(state, leader, isr, image), Reason::Failover));
    }
    if let Some(leader) = replicas.iter().copied().find(|id| unclean && live(id)) {
        return Some((elected(state, leader, vec![leader], image), Reason::Unclean));
    }
    // Keep the last ISR: its members hold everything acknowledged, so the first to come
    // back may lead.
    (state.leader != NO_LEADER).then(|| {
        let isr = state.isr.clone();
        let offline = PartitionState {
            leader: NO_LEADER,
            leader_epoch: state.leader_epoch + 1,
            isr,
            leader_broker_epoch: 0,
            ..state.clone()
        };
        (offline, Reason::Offline)
    })
}

/// Whether a topic with `configs` may elect a replica outside its ISR: its own
/// `unclean.leader.election.enable`, else the broker's (`default`).
pub fn unclean_allowed(configs: &BTreeMap<String, String>, default: bool) -> bool {
    configs
        .get(UNCLEAN_LEADER_ELECTION)
        .map_or(default, |value| value.trim().eq_ignore_ascii_case("true"))
}

/// Every change the image calls for now (preferred-leader rebalancing aside).
pub fn plan(image: &ClusterImage, config: &ControllerConfig) -> Vec<Decision> {
    let mut decisions = Vec::new();
    let topics_by_id: BTreeMap<Uuid, _> = image
        .topics
        .values()
        .map(|topic| (topic.id, topic))
        .collect();
    for (&(topic_id, partition), current) in &image.partitions {
        let replicas = topics_by_id
            .get(&topic_id)
            .and_then(|topic| topic.replicas.get(usize::try_from(partition).ok()?));
        let Some(replicas) = replicas else {
            let version = current.version;
            decisions.push(Decision::Remove {
                topic_id,
                partition,
                version,
            });
            continue;
        };
        let unclean = unclean_allowed(&topics_by_id[&topic_id].configs, config.unclean_election);
        let key = (topic_id, partition);
        if let Some((state, reason)) = next_state(replicas, key, current, image, unclean) {
            decisions.push(Decision::change(
                topic_id, partition, current, state, reason,
            ));
        }
    }
    for topic in image.topics.values() {
        for (index, replicas) in topic.replicas.iter().enumerate() {
            let partition = index as i32;
            if !image.partitions.contains_key(&(topic.id, partition)) {
                let state = initial_state(replicas, image);
                decisions.push(Decision::Create {
                    topic_id: topic.id,
                    partition,
                    state,
                });
            }
        }
    }
    decisions
}

/// Leadership handed back to preferred replicas, for every broker that does not lead more
/// than `imbalance_percent` % of the partitions it is preferred for.
pub fn plan_rebalance(image: &ClusterImage, imbalance_percent: u32) -> Vec<Decision> {
    // Per preferred broker: how many partitions prefer it, and those it does not lead.
    type NotLed<'a> = Vec<(Uuid, i32, &'a [i32], &'a Partition)>;
    let mut by_preferred: BTreeMap<i32, (usize, NotLed)> = BTreeMap::new();
    for topic in image.topics.values() {
        for (index, replicas) in topic.replicas.iter().enumerate() {
            let partition = index as i32;
            let current = image.partitions.get(&(topic.id, partition));
            let (Some(&preferred), Some(current)) = (replicas.first(), current) else {
                continue;
            };
            let (total, not_led) = by_preferred.entry(preferred).or_default();
            *total += 1;
            if current.state.leader != preferred {
                not_led.push((topic.id, partition, replicas, current));
            }
        }
    }
    by_preferred
        .into_values()
        .filter(|(total, not_led)| not_led.len() * 100 > total * imbalance_percent as usize)
        .flat_map(|(_, not_led)| not_led)
        .filter_map(|(topic_id, partition, replicas, current)| {
            let state = preferred_election(replicas, (topic_id, partition), current, image).ok()?;
            Some(Decision::change(
                topic_id,
                partition,
                current,
                state,
                Reason::Preferred,
            ))
        })
        .collect()
}

impl Decision {
    fn change(
        topic_id: Uuid,
        partition: i32,
        current: &Partition,
        state: PartitionState,
        reason: Reason,
    ) -> Self {
        let version = current.version;
        Decision::Change {
            topic_id,
            partition,
            version,
            state,
            reason,
        }
    }

    fn guard(&self, keys: &Keys) -> Condition {
        match self {
            Decision::Create {
                topic_id,
                partition,
                ..
            } => Condition::Absent(keys.partition(*topic_id, *partition)),
            Decision::Change {
                topic_id,
                partition,
                version,
                ..
            }
            | Decision::Remove {
                topic_id,
                partition,
                version,
            } => Condition::ModRevision(keys.partition(*topic_id, *partition), *version),
        }
    }

    fn op(&self, keys: &Keys) -> Op {
        match self {
            Decision::Create {
                topic_id,
                partition,
                state,
            }
            | Decision::Change {
                topic_id,
                partition,
                state,
                ..
            } => Op::Put {
                key: keys.partition(*topic_id, *partition),
                value: serde_json::to_vec(state).unwrap_or_default(),
                lease: None,
            },
            Decision::Remove {
                topic_id,
                partition,
                ..
            } => Op::Delete(keys.partition(*topic_id, *partition)),
        }
    }
}

/// The condition that `controller` still is the controller: its key's revision.
fn fence(keys: &Keys, controller: Controller) -> Condition {
    Condition::ModRevision(keys.controller(), controller.epoch)
}

/// Commits `decisions` as `controller`, each guarded by its partition's version and all by
/// the controller key's revision ([`Kv::commit_each`]). Returns how many applied.
pub async fn execute(
    kv: &Kv,
    keys: &Keys,
    controller: Controller,
    decisions: &[Decision],
) -> Result<usize, KvError> {
    let still_controller = fence(keys, controller);
    let writes = decisions
        .iter()
        .map(|decision| (decision.guard(keys), decision.op(keys)))
        .collect();
    kv.commit_each(&[still_controller], writes).await
}

/// While this broker is the controller, plans and commits from every new image, and checks
/// the leader balance every `imbalance_check_interval`.
pub async fn run(
    kv: Kv,
    keys: Keys,
    node_id: i32,
    config: ControllerConfig,
    mut image: watch::Receiver<Arc<ClusterImage>>,
) {
    let mut next_balance_check = Instant::now() + config.imbalance_check_interval;
    loop {
        let current = Arc::clone(&image.borrow_and_update());
        let controller = current.controller.filter(|c| c.node_id == node_id);
        if let Some(controller) = controller {
            let mut decisions = plan(&current, &config);
            if Instant::now() >= next_balance_check {
                next_balance_check = Instant::now() + config.imbalance_check_interval;
                if decisions.is_empty() && config.auto_rebalance {
                    decisions = plan_rebalance(&current, config.imbalance_percent);
                }
            }
            log_decisions(&decisions);
            let completions = plan_completions(&current);
            let committed = async {
                execute(&kv, &keys, controller, &decisions).await?;
                for moves in &completions {
                    let partitions: Vec<i32> = moves.states.iter().map(|(p, ..)| *p).collect();
                    let fenced = [fence(&keys, controller)];
                    if moves.commit(&kv, &keys, &fenced).await?.is_some() {
                        tracing::info!(topic = %moves.topic, ?partitions, "reassignment completed");
                    }
                }
                Ok::<_, KvError>(())
            };
            if let Err(error) = committed.await {
                tracing::warn!(%error, "controller cannot commit its decisions; retrying");
                tokio::time::sleep(RETRY_BACKOFF).await;
                continue;
            }
        }
        tokio::select! {
            changed = image.changed() => if changed.is_err() { return },
            () = tokio::time::sleep_until(next_balance_check) => {}
        }
    }
}

fn log_decisions(decisions: &[Decision]) {
    for decision in decisions {
        match decision {
            Decision::Change {
                topic_id,
                partition,
                state,
                reason,
                ..
            } => tracing::info!(
                %topic_id, partition, leader = state.leader, leader_epoch = state.leader_epoch,
                isr = ?state.isr, ?reason, "partition state change"
            ),
            Decision::Create {
                topic_id,
                partition,
                state,
            } => tracing::debug!(
                %topic_id, partition, leader = state.leader, "partition state created"
            ),
            Decision::Remove {
                topic_id,
                partition,
                ..
            } => {
                tracing::debug!(%topic_id, partition, "state of a deleted partition removed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::image::{BrokerRegistration, TopicRecord};

    const TOPIC: Uuid = Uuid::from_u128(7);

    /// A state whose leader (if any) was elected at its current broker epoch, 1.
    fn state(leader: i32, leader_epoch: i32, isr: impl Into<Vec<i32>>) -> PartitionState {
        let leader_broker_epoch = if leader == NO_LEADER { 0 } else { 1 };
        PartitionState {
            leader,
            leader_epoch,
            isr: isr.into(),
            leader_broker_epoch,
            ..PartitionState::default()
        }
    }

    /// Brokers `live` registered, one topic with `replicas`, its partitions in `states`
    /// (leader, isr), each at version 10 and leader epoch 3.
    fn image(live: &[i32], replicas: &[&[i32]], states: &[(i32, &[i32])]) -> ClusterImage {
        let mut image = ClusterImage::with_brokers(live);
        let topic = TopicRecord {
            id: TOPIC,
            replicas: replicas.iter().map(|replicas| replicas.to_vec()).collect(),
            configs: BTreeMap::new(),
        };
        image.topics.insert("t".into(), topic);
        for (partition, (leader, isr)) in states.iter().enumerate() {
            let state = state(*leader, 3, isr.to_vec());
            image
                .partitions
                .insert((TOPIC, partition as i32), Partition { state, version: 10 });
        }
        image
    }

    fn change(
        partition: i32,
        leader: i32,
        leader_epoch: i32,
        isr: &[i32],
        reason: Reason,
    ) -> Decision {
        let state = state(leader, leader_epoch, isr.to_vec());
        Decision::Change {
            topic_id: TOPIC,
            partition,
            version: 10,
            state,
            reason,
        }
    }

    #[test]
    fn a_dead_leader_is_replaced_by_the_first_live_in_sync_replica_with_a_new_epoch() {
        let image = image(
            &[2, 3],
            &[&[1, 2, 3], &[2, 1, 3]],
            &[(1, &[1, 3, 2]), (2, &[2, 1, 3])],
        );
        let config = ControllerConfig::default();
        assert_eq!(
            plan(&image, &config),
            [
                // Replica order decides, not ISR order.
                change(0, 2, 4, &[3, 2], Reason::Failover),
                // A live leader keeps its epoch; only the dead follower leaves the ISR.
                change(1, 2, 3, &[2, 3], Reason::IsrShrink),
            ]
        );
    }

    #[test]
    fn a_leader_that_registered_again_since_its_election_is_replaced() {
        // Broker 1 restarted within a session: the image never showed it gone, but its
        // registration (epoch 2) is newer than the one it was elected at (1).
        let mut image = image(&[1, 2], &[&[1, 2], &[1]], &[(1, &[1, 2]), (1, &[1])]);
        image.broker_epochs.insert(1, 2);
        let again = PartitionState {
            leader_broker_epoch: 2,
            ..state(1, 4, vec![1])
        };
        let config = ControllerConfig::default();
        assert_eq!(
            plan(&image, &config),
            [
                // Another in-sync replica takes over; the restarted one leaves the ISR.
                change(0, 2, 4, &[2], Reason::Failover),
                // The only in-sync replica is elected anew, at its new broker epoch.
                Decision::change(
                    TOPIC,
                    1,
                    &image.partitions[&(TOPIC, 1)],
                    again,
                    Reason::Failover
                ),
            ]
        );
    }

    #[test]
    fn a_replica_its_broker_reported_offline_counts_as_dead_for_that_partition_only() {
        // Broker 1 cannot write its replica of partition 0, which it leads, nor broker 3
        // its replica of partition 1.
        let mut image = image(
            &[1, 2, 3],
            &[&[1, 2, 3], &[1, 2, 3]],
            &[(1, &[1, 2, 3]), (1, &[1, 2, 3])],
        );
        let offline = |broker: &mut BrokerRegistration, partition| {
            broker.offline.push((TOPIC, partition));
        };
        offline(image.brokers.get_mut(&1).expect("broker 1"), 0);
        offline(image.brokers.get_mut(&3).expect("broker 3"), 1);
        assert_eq!(
            plan(&image, &ControllerConfig::default()),
            [
                change(0, 2, 4, &[2, 3], Reason::Failover),
                change(1, 1, 3, &[1, 2], Reason::IsrShrink),
            ]
        );
    }

    #[test]
    fn with_no_live_in_sync_replica_the_partition_goes_offline_keeping_its_last_isr() {
        let mut image = image(&[2], &[&[1, 2]], &[(1, &[1])]);
        let config = ControllerConfig::default();
        assert_eq!(
            plan(&image, &config),
            [change(0, NO_LEADER, 4, &[1], Reason::Offline)]
        );

        // Offline stays offline without a decision a cycle.
        let offline = state(NO_LEADER, 4, vec![1]);
        image.partitions.insert(
            (TOPIC, 0),
            Partition {
                state: offline,
                version: 10,
            },
        );
        assert_eq!(plan(&image, &config), []);

        // The last in-sync replica coming back leads again.
        image.brokers.insert(1, image.brokers[&2].clone());
        image.broker_epochs.insert(1, 1);
        assert_eq!(
            plan(&image, &config),
            [change(0, 1, 5, &[1], Reason::Failover)]
        );
    }

    #[test]
    fn unclean_election_needs_the_topic_or_broker_to_allow_it() {
        let mut image = image(&[2], &[&[1, 2]], &[(1, &[1])]);
        let unclean = ControllerConfig {
            unclean_election: true,
            ..ControllerConfig::default()
        };
        assert_eq!(
            plan(&image, &unclean),
            [change(0, 2, 4, &[2], Reason::Unclean)]
        );
        let topic = image.topics.get_mut("t").expect("topic");
        topic
            .configs
            .insert(UNCLEAN_LEADER_ELECTION.into(), "false".into());
        assert_eq!(
            plan(&image, &unclean),
            [change(0, NO_LEADER, 4, &[1], Reason::Offline)]
        );
    }

    #[test]
    fn missing_states_are_created_and_orphans_removed() {
        let mut image = image(&[1, 2], &[&[1, 2], &[2, 1]], &[(1, &[1, 2])]);
        let orphan = image.partitions[&(TOPIC, 0)].clone();
        image
            .partitions
            .insert((Uuid::from_u128(8), 0), orphan.clone());
        image.partitions.insert((TOPIC, 5), orphan);
        let state = state(2, 0, vec![2, 1]);
        assert_eq!(
            plan(&image, &ControllerConfig::default()),
            [
                Decision::Remove {
                    topic_id: TOPIC,
                    partition: 5,
                    version: 10
                },
                Decision::Remove {
                    topic_id: Uuid::from_u128(8),
                    partition: 0,
                    version: 10
                },
                Decision::Create {
                    topic_id: TOPIC,
                    partition: 1,
                    state
                },
            ]
        );
    }

    #[test]
    fn rebalancing_returns_leadership_to_in_sync_preferred_replicas_past_the_threshold() {
        let replicas: &[&[i32]] = &[&[1, 2], &[1, 2], &[2, 1], &[2, 1]];
        // Broker 1 leads none of its two; broker 2 leads both of its own.
        let image = image(
            &[1, 2],
            replicas,
            &[(2, &[1, 2]), (2, &[2]), (2, &[2, 1]), (2, &[2, 1])],
        );
        assert_eq!(
            plan_rebalance(&image, 10),
            [change(0, 1, 4, &[1, 2], Reason::Preferred)]
        );
        // Kafka moves leaders only when the share not led exceeds the threshold.
        assert_eq!(plan_rebalance(&image, 100), []);
        let current = &image.partitions[&(TOPIC, 2)];
        assert_eq!(
            preferred_election(&[2, 1], (TOPIC, 2), current, &image),
            Err(ElectionError::NotNeeded)
        );
        let current = &image.partitions[&(TOPIC, 1)];
        assert_eq!(
            preferred_election(&[1, 2], (TOPIC, 1), current, &image),
            Err(ElectionError::PreferredNotAvailable)
        );
    }
}
