#!/usr/bin/env bash
# Installs what the test suite needs, by package name:
#   - kcat (Debian) as a second real client;
#   - kafka-python and aiokafka (PyPI) and kafkajs (npm, compat-tests/js), clients with their
#     own protocol implementations;
#   - confluent-kafka (PyPI), whose wheel bundles a current librdkafka. Debian's kcat links
#     librdkafka 2.0.x, which cannot parse ApiVersions v3 tagged fields, so kcat is run with
#     the bundled library first on LD_LIBRARY_PATH (target/kcat-lib);
#   - the codec packages the Python and Node.js clients need for lz4, snappy and zstd;
#   - what librdkafka's own test runner builds with (Debian: a C/C++ tool chain, pkg-config,
#     zlib, zstd, OpenSSL, libcurl and RapidJSON headers), then the runner
#     (scripts/build-librdkafka-tests.sh), and the openssl tool its OIDC scenario makes RSA keys
#     with;
#   - etcd (Debian's etcd-server), the cluster's store, which the cluster tests start on free
#     loopback ports;
#   - Apache Kafka's own jars (clients, tools, broker, Streams) from Maven Central, laid out as
#     a KAFKA_HOME in target/kafka (scripts/kafka-dist.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(kcat etcd-server g++ make pkg-config zlib1g-dev libzstd-dev libssl-dev libcurl4-openssl-dev
    rapidjson-dev openssl)
missing=()
for package in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
        missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

venv=target/test-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check "confluent-kafka==2.16.1" "kafka-python==3.0.12" "aiokafka==0.14.0" \
    "lz4==4.4.5" "python-snappy==0.7.3" "zstandard==0.25.0" "cramjam==2.14.0"

npm ci --prefix compat-tests/js --no-audit --no-fund --silent

lib=$(ls "$venv"/lib/python3*/site-packages/confluent_kafka.libs/librdkafka-*.so.1 | head -n 1)
mkdir -p target/kcat-lib
ln -sf "$(realpath "$lib")" target/kcat-lib/librdkafka.so.1
./scripts/build-librdkafka-tests.sh
./scripts/kafka-dist.sh
echo "test dependencies ready: kcat with $(basename "$lib"), Kafka in target/kafka"
