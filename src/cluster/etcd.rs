//! The cluster store on etcd's v3 API (the `etcd-client` crate over gRPC).

use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, KeyValue, PutOptions, Txn,
    TxnOp, WatchOptions,
};
use tokio::sync::mpsc;

use super::kv::{
    Change, Condition, Entry, KvError, LeaseId, Op, Snapshot, WatchBatch, WATCH_BUFFER,
};

/// How long one call to etcd may take before it counts as unavailable.
pub const ETCD_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting to an etcd endpoint may take.
pub const ETCD_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// etcd's message for a lease that expired or was revoked (`rpctypes.ErrLeaseNotFound`).
const LEASE_NOT_FOUND: &str = "requested lease not found";

/// A connection to an etcd cluster.
pub struct EtcdKv {
    client: Client,
}

impl std::fmt::Debug for EtcdKv {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("EtcdKv")
    }
}

fn unavailable(error: etcd_client::Error) -> KvError {
    KvError::Unavailable(error.to_string())
}

fn entry(kv: &KeyValue) -> Entry {
    Entry {
        key: String::from_utf8_lossy(kv.key()).into_owned(),
        value: kv.value().to_vec(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        // etcd's lease id 0 is "no lease".
        lease: (kv.lease() != 0).then_some(LeaseId(kv.lease())),
    }
}

impl EtcdKv {
    /// Connects to `endpoints` (`host:port`); etcd-client balances calls over them.
    pub async fn connect(endpoints: &[String]) -> Result<Self, KvError> {
        let options = ConnectOptions::new()
            .with_timeout(ETCD_REQUEST_TIMEOUT)
            .with_connect_timeout(ETCD_CONNECT_TIMEOUT)
            .with_keep_alive(Duration::from_secs(2), ETCD_REQUEST_TIMEOUT);
        let client = Client::connect(endpoints, Some(options))
            .await
            .map_err(unavailable)?;
        Ok(Self { client })
    }

    pub async fn get_prefix(&self, prefix: &str) -> Result<Snapshot, KvError> {
        let response = self
            .client
            .kv_client()
            .get(prefix, Some(GetOptions::new().with_prefix()))
            .await
            .map_err(unavailable)?;
        Ok(Snapshot {
            entries: response.kvs().iter().map(entry).collect(),
            revision: response.header().map_or(0, |header| header.revision()),
        })
    }

    /// Applies `ops` if every condition holds; the revision they got, or `None`.
    pub async fn commit(
        &self,
        conditions: Vec<Condition>,
        ops: Vec<Op>,
    ) -> Result<Option<i64>, KvError> {
        let lease = ops.iter().find_map(|op| match op {
            Op::Put { lease, .. } => *lease,
            Op::Delete(_) => None,
        });
        let compares: Vec<Compare> = conditions
            .into_iter()
            .map(|condition| match condition {
                Condition::Absent(key) => Compare::version(key, CompareOp::Equal, 0),
                Condition::ModRevision(key, revision) => {
                    Compare::mod_revision(key, CompareOp::Equal, revision)
                }
            })
            .collect();
        let operations: Vec<TxnOp> = ops
            .into_iter()
            .map(|op| match op {
                Op::Put { key, value, lease } => TxnOp::put(
                    key,
                    value,
                    lease.map(|lease| PutOptions::new().with_lease(lease.0)),
                ),
                Op::Delete(key) => TxnOp::delete(key, None),
            })
            .collect();
        let txn = Txn::new().when(compares).and_then(operations);
        match self.client.kv_client().txn(txn).await {
            Ok(response) => Ok(response
                .succeeded()
                .then(|| response.header().map_or(0, |header| header.revision()))),
            // etcd refuses a put under a lease that no longer exists.
            Err(error) if error.to_string().contains(LEASE_NOT_FOUND) => {
                Err(KvError::LeaseExpired(lease.map_or(0, |lease| lease.0)))
            }
            Err(error) => Err(unavailable(error)),
        }
    }

    pub async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId, KvError> {
        let seconds = ttl.as_millis().div_ceil(1000).max(1) as i64;
        let response = self
            .client
            .lease_client()
            .grant(seconds, None)
            .await
            .map_err(unavailable)?;
        Ok(LeaseId(response.id()))
    }

    /// One keep-alive round trip on a fresh stream: a broken stream (etcd restarted) costs
    /// nothing to replace, and the caller renews every third of the ttl.
    pub async fn keep_alive(&self, lease: LeaseId) -> Result<(), KvError> {
        let (mut keeper, mut responses) = self
            .client
            .lease_client()
            .keep_alive(lease.0)
            .await
            .map_err(unavailable)?;
        keeper.keep_alive().await.map_err(unavailable)?;
        match tokio::time::timeout(ETCD_REQUEST_TIMEOUT, responses.message()).await {
            Ok(Ok(Some(response))) if response.ttl() > 0 => Ok(()),
            Ok(Ok(Some(_))) => Err(KvError::LeaseExpired(lease.0)),
            Ok(Ok(None)) => Err(KvError::Unavailable("keep-alive stream closed".into())),
            Ok(Err(error)) => Err(unavailable(error)),
            Err(_) => Err(KvError::Unavailable("keep-alive timed out".into())),
        }
    }

    pub async fn revoke(&self, lease: LeaseId) -> Result<(), KvError> {
        match self.client.lease_client().revoke(lease.0).await {
            Ok(_) => Ok(()),
            Err(error) if error.to_string().contains(LEASE_NOT_FOUND) => Ok(()),
            Err(error) => Err(unavailable(error)),
        }
    }

    /// Forwards etcd's watch stream into a channel; the last item is the error that ended it.
    pub async fn watch_prefix(
        &self,
        prefix: &str,
        from: i64,
    ) -> Result<mpsc::Receiver<WatchBatch>, KvError> {
        let options = WatchOptions::new().with_prefix().with_start_revision(from);
        let mut stream = self
            .client
            .watch_client()
            .watch(prefix, Some(options))
            .await
            .map_err(unavailable)?;
        let (sender, receiver) = mpsc::channel(WATCH_BUFFER);
        tokio::spawn(async move {
            let ended = loop {
                let response = match stream.message().await {
                    Ok(Some(response)) => response,
                    Ok(None) => break "stream closed".to_owned(),
                    Err(error) => break error.to_string(),
                };
                if response.canceled() {
                    break format!(
                        "canceled ({}; compacted at revision {})",
                        response.cancel_reason(),
                        response.compact_revision()
                    );
                }
                let revision = response.header().map_or(0, |header| header.revision());
                let changes: Vec<Change> = response
                    .events()
                    .iter()
                    .filter_map(|event| {
                        let kv = event.kv()?;
                        Some(match event.event_type() {
                            EventType::Put => Change::Put(entry(kv)),
                            EventType::Delete => Change::Delete {
                                key: String::from_utf8_lossy(kv.key()).into_owned(),
                                revision: kv.mod_revision().max(revision),
                            },
                        })
                    })
                    .collect();
                if !changes.is_empty() && sender.send(Ok(changes)).await.is_err() {
                    return;
                }
            };
            let _ = sender.send(Err(KvError::WatchEnded(ended))).await;
        });
        Ok(receiver)
    }
}
