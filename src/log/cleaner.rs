//! Log compaction (`cleanup.policy=compact`): in the closed segments below the last stable
//! offset and older than `min.compaction.lag.ms`, keep only the newest record of each key.
//!
//! One pass builds the key → newest offset map over those segments (bounded by
//! `log.cleaner.dedupe.buffer.size`; segments that do not fit wait for the next pass), a
//! second rewrites each of them: a record survives if it is its key's newest, and a tombstone
//! (null value) only while it is younger than `delete.retention.ms`. Offsets never change (gaps
//! are fine); records of aborted transactions go, control batches stay, and an emptied batch
//! that is its producer's last is kept without records so the producer's sequence is
//! remembered. Kept records are copied byte for byte; a batch that lost records is recompressed
//! with its own codec. The file swap itself is in [`super::partition`].

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;

use crate::file_slice::read_range;
use crate::log::transactions::AbortedTxn;
use crate::log::LogError;
use crate::records::batch::{batch_size, BatchView, BATCH_HEADER_BYTES};
use crate::records::raw;

/// Bytes one map entry costs beyond its key (offset, hash table overhead).
const MAP_ENTRY_OVERHEAD_BYTES: usize = 32;

/// A closed segment to clean: its offsets, file and size.
#[derive(Debug, Clone)]
pub struct DirtySegment {
    pub base_offset: i64,
    pub next_offset: i64,
    pub file: std::sync::Arc<File>,
    pub size: u64,
}

/// What the rewrite of one segment removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cleaned {
    pub records_removed: u64,
    pub bytes_written: u64,
}

/// Everything the rewrite decides with.
#[derive(Debug)]
pub struct CleanRules<'a> {
    /// Key → offset of its newest record in the cleaned range.
    pub newest: &'a HashMap<Vec<u8>, i64>,
    pub aborted: &'a [AbortedTxn],
    /// Producer id → base offset of its last batch in the log.
    pub producers_last_batch: &'a HashMap<i64, i64>,
    /// Tombstones in batches stamped before this are removed.
    pub tombstone_horizon_ms: i64,
}

/// Calls `visit` with every whole batch of a segment file, in order.
fn for_each_batch(
    file: &File,
    size: u64,
    mut visit: impl FnMut(&BatchView<'_>) -> Result<(), LogError>,
) -> Result<(), LogError> {
    let mut position = 0u64;
    while position + BATCH_HEADER_BYTES as u64 <= size {
        let header = read_range(file, position, BATCH_HEADER_BYTES)?;
        let length = batch_size(&header)? as u64;
        if position + length > size {
            break;
        }
        let bytes = read_range(file, position, length as usize)?;
        visit(&BatchView::parse_header(&bytes)?)?;
        position += length;
    }
    Ok(())
}

fn is_aborted(aborted: &[AbortedTxn], batch: &BatchView<'_>) -> bool {
    batch.is_transactional()
        && aborted.iter().any(|txn| {
            txn.producer_id == batch.producer_id()
                && (txn.first_offset..=txn.last_offset).contains(&batch.base_offset())
        })
}

/// Builds the newest-offset map over `segments` in order, stopping before the first segment
/// whose keys would take the map past `limit_bytes`. Returns the map and how many segments
/// it covers.
pub fn newest_offsets(
    segments: &[DirtySegment],
    aborted: &[AbortedTxn],
    limit_bytes: usize,
) -> Result<(HashMap<Vec<u8>, i64>, usize), LogError> {
    let mut newest: HashMap<Vec<u8>, i64> = HashMap::new();
    let mut used = 0usize;
    for (covered, segment) in segments.iter().enumerate() {
        let mut keys: HashMap<Vec<u8>, i64> = HashMap::new();
        for_each_batch(&segment.file, segment.size, |batch| {
            if batch.is_control() || is_aborted(aborted, batch) {
                return Ok(());
            }
            let section = raw::decompressed_section(batch)?;
            for record in raw::records(&section, batch.records_count())? {
                if let Some(key) = record.key {
                    let offset = batch.base_offset() + i64::from(record.offset_delta);
                    keys.insert(key.to_vec(), offset);
                }
            }
            Ok(())
        })?;
        let added: usize = keys
            .keys()
            .filter(|key| !newest.contains_key(*key))
            .map(|key| key.len() + MAP_ENTRY_OVERHEAD_BYTES)
            .sum();
        if covered > 0 && used + added > limit_bytes {
            return Ok((newest, covered));
        }
        used += added;
        newest.extend(keys);
    }
    Ok((newest, segments.len()))
}

/// Writes the cleaned form of `segment` to `out`.
pub fn clean_segment(
    segment: &DirtySegment,
    rules: &CleanRules<'_>,
    out: &mut impl Write,
) -> Result<Cleaned, LogError> {
    let mut cleaned = Cleaned::default();
    for_each_batch(&segment.file, segment.size, |batch| {
        let kept_bytes = if batch.is_control() {
            Some(batch.bytes().to_vec())
        } else {
            let section = raw::decompressed_section(batch)?;
            let records = raw::records(&section, batch.records_count())?;
            let aborted = is_aborted(rules.aborted, batch);
            let kept: Vec<raw::RawRecord<'_>> = records
                .iter()
                .filter(|record| !aborted && keep(record, batch, rules))
                .copied()
                .collect();
            cleaned.records_removed += (records.len() - kept.len()) as u64;
            let producers_last = batch.producer_id() >= 0
                && rules.producers_last_batch.get(&batch.producer_id())
                    == Some(&batch.base_offset());
            if kept.len() == records.len() {
                Some(batch.bytes().to_vec())
            } else if !kept.is_empty() || producers_last {
                Some(raw::rebuild(batch, &kept)?)
            } else {
                None
            }
        };
        if let Some(bytes) = kept_bytes {
            out.write_all(&bytes).map_err(LogError::Io)?;
            cleaned.bytes_written += bytes.len() as u64;
        }
        Ok(())
    })?;
    Ok(cleaned)
}

/// A record stays if it has no key (nothing to deduplicate it against), or is its key's newest
/// and not an expired tombstone.
fn keep(record: &raw::RawRecord<'_>, batch: &BatchView<'_>, rules: &CleanRules<'_>) -> bool {
    let Some(key) = record.key else {
        return true;
    };
    let offset = batch.base_offset() + i64::from(record.offset_delta);
    match rules.newest.get(key) {
        Some(&newest) if newest > offset => false,
        _ => !(record.null_value && batch.max_timestamp() < rules.tombstone_horizon_ms),
    }
}
