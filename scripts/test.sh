#!/usr/bin/env bash
# The project's test command: formatting, lints, then every test of the
# workspace (unit, property, multi-test and process tests).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== cargo test --workspace"
cargo test --workspace
