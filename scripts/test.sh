#!/usr/bin/env bash
# The project's test command: formatting, lints, the committed Wasm artifact
# against a fresh build, then every test of the workspace (unit, property,
# multi-test, process tests, and the artifact in the real CosmWasm VM).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== artifacts/agora_market.wasm is a fresh build of the source"
./scripts/build-wasm.sh --check

echo "== cargo test --workspace"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace 2>&1 | tee "$log"

# One closing line over every test binary (the last cargo line is the doc
# tests', which may be empty).
awk '/^test result:/ { passed += $4; failed += $6 }
     END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
