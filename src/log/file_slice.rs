//! A byte range of a segment file. Reads hand these out instead of bytes, so a fetch can
//! move records from the page cache to the socket without copying them through the broker.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;

/// `[position, position + len)` of an open segment file. The file handle keeps the bytes
/// readable even if the segment is deleted or replaced by compaction meanwhile; the range
/// lies below the size the segment had when it was handed out, which never changes after.
#[derive(Debug, Clone)]
pub struct FileSlice {
    file: Arc<File>,
    position: u64,
    len: u64,
}

impl FileSlice {
    pub fn new(file: Arc<File>, position: u64, len: u64) -> Self {
        Self {
            file,
            position,
            len,
        }
    }

    pub fn file(&self) -> &File {
        &self.file
    }
    pub fn position(&self) -> u64 {
        self.position
    }
    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes of the range, read into memory.
    pub fn read(&self) -> io::Result<Bytes> {
        let mut bytes = vec![0u8; self.len as usize];
        self.file.read_exact_at(&mut bytes, self.position)?;
        Ok(Bytes::from(bytes))
    }
}
