"""kafka-python (its own protocol implementation) scenarios for the compatibility matrix.
Usage: BOOTSTRAP"""

import sys

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from matrix import check, expired, kafka_python_args, run

BOOTSTRAP = sys.argv[1]
CONNECTION = kafka_python_args(BOOTSTRAP)
TOPIC = "matrix-kafka-python"
GROUP = "matrix-kafka-python-group"
RECORDS = 20


def consumer(group):
    return KafkaConsumer(TOPIC, **CONNECTION, group_id=group, auto_offset_reset="earliest",
                         enable_auto_commit=False, consumer_timeout_ms=15000)


def take(source, count):
    got = []
    for message in source:
        got.append(message)
        if len(got) == count or expired():
            break
    return got


state = {}


def create_topic():
    KafkaAdminClient(**CONNECTION).create_topics([NewTopic(TOPIC, 3, 1)])


def produce():
    # kafka-python 3 producers are idempotent by default (InitProducerId, sequence numbers).
    producer = KafkaProducer(**CONNECTION, acks="all")
    for i in range(RECORDS):
        producer.send(TOPIC, key=b"key-%d" % i, value=b"value-%d" % i, headers=[("n", str(i).encode())])
    producer.flush()
    producer.close()


def consume_from_beginning():
    c = KafkaConsumer(**CONNECTION, enable_auto_commit=False, consumer_timeout_ms=15000)
    c.assign([TopicPartition(TOPIC, p) for p in range(3)])
    c.seek_to_beginning()
    got = take(c, RECORDS)
    c.close()
    check(len(got) == RECORDS, "got %d" % len(got))
    for m in got:
        check(m.value == b"value-" + m.key[4:], "pair %r" % (m,))
        check(dict(m.headers)["n"] == m.key[4:], "header %r" % (m.headers,))


def group_commit():
    c = consumer(GROUP)
    got = take(c, 12)
    check(len(got) == 12, "got %d" % len(got))
    c.commit()
    state["first"] = {(m.partition, m.offset) for m in got}
    c.close()


def resume():
    c = consumer(GROUP)
    got = take(c, RECORDS - 12)
    rest = {(m.partition, m.offset) for m in got}
    check(len(got) == RECORDS - 12, "got %d" % len(got))
    check(not (rest & state["first"]), "redelivered %r" % (rest & state["first"],))
    c.commit()
    state["consumer"] = c


def list_describe():
    admin = KafkaAdminClient(**CONNECTION)
    check(any(GROUP in str(group) for group in admin.list_groups()), "not listed")
    check(GROUP in str(admin.describe_groups([GROUP])), "not described")


def lag():
    c = state["consumer"]
    offsets = KafkaAdminClient(**CONNECTION).list_group_offsets(GROUP)
    offsets = offsets.get(GROUP, offsets)  # kafka-python 3 nests by group
    ends = c.end_offsets([TopicPartition(TOPIC, p) for p in range(3)])
    total = sum(ends[tp] - meta.offset for tp, meta in offsets.items())
    check(sum(ends.values()) == RECORDS, "end offsets %r" % (ends,))
    check(total == 0, "lag %d" % total)
    c.close()
    return "lag 0"


def compression(codec):
    """Produces and consumes through spool with `codec` (lz4, snappy and zstd need the lz4,
    python-snappy and zstandard packages, which the test set-up installs)."""
    def scenario():
        topic = TOPIC + "-" + codec
        producer = KafkaProducer(**CONNECTION, compression_type=codec)
        values = [(b"v%d " % i) * 50 for i in range(10)]
        for i, value in enumerate(values):
            producer.send(topic, key=b"k%d" % i, value=value)
        producer.flush()
        c = KafkaConsumer(topic, **CONNECTION, group_id="matrix-kp-" + codec,
                          auto_offset_reset="earliest", consumer_timeout_ms=15000)
        got = take(c, 10)
        c.close()
        check(sorted(m.value for m in got) == sorted(values), "values")
    return scenario


run("create-topic", create_topic)
run("produce-keyed-with-headers", produce)
run("consume-from-beginning", consume_from_beginning)
run("group-commit", group_commit)
run("resume-at-committed-offset", resume)
run("list-describe-groups", list_describe)
run("lag", lag)
for codec in ("gzip", "lz4", "snappy", "zstd"):
    run("compression-" + codec, compression(codec))
