#!/usr/bin/env bash
# The project's test command: set-up (scripts/setup.sh installs what is
# missing), formatting, lints, the committed Wasm artifact against a fresh
# build, the README's gas table against the gas tool, then every test of the
# workspace (unit, property, multi-test, process tests, and the artifact in
# the real CosmWasm VM).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== scripts/setup.sh"
./scripts/setup.sh

echo "== the repository stands on its own (no file points outside it)"
if git grep -nE '\.\./shared|shared/(SPEC|PERFORMANCE|TOOLCHAIN|ARCHITECTURE)\.md' -- . ':!scripts/test.sh'; then
  echo "files above point outside the repository: the spec and docs live in docs/" >&2
  exit 1
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== artifacts/agora_market.wasm is a fresh build of the source"
./scripts/build-wasm.sh --check

echo "== README.md's gas table is what agora-gas measures"
./scripts/gas-table.sh --check

echo "== cargo test --workspace"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace 2>&1 | tee "$log"

# One closing line over every test binary (the last cargo line is the doc
# tests', which may be empty).
awk '/^test result:/ { passed += $4; failed += $6 }
     END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
