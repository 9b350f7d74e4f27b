#!/usr/bin/env bash
# Build the market contract as one optimized, CosmWasm-compatible .wasm.
#
#   scripts/build-wasm.sh           write artifacts/agora_market.wasm and artifacts/checksums.txt
#   scripts/build-wasm.sh --check   build into a scratch dir and fail if the committed
#                                   artifact differs from a fresh build of the source
#
# Why the flags (see docs/toolchain.md): the precompiled wasm32 standard library uses
# post-MVP Wasm features (bulk memory, sign-ext, ...) that the CosmWasm 3 VM rejects, so the
# standard library is rebuilt for the MVP CPU with -Zbuild-std. Paths are remapped so the
# artifact does not depend on where the repository or the cargo registry lives.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
mode=${1:-write}

# The wasm32 target, rust-src (for -Zbuild-std) and Debian's binaryen.
./scripts/setup.sh

sysroot=$(rustc --print sysroot)
cargo_home=${CARGO_HOME:-$HOME/.cargo}
target_dir=$root/target/wasm

echo "building agora-market for wasm32-unknown-unknown (MVP, build-std)..." >&2
# The contract profile (cw-plus, DAO DAO) on top of Cargo.toml's release
# profile, whose native settings are lighter.
CARGO_PROFILE_RELEASE_LTO=true \
CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
RUSTC_BOOTSTRAP=1 \
RUSTFLAGS="-C target-cpu=mvp -C link-arg=-s --remap-path-prefix=$root=/agora --remap-path-prefix=$cargo_home=/cargo --remap-path-prefix=$sysroot=/rustc" \
  cargo build --locked --release -p agora-market --lib \
    --target wasm32-unknown-unknown --target-dir "$target_dir" \
    -Zbuild-std=std,panic_abort

raw=$target_dir/wasm32-unknown-unknown/release/agora_market.wasm
out_dir=$root/artifacts
if [ "$mode" = "--check" ]; then
  out_dir=$(mktemp -d)
  trap 'rm -rf "$out_dir"' EXIT
fi
# Binaryen inlines every function that has one caller, whatever its size; the
# epoch's passes then merge into one function with more than the 100 locals
# the CosmWasm VM allows. Bounding that inlining keeps every function legal.
wasm-opt -Os --one-caller-inline-max-function-size 200 "$raw" -o "$out_dir/agora_market.wasm"
(cd "$out_dir" && sha256sum agora_market.wasm > checksums.txt)

if command -v cosmwasm-check >/dev/null 2>&1; then
  cosmwasm-check "$out_dir/agora_market.wasm" >&2
fi
size=$(stat -c %s "$out_dir/agora_market.wasm")
echo "agora_market.wasm: $size bytes ($((size / 1024)) KiB; wasmd's limit is 800 KiB)" >&2

if [ "$mode" = "--check" ]; then
  if ! diff -q "$out_dir/checksums.txt" "$root/artifacts/checksums.txt" >/dev/null; then
    echo "artifacts/agora_market.wasm is stale: run scripts/build-wasm.sh and commit artifacts/" >&2
    echo "  fresh:     $(cat "$out_dir/checksums.txt")" >&2
    echo "  committed: $(cat "$root/artifacts/checksums.txt" 2>/dev/null || echo none)" >&2
    exit 1
  fi
  if ! (cd "$root/artifacts" && sha256sum -c --quiet checksums.txt); then
    echo "artifacts/agora_market.wasm does not match artifacts/checksums.txt" >&2
    exit 1
  fi
  echo "artifacts/agora_market.wasm matches a fresh build" >&2
fi
