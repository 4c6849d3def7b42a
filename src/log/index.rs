//! Sparse segment indexes, Kafka's file formats: `.index` maps a batch's last offset (relative
//! to the segment base, u32) to its file position (u32); `.timeindex` maps the largest timestamp
//! seen so far (i64) to the relative offset where it was reached. Both are a cache of the
//! `.log`: they are kept in memory, appended to their file, and rebuilt whenever in doubt.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::log::disk;

/// One `.index` entry: 8 bytes on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

/// One `.timeindex` entry: 12 bytes on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

/// A fixed-size index entry and its on-disk encoding.
pub trait IndexEntry: Copy {
    const BYTES: usize;
    fn encode(&self, out: &mut Vec<u8>);
    fn decode(bytes: &[u8]) -> Self;
    /// The key entries are sorted by; must strictly increase along the file.
    fn key(&self) -> i64;
}

impl IndexEntry for OffsetEntry {
    const BYTES: usize = 8;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
    }
    fn decode(bytes: &[u8]) -> Self {
        Self {
            relative_offset: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            position: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        }
    }
    fn key(&self) -> i64 {
        i64::from(self.relative_offset)
    }
}

impl IndexEntry for TimeEntry {
    const BYTES: usize = 12;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
    }
    fn decode(bytes: &[u8]) -> Self {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&bytes[..8]);
        Self {
            timestamp: i64::from_be_bytes(ts),
            relative_offset: u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
        }
    }
    fn key(&self) -> i64 {
        self.timestamp
    }
}

/// An index file and its entries held in memory.
#[derive(Debug)]
pub struct Index<E: IndexEntry> {
    file: File,
    entries: Vec<E>,
}

impl<E: IndexEntry> Index<E> {
    /// Opens (or creates) the index file and loads its entries. Returns `None` when the file is
    /// not a well-formed index (odd length, keys not increasing): the caller rebuilds it.
    pub fn open(path: &Path) -> io::Result<Option<Self>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let len = file.metadata()?.len() as usize;
        if len % E::BYTES != 0 {
            return Ok(None);
        }
        let mut bytes = vec![0u8; len];
        file.read_exact_at(&mut bytes, 0)?;
        let entries: Vec<E> = bytes.chunks_exact(E::BYTES).map(E::decode).collect();
        if entries
            .windows(2)
            .any(|pair| pair[0].key() >= pair[1].key())
        {
            return Ok(None);
        }
        Ok(Some(Self { file, entries }))
    }

    /// The entries of an index file, read without opening it for writing (inspection tools).
    /// Trailing bytes that do not make a whole entry are ignored.
    pub fn read_entries(path: &Path) -> io::Result<Vec<E>> {
        let bytes = std::fs::read(path)?;
        Ok(bytes.chunks_exact(E::BYTES).map(E::decode).collect())
    }

    /// Replaces the file's contents with `entries`.
    pub fn rewrite(path: &Path, entries: Vec<E>) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        let mut bytes = Vec::with_capacity(entries.len() * E::BYTES);
        entries.iter().for_each(|entry| entry.encode(&mut bytes));
        disk::write_all_at(&file, &bytes, 0)?;
        Ok(Self { file, entries })
    }

    pub fn entries(&self) -> &[E] {
        &self.entries
    }

    pub fn last(&self) -> Option<E> {
        self.entries.last().copied()
    }

    /// Appends an entry; entries whose key does not increase are skipped (sparse index).
    pub fn append(&mut self, entry: E) -> io::Result<()> {
        if self.last().is_some_and(|last| last.key() >= entry.key()) {
            return Ok(());
        }
        let mut bytes = Vec::with_capacity(E::BYTES);
        entry.encode(&mut bytes);
        disk::write_all_at(&self.file, &bytes, (self.entries.len() * E::BYTES) as u64)?;
        self.entries.push(entry);
        Ok(())
    }

    /// Drops the last entry (undoing an append whose batch did not make it).
    pub fn remove_last(&mut self) -> io::Result<()> {
        if self.entries.pop().is_some() {
            self.file.set_len((self.entries.len() * E::BYTES) as u64)?;
        }
        Ok(())
    }

    /// The last entry whose key is ≤ `key`.
    pub fn floor(&self, key: i64) -> Option<E> {
        let after = self.entries.partition_point(|entry| entry.key() <= key);
        after.checked_sub(1).map(|at| self.entries[at])
    }

    /// The last entry whose key is < `key`.
    pub fn lower(&self, key: i64) -> Option<E> {
        let after = self.entries.partition_point(|entry| entry.key() < key);
        after.checked_sub(1).map(|at| self.entries[at])
    }

    pub fn sync(&self) -> io::Result<()> {
        disk::sync_file(&self.file)
    }
}

pub type OffsetIndex = Index<OffsetEntry>;
pub type TimeIndex = Index<TimeEntry>;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(relative_offset: u32, position: u32) -> OffsetEntry {
        OffsetEntry {
            relative_offset,
            position,
        }
    }

    #[test]
    fn floor_and_lower_find_the_right_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let mut index = OffsetIndex::rewrite(&path, Vec::new()).unwrap();
        for (offset, position) in [(4, 0), (9, 100), (20, 250)] {
            index.append(entry(offset, position)).unwrap();
        }
        assert_eq!(index.floor(3), None);
        assert_eq!(index.floor(4), Some(entry(4, 0)));
        assert_eq!(index.floor(19), Some(entry(9, 100)));
        assert_eq!(index.floor(1000), Some(entry(20, 250)));
        assert_eq!(index.lower(9), Some(entry(4, 0)));
        index.append(entry(20, 999)).unwrap();
        assert_eq!(index.entries().len(), 3, "non-increasing key is skipped");
    }

    #[test]
    fn reopen_reads_back_and_rejects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.timeindex");
        let mut index = TimeIndex::rewrite(&path, Vec::new()).unwrap();
        index
            .append(TimeEntry {
                timestamp: 10,
                relative_offset: 0,
            })
            .unwrap();
        index
            .append(TimeEntry {
                timestamp: 20,
                relative_offset: 7,
            })
            .unwrap();
        let reopened = TimeIndex::open(&path).unwrap().expect("well formed");
        assert_eq!(reopened.entries(), index.entries());
        std::fs::write(&path, [0u8; 13]).unwrap();
        assert!(TimeIndex::open(&path).unwrap().is_none());
        let mut decreasing = Vec::new();
        TimeEntry {
            timestamp: 20,
            relative_offset: 0,
        }
        .encode(&mut decreasing);
        TimeEntry {
            timestamp: 10,
            relative_offset: 1,
        }
        .encode(&mut decreasing);
        std::fs::write(&path, decreasing).unwrap();
        assert!(TimeIndex::open(&path).unwrap().is_none());
    }

    proptest! {
        #[test]
        fn floor_matches_a_linear_scan(mut keys in proptest::collection::btree_set(0u32..10_000, 0..200), probe in 0i64..11_000) {
            let dir = tempfile::tempdir().unwrap();
            let entries: Vec<OffsetEntry> = std::mem::take(&mut keys).into_iter().map(|k| entry(k, k * 2)).collect();
            let index = OffsetIndex::rewrite(&dir.path().join("i"), entries.clone()).unwrap();
            let expected = entries.iter().rev().find(|e| i64::from(e.relative_offset) <= probe).copied();
            prop_assert_eq!(index.floor(probe), expected);
        }
    }
}
