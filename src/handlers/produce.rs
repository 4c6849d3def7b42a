//! Produce (key 0): validate each partition's batch without decoding its records (except the
//! keys a compacted topic requires, and a recompression a topic's `compression.type` asks
//! for), append it (offsets assigned in the dispatch stage, so pipelined produces keep their
//! order), then answer once the batch is as durable as acks and `flush.on.ack` require.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse,
    TopicProduceResponse,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, ProduceRequest, ProduceResponse, ResponseKind, TopicName,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::errors;
use super::{Pending, SupportedApi};
use crate::acl::{Operation, Resource};
use crate::broker::{Access, Broker, NotServed};
use crate::log::{AppendInfo, LogError, Partition};
use crate::metadata::TopicMetadata;
use crate::protocol::{throttle_time_ms, RequestContext};
use crate::records::{batch_size, raw, BatchError, BatchView};

pub const API: SupportedApi = SupportedApi {
    key: ApiKey::Produce,
    versions: VersionRange { min: 3, max: 13 },
};

/// Produce v13 addresses topics by id (KIP-516).
const TOPIC_ID_VERSION: i16 = 13;
/// Per-record error details (KIP-467) exist from v8.
const RECORD_ERRORS_VERSION: i16 = 8;
/// The current leader of a partition led elsewhere, and how to reach it (KIP-951).
const LEADER_HINT_VERSION: i16 = 10;

/// Why a partition's batch was not appended.
struct Rejection {
    error: ResponseError,
    message: Option<String>,
    /// The offending records' indexes in the batch (KIP-467); empty: the batch as a whole.
    records: Vec<i32>,
    /// The current leader and its epoch, when another broker leads (KIP-951).
    leader: Option<(i32, i32)>,
}

impl Rejection {
    fn new(error: ResponseError, message: Option<String>) -> Self {
        Self {
            error,
            message,
            records: Vec::new(),
            leader: None,
        }
    }

    fn not_served(not_served: NotServed) -> Self {
        Self {
            leader: errors::leader_hint(not_served),
            ..Self::new(errors::for_not_served(not_served), None)
        }
    }
}

/// One partition's outcome of the dispatch stage.
struct Appended {
    index: i32,
    result: Result<(Arc<Partition>, AppendInfo), Rejection>,
}

struct TopicAppends {
    name: TopicName,
    topic_id: Uuid,
    partitions: Vec<Appended>,
}

/// The leader hints give the endpoints of the listener the request came in on. A client over
/// its `producer_byte_rate` is told its throttle time and its connection muted for it.
pub fn handle(
    broker: &Arc<Broker>,
    access: &Access,
    context: &RequestContext,
    request: ProduceRequest,
) -> Pending {
    let version = context.api_version;
    let acks = request.acks;
    let request_timeout_ms = request.timeout_ms;
    // Kafka's order: transactional records need WRITE on their transactional id (every
    // partition refused otherwise), then each topic WRITE, before anything else is checked.
    let transaction_refused = has_transactional_records(&request)
        && !request
            .transactional_id
            .as_ref()
            .is_some_and(|id| access.allows(Operation::Write, Resource::transactional_id(id)));
    let image = broker.metadata.image();
    let topics: Vec<TopicAppends> = request
        .topic_data
        .into_iter()
        .map(|topic_data| {
            let topic = if version >= TOPIC_ID_VERSION {
                image.topic_by_id(topic_data.topic_id)
            } else {
                image.topic(&topic_data.name)
            };
            let unknown = if version >= TOPIC_ID_VERSION {
                ResponseError::UnknownTopicId
            } else {
                ResponseError::UnknownTopicOrPartition
            };
            let name = topic.map_or(topic_data.name.as_str(), |topic| topic.name.as_str());
            let refused = if transaction_refused {
                Some(ResponseError::TransactionalIdAuthorizationFailed)
            } else if (topic.is_some() || version < TOPIC_ID_VERSION)
                && !access.allows(Operation::Write, Resource::topic(name))
            {
                Some(ResponseError::TopicAuthorizationFailed)
            } else {
                None
            };
            let partitions = topic_data
                .partition_data
                .into_iter()
                .map(|data| Appended {
                    index: data.index,
                    result: if let Some(error) = refused {
                        Err(Rejection::new(error, None))
                    } else if !(-1..=1).contains(&acks) {
                        Err(Rejection::new(ResponseError::InvalidRequiredAcks, None))
                    } else {
                        match topic {
                            None => Err(Rejection::new(unknown, None)),
                            Some(topic) => {
                                append(broker, topic, data.index, data.records.as_deref(), acks)
                            }
                        }
                    },
                })
                .collect();
            TopicAppends {
                // A copy: the request's own name would keep the whole request body (all
                // its records) alive until the response is sent.
                name: TopicName(StrBytes::from_string(topic_data.name.to_string())),
                topic_id: topic_data.topic_id,
                partitions,
            }
        })
        .collect();

    // Kafka counts every produce request against the client's quota, acks=0 included.
    let client_id = context.client_id.as_deref().unwrap_or_default();
    let throttle = broker.record_produced(&context.principal, client_id, context.size);
    if !throttle.is_zero() {
        tracing::debug!(
            client_id,
            bytes = context.size,
            ?throttle,
            "producer throttled"
        );
        crate::metrics::global().throttled("produce", throttle);
        context.mute.extend(throttle);
    }
    if acks == 0 {
        return Box::pin(std::future::ready(None));
    }
    let wait_for_flush = acks == -1 && broker.config.flush_on_ack;
    // acks=all on a replicated partition waits for the in-sync replicas, at most the
    // request's timeout (Kafka's delayed produce).
    let replicas_timeout =
        (acks == -1).then(|| Duration::from_millis(request_timeout_ms.max(0) as u64));
    let node_endpoints = if version >= LEADER_HINT_VERSION {
        hinted_leaders(broker, &topics, &context.listener)
    } else {
        Vec::new()
    };
    let broker = Arc::clone(broker);
    Box::pin(async move {
        let mut responses = Vec::with_capacity(topics.len());
        for topic in topics {
            let partitions = join_all(topic.partitions.into_iter().map(|appended| {
                respond(&broker, appended, version, wait_for_flush, replicas_timeout)
            }))
            .await;
            responses.push(
                TopicProduceResponse::default()
                    .with_name(topic.name)
                    .with_topic_id(topic.topic_id)
                    .with_partition_responses(partitions),
            );
        }
        Some(ResponseKind::Produce(
            ProduceResponse::default()
                .with_responses(responses)
                .with_node_endpoints(node_endpoints)
                .with_throttle_time_ms(throttle_time_ms(throttle)),
        ))
    })
}

/// Whether any partition's batch is transactional (Kafka looks at each one's first batch).
fn has_transactional_records(request: &ProduceRequest) -> bool {
    request
        .topic_data
        .iter()
        .flat_map(|topic| &topic.partition_data)
        .filter_map(|partition| partition.records.as_deref())
        .any(|records| BatchView::parse_header(records).is_ok_and(|batch| batch.is_transactional()))
}

/// How to reach the leaders named in the answers' leader hints (KIP-951).
fn hinted_leaders(broker: &Broker, topics: &[TopicAppends], listener: &str) -> Vec<NodeEndpoint> {
    let leaders: std::collections::BTreeSet<i32> = topics
        .iter()
        .flat_map(|topic| &topic.partitions)
        .filter_map(|appended| appended.result.as_ref().err()?.leader)
        .map(|(leader, _)| leader)
        .collect();
    broker
        .endpoints_of(&leaders, listener)
        .into_iter()
        .map(|endpoint| {
            NodeEndpoint::default()
                .with_node_id(BrokerId(endpoint.node_id))
                .with_host(StrBytes::from_string(endpoint.host))
                .with_port(i32::from(endpoint.port))
                .with_rack(endpoint.rack.map(StrBytes::from_string))
        })
        .collect()
}

/// Validates and appends one partition's records.
fn append(
    broker: &Broker,
    topic: &TopicMetadata,
    index: i32,
    records: Option<&[u8]>,
    acks: i16,
) -> Result<(Arc<Partition>, AppendInfo), Rejection> {
    let invalid = |error: ResponseError, message: String| Rejection::new(error, Some(message));
    let bad_batch = |error: BatchError| invalid(errors::for_batch_error(&error), error.to_string());
    if Broker::is_internal_topic(&topic.name) {
        let message = format!("Cannot append to internal topic {}", topic.name);
        return Err(invalid(ResponseError::InvalidTopicException, message));
    }
    let log = broker
        .leader_log(&topic.name, index)
        .map_err(Rejection::not_served)?;
    if acks == -1 {
        check_in_sync_replicas(&log, ResponseError::NotEnoughReplicas)?;
    }
    let records = records.unwrap_or_default();
    let size = batch_size(records).map_err(bad_batch)?;
    if size < records.len() {
        return Err(invalid(
            ResponseError::InvalidRecord,
            "produce requests must carry exactly one record batch".into(),
        ));
    }
    let batch = BatchView::parse(records)
        .and_then(|batch| batch.check_dense().map(|()| batch))
        .and_then(|batch| raw::check_record_count(&batch).map(|()| batch))
        .map_err(bad_batch)?;
    if batch.is_control() {
        let message = "client produce requests must not carry control batches".to_owned();
        return Err(invalid(ResponseError::InvalidRecord, message));
    }
    // A topic with its own `compression.type` stores every batch with that codec: the one
    // case where the produce path rewrites records.
    let recompressed = match log.target_codec() {
        Some(codec) if codec != batch.compression() => {
            Some(raw::recompress(&batch, codec).map_err(bad_batch)?)
        }
        _ => None,
    };
    let batch = match &recompressed {
        Some(bytes) => BatchView::parse(bytes).map_err(bad_batch)?,
        None => batch,
    };
    if log.is_compacted() {
        check_keys(&batch, &topic.name, index)?;
    }
    if batch.is_transactional() {
        // The partition must be part of the producer's open transaction (added with
        // AddPartitionsToTxn at the producer's current epoch).
        broker
            .txns
            .check_write(
                batch.producer_id(),
                batch.producer_epoch(),
                &topic.name,
                index,
            )
            .map_err(|error| {
                invalid(
                    error,
                    "partition is not part of the producer's transaction".to_owned(),
                )
            })?;
    }
    let info = log.append(&batch).map_err(|error| {
        if let LogError::Io(_) = error {
            tracing::error!(topic = %topic.name, partition = index, %error, "append failed");
        }
        invalid(errors::for_log_error(&error), error.to_string())
    })?;
    if log.is_replicated() {
        broker.replication.on_append(&topic.name, index);
    }
    crate::metrics::global().bytes_in(&topic.name, batch.size());
    // With flush.on.ack a replicated partition's high watermark waits for the leader's fsync
    // (see `replication::leaders`): every append gets one (acks=all waits for it below).
    let flush_for_replicas = log.is_replicated() && broker.config.flush_on_ack && acks != -1;
    if log.flush_due() || flush_for_replicas {
        let log = Arc::clone(&log);
        tokio::spawn(async move {
            if let Err(error) = log.flush(info.last_offset + 1).await {
                tracing::error!(topic = log.topic(), partition = log.index(), %error, "flush failed");
            }
        });
    }
    Ok((log, info))
}

/// acks=all needs `min.insync.replicas` in-sync replicas (a partition without followers
/// has one): `error` otherwise (NOT_ENOUGH_REPLICAS before the append,
/// NOT_ENOUGH_REPLICAS_AFTER_APPEND after it).
fn check_in_sync_replicas(log: &Partition, error: ResponseError) -> Result<(), Rejection> {
    log.check_in_sync_replicas().map_err(|refused| {
        let message = format!("{refused} for {}-{}", log.topic(), log.index());
        Rejection::new(error, Some(message))
    })
}

/// A compacted topic needs a key on every record (as Kafka's log validator demands); the
/// only produce path that decodes records, and only for compacted topics.
fn check_keys(batch: &BatchView<'_>, topic: &str, index: i32) -> Result<(), Rejection> {
    let corrupt = |error: BatchError| {
        Rejection::new(errors::for_batch_error(&error), Some(error.to_string()))
    };
    let section = raw::decompressed_section(batch).map_err(corrupt)?;
    let keyless: Vec<i32> = raw::records(&section, batch.records_count())
        .map_err(corrupt)?
        .iter()
        .enumerate()
        .filter(|(_, record)| record.key.is_none())
        .map(|(at, _)| at as i32)
        .collect();
    if keyless.is_empty() {
        return Ok(());
    }
    Err(Rejection {
        error: ResponseError::InvalidRecord,
        message: Some(format!(
            "Compacted topic cannot accept message without key in topic partition {topic}-{index}."
        )),
        records: keyless,
        leader: None,
    })
}

/// The response stage for one partition: wait for durability and the in-sync replicas if
/// asked, then report.
async fn respond(
    broker: &Broker,
    appended: Appended,
    version: i16,
    wait_for_flush: bool,
    replicas_timeout: Option<Duration>,
) -> PartitionProduceResponse {
    let response = PartitionProduceResponse::default().with_index(appended.index);
    let failure = match appended.result {
        Ok((log, info)) => {
            let flushed = if wait_for_flush {
                log.flush(info.last_offset + 1).await
            } else {
                Ok(())
            };
            let replicated = match replicas_timeout {
                Some(timeout) if log.is_replicated() => {
                    match log.wait_replicated(&info, timeout).await {
                        Ok(()) => check_in_sync_replicas(
                            &log,
                            ResponseError::NotEnoughReplicasAfterAppend,
                        ),
                        // Deposed while waiting: the client finds the new leader.
                        Err(LogError::NotLeading) => Err(broker
                            .leader_log(log.topic(), log.index())
                            .err()
                            .map_or_else(
                                || Rejection::new(ResponseError::NotLeaderOrFollower, None),
                                Rejection::not_served,
                            )),
                        Err(error) => Err(Rejection::new(
                            errors::for_log_error(&error),
                            Some(error.to_string()),
                        )),
                    }
                }
                _ => Ok(()),
            };
            match (flushed, replicated) {
                (Ok(()), Ok(())) => {
                    return response
                        .with_base_offset(info.base_offset)
                        .with_log_append_time_ms(info.log_append_time_ms)
                        .with_log_start_offset(info.log_start_offset)
                }
                (Ok(()), Err(rejection)) => rejection,
                (Err(error), _) => {
                    tracing::error!(topic = log.topic(), partition = log.index(), %error, "flush failed");
                    Rejection::new(ResponseError::KafkaStorageError, Some(error.to_string()))
                }
            }
        }
        Err(failure) => failure,
    };
    let Rejection {
        error,
        message,
        records,
        leader,
    } = failure;
    let response = response
        .with_error_code(error.code())
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1);
    let response = match leader {
        Some((leader_id, leader_epoch)) if version >= LEADER_HINT_VERSION => response
            .with_current_leader(
                LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(leader_id))
                    .with_leader_epoch(leader_epoch),
            ),
        _ => response,
    };
    if version < RECORD_ERRORS_VERSION {
        return response;
    }
    let message = message.map(StrBytes::from_string);
    let record_errors = match (error, records.is_empty()) {
        (ResponseError::InvalidRecord, true) => vec![BatchIndexAndErrorMessage::default()
            .with_batch_index(0)
            .with_batch_index_error_message(message.clone())],
        _ => records
            .into_iter()
            .map(|at| {
                BatchIndexAndErrorMessage::default()
                    .with_batch_index(at)
                    .with_batch_index_error_message(message.clone())
            })
            .collect(),
    };
    response
        .with_error_message(message)
        .with_record_errors(record_errors)
}
