"""kafka-python's KafkaAdminClient against spool: configs, partitions, cluster, log dirs,
records, elections, reassignments, ACLs. Prints one line per step; exits non-zero on the
first failure. Usage: BOOTSTRAP"""

import sys

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import (ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType, ConfigResource,
                         ConfigResourceType, NewPartitions, NewTopic, ResourcePatternFilter, ResourceType)
from kafka.errors import InvalidPartitionsError, SecurityDisabledError

BOOTSTRAP = sys.argv[1]
TOPIC = "admin-kafka-python"


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def step(name):
    print("STEP", name, flush=True)


admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
admin.create_topics([NewTopic(TOPIC, 2, 1)])

step("describe configs with defaults")
topic = ConfigResource(ConfigResourceType.TOPIC, TOPIC)
configs = admin.describe_configs([topic], include_synonyms=True, config_filter="all")["topic"][TOPIC]
retention = configs["retention.ms"]
check(retention["value"] == "604800000", retention)
check(retention["config_source"] == "DEFAULT_CONFIG", retention)
check(retention["config_type"] == "LONG", retention)
check([s["name"] for s in retention["synonyms"]] == ["log.retention.hours"], retention)
check(configs["cleanup.policy"]["config_type"] == "LIST", configs["cleanup.policy"])
broker = admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, "0", {"num.partitions": None})],
                                config_filter="all")["broker"]["0"]
check(broker["num.partitions"]["read_only"] and broker["num.partitions"]["value"] == "1", broker)

step("alter (incremental) and read back")
result = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, TOPIC, {
    "retention.ms": "3600000", "cleanup.policy": ("APPEND", "compact")})])
check(result["topic"][TOPIC] == "OK", result)
modified = admin.describe_configs([topic])["topic"][TOPIC]
check(modified["retention.ms"]["value"] == "3600000", modified)
check(modified["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG", modified)
check(modified["cleanup.policy"]["value"] == "delete,compact", modified)
result = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, TOPIC, {
    "cleanup.policy": ("SUBTRACT", "compact"), "retention.ms": ("DELETE", None)})])
check(result["topic"][TOPIC] == "OK", result)
modified = admin.describe_configs([topic])["topic"][TOPIC]
check(modified["cleanup.policy"]["value"] == "delete", modified)
check("retention.ms" not in modified, "retention.ms is back to its default: %s" % modified)

step("create partitions: increase, then decrease refused")
admin.create_partitions({TOPIC: NewPartitions(4)})
described = admin.describe_topics([TOPIC])[0]
check(len(described["partitions"]) == 4, described)
try:
    admin.create_partitions({TOPIC: NewPartitions(3)})
    raise AssertionError("decrease accepted")
except InvalidPartitionsError as error:
    check("higher than the requested 3" in str(error), error)
try:
    admin.create_partitions({TOPIC: NewPartitions(4)})
    raise AssertionError("same count accepted")
except InvalidPartitionsError as error:
    check("already has 4" in str(error), error)
paged = admin.describe_topic_partitions([TOPIC], response_partition_limit=3)
check([p["partition_index"] for p in paged["topics"][0]["partitions"]] == [0, 1, 2], paged)
check(paged["next_cursor"]["partition_index"] == 3, paged)

step("describe cluster and log dirs")
cluster = admin.describe_cluster()
check(cluster["controller_id"] == 0 and len(cluster["brokers"]) == 1, cluster)
producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")
for i in range(10):
    producer.send(TOPIC, value=b"record-%d" % i, partition=0)
producer.flush()
producer.close()
dirs = admin.describe_log_dirs()[0]["log_dirs"][0]
sizes = {(t["name"], p["partition_index"]): p["partition_size"] for t in dirs["topics"] for p in t["partitions"]}
check(sizes[(TOPIC, 0)] > 0 and sizes[(TOPIC, 1)] == 0, sizes)
check(0 < dirs["usable_bytes"] <= dirs["total_bytes"], dirs)

step("delete records")
deleted = admin.delete_records({TopicPartition(TOPIC, 0): 4})
check(deleted[TopicPartition(TOPIC, 0)]["low_watermark"] == 4, deleted)
consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP)
partition = TopicPartition(TOPIC, 0)
check(consumer.beginning_offsets([partition])[partition] == 4, "log start moved")
consumer.close()

step("elections, reassignments, ACLs")
elected = admin.elect_leaders(0, {TOPIC: [0, 1]})
codes = [p.error_code for r in elected.replica_election_results for p in r.partition_result]
check(codes == [84, 84], elected)
check(admin.list_partition_reassignments() == {}, "no reassignments")
try:
    admin.describe_acls(ACLFilter(principal=None, host="*", operation=ACLOperation.ANY,
                                  permission_type=ACLPermissionType.ANY,
                                  resource_pattern=ResourcePatternFilter(ResourceType.TOPIC, None,
                                                                         ACLResourcePatternType.ANY)))
    raise AssertionError("ACLs described without an authorizer")
except SecurityDisabledError:
    pass

admin.close()
print("ALL PASSED", flush=True)
