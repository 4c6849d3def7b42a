//! SCRAM credentials as clients manage them (AlterUserScramCredentials,
//! DescribeUserScramCredentials) and as authentication reads them: kept with the metadata —
//! in the cluster store (one map, changed by compare-and-swap, awaited until applied here) or
//! a single node's `topics.json`. Kafka's checks and messages.

use std::collections::BTreeMap;
use std::sync::Mutex;

use thiserror::Error;

use super::dynamic_configs::DynamicConfigError;
use super::Broker;
use crate::sasl::{
    Mechanism, ScramCredential, UserScramCredentials, SCRAM_ITERATIONS_MAX, SCRAM_ITERATIONS_MIN,
};

/// A credential to remove.
#[derive(Debug, Clone)]
pub struct ScramDeletion {
    pub user: String,
    /// Kafka's SCRAM mechanism type (1: SHA-256, 2: SHA-512).
    pub mechanism: i8,
}

/// A credential to add or replace, as the client salted it.
#[derive(Debug, Clone)]
pub struct ScramUpsertion {
    pub user: String,
    pub mechanism: i8,
    pub iterations: i32,
    pub salt: Vec<u8>,
    pub salted_password: Vec<u8>,
}

/// Why a user's change was refused (Kafka's messages).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScramRefusal {
    #[error("A user credential cannot be altered twice in the same request")]
    AlteredTwice,
    #[error("Username must not be empty")]
    EmptyUser,
    #[error("Unknown SCRAM mechanism")]
    UnknownMechanism,
    #[error("Too few iterations")]
    TooFewIterations,
    #[error("Too many iterations")]
    TooManyIterations,
    #[error("Attempt to delete a user credential that does not exist")]
    NotFound,
}

/// The outcome for each user named, in Kafka's order: deletions, upsertions, refusals.
pub type ScramOutcomes = Vec<(String, Result<(), ScramRefusal>)>;

/// One user's change once the request's own checks passed.
#[derive(Debug, Clone)]
enum Change {
    Delete(Mechanism),
    Upsert(Mechanism, ScramCredential),
}

fn mechanism(user: &str, code: i8) -> Result<Mechanism, ScramRefusal> {
    if user.is_empty() {
        return Err(ScramRefusal::EmptyUser);
    }
    Mechanism::from_scram_type(code).ok_or(ScramRefusal::UnknownMechanism)
}

/// Each user's change, or why the request itself refuses it (Kafka's
/// `ScramControlManager.alterCredentials`: a user named twice is refused for both).
fn plan(
    deletions: &[ScramDeletion],
    upsertions: &[ScramUpsertion],
) -> (Vec<(String, Change)>, BTreeMap<String, ScramRefusal>) {
    let mut changes: Vec<(String, Change)> = Vec::new();
    let mut refused: BTreeMap<String, ScramRefusal> = BTreeMap::new();
    let mut take = |user: &str, change: Result<Change, ScramRefusal>| {
        if refused.contains_key(user) {
            return;
        }
        if let Some(at) = changes.iter().position(|(named, _)| named == user) {
            changes.remove(at);
            refused.insert(user.to_owned(), ScramRefusal::AlteredTwice);
            return;
        }
        match change {
            Ok(change) => changes.push((user.to_owned(), change)),
            Err(refusal) => {
                refused.insert(user.to_owned(), refusal);
            }
        }
    };
    for deletion in deletions {
        take(
            &deletion.user,
            mechanism(&deletion.user, deletion.mechanism).map(Change::Delete),
        );
    }
    for upsertion in upsertions {
        let change = mechanism(&upsertion.user, upsertion.mechanism).and_then(|mechanism| {
            match upsertion.iterations {
                i if i < SCRAM_ITERATIONS_MIN => Err(ScramRefusal::TooFewIterations),
                i if i > SCRAM_ITERATIONS_MAX => Err(ScramRefusal::TooManyIterations),
                iterations => Ok(Change::Upsert(
                    mechanism,
                    ScramCredential::from_salted_password(
                        mechanism,
                        &upsertion.salt,
                        &upsertion.salted_password,
                        iterations,
                    ),
                )),
            }
        });
        take(&upsertion.user, change);
    }
    (changes, refused)
}

/// `current` with `changes` applied, and each change's outcome.
fn apply(
    current: &BTreeMap<String, UserScramCredentials>,
    changes: &[(String, Change)],
) -> (BTreeMap<String, UserScramCredentials>, ScramOutcomes) {
    let mut next = current.clone();
    let mut deleted = Vec::new();
    let mut upserted = Vec::new();
    for (user, change) in changes {
        match change {
            Change::Delete(mechanism) => {
                let removed = next
                    .get_mut(user)
                    .and_then(|credentials| credentials.remove(mechanism));
                if next.get(user).is_some_and(BTreeMap::is_empty) {
                    next.remove(user);
                }
                let outcome = removed.map(drop).ok_or(ScramRefusal::NotFound);
                deleted.push((user.clone(), outcome));
            }
            Change::Upsert(mechanism, credential) => {
                next.entry(user.clone())
                    .or_default()
                    .insert(*mechanism, credential.clone());
                upserted.push((user.clone(), Ok(())));
            }
        }
    }
    deleted.extend(upserted);
    (next, deleted)
}

impl Broker {
    /// The credential `user` authenticates with under `mechanism`, if any.
    pub fn scram_credential(&self, user: &str, mechanism: Mechanism) -> Option<ScramCredential> {
        self.metadata
            .image()
            .scram_credentials
            .get(user)?
            .get(&mechanism)
            .cloned()
    }

    /// Every user's credentials.
    pub fn scram_credentials(&self) -> BTreeMap<String, UserScramCredentials> {
        self.metadata.image().scram_credentials.clone()
    }

    /// Removes and adds credentials as one change; returns each user's outcome.
    pub async fn alter_scram_credentials(
        &self,
        deletions: &[ScramDeletion],
        upsertions: &[ScramUpsertion],
    ) -> Result<ScramOutcomes, DynamicConfigError> {
        let (changes, refused) = plan(deletions, upsertions);
        // The outcomes of the attempt that was stored (a compare-and-swap may retry).
        let outcomes = Mutex::new(Vec::new());
        let change = |current: &BTreeMap<String, UserScramCredentials>| {
            let (next, attempt) = apply(current, &changes);
            *outcomes.lock().unwrap_or_else(|e| e.into_inner()) = attempt;
            Ok::<_, DynamicConfigError>(next)
        };
        match &self.cluster {
            Some(node) => {
                let stored = node.membership().update_scram_credentials(change).await?;
                self.wait_applied(|image| image.scram_credentials == stored)
                    .await;
            }
            None => self.metadata.update_scram_credentials(change)?,
        }
        let mut outcomes = outcomes.into_inner().unwrap_or_else(|e| e.into_inner());
        outcomes.extend(
            refused
                .into_iter()
                .map(|(user, refusal)| (user, Err(refusal))),
        );
        for (user, outcome) in &outcomes {
            tracing::info!(user, ?outcome, "altered SCRAM credentials");
        }
        Ok(outcomes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upsert(user: &str, mechanism: i8, iterations: i32) -> ScramUpsertion {
        ScramUpsertion {
            user: user.into(),
            mechanism,
            iterations,
            salt: b"salt".to_vec(),
            salted_password: b"salted".to_vec(),
        }
    }

    fn delete(user: &str, mechanism: i8) -> ScramDeletion {
        ScramDeletion {
            user: user.into(),
            mechanism,
        }
    }

    #[test]
    fn requests_are_checked_as_kafka_checks_them() {
        let (changes, refused) = plan(
            &[delete("twice", 1), delete("", 1), delete("odd", 3)],
            &[
                upsert("twice", 2, 4096),
                upsert("few", 1, 4095),
                upsert("many", 1, 16385),
                upsert("ok", 2, 8192),
            ],
        );
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].0, "ok");
        assert_eq!(
            refused,
            BTreeMap::from([
                ("".into(), ScramRefusal::EmptyUser),
                ("few".into(), ScramRefusal::TooFewIterations),
                ("many".into(), ScramRefusal::TooManyIterations),
                ("odd".into(), ScramRefusal::UnknownMechanism),
                ("twice".into(), ScramRefusal::AlteredTwice),
            ])
        );
    }

    #[test]
    fn upserts_add_per_mechanism_and_deletes_need_the_credential() {
        let (changes, _) = plan(&[], &[upsert("a", 1, 4096), upsert("b", 2, 4096)]);
        let (stored, outcomes) = apply(&BTreeMap::new(), &changes);
        assert!(outcomes.iter().all(|(_, outcome)| outcome.is_ok()));
        assert_eq!(
            stored["a"].keys().collect::<Vec<_>>(),
            [&Mechanism::ScramSha256]
        );
        let (changes, _) = plan(&[delete("a", 1), delete("b", 1)], &[]);
        let (stored, outcomes) = apply(&stored, &changes);
        assert_eq!(
            outcomes,
            [
                ("a".into(), Ok(())),
                ("b".into(), Err(ScramRefusal::NotFound))
            ]
        );
        assert_eq!(stored.keys().collect::<Vec<_>>(), ["b"]);
    }
}
