//! Cluster membership on a real etcd (started on free loopback ports): brokers register on
//! leases, agree on one cluster id and one controller, a dead controller is replaced within a
//! session timeout with a larger epoch, a broker that leaves is gone at once, and an etcd
//! restart under the brokers costs them neither their sessions nor their view of the cluster;
//! the controller moves partition leadership off a dead broker; leaders change their ISR by
//! compare-and-swap and producer-id blocks never overlap.

use std::time::{Duration, Instant};

use compat_tests::etcd::SpawnedEtcd;
use spool::cluster::alter_partition::{alter_isr, AlterIsr, AlterPartitionError};
use spool::cluster::producer_ids::{allocate_block, PRODUCER_ID_BLOCK_SIZE};
use spool::cluster::topics::{create_topic, NewTopic};
use spool::cluster::{
    BrokerRegistration, ClusterConfig, ClusterError, ClusterImage, ClusterUrl, Keys, Membership,
};

/// etcd's smallest lease ttl with its default timings is 2 s; 3 s keeps the test short.
const SESSION: Duration = Duration::from_secs(3);
/// How long a change may take to reach every broker's image.
const PROPAGATION: Duration = Duration::from_secs(10);

fn config(url: &ClusterUrl, node_id: i32) -> ClusterConfig {
    ClusterConfig {
        node_id,
        root: url.root.clone(),
        session_timeout: SESSION,
        registration: BrokerRegistration {
            node_id,
            host: "127.0.0.1".into(),
            port: 19_000 + node_id as u16,
            rack: Some(format!("rack-{}", node_id % 2)),
            listeners: Vec::new(),
            offline: Vec::new(),
        },
        new_cluster_id: format!("cluster-from-node-{node_id}"),
        controller: Default::default(),
    }
}

async fn join(url: &ClusterUrl, node_id: i32) -> Result<Membership, ClusterError> {
    let kv = url.connect().await?;
    Membership::join(kv, &config(url, node_id)).await
}

async fn join_all(url: &ClusterUrl, ids: &[i32]) -> Vec<Membership> {
    let mut members = Vec::new();
    for &id in ids {
        members.push(join(url, id).await.expect("joins"));
    }
    members
}

/// The cluster URL of a test's own key root on `etcd`.
fn cluster_url(etcd: &SpawnedEtcd, root: &str) -> ClusterUrl {
    ClusterUrl::parse(&etcd.cluster_url(root)).expect("cluster url")
}

#[tokio::test]
async fn brokers_agree_on_the_cluster_id_and_one_controller_and_a_dead_one_is_replaced() {
    let etcd = SpawnedEtcd::start();
    let url = cluster_url(&etcd, "membership");
    let mut members = join_all(&url, &[1, 2, 3]).await;
    let mut controller = None;
    for member in &members {
        let image = member
            .wait_for(PROPAGATION, |image| {
                image.brokers.len() == 3 && image.controller.is_some()
            })
            .await
            .expect("three brokers and a controller in every image");
        assert_eq!(image.cluster_id.as_deref(), Some("cluster-from-node-1"));
        assert_eq!(image.brokers[&3].rack.as_deref(), Some("rack-1"));
        assert!(controller.is_none() || controller == image.controller);
        controller = image.controller;
    }
    let first = controller.expect("a controller");
    assert_eq!(
        members
            .iter()
            .filter(|member| member.is_controller())
            .count(),
        1
    );

    // kill -9 of the controller: its lease is simply no longer renewed.
    let at = members
        .iter()
        .position(|member| member.node_id() == first.node_id)
        .expect("the controller is a member");
    drop(members.remove(at));
    let killed = Instant::now();
    let image = members[0]
        .wait_for(PROPAGATION, |image| {
            image
                .controller
                .is_some_and(|next| next.node_id != first.node_id)
        })
        .await
        .expect("a new controller");
    let failover = killed.elapsed();
    assert!(
        failover <= SESSION + Duration::from_secs(2),
        "failover took {failover:?}"
    );
    assert!(!image.brokers.contains_key(&first.node_id));
    let next = image.controller.expect("controller");
    assert!(next.epoch > first.epoch, "{next:?} after {first:?}");
    eprintln!("controller failover after kill: {failover:?}");

    // A clean leave is seen at once, not a session later.
    let leaving = members.pop().expect("two left");
    let left_id = leaving.node_id();
    let left = Instant::now();
    leaving.leave().await;
    members[0]
        .wait_for(PROPAGATION, |image| !image.brokers.contains_key(&left_id))
        .await
        .expect("the broker that left is gone");
    assert!(left.elapsed() < SESSION, "leave took {:?}", left.elapsed());
}

#[tokio::test]
async fn a_live_node_id_is_refused_to_a_second_broker() {
    let etcd = SpawnedEtcd::start();
    let url = cluster_url(&etcd, "duplicates");
    let _live = join(&url, 7).await.expect("joins");
    match join(&url, 7).await {
        Err(ClusterError::DuplicateNodeId(7)) => {}
        other => panic!("a second node 7 joined: {other:?}"),
    }
}

#[tokio::test]
async fn an_etcd_restart_keeps_sessions_and_the_image_follows_changes_after_it() {
    let mut etcd = SpawnedEtcd::start();
    let url = cluster_url(&etcd, "restart");
    let members = join_all(&url, &[1, 2]).await;
    members[1]
        .wait_for(PROPAGATION, |image| {
            image.brokers.len() == 2 && image.controller.is_some()
        })
        .await
        .expect("both brokers and a controller");
    let before = members[1].image().controller;

    etcd.restart();

    // New changes after the restart reach the brokers' images (the watches resumed).
    let _third = join(&url, 3).await.expect("joins after the restart");
    for member in &members {
        member
            .wait_for(PROPAGATION, |image| image.brokers.len() == 3)
            .await
            .expect("the broker that joined after the restart is seen");
        assert!(member.is_registered());
    }
    // The restart was shorter than a session: the same controller, no new election.
    assert_eq!(members[0].image().controller, before);
}

#[tokio::test]
async fn partitions_get_new_leaders_from_their_isr_when_a_broker_dies() {
    let etcd = SpawnedEtcd::start();
    let url = cluster_url(&etcd, "failover");
    let mut members = join_all(&url, &[1, 2, 3]).await;
    members[0]
        .wait_for(PROPAGATION, |image| image.brokers.len() == 3)
        .await
        .expect("three brokers");
    let kv = url.connect().await.expect("connects");
    let keys = Keys::new(&url.root);
    // More partitions than one etcd transaction may write.
    let new = NewTopic {
        name: "orders".into(),
        partitions: 300,
        replication_factor: 3,
        assignment: None,
        configs: Default::default(),
    };
    let topic = create_topic(&kv, &keys, &members[0].image(), new)
        .await
        .expect("created");
    let partitions_of = |image: &ClusterImage| {
        image
            .partitions
            .range((topic.id, 0)..=(topic.id, i32::MAX))
            .map(|(_, partition)| partition.state.clone())
            .collect::<Vec<_>>()
    };
    let before = members[0]
        .wait_for(PROPAGATION, |image| partitions_of(image).len() == 300)
        .await
        .map(|image| partitions_of(&image))
        .expect("every partition has a state");

    let victim = members.remove(1);
    let dead = victim.node_id();
    drop(victim);
    let killed = Instant::now();
    let after = members[0]
        .wait_for(PROPAGATION, |image| {
            partitions_of(image)
                .iter()
                .all(|state| state.leader != dead && !state.isr.contains(&dead))
        })
        .await
        .map(|image| partitions_of(&image))
        .expect("no partition led by or in sync with the dead broker");
    eprintln!(
        "300 partitions moved off broker {dead} after {:?}",
        killed.elapsed()
    );
    assert!(killed.elapsed() <= SESSION + Duration::from_secs(3));
    for (old, new) in before.iter().zip(&after) {
        assert!(new.isr.contains(&new.leader));
        let moved = old.leader == dead;
        assert_eq!(new.leader_epoch, old.leader_epoch + i32::from(moved));
    }
}

#[tokio::test]
async fn leaders_alter_their_isr_and_brokers_share_producer_id_blocks_on_etcd() {
    let etcd = SpawnedEtcd::start();
    let url = cluster_url(&etcd, "isr");
    let members = join_all(&url, &[1, 2]).await;
    let kv = url.connect().await.expect("connects");
    let keys = Keys::new(&url.root);
    let image = members[0]
        .wait_for(PROPAGATION, |image| image.brokers.len() == 2)
        .await
        .expect("two brokers");
    let new = NewTopic {
        name: "isr".into(),
        partitions: 1,
        replication_factor: 0,
        assignment: Some(vec![vec![1, 2]]),
        configs: Default::default(),
    };
    let topic = create_topic(&kv, &keys, &image, new)
        .await
        .expect("created");
    let image = members[0]
        .wait_for(PROPAGATION, |image| image.partition(&topic, 0).is_some())
        .await
        .expect("the partition's state");
    let read = image.partition(&topic, 0).expect("state").clone();
    let shrink = AlterIsr {
        leader: 1,
        partition: 0,
        leader_epoch: read.state.leader_epoch,
        version: read.version,
        isr: vec![1],
    };
    let shrunk = alter_isr(&kv, &keys, &image, &topic, shrink.clone())
        .await
        .expect("the leader shrinks its ISR");
    // The version etcd answered with is the one every broker's image shows next.
    members[1]
        .wait_for(PROPAGATION, |image| {
            image.partition(&topic, 0) == Some(&shrunk)
        })
        .await
        .expect("the shrink reaches the other broker");
    assert_eq!(
        alter_isr(&kv, &keys, &image, &topic, shrink).await,
        Err(AlterPartitionError::InvalidUpdateVersion(read.version))
    );

    let first = allocate_block(&kv, &keys, PRODUCER_ID_BLOCK_SIZE)
        .await
        .expect("a block");
    let second = allocate_block(&url.connect().await.expect("connects"), &keys, 10)
        .await
        .expect("another block");
    assert_eq!((first.start, second.start, second.end), (0, 1000, 1010));
}
