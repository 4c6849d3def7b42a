//! One file per Kafka API. Each states the versions it fully supports; [`SUPPORTED_APIS`] is
//! the one table ApiVersions advertises and the decoder checks, so they cannot drift apart.
//!
//! A handler runs in two stages: the call itself is the *dispatch* stage, run in request order
//! on the connection (Produce assigns offsets here, so pipelined produces stay ordered); the
//! future it returns is the *response* stage (waiting for an fsync or a long poll), run
//! concurrently with later requests. Responses still leave in request order.

mod acls;
mod add_offsets_to_txn;
mod add_partitions_to_txn;
mod alter_configs;
mod alter_partition_reassignments;
mod api_versions;
mod client_quotas;
mod config_resources;
mod create_partitions;
mod create_topics;
mod delete_groups;
mod delete_records;
mod delete_topics;
mod describe_cluster;
mod describe_configs;
mod describe_groups;
mod describe_log_dirs;
mod describe_producers;
mod describe_topic_partitions;
mod describe_transactions;
mod elect_leaders;
mod end_txn;
mod errors;
mod fetch;
mod find_coordinator;
mod heartbeat;
mod incremental_alter_configs;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod list_partition_reassignments;
mod list_transactions;
mod metadata;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod offset_for_leader_epoch;
mod produce;
mod request_quota;
pub mod sasl;
mod scram_credentials;
mod sync_group;
mod txn_offset_commit;
mod write_txn_markers;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use kafka_protocol::messages::{RequestKind, ResponseKind};
use kafka_protocol::ResponseError;

use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker, Coordination, MutationQuota};
use crate::protocol::{self, RequestContext, ResponseFrame, SupportedApi};
use request_quota::RequestQuota;

/// Everything spool advertises in ApiVersions.
pub const SUPPORTED_APIS: &[SupportedApi] = &[
    produce::API,
    fetch::API,
    list_offsets::API,
    metadata::API,
    api_versions::API,
    create_topics::API,
    delete_topics::API,
    find_coordinator::API,
    join_group::API,
    sync_group::API,
    heartbeat::API,
    leave_group::API,
    offset_commit::API,
    offset_fetch::API,
    list_groups::API,
    describe_groups::API,
    delete_groups::API,
    offset_delete::API,
    delete_records::API,
    describe_cluster::API,
    describe_configs::API,
    alter_configs::API,
    incremental_alter_configs::API,
    create_partitions::API,
    describe_log_dirs::API,
    describe_topic_partitions::API,
    elect_leaders::API,
    offset_for_leader_epoch::API,
    list_partition_reassignments::API,
    alter_partition_reassignments::API,
    acls::DESCRIBE_API,
    acls::CREATE_API,
    acls::DELETE_API,
    init_producer_id::API,
    describe_producers::API,
    add_partitions_to_txn::API,
    add_offsets_to_txn::API,
    end_txn::API,
    txn_offset_commit::API,
    describe_transactions::API,
    list_transactions::API,
    write_txn_markers::API,
    sasl::HANDSHAKE_API,
    sasl::AUTHENTICATE_API,
    scram_credentials::DESCRIBE_API,
    scram_credentials::ALTER_API,
    client_quotas::DESCRIBE_API,
    client_quotas::ALTER_API,
];

/// The response stage of a handler: resolves to the response, or `None` when the client
/// expects none (Produce with acks=0).
pub type Pending = Pin<Box<dyn Future<Output = Option<ResponseKind>> + Send>>;

/// What a request is answered with.
pub enum Response {
    /// A message kafka-protocol encodes.
    Message(ResponseKind),
    /// A Fetch response whose records stay in segment files until they are sent.
    Fetch(fetch::Answer),
}

impl Response {
    /// Every error code in the response (zeros included), for metrics.
    pub fn error_codes(&self) -> Vec<i16> {
        match self {
            Self::Message(response) => crate::metrics::response_errors::codes(response),
            Self::Fetch(answer) => crate::metrics::response_errors::fetch_codes(&answer.response),
        }
    }

    /// The response frame for `context`'s request.
    pub fn encode(&self, context: &RequestContext) -> Result<ResponseFrame, String> {
        match self {
            Self::Message(message) => {
                protocol::encode_response(context, message).map(ResponseFrame::from)
            }
            Self::Fetch(answer) => {
                protocol::fetch_response::encode(context, &answer.response, &answer.records)
            }
        }
    }
}

/// The response stage of a request, as [`dispatch`] returns it.
pub type Answering = Pin<Box<dyn Future<Output = Option<Response>> + Send>>;

fn ready(response: ResponseKind) -> Pending {
    Box::pin(std::future::ready(Some(response)))
}

/// The response stage of a handler that answers asynchronously.
fn later(response: impl Future<Output = ResponseKind> + Send + 'static) -> Pending {
    Box::pin(async move { Some(response.await) })
}

/// Runs the dispatch stage of a decoded request and returns its response stage; `None` for
/// a request no handler takes (the decoder lets only advertised APIs through, so this is a
/// bug, and the connection is closed rather than left waiting).
pub fn dispatch(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: RequestKind,
) -> Option<Answering> {
    let started = Instant::now();
    let quota = RequestQuota::of(broker, context, &request);
    let answering = dispatch_answering(broker, context, request)?;
    Some(match quota {
        Some(quota) => quota.hold(started, answering),
        None => answering,
    })
}

/// The dispatch stage of every request, before its request quota.
fn dispatch_answering(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: RequestKind,
) -> Option<Answering> {
    // What the principal may do, decided against the ACLs as they are now.
    let access = broker.access(&context.principal, context.host());
    if let RequestKind::Fetch(request) = request {
        let broker = Arc::clone(broker);
        let context = context.clone();
        return Some(Box::pin(async move {
            Some(Response::Fetch(
                fetch::handle(broker, access, context, request).await,
            ))
        }));
    }
    let pending = dispatch_message(broker, &access, context, request)?;
    Some(Box::pin(
        async move { pending.await.map(Response::Message) },
    ))
}

/// The dispatch stage of every request answered with a kafka-protocol message.
fn dispatch_message(
    broker: &Arc<Broker>,
    access: &Access,
    context: &RequestContext,
    request: RequestKind,
) -> Option<Pending> {
    let version = context.api_version;
    Some(match request {
        RequestKind::ApiVersions(request) => ready(ResponseKind::ApiVersions(
            api_versions::handle(version, &request),
        )),
        RequestKind::Metadata(request) => ready(ResponseKind::Metadata(metadata::handle(
            broker,
            access,
            version,
            request,
            &context.listener,
        ))),
        RequestKind::CreateTopics(request) => later(
            create_topics::handle(
                Arc::clone(broker),
                access.clone(),
                mutation_quota(broker, context, create_topics::STRICT_QUOTA_VERSION),
                request,
            )
            .map(ResponseKind::CreateTopics),
        ),
        RequestKind::DeleteTopics(request) => later(
            delete_topics::handle(
                Arc::clone(broker),
                access.clone(),
                mutation_quota(broker, context, delete_topics::STRICT_QUOTA_VERSION),
                version,
                request,
            )
            .map(ResponseKind::DeleteTopics),
        ),
        RequestKind::ListOffsets(request) => ready(ResponseKind::ListOffsets(
            list_offsets::handle(broker, access, version, request),
        )),
        RequestKind::Produce(request) => produce::handle(broker, access, context, request),
        RequestKind::FindCoordinator(request) => later(
            find_coordinator::handle(
                Arc::clone(broker),
                access.clone(),
                version,
                request,
                Arc::clone(&context.listener),
            )
            .map(ResponseKind::FindCoordinator),
        ),
        RequestKind::JoinGroup(request) => join_group::handle(broker, access, context, request),
        RequestKind::SyncGroup(request) => sync_group::handle(broker, access, version, request),
        RequestKind::Heartbeat(request) => ready(ResponseKind::Heartbeat(heartbeat::handle(
            broker, access, request,
        ))),
        RequestKind::LeaveGroup(request) => ready(ResponseKind::LeaveGroup(leave_group::handle(
            broker, access, version, request,
        ))),
        RequestKind::OffsetCommit(request) => offset_commit::handle(broker, access, request),
        RequestKind::OffsetFetch(request) => ready(ResponseKind::OffsetFetch(
            offset_fetch::handle(broker, access, version, request),
        )),
        RequestKind::ListGroups(request) => ready(ResponseKind::ListGroups(list_groups::handle(
            broker, access, request,
        ))),
        RequestKind::DescribeGroups(request) => ready(ResponseKind::DescribeGroups(
            describe_groups::handle(broker, access, version, request),
        )),
        RequestKind::DeleteGroups(request) => delete_groups::handle(broker, access, request),
        RequestKind::OffsetDelete(request) => offset_delete::handle(broker, access, request),
        RequestKind::DeleteRecords(request) => {
            delete_records::handle(broker, access.clone(), request)
        }
        RequestKind::DescribeCluster(request) => ready(ResponseKind::DescribeCluster(
            describe_cluster::handle(broker, access, version, &request, &context.listener),
        )),
        RequestKind::DescribeConfigs(request) => ready(ResponseKind::DescribeConfigs(
            describe_configs::handle(broker, access, version, &request),
        )),
        RequestKind::AlterConfigs(request) => later(
            alter_configs::handle(Arc::clone(broker), access.clone(), request)
                .map(ResponseKind::AlterConfigs),
        ),
        RequestKind::IncrementalAlterConfigs(request) => later(
            incremental_alter_configs::handle(Arc::clone(broker), access.clone(), request)
                .map(ResponseKind::IncrementalAlterConfigs),
        ),
        RequestKind::CreatePartitions(request) => later(
            create_partitions::handle(
                Arc::clone(broker),
                access.clone(),
                mutation_quota(broker, context, create_partitions::STRICT_QUOTA_VERSION),
                request,
            )
            .map(ResponseKind::CreatePartitions),
        ),
        RequestKind::DescribeLogDirs(request) => ready(ResponseKind::DescribeLogDirs(
            describe_log_dirs::handle(broker, access, version, &request),
        )),
        RequestKind::DescribeTopicPartitions(request) => {
            ready(ResponseKind::DescribeTopicPartitions(
                describe_topic_partitions::handle(broker, access, &request),
            ))
        }
        RequestKind::ElectLeaders(request) => later(
            elect_leaders::handle(Arc::clone(broker), access.clone(), version, request)
                .map(ResponseKind::ElectLeaders),
        ),
        RequestKind::OffsetForLeaderEpoch(request) => ready(ResponseKind::OffsetForLeaderEpoch(
            offset_for_leader_epoch::handle(broker, access, &request),
        )),
        RequestKind::ListPartitionReassignments(request) => {
            ready(ResponseKind::ListPartitionReassignments(
                list_partition_reassignments::handle(broker, access, &request),
            ))
        }
        RequestKind::AlterPartitionReassignments(request) => later(
            alter_partition_reassignments::handle(Arc::clone(broker), access.clone(), request)
                .map(ResponseKind::AlterPartitionReassignments),
        ),
        RequestKind::SaslHandshake(_) => {
            ready(ResponseKind::SaslHandshake(sasl::handshake_out_of_place()))
        }
        RequestKind::SaslAuthenticate(_) => ready(ResponseKind::SaslAuthenticate(
            sasl::authenticate_out_of_place(),
        )),
        RequestKind::DescribeUserScramCredentials(request) => {
            ready(ResponseKind::DescribeUserScramCredentials(
                scram_credentials::describe(broker, access, &request),
            ))
        }
        RequestKind::AlterUserScramCredentials(request) => later(
            scram_credentials::alter(Arc::clone(broker), access.clone(), request)
                .map(ResponseKind::AlterUserScramCredentials),
        ),
        RequestKind::DescribeClientQuotas(request) => ready(ResponseKind::DescribeClientQuotas(
            client_quotas::describe(broker, access, &request),
        )),
        RequestKind::AlterClientQuotas(request) => later(
            client_quotas::alter(Arc::clone(broker), access.clone(), request)
                .map(ResponseKind::AlterClientQuotas),
        ),
        RequestKind::DescribeAcls(request) => ready(ResponseKind::DescribeAcls(acls::describe(
            broker, access, &request,
        ))),
        RequestKind::CreateAcls(request) => later(
            acls::create(Arc::clone(broker), access.clone(), request).map(ResponseKind::CreateAcls),
        ),
        RequestKind::DeleteAcls(request) => later(
            acls::delete(Arc::clone(broker), access.clone(), request).map(ResponseKind::DeleteAcls),
        ),
        RequestKind::InitProducerId(request) => init_producer_id::handle(broker, access, request),
        RequestKind::AddPartitionsToTxn(request) => {
            add_partitions_to_txn::handle(broker, access.clone(), version, request)
        }
        RequestKind::AddOffsetsToTxn(request) => {
            add_offsets_to_txn::handle(broker, access, request)
        }
        RequestKind::EndTxn(request) => end_txn::handle(broker, access, request),
        RequestKind::TxnOffsetCommit(request) => {
            txn_offset_commit::handle(broker, access.clone(), version, request)
        }
        RequestKind::DescribeTransactions(request) => {
            describe_transactions::handle(broker, access.clone(), request)
        }
        RequestKind::ListTransactions(request) => {
            list_transactions::handle(broker, access.clone(), request)
        }
        RequestKind::WriteTxnMarkers(request) => write_txn_markers::handle(broker, access, request),
        RequestKind::DescribeProducers(request) => ready(ResponseKind::DescribeProducers(
            describe_producers::handle(broker, access, request),
        )),
        _ => return None,
    })
}

/// The controller mutation quota of `context`'s request: strict from `strict_version`.
fn mutation_quota(broker: &Broker, context: &RequestContext, strict_version: i16) -> MutationQuota {
    broker.mutation_quota(
        &context.principal,
        context.client_id.as_deref().unwrap_or_default(),
        context.api_version >= strict_version,
    )
}

/// The throttle time a mutating request's response tells (its connection is muted for it
/// with its request quota's).
fn mutation_throttle_time_ms(quota: &MutationQuota) -> i32 {
    let throttle = quota.throttle();
    if !throttle.is_zero() {
        crate::metrics::global().throttled("controller_mutation", throttle);
    }
    protocol::throttle_time_ms(throttle)
}

/// GROUP_AUTHORIZATION_FAILED unless the principal may do `operation` on `group_id`; then
/// [`group_coordinator_error`].
pub fn group_error(
    broker: &Broker,
    access: &Access,
    operation: Operation,
    group_id: &str,
) -> Option<ResponseError> {
    if !access.allows(operation, Resource::group(group_id)) {
        return Some(ResponseError::GroupAuthorizationFailed);
    }
    group_coordinator_error(broker, group_id)
}

/// NOT_COORDINATOR unless this broker coordinates `group_id` (the leader of its partition
/// of `__consumer_offsets`): the client looks the coordinator up again;
/// COORDINATOR_LOAD_IN_PROGRESS while it is taking the partition in.
pub fn group_coordinator_error(broker: &Broker, group_id: &str) -> Option<ResponseError> {
    coordinator_error(broker, crate::group::OFFSETS_TOPIC, group_id, |id| {
        broker.groups.is_loaded(id)
    })
}

/// TRANSACTIONAL_ID_AUTHORIZATION_FAILED unless the principal may WRITE `transactional_id`;
/// then [`txn_coordinator_error`].
pub fn txn_error(
    broker: &Broker,
    access: &Access,
    transactional_id: &str,
) -> Option<ResponseError> {
    if !access.allows(
        Operation::Write,
        Resource::transactional_id(transactional_id),
    ) {
        return Some(ResponseError::TransactionalIdAuthorizationFailed);
    }
    txn_coordinator_error(broker, transactional_id)
}

/// NOT_COORDINATOR unless this broker coordinates `transactional_id` (the leader of its
/// partition of `__transaction_state`); COORDINATOR_LOAD_IN_PROGRESS while it is taking the
/// partition in.
pub fn txn_coordinator_error(broker: &Broker, transactional_id: &str) -> Option<ResponseError> {
    coordinator_error(
        broker,
        crate::txn::TRANSACTION_TOPIC,
        transactional_id,
        |id| broker.txns.is_loaded(id),
    )
}

fn coordinator_error(
    broker: &Broker,
    internal_topic: &str,
    key: &str,
    loaded: impl Fn(&str) -> bool,
) -> Option<ResponseError> {
    match broker.coordination(internal_topic, key) {
        Coordination::Here if loaded(key) => None,
        Coordination::Here | Coordination::Starting => {
            Some(ResponseError::CoordinatorLoadInProgress)
        }
        Coordination::Elsewhere => Some(ResponseError::NotCoordinator),
    }
}

/// Kafka's answer to "what may I do here" when no authorizer is configured and the client did
/// not ask: INT32_MIN means "not requested".
pub const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// Checks the leader epoch a client believes in against ours (KIP-320).
pub fn check_leader_epoch(requested: i32, ours: i32) -> Option<kafka_protocol::ResponseError> {
    use kafka_protocol::ResponseError;
    match requested {
        -1 => None,
        epoch if epoch > ours => Some(ResponseError::UnknownLeaderEpoch),
        epoch if epoch < ours => Some(ResponseError::FencedLeaderEpoch),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::protocol::guard::{self, samples::sample};
    use bytes::{BufMut, Bytes, BytesMut};
    use kafka_protocol::messages::ApiKey;
    use kafka_protocol::protocol::StrBytes;
    use proptest::prelude::*;

    /// Every advertised API at every advertised version, with a sample request against a
    /// broker that has topic "t": the handler's response must encode at that version (the
    /// crate refuses fields a version does not have, which a client would see as a closed
    /// connection).
    #[tokio::test]
    async fn every_advertised_version_answers_with_an_encodable_response() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::broker::testing::config_in(dir.path());
        config.num_partitions = 2;
        config.group.initial_rebalance_delay_ms = 0;
        config.group.offsets_topic_partitions = 2;
        config.txn.state_partitions = 2;
        let broker = Arc::new(Broker::open(config, Arc::new(SystemClock)).unwrap());
        for api in SUPPORTED_APIS {
            for version in api.versions.min..=api.versions.max {
                broker.auto_create_topic("t").unwrap();
                let mut body = Bytes::from(sample(api.key, version));
                let body_size = body.len();
                let request = RequestKind::decode(api.key, &mut body, version).unwrap();
                let context = RequestContext {
                    client_id: Some(StrBytes::from_static_str("test")),
                    client_host: "/127.0.0.1".into(),
                    listener: Arc::from("PLAINTEXT"),
                    ..RequestContext::new(api.key, version, 1, body_size)
                };
                let pending = dispatch(&broker, &context, request)
                    .unwrap_or_else(|| panic!("{:?} has no handler", api.key));
                let answer =
                    tokio::time::timeout(std::time::Duration::from_secs(10), pending).await;
                let Ok(Some(response)) = answer else {
                    // acks=0 produce answers nothing; every other request must answer.
                    assert!(
                        matches!(answer, Ok(None)) && api.key == ApiKey::Produce,
                        "{:?} v{version} did not answer",
                        api.key
                    );
                    continue;
                };
                response
                    .encode(&context)
                    .unwrap_or_else(|error| panic!("{:?} v{version}: {error}", api.key));
                // Every response a quota can throttle can tell the client so.
                let untold = [
                    ApiKey::SaslHandshake,
                    ApiKey::SaslAuthenticate,
                    ApiKey::WriteTxnMarkers,
                ];
                assert!(
                    untold.contains(&api.key)
                        || request_quota::tests::tells_throttle_time(&response),
                    "{:?} cannot tell a throttle time",
                    api.key
                );
            }
        }
    }

    /// The guard knows every advertised API: at every advertised version a populated request
    /// encoded by the crate passes it, and every strict prefix of it is refused.
    #[test]
    fn guard_accepts_every_advertised_version_and_refuses_truncation() {
        for api in SUPPORTED_APIS {
            assert!(guard::covers(api.key), "{:?} has no guard layout", api.key);
            for version in api.versions.min..=api.versions.max {
                let body = sample(api.key, version);
                guard::check_body(api.key, version, &body)
                    .unwrap_or_else(|error| panic!("{:?} v{version}: {error}", api.key));
                if !body.is_empty() {
                    assert!(
                        guard::check_body(api.key, version, &body[..body.len() - 1]).is_err(),
                        "{:?} v{version} truncated",
                        api.key
                    );
                }
            }
        }
    }

    /// Writes the fuzz targets' seed inputs into `fuzz/corpus/` (`make fuzz-seeds`): a frame of
    /// every advertised API at every advertised version, streams of a few frames, headers,
    /// batches of every codec and a transaction marker, and each SASL mechanism's first
    /// messages. The fuzzer grows the corpus from these; the committed corpus replays in CI.
    #[test]
    #[ignore = "writes the fuzz seed corpus: make fuzz-seeds"]
    fn write_fuzz_seeds() {
        use crate::records::batch::testing::{build_records_batch, ALL_CODECS};
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
        let write = |target: &str, name: String, bytes: &[u8]| {
            let dir = root.join(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
        };
        let frame = |api: ApiKey, version: i16| {
            let mut frame = BytesMut::new();
            frame.put_i16(api as i16);
            frame.put_i16(version);
            frame.put_i32(7);
            frame.put_i16(4);
            frame.put_slice(b"fuzz");
            if api.request_header_version(version) >= 2 {
                frame.put_u8(0); // no tagged fields
            }
            frame.put_slice(&sample(api, version));
            frame.to_vec()
        };
        let prefixed = |frame: &[u8]| [&(frame.len() as i32).to_be_bytes()[..], frame].concat();
        for api in SUPPORTED_APIS {
            for version in api.versions.min..=api.versions.max {
                write(
                    "request",
                    format!("{:?}-v{version}", api.key),
                    &frame(api.key, version),
                );
            }
            let max = api.versions.max;
            let stream = [
                prefixed(&frame(ApiKey::ApiVersions, 3)),
                prefixed(&frame(api.key, max)),
            ]
            .concat();
            write("request_stream", format!("{:?}-v{max}", api.key), &stream);
        }
        for header_version in [1u8, 2] {
            let header = frame(ApiKey::Metadata, if header_version == 2 { 12 } else { 8 });
            write(
                "request_header",
                format!("v{header_version}"),
                &[&[header_version - 1], &header[..]].concat(),
            );
        }
        for codec in ALL_CODECS {
            write(
                "record_batch",
                format!("{codec:?}"),
                &build_records_batch(&[1, 2, 3], codec),
            );
        }
        let marker = crate::records::control::marker_batch(5, 1, true, 0, 1).unwrap();
        write("record_batch", "commit-marker".into(), &marker);
        write("sasl", "plain".into(), b"\x00\x00alice\x00secret");
        for (choice, name) in [(1u8, "scram-sha-256"), (2, "scram-sha-512")] {
            let messages = [&[choice][..], b"n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL", b"\xfec=biws,r=fyko+d2lbbFgONRv9qkxdawL,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="].concat();
            write("sasl", name.into(), &messages);
        }
        write(
            "sasl",
            "oauthbearer".into(),
            b"\x03n,a=alice,\x01auth=Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln\x01\x01",
        );
    }

    proptest! {
        /// Whatever follows a valid header, decoding an advertised API never panics.
        #[test]
        fn garbage_after_a_valid_header_never_panics(api in 0i16..80, version in 0i16..20, tail in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut bytes = BytesMut::new();
            bytes.put_i16(api);
            bytes.put_i16(version);
            bytes.put_i32(1);
            bytes.put_i16(-1);
            bytes.extend_from_slice(&tail);
            let _ = protocol::decode_request(bytes.freeze(), SUPPORTED_APIS);
        }
    }
}
