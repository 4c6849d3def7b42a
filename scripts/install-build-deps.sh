#!/usr/bin/env bash
# Installs what building spool needs beyond Rust, by package name: protoc (Debian's
# protobuf-compiler), with which the etcd-client crate generates etcd's gRPC API at build time.
set -euo pipefail

if command -v protoc >/dev/null 2>&1 || [ -n "${PROTOC:-}" ]; then
    exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
    as_root=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq protobuf-compiler >/dev/null
echo "build dependencies ready: $(protoc --version)"
