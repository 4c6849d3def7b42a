//! Cheap mechanical rules over the source tree (rust-analyzer's "tidy" idea).

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

/// The part of a file before its unit tests.
fn non_test_code(text: &str) -> &str {
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

#[test]
fn no_unwrap_or_expect_outside_tests() {
    for file in rust_files(&src()) {
        let text = fs::read_to_string(&file).expect("read");
        for (number, line) in non_test_code(&text).lines().enumerate() {
            let code = line.split("//").next().unwrap_or(line);
            assert!(
                !code.contains(".unwrap()") && !code.contains(".expect("),
                "{}:{}: no unwrap/expect outside tests: {line}",
                file.display(),
                number + 1
            );
        }
    }
}
