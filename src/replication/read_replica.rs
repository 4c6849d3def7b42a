//! Which replica a consumer should read a partition from (KIP-392), as the leader decides it
//! for each fetch: with `replica.selector.class` set to Kafka's `RackAwareReplicaSelector`,
//! a consumer that names its rack (`client.rack`) is sent to a replica in that rack — the
//! leader if it is there, else the in-sync follower furthest ahead — and is served by the
//! leader otherwise (always, without a selector). Pure: the broker hands in what it knows of
//! the replicas.

/// A replica a consumer could read from, as the leader sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaView<'a> {
    pub id: i32,
    pub rack: Option<&'a str>,
    pub log_end_offset: i64,
    /// How long ago it last had everything the leader had (0 for the leader).
    pub since_caught_up_ms: i64,
}

/// The replica other than the leader that the rack-aware selector sends a consumer in
/// `client_rack` to, if any. `followers` are those that may serve the fetch (in sync,
/// holding its offset).
pub fn preferred_read_replica(
    client_rack: &str,
    leader: ReplicaView<'_>,
    followers: &[ReplicaView<'_>],
) -> Option<i32> {
    if client_rack.is_empty() || leader.rack == Some(client_rack) {
        return None;
    }
    // Kafka's ReplicaView order: most data, then most recently caught up, then highest id.
    followers
        .iter()
        .filter(|follower| follower.rack == Some(client_rack))
        .max_by_key(|follower| {
            (
                follower.log_end_offset,
                std::cmp::Reverse(follower.since_caught_up_ms),
                follower.id,
            )
        })
        .map(|follower| follower.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: i32, rack: &'static str, log_end_offset: i64, since: i64) -> ReplicaView<'static> {
        ReplicaView {
            id,
            rack: Some(rack),
            log_end_offset,
            since_caught_up_ms: since,
        }
    }

    #[test]
    fn a_consumer_reads_from_the_most_advanced_replica_of_its_rack() {
        let leader = view(1, "a", 100, 0);
        let followers = [
            view(2, "b", 90, 0),
            view(3, "b", 100, 50),
            view(4, "c", 100, 0),
        ];
        let pick = |rack| preferred_read_replica(rack, leader, &followers);
        assert_eq!(pick("b"), Some(3), "the furthest ahead in rack b");
        assert_eq!(pick("c"), Some(4));
        assert_eq!(pick("a"), None, "the leader is in the consumer's rack");
        assert_eq!(
            pick("z"),
            None,
            "no replica in that rack: the leader serves"
        );
        assert_eq!(pick(""), None, "no client.rack");
    }

    #[test]
    fn ties_go_to_the_latest_caught_up_then_the_highest_id() {
        let leader = view(1, "a", 100, 0);
        let followers = [
            view(2, "b", 100, 30),
            view(3, "b", 100, 10),
            view(4, "b", 100, 10),
        ];
        let pick = preferred_read_replica("b", leader, &followers);
        assert_eq!(pick, Some(4));
    }
}
