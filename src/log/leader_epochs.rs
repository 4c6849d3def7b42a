//! A partition's leader epochs and the offset each began at (Kafka's leader-epoch cache,
//! persisted as `leader-epoch-checkpoint`): what OffsetForLeaderEpoch answers from, so a
//! replica of an older leader finds where its log diverges (KIP-101, KIP-279).

/// Kafka's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET.
pub const UNDEFINED_EPOCH: i32 = -1;
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// `(epoch, start offset)` entries, both strictly increasing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderEpochs {
    entries: Vec<(i32, i64)>,
}

impl LeaderEpochs {
    /// Entries as read from a checkpoint; out-of-order ones are dropped as Kafka would have
    /// never written them.
    pub fn new(entries: Vec<(i32, i64)>) -> Self {
        let mut epochs = Self {
            entries: Vec::new(),
        };
        for (epoch, start) in entries {
            epochs.assign(epoch, start);
        }
        epochs
    }

    pub fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    /// The newest epoch, if any.
    pub fn latest(&self) -> Option<i32> {
        self.entries.last().map(|(epoch, _)| *epoch)
    }

    /// Records that `epoch` begins at `start_offset`. Entries it conflicts with (a newer or
    /// equal epoch, or one starting at or after it) go, as in Kafka. Returns whether anything
    /// changed; assigning an older epoch than the latest changes nothing.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || self.latest().is_some_and(|latest| latest >= epoch) {
            return false;
        }
        self.entries.retain(|(_, start)| *start < start_offset);
        self.entries.push((epoch, start_offset));
        true
    }

    /// Forgets epochs that began after `log_end_offset` (their records were lost with a torn
    /// tail, or truncated away).
    pub fn truncate_after(&mut self, log_end_offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(_, start)| *start <= log_end_offset);
        self.entries.len() != before
    }

    /// Forgets epochs that began at or after `offset`: a follower truncated its log there,
    /// so they hold nothing (Kafka's `truncateFromEnd`).
    pub fn truncate_from(&mut self, offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(_, start)| *start < offset);
        self.entries.len() != before
    }

    /// Kafka's `endOffsetFor`: the largest epoch not after `requested` and the offset where
    /// the next epoch begins (the log end for the latest one); undefined for an undefined or
    /// future epoch.
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        let undefined = (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        if requested == UNDEFINED_EPOCH {
            return undefined;
        }
        if self.latest() == Some(requested) {
            return (requested, log_end_offset);
        }
        let Some(&(_, next_start)) = self.entries.iter().find(|(epoch, _)| *epoch > requested)
        else {
            return undefined;
        };
        let floor = self
            .entries
            .iter()
            .rev()
            .find(|(epoch, _)| *epoch <= requested)
            .map_or(requested, |(epoch, _)| *epoch);
        (floor, next_start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn end_offsets_follow_kafkas_epoch_cache() {
        let epochs = LeaderEpochs::new(vec![(0, 0), (2, 10), (5, 30)]);
        assert_eq!(epochs.end_offset_for(5, 42), (5, 42));
        assert_eq!(epochs.end_offset_for(2, 42), (2, 30));
        assert_eq!(
            epochs.end_offset_for(3, 42),
            (2, 30),
            "floor epoch, next start"
        );
        assert_eq!(epochs.end_offset_for(1, 42), (0, 10));
        assert_eq!(
            epochs.end_offset_for(6, 42),
            (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
        );
        assert_eq!(
            epochs.end_offset_for(-1, 42),
            (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
        );
        let later = LeaderEpochs::new(vec![(3, 5)]);
        assert_eq!(later.end_offset_for(1, 9), (1, 5), "before the first epoch");
    }

    #[test]
    fn a_new_epoch_replaces_one_that_wrote_nothing() {
        let mut epochs = LeaderEpochs::new(vec![(0, 0), (1, 10)]);
        assert!(epochs.assign(2, 10));
        assert_eq!(epochs.entries(), [(0, 0), (2, 10)]);
        assert!(!epochs.assign(2, 12), "the same epoch again");
        assert!(!epochs.assign(1, 20), "an older epoch");
        assert!(epochs.truncate_after(9));
        assert_eq!(epochs.entries(), [(0, 0)]);
    }

    proptest! {
        #[test]
        fn entries_stay_strictly_increasing(steps in proptest::collection::vec((0i32..20, 0i64..100), 0..30)) {
            let mut epochs = LeaderEpochs::new(Vec::new());
            for (epoch, start) in steps {
                epochs.assign(epoch, start);
                let entries = epochs.entries();
                prop_assert!(entries.windows(2).all(|pair| pair[0].0 < pair[1].0 && pair[0].1 < pair[1].1));
            }
        }
    }
}
