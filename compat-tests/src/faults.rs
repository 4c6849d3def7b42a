//! Disk faults for a spawned broker: `faults/preload.c`, built with the system's C compiler and
//! loaded into the broker with LD_PRELOAD, fails its storage calls under one directory as
//! the test arms it (EIO or ENOSPC on writes, EIO on fsync, ENOSPC on creating a file).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the broker's storage calls under the faulty directory do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// write, pwrite and ftruncate fail with EIO.
    WriteEio,
    /// write, pwrite and ftruncate fail with ENOSPC.
    WriteEnospc,
    /// fsync and fdatasync fail with EIO.
    SyncEio,
    /// Opening a file with O_CREAT fails with ENOSPC.
    CreateEnospc,
}

impl Fault {
    /// The control byte `preload.c` reads.
    fn byte(self) -> u8 {
        match self {
            Fault::None => b'-',
            Fault::WriteEio => b'w',
            Fault::WriteEnospc => b'n',
            Fault::SyncEio => b's',
            Fault::CreateEnospc => b'c',
        }
    }
}

/// The fault layer of one broker: its library, its control file, the directory it acts on.
pub struct DiskFaults {
    _dir: tempfile::TempDir,
    library: PathBuf,
    control_path: PathBuf,
    control: File,
    faulty_dir: PathBuf,
}

impl DiskFaults {
    /// Builds the layer for files under `faulty_dir` (absolute), with no fault armed.
    pub fn new(faulty_dir: &Path) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let library = dir.path().join("libspoolfaults.so");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("faults/preload.c");
        let built = Command::new("cc")
            .args(["-shared", "-fPIC", "-O2", "-Wall", "-o"])
            .arg(&library)
            .arg(&source)
            .arg("-ldl")
            .status()
            .expect("run cc (Debian's gcc, installed with g++ by make test-deps)");
        assert!(built.success(), "building {}", source.display());
        let control_path = dir.path().join("control");
        std::fs::write(&control_path, [Fault::None.byte()]).expect("control file");
        let control = File::options()
            .write(true)
            .open(&control_path)
            .expect("control file");
        Self {
            _dir: dir,
            library,
            control_path,
            control,
            faulty_dir: faulty_dir.to_owned(),
        }
    }

    /// The environment that loads the layer into a process.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("LD_PRELOAD".into(), self.library.display().to_string()),
            (
                "SPOOL_FAULTS_CONTROL".into(),
                self.control_path.display().to_string(),
            ),
            (
                "SPOOL_FAULTS_DIR".into(),
                self.faulty_dir.display().to_string(),
            ),
        ]
    }

    /// Arms `fault` (or none): the broker's next storage call sees it.
    pub fn set(&self, fault: Fault) {
        // In place, never truncated: the broker maps the file's first byte.
        self.control
            .write_all_at(&[fault.byte()], 0)
            .expect("control file");
    }
}
