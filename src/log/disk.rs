//! Every fsync and every write of the storage engine goes through here. It is the one place
//! that decides what reaches the disk, so it is also the seam where a simulated disk
//! (`tests/simulation/`) takes the real disk's place: an [`Interceptor`] sees each sync and
//! each write under its directory, records what a sync made durable, and may fail either (a
//! sync with EIO, a write with ENOSPC once the disk is full). Without one, these are the
//! plain system calls.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// What is being made durable.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A file's contents and size (`fsync`/`fdatasync`).
    File(&'a File),
    /// A directory's entries: files created, renamed or removed in it.
    Dir(&'a Path),
}

/// Stands in for the disk.
pub trait Interceptor: Send + Sync {
    /// The outcome of syncing `target`, or `None` when the target is not the interceptor's
    /// (then the real fsync runs).
    fn sync(&self, target: Target<'_>) -> Option<io::Result<()>>;

    /// How many of the `len` bytes about to be written to `file` the disk has room for, or
    /// `None` when the file is not the interceptor's. With fewer than `len`, that many are
    /// written and the write fails with ENOSPC, as a write(2) that fills the disk does.
    fn room(&self, file: &File, len: usize) -> Option<usize>;
}

static INTERCEPTING: AtomicBool = AtomicBool::new(false);
static INTERCEPTOR: RwLock<Option<Arc<dyn Interceptor>>> = RwLock::new(None);

/// Routes every fsync and write through `interceptor` until the returned guard is dropped.
pub fn intercept(interceptor: Arc<dyn Interceptor>) -> Intercepting {
    *INTERCEPTOR
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(interceptor);
    INTERCEPTING.store(true, Ordering::Release);
    Intercepting(())
}

/// Ends the interception when dropped.
#[must_use = "the interception ends when this is dropped"]
pub struct Intercepting(());

impl Drop for Intercepting {
    fn drop(&mut self) {
        INTERCEPTING.store(false, Ordering::Release);
        *INTERCEPTOR
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }
}

fn interceptor() -> Option<Arc<dyn Interceptor>> {
    if !INTERCEPTING.load(Ordering::Acquire) {
        return None;
    }
    INTERCEPTOR
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

fn intercepted(target: Target<'_>) -> Option<io::Result<()>> {
    interceptor()?.sync(target)
}

/// How many of `len` bytes for `file` the disk takes.
fn room(file: &File, len: usize) -> usize {
    interceptor()
        .and_then(|interceptor| interceptor.room(file, len))
        .map_or(len, |room| room.min(len))
}

fn disk_full() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOSPC)
}

/// Makes a file's contents and metadata durable (`fsync`).
pub fn sync_file(file: &File) -> io::Result<()> {
    intercepted(Target::File(file)).unwrap_or_else(|| file.sync_all())
}

/// Makes a file's contents and size durable (`fdatasync`).
pub fn sync_data(file: &File) -> io::Result<()> {
    intercepted(Target::File(file)).unwrap_or_else(|| file.sync_data())
}

/// Makes the entries of `dir` durable: files created, renamed or removed in it.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    intercepted(Target::Dir(dir)).unwrap_or_else(|| File::open(dir)?.sync_all())
}

/// Writes all of `bytes` to `file` at `offset` (`pwrite`).
pub fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    let room = room(file, bytes.len());
    file.write_all_at(&bytes[..room], offset)?;
    match room < bytes.len() {
        true => Err(disk_full()),
        false => Ok(()),
    }
}

/// A file written from its position on (`write`), for a `BufWriter` or `write_all`.
pub struct Writer(pub File);

impl Write for Writer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match room(&self.0, bytes.len()) {
            0 if !bytes.is_empty() => Err(disk_full()),
            room => self.0.write(&bytes[..room]),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}
