#!/usr/bin/env bash
# The project's test command: set-up (scripts/setup.sh installs what is
# missing), the TypeScript client and explorer against schema/ and their
# committed build, formatting, lints, the committed Wasm artifact against a fresh
# build, the README's gas table against the gas tool, then every test of the
# workspace (unit, property, multi-test, process tests, and the artifact in
# the real CosmWasm VM), then the node tests against a wasmd localnet it
# starts and stops itself (skipped, and said so, where Go is missing; in CI
# a missing Go fails).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== scripts/setup.sh"
./scripts/setup.sh

echo "== the repository stands on its own (no file points outside it)"
if git grep -nE '\.\./shared|shared/(SPEC|PERFORMANCE|TOOLCHAIN|ARCHITECTURE)\.md' -- . ':!scripts/test.sh'; then
  echo "files above point outside the repository: the spec and docs live in docs/" >&2
  exit 1
fi

echo "== clients/ts: the client is generated from schema/, type-checks, and dist/ is its build"
(
  cd clients/ts
  npm run --silent codegen
  npx --no-install tsc -p . --strict
  npx --no-install vite build --logLevel warn
)
if [ -n "$(git status --porcelain -- clients/ts/src/contract clients/ts/dist)" ]; then
  git status --short -- clients/ts/src/contract clients/ts/dist >&2
  echo "clients/ts is stale: commit what \`npm run codegen\` and \`npm run build\` (in clients/ts) wrote" >&2
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

echo "== the node tests, on a wasmd localnet (scripts/localnet.sh)"
if command -v go >/dev/null 2>&1; then
  # A localnet of its own, on ports of its own, so a user's running
  # localnet is left alone.
  export AGORA_LOCALNET_INSTANCE=test AGORA_LOCALNET_PORT_BASE=36000
  ./scripts/localnet.sh stop >/dev/null 2>&1 || true
  trap 'rm -f "$log"; ./scripts/localnet.sh stop >/dev/null 2>&1 || true' EXIT
  node_env=$(./scripts/localnet.sh start)
  AGORA_LOCALNET_RPC=$(sed -n 's/^RPC=//p' <<<"$node_env")
  export AGORA_LOCALNET_RPC
  cargo test -p agora-client -p agora -p agora-vm --test node -- --ignored --test-threads=1 2>&1 | tee -a "$log"
  ./scripts/localnet.sh stop
elif [ "${CI:-}" = true ]; then
  echo "Go is missing: CI must run the node tests (install Go 1.24 or newer)" >&2
  exit 1
else
  echo "Go is not installed: SKIPPING the node tests (install Go 1.24 or newer to run them)"
fi

# One closing line over every test binary (the last cargo line is the doc
# tests', which may be empty).
awk '/^test result:/ { passed += $4; failed += $6 }
     END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
