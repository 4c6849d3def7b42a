//! One transactional id's state (Kafka's TransactionMetadata) and the checks every
//! transaction request makes against it.

use std::collections::BTreeSet;

use kafka_protocol::ResponseError;

/// Kafka's transaction states, with their record codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnStatus {
    Empty = 0,
    Ongoing = 1,
    PrepareCommit = 2,
    PrepareAbort = 3,
    CompleteCommit = 4,
    CompleteAbort = 5,
    Dead = 6,
}

impl TxnStatus {
    /// Kafka's name for the state (ListTransactions/DescribeTransactions).
    pub fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::Ongoing => "Ongoing",
            Self::PrepareCommit => "PrepareCommit",
            Self::PrepareAbort => "PrepareAbort",
            Self::CompleteCommit => "CompleteCommit",
            Self::CompleteAbort => "CompleteAbort",
            Self::Dead => "Dead",
        }
    }

    /// Every state, for validating filters.
    pub const ALL: [Self; 7] = [
        Self::Empty,
        Self::Ongoing,
        Self::PrepareCommit,
        Self::PrepareAbort,
        Self::CompleteCommit,
        Self::CompleteAbort,
        Self::Dead,
    ];

    pub fn from_code(code: i8) -> Option<Self> {
        Some(match code {
            0 => Self::Empty,
            1 => Self::Ongoing,
            2 => Self::PrepareCommit,
            3 => Self::PrepareAbort,
            4 => Self::CompleteCommit,
            5 => Self::CompleteAbort,
            6 => Self::Dead,
            _ => return None,
        })
    }
}

/// A transactional id's producer, current transaction and its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    pub producer_id: i64,
    pub epoch: i16,
    pub timeout_ms: i32,
    pub status: TxnStatus,
    pub partitions: BTreeSet<(String, i32)>,
    pub start_ms: i64,
    pub last_update_ms: i64,
}

impl TxnMetadata {
    /// Whether the transaction's outcome is decided (and durable) but not yet complete.
    pub fn is_decided(&self) -> bool {
        matches!(
            self.status,
            TxnStatus::PrepareCommit | TxnStatus::PrepareAbort
        )
    }

    /// Checks that the request comes from the current producer of this id.
    pub fn check_producer(&self, producer_id: i64, epoch: i16) -> Result<(), ResponseError> {
        if producer_id != self.producer_id {
            return Err(ResponseError::InvalidProducerIdMapping);
        }
        if epoch < self.epoch {
            return Err(ResponseError::ProducerFenced);
        }
        if epoch > self.epoch {
            return Err(ResponseError::InvalidProducerEpoch);
        }
        Ok(())
    }

    /// Checks that partitions or offsets may be added now.
    pub fn check_can_add(&self) -> Result<(), ResponseError> {
        match self.status {
            TxnStatus::PrepareCommit | TxnStatus::PrepareAbort => {
                Err(ResponseError::ConcurrentTransactions)
            }
            TxnStatus::Dead => Err(ResponseError::InvalidTxnState),
            _ => Ok(()),
        }
    }
}
