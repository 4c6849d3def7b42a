//! Cheap mechanical rules over the source tree (rust-analyzer's "tidy" idea), among them the
//! layering of `ARCHITECTURE.md`: every top-level module refers only to the modules its row
//! in [`LAYERS`] allows, and a row allows only modules listed below it, so the modules cannot
//! import each other in a cycle. Test code is held to the layers too.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The part of a file before its unit tests (nothing of a `#![cfg(test)]` file).
fn non_test_code(text: &str) -> &str {
    if text.contains("#![cfg(test)]") {
        return "";
    }
    text.split("#[cfg(test)]").next().unwrap_or(text)
}

#[test]
fn every_module_has_a_doc_comment() {
    for file in rust_files(&src()) {
        let text = fs::read_to_string(&file).expect("read");
        assert!(
            text.starts_with("//!"),
            "{} must start with a //! doc comment",
            file.display()
        );
    }
}

/// Fails on any line of non-test code in `files` that contains one of `forbidden` (outside
/// a `//` comment), with `rule` as the message.
fn forbid_in_code(files: impl IntoIterator<Item = PathBuf>, forbidden: &[&str], rule: &str) {
    for file in files {
        let text = fs::read_to_string(&file).expect("read");
        for (number, line) in non_test_code(&text).lines().enumerate() {
            let code = line.split("//").next().unwrap_or(line);
            assert!(
                !forbidden.iter().any(|pattern| code.contains(pattern)),
                "{}:{}: {rule}: {line}",
                file.display(),
                number + 1
            );
        }
    }
}

#[test]
fn no_unwrap_or_expect_outside_tests() {
    forbid_in_code(
        rust_files(&src()),
        &[".unwrap()", ".expect("],
        "no unwrap/expect outside tests",
    );
}

/// Every fsync and every write of the log goes through `log::disk`, where the simulated disk
/// of `tests/simulation/` sees it: a sync made anywhere else would be invisible to the
/// simulation's crashes, a write to its full disk.
#[test]
fn every_fsync_and_log_write_goes_through_the_log_disk_module() {
    let seam = src().join("log").join("disk.rs");
    forbid_in_code(
        rust_files(&src()).into_iter().filter(|file| *file != seam),
        &[".sync_all()", ".sync_data()"],
        "fsync through crate::log::disk",
    );
    forbid_in_code(
        rust_files(&src().join("log"))
            .into_iter()
            .filter(|file| *file != seam),
        &[".write_all_at(", ".write_at(", "fs::write("],
        "write through crate::log::disk",
    );
    for file in rust_files(&src().join("log")) {
        let text = fs::read_to_string(&file).expect("read");
        for (number, line) in non_test_code(&text).lines().enumerate() {
            assert!(
                !line.contains("File::create(") || line.contains("disk::Writer(File::create("),
                "{}:{}: a created file is written through crate::log::disk::Writer: {line}",
                file.display(),
                number + 1
            );
        }
    }
}

/// Every top-level module of the library, top layer first, with the modules it may use.
/// `main.rs` (which wires them all together) and `lib.rs` are outside the layers.
const LAYERS: &[(&str, &[&str])] = &[
    // The wire side knows requests and frames, never the storage or the coordinators.
    (
        "server",
        &[
            "handlers",
            "protocol",
            "broker",
            "metrics",
            "file_slice",
            "tls",
            "sasl",
        ],
    ),
    (
        "handlers",
        &[
            "broker",
            "protocol",
            "metadata",
            "config",
            "txn",
            "group",
            "log",
            "records",
            "metrics",
            "file_slice",
            "clock",
            "sasl",
            "acl",
            "quota",
        ],
    ),
    // The tools are Kafka clients; dump-log reads segment files and internal-topic records.
    ("cli", &["group", "log", "records", "clock"]),
    (
        "broker",
        &[
            "metadata",
            "config",
            "txn",
            "producer_ids",
            "group",
            "log",
            "metrics",
            "clock",
            "cluster",
            "peers",
            "replication",
            "sasl",
            "acl",
            "quota",
        ],
    ),
    // Replication: the leader's view of its followers, the followers' fetchers.
    (
        "replication",
        &["log", "records", "peers", "metrics", "clock"],
    ),
    ("metadata", &["config", "log", "sasl", "acl", "quota"]),
    (
        "config",
        &[
            "txn", "group", "log", "cluster", "tls", "sasl", "acl", "quota",
        ],
    ),
    ("txn", &["producer_ids", "group", "log", "records", "clock"]),
    ("producer_ids", &["log"]),
    ("group", &["log", "records", "clock"]),
    ("log", &["records", "metrics", "file_slice", "clock"]),
    ("protocol", &["records", "file_slice"]),
    // The cluster store and membership (etcd, or its in-memory model) know no broker parts.
    ("cluster", &["sasl", "acl", "quota"]),
    // Connections to the other brokers: Kafka requests out, responses in.
    ("peers", &["tls", "sasl"]),
    // Leaves.
    ("records", &[]),
    ("metrics", &[]),
    ("file_slice", &[]),
    ("clock", &[]),
    ("open_files", &[]),
    ("tls", &[]),
    ("sasl", &[]),
    ("acl", &[]),
    ("quota", &[]),
];

/// The module named right after each `crate::` in `line` (the first segment of each path in
/// a `crate::{a::b, c}` group), ignoring a `//` comment.
fn crate_modules(line: &str) -> Vec<&str> {
    let code = line.split("//").next().unwrap_or_default();
    let mut modules = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(group) => {
                // Only the top level of the group: `log::{a, b}` names `log` once.
                let mut depth = 0;
                let mut start = true;
                for (index, character) in group.char_indices() {
                    match character {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => start = true,
                        _ if start && is_ident(character) => {
                            modules.push(ident_at(group, index));
                            start = false;
                        }
                        _ => {}
                    }
                }
            }
            None => modules.push(ident_at(rest, 0)),
        }
    }
    modules.retain(|module| !module.is_empty());
    modules
}

fn is_ident(character: char) -> bool {
    character.is_ascii_alphanumeric() || character == '_'
}

fn ident_at(text: &str, start: usize) -> &str {
    let rest = &text[start..];
    let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
    &rest[..end]
}

/// The top-level module a file under `src/` belongs to (`None` for `lib.rs` and `main.rs`).
fn top_module(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    let module = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(module, "lib" | "main")).then(|| module.to_owned())
}

fn allowed(module: &str) -> Option<&'static [&'static str]> {
    LAYERS
        .iter()
        .find(|(name, _)| *name == module)
        .map(|(_, allowed)| *allowed)
}

#[test]
fn a_layer_may_only_use_layers_below_it() {
    for (at, (module, allowed)) in LAYERS.iter().enumerate() {
        for used in *allowed {
            assert!(
                LAYERS[at + 1..].iter().any(|(name, _)| name == used),
                "{module} may use {used}, which is not listed below it"
            );
        }
    }
}

#[test]
fn every_module_has_a_layer() {
    let mut modules: Vec<String> = rust_files(&src())
        .iter()
        .filter_map(|path| top_module(path.strip_prefix(src()).ok()?))
        .collect();
    modules.sort();
    modules.dedup();
    for module in &modules {
        assert!(
            allowed(module).is_some(),
            "src/{module} has no row in LAYERS (tests/tidy.rs) and ARCHITECTURE.md"
        );
    }
    for (module, _) in LAYERS {
        assert!(
            modules.iter().any(|name| name == module),
            "LAYERS names {module}, which is not a module"
        );
    }
}

#[test]
fn modules_use_only_what_their_layer_allows() {
    let root = src();
    let mut broken = Vec::new();
    for path in &rust_files(&root) {
        let relative = path.strip_prefix(&root).unwrap();
        let Some(module) = top_module(relative) else {
            continue;
        };
        let allowed = allowed(&module).unwrap_or_default();
        let text = std::fs::read_to_string(path).unwrap();
        for (number, line) in text.lines().enumerate() {
            for used in crate_modules(line) {
                if used != module && !allowed.contains(&used) {
                    broken.push(format!(
                        "src/{}:{}: {module} uses {used}",
                        relative.display(),
                        number + 1
                    ));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "imports against the layers of ARCHITECTURE.md:\n{}",
        broken.join("\n")
    );
}

#[test]
fn finds_the_modules_a_line_uses() {
    assert_eq!(crate_modules("use crate::log::FileSlice;"), ["log"]);
    assert_eq!(
        crate_modules("use crate::{log::{self, LogError}, records, group::x};"),
        ["log", "records", "group"]
    );
    assert_eq!(
        crate_modules("    let x = crate::metrics::global(); // crate::broker"),
        ["metrics"]
    );
    assert!(crate_modules("/// see crate::broker").is_empty());
    assert!(crate_modules("use super::errors;").is_empty());
}
