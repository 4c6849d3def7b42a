import java.util.Collections;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * The Admin client: create a topic with configs and add partitions to it, or describe consumer
 * groups with their lag.
 * Usage: AdminExample bootstrap create TOPIC PARTITIONS MORE_PARTITIONS
 *        AdminExample bootstrap lag GROUP...
 */
public class AdminExample {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        try (Admin admin = Admin.create(props)) {
            if (args[1].equals("create")) {
                create(admin, args[2], Integer.parseInt(args[3]), Integer.parseInt(args[4]));
            } else {
                for (int i = 2; i < args.length; i++) {
                    lag(admin, args[i]);
                }
            }
        }
    }

    static void create(Admin admin, String topic, int partitions, int morePartitions) throws Exception {
        Map<String, String> configs = new HashMap<>();
        configs.put("retention.ms", "604800000");
        configs.put("segment.bytes", "1048576");
        NewTopic newTopic = new NewTopic(topic, partitions, (short) 1).configs(configs);
        try {
            admin.createTopics(Collections.singletonList(newTopic)).all().get();
            System.out.println("created topic " + topic + " with " + partitions + " partitions");
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw e;
            }
            System.out.println("topic " + topic + " exists");
        }
        admin.createPartitions(Collections.singletonMap(topic, NewPartitions.increaseTo(morePartitions))).all().get();
        int now = admin.describeTopics(Collections.singletonList(topic)).allTopicNames().get()
                .get(topic).partitions().size();
        System.out.println("topic " + topic + " now has " + now + " partitions");

        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Config config = admin.describeConfigs(Collections.singletonList(resource)).all().get().get(resource);
        for (String name : configs.keySet()) {
            System.out.println("config " + name + "=" + config.get(name).value() + " (" + config.get(name).source() + ")");
        }
    }

    static void lag(Admin admin, String group) throws Exception {
        ConsumerGroupDescription description =
                admin.describeConsumerGroups(Collections.singletonList(group)).all().get().get(group);
        Map<TopicPartition, OffsetAndMetadata> committed =
                admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
        Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
        for (TopicPartition partition : committed.keySet()) {
            latest.put(partition, OffsetSpec.latest());
        }
        Map<TopicPartition, ListOffsetsResultInfo> ends = admin.listOffsets(latest).all().get();
        long total = 0;
        for (Map.Entry<TopicPartition, OffsetAndMetadata> entry : committed.entrySet()) {
            long end = ends.get(entry.getKey()).offset();
            long offset = entry.getValue().offset();
            total += end - offset;
            System.out.println("group " + group + " " + entry.getKey() + " committed " + offset + " end " + end + " lag " + (end - offset));
        }
        System.out.println("group " + group + " state " + description.groupState() + " members "
                + description.members().size() + " lag " + total);
    }
}
