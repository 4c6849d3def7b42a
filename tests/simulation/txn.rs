//! Transactions in the simulation: transactional producers driven through the broker's own
//! transaction coordinator, what each transaction was asked and promised, and the
//! read_committed check of atomicity.

use std::collections::{BTreeMap, BTreeSet};

use spool::log::transactions::AbortedTxn;
use spool::log::{Isolation, Partition};
use spool::records::{control, BatchView};

use crate::model::{batches_of, BatchKind, LogModel, Sent, READ_BYTES};

/// A transactional producer (one per transactional id).
pub struct TxnProducer {
    pub transactional_id: String,
    /// The consumer group whose offsets its transactions commit (consume-transform-produce).
    pub group_id: String,
    /// The input offset its next offset commit commits (the consumer's position).
    pub next_input: i64,
    /// The highest committed offset of its group read so far.
    pub committed_input: Option<i64>,
    /// Producer id and epoch from InitProducerId (`None`: to ask for).
    pub id: Option<(i64, i16)>,
    /// The next sequence per log, from 0 in each epoch.
    pub sequences: BTreeMap<usize, i32>,
    /// Its transaction under way.
    pub open: Option<OpenTxn>,
}

impl TxnProducer {
    pub fn new(transactional_id: String, group_id: String) -> Self {
        Self {
            transactional_id,
            group_id,
            next_input: 0,
            committed_input: None,
            id: None,
            sequences: BTreeMap::new(),
            open: None,
        }
    }

    /// A new producer id or epoch: sequences start again, the transaction under way is gone.
    pub fn initialized(&mut self, id: Option<(i64, i16)>) {
        self.id = id;
        self.sequences.clear();
        self.open = None;
    }
}

/// A transaction under way.
pub struct OpenTxn {
    /// Its number in [`Txns`].
    pub txn: usize,
    /// The logs added to it.
    pub logs: BTreeSet<usize>,
    /// Whether the group's offsets partition was added to it (AddOffsetsToTxn).
    pub offsets_added: bool,
    /// Its batches appended and not acknowledged yet, with their logs.
    pub unacked: Vec<(usize, Sent)>,
}

/// What the simulation knows of one transaction.
pub struct TxnRecord {
    pub transactional_id: String,
    pub producer_id: i64,
    pub epoch: i16,
    /// Commit (`true`) or abort, if the producer asked for either.
    pub asked: Option<bool>,
    /// The outcome an answer promised: EndTxn answered without error, or the producer was
    /// fenced by a timeout's abort.
    pub promised: Option<bool>,
    /// The outcome read_committed reads showed (`true`: its records are visible).
    pub seen: Option<bool>,
    /// The input offset it committed for its producer's group (TxnOffsetCommit), if any.
    pub input_offset: Option<i64>,
}

impl TxnRecord {
    fn describe(&self) -> String {
        format!(
            "of {}, producer {} at epoch {}; commit asked: {:?}, promised: {:?}",
            self.transactional_id, self.producer_id, self.epoch, self.asked, self.promised
        )
    }
}

/// Every transaction of a run, by number.
pub type Txns = Vec<TxnRecord>;

/// Reads `log` from its start up to its last stable offset as a read_committed consumer does
/// (dropping what the aborted transactions listed with each read hold) and checks every
/// transaction found there: all or nothing of it visible, across logs and over time; visible
/// only if its commit was asked; as promised.
pub fn check_read_committed(
    model: &LogModel,
    partition: &Partition,
    txns: &mut Txns,
) -> Result<(), String> {
    let topic = model.topic;
    let mut offset = partition.log_start_offset();
    let stable = partition.last_stable_offset();
    while offset < stable {
        let read = partition
            .read(offset, READ_BYTES, true, Isolation::ReadCommitted)
            .map_err(|error| format!("{topic}: read_committed at {offset}: {error}"))?;
        let batches = batches_of(&read.records)
            .ok_or_else(|| format!("{topic}: a torn batch read_committed at {offset}"))?;
        let Some(last) = batches.last() else {
            if model.lost(offset, stable) {
                break;
            }
            return Err(format!(
                "{topic}: nothing read_committed at {offset}, below the LSO {stable}"
            ));
        };
        offset = last.last_offset() + 1;
        if offset > stable {
            return Err(format!(
                "{topic}: read_committed returned offsets up to {} past the LSO {stable}",
                offset - 1
            ));
        }
        for (base, visible) in verdicts(&batches, read.aborted) {
            let txn = match model.batches.get(&base).map(|stored| stored.kind) {
                Some(BatchKind::Transactional { txn, .. }) => txn,
                _ => {
                    return Err(format!(
                        "{topic}: a transactional batch at {base} that was never sent as one"
                    ))
                }
            };
            see(&mut txns[txn], visible).map_err(|problem| {
                format!("{topic}: transaction {txn} (batch at {base}): {problem}")
            })?;
        }
    }
    Ok(())
}

/// Checks the committed offset `committed` of `producer`'s group, as the group coordinator
/// answers OffsetFetch: it never goes back, it is at least the offset of every transaction
/// promised to commit, and the transaction that committed it is not an aborted one. While
/// the coordinator is `completing` the producer's last transaction (its commit is decided,
/// its markers not all written: EndTxn answers before them, as Kafka's does), that one's
/// offset is not visible yet, as in Kafka (OffsetFetch answers the stable offset).
pub fn check_committed_input(
    producer: &mut TxnProducer,
    committed: Option<i64>,
    completing: bool,
    txns: &Txns,
) -> Result<(), String> {
    let group = &producer.group_id;
    let mine = || {
        txns.iter()
            .filter(|record| record.transactional_id == producer.transactional_id)
    };
    let mut promised: Vec<&TxnRecord> = mine()
        .filter(|record| record.promised == Some(true))
        .collect();
    if completing {
        promised.pop();
    }
    let promised = promised
        .into_iter()
        .filter_map(|record| record.input_offset)
        .max();
    if committed < promised || committed < producer.committed_input {
        return Err(format!(
            "{group}: the committed offset is {committed:?}, below {:?} (promised) or {:?} (read \
             before)",
            promised, producer.committed_input
        ));
    }
    if let Some(offset) = committed {
        let Some(record) = mine().find(|record| record.input_offset == Some(offset)) else {
            return Err(format!(
                "{group}: offset {offset} committed by no transaction"
            ));
        };
        let aborted = record.seen == Some(false) || record.promised == Some(false);
        if aborted || record.asked != Some(true) {
            return Err(format!(
                "{group}: offset {offset} committed by a transaction not committed ({})",
                record.describe()
            ));
        }
    }
    producer.committed_input = committed;
    Ok(())
}

/// Records that a transaction's batch read as `visible`, checking it against what was seen,
/// asked and promised before.
fn see(record: &mut TxnRecord, visible: bool) -> Result<(), String> {
    let outcome = |committed: bool| if committed { "committed" } else { "aborted" };
    let what = record.describe();
    if record.seen.is_some_and(|seen| seen != visible) {
        return Err(format!(
            "read as {} after it was read as {} ({what})",
            outcome(visible),
            outcome(!visible)
        ));
    }
    if visible && record.asked != Some(true) {
        return Err(format!("committed without being asked to ({what})"));
    }
    if record.promised.is_some_and(|promised| promised != visible) {
        return Err(format!("read as {} ({what})", outcome(visible)));
    }
    record.seen = Some(visible);
    Ok(())
}

/// Each transactional data batch's base offset and whether a read_committed consumer keeps
/// it, from the batches of one read and the aborted transactions listed with them (Kafka's
/// consumer: a producer is aborted from its aborted transaction's first offset to the ABORT
/// marker).
fn verdicts(batches: &[BatchView<'_>], mut aborted: Vec<AbortedTxn>) -> Vec<(i64, bool)> {
    aborted.sort_by_key(|txn| std::cmp::Reverse(txn.first_offset));
    let mut aborting = BTreeSet::new();
    let mut verdicts = Vec::new();
    for batch in batches {
        while aborted
            .last()
            .is_some_and(|txn| txn.first_offset <= batch.last_offset())
        {
            aborting.extend(aborted.pop().map(|txn| txn.producer_id));
        }
        if !batch.is_transactional() {
            continue;
        }
        match batch.is_control() {
            true if control::marker_kind(batch.bytes()) == Some(false) => {
                aborting.remove(&batch.producer_id());
            }
            true => {}
            false => verdicts.push((
                batch.base_offset(),
                !aborting.contains(&batch.producer_id()),
            )),
        }
    }
    verdicts
}
