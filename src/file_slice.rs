//! A byte range of an open file. The log's reads hand these out instead of bytes, so a fetch
//! can move records from the page cache to the socket without copying them through the
//! broker; the wire layer only carries them. A leaf: it knows files, not logs or requests.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;

/// Buffer [`FileSlice::load`] reads through.
const LOAD_BUFFER_BYTES: u64 = 256 * 1024;

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
        read_range(&self.file, self.position, self.len as usize).map(Bytes::from)
    }

    /// Whether every page of the range is in the page cache, so that sending it does not wait
    /// for the disk. Asks mincore(2) about a transient read-only mapping that is never touched.
    pub fn is_cached(&self) -> io::Result<bool> {
        if self.len == 0 {
            return Ok(true);
        }
        // SAFETY: sysconf has no preconditions.
        let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .map_err(|_| io::Error::other("no page size"))?;
        let start = self.position / page * page;
        let len = (self.position + self.len - start) as usize;
        // SAFETY: a fresh shared read-only mapping of an open file, at a page-aligned offset;
        // it is only passed to mincore and unmapped, never read through.
        let mapping = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                self.file.as_raw_fd(),
                start as libc::off_t,
            )
        };
        if mapping == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut pages = vec![0u8; len.div_ceil(page as usize)];
        // SAFETY: `mapping` spans `len` bytes and `pages` has one byte per page of it.
        let asked = unsafe { libc::mincore(mapping, len, pages.as_mut_ptr()) };
        let error = (asked != 0).then(io::Error::last_os_error);
        // SAFETY: unmaps exactly the mapping made above.
        unsafe { libc::munmap(mapping, len) };
        match error {
            Some(error) => Err(error),
            None => Ok(pages.iter().all(|page| page & 1 == 1)),
        }
    }

    /// Reads the range through a small buffer so that its pages are in the page cache. Blocks
    /// on the disk: for the blocking pool.
    pub fn load(&self) -> io::Result<()> {
        let mut buffer = vec![0u8; self.len.min(LOAD_BUFFER_BYTES) as usize];
        let end = self.position + self.len;
        let mut position = self.position;
        while position < end {
            let chunk = &mut buffer[..(end - position).min(LOAD_BUFFER_BYTES) as usize];
            self.file.read_exact_at(chunk, position)?;
            position += chunk.len() as u64;
        }
        Ok(())
    }
}

/// `len` bytes of `file` from `position`.
pub fn read_range(file: &File, position: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; len];
    file.read_exact_at(&mut bytes, position)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn loading_puts_the_range_in_the_page_cache() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&vec![5u8; 3 << 20]).unwrap();
        file.sync_all().unwrap();
        let file = Arc::new(file);
        let slice = FileSlice::new(Arc::clone(&file), 1000, (2 << 20) + 7);
        // Written and synced pages are clean: POSIX_FADV_DONTNEED drops them (on a file
        // system that keeps files in the page cache only, such as tmpfs, they stay).
        // SAFETY: advice on an open file descriptor.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        let evicted = !slice.is_cached().unwrap();
        slice.load().unwrap();
        assert!(
            slice.is_cached().unwrap(),
            "loaded (evicted before: {evicted})"
        );
        assert!(FileSlice::new(file, 0, 0).is_cached().unwrap());
    }
}
