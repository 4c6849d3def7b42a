//! The transaction coordinator: transactional ids → producer id, epoch and the current
//! transaction, persisted in `__transaction_state` before every answer, and the two-phase
//! end of a transaction (PrepareCommit/PrepareAbort, markers in every partition,
//! CompleteCommit/CompleteAbort). A prepared transaction found on start is completed.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use kafka_protocol::ResponseError;

use super::record;
use super::state::{TxnMetadata, TxnStatus};
use super::{TxnConfig, TRANSACTION_TOPIC};
use crate::clock::SharedClock;
use crate::group::offsets::{partition_for, records_batch};
use crate::group::{GroupCoordinator, OFFSETS_TOPIC};
use crate::log::{LogError, LogManager};
use crate::producer_ids::ProducerIds;
use crate::records::BatchView;

/// What a transactional producer may write (for Produce checks), by producer id.
#[derive(Debug)]
struct WriteState {
    /// The producer's current epoch: batches with an older one come from a fenced instance.
    epoch: i16,
    /// The partitions of its open transaction (empty when none is open).
    open: BTreeSet<(String, i32)>,
}

impl WriteState {
    fn of(meta: &TxnMetadata) -> Self {
        let open = match meta.status {
            TxnStatus::Ongoing => meta.partitions.clone(),
            _ => BTreeSet::new(),
        };
        Self {
            epoch: meta.epoch,
            open,
        }
    }
}

type Writable = HashMap<i64, WriteState>;

/// A transaction's COMMIT or ABORT marker for its partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
}

/// Markers go into a partition through its leader.
pub type MarkersWritten<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ResponseError>> + Send + 'a>>;

/// The partition leaders of a cluster, for a coordinator whose transactions write to
/// partitions other brokers lead (a single node has none: it leads everything).
pub trait PartitionLeaders: Send + Sync + std::fmt::Debug {
    /// Whether this broker leads `topic`/`partition` now.
    fn leads_here(&self, topic: &str, partition: i32) -> bool;
    /// Writes `marker` into `partitions` at their leaders (WriteTxnMarkers), retrying until
    /// each is written or its topic is gone; an error if that takes too long.
    fn write_markers(&self, marker: Marker, partitions: Vec<(String, i32)>) -> MarkersWritten<'_>;
}

/// How long a write to `__transaction_state` or a marker waits for the in-sync replicas
/// (Kafka's `request.timeout.ms` default, which its coordinator uses).
pub const REPLICATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A load or unload of one `__transaction_state` partition asked for (see
/// [`TxnCoordinator::load`]); only the latest one asked for a partition takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionChange {
    partition: i32,
    load: bool,
    sequence: u64,
}

/// The `__transaction_state` partitions loaded here, and the latest change asked for each.
#[derive(Debug, Default)]
struct Loads {
    loaded: BTreeSet<i32>,
    latest: HashMap<i32, u64>,
    next_sequence: u64,
}

/// The transactional ids this broker coordinates: those of the `__transaction_state`
/// partitions it has loaded (all of them on a single node; in a cluster, those it leads).
#[derive(Debug)]
pub struct TxnCoordinator {
    config: TxnConfig,
    clock: SharedClock,
    logs: Arc<LogManager>,
    /// Serializes transaction operations (each awaits its state write).
    txns: tokio::sync::Mutex<HashMap<String, TxnMetadata>>,
    writable: Mutex<Writable>,
    /// Where markers for partitions led by other brokers go (`None` on a single node).
    leaders: Option<Arc<dyn PartitionLeaders>>,
    loads: Mutex<Loads>,
}

/// Adds replayed transactional ids to the coordinator's.
fn take_in(
    txns: &mut HashMap<String, TxnMetadata>,
    writable: &mut Writable,
    loaded: HashMap<String, TxnMetadata>,
) {
    for (id, meta) in loaded {
        writable.insert(meta.producer_id, WriteState::of(&meta));
        txns.insert(id, meta);
    }
}

fn storage(error: LogError) -> ResponseError {
    tracing::warn!(%error, "transaction state write failed");
    crate::group::coordinator_write_error(&error)
}

impl TxnCoordinator {
    /// A coordinator of no transactional id yet: partitions are taken in with
    /// [`Self::load`].
    pub fn new(
        config: TxnConfig,
        clock: SharedClock,
        logs: Arc<LogManager>,
        leaders: Option<Arc<dyn PartitionLeaders>>,
    ) -> Self {
        Self {
            config,
            clock,
            logs,
            txns: tokio::sync::Mutex::new(HashMap::new()),
            writable: Mutex::new(HashMap::new()),
            leaders,
            loads: Mutex::new(Loads::default()),
        }
    }

    /// A single node's coordinator: every partition of `__transaction_state` (which must be
    /// open) replayed.
    pub fn open(
        config: TxnConfig,
        clock: SharedClock,
        logs: Arc<LogManager>,
        leaders: Option<Arc<dyn PartitionLeaders>>,
    ) -> Result<Self, LogError> {
        let mut coordinator = Self::new(config, clock, logs, leaders);
        let mut loaded = HashMap::new();
        for partition in 0..config.state_partitions {
            loaded.extend(coordinator.replay(partition)?);
        }
        let writable = coordinator
            .writable
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        take_in(coordinator.txns.get_mut(), writable, loaded);
        let loads = coordinator
            .loads
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        loads.loaded = (0..config.state_partitions).collect();
        Ok(coordinator)
    }

    /// The transactional ids of partition `partition` as its log holds them.
    fn replay(&self, partition: i32) -> Result<HashMap<String, TxnMetadata>, LogError> {
        let mut txns = HashMap::new();
        let records = self
            .logs
            .replay_records(TRANSACTION_TOPIC, partition, |found| {
                let Some(id) = found.key.and_then(record::decode_key) else {
                    return;
                };
                match found.value.and_then(record::decode_value) {
                    Some(meta) => txns.insert(id, meta),
                    None => txns.remove(&id),
                };
            })?;
        tracing::info!(
            partition,
            records,
            ids = txns.len(),
            "loaded {TRANSACTION_TOPIC} partition"
        );
        Ok(txns)
    }

    fn lock_loads(&self) -> std::sync::MutexGuard<'_, Loads> {
        self.loads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_writable(&self) -> std::sync::MutexGuard<'_, Writable> {
        self.writable
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Asks to take in partition `partition` (its leader became this broker); it is loaded
    /// when [`Self::apply`] runs the returned change, unless a later one was asked since.
    pub fn load(&self, partition: i32) -> PartitionChange {
        self.ask(partition, true)
    }

    /// Lets go of partition `partition` at once (another broker leads it now): its ids are
    /// not coordinated here from now on; [`Self::apply`] forgets them.
    pub fn unload(&self, partition: i32) -> PartitionChange {
        self.lock_loads().loaded.remove(&partition);
        self.ask(partition, false)
    }

    fn ask(&self, partition: i32, load: bool) -> PartitionChange {
        let mut loads = self.lock_loads();
        loads.next_sequence += 1;
        let sequence = loads.next_sequence;
        loads.latest.insert(partition, sequence);
        PartitionChange {
            partition,
            load,
            sequence,
        }
    }

    /// Carries out a load or unload once the operations under way let go of the ids (one may
    /// wait for its state write): the partition's ids are forgotten and, for a load,
    /// replayed from its log, and transactions it finds decided are completed.
    pub async fn apply(&self, change: PartitionChange, groups: &GroupCoordinator) {
        let mut txns = self.txns.lock().await;
        if self.lock_loads().latest.get(&change.partition) != Some(&change.sequence) {
            return;
        }
        self.forget(&mut txns, change.partition);
        if !change.load {
            return;
        }
        match self.replay(change.partition) {
            Ok(loaded) => {
                take_in(&mut txns, &mut self.lock_writable(), loaded);
                self.lock_loads().loaded.insert(change.partition);
            }
            Err(error) => {
                tracing::error!(partition = change.partition, %error, "cannot load {TRANSACTION_TOPIC}");
                return;
            }
        }
        drop(txns);
        self.complete_and_expire(groups).await;
    }

    /// Forgets the transactional ids of `partition` and what their producers may write.
    fn forget(&self, txns: &mut HashMap<String, TxnMetadata>, partition: i32) {
        let in_partition = |id: &str| partition_for(id, self.config.state_partitions) == partition;
        let mut writable = self.lock_writable();
        txns.retain(|id, meta| {
            let stays = !in_partition(id);
            if !stays {
                writable.remove(&meta.producer_id);
            }
            stays
        });
    }

    /// Whether `transactional_id`'s partition is loaded here (COORDINATOR_LOAD_IN_PROGRESS
    /// while its leader is this broker but it is not).
    pub fn is_loaded(&self, transactional_id: &str) -> bool {
        let partition = partition_for(transactional_id, self.config.state_partitions);
        self.lock_loads().loaded.contains(&partition)
    }

    fn update_writable(&self, meta: &TxnMetadata) {
        self.lock_writable()
            .insert(meta.producer_id, WriteState::of(meta));
    }

    /// Whether a transactional batch from `producer_id` at `epoch` may go to `topic`/`partition`.
    /// An older epoch is INVALID_PRODUCER_EPOCH, as Kafka's partition producer state answers
    /// (the abort or commit markers carry the newer epoch); a partition outside the open
    /// transaction is INVALID_TXN_STATE. In a cluster, only producers this broker
    /// coordinates are checked.
    pub fn check_write(
        &self,
        producer_id: i64,
        epoch: i16,
        topic: &str,
        partition: i32,
    ) -> Result<(), ResponseError> {
        let writable = self.lock_writable();
        match writable.get(&producer_id) {
            Some(state) if epoch < state.epoch => Err(ResponseError::InvalidProducerEpoch),
            Some(state)
                if epoch == state.epoch && state.open.contains(&(topic.to_owned(), partition)) =>
            {
                Ok(())
            }
            // In a cluster another broker may coordinate this producer: its batch is taken
            // as Kafka took them before KIP-890's verification.
            None if self.leaders.is_some() => Ok(()),
            _ => Err(ResponseError::InvalidTxnState),
        }
    }

    /// Writes `meta` to `__transaction_state` and waits until it is durable and on every
    /// in-sync replica.
    async fn persist(
        &self,
        transactional_id: &str,
        meta: &TxnMetadata,
    ) -> Result<(), ResponseError> {
        let index = partition_for(transactional_id, self.config.state_partitions);
        let log = self
            .logs
            .partition(TRANSACTION_TOPIC, index)
            .ok_or(ResponseError::NotCoordinator)?;
        log.check_in_sync_replicas().map_err(storage)?;
        let value = record::encode_value(meta);
        let batch = records_batch(
            [(record::encode_key(transactional_id), Some(value))],
            None,
            self.clock.now_ms(),
        )
        .map_err(|message| storage(LogError::Io(std::io::Error::other(message))))?;
        let appended = log
            .append(&BatchView::parse(&batch).map_err(|e| storage(e.into()))?)
            .map_err(storage)?;
        log.wait_stored(&appended, REPLICATION_TIMEOUT)
            .await
            .map_err(storage)?;
        self.update_writable(meta);
        Ok(())
    }

    /// InitProducerId with a transactional id: a new id at epoch 0, or the next epoch of the
    /// existing one (fencing its previous instance, whose open transaction is aborted).
    pub async fn init_producer_id(
        &self,
        transactional_id: &str,
        timeout_ms: i32,
        ids: &ProducerIds,
        groups: &GroupCoordinator,
    ) -> Result<(i64, i16), ResponseError> {
        if timeout_ms <= 0 || i64::from(timeout_ms) > self.config.max_timeout_ms {
            return Err(ResponseError::InvalidTransactionTimeout);
        }
        let mut txns = self.txns.lock().await;
        let now = self.clock.now_ms();
        let next = match txns.get(transactional_id).cloned() {
            None => {
                let producer_id = ids.next_id().await.map_err(|error| storage(error.into()))?;
                TxnMetadata {
                    producer_id,
                    epoch: 0,
                    timeout_ms,
                    status: TxnStatus::Empty,
                    partitions: BTreeSet::new(),
                    start_ms: -1,
                    last_update_ms: now,
                }
            }
            Some(mut meta) => {
                if matches!(
                    meta.status,
                    TxnStatus::Ongoing | TxnStatus::PrepareAbort | TxnStatus::PrepareCommit
                ) {
                    let commit = meta.status == TxnStatus::PrepareCommit;
                    meta = self
                        .finish(&mut txns, transactional_id, meta, commit, groups)
                        .await
                        // Decided but not yet completed: the client asks again.
                        .map_err(|_| ResponseError::ConcurrentTransactions)?;
                }
                let (producer_id, epoch) = if meta.epoch >= i16::MAX - 1 {
                    (
                        ids.next_id().await.map_err(|error| storage(error.into()))?,
                        0,
                    )
                } else {
                    (meta.producer_id, meta.epoch + 1)
                };
                TxnMetadata {
                    producer_id,
                    epoch,
                    timeout_ms,
                    status: TxnStatus::Empty,
                    partitions: BTreeSet::new(),
                    start_ms: -1,
                    last_update_ms: now,
                }
            }
        };
        self.persist(transactional_id, &next).await?;
        let answer = (next.producer_id, next.epoch);
        txns.insert(transactional_id.to_owned(), next);
        Ok(answer)
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: the transaction will write to `partitions`.
    /// With `verify_only`, only checks that they are already part of it.
    pub async fn add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
        verify_only: bool,
    ) -> Result<(), ResponseError> {
        let mut txns = self.txns.lock().await;
        let meta = txns
            .get(transactional_id)
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        meta.check_producer(producer_id, epoch)?;
        meta.check_can_add()?;
        if verify_only {
            let ongoing = meta.status == TxnStatus::Ongoing;
            return match partitions
                .iter()
                .all(|partition| ongoing && meta.partitions.contains(partition))
            {
                true => Ok(()),
                false => Err(ResponseError::InvalidTxnState),
            };
        }
        if meta.status == TxnStatus::Ongoing
            && partitions
                .iter()
                .all(|partition| meta.partitions.contains(partition))
        {
            return Ok(());
        }
        let mut next = meta.clone();
        let now = self.clock.now_ms();
        if next.status != TxnStatus::Ongoing {
            next.status = TxnStatus::Ongoing;
            next.start_ms = now;
            next.partitions.clear();
        }
        next.partitions.extend(partitions.iter().cloned());
        next.last_update_ms = now;
        self.persist(transactional_id, &next).await?;
        txns.insert(transactional_id.to_owned(), next);
        Ok(())
    }

    /// The `__consumer_offsets` partition that holds `group_id`'s offsets.
    pub fn offsets_partition(&self, group_id: &str, groups: &GroupCoordinator) -> (String, i32) {
        (
            OFFSETS_TOPIC.to_owned(),
            partition_for(group_id, groups.config().offsets_topic_partitions),
        )
    }

    /// EndTxn: commits or aborts the open transaction.
    pub async fn end_txn(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        groups: &GroupCoordinator,
    ) -> Result<(), ResponseError> {
        let mut txns = self.txns.lock().await;
        let meta = txns
            .get(transactional_id)
            .cloned()
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        meta.check_producer(producer_id, epoch)?;
        match (meta.status, commit) {
            (TxnStatus::Ongoing, _) => {}
            // A retry of the request that already ended it.
            (TxnStatus::CompleteCommit, true) | (TxnStatus::CompleteAbort, false) => return Ok(()),
            (TxnStatus::PrepareCommit | TxnStatus::PrepareAbort, _) => {
                return Err(ResponseError::ConcurrentTransactions)
            }
            _ => return Err(ResponseError::InvalidTxnState),
        }
        match self
            .finish(&mut txns, transactional_id, meta, commit, groups)
            .await
        {
            Ok(_) => Ok(()),
            // The decision is durable: the timer completes the transaction (as Kafka answers
            // EndTxn once the decision is written and sends markers after).
            Err(error)
                if txns
                    .get(transactional_id)
                    .is_some_and(TxnMetadata::is_decided) =>
            {
                tracing::warn!(transactional_id, %error, "transaction decided; markers still pending");
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    /// Two-phase end: persist the decision (in `txns` too, before any marker), write a
    /// marker into every partition (making transactional offsets visible on commit), persist
    /// completion. Returns the completed state, which is in `txns` as well.
    async fn finish(
        &self,
        txns: &mut HashMap<String, TxnMetadata>,
        transactional_id: &str,
        mut meta: TxnMetadata,
        commit: bool,
        groups: &GroupCoordinator,
    ) -> Result<TxnMetadata, ResponseError> {
        meta.status = if commit {
            TxnStatus::PrepareCommit
        } else {
            TxnStatus::PrepareAbort
        };
        meta.last_update_ms = self.clock.now_ms();
        self.persist(transactional_id, &meta).await?;
        txns.insert(transactional_id.to_owned(), meta.clone());
        let marker = Marker {
            producer_id: meta.producer_id,
            producer_epoch: meta.epoch,
            commit,
        };
        let mut elsewhere = Vec::new();
        for (topic, partition) in &meta.partitions {
            let leads_here = self
                .leaders
                .as_ref()
                .is_none_or(|leaders| leaders.leads_here(topic, *partition));
            match self.logs.partition(topic, *partition) {
                Some(log) if leads_here => {
                    log.write_marker(
                        marker.producer_id,
                        marker.producer_epoch,
                        commit,
                        0,
                        REPLICATION_TIMEOUT,
                    )
                    .await
                    .map_err(storage)?;
                    if topic == OFFSETS_TOPIC {
                        groups.complete_transaction(meta.producer_id, *partition, commit);
                    }
                }
                // A single node: the topic was deleted since.
                _ if self.leaders.is_none() => {}
                _ => elsewhere.push((topic.clone(), *partition)),
            }
        }
        if let Some(leaders) = self.leaders.as_ref().filter(|_| !elsewhere.is_empty()) {
            leaders.write_markers(marker, elsewhere).await?;
        }
        meta.status = if commit {
            TxnStatus::CompleteCommit
        } else {
            TxnStatus::CompleteAbort
        };
        meta.partitions.clear();
        meta.last_update_ms = self.clock.now_ms();
        self.persist(transactional_id, &meta).await?;
        txns.insert(transactional_id.to_owned(), meta.clone());
        tracing::debug!(transactional_id, commit, "transaction ended");
        Ok(meta)
    }

    /// Completes transactions that were prepared when the broker stopped, and aborts those
    /// open longer than their timeout (bumping the epoch, which fences the producer).
    pub async fn complete_and_expire(&self, groups: &GroupCoordinator) {
        let now = self.clock.now_ms();
        let mut txns = self.txns.lock().await;
        let mut due: Vec<(String, TxnMetadata)> = txns
            .iter()
            .filter(|(_, meta)| match meta.status {
                TxnStatus::PrepareCommit | TxnStatus::PrepareAbort => true,
                TxnStatus::Ongoing => now - meta.start_ms > i64::from(meta.timeout_ms),
                _ => false,
            })
            .map(|(id, meta)| (id.clone(), meta.clone()))
            .collect();
        // In a stable order: the same state ends the same way (and a simulation replays).
        due.sort_by(|a, b| a.0.cmp(&b.0));
        for (id, meta) in due {
            let commit = meta.status == TxnStatus::PrepareCommit;
            let timed_out = meta.status == TxnStatus::Ongoing;
            let fenced = if timed_out && meta.epoch < i16::MAX - 1 {
                TxnMetadata {
                    epoch: meta.epoch + 1,
                    ..meta
                }
            } else {
                meta
            };
            match self.finish(&mut txns, &id, fenced, commit, groups).await {
                Ok(_) => {
                    if timed_out {
                        tracing::info!(transactional_id = %id, "aborted a timed-out transaction");
                    }
                }
                Err(error) => {
                    tracing::error!(transactional_id = %id, %error, "completing a transaction failed")
                }
            }
        }
    }

    /// Every transactional id with its state, sorted by id.
    pub async fn list(&self) -> Vec<(String, TxnMetadata)> {
        let txns = self.txns.lock().await;
        let mut all: Vec<_> = txns
            .iter()
            .map(|(id, meta)| (id.clone(), meta.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Runs until the process ends: completes and expires transactions every interval.
    pub async fn run_timers(&self, groups: &GroupCoordinator) {
        let interval =
            std::time::Duration::from_millis(self.config.abort_check_interval_ms.max(1) as u64);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.complete_and_expire(groups).await;
        }
    }
}
