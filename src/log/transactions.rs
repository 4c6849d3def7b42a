//! Transactional bookkeeping of one partition: transactions still open (their first offset
//! bounds the last stable offset, LSO) and aborted transactions (Kafka's `.txnindex`: which
//! offset ranges read_committed consumers must drop). Fed by transactional batches and by
//! COMMIT/ABORT control batches; rebuilt from the log and kept in the producer snapshot.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An aborted transaction's offsets in this partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// Offset of the ABORT marker.
    pub last_offset: i64,
}

/// Open and aborted transactions of a partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnState {
    /// Producer id → offset of its open transaction's first batch here.
    ongoing: BTreeMap<i64, i64>,
    /// Sorted by marker offset.
    aborted: Vec<AbortedTxn>,
}

impl TxnState {
    /// A transactional data batch was appended.
    pub fn on_data(&mut self, producer_id: i64, base_offset: i64) {
        self.ongoing.entry(producer_id).or_insert(base_offset);
    }

    /// The first offset of `producer_id`'s open transaction here, if it has one.
    pub fn ongoing_since(&self, producer_id: i64) -> Option<i64> {
        self.ongoing.get(&producer_id).copied()
    }

    /// Forgets aborted transactions that ended below `offset` (no longer readable).
    pub fn forget_before(&mut self, offset: i64) {
        self.aborted.retain(|aborted| aborted.last_offset >= offset);
    }

    /// A COMMIT (`commit`) or ABORT marker was appended at `marker_offset`.
    pub fn on_marker(&mut self, producer_id: i64, commit: bool, marker_offset: i64) {
        if let Some(first_offset) = self.ongoing.remove(&producer_id) {
            if !commit {
                self.aborted.push(AbortedTxn {
                    producer_id,
                    first_offset,
                    last_offset: marker_offset,
                });
            }
        }
    }

    /// The offset below which every transaction is decided, at most `upper` (the high
    /// watermark): the first offset of the oldest open transaction, or `log_start` when
    /// DeleteRecords or retention removed that offset already (as Kafka bounds it).
    pub fn last_stable_offset(&self, log_start: i64, upper: i64) -> i64 {
        self.ongoing
            .values()
            .copied()
            .min()
            .map_or(upper, |first| first.max(log_start).min(upper))
    }

    /// Aborted transactions that overlap `[from, to)`, for a read_committed fetch.
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        let start = self.aborted.partition_point(|txn| txn.last_offset < from);
        self.aborted[start..]
            .iter()
            .take_while(|txn| txn.first_offset < to)
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lso_follows_open_transactions_and_aborts_are_indexed() {
        let mut txns = TxnState::default();
        assert_eq!(txns.last_stable_offset(0, 10), 10);
        txns.on_data(1, 10);
        txns.on_data(2, 12);
        txns.on_data(1, 14);
        assert_eq!(txns.last_stable_offset(0, 20), 10);
        assert_eq!(
            txns.last_stable_offset(11, 20),
            11,
            "the open transaction's first batch was deleted: the log start bounds the LSO"
        );
        txns.on_marker(1, false, 20);
        assert_eq!(txns.last_stable_offset(0, 21), 12);
        txns.on_marker(2, true, 21);
        assert_eq!(txns.last_stable_offset(0, 22), 22);
        assert_eq!(
            txns.aborted_between(0, 22),
            vec![AbortedTxn {
                producer_id: 1,
                first_offset: 10,
                last_offset: 20
            }]
        );
        assert!(
            txns.aborted_between(21, 30).is_empty(),
            "ended before the fetch"
        );
        assert!(
            txns.aborted_between(0, 10).is_empty(),
            "starts at or after the fetch's end"
        );
    }
}
