//! What the cluster store holds, as each broker sees it: the key layout under the cluster's
//! root and the [`ClusterImage`] a watch keeps up to date.
//!
//! ```text
//! <root>/cluster_id        the cluster id, written once by the first broker
//! <root>/brokers/<id>      a BrokerRegistration, on the broker's lease
//! <root>/controller        the controller's node id, on its lease; the key's create
//!                          revision is the controller epoch
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::kv::{Change, Entry, Snapshot};

/// How a live broker is reached, as it registered itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    pub node_id: i32,
    /// The advertised listener clients connect to.
    pub host: String,
    pub port: u16,
    /// `broker.rack`, for rack-aware replica placement.
    #[serde(default)]
    pub rack: Option<String>,
}

/// The controller's record under `<root>/controller`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerRecord {
    pub node_id: i32,
}

/// The broker elected controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Controller {
    pub node_id: i32,
    /// The controller key's create revision: larger with every election, so it fences the
    /// writes of a deposed controller.
    pub epoch: i64,
}

/// The keys of one cluster, all under its root (`/spool` unless the cluster URL names one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

/// What a key under the root names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    ClusterId,
    Broker(i32),
    Controller,
}

impl Keys {
    pub fn new(root: &str) -> Self {
        Self {
            prefix: format!("{}/", root.trim_end_matches('/')),
        }
    }

    /// Every key of the cluster starts with this.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn cluster_id(&self) -> String {
        format!("{}cluster_id", self.prefix)
    }

    pub fn broker(&self, node_id: i32) -> String {
        format!("{}brokers/{node_id}", self.prefix)
    }

    pub fn controller(&self) -> String {
        format!("{}controller", self.prefix)
    }

    fn parse(&self, key: &str) -> Option<Key> {
        let rest = key.strip_prefix(&self.prefix)?;
        match rest.split_once('/') {
            None if rest == "cluster_id" => Some(Key::ClusterId),
            None if rest == "controller" => Some(Key::Controller),
            Some(("brokers", id)) => id.parse().ok().map(Key::Broker),
            _ => None,
        }
    }
}

/// The cluster as of one revision of the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterImage {
    /// The store revision this image reflects.
    pub revision: i64,
    pub cluster_id: Option<String>,
    /// Live brokers by node id.
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    pub controller: Option<Controller>,
}

impl ClusterImage {
    pub fn from_snapshot(keys: &Keys, snapshot: &Snapshot) -> Self {
        let mut image = Self::default();
        for entry in &snapshot.entries {
            image.put(keys, entry);
        }
        image.revision = snapshot.revision;
        image
    }

    /// Applies one watched change.
    pub fn apply(&mut self, keys: &Keys, change: &Change) {
        match change {
            Change::Put(entry) => {
                self.put(keys, entry);
                self.revision = self.revision.max(entry.mod_revision);
            }
            Change::Delete { key, revision } => {
                match keys.parse(key) {
                    Some(Key::ClusterId) => self.cluster_id = None,
                    Some(Key::Broker(id)) => {
                        self.brokers.remove(&id);
                    }
                    Some(Key::Controller) => self.controller = None,
                    None => {}
                }
                self.revision = self.revision.max(*revision);
            }
        }
    }

    fn put(&mut self, keys: &Keys, entry: &Entry) {
        let Some(key) = keys.parse(&entry.key) else {
            return;
        };
        let malformed = |error: serde_json::Error| {
            // Somebody else's bytes under our root: leave the image as it was.
            tracing::warn!(key = %entry.key, %error, "ignoring a malformed cluster record");
        };
        match key {
            Key::ClusterId => {
                self.cluster_id = Some(String::from_utf8_lossy(&entry.value).into_owned());
            }
            Key::Broker(id) => match serde_json::from_slice::<BrokerRegistration>(&entry.value) {
                Ok(registration) if registration.node_id == id => {
                    self.brokers.insert(id, registration);
                }
                Ok(registration) => tracing::warn!(
                    key = %entry.key,
                    node_id = registration.node_id,
                    "ignoring a broker registration under another broker's key"
                ),
                Err(error) => malformed(error),
            },
            Key::Controller => match serde_json::from_slice::<ControllerRecord>(&entry.value) {
                Ok(record) => {
                    self.controller = Some(Controller {
                        node_id: record.node_id,
                        epoch: entry.create_revision,
                    })
                }
                Err(error) => malformed(error),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, value: &str, create_revision: i64, mod_revision: i64) -> Entry {
        Entry {
            key: key.into(),
            value: value.into(),
            create_revision,
            mod_revision,
        }
    }

    #[test]
    fn keys_parse_back_and_stay_under_their_root() {
        let keys = Keys::new("/spool/");
        assert_eq!(keys.broker(3), "/spool/brokers/3");
        assert_eq!(keys.parse(&keys.broker(3)), Some(Key::Broker(3)));
        assert_eq!(keys.parse(&keys.controller()), Some(Key::Controller));
        assert_eq!(keys.parse(&keys.cluster_id()), Some(Key::ClusterId));
        assert_eq!(keys.parse("/spool/brokers/x"), None);
        assert_eq!(keys.parse("/other/brokers/3"), None);
        assert_eq!(keys.parse("/spool2/controller"), None);
    }

    #[test]
    fn the_image_follows_puts_and_deletes_and_ignores_malformed_records() {
        let keys = Keys::new("/spool");
        let snapshot = Snapshot {
            entries: vec![
                entry("/spool/cluster_id", "abc", 1, 1),
                entry(
                    "/spool/brokers/1",
                    r#"{"node_id":1,"host":"127.0.0.1","port":9092}"#,
                    2,
                    2,
                ),
                entry("/spool/brokers/2", "not json", 3, 3),
                entry(
                    "/spool/brokers/4",
                    r#"{"node_id":5,"host":"h","port":1}"#,
                    4,
                    4,
                ),
            ],
            revision: 7,
        };
        let mut image = ClusterImage::from_snapshot(&keys, &snapshot);
        assert_eq!(image.cluster_id.as_deref(), Some("abc"));
        assert_eq!(image.brokers.keys().copied().collect::<Vec<_>>(), [1]);
        assert_eq!(image.brokers[&1].rack, None);
        assert_eq!(image.revision, 7);

        image.apply(
            &keys,
            &Change::Put(entry("/spool/controller", r#"{"node_id":1}"#, 8, 8)),
        );
        assert_eq!(
            image.controller,
            Some(Controller {
                node_id: 1,
                epoch: 8
            })
        );
        image.apply(
            &keys,
            &Change::Delete {
                key: "/spool/brokers/1".into(),
                revision: 9,
            },
        );
        image.apply(
            &keys,
            &Change::Delete {
                key: "/spool/controller".into(),
                revision: 9,
            },
        );
        assert!(image.brokers.is_empty());
        assert_eq!(image.controller, None);
        assert_eq!(image.revision, 9);
    }
}
