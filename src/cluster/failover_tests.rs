//! Brokers, topics and the controller together on the in-memory store with tokio's paused
//! clock: leaders move off dead brokers within a session timeout, and seeded schedules of
//! kills and restarts keep the partition invariants (a failing seed replays exactly).

#![cfg(test)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

use super::controller::{plan, ControllerConfig};
use super::image::{ClusterImage, Keys, NO_LEADER};
use super::kv::Kv;
use super::membership::Membership;
use super::memory::MemoryKv;
use super::topics::{create_topic, NewTopic};
use super::ClusterConfig;

const SESSION: Duration = Duration::from_secs(3);
const ROOT: &str = "/sim";

async fn join(kv: &Kv, node_id: i32) -> Membership {
    Membership::join(kv.clone(), &ClusterConfig::for_test(node_id, ROOT, SESSION))
        .await
        .expect("joins")
}

/// Waits until the image shows `live` brokers registered, `topics` topics, a controller, and
/// nothing left to plan.
async fn settled(member: &Membership, live: usize, topics: usize) -> Arc<ClusterImage> {
    let config = ControllerConfig::default();
    member
        .wait_for(SESSION * 3, |image| {
            image.brokers.len() == live
                && image.topics.len() == topics
                && image.controller.is_some()
                && plan(image, &config).is_empty()
        })
        .await
        .expect("the cluster settles")
}

async fn new_topic(kv: &Kv, member: &Membership, partitions: i32, factor: i16) -> Uuid {
    let topic = NewTopic {
        name: "events".into(),
        partitions,
        replication_factor: factor,
        assignment: None,
        configs: BTreeMap::new(),
    };
    create_topic(kv, &Keys::new(ROOT), &member.image(), topic)
        .await
        .expect("created")
        .id
}

/// Leaders per partition of the one topic.
fn leaders(image: &ClusterImage, topic: Uuid) -> Vec<i32> {
    image
        .partitions
        .range((topic, 0)..=(topic, i32::MAX))
        .map(|(_, partition)| partition.state.leader)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn leaders_move_off_a_dead_broker_within_a_session_timeout() {
    let kv = Kv::Memory(Arc::new(MemoryKv::new()));
    let mut members = vec![join(&kv, 1).await, join(&kv, 2).await, join(&kv, 3).await];
    settled(&members[0], 3, 0).await;
    let topic = new_topic(&kv, &members[0], 6, 3).await;
    let before = settled(&members[0], 3, 1).await;
    let mut led = leaders(&before, topic);
    led.sort_unstable();
    assert_eq!(led, [1, 1, 2, 2, 3, 3], "leadership spreads evenly");

    let victim = members.remove(1);
    drop(victim);
    let killed = Instant::now();
    let after = settled(&members[0], 2, 1).await;
    assert!(killed.elapsed() <= SESSION + SESSION / 3 + Duration::from_millis(10));
    for (key, partition) in after.partitions.range((topic, 0)..=(topic, i32::MAX)) {
        let old = &before.partitions[key].state;
        let state = &partition.state;
        assert_ne!(state.leader, 2);
        assert!(state.isr.contains(&state.leader) && !state.isr.contains(&2));
        let moved = old.leader == 2;
        assert_eq!(
            state.leader_epoch,
            old.leader_epoch + i32::from(moved),
            "{key:?}"
        );
    }
}

/// xorshift64*: a seeded, dependency-free source of schedule choices.
struct Schedule(u64);

impl Schedule {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound
    }
}

/// Checks the partition invariants of a settled image; `epochs` holds each partition's
/// largest leader epoch seen so far.
fn check_invariants(
    image: &ClusterImage,
    topic: Uuid,
    epochs: &mut BTreeMap<i32, i32>,
    seed: u64,
    step: usize,
) {
    let replicas = &image.topics["events"].replicas;
    for (&(_, partition), current) in image.partitions.range((topic, 0)..=(topic, i32::MAX)) {
        let state = &current.state;
        let context = format!("seed {seed} step {step} partition {partition}: {state:?}");
        let assigned = &replicas[partition as usize];
        assert!(!state.isr.is_empty(), "{context}");
        assert!(
            state.isr.iter().all(|id| assigned.contains(id)),
            "{context}"
        );
        if state.leader == NO_LEADER {
            let live_in_sync = state.isr.iter().any(|id| image.brokers.contains_key(id));
            assert!(
                !live_in_sync,
                "a live in-sync replica should lead: {context}"
            );
        } else {
            assert!(image.brokers.contains_key(&state.leader), "{context}");
            assert!(state.isr.contains(&state.leader), "{context}");
        }
        let seen = epochs.entry(partition).or_insert(state.leader_epoch);
        assert!(
            state.leader_epoch >= *seen,
            "leader epoch went back: {context}"
        );
        *seen = state.leader_epoch;
    }
}

#[tokio::test(start_paused = true)]
async fn seeded_kill_and_restart_schedules_keep_the_partition_invariants() {
    const BROKERS: i32 = 5;
    const STEPS: usize = 25;
    for seed in 1..=12u64 {
        let kv = Kv::Memory(Arc::new(MemoryKv::new()));
        let mut live: BTreeMap<i32, Membership> = BTreeMap::new();
        for id in 1..=BROKERS {
            live.insert(id, join(&kv, id).await);
        }
        let any = live.values().next().expect("brokers");
        settled(any, live.len(), 0).await;
        let topic = new_topic(&kv, any, 12, 3).await;
        let mut schedule = Schedule(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut epochs = BTreeMap::new();
        for step in 0..STEPS {
            let id = schedule.below(BROKERS as u64) as i32 + 1;
            match live.remove(&id) {
                // kill -9: the session just stops being renewed.
                Some(member) => drop(member),
                None => {
                    live.insert(id, join(&kv, id).await);
                }
            }
            tokio::time::sleep(SESSION * schedule.below(3) as u32 / 2).await;
            if let Some(observer) = live.values().next() {
                let image = settled(observer, live.len(), 1).await;
                check_invariants(&image, topic, &mut epochs, seed, step);
                let controller = image.controller.map(|controller| controller.node_id);
                assert!(
                    controller.is_some_and(|id| live.contains_key(&id)),
                    "seed {seed} step {step}"
                );
                let controllers = live.values().filter(|member| member.is_controller());
                assert!(controllers.count() <= 1, "seed {seed} step {step}");
            }
        }
    }
}
