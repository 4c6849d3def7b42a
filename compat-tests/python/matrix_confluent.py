"""confluent-kafka (librdkafka) scenarios for the compatibility matrix. Usage: BOOTSTRAP"""

import sys

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from matrix import check, expired, librdkafka_config, run

BOOTSTRAP = sys.argv[1]
CONNECTION = librdkafka_config(BOOTSTRAP)
TOPIC = "matrix-confluent"
GROUP = "matrix-confluent-group"
RECORDS = 20
CODECS = ["gzip", "snappy", "lz4", "zstd"]


def consumer(group, commit=False):
    c = Consumer({
        **CONNECTION,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": commit,
    })
    c.subscribe([TOPIC])
    return c


def take(c, count):
    got = []
    while len(got) < count and not expired():
        message = c.poll(0.2)
        if message is None:
            continue
        check(message.error() is None or message.error().code() == KafkaError._PARTITION_EOF, str(message.error()))
        if message.error() is None:
            got.append(message)
    return got


def create_topic():
    admin = AdminClient(CONNECTION)
    for future in admin.create_topics([NewTopic(TOPIC, 3, 1)]).values():
        future.result(30)


def produce():
    p = Producer(CONNECTION)
    for i in range(RECORDS):
        p.produce(TOPIC, key=b"key-%d" % i, value=b"value-%d" % i, headers=[("n", str(i).encode())])
    check(p.flush(30) == 0, "records left unsent")


def consume_from_beginning():
    c = Consumer({**CONNECTION, "group.id": "matrix-reader", "enable.auto.commit": False})
    c.assign([TopicPartition(TOPIC, p, 0) for p in range(3)])
    got = take(c, RECORDS)
    c.close()
    check(len(got) == RECORDS, "got %d" % len(got))
    for m in got:
        check(m.value() == b"value-" + m.key()[4:], "pair %r" % (m.key(),))
        check(dict(m.headers())["n"] == m.key()[4:], "header %r" % (m.headers(),))


state = {}


def group_commit():
    c = consumer(GROUP)
    got = take(c, 12)
    check(len(got) == 12, "got %d" % len(got))
    c.commit(asynchronous=False)
    state["first"] = {(m.partition(), m.offset()) for m in got}
    c.close()


def resume():
    c = consumer(GROUP)
    got = take(c, RECORDS - 12)
    rest = {(m.partition(), m.offset()) for m in got}
    check(len(got) == RECORDS - 12, "got %d" % len(got))
    check(not (rest & state["first"]), "redelivered %r" % (rest & state["first"],))
    c.commit(asynchronous=False)
    state["consumer"] = c


def list_describe():
    admin = AdminClient(CONNECTION)
    listed = admin.list_consumer_groups().result(30)
    check(GROUP in [g.group_id for g in listed.valid], "groups %r" % (listed.valid,))
    described = admin.describe_consumer_groups([GROUP])[GROUP].result(30)
    check(len(described.members) == 1, "members %r" % (described.members,))


def lag():
    c = state["consumer"]
    total = 0
    for tp in c.committed([TopicPartition(TOPIC, p) for p in range(3)], timeout=30):
        low, high = c.get_watermark_offsets(tp, timeout=30)
        total += high - tp.offset
    check(total == 0, "lag %d" % total)
    c.close()
    return "lag 0"


def compression(codec):
    def scenario():
        topic = "matrix-confluent-" + codec
        p = Producer({**CONNECTION, "compression.type": codec})
        for i in range(10):
            p.produce(topic, key=b"k%d" % i, value=b"v%d" % i)
        check(p.flush(30) == 0, "unsent")
        c = Consumer({**CONNECTION, "group.id": "matrix-" + codec, "auto.offset.reset": "earliest"})
        c.subscribe([topic])
        got = take(c, 10)
        c.close()
        check(sorted(m.value() for m in got) == sorted(b"v%d" % i for i in range(10)), "values")
    return scenario


run("create-topic", create_topic)
run("produce-keyed-with-headers", produce)
run("consume-from-beginning", consume_from_beginning)
run("group-commit", group_commit)
run("resume-at-committed-offset", resume)
run("list-describe-groups", list_describe)
run("lag", lag)
for codec in CODECS:
    run("compression-" + codec, compression(codec))
