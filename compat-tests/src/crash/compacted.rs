//! The crash test's compacted topic: an idempotent producer writes a few dozen keys over and
//! over while the cleaner compacts the log and the broker is killed. After each restart every
//! key must still hold its newest acknowledged record, or a newer one; a record read back must
//! be the one acknowledged at its offset (or one sent whose acknowledgement the kill cut off),
//! and none may be read twice.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{read_to_end, Acked, Stored};
use crate::SpawnedBroker;

pub const TOPIC: &str = "crash-compacted";
/// Keys the producer cycles through.
pub const KEYS: usize = 40;

/// The key of a producer's `i`-th record in `cycle`.
pub fn key(cycle: usize, _producer: usize, i: usize) -> String {
    format!("k{}", (cycle * 7 + i) % KEYS)
}

/// What the read back found.
#[derive(Debug, Default, Clone, Copy)]
pub struct CompactedReport {
    /// Keys whose newest acknowledged record (or a newer one) was found.
    pub keys_checked: usize,
    /// Acknowledged records the cleaner has removed (each had a newer one of its key).
    pub compacted_away: usize,
}

/// Checks the compacted topic against every acknowledged record.
pub fn verify(
    broker: &SpawnedBroker,
    acked: &BTreeMap<(i32, i64), Acked>,
) -> Result<CompactedReport, String> {
    let stored = read_to_end(broker.client_config(), TOPIC, 1)?;
    check(&stored, acked)
}

fn check(
    stored: &[Stored],
    acked: &BTreeMap<(i32, i64), Acked>,
) -> Result<CompactedReport, String> {
    let mut values = HashSet::new();
    let mut newest: HashMap<&str, i64> = HashMap::new();
    for record in stored {
        if !values.insert(&record.value) {
            return Err(format!(
                "{TOPIC}: {} read twice (again at offset {})",
                String::from_utf8_lossy(&record.value),
                record.offset
            ));
        }
        if let Some(expected) = acked.get(&(0, record.offset)) {
            if expected.key != record.key || expected.value != record.value {
                return Err(format!(
                    "{TOPIC} offset {}: acknowledged {expected:?}, stored key {} value {}",
                    record.offset,
                    record.key,
                    String::from_utf8_lossy(&record.value)
                ));
            }
        }
        newest.insert(record.key.as_str(), record.offset);
    }
    let mut newest_acked: HashMap<&str, i64> = HashMap::new();
    for (&(_, offset), record) in acked {
        newest_acked.insert(record.key.as_str(), offset);
    }
    for (&key, &offset) in &newest_acked {
        if newest.get(key).is_none_or(|&held| held < offset) {
            return Err(format!(
                "{TOPIC}: key {key} lost its newest acknowledged record (offset {offset}); \
                 newest held: {:?}",
                newest.get(key)
            ));
        }
    }
    let held: HashSet<i64> = stored.iter().map(|record| record.offset).collect();
    Ok(CompactedReport {
        keys_checked: newest_acked.len(),
        compacted_away: acked
            .keys()
            .filter(|(_, offset)| !held.contains(offset))
            .count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acked(records: &[(i64, &str, &str)]) -> BTreeMap<(i32, i64), Acked> {
        records
            .iter()
            .map(|&(offset, key, value)| {
                let record = Acked {
                    key: key.to_owned(),
                    value: value.as_bytes().to_vec(),
                    cycle: "0".to_owned(),
                };
                ((0, offset), record)
            })
            .collect()
    }

    fn stored(records: &[(i64, &str, &str)]) -> Vec<Stored> {
        records
            .iter()
            .map(|&(offset, key, value)| Stored {
                partition: 0,
                offset,
                key: key.to_owned(),
                value: value.as_bytes().to_vec(),
            })
            .collect()
    }

    #[test]
    fn a_key_keeps_its_newest_acknowledged_record_or_a_newer_one() {
        let sent = acked(&[(0, "a", "1"), (1, "b", "2"), (2, "a", "3")]);
        // Compacted: the older record of a is gone.
        let report = check(&stored(&[(1, "b", "2"), (2, "a", "3")]), &sent).expect("compacted");
        assert_eq!((report.keys_checked, report.compacted_away), (2, 1));
        // A newer record of a, unacknowledged (the kill cut it off), replaced it.
        assert!(check(&stored(&[(1, "b", "2"), (3, "a", "4")]), &sent).is_ok());
        // The newest acknowledged record of a is gone: lost.
        let lost = check(&stored(&[(0, "a", "1"), (1, "b", "2")]), &sent);
        assert!(lost.is_err_and(|error| error.contains("key a")));
        // Another record at an acknowledged offset, and a record read twice.
        assert!(check(&stored(&[(1, "b", "9"), (2, "a", "3")]), &sent).is_err());
        assert!(check(&stored(&[(1, "b", "2"), (2, "a", "2")]), &sent).is_err());
    }
}
