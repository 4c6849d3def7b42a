//! Replays every committed fuzz input (`corpus/<target>/`, and `regressions/<target>/`
//! for inputs that once found a bug) through its target on stable, so CI keeps what the
//! fuzzer learned without running it. A single allocation above [`ALLOCATION_LIMIT`] fails
//! the replay, as libFuzzer's `-malloc_limit_mb` fails a fuzzing run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use spool_fuzz::TARGETS;

/// Larger than any allocation an input of a few KiB may cause: a decompression is bounded at
/// 128 MiB (its buffer may double once past that on the way to the refusal).
const ALLOCATION_LIMIT: usize = 300 << 20;

/// The system allocator, remembering the largest single allocation asked of it.
struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_committed_input_replays_without_a_finding() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, target) in TARGETS {
        let corpus = inputs(&root.join("corpus").join(name));
        assert!(!corpus.is_empty(), "no corpus for {name}");
        let regressions = inputs(&root.join("regressions").join(name));
        for input in corpus.iter().chain(&regressions) {
            let data = std::fs::read(input).expect("read a corpus input");
            LARGEST.store(0, Ordering::Relaxed);
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(
                outcome.is_ok(),
                "{}: a finding (the panic above)",
                input.display()
            );
            let largest = LARGEST.load(Ordering::Relaxed);
            assert!(
                largest <= ALLOCATION_LIMIT,
                "{}: one allocation of {largest} bytes",
                input.display()
            );
        }
        eprintln!(
            "{name}: {} corpus inputs, {} regressions",
            corpus.len(),
            regressions.len()
        );
    }
}
