#!/usr/bin/env bash
# What `make fuzz` needs beyond the stable toolchain: Rust nightly (libFuzzer's coverage and
# AddressSanitizer flags are nightly-only) and cargo-fuzz, both from their registries.
set -euo pipefail

if ! rustup run nightly rustc --version > /dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version > /dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
