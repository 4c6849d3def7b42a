import java.time.Duration;
import java.util.Collections;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;

/** Consumer with sync commits; stops 5 s after the last record (60 s at most). Usage: ConsumerSync [bootstrap] */
public class ConsumerSync {
    public static void main(String[] args) {
        String bootstrap = args.length > 0 ? args[0] : "localhost:9092";
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, "peter-basic01-sync");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        long started = System.currentTimeMillis();
        long lastRecord = started;
        int consumed = 0;
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
            consumer.subscribe(Collections.singletonList("peter-basic01"));
            while (System.currentTimeMillis() - started < 60_000
                    && (consumed == 0 || System.currentTimeMillis() - lastRecord < 5_000)) {
                ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(1000));
                for (ConsumerRecord<String, String> record : records) {
                    consumed++;
                    System.out.println("record " + record.key() + " partition " + record.partition() + " offset " + record.offset());
                    lastRecord = System.currentTimeMillis();
                }
                if (!records.isEmpty()) {
                    consumer.commitSync();
                }
            }

        }
        System.out.println("consumed " + consumed + " records");
    }
}
