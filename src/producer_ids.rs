//! Producer ids for idempotent producers, unique across restarts and brokers: ids are
//! handed out from blocks. A single node persists the end of its block
//! (`<data dir>/producer-ids`) before the first id of it is used, so a restart continues
//! after the last block; in a cluster, blocks come from the cluster store.

use std::future::Future;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use crate::log::checkpoint::write_atomically;

/// Ids reserved per write of the block file.
const BLOCK_SIZE: i64 = 1000;
const FILE_NAME: &str = "producer-ids";

/// Takes the next block of ids from the cluster.
pub type BlockSource =
    Box<dyn Fn() -> Pin<Box<dyn Future<Output = io::Result<Range<i64>>> + Send>> + Send + Sync>;

enum Source {
    /// The block file of a single node.
    File(PathBuf),
    Cluster(BlockSource),
}

/// Hands out producer ids.
pub struct ProducerIds {
    source: Source,
    /// The ids left in the current block.
    block: tokio::sync::Mutex<Range<i64>>,
}

impl std::fmt::Debug for ProducerIds {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.source {
            Source::File(path) => path.display().to_string(),
            Source::Cluster(_) => "cluster".to_owned(),
        };
        formatter
            .debug_struct("ProducerIds")
            .field("source", &source)
            .finish()
    }
}

impl ProducerIds {
    /// Continues after the last reserved block recorded in `data_dir`.
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        let path = data_dir.join(FILE_NAME);
        let block_end = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .parse()
                .map_err(|_| io::Error::other(format!("{} is corrupt", path.display())))?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => 0,
            Err(error) => return Err(error),
        };
        Ok(Self {
            source: Source::File(path),
            block: tokio::sync::Mutex::new(block_end..block_end),
        })
    }

    /// Ids from blocks the cluster hands out.
    pub fn from_cluster(source: BlockSource) -> Self {
        Self {
            source: Source::Cluster(source),
            block: tokio::sync::Mutex::new(0..0),
        }
    }

    /// A producer id never handed out before, by this broker, an earlier run of it, or (in a
    /// cluster) any other broker.
    pub async fn next_id(&self) -> io::Result<i64> {
        let mut block = self.block.lock().await;
        if block.is_empty() {
            *block = match &self.source {
                Source::File(path) => {
                    let block_end = block.end + BLOCK_SIZE;
                    write_atomically(path, format!("{block_end}\n").as_bytes())?;
                    block.end..block_end
                }
                Source::Cluster(take) => take().await?,
            };
        }
        let id = block.start;
        block.start += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ids_are_unique_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let ids = ProducerIds::open(dir.path()).unwrap();
        let mut first = Vec::new();
        for _ in 0..3 {
            first.push(ids.next_id().await.unwrap());
        }
        assert_eq!(first, [0, 1, 2]);
        drop(ids);
        let reopened = ProducerIds::open(dir.path()).unwrap();
        assert_eq!(
            reopened.next_id().await.unwrap(),
            BLOCK_SIZE,
            "the rest of the used block is skipped"
        );
    }
}
