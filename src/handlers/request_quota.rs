//! Kafka's request quota (`request_percentage`): the time a client's requests take on the
//! broker's threads, in percent of one thread, held to its quota. A request's time is its
//! dispatch stage plus every poll of its response stage — what Kafka counts as request
//! handler thread time; waits (a delayed produce or fetch, the disk on the blocking pool)
//! are not counted. Over its quota, a client is told its throttle time (at most one quota
//! window) and its connection is muted for it; a throttled fetch is answered empty. As in
//! Kafka, replication fetches, cluster actions and acks=0 produces are exempt.
//!
//! Whatever throttle time a handler put in its response (a controller mutation quota's) also
//! mutes the connection here.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

use super::{fetch, Answering, Response};
use crate::broker::Broker;
use crate::protocol::{throttle_time_ms, Mute, RequestContext};
use crate::quota::Applied;

/// A request held to its client's request quota.
pub struct RequestQuota {
    broker: Arc<Broker>,
    applied: Option<Applied>,
    mute: Arc<Mute>,
}

impl RequestQuota {
    /// The quota of `context`'s request, unless it is exempt; `None` when nothing can throttle
    /// it (no request quota applies, and its API has no quota of its own to tell).
    pub fn of(
        broker: &Arc<Broker>,
        context: &RequestContext,
        request: &RequestKind,
    ) -> Option<Self> {
        let applied = match exempt(context.api_version, request) {
            true => None,
            false => broker.request_quota(
                &context.principal,
                context.client_id.as_deref().unwrap_or_default(),
            ),
        };
        let mutates = matches!(
            context.api_key,
            ApiKey::CreateTopics | ApiKey::DeleteTopics | ApiKey::CreatePartitions
        );
        (applied.is_some() || mutates).then(|| Self {
            broker: Arc::clone(broker),
            applied,
            mute: Arc::clone(&context.mute),
        })
    }

    /// `answering`, measured from `started` (when its dispatch began), then throttled.
    pub fn hold(self, started: Instant, answering: Answering) -> Answering {
        let dispatched = started.elapsed();
        Box::pin(async move {
            let (response, polled) = Busy::new(answering).await;
            // An acks=0 produce is not held to the request quota.
            let response = response?;
            let throttle = match &self.applied {
                Some(applied) => self
                    .broker
                    .record_request_time(applied, dispatched + polled),
                None => Duration::ZERO,
            };
            if !throttle.is_zero() {
                tracing::debug!(?throttle, "request time throttled");
                crate::metrics::global().throttled("request", throttle);
            }
            Some(self.throttled(response, throttle))
        })
    }

    /// `response` telling the larger of `throttle` and its own throttle time, which the
    /// connection is muted for; a fetch throttled by request time is answered empty.
    fn throttled(&self, response: Response, throttle: Duration) -> Response {
        let (response, told) = match response {
            Response::Fetch(answer) if !throttle.is_zero() => {
                let answer = fetch::throttled(&self.broker, answer, throttle);
                let told = answer.response.throttle_time_ms;
                (Response::Fetch(answer), told)
            }
            Response::Message(mut message) => {
                let told = throttle_time_of(&mut message).map_or(0, |own| {
                    *own = (*own).max(throttle_time_ms(throttle));
                    *own
                });
                (Response::Message(message), told)
            }
            response => (response, 0),
        };
        self.mute.extend(Duration::from_millis(told.max(0) as u64));
        response
    }
}

/// Requests Kafka does not hold to the request quota: a follower's fetch and cluster actions.
fn exempt(version: i16, request: &RequestKind) -> bool {
    match request {
        RequestKind::Fetch(fetch) => fetch::from_replica(version, fetch),
        RequestKind::WriteTxnMarkers(_) => true,
        _ => false,
    }
}

/// A future that adds up the time spent polling it.
struct Busy {
    inner: Answering,
    polled: Duration,
}

impl Busy {
    fn new(inner: Answering) -> Self {
        Self {
            inner,
            polled: Duration::ZERO,
        }
    }
}

impl Future for Busy {
    type Output = (Option<Response>, Duration);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let started = Instant::now();
        let poll = self.inner.as_mut().poll(cx);
        self.polled += started.elapsed();
        let polled = self.polled;
        poll.map(|response| (response, polled))
    }
}

/// The response's `throttle_time_ms`, if its message has one (every advertised API's but
/// SASL's and WriteTxnMarkers').
fn throttle_time_of(response: &mut ResponseKind) -> Option<&mut i32> {
    macro_rules! throttle_time {
        ($($kind:ident),* $(,)?) => {
            match response {
                $(ResponseKind::$kind(message) => Some(&mut message.throttle_time_ms),)*
                _ => None,
            }
        };
    }
    throttle_time!(
        Produce,
        Fetch,
        ListOffsets,
        Metadata,
        ApiVersions,
        CreateTopics,
        DeleteTopics,
        FindCoordinator,
        JoinGroup,
        SyncGroup,
        Heartbeat,
        LeaveGroup,
        OffsetCommit,
        OffsetFetch,
        ListGroups,
        DescribeGroups,
        DeleteGroups,
        OffsetDelete,
        DeleteRecords,
        DescribeCluster,
        DescribeConfigs,
        AlterConfigs,
        IncrementalAlterConfigs,
        CreatePartitions,
        DescribeLogDirs,
        DescribeTopicPartitions,
        ElectLeaders,
        OffsetForLeaderEpoch,
        ListPartitionReassignments,
        AlterPartitionReassignments,
        DescribeAcls,
        CreateAcls,
        DeleteAcls,
        InitProducerId,
        DescribeProducers,
        AddPartitionsToTxn,
        AddOffsetsToTxn,
        EndTxn,
        TxnOffsetCommit,
        DescribeTransactions,
        ListTransactions,
        DescribeUserScramCredentials,
        AlterUserScramCredentials,
        DescribeClientQuotas,
        AlterClientQuotas,
    )
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Whether `response` can tell a throttle time.
    pub fn tells_throttle_time(response: &Response) -> bool {
        match response {
            Response::Fetch(_) => true,
            Response::Message(message) => throttle_time_of(&mut message.clone()).is_some(),
        }
    }

    #[tokio::test]
    async fn polling_time_is_added_up_and_waiting_is_not() {
        let answering: Answering = Box::pin(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let spin = Instant::now();
            while spin.elapsed() < Duration::from_millis(20) {}
            None
        });
        let (response, polled) = Busy::new(answering).await;
        assert!(response.is_none());
        assert!(
            polled >= Duration::from_millis(20) && polled < Duration::from_millis(45),
            "{polled:?}"
        );
    }
}
