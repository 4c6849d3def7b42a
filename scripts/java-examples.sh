#!/usr/bin/env bash
# Compiles the Java examples against a Kafka distribution's client jars and runs them, in
# order, against a broker started here; checks what each prints and that every group ends
# with lag 0 over the 30 records produced. Needs KAFKA_HOME (Kafka's jars are not in the
# registries this project can reach), otherwise it says so and succeeds.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${KAFKA_HOME:-}" ]; then
    echo "java-examples: skipped, KAFKA_HOME is not set (KAFKA_HOME=/path/to/kafka make java-examples)"
    exit 0
fi
classes=target/java-examples
mkdir -p "$classes"
javac -d "$classes" -cp "$KAFKA_HOME/libs/*" examples/java/*.java

work=$(mktemp -d)
./target/release/spool --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/out" 2>"$work/err" &
broker=$!
trap 'kill "$broker" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 200); do
    grep -q "^spool listening on " "$work/out" && break
    sleep 0.05
done
bootstrap=$(sed -n 's/^spool listening on //p' "$work/out")
[ -n "$bootstrap" ] || { echo "java-examples: the broker did not start"; cat "$work/err"; exit 1; }

run() { timeout 120 java -cp "$classes:$KAFKA_HOME/libs/*" "$1" "$bootstrap"; }
run ProducerFireForgot | grep -q "sent 10 records"
[ "$(run ProducerSync | grep -c '^partition ')" = 10 ]
[ "$(run ProducerAsync | grep -c '^callback: partition ')" = 10 ]
for consumer in ConsumerAuto ConsumerSync ConsumerAsync; do
    run "$consumer" | grep -q "consumed 30 records"
done
for group in auto sync async; do
    ./target/release/spool groups describe "peter-basic01-$group" --bootstrap "$bootstrap" --json | python3 -c '
import json, sys
report = json.load(sys.stdin)
assert sum(p["log_end_offset"] for p in report["partitions"]) == 30, report
assert all(p["lag"] == 0 for p in report["partitions"]), report
'
done
echo "java-examples: all six patterns passed"
