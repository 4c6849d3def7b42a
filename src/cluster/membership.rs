//! A broker's membership in the cluster: it keeps a [`ClusterImage`] current from a watch,
//! holds a session (a lease its registration lives on, renewed every third of the session
//! timeout), campaigns for controller whenever there is none, and does the controller's
//! duties while it is the one (`controller::run`).
//!
//! When the session is lost (the lease expired while the broker was paused, cut off or etcd
//! was unreachable for a whole session timeout) the broker stops counting as a member at
//! once — [`Membership::is_registered`] turns false before anyone else can see the key go —
//! and registers again under a new lease.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

use super::alter_partition::{alter_isr, AlterIsr, AlterPartitionError};
use super::broker_configs;
use super::controller;
use super::elections::{elect, ElectionKind, ElectionRefused};
use super::image::{
    BrokerRegistration, ClusterImage, ControllerRecord, Keys, Partition, PartitionState,
    TopicRecord,
};
use super::kv::{Condition, Kv, KvError, LeaseId, Op};
use super::producer_ids::{allocate_block, PRODUCER_ID_BLOCK_SIZE};
use super::reassignment::{self, Altered, Target};
use super::topics::{self, NewTopic, TopicError};
use super::{ClusterConfig, ClusterError};
use crate::acl::AclBinding;
use crate::quota::StoredQuotas;
use crate::sasl::UserScramCredentials;

/// A block of producer ids being taken from the store.
pub type ProducerIdBlock = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<std::ops::Range<i64>, KvError>> + Send>,
>;

/// Pause before retrying a store call that failed (etcd down or without quorum).
const RETRY_BACKOFF: Duration = Duration::from_millis(250);

/// Until when this broker's lease surely lives: when the last grant or renewal that
/// succeeded was asked for, plus the session timeout, less a tenth of it in case this host's
/// clock runs slower than etcd's. The store counts from when it received the request, later
/// than that, so the broker stops counting itself a member before anyone else can see its
/// lease expire — however long a failing renewal call hangs.
#[derive(Debug, Clone)]
struct LeaseDeadline(Arc<Mutex<Instant>>);

impl LeaseDeadline {
    fn new(asked: Instant, session_timeout: Duration) -> Self {
        Self(Arc::new(Mutex::new(Self::from(asked, session_timeout))))
    }

    fn from(asked: Instant, session_timeout: Duration) -> Instant {
        asked + session_timeout - session_timeout / 10
    }

    fn lock(&self) -> MutexGuard<'_, Instant> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn extend(&self, asked: Instant, session_timeout: Duration) {
        let mut deadline = self.lock();
        *deadline = (*deadline).max(Self::from(asked, session_timeout));
    }

    fn passed(&self) -> bool {
        Instant::now() >= *self.lock()
    }
}

/// The session as the broker knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// Not (or no longer) registered.
    Lost,
    /// Registered under this lease.
    Registered(LeaseId),
}

/// A broker's handle on the cluster.
#[derive(Debug)]
pub struct Membership {
    kv: Kv,
    keys: Keys,
    node_id: i32,
    image: watch::Receiver<Arc<ClusterImage>>,
    session: watch::Receiver<Session>,
    session_timeout: Duration,
    lease_deadline: LeaseDeadline,
    /// What this broker registers, with the partitions it reported offline.
    registration: Arc<Mutex<BrokerRegistration>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Membership {
    /// Joins the cluster: starts the image watch, makes sure the cluster has an id, and
    /// registers this broker. A previous run of this broker that was killed may still hold
    /// the registration: joining waits out its session (up to twice the timeout) and fails
    /// with `DuplicateNodeId` if another broker keeps it.
    pub async fn join(kv: Kv, config: &ClusterConfig) -> Result<Self, ClusterError> {
        let keys = Keys::new(&config.root);
        let (image_sender, image) = watch::channel(Arc::new(ClusterImage::default()));
        let watcher = tokio::spawn(keep_image_current(kv.clone(), keys.clone(), image_sender));
        let result = Self::register_first(&kv, &keys, config, image.clone()).await;
        let (lease, asked) = match result {
            Ok(granted) => granted,
            Err(error) => {
                watcher.abort();
                return Err(error);
            }
        };
        let (session_sender, session) = watch::channel(Session::Registered(lease));
        let lease_deadline = LeaseDeadline::new(asked, config.session_timeout);
        let registration = Arc::new(Mutex::new(config.registration.clone()));
        let keeper = tokio::spawn(keep_session(
            kv.clone(),
            keys.clone(),
            config.clone(),
            Arc::clone(&registration),
            lease,
            session_sender,
            lease_deadline.clone(),
        ));
        let campaign = tokio::spawn(campaign(
            kv.clone(),
            keys.clone(),
            config.node_id,
            image.clone(),
            session.clone(),
        ));
        let controller = tokio::spawn(controller::run(
            kv.clone(),
            keys.clone(),
            config.node_id,
            config.controller.clone(),
            image.clone(),
        ));
        Ok(Self {
            kv,
            keys,
            node_id: config.node_id,
            image,
            session,
            session_timeout: config.session_timeout,
            lease_deadline,
            registration,
            tasks: vec![watcher, keeper, campaign, controller],
        })
    }

    async fn register_first(
        kv: &Kv,
        keys: &Keys,
        config: &ClusterConfig,
        mut image: watch::Receiver<Arc<ClusterImage>>,
    ) -> Result<(LeaseId, Instant), ClusterError> {
        let cluster_id = vec![Op::Put {
            key: keys.cluster_id(),
            value: config.new_cluster_id.clone().into_bytes(),
            lease: None,
        }];
        kv.commit(vec![Condition::Absent(keys.cluster_id())], cluster_id)
            .await?;
        let deadline = Instant::now() + config.session_timeout * 2;
        loop {
            if let Some(granted) = register_anew(kv, keys, config, &config.registration).await? {
                tracing::info!(node_id = config.node_id, "registered in the cluster");
                return Ok(granted);
            }
            if Instant::now() >= deadline {
                return Err(ClusterError::DuplicateNodeId(config.node_id));
            }
            tracing::info!(
                node_id = config.node_id,
                "node id still registered (a previous run's session?); waiting for it to expire"
            );
            let registered =
                |image: &Arc<ClusterImage>| image.brokers.contains_key(&config.node_id);
            let _ =
                tokio::time::timeout_at(deadline, image.wait_for(|image| !registered(image))).await;
        }
    }

    /// The cluster as last seen.
    pub fn image(&self) -> Arc<ClusterImage> {
        Arc::clone(&self.image.borrow())
    }

    /// A receiver that wakes on every change of the image.
    pub fn subscribe(&self) -> watch::Receiver<Arc<ClusterImage>> {
        self.image.clone()
    }

    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    /// Whether this broker's session surely lives: registered, and its lease renewed
    /// recently enough that the store cannot have expired it yet. A leader checks this before
    /// it acknowledges a write.
    pub fn is_registered(&self) -> bool {
        matches!(*self.session.borrow(), Session::Registered(_)) && !self.lease_deadline.passed()
    }

    /// Whether this broker is the controller, by its live session and the image.
    pub fn is_controller(&self) -> bool {
        self.is_registered()
            && self
                .image()
                .controller
                .is_some_and(|controller| controller.node_id == self.node_id)
    }

    /// Waits until the image satisfies `condition` or `timeout` passes; returns the image.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        condition: impl Fn(&ClusterImage) -> bool,
    ) -> Option<Arc<ClusterImage>> {
        let mut image = self.image.clone();
        let found = tokio::time::timeout(timeout, image.wait_for(|image| condition(image))).await;
        match found {
            Ok(Ok(image)) => Some(Arc::clone(&image)),
            _ => None,
        }
    }

    /// Tells the cluster which partitions (topic id, index; sorted) this broker can no
    /// longer write: its registration lists them, so the controller moves their leadership
    /// and drops them from their ISRs. Nothing is written while the image already shows
    /// them, or while the broker is not registered (registering again lists them). Returns
    /// whether the store changed.
    pub async fn report_offline(&self, offline: &[(Uuid, i32)]) -> Result<bool, KvError> {
        let image = self.image();
        let reported = image.brokers.get(&self.node_id).map(|b| &b.offline);
        let Session::Registered(lease) = *self.session.borrow() else {
            return Ok(false);
        };
        if reported.is_none_or(|reported| reported.as_slice() == offline) {
            return Ok(false);
        }
        let registration = {
            let mut registration = self
                .registration
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            registration.offline = offline.to_vec();
            registration.clone()
        };
        let put = registration_put(&self.keys, &registration, lease);
        self.kv.commit(Vec::new(), vec![put]).await
    }

    /// Creates a topic in the store (as of the image last seen).
    pub async fn create_topic(&self, new: NewTopic) -> Result<TopicRecord, TopicError> {
        topics::create_topic(&self.kv, &self.keys, &self.image(), new).await
    }

    /// Deletes a topic from the store.
    pub async fn delete_topic(&self, name: &str) -> Result<TopicRecord, TopicError> {
        topics::delete_topic(&self.kv, &self.keys, &self.image(), name).await
    }

    /// Changes a topic's record (configs, added partitions) by compare-and-swap.
    pub async fn update_topic<E: From<TopicError>>(
        &self,
        name: &str,
        change: impl Fn(&TopicRecord) -> Result<TopicRecord, E>,
    ) -> Result<TopicRecord, E> {
        topics::update_topic(&self.kv, &self.keys, &self.image(), name, change).await
    }

    /// Changes the dynamic configs of broker `node_id` (`None`: the cluster default) by
    /// compare-and-swap; returns what was stored.
    pub async fn update_broker_configs<E: From<KvError>>(
        &self,
        node_id: Option<i32>,
        change: impl Fn(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, E>,
    ) -> Result<BTreeMap<String, String>, E> {
        broker_configs::update(&self.kv, &self.keys, node_id, change).await
    }

    /// Every user's SCRAM credentials become what `change` makes of the stored ones (by
    /// compare-and-swap); returns what was stored.
    pub async fn update_scram_credentials<E: From<KvError>>(
        &self,
        change: impl Fn(
            &BTreeMap<String, UserScramCredentials>,
        ) -> Result<BTreeMap<String, UserScramCredentials>, E>,
    ) -> Result<BTreeMap<String, UserScramCredentials>, E> {
        broker_configs::update_map(&self.kv, &self.keys.scram_credentials(), change).await
    }

    /// Every ACL becomes what `change` makes of the stored ones (by compare-and-swap);
    /// returns what was stored.
    pub async fn update_acls<E: From<KvError>>(
        &self,
        change: impl Fn(&BTreeMap<String, AclBinding>) -> Result<BTreeMap<String, AclBinding>, E>,
    ) -> Result<BTreeMap<String, AclBinding>, E> {
        broker_configs::update_map(&self.kv, &self.keys.acls(), change).await
    }

    /// Every client quota becomes what `change` makes of the stored ones (by
    /// compare-and-swap); returns what was stored.
    pub async fn update_client_quotas<E: From<KvError>>(
        &self,
        change: impl Fn(&BTreeMap<String, StoredQuotas>) -> Result<BTreeMap<String, StoredQuotas>, E>,
    ) -> Result<BTreeMap<String, StoredQuotas>, E> {
        broker_configs::update_map(&self.kv, &self.keys.client_quotas(), change).await
    }

    /// Elects a leader of `topic`/`partition` as a client asked (ElectLeaders).
    pub async fn elect(
        &self,
        topic: &str,
        partition: i32,
        kind: ElectionKind,
    ) -> Result<PartitionState, ElectionRefused> {
        elect(&self.kv, &self.keys, &self.image(), topic, partition, kind).await
    }

    /// Starts, replaces or cancels reassignments of `topic`'s partitions
    /// (AlterPartitionReassignments); see [`reassignment::alter_reassignments`].
    pub async fn alter_reassignments(
        &self,
        topic: &str,
        targets: &[(i32, Target)],
        unclean_default: bool,
        keep_factor: bool,
    ) -> Result<Altered, KvError> {
        let image = self.image();
        reassignment::alter_reassignments(
            &self.kv,
            &self.keys,
            &image,
            topic,
            targets,
            unclean_default,
            keep_factor,
        )
        .await
    }

    /// This broker, leading `topic`/`partition`, changes its ISR to `isr` (Kafka's
    /// AlterPartition), by compare-and-swap on the partition as this broker's image has it.
    pub async fn alter_isr(
        &self,
        topic: &str,
        partition: i32,
        isr: Vec<i32>,
    ) -> Result<Partition, AlterPartitionError> {
        let image = self.image();
        let record = image
            .topics
            .get(topic)
            .ok_or(AlterPartitionError::UnknownPartition)?;
        let current = image
            .partition(record, partition)
            .ok_or(AlterPartitionError::UnknownPartition)?;
        let request = AlterIsr {
            leader: self.node_id(),
            partition,
            leader_epoch: current.state.leader_epoch,
            version: current.version,
            isr,
        };
        alter_isr(&self.kv, &self.keys, &image, record, request).await
    }

    /// Takes the next block of producer ids, unique in the cluster, each time it is called.
    pub fn producer_id_blocks(&self) -> impl Fn() -> ProducerIdBlock + Send + Sync + 'static {
        let (kv, keys) = (self.kv.clone(), self.keys.clone());
        move || {
            let (kv, keys) = (kv.clone(), keys.clone());
            Box::pin(async move { allocate_block(&kv, &keys, PRODUCER_ID_BLOCK_SIZE).await })
        }
    }

    /// Ends the session of a broker found not listening where it registered to be reached
    /// (`host:port` refused a connection: that host answered that nothing listens there, so
    /// the broker's process is gone), so that its partitions fail over now instead of when
    /// its lease times out. A broker is registered only once its listeners are bound, so a
    /// live one never refuses. Only the lease the image shows for that registration is
    /// revoked: a broker registered again elsewhere keeps its new session, and revoking a
    /// lease that has ended already does nothing. A timeout proves nothing and is not
    /// reported: a broker cut off keeps its session until it times out, as in Kafka.
    ///
    /// A broker is ended at most once per session timeout, so one that is alive but
    /// refuses at the address it advertises (a firewall's reset, a wrong advertised
    /// listener) loses its session no more often than a timeout would take it.
    pub fn departed_broker_fencer(&self) -> impl Fn(i32, &str, u16) + Send + Sync + 'static {
        let (kv, image) = (self.kv.clone(), self.image.clone());
        let session_timeout = self.session_timeout;
        let last_ended: Mutex<BTreeMap<i32, Instant>> = Mutex::default();
        move |node_id, host, port| {
            let lease = {
                let image = image.borrow();
                let registered_there = image
                    .brokers
                    .get(&node_id)
                    .is_some_and(|broker| broker.host == host && broker.port == port);
                match image.broker_leases.get(&node_id) {
                    Some(lease) if registered_there => *lease,
                    _ => return,
                }
            };
            {
                let mut last_ended = last_ended.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                if last_ended
                    .get(&node_id)
                    .is_some_and(|ended| now < *ended + session_timeout)
                {
                    return;
                }
                last_ended.insert(node_id, now);
            }
            let kv = kv.clone();
            let address = format!("{host}:{port}");
            tokio::spawn(async move {
                // Revoking a lease that has ended already succeeds too.
                match kv.revoke(lease).await {
                    Ok(()) => tracing::warn!(
                        node_id,
                        %address,
                        "ended the session of a broker refusing connections where it registered"
                    ),
                    Err(error) => tracing::warn!(
                        node_id,
                        %error,
                        "cannot end the session of a broker refusing connections"
                    ),
                }
            });
        }
    }

    /// Leaves the cluster: the registration (and the controller key, if held) go at once,
    /// instead of a session timeout later.
    pub async fn leave(&self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Session::Registered(lease) = *self.session.borrow() {
            if let Err(error) = self.kv.revoke(lease).await {
                tracing::warn!(%error, "cannot end the cluster session; it will time out");
            }
        }
        tracing::info!(node_id = self.node_id, keys = %self.keys.prefix(), "left the cluster");
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Puts this broker's registration under `lease` unless the key is held; returns whether it did.
async fn register(
    kv: &Kv,
    keys: &Keys,
    registration: &BrokerRegistration,
    lease: LeaseId,
) -> Result<bool, KvError> {
    let absent = Condition::Absent(keys.broker(registration.node_id));
    kv.commit(
        vec![absent],
        vec![registration_put(keys, registration, lease)],
    )
    .await
}

/// Writes `registration` under `lease` (a derived serialization of plain fields: it cannot
/// fail).
fn registration_put(keys: &Keys, registration: &BrokerRegistration, lease: LeaseId) -> Op {
    Op::Put {
        key: keys.broker(registration.node_id),
        value: serde_json::to_vec(registration).unwrap_or_default(),
        lease: Some(lease),
    }
}

/// Snapshot, then watch from the next revision; start over whenever the watch ends.
async fn keep_image_current(kv: Kv, keys: Keys, image: watch::Sender<Arc<ClusterImage>>) {
    loop {
        let snapshot = match kv.get_prefix(keys.prefix()).await {
            Ok(snapshot) => snapshot,
            Err(error) => {
                tracing::debug!(%error, "cannot read the cluster image; retrying");
                tokio::time::sleep(RETRY_BACKOFF).await;
                continue;
            }
        };
        let mut current = ClusterImage::from_snapshot(&keys, &snapshot);
        image.send_replace(Arc::new(current.clone()));
        let mut changes = match kv.watch_prefix(keys.prefix(), snapshot.revision + 1).await {
            Ok(changes) => changes,
            Err(error) => {
                tracing::debug!(%error, "cannot watch the cluster image; retrying");
                tokio::time::sleep(RETRY_BACKOFF).await;
                continue;
            }
        };
        while let Some(batch) = changes.recv().await {
            match batch {
                Ok(batch) => {
                    batch.iter().for_each(|change| current.apply(&keys, change));
                    image.send_replace(Arc::new(current.clone()));
                }
                Err(error) => {
                    tracing::info!(%error, "cluster watch ended; reading the image again");
                    break;
                }
            }
        }
        tokio::time::sleep(RETRY_BACKOFF).await;
    }
}

/// Renews the lease every third of the session timeout. If the store says the lease is gone,
/// or the lease deadline passed without a renewal (the store has expired it by now, or will
/// before anyone could tell us), the session is lost: reported, then the broker registers
/// again under a new lease.
async fn keep_session(
    kv: Kv,
    keys: Keys,
    config: ClusterConfig,
    registration: Arc<Mutex<BrokerRegistration>>,
    mut lease: LeaseId,
    session: watch::Sender<Session>,
    deadline: LeaseDeadline,
) {
    let interval = config.session_timeout / 3;
    loop {
        tokio::time::sleep(interval).await;
        let asked = Instant::now();
        let lost = match kv.keep_alive(lease).await {
            Ok(()) => {
                deadline.extend(asked, config.session_timeout);
                false
            }
            Err(KvError::LeaseExpired(_)) => true,
            Err(error) => {
                tracing::warn!(%error, "cannot renew the cluster session");
                deadline.passed()
            }
        };
        if !lost {
            continue;
        }
        session.send_replace(Session::Lost);
        tracing::warn!(
            node_id = config.node_id,
            "cluster session lost; registering again"
        );
        lease = loop {
            let current = registration
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone();
            match rejoin(&kv, &keys, &config, &current, lease).await {
                Ok(Some((lease, asked))) => {
                    deadline.extend(asked, config.session_timeout);
                    break lease;
                }
                Ok(None) => tracing::warn!(
                    node_id = config.node_id,
                    "node id registered by someone else; retrying"
                ),
                Err(error) => tracing::debug!(%error, "cannot register again; retrying"),
            }
            tokio::time::sleep(RETRY_BACKOFF).await;
        };
        session.send_replace(Session::Registered(lease));
        tracing::info!(node_id = config.node_id, "registered in the cluster again");
    }
}

/// Ends the old lease (its keys with it) and registers under a new one.
async fn rejoin(
    kv: &Kv,
    keys: &Keys,
    config: &ClusterConfig,
    registration: &BrokerRegistration,
    old: LeaseId,
) -> Result<Option<(LeaseId, Instant)>, KvError> {
    kv.revoke(old).await?;
    register_anew(kv, keys, config, registration).await
}

/// Registers this broker under a new lease unless its key is held: the lease and when it was
/// asked for (where its deadline counts from), or `None` with the lease ended again.
async fn register_anew(
    kv: &Kv,
    keys: &Keys,
    config: &ClusterConfig,
    registration: &BrokerRegistration,
) -> Result<Option<(LeaseId, Instant)>, KvError> {
    let asked = Instant::now();
    let lease = kv.grant_lease(config.session_timeout).await?;
    if register(kv, keys, registration, lease).await? {
        return Ok(Some((lease, asked)));
    }
    kv.revoke(lease).await?;
    Ok(None)
}

/// Whenever the cluster has no controller and this broker's session is live, tries to become
/// it: the controller key is created under the session's lease, so it goes with the session.
async fn campaign(
    kv: Kv,
    keys: Keys,
    node_id: i32,
    mut image: watch::Receiver<Arc<ClusterImage>>,
    mut session: watch::Receiver<Session>,
) {
    loop {
        let vacant = image.borrow_and_update().controller.is_none();
        let lease = match *session.borrow_and_update() {
            Session::Registered(lease) => Some(lease),
            Session::Lost => None,
        };
        if let (true, Some(lease)) = (vacant, lease) {
            let record = serde_json::to_vec(&ControllerRecord { node_id }).unwrap_or_default();
            let claim = Op::Put {
                key: keys.controller(),
                value: record,
                lease: Some(lease),
            };
            match kv
                .commit(vec![Condition::Absent(keys.controller())], vec![claim])
                .await
            {
                Ok(true) => tracing::info!(node_id, "elected controller"),
                Ok(false) => {}
                Err(error) => {
                    tracing::debug!(%error, "cannot campaign for controller; retrying");
                    tokio::time::sleep(RETRY_BACKOFF).await;
                    continue;
                }
            }
        }
        tokio::select! {
            changed = image.changed() => if changed.is_err() { return },
            changed = session.changed() => if changed.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::memory::MemoryKv;

    const SESSION: Duration = Duration::from_secs(3);

    fn config(node_id: i32) -> ClusterConfig {
        ClusterConfig::for_test(node_id, "/test", SESSION)
    }

    async fn join_all(kv: &Kv, ids: &[i32]) -> Vec<Membership> {
        let mut members = Vec::new();
        for &id in ids {
            members.push(Membership::join(kv.clone(), &config(id)).await.unwrap());
        }
        members
    }

    #[tokio::test(start_paused = true)]
    async fn brokers_register_agree_on_one_cluster_id_and_elect_one_controller() {
        let kv = Kv::Memory(Arc::new(MemoryKv::new()));
        let members = join_all(&kv, &[1, 2, 3]).await;
        for member in &members {
            let image = member
                .wait_for(SESSION, |image| {
                    image.brokers.len() == 3 && image.controller.is_some()
                })
                .await
                .expect("all three brokers and a controller");
            assert_eq!(image.cluster_id.as_deref(), Some("cluster-of-1"));
            assert_eq!(image.brokers[&2].port, 9002);
        }
        let controllers = members.iter().filter(|member| member.is_controller());
        assert_eq!(controllers.count(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dead_controller_is_replaced_within_a_session_timeout_with_a_larger_epoch() {
        let kv = Kv::Memory(Arc::new(MemoryKv::new()));
        let mut members = join_all(&kv, &[1, 2, 3]).await;
        let first = members[0]
            .wait_for(SESSION, |image| image.controller.is_some())
            .await
            .and_then(|image| image.controller)
            .expect("a controller");
        let at = members
            .iter()
            .position(|member| member.node_id() == first.node_id)
            .expect("the controller is a member");
        // Killed: no leave, its lease just stops being renewed.
        drop(members.remove(at));
        let started = Instant::now();
        let image = members[0]
            .wait_for(SESSION * 2, |image| {
                image
                    .controller
                    .is_some_and(|next| next.node_id != first.node_id)
            })
            .await
            .expect("a new controller");
        assert!(started.elapsed() <= SESSION + SESSION / 3 + Duration::from_millis(1));
        assert!(!image.brokers.contains_key(&first.node_id));
        assert!(image
            .controller
            .is_some_and(|next| next.epoch > first.epoch));
    }

    #[tokio::test(start_paused = true)]
    async fn a_broker_whose_lease_expired_knows_it_and_registers_again() {
        let kv = Kv::Memory(Arc::new(MemoryKv::new()));
        let members = join_all(&kv, &[1, 2]).await;
        let Session::Registered(lease) = *members[1].session.borrow() else {
            panic!("registered");
        };
        // As if etcd expired the session while broker 2 was paused, and another process
        // claimed its node id meanwhile: broker 2 must see its session is gone and keep trying.
        kv.revoke(lease).await.unwrap();
        let impostor = kv.grant_lease(SESSION * 10).await.unwrap();
        let keys = Keys::new("/test");
        assert!(register(&kv, &keys, &config(2).registration, impostor)
            .await
            .unwrap());
        let mut session = members[1].session.clone();
        session
            .wait_for(|session| *session == Session::Lost)
            .await
            .unwrap();
        assert!(!members[1].is_registered());
        assert!(!members[1].is_controller());
        kv.revoke(impostor).await.unwrap();
        session
            .wait_for(|session| matches!(session, Session::Registered(again) if *again != lease))
            .await
            .unwrap();
        members[0]
            .wait_for(SESSION, |image| image.brokers.contains_key(&2))
            .await
            .expect("broker 2 back");
    }

    #[tokio::test(start_paused = true)]
    async fn a_broker_not_listening_where_it_registered_loses_its_session_at_once() {
        let kv = Kv::Memory(Arc::new(MemoryKv::new()));
        let members = join_all(&kv, &[1, 2]).await;
        let image = members[0]
            .wait_for(SESSION, |image| image.brokers.len() == 2)
            .await
            .expect("both registered");
        let Session::Registered(lease) = *members[1].session.borrow() else {
            panic!("registered");
        };
        assert_eq!(image.broker_leases[&2], lease);
        let fence = members[0].departed_broker_fencer();
        let registered = &image.brokers[&2];
        // Refused somewhere it never registered: nothing happens.
        fence(2, &registered.host, registered.port + 1);
        tokio::time::sleep(SESSION / 10).await;
        assert!(members[0].image().brokers.contains_key(&2));
        // Refused where it registered: its session ends long before it would time out.
        fence(2, &registered.host, registered.port);
        members[0]
            .wait_for(SESSION / 10, |image| !image.brokers.contains_key(&2))
            .await
            .expect("broker 2's registration gone");
        // A live broker so ended registers again under a new lease.
        members[0]
            .wait_for(SESSION, |image| {
                image
                    .broker_leases
                    .get(&2)
                    .is_some_and(|again| *again != lease)
            })
            .await
            .expect("broker 2 registered again");
        // Refused again within a session timeout: a broker alive but refusing where it
        // registered is not ended more often than a timeout would end it.
        let again = members[0].image().broker_leases[&2];
        fence(2, &registered.host, registered.port);
        tokio::time::sleep(SESSION / 10).await;
        assert_eq!(members[0].image().broker_leases.get(&2), Some(&again));
    }

    #[tokio::test(start_paused = true)]
    async fn a_broker_cut_off_from_the_store_stops_counting_itself_a_member_before_its_lease_ends()
    {
        let memory = Arc::new(MemoryKv::new());
        let kv = Kv::Memory(Arc::clone(&memory));
        let members = join_all(&kv, &[1]).await;
        tokio::time::sleep(SESSION / 2).await;
        memory.set_unreachable(true);
        let cut = Instant::now();
        while members[0].is_registered() {
            assert!(
                cut.elapsed() <= SESSION,
                "still a member {:?} after the cut",
                cut.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The store still holds the registration: the broker gave up its membership first.
        assert_eq!(memory.get_prefix("/test/brokers/1").entries.len(), 1);

        memory.set_unreachable(false);
        let healed = Instant::now();
        while !members[0].is_registered() {
            assert!(
                healed.elapsed() <= SESSION,
                "not registered again after the outage"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        members[0]
            .wait_for(SESSION, |image| image.brokers.contains_key(&1))
            .await
            .expect("the image follows the store again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_node_id_held_by_a_live_broker_is_refused_and_a_dead_ones_is_waited_for() {
        let kv = Kv::Memory(Arc::new(MemoryKv::new()));
        let live = Membership::join(kv.clone(), &config(1)).await.unwrap();
        assert!(matches!(
            Membership::join(kv.clone(), &config(1)).await,
            Err(ClusterError::DuplicateNodeId(1))
        ));
        drop(live);
        let started = Instant::now();
        let again = Membership::join(kv.clone(), &config(1)).await.unwrap();
        assert!(again.is_registered());
        assert!(started.elapsed() <= SESSION * 2);
        again.leave().await;
        assert!(kv
            .get_prefix("/test/brokers/")
            .await
            .unwrap()
            .entries
            .is_empty());
    }
}
