#!/usr/bin/env bash
# Apache Kafka as the reference broker: single-node KRaft (broker and controller in one
# process) from the jars in $KAFKA_HOME (default target/kafka, built by scripts/kafka-dist.sh),
# on free loopback ports, with storage formatted under a fresh cluster id.
#
#   kafka-reference.sh start DIR [KEY=VALUE...]   start; prints "kafka listening on HOST:PORT"
#                                                 once it answers (extra server properties)
#   kafka-reference.sh stop DIR                   SIGTERM, then SIGKILL after 30 s
#
# DIR holds server.properties, the log dirs, kafka.out and kafka.pid.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
home=${KAFKA_HOME:-$root/target/kafka}
[ $# -ge 2 ] || { echo "usage: $0 start|stop DIR [KEY=VALUE...]" >&2; exit 2; }
command=$1
dir=$2
shift 2
start_timeout_s=90
stop_timeout_s=30

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    [ -x "$home/bin/kafka-server-start.sh" ] ||
        { echo "no Kafka distribution in $home: run scripts/kafka-dist.sh" >&2; exit 1; }
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    local port controller_port
    port=$(free_port)
    controller_port=$(free_port)
    cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/logs
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
PROPS
    for property in "$@"; do
        echo "$property" >>"$dir/server.properties"
    done
    export KAFKA_LOG4J_OPTS="-Dlog4j2.configurationFile=$home/config/server-log4j2.properties"
    "$home/bin/kafka-storage.sh" format --cluster-id "$("$home/bin/kafka-storage.sh" random-uuid)" \
        --config "$dir/server.properties" >"$dir/format.out" 2>&1 ||
        { cat "$dir/format.out" >&2; exit 1; }
    KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx1G} nohup "$home/bin/kafka-server-start.sh" \
        "$dir/server.properties" >"$dir/kafka.out" 2>&1 &
    echo $! >"$dir/kafka.pid"
    local deadline=$((SECONDS + start_timeout_s))
    until grep -q "Kafka Server started" "$dir/kafka.out" 2>/dev/null; do
        if ! kill -0 "$(cat "$dir/kafka.pid")" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
            echo "Kafka did not start:" >&2
            tail -n 30 "$dir/kafka.out" >&2
            stop
            exit 1
        fi
        sleep 0.2
    done
    echo "kafka listening on 127.0.0.1:$port"
}

stop() {
    [ -f "$dir/kafka.pid" ] || return 0
    local pid
    pid=$(cat "$dir/kafka.pid")
    kill "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + stop_timeout_s))
    while kill -0 "$pid" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            kill -9 "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    rm -f "$dir/kafka.pid"
}

case $command in
    start) start "$@" ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop DIR [KEY=VALUE...]" >&2; exit 2 ;;
esac
