// kafkajs (Node.js, its own protocol implementation) scenarios for the compatibility matrix.
// Usage: node matrix_kafkajs.js BOOTSTRAP. Prints `SCENARIO <name> pass|fail <detail>` lines.
'use strict';

const { Kafka, logLevel, CompressionTypes, CompressionCodecs } = require('kafkajs');
const SnappyCodec = require('kafkajs-snappy');
const lz4 = require('lz4js');
const zstd = require('@bokuweb/zstd-wasm');

// kafkajs ships gzip only; users plug in the other codecs like this.
CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec;
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  compress: async (encoder) => Buffer.from(lz4.compress(encoder.buffer)),
  decompress: async (buffer) => Buffer.from(lz4.decompress(buffer)),
});
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  compress: async (encoder) => Buffer.from(zstd.compress(encoder.buffer, 3)),
  decompress: async (buffer) => Buffer.from(zstd.decompress(buffer)),
});
const CODECS = { gzip: CompressionTypes.GZIP, lz4: CompressionTypes.LZ4, snappy: CompressionTypes.Snappy, zstd: CompressionTypes.ZSTD };

const bootstrap = process.argv[2];
// How to reach the broker, from the harness (see python/matrix.py).
const protocol = process.env.SPOOL_SECURITY_PROTOCOL || 'PLAINTEXT';
const ssl = protocol.endsWith('SSL')
  ? { ca: [require('fs').readFileSync(process.env.SPOOL_SSL_CA)] }
  : false;
const sasl = process.env.SPOOL_SASL_MECHANISM
  ? {
    mechanism: process.env.SPOOL_SASL_MECHANISM.toLowerCase(),
    username: process.env.SPOOL_SASL_USERNAME,
    password: process.env.SPOOL_SASL_PASSWORD,
  }
  : undefined;
const kafka = new Kafka({ clientId: 'matrix-kafkajs', brokers: [bootstrap], ssl, sasl, logLevel: logLevel.NOTHING });
const TOPIC = 'matrix-kafkajs';
const GROUP = 'matrix-kafkajs-group';
const RECORDS = 20;
// Longest a scenario may wait for messages.
const SCENARIO_TIMEOUT_MS = 30000;

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function run(name, scenario) {
  try {
    const detail = await scenario();
    console.log(`SCENARIO ${name} pass ${detail || ''}`);
  } catch (error) {
    console.log(`SCENARIO ${name} fail ${String(error && error.message).replace(/\n/g, ' ').slice(0, 300)}`);
  }
}

// Consumes `count` messages with a group consumer; resolves with them (bounded in time).
async function take(groupId, count, options = {}) {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, ...options });
  await consumer.connect();
  await consumer.subscribe({ topic: options.topic || TOPIC, fromBeginning: true });
  const got = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`got ${got.length} of ${count}`)), SCENARIO_TIMEOUT_MS);
    consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        if (got.length < count) {
          got.push({ partition, offset: Number(message.offset), key: message.key, value: message.value, headers: message.headers });
          await consumer.commitOffsets([{ topic: options.topic || TOPIC, partition, offset: String(Number(message.offset) + 1) }]);
        }
        if (got.length === count) {
          clearTimeout(timer);
          resolve();
        }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  return got;
}

async function main() {
  await zstd.init();
  const admin = kafka.admin();
  await admin.connect();
  const state = {};
  await run('create-topic', async () => {
    check(await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 3, replicationFactor: 1 }] }), 'not created');
  });
  await run('produce-keyed-with-headers', async () => {
    const producer = kafka.producer();
    await producer.connect();
    const messages = [...Array(RECORDS).keys()].map((i) => ({ key: `key-${i}`, value: `value-${i}`, headers: { n: String(i) } }));
    await producer.send({ topic: TOPIC, acks: -1, messages });
    await producer.disconnect();
  });
  await run('consume-from-beginning', async () => {
    const got = await take('matrix-kafkajs-reader', RECORDS);
    for (const m of got) {
      const n = m.key.toString().slice(4);
      check(m.value.toString() === `value-${n}`, `pair ${m.key}`);
      check(m.headers.n.toString() === n, `header ${m.key}`);
    }
  });
  await run('group-commit', async () => {
    const got = await take(GROUP, 12);
    state.first = new Set(got.map((m) => `${m.partition}:${m.offset}`));
  });
  await run('resume-at-committed-offset', async () => {
    const got = await take(GROUP, RECORDS - 12);
    const again = got.filter((m) => state.first.has(`${m.partition}:${m.offset}`));
    check(again.length === 0, `redelivered ${again.length}`);
  });
  await run('list-describe-groups', async () => {
    const { groups } = await admin.listGroups();
    check(groups.some((g) => g.groupId === GROUP), 'not listed');
    const described = await admin.describeGroups([GROUP]);
    check(described.groups[0].groupId === GROUP && described.groups[0].state === 'Empty', JSON.stringify(described.groups[0]));
  });
  await run('lag', async () => {
    const committed = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] });
    const ends = await admin.fetchTopicOffsets(TOPIC);
    let lag = 0;
    for (const p of committed[0].partitions) {
      const end = ends.find((e) => e.partition === p.partition);
      lag += Number(end.high) - Number(p.offset);
    }
    check(ends.reduce((sum, e) => sum + Number(e.high), 0) === RECORDS, 'end offsets');
    check(lag === 0, `lag ${lag}`);
    return 'lag 0';
  });
  for (const [name, codec] of Object.entries(CODECS)) {
    await run(`compression-${name}`, async () => {
      const topic = `${TOPIC}-${name}`;
      const producer = kafka.producer({ allowAutoTopicCreation: true });
      await producer.connect();
      const messages = [...Array(10).keys()].map((i) => ({ key: `k${i}`, value: `v${i} `.repeat(50) }));
      await producer.send({ topic, compression: codec, messages });
      await producer.disconnect();
      const got = await take(`matrix-kafkajs-${name}`, 10, { topic });
      check(got.map((m) => m.value.toString()).sort().join() === messages.map((m) => m.value).sort().join(), 'values');
    });
  }
  await admin.disconnect();
}

main().then(() => process.exit(0), (error) => {
  console.error(error);
  process.exit(1);
});
