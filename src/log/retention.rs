//! Which of a partition's oldest segments may go: those entirely below the log start offset
//! (moved by DeleteRecords), and, when `cleanup.policy` contains `delete`, those whose newest
//! record is older than `retention.ms` or that the log can lose and still hold
//! `retention.bytes`. Only a prefix of closed segments is ever deleted; the active segment stays.

use super::LogConfig;

/// What retention looks at in one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSummary {
    pub base_offset: i64,
    pub next_offset: i64,
    pub size: u64,
    /// Largest record timestamp in the segment (Kafka's `largestTimestamp`).
    pub max_timestamp: i64,
}

/// How many of the oldest `segments` (sorted by offset, the last one active) can be deleted.
pub fn deletable_prefix(
    segments: &[SegmentSummary],
    config: &LogConfig,
    log_start_offset: i64,
    now_ms: i64,
) -> usize {
    let closed = segments.len().saturating_sub(1);
    let total: u64 = segments.iter().map(|segment| segment.size).sum();
    let mut excess = match config.delete_enabled && config.retention_bytes >= 0 {
        true => i128::from(total) - i128::from(config.retention_bytes),
        false => 0,
    };
    let time_limit =
        (config.delete_enabled && config.retention_ms >= 0).then_some(config.retention_ms);
    segments[..closed]
        .iter()
        .take_while(|segment| {
            let below_start = segment.next_offset <= log_start_offset;
            let expired = time_limit
                .is_some_and(|limit| now_ms.saturating_sub(segment.max_timestamp) > limit);
            let size = i128::from(segment.size);
            let over_size = excess >= size && excess > 0;
            let deletable = below_start || expired || over_size;
            if deletable {
                excess -= size;
            }
            deletable
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::partition::testing::test_config;

    /// Segments of 100 bytes and 10 offsets each; segment `i` has max timestamp `i * 1000`.
    fn segments(count: i64) -> Vec<SegmentSummary> {
        (0..count)
            .map(|i| SegmentSummary {
                base_offset: i * 10,
                next_offset: i * 10 + 10,
                size: 100,
                max_timestamp: i * 1000,
            })
            .collect()
    }

    fn config(retention_ms: i64, retention_bytes: i64) -> LogConfig {
        LogConfig {
            retention_ms,
            retention_bytes,
            ..test_config()
        }
    }

    #[test]
    fn unlimited_retention_keeps_everything() {
        assert_eq!(
            deletable_prefix(&segments(5), &config(-1, -1), 0, i64::MAX),
            0
        );
    }

    #[test]
    fn time_retention_deletes_old_closed_segments_only() {
        // now 4500, retention 2000: segments with max timestamp < 2500 go (0, 1, 2).
        assert_eq!(
            deletable_prefix(&segments(5), &config(2000, -1), 0, 4500),
            3
        );
        // Everything expired: the active segment still stays.
        assert_eq!(
            deletable_prefix(&segments(5), &config(0, -1), 0, 1_000_000),
            4
        );
    }

    #[test]
    fn size_retention_deletes_while_the_rest_still_fits() {
        // 500 bytes, limit 250: deleting 2 segments leaves 300 ≥ 250, a third would leave 200.
        assert_eq!(deletable_prefix(&segments(5), &config(-1, 250), 0, 0), 2);
        assert_eq!(deletable_prefix(&segments(5), &config(-1, 500), 0, 0), 0);
        assert_eq!(deletable_prefix(&segments(5), &config(-1, 0), 0, 0), 4);
    }

    #[test]
    fn segments_below_the_log_start_offset_go_whatever_the_policy() {
        let compact_only = LogConfig {
            delete_enabled: false,
            ..config(0, 0)
        };
        assert_eq!(
            deletable_prefix(&segments(5), &compact_only, 25, i64::MAX),
            2
        );
        assert_eq!(
            deletable_prefix(&segments(5), &compact_only, 0, i64::MAX),
            0
        );
    }

    #[test]
    fn only_a_prefix_is_deleted() {
        let mut summaries = segments(4);
        summaries[0].max_timestamp = 10_000; // the oldest segment holds a future timestamp
        assert_eq!(deletable_prefix(&summaries, &config(2000, -1), 0, 5000), 0);
    }
}
