#!/usr/bin/env bash
# kcat (librdkafka's command-line client) scenarios for the compatibility matrix.
# Usage: matrix_kcat.sh BOOTSTRAP. kcat cannot create topics explicitly (it relies on
# auto-creation) nor list/describe groups or lag: those are reported n/a.
set -u
bootstrap=$1
topic=matrix-kcat
group=matrix-kcat-group
# How to reach the broker, from the harness (see python/matrix.py).
security=(-X "security.protocol=${SPOOL_SECURITY_PROTOCOL:-PLAINTEXT}")
[ -n "${SPOOL_SSL_CA:-}" ] && security+=(-X "ssl.ca.location=$SPOOL_SSL_CA")
[ -n "${SPOOL_SASL_MECHANISM:-}" ] && security+=(-X "sasl.mechanisms=$SPOOL_SASL_MECHANISM" \
    -X "sasl.username=$SPOOL_SASL_USERNAME" -X "sasl.password=$SPOOL_SASL_PASSWORD")
k() { timeout 60 kcat -b "$bootstrap" -q "${security[@]}" "$@"; }
report() { echo "SCENARIO $1 $2 ${3:-}"; }

# Auto-created by the first produce (Metadata with allow_auto_topic_creation).
if seq 0 9 | sed 's/.*/key-&:value-&/' | k -P -t "$topic" -K: -H n=1; then
    report create-topic pass "auto-created"
    report produce-keyed-with-headers pass
else
    report create-topic fail
    report produce-keyed-with-headers fail
fi

consumed=$(k -C -t "$topic" -o beginning -e -f '%k=%s %h\n' | sort)
expected=$(seq 0 9 | sed 's/.*/key-&=value-& n=1/' | sort)
[ "$consumed" = "$expected" ] && report consume-from-beginning pass || report consume-from-beginning fail "$consumed"

# Balanced consumer group (-G): reads everything, commits on exit.
first=$(k -C -G "$group" -o beginning -e -f '%s\n' -X auto.offset.reset=earliest "$topic" | sort)
[ "$(echo "$first" | grep -c value-)" = 10 ] && report group-commit pass || report group-commit fail "$first"

# New records only after the committed offset.
seq 10 14 | sed 's/.*/key-&:value-&/' | k -P -t "$topic" -K:
second=$(k -C -G "$group" -e -f '%s\n' -X auto.offset.reset=earliest "$topic" | sort)
expected=$(seq 10 14 | sed 's/.*/value-&/' | sort)
[ "$second" = "$expected" ] && report resume-at-committed-offset pass || report resume-at-committed-offset fail "$second"

for codec in gzip snappy lz4 zstd; do
    t="$topic-$codec"
    seq 0 4 | sed 's/.*/v&/' | k -P -t "$t" -z "$codec"
    got=$(k -C -t "$t" -o beginning -e -f '%s\n' | sort | tr '\n' ' ')
    [ "$got" = "v0 v1 v2 v3 v4 " ] && report "compression-$codec" pass || report "compression-$codec" fail "$got"
done
report list-describe-groups n/a "kcat has no group listing"
report lag n/a "kcat has no lag report"
