//! A populated request body of every API the guard knows, at any version, encoded by
//! `kafka-protocol`: what the guard's and the handlers' tests feed in.

#![cfg(test)]

use bytes::BytesMut;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};

fn encoded(body: &impl Encodable, version: i16) -> Vec<u8> {
    let mut bytes = BytesMut::new();
    body.encode(&mut bytes, version).unwrap();
    bytes.to_vec()
}

fn name(text: &'static str) -> TopicName {
    TopicName(StrBytes::from_static_str(text))
}

/// A populated request body of `api` valid at `version` (topic "t", group "g").
pub(crate) fn sample(api: ApiKey, version: i16) -> Vec<u8> {
    let produce = |version: i16| {
        let topic = produce_request::TopicProduceData::default().with_partition_data(vec![
            produce_request::PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(bytes::Bytes::from(
                    crate::records::batch::testing::build_batch(1, 0, b"abc"),
                ))),
        ]);
        let topic = if version >= 13 {
            topic.with_topic_id(uuid::Uuid::from_u128(7))
        } else {
            topic.with_name(name("t"))
        };
        ProduceRequest::default()
            .with_transactional_id(None)
            .with_topic_data(vec![topic])
    };
    let fetch = |version: i16| {
        let topic = fetch_request::FetchTopic::default().with_partitions(vec![
            fetch_request::FetchPartition::default().with_partition(1),
        ]);
        let topic = if version >= 13 {
            topic.with_topic_id(uuid::Uuid::from_u128(7))
        } else {
            topic.with_topic(name("t"))
        };
        let request = FetchRequest::default().with_topics(vec![topic]);
        let request = if version >= 7 {
            let forgotten = fetch_request::ForgottenTopic::default().with_partitions(vec![1, 2]);
            let forgotten = if version >= 13 {
                forgotten.with_topic_id(uuid::Uuid::from_u128(8))
            } else {
                forgotten.with_topic(name("u"))
            };
            request.with_forgotten_topics_data(vec![forgotten])
        } else {
            request
        };
        if version >= 12 {
            request.with_cluster_id(Some(StrBytes::from_static_str("c")))
        } else {
            request
        }
    };
    let metadata = MetadataRequest::default().with_topics(Some(vec![
        metadata_request::MetadataRequestTopic::default().with_name(Some(name("t"))),
    ]));
    let list_offsets = ListOffsetsRequest::default().with_topics(vec![
        list_offsets_request::ListOffsetsTopic::default()
            .with_name(name("t"))
            .with_partitions(vec![
                list_offsets_request::ListOffsetsPartition::default().with_timestamp(-1)
            ]),
    ]);
    let create = CreateTopicsRequest::default().with_topics(vec![
        create_topics_request::CreatableTopic::default()
            .with_name(name("t"))
            .with_assignments(vec![
                create_topics_request::CreatableReplicaAssignment::default()
                    .with_broker_ids(vec![BrokerId(1)]),
            ])
            .with_configs(vec![create_topics_request::CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("k"))
                .with_value(None)]),
    ]);
    let delete = |version: i16| {
        if version >= 6 {
            DeleteTopicsRequest::default().with_topics(vec![
                delete_topics_request::DeleteTopicState::default().with_name(Some(name("t"))),
            ])
        } else {
            DeleteTopicsRequest::default().with_topic_names(vec![name("t")])
        }
    };
    let api_versions = |version: i16| {
        if version >= 3 {
            ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("x"))
                .with_client_software_version(StrBytes::from_static_str("1"))
        } else {
            ApiVersionsRequest::default()
        }
    };
    match api {
        ApiKey::Produce => encoded(&produce(version), version),
        ApiKey::Fetch => encoded(&fetch(version), version),
        ApiKey::Metadata => encoded(&metadata, version),
        ApiKey::ListOffsets => encoded(&list_offsets, version),
        ApiKey::CreateTopics => encoded(&create, version),
        ApiKey::DeleteTopics => encoded(&delete(version), version),
        ApiKey::DescribeCluster => {
            let request =
                DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
            let request = if version >= 1 {
                request.with_endpoint_type(1)
            } else {
                request
            };
            let request = if version >= 2 {
                request.with_include_fenced_brokers(true)
            } else {
                request
            };
            encoded(&request, version)
        }
        ApiKey::DescribeConfigs => {
            let request = DescribeConfigsRequest::default().with_resources(vec![
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_static_str("t"))
                    .with_configuration_keys(Some(vec![StrBytes::from_static_str("retention.ms")])),
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(4)
                    .with_resource_name(StrBytes::from_static_str("0")),
            ]);
            let request = request.with_include_synonyms(true);
            let request = if version >= 3 {
                request.with_include_documentation(true)
            } else {
                request
            };
            encoded(&request, version)
        }
        ApiKey::AlterConfigs => encoded(
            &AlterConfigsRequest::default()
                .with_resources(vec![alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_static_str("t"))
                    .with_configs(vec![alter_configs_request::AlterableConfig::default()
                        .with_name(StrBytes::from_static_str("retention.ms"))
                        .with_value(Some(StrBytes::from_static_str("1000")))])])
                .with_validate_only(true),
            version,
        ),
        ApiKey::IncrementalAlterConfigs => encoded(
            &IncrementalAlterConfigsRequest::default()
                .with_resources(vec![
                    incremental_alter_configs_request::AlterConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(StrBytes::from_static_str("t"))
                        .with_configs(vec![
                            incremental_alter_configs_request::AlterableConfig::default()
                                .with_name(StrBytes::from_static_str("cleanup.policy"))
                                .with_config_operation(2)
                                .with_value(Some(StrBytes::from_static_str("compact"))),
                        ]),
                ])
                .with_validate_only(true),
            version,
        ),
        ApiKey::CreatePartitions => encoded(
            &CreatePartitionsRequest::default()
                .with_topics(vec![
                    create_partitions_request::CreatePartitionsTopic::default()
                        .with_name(name("t"))
                        .with_count(3)
                        .with_assignments(Some(vec![
                            create_partitions_request::CreatePartitionsAssignment::default()
                                .with_broker_ids(vec![BrokerId(0)]),
                        ])),
                ])
                .with_validate_only(true),
            version,
        ),
        ApiKey::DescribeLogDirs => encoded(
            &DescribeLogDirsRequest::default().with_topics(Some(vec![
                describe_log_dirs_request::DescribableLogDirTopic::default()
                    .with_topic(name("t"))
                    .with_partitions(vec![0, 1]),
            ])),
            version,
        ),
        ApiKey::DescribeTopicPartitions => encoded(
            &DescribeTopicPartitionsRequest::default()
                .with_topics(vec![
                    describe_topic_partitions_request::TopicRequest::default().with_name(name("t")),
                ])
                .with_response_partition_limit(1)
                .with_cursor(Some(
                    describe_topic_partitions_request::Cursor::default()
                        .with_topic_name(name("t"))
                        .with_partition_index(1),
                )),
            version,
        ),
        ApiKey::ElectLeaders => {
            let request = ElectLeadersRequest::default().with_topic_partitions(Some(vec![
                elect_leaders_request::TopicPartitions::default()
                    .with_topic(name("t"))
                    .with_partitions(vec![0, 9]),
            ]));
            let request = if version >= 1 {
                request.with_election_type(1)
            } else {
                request
            };
            encoded(&request, version)
        }
        ApiKey::OffsetForLeaderEpoch => encoded(
            &OffsetForLeaderEpochRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![
                    offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                        .with_topic(name("t"))
                        .with_partitions(vec![
                            offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                                .with_partition(0)
                                .with_current_leader_epoch(0)
                                .with_leader_epoch(0),
                        ]),
                ]),
            version,
        ),
        ApiKey::ListPartitionReassignments => encoded(
            &ListPartitionReassignmentsRequest::default().with_topics(Some(vec![
                list_partition_reassignments_request::ListPartitionReassignmentsTopics::default()
                    .with_name(name("t"))
                    .with_partition_indexes(vec![0]),
            ])),
            version,
        ),
        ApiKey::AlterPartitionReassignments => encoded(
            &AlterPartitionReassignmentsRequest::default()
                .with_timeout_ms(60_000)
                .with_allow_replication_factor_change(version == 0)
                .with_topics(vec![
                    alter_partition_reassignments_request::ReassignableTopic::default()
                        .with_name(name("t"))
                        .with_partitions(vec![
                            alter_partition_reassignments_request::ReassignablePartition::default()
                                .with_partition_index(0)
                                .with_replicas(Some(vec![BrokerId(1), BrokerId(2)])),
                            alter_partition_reassignments_request::ReassignablePartition::default()
                                .with_partition_index(1)
                                .with_replicas(None),
                        ]),
                ]),
            version,
        ),
        ApiKey::SaslHandshake => encoded(
            &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
            version,
        ),
        ApiKey::SaslAuthenticate => encoded(
            &SaslAuthenticateRequest::default()
                .with_auth_bytes(bytes::Bytes::from_static(b"\0user\0password")),
            version,
        ),
        ApiKey::DescribeClientQuotas => encoded(
            &DescribeClientQuotasRequest::default()
                .with_components(vec![
                    describe_client_quotas_request::ComponentData::default()
                        .with_entity_type(StrBytes::from_static_str("user"))
                        .with_match_type(0)
                        .with_match(Some(StrBytes::from_static_str("alice"))),
                ])
                .with_strict(true),
            version,
        ),
        ApiKey::AlterClientQuotas => encoded(
            &AlterClientQuotasRequest::default().with_entries(vec![
                alter_client_quotas_request::EntryData::default()
                    .with_entity(vec![alter_client_quotas_request::EntityData::default()
                        .with_entity_type(StrBytes::from_static_str("client-id"))
                        .with_entity_name(None)])
                    .with_ops(vec![alter_client_quotas_request::OpData::default()
                        .with_key(StrBytes::from_static_str("producer_byte_rate"))
                        .with_value(1024.0)]),
            ]),
            version,
        ),
        ApiKey::DescribeUserScramCredentials => encoded(
            &DescribeUserScramCredentialsRequest::default().with_users(Some(vec![
                describe_user_scram_credentials_request::UserName::default()
                    .with_name(StrBytes::from_static_str("alice")),
            ])),
            version,
        ),
        ApiKey::AlterUserScramCredentials => encoded(
            &AlterUserScramCredentialsRequest::default()
                .with_deletions(vec![
                    alter_user_scram_credentials_request::ScramCredentialDeletion::default()
                        .with_name(StrBytes::from_static_str("bob"))
                        .with_mechanism(1),
                ])
                .with_upsertions(vec![
                    alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
                        .with_name(StrBytes::from_static_str("alice"))
                        .with_mechanism(2)
                        .with_iterations(4096)
                        .with_salt(bytes::Bytes::from_static(b"salt"))
                        .with_salted_password(bytes::Bytes::from_static(b"salted")),
                ]),
            version,
        ),
        ApiKey::DescribeAcls => encoded(
            &DescribeAclsRequest::default()
                .with_resource_type_filter(2)
                .with_resource_name_filter(Some(StrBytes::from_static_str("t")))
                .with_pattern_type_filter(3)
                .with_operation(2)
                .with_permission_type(3),
            version,
        ),
        ApiKey::CreateAcls => encoded(
            &CreateAclsRequest::default().with_creations(vec![
                create_acls_request::AclCreation::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_static_str("t"))
                    .with_resource_pattern_type(3)
                    .with_principal(StrBytes::from_static_str("User:x"))
                    .with_host(StrBytes::from_static_str("*"))
                    .with_operation(2)
                    .with_permission_type(3),
            ]),
            version,
        ),
        ApiKey::DeleteAcls => encoded(
            &DeleteAclsRequest::default().with_filters(vec![
                delete_acls_request::DeleteAclsFilter::default()
                    .with_resource_type_filter(2)
                    .with_pattern_type_filter(3)
                    .with_operation(2)
                    .with_permission_type(3),
            ]),
            version,
        ),
        ApiKey::DeleteRecords => encoded(
            &DeleteRecordsRequest::default()
                .with_topics(vec![delete_records_request::DeleteRecordsTopic::default()
                    .with_name(name("t"))
                    .with_partitions(vec![
                        delete_records_request::DeleteRecordsPartition::default()
                            .with_partition_index(1)
                            .with_offset(5),
                    ])])
                .with_timeout_ms(100),
            version,
        ),
        ApiKey::ApiVersions => encoded(&api_versions(version), version),
        ApiKey::WriteTxnMarkers => encoded(
            &WriteTxnMarkersRequest::default().with_markers(vec![
                write_txn_markers_request::WritableTxnMarker::default()
                    .with_producer_id(ProducerId(9))
                    .with_topics(vec![
                        write_txn_markers_request::WritableTxnMarkerTopic::default()
                            .with_name(name("t"))
                            .with_partition_indexes(vec![0, 7]),
                    ]),
            ]),
            version,
        ),
        other => group_sample(other, version).unwrap_or_else(|| panic!("no sample for {other:?}")),
    }
}

fn text(value: &'static str) -> StrBytes {
    StrBytes::from_static_str(value)
}

/// A populated group API request valid at `version`, encoded.
fn group_sample(api: ApiKey, version: i16) -> Option<Vec<u8>> {
    let from = |min: i16, value: &'static str| (version >= min).then(|| text(value));
    let group = GroupId(text("g"));
    Some(match api {
        ApiKey::FindCoordinator => {
            let request =
                FindCoordinatorRequest::default().with_key_type(if version >= 1 { 1 } else { 0 });
            let request = if version >= 4 {
                request.with_coordinator_keys(vec![text("g")])
            } else {
                request.with_key(text("g"))
            };
            encoded(&request, version)
        }
        ApiKey::JoinGroup => encoded(
            &JoinGroupRequest::default()
                .with_group_id(group)
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(if version >= 1 { 30_000 } else { -1 })
                .with_member_id(text("m"))
                .with_group_instance_id(from(5, "i"))
                .with_protocol_type(text("consumer"))
                .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
                )
                .with_name(text("range"))
                .with_metadata(bytes::Bytes::from_static(b"meta"))])
                .with_reason(from(8, "why")),
            version,
        ),
        ApiKey::SyncGroup => encoded(
            &SyncGroupRequest::default()
                .with_group_id(group)
                .with_generation_id(1)
                .with_member_id(text("m"))
                .with_group_instance_id(from(3, "i"))
                .with_protocol_type(from(5, "consumer"))
                .with_protocol_name(from(5, "range"))
                .with_assignments(vec![
                    sync_group_request::SyncGroupRequestAssignment::default()
                        .with_member_id(text("m"))
                        .with_assignment(bytes::Bytes::from_static(b"a")),
                ]),
            version,
        ),
        ApiKey::Heartbeat => encoded(
            &HeartbeatRequest::default()
                .with_group_id(group)
                .with_generation_id(1)
                .with_member_id(text("m"))
                .with_group_instance_id(from(3, "i")),
            version,
        ),
        ApiKey::LeaveGroup => {
            let request = LeaveGroupRequest::default().with_group_id(group);
            let request = if version >= 3 {
                request.with_members(vec![leave_group_request::MemberIdentity::default()
                    .with_member_id(text("m"))
                    .with_group_instance_id(Some(text("i")))
                    .with_reason(from(5, "bye"))])
            } else {
                request.with_member_id(text("m"))
            };
            encoded(&request, version)
        }
        ApiKey::OffsetCommit => encoded(
            &OffsetCommitRequest::default()
                .with_group_id(group)
                .with_generation_id_or_member_epoch(1)
                .with_member_id(text("m"))
                .with_group_instance_id(from(7, "i"))
                .with_topics(vec![
                    offset_commit_request::OffsetCommitRequestTopic::default()
                        .with_name(name("t"))
                        .with_partitions(vec![
                            offset_commit_request::OffsetCommitRequestPartition::default()
                                .with_committed_offset(5)
                                .with_committed_leader_epoch(if version >= 6 { 2 } else { -1 })
                                .with_committed_metadata(Some(text("meta"))),
                        ]),
                ]),
            version,
        ),
        ApiKey::OffsetFetch => {
            let request = if version >= 8 {
                OffsetFetchRequest::default().with_groups(vec![
                    offset_fetch_request::OffsetFetchRequestGroup::default()
                        .with_group_id(group)
                        .with_member_id(from(9, "m"))
                        .with_member_epoch(if version >= 9 { 3 } else { -1 })
                        .with_topics(Some(vec![
                            offset_fetch_request::OffsetFetchRequestTopics::default()
                                .with_name(name("t"))
                                .with_partition_indexes(vec![0, 1]),
                        ])),
                ])
            } else {
                OffsetFetchRequest::default()
                    .with_group_id(group)
                    .with_topics(Some(vec![
                        offset_fetch_request::OffsetFetchRequestTopic::default()
                            .with_name(name("t"))
                            .with_partition_indexes(vec![0, 1]),
                    ]))
            };
            encoded(&request.with_require_stable(version >= 7), version)
        }
        ApiKey::ListGroups => encoded(
            &ListGroupsRequest::default()
                .with_states_filter(if version >= 4 {
                    vec![text("Stable")]
                } else {
                    Vec::new()
                })
                .with_types_filter(if version >= 5 {
                    vec![text("classic")]
                } else {
                    Vec::new()
                }),
            version,
        ),
        ApiKey::DescribeGroups => encoded(
            &DescribeGroupsRequest::default()
                .with_groups(vec![group])
                .with_include_authorized_operations(version >= 3),
            version,
        ),
        ApiKey::DeleteGroups => encoded(
            &DeleteGroupsRequest::default().with_groups_names(vec![group]),
            version,
        ),
        ApiKey::OffsetDelete => encoded(
            &OffsetDeleteRequest::default()
                .with_group_id(group)
                .with_topics(vec![
                    offset_delete_request::OffsetDeleteRequestTopic::default()
                        .with_name(name("t"))
                        .with_partitions(vec![
                            offset_delete_request::OffsetDeleteRequestPartition::default()
                                .with_partition_index(3),
                        ]),
                ]),
            version,
        ),
        ApiKey::InitProducerId => encoded(
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(if version >= 3 { 5 } else { -1 }))
                .with_producer_epoch(if version >= 3 { 2 } else { -1 }),
            version,
        ),
        ApiKey::DescribeProducers => encoded(
            &DescribeProducersRequest::default().with_topics(vec![
                describe_producers_request::TopicRequest::default()
                    .with_name(name("t"))
                    .with_partition_indexes(vec![0, 1]),
            ]),
            version,
        ),
        ApiKey::AddPartitionsToTxn => {
            let topic = add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                .with_name(name("t"))
                .with_partitions(vec![0, 1]);
            let request = if version >= 4 {
                AddPartitionsToTxnRequest::default().with_transactions(vec![
                    add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default()
                        .with_transactional_id(TransactionalId(text("tx")))
                        .with_producer_id(ProducerId(3))
                        .with_producer_epoch(1)
                        .with_verify_only(true)
                        .with_topics(vec![topic]),
                ])
            } else {
                AddPartitionsToTxnRequest::default()
                    .with_v3_and_below_transactional_id(TransactionalId(text("tx")))
                    .with_v3_and_below_producer_id(ProducerId(3))
                    .with_v3_and_below_producer_epoch(1)
                    .with_v3_and_below_topics(vec![topic])
            };
            encoded(&request, version)
        }
        ApiKey::AddOffsetsToTxn => encoded(
            &AddOffsetsToTxnRequest::default()
                .with_transactional_id(TransactionalId(text("tx")))
                .with_producer_id(ProducerId(3))
                .with_producer_epoch(1)
                .with_group_id(group),
            version,
        ),
        ApiKey::EndTxn => encoded(
            &EndTxnRequest::default()
                .with_transactional_id(TransactionalId(text("tx")))
                .with_producer_id(ProducerId(3))
                .with_producer_epoch(1)
                .with_committed(true),
            version,
        ),
        ApiKey::TxnOffsetCommit => encoded(
            &TxnOffsetCommitRequest::default()
                .with_transactional_id(TransactionalId(text("tx")))
                .with_group_id(group)
                .with_producer_id(ProducerId(3))
                .with_producer_epoch(1)
                .with_generation_id(if version >= 3 { 4 } else { -1 })
                .with_member_id(if version >= 3 {
                    text("m")
                } else {
                    StrBytes::default()
                })
                .with_group_instance_id(from(3, "i"))
                .with_topics(vec![
                    txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                        .with_name(name("t"))
                        .with_partitions(vec![
                            txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                                .with_committed_offset(5)
                                .with_committed_leader_epoch(if version >= 2 { 1 } else { -1 })
                                .with_committed_metadata(Some(text("m"))),
                        ]),
                ]),
            version,
        ),
        ApiKey::DescribeTransactions => encoded(
            &DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![TransactionalId(text("tx"))]),
            version,
        ),
        ApiKey::ListTransactions => encoded(
            &ListTransactionsRequest::default()
                .with_state_filters(vec![text("Ongoing")])
                .with_producer_id_filters(vec![ProducerId(1), ProducerId(2)])
                .with_duration_filter(if version >= 1 { 1_000 } else { -1 }),
            version,
        ),
        _ => return None,
    })
}
