//! `spool dump-log FILE [--verify]`: for a `.log` segment, its batches one line each, like
//! Kafka's `kafka-dump-log.sh` (base and last offset, count, position, size, CRC validity,
//! codec, timestamps, producer id/epoch/sequence, transactional and control flags), and any
//! bytes after the last valid batch; `--verify` also checks the `.index` and `.timeindex`
//! beside it against the batches. For an `.index` or `.timeindex` file, its entries (with
//! `--verify`, checked against the `.log` beside it). Reads the files only; safe on a running
//! broker's segments.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::log::index::{OffsetEntry, OffsetIndex, TimeEntry, TimeIndex};
use crate::log::segment::parse_log_file_name;
use crate::records::batch::{batch_size, BatchView};

/// Where a batch sits and what its header says.
#[derive(Debug, Clone, Copy)]
struct Entry {
    position: u64,
    last_offset: i64,
    max_timestamp: i64,
}

/// What the walk over a `.log` file found.
struct Walk {
    lines: String,
    entries: Vec<Entry>,
    /// Position and length of bytes that are not a valid batch (a torn tail), if any.
    garbage: Option<(u64, u64)>,
}

/// Runs the tool; the report, or an error naming what is wrong.
pub fn run(path: &Path, verify: bool) -> Result<String, String> {
    match path.extension().and_then(|ext| ext.to_str()) {
        Some("index") | Some("timeindex") => dump_index(path, verify),
        _ => dump_segment(path, verify),
    }
}

/// The entries of an index file, with absolute offsets (the base offset is in its name).
fn dump_index(path: &Path, verify: bool) -> Result<String, String> {
    let log_path = path.with_extension("log");
    let name = log_path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = parse_log_file_name(&name)
        .ok_or_else(|| format!("{} is not a segment index name", path.display()))?;
    let read_error = |error: std::io::Error| format!("{}: {error}", path.display());
    let mut report = format!("Dumping {}\n", path.display());
    if path.extension().is_some_and(|ext| ext == "index") {
        for entry in OffsetIndex::read_entries(path).map_err(read_error)? {
            let offset = base + i64::from(entry.relative_offset);
            let _ = writeln!(report, "offset: {offset} position: {}", entry.position);
        }
    } else {
        for entry in TimeIndex::read_entries(path).map_err(read_error)? {
            let offset = base + i64::from(entry.relative_offset);
            let _ = writeln!(report, "timestamp: {} offset: {offset}", entry.timestamp);
        }
    }
    if verify {
        dump_segment(&log_path, true).map_err(|failure| format!("{report}{failure}"))?;
        let _ = writeln!(report, "verify: consistent with {}", log_path.display());
    }
    Ok(report)
}

fn dump_segment(path: &Path, verify: bool) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let walk = walk(&bytes);
    let mut report = format!("Dumping {}\n", path.display());
    report.push_str(&walk.lines);
    if let Some((position, length)) = walk.garbage {
        let _ = writeln!(
            report,
            "invalid bytes at position {position}: {length} bytes after the last valid batch"
        );
    }
    if verify {
        let problems = verify_indexes(path, &walk.entries)?;
        if problems.is_empty() && walk.garbage.is_none() {
            let _ = writeln!(
                report,
                "verify: {} batches, indexes consistent",
                walk.entries.len()
            );
        } else {
            report.push_str(&problems.join("\n"));
            return Err(format!(
                "{report}\nverify failed: {} index problem(s){}",
                problems.len(),
                if walk.garbage.is_some() {
                    ", invalid tail"
                } else {
                    ""
                }
            ));
        }
    }
    Ok(report)
}

/// How many leading bytes of a `.log` file are whole, CRC-valid batches (where recovery
/// truncates a torn tail).
pub fn valid_length(bytes: &[u8]) -> u64 {
    walk(bytes)
        .garbage
        .map_or(bytes.len() as u64, |(position, _)| position)
}

/// How many whole, CRC-valid batches a `.log` file's bytes hold.
pub fn batch_count(bytes: &[u8]) -> usize {
    walk(bytes).entries.len()
}

fn walk(bytes: &[u8]) -> Walk {
    let mut lines = String::new();
    let mut entries = Vec::new();
    let mut position = 0usize;
    while position < bytes.len() {
        let rest = &bytes[position..];
        let Ok(size) = batch_size(rest) else { break };
        let Ok(view) = BatchView::parse_header(rest) else {
            break;
        };
        let crc_valid = BatchView::parse(rest).is_ok();
        let sequence = view.base_sequence();
        let last_sequence = match sequence {
            -1 => -1,
            first => first.wrapping_add(view.last_offset_delta()),
        };
        let _ = writeln!(
            lines,
            "baseOffset: {} lastOffset: {} count: {} baseSequence: {sequence} lastSequence: \
             {last_sequence} producerId: {} producerEpoch: {} partitionLeaderEpoch: {} \
             isTransactional: {} isControl: {} position: {position} {}: {} size: {size} \
             magic: 2 compresscodec: {} crcValid: {crc_valid}",
            view.base_offset(),
            view.last_offset(),
            view.records_count(),
            view.producer_id(),
            view.producer_epoch(),
            view.partition_leader_epoch(),
            view.is_transactional(),
            view.is_control(),
            if view.is_log_append_time() {
                "LogAppendTime"
            } else {
                "CreateTime"
            },
            view.max_timestamp(),
            codec_name(view.compression()),
        );
        if !crc_valid {
            break;
        }
        entries.push(Entry {
            position: position as u64,
            last_offset: view.last_offset(),
            max_timestamp: view.max_timestamp(),
        });
        position += size;
    }
    let garbage =
        (position < bytes.len()).then(|| (position as u64, (bytes.len() - position) as u64));
    Walk {
        lines,
        entries,
        garbage,
    }
}

fn codec_name(compression: i16) -> &'static str {
    match compression {
        0 => "none",
        1 => "gzip",
        2 => "snappy",
        3 => "lz4",
        4 => "zstd",
        _ => "unknown",
    }
}

/// Index problems, one line each (empty when consistent). The segment's base offset comes from
/// the file name; missing index files are reported.
fn verify_indexes(log_path: &Path, entries: &[Entry]) -> Result<Vec<String>, String> {
    let name = log_path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = parse_log_file_name(&name)
        .ok_or_else(|| format!("{name} is not a segment file name (20 digits + .log)"))?;
    let read = |extension: &str| -> Result<PathBuf, String> {
        let path = log_path.with_extension(extension);
        path.exists()
            .then_some(path.clone())
            .ok_or_else(|| format!("{} is missing", path.display()))
    };
    let offset_entries = OffsetIndex::read_entries(&read("index")?)
        .map_err(|error| format!("reading .index: {error}"))?;
    let time_entries = TimeIndex::read_entries(&read("timeindex")?)
        .map_err(|error| format!("reading .timeindex: {error}"))?;
    let mut problems = Vec::new();
    check_offset_index(base, &offset_entries, entries, &mut problems);
    check_time_index(base, &time_entries, entries, &mut problems);
    Ok(problems)
}

/// Every `.index` entry must name a batch's last offset and its position, in increasing order.
fn check_offset_index(
    base: i64,
    index: &[OffsetEntry],
    entries: &[Entry],
    problems: &mut Vec<String>,
) {
    for (at, entry) in index.iter().enumerate() {
        if at > 0 && index[at - 1].relative_offset >= entry.relative_offset {
            problems.push(format!(".index entry {at}: offsets do not increase"));
        }
        let offset = base + i64::from(entry.relative_offset);
        match entries
            .iter()
            .find(|batch| batch.position == u64::from(entry.position))
        {
            Some(batch) if batch.last_offset == offset => {}
            Some(batch) => problems.push(format!(
                ".index entry {at}: offset {offset} at position {} but the batch there ends at {}",
                entry.position, batch.last_offset
            )),
            None => problems.push(format!(
                ".index entry {at}: offset {offset} points at position {}, where no batch starts",
                entry.position
            )),
        }
    }
}

/// Every `.timeindex` entry must hold the largest timestamp seen up to the batch ending at its
/// offset, with timestamps increasing.
fn check_time_index(base: i64, index: &[TimeEntry], entries: &[Entry], problems: &mut Vec<String>) {
    for (at, entry) in index.iter().enumerate() {
        if at > 0 && index[at - 1].timestamp >= entry.timestamp {
            problems.push(format!(".timeindex entry {at}: timestamps do not increase"));
        }
        let offset = base + i64::from(entry.relative_offset);
        let Some(end) = entries.iter().position(|batch| batch.last_offset == offset) else {
            problems.push(format!(
                ".timeindex entry {at}: no batch ends at offset {offset}"
            ));
            continue;
        };
        let seen = entries[..=end]
            .iter()
            .map(|batch| batch.max_timestamp)
            .max();
        if seen != Some(entry.timestamp) {
            problems.push(format!(
                ".timeindex entry {at}: timestamp {} but the largest up to offset {offset} is {seen:?}",
                entry.timestamp
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::log::partition::testing::test_config;
    use crate::log::Partition;
    use crate::records::batch::testing::build_batch;

    fn segment_with_batches(dir: &Path) -> PathBuf {
        let partition = Partition::open(
            "t",
            0,
            dir,
            Arc::new(test_config()),
            false,
            Arc::new(ManualClock::new(0)),
        )
        .unwrap();
        for i in 0..6 {
            let bytes = build_batch(3, 1000 + i, &[7u8; 100]);
            partition
                .append(&BatchView::parse(&bytes).unwrap())
                .unwrap();
        }
        partition.sync_for_shutdown().unwrap();
        dir.join("00000000000000000000.log")
    }

    #[test]
    fn prints_every_batch_and_verifies_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let log = segment_with_batches(dir.path());
        let report = run(&log, true).unwrap();
        assert!(
            report.contains("baseOffset: 0 lastOffset: 2 count: 3"),
            "{report}"
        );
        assert!(report.contains("crcValid: true"));
        assert!(report.contains("indexes consistent"), "{report}");
        let index = run(&log.with_extension("index"), true).unwrap();
        assert!(
            index.contains("offset: ") && index.contains("position: "),
            "{index}"
        );
        let time = run(&log.with_extension("timeindex"), false).unwrap();
        assert!(time.contains("timestamp: "), "{time}");
    }

    #[test]
    fn reports_a_garbage_tail_and_a_bad_index() {
        let dir = tempfile::tempdir().unwrap();
        let log = segment_with_batches(dir.path());
        let size = std::fs::metadata(&log).unwrap().len();
        let mut bytes = std::fs::read(&log).unwrap();
        bytes.extend_from_slice(&[0xAB; 40]);
        std::fs::write(&log, &bytes).unwrap();
        let error = run(&log, true).unwrap_err();
        assert!(
            error.contains(&format!("invalid bytes at position {size}: 40 bytes")),
            "{error}"
        );
        // An index entry pointing into the middle of a batch.
        std::fs::write(log.with_extension("index"), [0, 0, 0, 2, 0, 0, 0, 5]).unwrap();
        std::fs::write(&log, &bytes[..size as usize]).unwrap();
        let error = run(&log, true).unwrap_err();
        assert!(error.contains("where no batch starts"), "{error}");
    }
}
