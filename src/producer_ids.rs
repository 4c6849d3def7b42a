//! Producer ids for idempotent producers, unique across restarts: ids are handed out from
//! blocks whose end is persisted (`<data dir>/producer-ids`) before the first id of a block
//! is used, so a restart continues after the last block.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::log::checkpoint::write_atomically;

/// Ids reserved per write of the block file.
const BLOCK_SIZE: i64 = 1000;
const FILE_NAME: &str = "producer-ids";

/// The next ids and the end of the reserved block.
#[derive(Debug)]
struct Reserved {
    next: i64,
    block_end: i64,
}

/// Hands out producer ids.
#[derive(Debug)]
pub struct ProducerIds {
    path: PathBuf,
    reserved: Mutex<Reserved>,
}

impl ProducerIds {
    /// Continues after the last reserved block recorded in `data_dir`.
    pub fn open(data_dir: &Path) -> std::io::Result<Self> {
        let path = data_dir.join(FILE_NAME);
        let block_end = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .parse()
                .map_err(|_| std::io::Error::other(format!("{} is corrupt", path.display())))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => 0,
            Err(error) => return Err(error),
        };
        Ok(Self {
            path,
            reserved: Mutex::new(Reserved {
                next: block_end,
                block_end,
            }),
        })
    }

    /// A producer id never handed out before, by this broker or an earlier run of it.
    pub fn next_id(&self) -> std::io::Result<i64> {
        let mut reserved = self
            .reserved
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if reserved.next == reserved.block_end {
            let block_end = reserved.next + BLOCK_SIZE;
            write_atomically(&self.path, format!("{block_end}\n").as_bytes())?;
            reserved.block_end = block_end;
        }
        let id = reserved.next;
        reserved.next += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let ids = ProducerIds::open(dir.path()).unwrap();
        let first: Vec<i64> = (0..3).map(|_| ids.next_id().unwrap()).collect();
        assert_eq!(first, [0, 1, 2]);
        drop(ids);
        let reopened = ProducerIds::open(dir.path()).unwrap();
        assert_eq!(
            reopened.next_id().unwrap(),
            BLOCK_SIZE,
            "the rest of the used block is skipped"
        );
    }
}
