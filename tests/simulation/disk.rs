//! A simulated disk under a real directory. The files there are the page cache: the log
//! writes, reads and renames them as usual. What is on the *disk* is only what an fsync
//! reached, which this module learns by standing in for every fsync of the log
//! (`spool::log::disk`): a file's contents as of its last fsync (by inode and birth time, so
//! that a new file reusing a freed inode starts with nothing durable), a directory's
//! entries as of its last fsync.
//!
//! A power cut replaces the directory with a state the disk could hold afterwards:
//! - each directory lists the entries of its last fsync or the ones it has now (the
//!   creations, renames and removals since then all reached the disk, or none did);
//! - each file holds what its last fsync made durable, plus some of what was written since:
//!   none of it, a prefix (written back in order), or any mix of 512-byte sectors, new or
//!   old (written back out of order, with zeros where the file grew).
//!
//! A failed fsync is an EIO that leaves the written data in doubt, as Linux does: the next
//! restart after one starts from a power cut. A lying disk answers every fsync with success
//! and makes nothing durable, until the next power cut.
//!
//! The disk can fill up: once it has taken a given number of bytes more, every write fails
//! with ENOSPC (after writing what still fit) until space is freed. Only writes count: what
//! the log removes frees nothing until then.
//!
//! Every disk of the runs in this process is [`mount`]ed on one interceptor, which hands
//! each fsync and write to the disk whose directory holds its target (the simulations run side by
//! side, and a replication run has a disk per broker).

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use spool::log::disk::{self as seam, Intercepting, Interceptor, Target};

use crate::rng::Rng;

/// What a torn write tears: a disk sector.
const SECTOR_BYTES: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    File { id: FileId },
    Dir,
}

type Listing = BTreeMap<OsString, Entry>;

/// A file: its inode and its birth time in nanoseconds (0 where the file system keeps none).
type FileId = (u64, i128);

fn file_id(metadata: &fs::Metadata) -> FileId {
    let born = metadata.created().ok().and_then(|time| {
        let since = time.duration_since(std::time::UNIX_EPOCH).ok()?;
        Some(since.as_nanos() as i128)
    });
    (metadata.ino(), born.unwrap_or(0))
}

#[derive(Default)]
struct DiskState {
    /// Per file, the contents its last fsync made durable.
    files: HashMap<FileId, Vec<u8>>,
    /// Per directory, its entries as of its last fsync.
    dirs: HashMap<PathBuf, Listing>,
    /// Every fsync fails from now until the next power cut.
    failing: bool,
    /// An fsync failed: the page cache may have dropped what it held.
    sync_failed: bool,
    /// Every fsync succeeds without making anything durable, until the next power cut.
    lying: bool,
    /// The power goes at an fsync still to come: how many pass before it, and the choices
    /// of what the disk keeps.
    cut_armed: Option<(u32, Rng)>,
    /// What the disk held when the power went at an fsync (every fsync fails after it).
    cut: Option<Vec<Written>>,
    /// How many bytes the disk takes before it is full (`None`: no limit).
    room: Option<u64>,
    /// A write failed for want of room since [`SimDisk::forget_refused_writes`].
    refused_write: bool,
}

/// The directory's present state: what the page cache holds.
struct PageCache {
    dirs: HashMap<PathBuf, Listing>,
    files: HashMap<FileId, Vec<u8>>,
}

/// One entry of the state a power cut leaves, in creation order (a directory before its
/// entries).
enum Written {
    Dir(PathBuf),
    File(PathBuf, Vec<u8>),
}

pub struct SimDisk {
    root: PathBuf,
    state: Mutex<DiskState>,
}

impl SimDisk {
    /// A disk under `root` (canonical), with whatever is there now counted as durable.
    pub fn new(root: &Path) -> io::Result<Self> {
        let disk = Self {
            root: root.canonicalize()?,
            state: Mutex::default(),
        };
        disk.settle()?;
        Ok(disk)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lock(&self) -> MutexGuard<'_, DiskState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes every fsync fail from now until the next power cut.
    pub fn fail_syncs(&self) {
        self.lock().failing = true;
    }

    /// Makes every fsync from now until the next power cut succeed without making anything
    /// durable.
    pub fn lie(&self) {
        self.lock().lying = true;
    }

    /// Whether fsyncs lie (until the next power cut).
    pub fn lying(&self) -> bool {
        self.lock().lying
    }

    /// Whether fsyncs are failing (until the next power cut).
    pub fn failing(&self) -> bool {
        self.lock().failing
    }

    /// Whether an fsync failed since the last power cut.
    pub fn sync_failed(&self) -> bool {
        self.lock().sync_failed
    }

    /// Cuts the power at the fsync after the next `passing` ones, wherever in an operation
    /// that falls: that fsync and every later one fail, and the next power cut restores
    /// the disk as it was at that moment.
    pub fn cut_power_at_sync(&self, passing: u32, rng: Rng) {
        self.lock().cut_armed = Some((passing, rng));
    }

    /// Fills the disk once `bytes` more are written: writes fail with ENOSPC from then on
    /// until [`SimDisk::free_space`].
    pub fn fill_after(&self, bytes: u64) {
        self.lock().room = Some(bytes);
    }

    /// Frees space: writes succeed again.
    pub fn free_space(&self) {
        self.lock().room = None;
    }

    /// Whether the disk is full.
    pub fn full(&self) -> bool {
        self.lock().room == Some(0)
    }

    /// Whether a write failed for want of room since the last call of
    /// [`SimDisk::forget_refused_writes`].
    pub fn refused_write(&self) -> bool {
        self.lock().refused_write
    }

    /// Starts counting refused writes again (the broker restarted).
    pub fn forget_refused_writes(&self) {
        self.lock().refused_write = false;
    }

    /// Whether the power went at an fsync.
    pub fn power_was_cut(&self) -> bool {
        self.lock().cut.is_some()
    }

    /// Replaces the directory with a state the disk could hold after losing power now (or
    /// when it went, at an fsync).
    pub fn power_cut(&self, rng: &mut Rng) -> io::Result<()> {
        let cut = self.lock().cut.take();
        let written = match cut {
            Some(written) => written,
            None => self.image(rng)?,
        };
        for entry in fs::read_dir(&self.root)? {
            let path = entry?.path();
            match path.is_dir() {
                true => fs::remove_dir_all(&path)?,
                false => fs::remove_file(&path)?,
            }
        }
        for entry in written {
            match entry {
                Written::Dir(path) => fs::create_dir(path)?,
                Written::File(path, contents) => fs::write(path, contents)?,
            }
        }
        self.settle()
    }

    /// What the disk could hold if the power went now.
    fn image(&self, rng: &mut Rng) -> io::Result<Vec<Written>> {
        let cache = PageCache::read(&self.root)?;
        let mut written = Vec::new();
        self.lock().image(&self.root, &cache, rng, &mut written);
        Ok(written)
    }

    /// Counts everything in the directory as durable: the state after a power cut (which
    /// frees no space).
    fn settle(&self) -> io::Result<()> {
        let cache = PageCache::read(&self.root)?;
        let mut state = self.lock();
        *state = DiskState {
            files: cache.files,
            dirs: cache.dirs,
            room: state.room,
            refused_write: state.refused_write,
            ..DiskState::default()
        };
        Ok(())
    }

    /// Counts down to an armed power cut; at it, keeps the disk's state and fails.
    fn power_goes_at_this_sync(&self) -> io::Result<bool> {
        let armed = self.lock().cut_armed.take();
        let mut armed = match armed {
            Some((0, rng)) => rng,
            Some((passing, rng)) => {
                self.lock().cut_armed = Some((passing - 1, rng));
                return Ok(false);
            }
            None => return Ok(false),
        };
        let written = self.image(&mut armed)?;
        let mut state = self.lock();
        state.cut = Some(written);
        state.failing = true;
        Ok(true)
    }
}

impl SimDisk {
    /// The outcome of syncing `target`, which lies under this disk.
    fn sync(&self, target: Target<'_>) -> io::Result<()> {
        self.power_goes_at_this_sync()?;
        let mut state = self.lock();
        if state.failing {
            state.sync_failed = true;
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        if state.lying {
            return Ok(());
        }
        match target {
            // Read through a descriptor of its own: the log's may be write-only.
            Target::File(file) => File::open(fd_path(file))
                .and_then(|file| contents(&file))
                .map(|(id, contents)| {
                    state.files.insert(id, contents);
                }),
            Target::Dir(dir) => listing(dir).map(|listing| {
                state.dirs.insert(dir.to_owned(), listing);
            }),
        }
    }
}

impl SimDisk {
    /// How many of `len` bytes a write may put on the disk.
    fn take_room(&self, len: usize) -> usize {
        let mut state = self.lock();
        let Some(room) = state.room else {
            return len;
        };
        let taken = room.min(len as u64);
        state.room = Some(room - taken);
        if taken < len as u64 {
            state.refused_write = true;
        }
        taken as usize
    }
}

/// The disks mounted now.
static MOUNTED: Mutex<Vec<Arc<SimDisk>>> = Mutex::new(Vec::new());

fn mounted() -> MutexGuard<'static, Vec<Arc<SimDisk>>> {
    MOUNTED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Hands each fsync to the mounted disk that holds its target (the real fsync runs for
/// any other).
struct Mounts;

impl Mounts {
    /// The mounted disk that holds `path`.
    fn disk_of(path: &Path) -> Option<Arc<SimDisk>> {
        mounted()
            .iter()
            .find(|disk| path.starts_with(&disk.root))
            .cloned()
    }
}

impl Interceptor for Mounts {
    fn sync(&self, target: Target<'_>) -> Option<io::Result<()>> {
        let disk = match target {
            Target::File(file) => Self::disk_of(&fs::read_link(fd_path(file)).ok()?),
            Target::Dir(dir) => Self::disk_of(dir),
        }?;
        Some(disk.sync(target))
    }

    fn room(&self, file: &File, len: usize) -> Option<usize> {
        let disk = Self::disk_of(&fs::read_link(fd_path(file)).ok()?)?;
        Some(disk.take_room(len))
    }
}

/// A disk's fsyncs go to it until this is dropped.
#[must_use = "the disk is unmounted when this is dropped"]
pub struct Mounted(Arc<SimDisk>);

/// Routes the fsyncs under `disk`'s directory to it.
pub fn mount(disk: Arc<SimDisk>) -> Mounted {
    static INTERCEPTING: OnceLock<Intercepting> = OnceLock::new();
    INTERCEPTING.get_or_init(|| seam::intercept(Arc::new(Mounts)));
    mounted().push(disk.clone());
    Mounted(disk)
}

impl Drop for Mounted {
    fn drop(&mut self) {
        mounted().retain(|disk| !Arc::ptr_eq(disk, &self.0));
    }
}

impl DiskState {
    /// Appends to `written` what `dir` and everything under it hold after a power cut.
    fn image(&self, dir: &Path, cache: &PageCache, rng: &mut Rng, written: &mut Vec<Written>) {
        let cached = cache.dirs.get(dir).cloned().unwrap_or_default();
        let listing = match (self.dirs.get(dir), rng.one_in(2)) {
            (Some(synced), true) => synced.clone(),
            (None, true) => Listing::new(),
            (_, false) => cached,
        };
        for (name, entry) in listing {
            let path = dir.join(name);
            match entry {
                Entry::Dir => {
                    written.push(Written::Dir(path.clone()));
                    self.image(&path, cache, rng, written);
                }
                Entry::File { id } => {
                    let synced = self.files.get(&id).map_or(&[][..], Vec::as_slice);
                    let contents = torn(synced, cache.files.get(&id), rng);
                    written.push(Written::File(path, contents));
                }
            }
        }
    }
}

/// What a file holds after a power cut: its synced contents and some of the writes since.
fn torn(synced: &[u8], cached: Option<&Vec<u8>>, rng: &mut Rng) -> Vec<u8> {
    let Some(cached) = cached.filter(|cached| cached.as_slice() != synced) else {
        return synced.to_vec();
    };
    let len = match cached.len() >= synced.len() {
        true => rng.between(synced.len() as u64, cached.len() as u64) as usize,
        false => match rng.one_in(2) {
            true => synced.len(),
            false => cached.len(),
        },
    };
    // A byte as the last write left it (a truncation that did not reach the disk leaves the
    // synced bytes), and as the last fsync did (zero where the file grew since).
    let newer = |at: usize| cached.get(at).or(synced.get(at)).copied().unwrap_or(0);
    let older = |at: usize| synced.get(at).copied().unwrap_or(0);
    match rng.below(3) {
        0 => synced.to_vec(),
        1 => (0..len).map(newer).collect(),
        _ => {
            let mut contents = Vec::with_capacity(len);
            for sector in (0..len).step_by(SECTOR_BYTES) {
                let end = (sector + SECTOR_BYTES).min(len);
                match rng.one_in(2) {
                    true => contents.extend((sector..end).map(newer)),
                    false => contents.extend((sector..end).map(older)),
                }
            }
            contents
        }
    }
}

impl PageCache {
    fn read(root: &Path) -> io::Result<Self> {
        let mut cache = Self {
            dirs: HashMap::new(),
            files: HashMap::new(),
        };
        let mut pending = vec![root.to_owned()];
        while let Some(dir) = pending.pop() {
            let listing = listing(&dir)?;
            for (name, entry) in &listing {
                match entry {
                    Entry::Dir => pending.push(dir.join(name)),
                    Entry::File { .. } => {
                        let (id, contents) = contents(&File::open(dir.join(name))?)?;
                        cache.files.insert(id, contents);
                    }
                }
            }
            cache.dirs.insert(dir, listing);
        }
        Ok(cache)
    }
}

/// Every file under `root` with its size, for a failure's report.
pub fn describe(root: &Path) -> String {
    let mut lines = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for (name, entry) in listing(&dir).unwrap_or_default() {
            let path = dir.join(&name);
            let shown = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            match entry {
                Entry::Dir => pending.push(path),
                Entry::File { .. } => {
                    let size = fs::metadata(&path).map_or(0, |metadata| metadata.len());
                    lines.push(format!("  {shown} {size} bytes"));
                }
            }
        }
    }
    lines.sort();
    lines.join("\n")
}

/// The path that opens `file` again, even once it is unlinked.
fn fd_path(file: &File) -> String {
    format!("/proc/self/fd/{}", file.as_raw_fd())
}

fn listing(dir: &Path) -> io::Result<Listing> {
    let mut listing = Listing::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let metadata = entry.metadata()?;
        let kind = match metadata.is_dir() {
            true => Entry::Dir,
            false => Entry::File {
                id: file_id(&metadata),
            },
        };
        listing.insert(entry.file_name(), kind);
    }
    Ok(listing)
}

fn contents(file: &File) -> io::Result<(FileId, Vec<u8>)> {
    let metadata = file.metadata()?;
    let mut contents = vec![0; metadata.len() as usize];
    file.read_exact_at(&mut contents, 0)?;
    Ok((file_id(&metadata), contents))
}
