#!/usr/bin/env bash
# make cluster: a one-node etcd on 127.0.0.1:2379 and the three brokers of configs/cluster-3
# (127.0.0.1:9092-9094), all in the foreground; Ctrl-C stops them all. Data under
# ./data/cluster-3.
set -euo pipefail
cd "$(dirname "$0")/.."

ETCD=${ETCD:-$(command -v etcd || echo /usr/bin/etcd)}
DATA=./data/cluster-3
ETCD_HEALTH_TIMEOUT_S=30

if [ ! -x "$ETCD" ]; then
    echo "etcd is missing: run 'make test-deps' (Debian's etcd-server) or set ETCD" >&2
    exit 1
fi
mkdir -p "$DATA"

pids=()
stop() {
    trap - INT TERM EXIT
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait || true
}
trap stop INT TERM EXIT

"$ETCD" --name=spool-cluster --data-dir="$DATA/etcd" \
    --listen-client-urls=http://127.0.0.1:2379 --advertise-client-urls=http://127.0.0.1:2379 \
    --listen-peer-urls=http://127.0.0.1:2380 --initial-advertise-peer-urls=http://127.0.0.1:2380 \
    --initial-cluster=spool-cluster=http://127.0.0.1:2380 >"$DATA/etcd.log" 2>&1 &
pids+=($!)

deadline=$((SECONDS + ETCD_HEALTH_TIMEOUT_S))
until curl -fsS http://127.0.0.1:2379/health 2>/dev/null | grep -q '"health":"true"'; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "etcd did not become healthy; see $DATA/etcd.log" >&2
        exit 1
    fi
    sleep 0.2
done
echo "etcd on 127.0.0.1:2379"

for n in 1 2 3; do
    ./target/release/spool --config "configs/cluster-3/broker-$n.toml" &
    pids+=($!)
done
wait -n
