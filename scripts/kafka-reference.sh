#!/usr/bin/env bash
# Apache Kafka as the reference broker, from the jars in $KAFKA_HOME (default target/kafka,
# built by scripts/kafka-dist.sh), on free loopback ports, with storage formatted under a
# fresh cluster id. Every node is KRaft with broker and controller in one process.
#
#   kafka-reference.sh start DIR [KEY=VALUE...]      one node; prints "kafka listening on
#                                                    HOST:PORT" once it answers (extra server
#                                                    properties)
#   kafka-reference.sh start-cluster DIR N [KEY=VALUE...]
#                                                    N nodes (ids 1..N, one controller quorum)
#                                                    in DIR/node-1..N; prints "kafka listening
#                                                    on HOST:PORT,..." (node 1 first)
#   kafka-reference.sh kill NODE_DIR                 SIGKILL one node (a crash)
#   kafka-reference.sh restart NODE_DIR              starts a stopped node again on its storage
#   kafka-reference.sh stop DIR                      SIGTERM every node, SIGKILL after 30 s
#
# A node's directory holds server.properties, its log dir, kafka.out and kafka.pid.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
home=${KAFKA_HOME:-$root/target/kafka}
usage="usage: $0 start DIR [KEY=VALUE...] | start-cluster DIR N [KEY=VALUE...] | kill|restart|stop DIR"
[ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }
command=$1
dir=$2
shift 2
start_timeout_s=90
stop_timeout_s=30
export KAFKA_LOG4J_OPTS="-Dlog4j2.configurationFile=$home/config/server-log4j2.properties"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

check_home() {
    [ -x "$home/bin/kafka-server-start.sh" ] ||
        { echo "no Kafka distribution in $home: run scripts/kafka-dist.sh" >&2; exit 1; }
}

# write_properties NODE_DIR NODE_ID PORT CONTROLLER_PORT VOTERS [KEY=VALUE...]
write_properties() {
    local node_dir=$1 node_id=$2 port=$3 controller_port=$4 voters=$5
    shift 5
    mkdir -p "$node_dir"
    cat >"$node_dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$node_id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$node_dir/logs
num.partitions=1
PROPS
    for property in "$@"; do
        echo "$property" >>"$node_dir/server.properties"
    done
}

# format NODE_DIR CLUSTER_ID
format() {
    "$home/bin/kafka-storage.sh" format --cluster-id "$2" \
        --config "$1/server.properties" >"$1/format.out" 2>&1 ||
        { cat "$1/format.out" >&2; exit 1; }
}

# launch NODE_DIR: starts the node in the background.
launch() {
    KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx1G} nohup "$home/bin/kafka-server-start.sh" \
        "$1/server.properties" >"$1/kafka.out" 2>&1 &
    echo $! >"$1/kafka.pid"
}

# await_started NODE_DIR: until the node says it started (stops every node of DIR if not).
await_started() {
    local deadline=$((SECONDS + start_timeout_s))
    until grep -q "Kafka Server started" "$1/kafka.out" 2>/dev/null; do
        if ! kill -0 "$(cat "$1/kafka.pid")" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
            echo "Kafka did not start:" >&2
            tail -n 30 "$1/kafka.out" >&2
            stop_all
            exit 1
        fi
        sleep 0.2
    done
}

start() {
    check_home
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    local port controller_port
    port=$(free_port)
    controller_port=$(free_port)
    write_properties "$dir" 1 "$port" "$controller_port" "1@127.0.0.1:$controller_port" \
        offsets.topic.replication.factor=1 \
        transaction.state.log.replication.factor=1 \
        transaction.state.log.min.isr=1 \
        share.coordinator.state.topic.replication.factor=1 \
        share.coordinator.state.topic.min.isr=1 \
        "$@"
    format "$dir" "$("$home/bin/kafka-storage.sh" random-uuid)"
    launch "$dir"
    await_started "$dir"
    echo "kafka listening on 127.0.0.1:$port"
}

start_cluster() {
    check_home
    local nodes=${1:?"$usage"}
    shift
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    local ports=() controller_ports=() voters="" id
    for id in $(seq 1 "$nodes"); do
        ports+=("$(free_port)")
        controller_ports+=("$(free_port)")
        voters="$voters${voters:+,}$id@127.0.0.1:${controller_ports[$((id - 1))]}"
    done
    local cluster_id
    cluster_id=$("$home/bin/kafka-storage.sh" random-uuid)
    for id in $(seq 1 "$nodes"); do
        write_properties "$dir/node-$id" "$id" "${ports[$((id - 1))]}" \
            "${controller_ports[$((id - 1))]}" "$voters" "$@"
        format "$dir/node-$id" "$cluster_id"
    done
    # Together: each node waits for a controller quorum before it says it started.
    for id in $(seq 1 "$nodes"); do
        launch "$dir/node-$id"
    done
    local bootstrap=""
    for id in $(seq 1 "$nodes"); do
        await_started "$dir/node-$id"
        bootstrap="$bootstrap${bootstrap:+,}127.0.0.1:${ports[$((id - 1))]}"
    done
    echo "kafka listening on $bootstrap"
}

# stop_node NODE_DIR
stop_node() {
    [ -f "$1/kafka.pid" ] || return 0
    local pid
    pid=$(cat "$1/kafka.pid")
    kill "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + stop_timeout_s))
    while kill -0 "$pid" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            kill -9 "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    rm -f "$1/kafka.pid"
}

# stop_all: DIR's node, or every node of the cluster in DIR.
stop_all() {
    local node_dir
    for node_dir in "$dir" "$dir"/node-*; do
        [ -d "$node_dir" ] && stop_node "$node_dir"
    done
    return 0
}

kill_node() {
    [ -f "$dir/kafka.pid" ] || return 0
    local pid
    pid=$(cat "$dir/kafka.pid")
    kill -9 "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    rm -f "$dir/kafka.pid"
}

restart_node() {
    [ -f "$dir/server.properties" ] || { echo "no Kafka node in $dir" >&2; exit 1; }
    [ ! -f "$dir/kafka.pid" ] || { echo "the node in $dir runs: kill or stop it first" >&2; exit 1; }
    launch "$dir"
    await_started "$dir"
}

case $command in
    start) start "$@" ;;
    start-cluster) start_cluster "$@" ;;
    kill) kill_node ;;
    restart) restart_node ;;
    stop) stop_all ;;
    *) echo "$usage" >&2; exit 2 ;;
esac
