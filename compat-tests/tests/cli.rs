//! The `spool` command line: bad configuration is refused with exit code 2, naming the key.

use std::process::Command;

use compat_tests::broker_binary;

fn run_with_config(text: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, text).unwrap();
    let output = Command::new(broker_binary())
        .arg("--config")
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .expect("spool runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_config_exits_2_and_names_the_key() {
    for (text, key) in [
        ("\"num.partitions\" = -3", "num.partitions"),
        ("\"log.segment.bytes\" = \"big\"", "log.segment.bytes"),
        ("\"no.such.setting\" = 1", "no.such.setting"),
        ("listeners = \"PLAINTEXT://nowhere\"", "listeners"),
    ] {
        let (code, stderr) = run_with_config(text);
        assert_eq!(code, Some(2), "{text}: {stderr}");
        assert!(stderr.contains(key), "{text}: {stderr}");
    }
}
