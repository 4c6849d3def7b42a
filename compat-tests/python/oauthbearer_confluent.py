"""confluent-kafka (librdkafka) over SASL_PLAINTEXT with OAUTHBEARER, the token handed over
by oauth_cb. Usage: BOOTSTRAP TOKEN MODE, where MODE is
  produce-consume RECORDS INTERVAL_S: produce RECORDS records INTERVAL_S apart, each one
      acknowledged, then read them back; prints "ok RECORDS";
  refused: Metadata must fail (the broker refuses the token); prints "refused".
Exits non-zero with a reason on anything else, within 60 s."""

import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

BOOTSTRAP, TOKEN, MODE = sys.argv[1:4]
TOPIC = "oauth-confluent"
DEADLINE = time.monotonic() + 60


def fail(reason):
    print(reason, file=sys.stderr)
    sys.exit(1)


def token(_config):
    return TOKEN, time.time() + 3600, "alice"


CONFIG = {
    "bootstrap.servers": BOOTSTRAP,
    "broker.address.family": "v4",
    "security.protocol": "SASL_PLAINTEXT",
    "sasl.mechanisms": "OAUTHBEARER",
    "oauth_cb": token,
}


def produce_consume(records, interval):
    producer = Producer({**CONFIG, "message.timeout.ms": 10000})
    acknowledged = []

    def delivered(error, message):
        if error is not None:
            fail(f"not acknowledged: {error}")
        acknowledged.append(message.value().decode())

    for index in range(records):
        producer.produce(TOPIC, f"record-{index}".encode(), on_delivery=delivered)
        if producer.flush(15) != 0:
            fail(f"record {index} still unacknowledged")
        time.sleep(interval)
    expected = [f"record-{index}" for index in range(records)]
    if acknowledged != expected:
        fail(f"acknowledged {acknowledged}")

    consumer = Consumer({**CONFIG, "group.id": "oauth-readers", "enable.auto.commit": False})
    consumer.assign([TopicPartition(TOPIC, 0, 0)])
    read = []
    while len(read) < records and time.monotonic() < DEADLINE:
        message = consumer.poll(0.2)
        if message is not None and message.error() is None:
            read.append(message.value().decode())
    consumer.close()
    if read != expected:
        fail(f"read {read}")
    print(f"ok {records}")


def refused():
    producer = Producer(CONFIG)
    try:
        producer.list_topics(timeout=3)
    except KafkaException:
        print("refused")
        return
    fail("Metadata served to a refused token")


if MODE == "produce-consume":
    produce_consume(int(sys.argv[4]), float(sys.argv[5]))
elif MODE == "refused":
    refused()
else:
    fail(f"unknown mode {MODE}")
