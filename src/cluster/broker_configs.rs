//! Dynamic broker configs in the store: one JSON map per broker and one for the cluster-wide
//! default, each changed by compare-and-swap on its key so that concurrent changes from
//! different brokers are never lost; the same compare-and-swap of a JSON map keeps the SCRAM
//! credentials.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::image::Keys;
use super::kv::{Condition, Kv, KvError, Op};

/// The dynamic configs of broker `node_id` (`None`: the cluster default) become what
/// `change` makes of the stored ones. Returns what was stored.
pub async fn update<E: From<KvError>>(
    kv: &Kv,
    keys: &Keys,
    node_id: Option<i32>,
    change: impl Fn(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, E>,
) -> Result<BTreeMap<String, String>, E> {
    update_map(kv, &keys.broker_configs(node_id), change).await
}

/// The JSON map at `key` becomes what `change` makes of the stored one, again whenever
/// another writer won the compare; an empty result removes the key. Returns what was stored.
pub async fn update_map<V, E>(
    kv: &Kv,
    key: &str,
    change: impl Fn(&BTreeMap<String, V>) -> Result<BTreeMap<String, V>, E>,
) -> Result<BTreeMap<String, V>, E>
where
    V: Serialize + DeserializeOwned,
    E: From<KvError>,
{
    loop {
        let snapshot = kv.get_prefix(key).await?;
        let stored = snapshot.entries.iter().find(|entry| entry.key == key);
        // A value that is not such a map was not written by spool: it is replaced.
        let current: BTreeMap<String, V> = stored
            .and_then(|entry| serde_json::from_slice(&entry.value).ok())
            .unwrap_or_default();
        let next = change(&current)?;
        let guard = match stored {
            Some(entry) => Condition::ModRevision(key.to_owned(), entry.mod_revision),
            None if next.is_empty() => return Ok(next),
            None => Condition::Absent(key.to_owned()),
        };
        let op = if next.is_empty() {
            Op::Delete(key.to_owned())
        } else {
            Op::Put {
                key: key.to_owned(),
                value: serde_json::to_vec(&next).unwrap_or_default(),
                lease: None,
            }
        };
        if kv.commit(vec![guard], vec![op]).await? {
            return Ok(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::image::ClusterImage;
    use crate::cluster::memory::MemoryKv;

    #[tokio::test]
    async fn changes_are_stored_per_broker_and_removed_when_empty() {
        let kv = Kv::Memory(std::sync::Arc::new(MemoryKv::new()));
        let keys = Keys::new("/spool");
        let set = |value: &'static str| {
            move |current: &BTreeMap<String, String>| {
                let mut next = current.clone();
                next.insert("leader.replication.throttled.rate".into(), value.into());
                Ok::<_, KvError>(next)
            }
        };
        update(&kv, &keys, Some(1), set("10")).await.unwrap();
        update(&kv, &keys, None, set("20")).await.unwrap();
        update(&kv, &keys, Some(1), set("30")).await.unwrap();
        let image = ClusterImage::from_snapshot(&keys, &kv.get_prefix("/spool/").await.unwrap());
        let rate =
            |node_id| image.broker_configs[&node_id]["leader.replication.throttled.rate"].clone();
        assert_eq!(
            (rate(Some(1)), rate(None)),
            ("30".to_owned(), "20".to_owned())
        );
        update(&kv, &keys, Some(1), |_| Ok::<_, KvError>(BTreeMap::new()))
            .await
            .unwrap();
        let image = ClusterImage::from_snapshot(&keys, &kv.get_prefix("/spool/").await.unwrap());
        assert_eq!(image.broker_configs.keys().collect::<Vec<_>>(), [&None]);
    }
}
