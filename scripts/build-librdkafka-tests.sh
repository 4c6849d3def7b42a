#!/usr/bin/env bash
# Builds librdkafka's own integration test runner (tests/test-runner) from the librdkafka source
# that the rdkafka-sys crate ships, into target/librdkafka-tests/. compat-tests/tests/
# librdkafka_suite.rs runs it against spool; compat-tests/librdkafka-tests.md lists the tests.
#
# Needs a C/C++ tool chain, make, pkg-config, zlib, zstd, OpenSSL and libcurl headers (install-test-deps.sh
# installs them by package name). The build is skipped when the runner for this version was
# already built with these options.
set -euo pipefail
cd "$(dirname "$0")/.."

# Where cargo unpacked rdkafka-sys (the version compat-tests locks).
manifest=$(cargo metadata --format-version 1 --locked --manifest-path compat-tests/Cargo.toml |
    python3 -c 'import json, sys
packages = json.load(sys.stdin)["packages"]
print(next(p["manifest_path"] for p in packages if p["name"] == "rdkafka-sys"))')
source_dir="$(dirname "$manifest")/librdkafka"
version=$(basename "$(dirname "$manifest")")

# TLS and SASL (PLAIN, SCRAM, OAUTHBEARER) through OpenSSL, OAUTHBEARER OIDC token retrieval
# through libcurl; no Kerberos; lz4 is librdkafka's bundled copy.
options=(--no-download --enable-ssl --enable-curl --disable-gssapi --disable-lz4-ext)

build_dir="$PWD/target/librdkafka-tests/$version"
runner="$build_dir/tests/test-runner"
stamp="$build_dir/spool-options"
if [ -x "$runner" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${options[*]}" ]; then
    echo "librdkafka test runner ready: $runner"
    exit 0
fi

rm -rf "$build_dir"
mkdir -p "$(dirname "$build_dir")"
cp -r "$source_dir" "$build_dir"
cd "$build_dir"

# The tests create their topics with replication factor 3 (librdkafka's test clusters have
# three brokers); spool is one node, so the topic helper asks for the broker default (-1).
# Nothing else in the tests changes. Fail loudly if a new librdkafka moves that line.
helper='rd_kafka_NewTopic_new(topicname, partition_cnt, replication_factor,'
[ "$(grep -cF "$helper" tests/test.c)" = 1 ] || { echo "test.c topic helper changed" >&2; exit 1; }
sed -i "s/$helper/rd_kafka_NewTopic_new(topicname, partition_cnt, -1,/" tests/test.c

jobs=$(nproc)
./configure "${options[@]}" >spool-configure.log 2>&1 || { tail -n 30 spool-configure.log; exit 1; }
make -j"$jobs" libs >spool-build.log 2>&1 || { tail -n 30 spool-build.log; exit 1; }
make -C tests -j"$jobs" build >>spool-build.log 2>&1 || { tail -n 30 spool-build.log; exit 1; }
echo "${options[*]}" >"$stamp"
echo "librdkafka test runner built: $runner"
