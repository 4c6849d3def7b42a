"""kafka-python (its own protocol implementation) against spool: topics, keyed produce with
headers, a consumer group that commits, a restart that resumes exactly after the commit, and
the admin view of groups, offsets and lag.

Usage: kafka_python_groups.py BOOTSTRAP. Exits non-zero on the first failure.
"""

import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

BOOTSTRAP = sys.argv[1]
TOPIC = "kafka-python-groups"
GROUP = "kafka-python-group"
RECORDS = 30
DEADLINE = time.monotonic() + 90


def check(condition, message):
    if not condition:
        print("FAIL", message, flush=True)
        sys.exit(1)


def consumer(**overrides):
    settings = dict(
        bootstrap_servers=BOOTSTRAP,
        group_id=GROUP,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=10000,
        consumer_timeout_ms=15000,
    )
    settings.update(overrides)
    return KafkaConsumer(TOPIC, **settings)


def take(source, count):
    taken = []
    for message in source:
        taken.append(message)
        if len(taken) == count or time.monotonic() > DEADLINE:
            break
    return taken


admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
admin.create_topics([NewTopic(TOPIC, 3, 1)])
print("PASS create topic", flush=True)

# kafka-python 3 producers are idempotent by default (InitProducerId, sequence numbers).
producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")
for i in range(RECORDS):
    producer.send(TOPIC, key=b"key-%d" % i, value=b"value-%d" % i, headers=[("n", str(i).encode())])
producer.flush()
producer.close()
print("PASS produce keyed records with headers", flush=True)

first = consumer()
seen = take(first, 20)
check(len(seen) == 20, "first consumer got %d of 20" % len(seen))
for message in seen:
    check(message.value == b"value-" + message.key[4:], "key/value pair %r" % (message,))
    check(dict(message.headers)["n"] == message.key[4:], "header %r" % (message.headers,))
first.commit()
committed = {tp: first.committed(tp) for tp in first.assignment()}
first.close()
print("PASS consumer group commit", flush=True)

second = consumer()
rest = take(second, RECORDS - 20)
check(len(rest) == RECORDS - 20, "second consumer got %d of %d" % (len(rest), RECORDS - 20))
first_keys = {(m.partition, m.offset) for m in seen}
rest_keys = {(m.partition, m.offset) for m in rest}
check(not first_keys & rest_keys, "redelivered after the commit: %r" % (first_keys & rest_keys,))
check(len(first_keys | rest_keys) == RECORDS, "skipped records")
for message in rest:
    tp = TopicPartition(TOPIC, message.partition)
    check(message.offset >= committed.get(tp, 0), "resumed before the commit on %r" % (tp,))
second.commit()
print("PASS resume exactly after the committed offset", flush=True)

groups = admin.list_groups()
check(any(GROUP in str(group) for group in groups), "list_groups: %r" % (groups,))
described = admin.describe_groups([GROUP])
check(GROUP in str(described), "describe_groups: %r" % (described,))
offsets = admin.list_group_offsets(GROUP)
# kafka-python 3 answers {group: {partition: offset}}; 2.x answered {partition: offset}.
offsets = offsets.get(GROUP, offsets)
end_offsets = second.end_offsets([TopicPartition(TOPIC, p) for p in range(3)])
lag = sum(end_offsets[tp] - meta.offset for tp, meta in offsets.items())
check(sum(end_offsets.values()) == RECORDS, "end offsets %r" % (end_offsets,))
check(lag == 0, "lag %d after committing everything" % lag)
second.close()
print("PASS list/describe groups and lag", flush=True)
print("kafka-python: all scenarios passed", flush=True)
