//! The one mapping from the domain's errors (log, batches, topics) to Kafka error codes,
//! where the domain meets the handlers.

use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::broker::{DynamicConfigError, NotServed, ScramRefusal, TopicError};
use crate::log::producer_state::ProducerError;
use crate::log::LogError;
use crate::metadata::topic_config::ConfigChangeError;
use crate::records::BatchError;

/// The Kafka error a log failure is reported as.
pub fn for_log_error(error: &LogError) -> ResponseError {
    match error {
        LogError::Io(_) | LogError::ForeignPartitionDir(_) | LogError::Offline => {
            ResponseError::KafkaStorageError
        }
        LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        LogError::NotLeading => ResponseError::NotLeaderOrFollower,
        LogError::ReplicationTimedOut => ResponseError::RequestTimedOut,
        LogError::NotEnoughReplicas { .. } => ResponseError::NotEnoughReplicas,
        // A follower's own appends; never the answer to a client's request.
        LogError::NotContiguous { .. } | LogError::NotFollowing { .. } => {
            ResponseError::UnknownServerError
        }
        LogError::InvalidBatch(batch) => for_batch_error(batch),
        LogError::BatchTooLarge { .. } => ResponseError::MessageTooLarge,
        LogError::Producer(producer) => match producer {
            ProducerError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
            ProducerError::InvalidEpoch { .. } => ResponseError::InvalidProducerEpoch,
            ProducerError::UnknownProducer { .. } => ResponseError::UnknownProducerId,
        },
    }
}

/// The Kafka error for a partition this broker does not serve.
pub fn for_not_served(not_served: NotServed) -> ResponseError {
    match not_served {
        NotServed::Unknown => ResponseError::UnknownTopicOrPartition,
        NotServed::NotLeader { .. } => ResponseError::NotLeaderOrFollower,
    }
}

/// The current leader and its epoch to name in the answer (KIP-951), when another broker
/// leads.
pub fn leader_hint(not_served: NotServed) -> Option<(i32, i32)> {
    match not_served {
        NotServed::NotLeader {
            leader,
            leader_epoch,
        } => Some((leader, leader_epoch)),
        NotServed::Unknown => None,
    }
}

/// The Kafka error an invalid produced batch is reported as.
pub fn for_batch_error(error: &BatchError) -> ResponseError {
    match error {
        BatchError::CrcMismatch { .. }
        | BatchError::Truncated { .. }
        | BatchError::LengthTooSmall(_)
        | BatchError::Records(_) => ResponseError::CorruptMessage,
        BatchError::UnsupportedMagic(_)
        | BatchError::InconsistentCount { .. }
        | BatchError::RecordCount { .. } => ResponseError::InvalidRecord,
    }
}

/// The Kafka error a dynamic broker config change failure is reported as.
pub fn for_dynamic_config_error(error: &DynamicConfigError) -> ResponseError {
    match error {
        DynamicConfigError::Refused(ConfigChangeError::InvalidConfig(_)) => {
            ResponseError::InvalidConfig
        }
        DynamicConfigError::Refused(ConfigChangeError::InvalidRequest(_)) => {
            ResponseError::InvalidRequest
        }
        DynamicConfigError::Storage(_) => ResponseError::KafkaStorageError,
    }
}

/// The Kafka error a refused SCRAM credential change is reported as.
pub fn for_scram_refusal(refusal: &ScramRefusal) -> ResponseError {
    match refusal {
        ScramRefusal::AlteredTwice => ResponseError::DuplicateResource,
        ScramRefusal::EmptyUser
        | ScramRefusal::TooFewIterations
        | ScramRefusal::TooManyIterations => ResponseError::UnacceptableCredential,
        ScramRefusal::UnknownMechanism => ResponseError::UnsupportedSaslMechanism,
        ScramRefusal::NotFound => ResponseError::ResourceNotFound,
    }
}

/// The Kafka error a topic create/delete failure is reported as.
pub fn for_topic_error(error: &TopicError) -> ResponseError {
    match error {
        TopicError::InvalidName(_) => ResponseError::InvalidTopicException,
        TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
        TopicError::Unknown(_) => ResponseError::UnknownTopicOrPartition,
        TopicError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        TopicError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
        TopicError::InvalidReplicaAssignment(_) => ResponseError::InvalidReplicaAssignment,
        TopicError::InvalidConfig(_) => ResponseError::InvalidConfig,
        TopicError::InvalidRequest(_) => ResponseError::InvalidRequest,
        TopicError::ThrottlingQuotaExceeded => ResponseError::ThrottlingQuotaExceeded,
        TopicError::Storage(_) => ResponseError::KafkaStorageError,
    }
}

/// The message a topic failure is told with: none for a refusal by the controller mutation
/// quota, which Kafka tells by its code alone.
pub fn topic_error_message(error: &TopicError) -> Option<StrBytes> {
    match error {
        TopicError::ThrottlingQuotaExceeded => None,
        error => Some(StrBytes::from_string(error.to_string())),
    }
}

/// Kafka's own message for `error` (its `Errors` enum's), which Kafka sends where it answers
/// with an error alone, e.g. a topic a client may not delete. kafka-protocol's `Display` gives
/// the variant's name instead; errors without an entry here are told so.
pub fn kafka_message(error: ResponseError) -> StrBytes {
    let message = match error {
        ResponseError::UnknownTopicOrPartition => "This server does not host this topic-partition.",
        ResponseError::TopicAuthorizationFailed => "Topic authorization failed.",
        ResponseError::GroupAuthorizationFailed => "Group authorization failed.",
        ResponseError::ClusterAuthorizationFailed => "Cluster authorization failed.",
        ResponseError::UnknownTopicId => "This server does not host this topic ID.",
        other => return StrBytes::from_string(other.to_string()),
    };
    StrBytes::from_static_str(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_kafkas_not_variant_names() {
        assert_eq!(
            kafka_message(ResponseError::TopicAuthorizationFailed).as_str(),
            "Topic authorization failed."
        );
        assert_eq!(
            kafka_message(ResponseError::UnknownTopicOrPartition).as_str(),
            "This server does not host this topic-partition."
        );
    }
}
