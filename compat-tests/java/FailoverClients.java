// Kafka's Java clients, configured as applications configure them, writing and reading one
// topic while the test kills a broker under them: an idempotent producer (Kafka's defaults:
// acks=all, idempotence on), a transactional producer, and a consumer group member reading
// read_committed. What each of them saw goes to stdout, one fact per line, for the test to
// check against what the topic holds:
//
//   acked VALUE PARTITION OFFSET      the idempotent producer's send was acknowledged
//   failed VALUE EXCEPTION            it was not
//   txn-committed PREFIX              values PREFIX-0 .. PREFIX-(TXN_SIZE-1) were committed
//   txn-aborted PREFIX EXCEPTION      they were aborted (retried under a new prefix)
//   consumed VALUE PARTITION OFFSET   the group member read it
//   done                              every acknowledged or committed value was consumed
//
// Usage: FailoverClients BOOTSTRAP TOPIC GROUP TRANSACTIONAL_ID RECORDS TRANSACTIONS
// Exits 1 if a producer fails for good or the consumer misses a value within its deadline.

import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.OutOfOrderSequenceException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class FailoverClients {
    static final int TXN_SIZE = 10;
    static final Duration SEND_PAUSE = Duration.ofMillis(2);
    static final Duration TXN_PAUSE = Duration.ofMillis(100);
    /** How long the consumer may take to see every value once the producers are done. */
    static final Duration CONSUME_DEADLINE = Duration.ofSeconds(90);

    /** Values the producers know to be in the topic; the consumer must see each of them. */
    static final Set<String> expected = ConcurrentHashMap.newKeySet();
    static final AtomicBoolean producing = new AtomicBoolean(true);
    static final AtomicBoolean failed = new AtomicBoolean(false);

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String topic = args[1];
        String group = args[2];
        String transactionalId = args[3];
        int records = Integer.parseInt(args[4]);
        int transactions = Integer.parseInt(args[5]);

        Thread idempotent = new Thread(() -> produce(bootstrap, topic, records));
        Thread transactional =
            new Thread(() -> transact(bootstrap, topic, transactionalId, transactions));
        idempotent.start();
        transactional.start();
        Thread consumer = new Thread(() -> consume(bootstrap, topic, group));
        consumer.start();
        idempotent.join();
        transactional.join();
        producing.set(false);
        consumer.join();
        System.exit(failed.get() ? 1 : 0);
    }

    static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    static Properties producerProperties(String bootstrap) {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return props;
    }

    static void produce(String bootstrap, String topic, int records) {
        try (KafkaProducer<String, String> producer =
                 new KafkaProducer<>(producerProperties(bootstrap))) {
            for (int i = 0; i < records; i++) {
                String value = "p-" + i;
                producer.send(new ProducerRecord<>(topic, value, value), (metadata, error) -> {
                    if (error != null) {
                        failed.set(true);
                        say("failed " + value + " " + error);
                    } else {
                        expected.add(value);
                        say("acked " + value + " " + metadata.partition() + " "
                            + metadata.offset());
                    }
                });
                Thread.sleep(SEND_PAUSE.toMillis());
            }
            producer.flush();
        } catch (Exception error) {
            failed.set(true);
            say("failed producer " + error);
        }
    }

    static void transact(String bootstrap, String topic, String transactionalId, int count) {
        Properties props = producerProperties(bootstrap);
        props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            producer.initTransactions();
            int attempt = 0;
            for (int txn = 0; txn < count; attempt++) {
                String prefix = "t-" + txn + "-" + attempt;
                try {
                    producer.beginTransaction();
                    for (int j = 0; j < TXN_SIZE; j++) {
                        String value = prefix + "-" + j;
                        producer.send(new ProducerRecord<>(topic, value, value));
                    }
                    producer.commitTransaction();
                    for (int j = 0; j < TXN_SIZE; j++) {
                        expected.add(prefix + "-" + j);
                    }
                    say("txn-committed " + prefix);
                    txn++;
                } catch (ProducerFencedException | OutOfOrderSequenceException
                         | AuthorizationException fatal) {
                    throw fatal;
                } catch (KafkaException abortable) {
                    say("txn-aborted " + prefix + " " + abortable);
                    producer.abortTransaction();
                }
                Thread.sleep(TXN_PAUSE.toMillis());
            }
        } catch (Exception error) {
            failed.set(true);
            say("failed transactions " + error);
        }
    }

    static void consume(String bootstrap, String topic, String group) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(
            ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        Set<String> seen = ConcurrentHashMap.newKeySet();
        long deadline = Long.MAX_VALUE;
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
            consumer.subscribe(List.of(topic));
            while (producing.get() || !seen.containsAll(expected)) {
                if (!producing.get() && deadline == Long.MAX_VALUE) {
                    deadline = System.nanoTime() + CONSUME_DEADLINE.toNanos();
                }
                if (System.nanoTime() > deadline) {
                    failed.set(true);
                    say("failed consumer: missing values after " + CONSUME_DEADLINE);
                    return;
                }
                for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(200))) {
                    seen.add(record.value());
                    say("consumed " + record.value() + " " + record.partition() + " "
                        + record.offset());
                }
                try {
                    consumer.commitSync();
                } catch (KafkaException retried) {
                    // A commit lost to the coordinator's failover: the next one covers it.
                    say("commit-failed " + retried);
                }
            }
            consumer.commitSync();
            say("done");
        } catch (Exception error) {
            failed.set(true);
            say("failed consumer " + error);
        }
    }
}
