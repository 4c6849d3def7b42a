//! Every fsync the storage engine makes goes through here. It is the one place that decides
//! what is durable, so it is also the seam where a simulated disk (`tests/simulation/`) takes
//! the real disk's place: an [`Interceptor`] sees each sync under its directory, records what
//! it made durable, and may fail it. Without one, these are the plain system calls.

use std::fs::File;
use std::io;
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

/// Stands in for the disk's fsync.
pub trait Interceptor: Send + Sync {
    /// The outcome of syncing `target`, or `None` when the target is not the interceptor's
    /// (then the real fsync runs).
    fn sync(&self, target: Target<'_>) -> Option<io::Result<()>>;
}

static INTERCEPTING: AtomicBool = AtomicBool::new(false);
static INTERCEPTOR: RwLock<Option<Arc<dyn Interceptor>>> = RwLock::new(None);

/// Routes every fsync through `interceptor` until the returned guard is dropped.
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

fn intercepted(target: Target<'_>) -> Option<io::Result<()>> {
    if !INTERCEPTING.load(Ordering::Acquire) {
        return None;
    }
    let interceptor = INTERCEPTOR
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()?;
    interceptor.sync(target)
}

/// Makes a file's contents and metadata durable (`fsync`).
pub fn file(file: &File) -> io::Result<()> {
    intercepted(Target::File(file)).unwrap_or_else(|| file.sync_all())
}

/// Makes a file's contents and size durable (`fdatasync`).
pub fn data(file: &File) -> io::Result<()> {
    intercepted(Target::File(file)).unwrap_or_else(|| file.sync_data())
}

/// Makes the entries of `dir` durable: files created, renamed or removed in it.
pub fn dir(dir: &Path) -> io::Result<()> {
    intercepted(Target::Dir(dir)).unwrap_or_else(|| File::open(dir)?.sync_all())
}
