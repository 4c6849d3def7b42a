//! Small text files kept beside a partition's segments, written atomically (temp file, fsync,
//! rename, fsync dir): `partition.metadata` (topic id, as Kafka writes it),
//! `leader-epoch-checkpoint` (Kafka's format), `recovery-point` (the first offset not known
//! to be on disk; segments from there on are scanned after an unclean shutdown) and
//! `log-start-offset` (the first offset readable, once DeleteRecords or retention moved it);
//! and, in the data dir, `replication-offset-checkpoint` (Kafka's format: every replicated
//! partition's high watermark).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use uuid::Uuid;

use crate::log::disk;

pub const PARTITION_METADATA_FILE: &str = "partition.metadata";
pub const LEADER_EPOCH_FILE: &str = "leader-epoch-checkpoint";
pub const RECOVERY_POINT_FILE: &str = "recovery-point";
pub const LOG_START_OFFSET_FILE: &str = "log-start-offset";
pub const HIGH_WATERMARKS_FILE: &str = "replication-offset-checkpoint";

/// Replaces `path` with `contents` so that a crash leaves the old or the new file, never a mix.
pub fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut file = disk::Writer(File::create(&tmp)?);
        file.write_all(contents)?;
        disk::sync_file(&file.0)?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        disk::sync_dir(dir)?;
    }
    Ok(())
}

pub fn write_topic_id(dir: &Path, topic_id: Uuid) -> io::Result<()> {
    write_atomically(
        &dir.join(PARTITION_METADATA_FILE),
        format!("version: 0\ntopic_id: {topic_id}\n").as_bytes(),
    )
}

/// The topic id recorded in a partition directory, if readable.
pub fn read_topic_id(dir: &Path) -> Option<Uuid> {
    let text = fs::read_to_string(dir.join(PARTITION_METADATA_FILE)).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("topic_id: "))
        .and_then(|id| Uuid::parse_str(id.trim()).ok())
}

/// Writes Kafka's leader-epoch checkpoint: version, entry count, then `epoch start_offset` lines.
pub fn write_leader_epochs(dir: &Path, entries: &[(i32, i64)]) -> io::Result<()> {
    let mut text = format!("0\n{}\n", entries.len());
    for (epoch, start_offset) in entries {
        text.push_str(&format!("{epoch} {start_offset}\n"));
    }
    write_atomically(&dir.join(LEADER_EPOCH_FILE), text.as_bytes())
}

/// The `(epoch, start offset)` entries of the checkpoint, if the file is readable and whole.
pub fn read_leader_epochs(dir: &Path) -> Option<Vec<(i32, i64)>> {
    read_entries(&dir.join(LEADER_EPOCH_FILE))?
        .map(|line| {
            let mut fields = line.split_whitespace();
            Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
        })
        .collect()
}

/// The entry lines of a checkpoint in Kafka's format (version 0, entry count, entries), if
/// it has that many and every line is whole. A disk that lost part of the file (one that
/// acknowledged an fsync it did not do) leaves it short or torn; it then counts as missing.
fn read_entries(path: &Path) -> Option<impl Iterator<Item = String>> {
    let text = fs::read_to_string(path).ok()?;
    let body = text.strip_suffix('\n')?;
    let mut lines = body.split('\n');
    if lines.next()? != "0" {
        return None;
    }
    let count: usize = lines.next()?.parse().ok()?;
    let entries: Vec<String> = lines.map(str::to_owned).collect();
    (entries.len() == count).then(|| entries.into_iter())
}

pub fn write_recovery_point(dir: &Path, offset: i64) -> io::Result<()> {
    write_atomically(
        &dir.join(RECOVERY_POINT_FILE),
        format!("{offset}\n").as_bytes(),
    )
}

/// The recorded recovery point; 0 (scan everything) when missing or unreadable.
pub fn read_recovery_point(dir: &Path) -> i64 {
    read_offset(&dir.join(RECOVERY_POINT_FILE)).unwrap_or(0)
}

pub fn write_log_start_offset(dir: &Path, offset: i64) -> io::Result<()> {
    write_atomically(
        &dir.join(LOG_START_OFFSET_FILE),
        format!("{offset}\n").as_bytes(),
    )
}

/// The recorded log start offset, if one was written and is readable.
pub fn read_log_start_offset(dir: &Path) -> Option<i64> {
    read_offset(&dir.join(LOG_START_OFFSET_FILE))
}

/// An offset written as one line; `None` when missing, torn or cut short (no newline).
fn read_offset(path: &Path) -> Option<i64> {
    fs::read_to_string(path)
        .ok()?
        .strip_suffix('\n')?
        .parse()
        .ok()
}

/// Writes Kafka's `replication-offset-checkpoint` into the data dir: version, entry count,
/// then `topic partition high_watermark` lines.
pub fn write_high_watermarks(data_dir: &Path, entries: &[(String, i32, i64)]) -> io::Result<()> {
    let mut text = format!("0\n{}\n", entries.len());
    for (topic, partition, offset) in entries {
        text.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    write_atomically(&data_dir.join(HIGH_WATERMARKS_FILE), text.as_bytes())
}

/// The high watermarks of `replication-offset-checkpoint` by topic and partition (none if
/// the file is missing, short or torn).
pub fn read_high_watermarks(data_dir: &Path) -> std::collections::HashMap<(String, i32), i64> {
    let entries = read_entries(&data_dir.join(HIGH_WATERMARKS_FILE)).and_then(|lines| {
        lines
            .map(|line| {
                let mut fields = line.split_whitespace();
                let topic = fields.next()?.to_owned();
                let partition = fields.next()?.parse().ok()?;
                let offset = fields.next()?.parse().ok()?;
                Some(((topic, partition), offset))
            })
            .collect()
    });
    entries.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a disk that lost part of a checkpoint leaves (cut short, or fewer entries than
    /// counted) reads as no checkpoint, never as a wrong one.
    #[test]
    fn a_torn_checkpoint_counts_as_missing() {
        let dir = tempfile::tempdir().unwrap();
        write_recovery_point(dir.path(), 140).unwrap();
        assert_eq!(read_recovery_point(dir.path()), 140);
        fs::write(dir.path().join(RECOVERY_POINT_FILE), "14").unwrap();
        assert_eq!(read_recovery_point(dir.path()), 0);
        write_leader_epochs(dir.path(), &[(0, 0), (3, 17)]).unwrap();
        assert_eq!(read_leader_epochs(dir.path()), Some(vec![(0, 0), (3, 17)]));
        fs::write(dir.path().join(LEADER_EPOCH_FILE), "0\n2\n0 0\n").unwrap();
        assert_eq!(read_leader_epochs(dir.path()), None);
        fs::write(dir.path().join(LEADER_EPOCH_FILE), "0\n2\n0 0\n3 1").unwrap();
        assert_eq!(read_leader_epochs(dir.path()), None);
        write_high_watermarks(dir.path(), &[("t".into(), 0, 5)]).unwrap();
        fs::write(dir.path().join(HIGH_WATERMARKS_FILE), "0\n1\nt 0").unwrap();
        assert!(read_high_watermarks(dir.path()).is_empty());
    }

    #[test]
    fn high_watermarks_round_trip_in_kafkas_format() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_high_watermarks(dir.path()).is_empty());
        let entries = [
            ("a.b".to_owned(), 0, 42),
            ("__consumer_offsets".to_owned(), 49, 7),
        ];
        write_high_watermarks(dir.path(), &entries).unwrap();
        let text = fs::read_to_string(dir.path().join(HIGH_WATERMARKS_FILE)).unwrap();
        assert_eq!(text, "0\n2\na.b 0 42\n__consumer_offsets 49 7\n");
        let read = read_high_watermarks(dir.path());
        assert_eq!(read.len(), 2);
        assert_eq!(read[&("a.b".to_owned(), 0)], 42);
    }

    #[test]
    fn checkpoints_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let id = Uuid::new_v4();
        write_topic_id(dir.path(), id).unwrap();
        assert_eq!(read_topic_id(dir.path()), Some(id));
        write_leader_epochs(dir.path(), &[(0, 0), (3, 100)]).unwrap();
        assert_eq!(read_leader_epochs(dir.path()), Some(vec![(0, 0), (3, 100)]));
        assert_eq!(read_recovery_point(dir.path()), 0);
        write_recovery_point(dir.path(), 42).unwrap();
        assert_eq!(read_recovery_point(dir.path()), 42);
        assert_eq!(read_log_start_offset(dir.path()), None);
        write_log_start_offset(dir.path(), 7).unwrap();
        assert_eq!(read_log_start_offset(dir.path()), Some(7));
    }
}
