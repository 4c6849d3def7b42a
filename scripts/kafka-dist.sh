#!/usr/bin/env bash
# Lays out Apache Kafka's own jars (scripts/kafka/pom.xml, from Maven Central) as a
# KAFKA_HOME-shaped folder, target/kafka: libs/ with every runtime jar, bin/kafka-*.sh wrappers
# that run the tools' main classes as Kafka's distribution does, config/ with the log4j2
# settings of the tools and of the reference broker (scripts/kafka-reference.sh).
# Nothing is committed but this script and the pom; a second run with both unchanged is a no-op.
set -euo pipefail
cd "$(dirname "$0")/.."

home=target/kafka
pom=scripts/kafka/pom.xml
stamp="$home/.inputs.sha256"
if [ -f "$stamp" ] && sha256sum --status -c "$stamp" 2>/dev/null && [ -x "$home/bin/kafka-topics.sh" ]; then
    exit 0
fi

rm -rf "$home"
mkdir -p "$home/libs" "$home/bin" "$home/config"
mvn -B -q -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$(realpath "$home/libs")"

cat >"$home/config/tools-log4j2.properties" <<'LOG'
# Tools print their results on stdout; their own logging goes to stderr, warnings and up.
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = STDERR
LOG

# The reference broker (scripts/kafka-reference.sh) logs what it does at INFO to stdout.
cat >"$home/config/server-log4j2.properties" <<'LOG'
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = org.apache.kafka
logger.kafka.level = WARN
LOG

# Every wrapper goes through kafka-run-class.sh, as in Kafka's distribution; the same
# KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS, KAFKA_OPTS and KAFKA_LOG4J_OPTS apply, and a
# CLASSPATH set by the caller comes before Kafka's jars (librdkafka's tests run their own Java
# helpers so).
cat >"$home/bin/kafka-run-class.sh" <<'RUN'
#!/usr/bin/env bash
# kafka-run-class.sh CLASS ARGS...: runs a class of Kafka's jars (built by spool's scripts/kafka-dist.sh).
set -eu
base=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 class [args...]" >&2; exit 1; }
java=java
[ -n "${JAVA_HOME:-}" ] && java="$JAVA_HOME/bin/java"
# shellcheck disable=SC2086 # the *_OPTS variables are word lists, as in Kafka's own script
exec "$java" ${KAFKA_HEAP_OPTS:--Xmx256M} \
    ${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true} \
    ${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=$base/config/tools-log4j2.properties} \
    ${KAFKA_OPTS:-} -cp "${CLASSPATH:+$CLASSPATH:}$base/libs/*" "$@"
RUN
chmod +x "$home/bin/kafka-run-class.sh"

# Tool name -> main class, as Kafka 4.x's bin/ maps them.
while read -r tool class; do
    printf '#!/usr/bin/env bash\nexec "$(dirname "$0")/kafka-run-class.sh" %s "$@"\n' "$class" \
        >"$home/bin/$tool.sh"
    chmod +x "$home/bin/$tool.sh"
done <<'TOOLS'
kafka-acls org.apache.kafka.tools.AclCommand
kafka-broker-api-versions org.apache.kafka.tools.BrokerApiVersionsCommand
kafka-cluster org.apache.kafka.tools.ClusterTool
kafka-configs org.apache.kafka.tools.ConfigCommand
kafka-console-consumer org.apache.kafka.tools.consumer.ConsoleConsumer
kafka-console-producer org.apache.kafka.tools.ConsoleProducer
kafka-consumer-groups org.apache.kafka.tools.consumer.group.ConsumerGroupCommand
kafka-consumer-perf-test org.apache.kafka.tools.ConsumerPerformance
kafka-delete-records org.apache.kafka.tools.DeleteRecordsCommand
kafka-dump-log org.apache.kafka.tools.DumpLogSegments
kafka-e2e-latency org.apache.kafka.tools.EndToEndLatency
kafka-features org.apache.kafka.tools.FeatureCommand
kafka-get-offsets org.apache.kafka.tools.GetOffsetShell
kafka-groups org.apache.kafka.tools.GroupsCommand
kafka-leader-election org.apache.kafka.tools.LeaderElectionCommand
kafka-log-dirs org.apache.kafka.tools.LogDirsCommand
kafka-metadata-quorum org.apache.kafka.tools.MetadataQuorumCommand
kafka-producer-perf-test org.apache.kafka.tools.ProducerPerformance
kafka-reassign-partitions org.apache.kafka.tools.reassign.ReassignPartitionsCommand
kafka-server-start kafka.Kafka
kafka-storage kafka.tools.StorageTool
kafka-streams-application-reset org.apache.kafka.tools.StreamsResetter
kafka-topics org.apache.kafka.tools.TopicCommand
kafka-transactions org.apache.kafka.tools.TransactionsCommand
kafka-verifiable-consumer org.apache.kafka.tools.VerifiableConsumer
kafka-verifiable-producer org.apache.kafka.tools.VerifiableProducer
TOOLS

sha256sum "$pom" scripts/kafka-dist.sh >"$stamp"
echo "kafka-dist: $(ls "$home/libs" | grep -o '^kafka-clients-.*\.jar') and $(ls "$home/libs" | wc -l) jars in $home"
