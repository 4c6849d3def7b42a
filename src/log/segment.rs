//! One log segment: `<base offset>.log` holding RecordBatch v2 bytes, plus its `.index` and
//! `.timeindex`. Only the segment knows file positions.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::file_slice::read_range;
use crate::log::disk;
use crate::log::index::{OffsetEntry, OffsetIndex, TimeEntry, TimeIndex};
use crate::records::batch::{BatchHeader, BatchView, BATCH_HEADER_BYTES};

/// Kafka's width for the zero-padded base offset in segment file names.
const FILE_NAME_DIGITS: usize = 20;
/// Largest segment file: positions in the `.index` are u32 and Kafka caps segments at i32::MAX.
pub const SEGMENT_SIZE_MAX_BYTES: u64 = i32::MAX as u64;

/// File name of a segment file: `00000000000000000042.log`.
pub fn file_name(base_offset: i64, extension: &str) -> String {
    format!(
        "{base_offset:0width$}.{extension}",
        width = FILE_NAME_DIGITS
    )
}

/// Deletes a segment's `.log`, `.index` and `.timeindex`, whichever exist.
pub fn remove_files(dir: &Path, base_offset: i64) -> io::Result<()> {
    for extension in ["log", "index", "timeindex"] {
        match std::fs::remove_file(dir.join(file_name(base_offset, extension))) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
    }
    Ok(())
}

/// Parses the base offset out of a `.log` file name.
pub fn parse_log_file_name(name: &str) -> Option<i64> {
    let stem = name.strip_suffix(".log")?;
    if stem.len() != FILE_NAME_DIGITS || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Where a batch sits in a segment, as found by [`Segment::locate`], with its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLocation {
    pub position: u64,
    pub size: u64,
    pub header: BatchHeader,
}

impl BatchLocation {
    pub fn base_offset(&self) -> i64 {
        self.header.base_offset
    }
    pub fn last_offset(&self) -> i64 {
        self.header.last_offset()
    }
}

/// What recovery found in a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryReport {
    pub valid_bytes: u64,
    pub truncated_bytes: u64,
}

/// A segment's files and the in-memory state derived from them.
#[derive(Debug)]
pub struct Segment {
    base_offset: i64,
    log_path: PathBuf,
    log: Arc<File>,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    size: u64,
    next_offset: i64,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    bytes_since_index_entry: u64,
    index_interval_bytes: u64,
    created_at_ms: i64,
}

impl Segment {
    /// Creates a new empty segment, replacing any files of the same name.
    pub fn create(
        dir: &Path,
        base_offset: i64,
        index_interval_bytes: u64,
        now_ms: i64,
    ) -> io::Result<Self> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log_path)?;
        Self::with_empty_indexes(
            dir,
            base_offset,
            log_path,
            log,
            index_interval_bytes,
            now_ms,
        )
    }

    /// A segment over `log` whose indexes are (re)created empty, for a new segment or one
    /// about to be rebuilt.
    fn with_empty_indexes(
        dir: &Path,
        base_offset: i64,
        log_path: PathBuf,
        log: File,
        index_interval_bytes: u64,
        now_ms: i64,
    ) -> io::Result<Self> {
        let offset_index =
            OffsetIndex::rewrite(&dir.join(file_name(base_offset, "index")), Vec::new())?;
        let time_index =
            TimeIndex::rewrite(&dir.join(file_name(base_offset, "timeindex")), Vec::new())?;
        Ok(Self::unscanned(
            base_offset,
            log_path,
            log,
            offset_index,
            time_index,
            index_interval_bytes,
            now_ms,
        ))
    }

    /// A segment over its files whose contents are not walked yet: empty derived state.
    fn unscanned(
        base_offset: i64,
        log_path: PathBuf,
        log: File,
        offset_index: OffsetIndex,
        time_index: TimeIndex,
        index_interval_bytes: u64,
        created_at_ms: i64,
    ) -> Self {
        Self {
            base_offset,
            log_path,
            log: Arc::new(log),
            offset_index,
            time_index,
            size: 0,
            next_offset: base_offset,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            bytes_since_index_entry: 0,
            index_interval_bytes,
            created_at_ms,
        }
    }

    /// Opens an existing segment. With `recover`, every batch is validated (lengths, offsets,
    /// CRC), the file is truncated at the first invalid byte and both indexes are rebuilt.
    /// Without it, the indexes are trusted if well formed and only the tail after the last
    /// index entry is walked; a malformed index or tail falls back to recovery.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        index_interval_bytes: u64,
        recover: bool,
        now_ms: i64,
    ) -> io::Result<(Self, Option<RecoveryReport>)> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let log = OpenOptions::new().read(true).write(true).open(&log_path)?;
        let size = log.metadata()?.len();
        let offset_index_path = dir.join(file_name(base_offset, "index"));
        let time_index_path = dir.join(file_name(base_offset, "timeindex"));
        if !recover {
            if let (Some(offset_index), Some(time_index)) = (
                OffsetIndex::open(&offset_index_path)?,
                TimeIndex::open(&time_index_path)?,
            ) {
                let mut segment = Self::unscanned(
                    base_offset,
                    log_path.clone(),
                    log.try_clone()?,
                    offset_index,
                    time_index,
                    index_interval_bytes,
                    now_ms,
                );
                segment.size = size;
                if segment.load_tail()? {
                    return Ok((segment, None));
                }
                tracing::warn!(path = %log_path.display(), "segment index or tail inconsistent, recovering");
            }
        }
        let mut segment = Self::with_empty_indexes(
            dir,
            base_offset,
            log_path,
            log,
            index_interval_bytes,
            now_ms,
        )?;
        let valid_bytes = segment.rebuild(size)?;
        if valid_bytes < size {
            segment.log.set_len(valid_bytes)?;
            disk::sync_file(&segment.log)?;
        }
        Ok((
            segment,
            Some(RecoveryReport {
                valid_bytes,
                truncated_bytes: size - valid_bytes,
            }),
        ))
    }

    /// Walks and validates every batch of the file, re-indexing as it goes; returns the
    /// position of the first invalid byte (or the file size).
    fn rebuild(&mut self, file_size: u64) -> io::Result<u64> {
        let mut position = 0u64;
        let mut buffer = Vec::new();
        while position < file_size {
            let Some(location) = self.read_location(position, file_size)? else {
                break;
            };
            if location.base_offset() < self.next_offset
                || location.last_offset() - self.base_offset > i64::from(u32::MAX)
            {
                break;
            }
            buffer.resize(location.size as usize, 0);
            self.log.read_exact_at(&mut buffer, position)?;
            let Ok(view) = BatchView::parse(&buffer) else {
                break;
            };
            let max_timestamp = view.max_timestamp();
            self.record_batch(
                position,
                location.last_offset(),
                max_timestamp,
                location.size,
            )?;
            position += location.size;
        }
        Ok(position)
    }

    /// Derives `next_offset` and the max timestamp from the indexes and the batches after the
    /// last offset index entry. Returns false if anything does not line up.
    fn load_tail(&mut self) -> io::Result<bool> {
        if let Some(last) = self.time_index.last() {
            self.max_timestamp = last.timestamp;
            self.offset_of_max_timestamp = self.base_offset + i64::from(last.relative_offset);
        }
        let last_entry = self.offset_index.last();
        let mut position = last_entry.map_or(0, |entry| u64::from(entry.position));
        if last_entry.is_some() && position >= self.size {
            return Ok(false);
        }
        let tail_start = position;
        while position < self.size {
            let Some(location) = self.read_location(position, self.size)? else {
                return Ok(false);
            };
            // The last index entry must name the batch that starts where it points.
            if let Some(entry) = last_entry.filter(|_| position == tail_start) {
                if location.last_offset() != self.base_offset + i64::from(entry.relative_offset) {
                    return Ok(false);
                }
            }
            if location.header.max_timestamp > self.max_timestamp {
                self.max_timestamp = location.header.max_timestamp;
                self.offset_of_max_timestamp = location.last_offset();
            }
            self.next_offset = location.last_offset() + 1;
            position += location.size;
        }
        self.bytes_since_index_entry = self.size - tail_start;
        Ok(position == self.size && self.offset_of_max_timestamp < self.next_offset)
    }

    /// Reads the batch header at `position` and checks that the batch fits in `file_size`.
    fn read_location(&self, position: u64, file_size: u64) -> io::Result<Option<BatchLocation>> {
        if file_size - position < BATCH_HEADER_BYTES as u64 {
            return Ok(None);
        }
        let mut bytes = [0u8; BATCH_HEADER_BYTES];
        self.log.read_exact_at(&mut bytes, position)?;
        let Ok(header) = BatchHeader::parse(&bytes) else {
            return Ok(None);
        };
        let size = header.size as u64;
        if size > file_size - position || header.base_offset < self.base_offset {
            return Ok(None);
        }
        Ok(Some(BatchLocation {
            position,
            size,
            header,
        }))
    }

    /// Updates indexes and counters for a batch just written at `position`. On an error
    /// (a full disk) nothing changes: no index entry points at the batch, which the next
    /// append overwrites.
    fn record_batch(
        &mut self,
        position: u64,
        last_offset: i64,
        max_timestamp: i64,
        size: u64,
    ) -> io::Result<()> {
        let (max_timestamp, offset_of_max_timestamp) = if max_timestamp > self.max_timestamp {
            (max_timestamp, last_offset)
        } else {
            (self.max_timestamp, self.offset_of_max_timestamp)
        };
        if self.bytes_since_index_entry > self.index_interval_bytes {
            self.offset_index.append(OffsetEntry {
                relative_offset: self.relative(last_offset),
                position: position as u32,
            })?;
            let timed = self.time_index.append(TimeEntry {
                timestamp: max_timestamp,
                relative_offset: self.relative(offset_of_max_timestamp),
            });
            if let Err(error) = timed {
                self.offset_index.remove_last()?;
                return Err(error);
            }
            self.bytes_since_index_entry = 0;
        }
        self.max_timestamp = max_timestamp;
        self.offset_of_max_timestamp = offset_of_max_timestamp;
        self.bytes_since_index_entry += size;
        self.size = position + size;
        self.next_offset = last_offset + 1;
        Ok(())
    }

    fn relative(&self, offset: i64) -> u32 {
        (offset - self.base_offset) as u32
    }

    /// Appends a batch whose header has been stamped (`header`) and whose remaining bytes are
    /// `view.bytes()[BATCH_HEADER_BYTES..]`.
    pub fn append(
        &mut self,
        header: &[u8; BATCH_HEADER_BYTES],
        view: &BatchView<'_>,
        last_offset: i64,
        max_timestamp: i64,
    ) -> io::Result<()> {
        let position = self.size;
        let written = disk::write_all_at(&self.log, header, position)
            .and_then(|()| {
                disk::write_all_at(
                    &self.log,
                    &view.bytes()[BATCH_HEADER_BYTES..],
                    position + BATCH_HEADER_BYTES as u64,
                )
            })
            .and_then(|()| {
                self.record_batch(position, last_offset, max_timestamp, view.size() as u64)
            });
        if written.is_err() {
            // Drop whatever part of the batch reached the file, so the file ends where the
            // log does (best effort: the next append overwrites it anyway).
            let _ = self.log.set_len(position);
        }
        written
    }

    /// Whether a batch of `batch_size` bytes may still go into this segment.
    pub fn has_room_for(&self, batch_size: u64, segment_bytes: u64) -> bool {
        self.size == 0
            || (self.size + batch_size <= segment_bytes.min(SEGMENT_SIZE_MAX_BYTES)
                && self.next_offset - self.base_offset + batch_size as i64 <= i64::from(u32::MAX))
    }

    /// The first batch whose last offset is ≥ `offset`, using the offset index to skip ahead.
    pub fn locate(&self, offset: i64) -> io::Result<Option<BatchLocation>> {
        let relative = (offset - self.base_offset).max(0);
        let start = self
            .offset_index
            .lower(relative)
            .map_or(0, |entry| u64::from(entry.position));
        self.walk_from(start, |location| location.last_offset() >= offset)
    }

    /// The first batch at or after `from_offset` whose max timestamp is ≥ `timestamp`.
    pub fn find_by_timestamp(
        &self,
        timestamp: i64,
        from_offset: i64,
    ) -> io::Result<Option<BatchLocation>> {
        if self.max_timestamp < timestamp {
            return Ok(None);
        }
        let start = match self.time_index.lower(timestamp) {
            Some(entry) => self
                .offset_index
                .floor(i64::from(entry.relative_offset))
                .map_or(0, |entry| u64::from(entry.position)),
            None => 0,
        };
        self.walk_from(start, |location| {
            location.last_offset() >= from_offset && location.header.max_timestamp >= timestamp
        })
    }

    /// End position of the longest run of whole batches that starts at `start` (a batch
    /// boundary), ends at or before `limit`, and holds only batches whose base offset is below
    /// `upper`. Without a limit inside the segment it is the segment's size; otherwise the
    /// offset index skips to the last indexed batch that qualifies and headers are walked
    /// from there (about `index.interval.bytes` of them).
    pub fn whole_batches_end(&self, start: u64, limit: u64, upper: i64) -> io::Result<u64> {
        let limit = limit.min(self.size);
        if limit == self.size && upper >= self.next_offset {
            return Ok(self.size);
        }
        let entries = self.offset_index.entries();
        let indexed = entries.partition_point(|entry| {
            u64::from(entry.position) <= limit
                && self.base_offset + i64::from(entry.relative_offset) < upper
        });
        let mut end = indexed
            .checked_sub(1)
            .map_or(start, |at| u64::from(entries[at].position).max(start));
        while let Some(location) = self.read_location(end, self.size)? {
            if end + location.size > limit || location.base_offset() >= upper {
                break;
            }
            end += location.size;
        }
        Ok(end)
    }

    /// The bytes of the batch at `location`.
    pub fn read_batch(&self, location: &BatchLocation) -> io::Result<Vec<u8>> {
        read_range(&self.log, location.position, location.size as usize)
    }

    /// Visits every batch header of the segment, in order.
    pub fn for_each_batch(&self, mut visit: impl FnMut(&BatchLocation)) -> io::Result<()> {
        self.walk_from(0, |location| {
            visit(location);
            false
        })
        .map(drop)
    }

    fn walk_from(
        &self,
        mut position: u64,
        mut found: impl FnMut(&BatchLocation) -> bool,
    ) -> io::Result<Option<BatchLocation>> {
        while let Some(location) = self.read_location(position, self.size)? {
            if found(&location) {
                return Ok(Some(location));
            }
            position += location.size;
        }
        Ok(None)
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }
    /// Offset the next appended batch gets.
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }
    /// Largest batch max timestamp in the segment, -1 when empty.
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }
    /// Last offset of the batch holding the largest timestamp, -1 when empty.
    pub fn offset_of_max_timestamp(&self) -> i64 {
        self.offset_of_max_timestamp
    }
    pub fn created_at_ms(&self) -> i64 {
        self.created_at_ms
    }
    /// A shared handle to the `.log` file, for reads outside the partition lock.
    pub fn log_file(&self) -> Arc<File> {
        Arc::clone(&self.log)
    }
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Makes the log and both indexes durable.
    pub fn sync_all(&self) -> io::Result<()> {
        disk::sync_data(&self.log)?;
        self.offset_index.sync()?;
        self.time_index.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::batch::testing::build_batch;
    use crate::records::{stamped_header, AppendStamp};
    use proptest::prelude::*;

    fn append(segment: &mut Segment, count: i32, timestamp: i64, payload: &[u8]) -> i64 {
        let bytes = build_batch(count, timestamp, payload);
        let view = BatchView::parse(&bytes).unwrap();
        let base_offset = segment.next_offset();
        let header = stamped_header(
            &view,
            AppendStamp {
                base_offset,
                partition_leader_epoch: 0,
                log_append_time_ms: None,
            },
        );
        segment
            .append(
                &header,
                &view,
                base_offset + i64::from(count - 1),
                timestamp,
            )
            .unwrap();
        base_offset
    }

    #[test]
    fn file_names_round_trip() {
        assert_eq!(file_name(42, "log"), "00000000000000000042.log");
        assert_eq!(parse_log_file_name("00000000000000000042.log"), Some(42));
        assert_eq!(parse_log_file_name("42.log"), None);
        assert_eq!(parse_log_file_name("00000000000000000042.index"), None);
    }

    #[test]
    fn locate_and_timestamp_lookup_use_the_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let mut segment = Segment::create(dir.path(), 100, 64, 0).unwrap();
        for i in 0..50 {
            append(&mut segment, 3, 1000 + i * 10, &[i as u8; 40]);
        }
        assert!(
            segment.offset_index.entries().len() > 10,
            "sparse index was written"
        );
        assert_eq!(segment.next_offset(), 250);
        for offset in 100..250 {
            let location = segment.locate(offset).unwrap().unwrap();
            assert!(location.base_offset() <= offset && offset <= location.last_offset());
        }
        assert_eq!(segment.locate(250).unwrap(), None);
        let found = segment.find_by_timestamp(1205, 0).unwrap().unwrap();
        assert_eq!(found.base_offset(), 100 + 21 * 3);
        assert_eq!(found.header.max_timestamp, 1210);
        let later = segment.find_by_timestamp(1205, 200).unwrap().unwrap();
        assert!(later.base_offset() <= 200 && 200 <= later.last_offset());
        assert_eq!(
            segment
                .find_by_timestamp(0, 0)
                .unwrap()
                .unwrap()
                .base_offset(),
            100
        );
        assert_eq!(segment.find_by_timestamp(5000, 0).unwrap(), None);
    }

    #[test]
    fn reopen_without_recovery_trusts_indexes_and_reads_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut segment = Segment::create(dir.path(), 0, 100, 0).unwrap();
        for i in 0..20 {
            append(&mut segment, 2, i, &[7; 30]);
        }
        let (reopened, report) = Segment::open(dir.path(), 0, 100, false, 0).unwrap();
        assert!(report.is_none());
        assert_eq!(reopened.next_offset(), 40);
        assert_eq!(reopened.size(), segment.size());
        assert_eq!(reopened.max_timestamp(), 19);
        assert_eq!(
            reopened.offset_index.entries(),
            segment.offset_index.entries()
        );
    }

    #[test]
    fn index_entry_naming_the_wrong_batch_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let mut segment = Segment::create(dir.path(), 0, 50, 0).unwrap();
        for i in 0..20 {
            append(&mut segment, 1, i, &[1; 30]);
        }
        let entries = segment.offset_index.entries().to_vec();
        let mut wrong = entries.clone();
        let last = wrong.len() - 1;
        wrong[last].relative_offset += 1;
        OffsetIndex::rewrite(&dir.path().join(file_name(0, "index")), wrong).unwrap();
        let (reopened, report) = Segment::open(dir.path(), 0, 50, false, 0).unwrap();
        assert!(report.is_some(), "fell back to recovery");
        assert_eq!(reopened.offset_index.entries(), entries.as_slice());
    }

    #[test]
    fn missing_index_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let mut segment = Segment::create(dir.path(), 0, 50, 0).unwrap();
        for i in 0..20 {
            append(&mut segment, 1, i, &[1; 30]);
        }
        std::fs::write(dir.path().join(file_name(0, "index")), [1u8; 5]).unwrap();
        let (reopened, report) = Segment::open(dir.path(), 0, 50, false, 0).unwrap();
        assert_eq!(report.unwrap().truncated_bytes, 0);
        assert_eq!(
            reopened.offset_index.entries(),
            segment.offset_index.entries()
        );
        assert_eq!(reopened.time_index.entries(), segment.time_index.entries());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The index-assisted end of a read equals a batch-by-batch walk from the start.
        #[test]
        fn whole_batches_end_matches_a_walk(
            sizes in proptest::collection::vec((1i32..4, 1usize..300), 1..40),
            first in 0usize..40,
            max_bytes in 0u64..6000,
            upper_back in 0i64..20,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut segment = Segment::create(dir.path(), 10, 256, 0).unwrap();
            let mut batches = Vec::new();
            let mut position = 0;
            for (count, payload) in &sizes {
                let base = append(&mut segment, *count, 0, &vec![7u8; *payload]);
                batches.push((position, base));
                position = segment.size();
            }
            let upper = segment.next_offset() - upper_back;
            let start = batches[first % batches.len()].0;
            let limit = start + max_bytes;
            let walked = batches
                .iter()
                .zip(batches.iter().skip(1).map(|next| next.0).chain([segment.size()]))
                .filter(|((begin, base), end)| *begin >= start && *end <= limit && *base < upper)
                .map_while({
                    let mut expected = start;
                    move |((begin, _), end)| (*begin == expected).then(|| { expected = end; end })
                })
                .last()
                .unwrap_or(start);
            prop_assert_eq!(segment.whole_batches_end(start, limit, upper).unwrap(), walked);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        /// A crash can leave any prefix of the last batch on disk, or garbage after it:
        /// recovery must keep exactly the whole batches before it.
        #[test]
        fn recovery_truncates_a_torn_tail_at_every_byte(batches in 1usize..6, payload in 1usize..64, garbage in any::<bool>()) {
            let dir = tempfile::tempdir().unwrap();
            let mut segment = Segment::create(dir.path(), 0, 32, 0).unwrap();
            for i in 0..batches {
                append(&mut segment, 2, i as i64, &vec![i as u8; payload]);
            }
            let intact = segment.size();
            let last_start = segment.locate(2 * batches as i64 - 2).unwrap().unwrap().position;
            let path = segment.log_path().to_path_buf();
            let full = std::fs::read(&path).unwrap();
            for cut in last_start..intact {
                let mut torn = full[..cut as usize].to_vec();
                if garbage {
                    torn.extend_from_slice(&[0xAB; 40]);
                }
                std::fs::write(&path, &torn).unwrap();
                let (recovered, report) = Segment::open(dir.path(), 0, 32, true, 0).unwrap();
                let report = report.unwrap();
                prop_assert_eq!(report.valid_bytes, last_start);
                prop_assert_eq!(recovered.size(), last_start);
                prop_assert_eq!(recovered.next_offset(), 2 * batches as i64 - 2);
                prop_assert_eq!(std::fs::metadata(&path).unwrap().len(), last_start);
            }
            std::fs::write(&path, &full).unwrap();
            let (recovered, report) = Segment::open(dir.path(), 0, 32, true, 0).unwrap();
            prop_assert_eq!(report.unwrap().truncated_bytes, 0);
            prop_assert_eq!(recovered.next_offset(), 2 * batches as i64);
        }
    }
}
