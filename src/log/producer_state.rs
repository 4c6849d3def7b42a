//! Idempotent-producer state of one partition (Kafka's ProducerStateManager): per producer id,
//! its epoch and the sequence ranges of its last five batches, so that a retried batch is
//! recognised (and answered with its original offset) and gaps or stale epochs are refused.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::log::transactions::TxnState;

use thiserror::Error;

/// Batches remembered per producer: clients keep at most five in flight.
pub const BATCHES_PER_PRODUCER: usize = 5;

/// Why a producer's batch is refused; mapped to Kafka error codes by the handlers.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum ProducerError {
    #[error("producer {producer_id}: sequence {got} is not the next after {last}")]
    OutOfOrderSequence {
        producer_id: i64,
        last: i32,
        got: i32,
    },
    #[error("producer {producer_id}: epoch {got} is older than {current}")]
    InvalidEpoch {
        producer_id: i64,
        current: i16,
        got: i16,
    },
    #[error("producer {producer_id} is unknown here and its sequence {got} is not 0")]
    UnknownProducer { producer_id: i64, got: i32 },
}

/// The producer fields of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub epoch: i16,
    pub first_sequence: i32,
    /// The batch header's: the sequences span it whatever records compaction left.
    pub last_offset_delta: i32,
}

impl ProducerBatch {
    /// The batch's last sequence (first + last offset delta, as Kafka counts it, so that
    /// a batch compaction thinned out keeps its range), wrapping at i32::MAX as Kafka does.
    pub fn last_sequence(&self) -> i32 {
        let last = i64::from(self.first_sequence) + i64::from(self.last_offset_delta);
        (last % (i64::from(i32::MAX) + 1)) as i32
    }
}

/// Where a remembered batch landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRecord {
    pub first_sequence: i32,
    pub last_sequence: i32,
    pub base_offset: i64,
    pub last_offset: i64,
    pub timestamp: i64,
}

/// One producer's state in a partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerEntry {
    pub epoch: i16,
    batches: VecDeque<BatchRecord>,
}

impl ProducerEntry {
    pub fn last_sequence(&self) -> i32 {
        self.batches.back().map_or(-1, |batch| batch.last_sequence)
    }

    /// Base offset of the producer's last batch here.
    pub fn last_base_offset(&self) -> Option<i64> {
        self.batches.back().map(|batch| batch.base_offset)
    }

    pub fn last_timestamp(&self) -> i64 {
        self.batches.back().map_or(-1, |batch| batch.timestamp)
    }
}

/// What to do with an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// New and in order: append it.
    Append,
    /// A retry of a batch already in the log: answer with where it went.
    Duplicate(BatchRecord),
}

fn in_sequence(last: i32, next: i32) -> bool {
    i64::from(next) == i64::from(last) + 1 || (next == 0 && last == i32::MAX)
}

/// Every producer's state in one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
}

impl ProducerStates {
    /// Checks `batch` against the producer's state (Kafka's rules, KIP-360 included).
    pub fn check(&self, batch: &ProducerBatch) -> Result<SequenceCheck, ProducerError> {
        let producer_id = batch.producer_id;
        let Some(entry) = self.producers.get(&producer_id) else {
            return if batch.first_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(ProducerError::UnknownProducer {
                    producer_id,
                    got: batch.first_sequence,
                })
            };
        };
        if batch.epoch < entry.epoch {
            return Err(ProducerError::InvalidEpoch {
                producer_id,
                current: entry.epoch,
                got: batch.epoch,
            });
        }
        if batch.epoch > entry.epoch {
            return if batch.first_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(ProducerError::OutOfOrderSequence {
                    producer_id,
                    last: -1,
                    got: batch.first_sequence,
                })
            };
        }
        let last_sequence = batch.last_sequence();
        if let Some(original) = entry.batches.iter().find(|cached| {
            cached.first_sequence == batch.first_sequence && cached.last_sequence == last_sequence
        }) {
            return Ok(SequenceCheck::Duplicate(*original));
        }
        if !in_sequence(entry.last_sequence(), batch.first_sequence) {
            return Err(ProducerError::OutOfOrderSequence {
                producer_id,
                last: entry.last_sequence(),
                got: batch.first_sequence,
            });
        }
        Ok(SequenceCheck::Append)
    }

    /// Remembers an appended batch (also used when replaying the log).
    pub fn record(
        &mut self,
        batch: &ProducerBatch,
        base_offset: i64,
        last_offset: i64,
        timestamp: i64,
    ) {
        let entry = self
            .producers
            .entry(batch.producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch: batch.epoch,
                batches: VecDeque::new(),
            });
        if batch.epoch != entry.epoch {
            entry.epoch = batch.epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == BATCHES_PER_PRODUCER {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchRecord {
            first_sequence: batch.first_sequence,
            last_sequence: batch.last_sequence(),
            base_offset,
            last_offset,
            timestamp,
        });
    }

    /// Forgets producers whose last batch is older than `oldest_timestamp` (Kafka's
    /// `producer.id.expiration.ms`); a forgotten producer that continues mid-sequence gets
    /// UNKNOWN_PRODUCER_ID and starts over. Returns how many were forgotten.
    pub fn expire(&mut self, oldest_timestamp: i64) -> usize {
        let before = self.producers.len();
        self.producers
            .retain(|_, entry| entry.last_timestamp() >= oldest_timestamp);
        before - self.producers.len()
    }

    /// Checks a transaction marker's producer epoch: a marker may not end a transaction of a
    /// producer that has since moved to a newer epoch (it was fenced).
    pub fn check_marker(&self, producer_id: i64, epoch: i16) -> Result<(), ProducerError> {
        match self.producers.get(&producer_id) {
            Some(entry) if epoch < entry.epoch => Err(ProducerError::InvalidEpoch {
                producer_id,
                current: entry.epoch,
                got: epoch,
            }),
            _ => Ok(()),
        }
    }

    /// Producers with state here, by id.
    pub fn producers(&self) -> impl Iterator<Item = (i64, &ProducerEntry)> {
        self.producers.iter().map(|(id, entry)| (*id, entry))
    }
}

/// The snapshot file beside a partition's segments (Kafka keeps `.snapshot` files for the
/// same purpose): the producer state as of `offset`, so that opening the log replays only
/// the batches after it.
pub const SNAPSHOT_FILE: &str = "producer-state.snapshot";

/// What a snapshot holds: producer and transaction state as of `offset`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub offset: i64,
    pub states: ProducerStates,
    #[serde(default)]
    pub txns: TxnState,
    /// The log start when it was taken: the aborted transactions that ended below it are
    /// forgotten, so a log found starting lower (its checkpoint lost) cannot use it.
    #[serde(default)]
    pub log_start: i64,
}

/// Writes a snapshot.
pub fn write_snapshot(dir: &std::path::Path, snapshot: &Snapshot) -> std::io::Result<()> {
    let json = serde_json::to_vec(snapshot).map_err(std::io::Error::other)?;
    crate::log::checkpoint::write_atomically(&dir.join(SNAPSHOT_FILE), &json)
}

/// The last snapshot, if present and readable.
pub fn read_snapshot(dir: &std::path::Path) -> Option<Snapshot> {
    let bytes = std::fs::read(dir.join(SNAPSHOT_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(epoch: i16, first_sequence: i32, record_count: i32) -> ProducerBatch {
        ProducerBatch {
            producer_id: 7,
            epoch,
            first_sequence,
            last_offset_delta: record_count - 1,
        }
    }

    #[test]
    fn in_order_duplicates_gaps_and_epochs() {
        let mut states = ProducerStates::default();
        assert_eq!(states.check(&batch(0, 0, 3)), Ok(SequenceCheck::Append));
        states.record(&batch(0, 0, 3), 10, 12, 1);
        assert_eq!(states.check(&batch(0, 3, 2)), Ok(SequenceCheck::Append));
        states.record(&batch(0, 3, 2), 13, 14, 2);
        match states.check(&batch(0, 0, 3)) {
            Ok(SequenceCheck::Duplicate(original)) => {
                assert_eq!((original.base_offset, original.last_offset), (10, 12))
            }
            other => panic!("expected a duplicate, got {other:?}"),
        }
        assert!(matches!(
            states.check(&batch(0, 6, 1)),
            Err(ProducerError::OutOfOrderSequence {
                last: 4,
                got: 6,
                ..
            })
        ));
        assert!(
            matches!(
                states.check(&batch(1, 5, 1)),
                Err(ProducerError::OutOfOrderSequence { .. })
            ),
            "new epoch starts at 0"
        );
        assert_eq!(states.check(&batch(1, 0, 1)), Ok(SequenceCheck::Append));
        states.record(&batch(1, 0, 1), 15, 15, 3);
        assert!(matches!(
            states.check(&batch(0, 5, 1)),
            Err(ProducerError::InvalidEpoch {
                current: 1,
                got: 0,
                ..
            })
        ));
        let unknown = ProducerBatch {
            producer_id: 99,
            epoch: 0,
            first_sequence: 4,
            last_offset_delta: 0,
        };
        assert!(matches!(
            states.check(&unknown),
            Err(ProducerError::UnknownProducer { .. })
        ));
    }

    #[test]
    fn a_marker_may_not_end_a_newer_epochs_transaction() {
        let mut states = ProducerStates::default();
        states.record(&batch(3, 0, 1), 0, 0, 0);
        assert!(states.check_marker(7, 3).is_ok());
        assert!(
            states.check_marker(7, 4).is_ok(),
            "a newer epoch fences the old one"
        );
        assert!(
            states.check_marker(99, 0).is_ok(),
            "unknown producers may be ended"
        );
        assert!(matches!(
            states.check_marker(7, 2),
            Err(ProducerError::InvalidEpoch {
                current: 3,
                got: 2,
                ..
            })
        ));
    }

    #[test]
    fn idle_producers_expire() {
        let mut states = ProducerStates::default();
        states.record(&batch(0, 0, 1), 0, 0, 1_000);
        states.record(
            &ProducerBatch {
                producer_id: 8,
                epoch: 0,
                first_sequence: 0,
                last_offset_delta: 0,
            },
            1,
            1,
            5_000,
        );
        assert_eq!(states.expire(2_000), 1);
        assert!(matches!(
            states.check(&batch(0, 1, 1)),
            Err(ProducerError::UnknownProducer { .. })
        ));
        assert_eq!(states.producers().count(), 1);
    }

    #[test]
    fn only_the_last_five_batches_are_remembered_and_sequences_wrap() {
        let mut states = ProducerStates::default();
        for at in 0..6 {
            states.record(&batch(0, at, 1), i64::from(at), i64::from(at), 0);
        }
        assert!(
            matches!(
                states.check(&batch(0, 0, 1)),
                Err(ProducerError::OutOfOrderSequence { .. })
            ),
            "evicted"
        );
        assert!(matches!(
            states.check(&batch(0, 1, 1)),
            Ok(SequenceCheck::Duplicate(_))
        ));
        let wrapping = batch(0, i32::MAX - 1, 3);
        assert_eq!(wrapping.last_sequence(), 0);
        assert!(in_sequence(i32::MAX, 0));
    }
}
