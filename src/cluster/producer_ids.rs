//! Producer-id blocks unique across the cluster (Kafka's AllocateProducerIds, KIP-730): the
//! end of the last block handed out lives under `<root>/producer_ids`, and a broker takes
//! the next block by compare-and-swap, so two brokers never hand out the same id.

use std::ops::Range;

use super::image::Keys;
use super::kv::{Condition, Kv, KvError, Op};

/// Ids per block, as Kafka's controller hands them out.
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

/// Takes the next block of `size` ids.
pub async fn allocate_block(kv: &Kv, keys: &Keys, size: i64) -> Result<Range<i64>, KvError> {
    let key = keys.producer_ids();
    loop {
        let snapshot = kv.get_prefix(&key).await?;
        let stored = snapshot.entries.into_iter().find(|entry| entry.key == key);
        let (start, guard) = match &stored {
            Some(entry) => {
                let text = String::from_utf8_lossy(&entry.value);
                let start = text.trim().parse::<i64>().map_err(|_| {
                    KvError::Unavailable(format!("{key} holds `{text}`, not a producer id"))
                })?;
                (
                    start,
                    Condition::ModRevision(key.clone(), entry.mod_revision),
                )
            }
            None => (0, Condition::Absent(key.clone())),
        };
        let end = start + size;
        let put = Op::Put {
            key: key.clone(),
            value: end.to_string().into_bytes(),
            lease: None,
        };
        if kv.commit(vec![guard], vec![put]).await? {
            return Ok(start..end);
        }
        // Another broker took a block meanwhile: read again.
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cluster::memory::MemoryKv;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn brokers_racing_for_blocks_never_share_an_id() {
        let kv = Kv::Memory(Arc::new(MemoryKv::new()));
        let keys = Keys::new("/p");
        let takers = (0..8).map(|_| {
            let (kv, keys) = (kv.clone(), keys.clone());
            tokio::spawn(async move { allocate_block(&kv, &keys, PRODUCER_ID_BLOCK_SIZE).await })
        });
        let mut blocks = Vec::new();
        for taker in takers {
            blocks.push(taker.await.unwrap().unwrap());
        }
        blocks.sort_by_key(|block| block.start);
        let starts: Vec<i64> = blocks.iter().map(|block| block.start).collect();
        assert_eq!(starts, (0..8).map(|n| n * 1000).collect::<Vec<_>>());
        assert!(blocks.iter().all(|block| block.end - block.start == 1000));
    }
}
