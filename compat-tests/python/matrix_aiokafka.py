"""aiokafka (asyncio, its own protocol implementation) scenarios for the compatibility matrix.
Usage: BOOTSTRAP"""

import asyncio
import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from matrix import aiokafka_args, check, report

BOOTSTRAP = sys.argv[1]
CONNECTION = aiokafka_args(BOOTSTRAP)
TOPIC = "matrix-aiokafka"
GROUP = "matrix-aiokafka-group"
RECORDS = 20
SCENARIO_TIMEOUT = 60


async def run(name, scenario):
    try:
        detail = await asyncio.wait_for(scenario(), SCENARIO_TIMEOUT)
        report(name, "pass", detail or "")
    except Exception as error:  # noqa: BLE001 - every failure is a result here
        report(name, "fail", "%s: %s" % (type(error).__name__, error))


async def take(consumer, count):
    got = []
    while len(got) < count:
        batches = await consumer.getmany(timeout_ms=500)
        for messages in batches.values():
            got.extend(messages)
    return got


def group_consumer(group, *topics):
    return AIOKafkaConsumer(*topics, **CONNECTION, group_id=group, auto_offset_reset="earliest",
                            enable_auto_commit=False)


async def main():
    state = {}

    async def create_topic():
        admin = AIOKafkaAdminClient(**CONNECTION)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(TOPIC, 3, 1)])
        finally:
            await admin.close()

    async def produce():
        producer = AIOKafkaProducer(**CONNECTION, acks="all")
        await producer.start()
        try:
            for i in range(RECORDS):
                await producer.send_and_wait(TOPIC, key=b"key-%d" % i, value=b"value-%d" % i,
                                             headers=[("n", str(i).encode())])
        finally:
            await producer.stop()

    async def consume_from_beginning():
        consumer = AIOKafkaConsumer(**CONNECTION, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([TopicPartition(TOPIC, p) for p in range(3)])
            await consumer.seek_to_beginning()
            got = await take(consumer, RECORDS)
        finally:
            await consumer.stop()
        for m in got:
            check(m.value == b"value-" + m.key[4:], "pair %r" % (m.key,))
            check(dict(m.headers)["n"] == m.key[4:], "header %r" % (m.headers,))

    async def group_commit():
        consumer = group_consumer(GROUP, TOPIC)
        await consumer.start()
        try:
            got = await take(consumer, 12)
            positions = {}
            for m in got:
                tp = TopicPartition(m.topic, m.partition)
                positions[tp] = max(positions.get(tp, 0), m.offset + 1)
            await consumer.commit(positions)
            state["first"] = {(m.partition, m.offset) for m in got}
        finally:
            await consumer.stop()

    async def resume():
        consumer = group_consumer(GROUP, TOPIC)
        await consumer.start()
        state["consumer"] = consumer
        got = await take(consumer, RECORDS - len(state["first"]))
        rest = {(m.partition, m.offset) for m in got}
        check(not (rest & state["first"]), "redelivered %r" % (rest & state["first"],))
        check(len(rest | state["first"]) == RECORDS, "skipped records")
        await consumer.commit()

    async def list_describe():
        admin = AIOKafkaAdminClient(**CONNECTION)
        await admin.start()
        try:
            groups = await admin.list_consumer_groups()
            check(any(GROUP in str(group) for group in groups), "not listed: %r" % (groups,))
            described = await admin.describe_consumer_groups([GROUP])
            check(GROUP in str(described), "not described")
        finally:
            await admin.close()

    async def lag():
        consumer = state["consumer"]
        try:
            partitions = [TopicPartition(TOPIC, p) for p in range(3)]
            ends = await consumer.end_offsets(partitions)
            committed = {tp: await consumer.committed(tp) for tp in partitions}
            total = sum(ends[tp] - (committed[tp] or 0) for tp in partitions)
            check(sum(ends.values()) == RECORDS, "end offsets %r" % (ends,))
            check(total == 0, "lag %d" % total)
        finally:
            await consumer.stop()
        return "lag 0"

    def compression(codec):
        """Produces and consumes with `codec` (lz4, snappy and zstd come from cramjam)."""
        async def scenario():
            topic = TOPIC + "-" + codec
            values = [(b"v%d " % i) * 50 for i in range(10)]
            producer = AIOKafkaProducer(**CONNECTION, compression_type=codec)
            await producer.start()
            try:
                for i, value in enumerate(values):
                    await producer.send_and_wait(topic, key=b"k%d" % i, value=value)
            finally:
                await producer.stop()
            consumer = group_consumer("matrix-aiokafka-" + codec, topic)
            await consumer.start()
            try:
                got = await take(consumer, 10)
            finally:
                await consumer.stop()
            check(sorted(m.value for m in got) == sorted(values), "values")
        return scenario

    await run("create-topic", create_topic)
    await run("produce-keyed-with-headers", produce)
    await run("consume-from-beginning", consume_from_beginning)
    await run("group-commit", group_commit)
    await run("resume-at-committed-offset", resume)
    await run("list-describe-groups", list_describe)
    await run("lag", lag)
    for codec in ("gzip", "lz4", "snappy", "zstd"):
        await run("compression-" + codec, compression(codec))


asyncio.run(main())
