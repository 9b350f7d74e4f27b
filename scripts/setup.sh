#!/usr/bin/env bash
# Installs what the project's commands need on a fresh Debian machine that
# has rustup, and nothing when it is all there already. The README's test
# command and .ci/run both call it, so they cannot drift apart.
#
#   scripts/setup.sh     the pinned toolchain's parts, the Wasm target, and
#                        Debian's packages (through sudo when not root)
#
# Where it cannot install something it says in one line what to install and
# how, and exits 1. docs/toolchain.md says why each piece is needed.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "setup: $*" >&2; }

if ! command -v rustup >/dev/null 2>&1; then
  say "rustup not found: install it (https://rustup.rs), then run this again"
  exit 1
fi
# The toolchain of rust-toolchain.toml, with what the checks and the
# optimized Wasm build need (docs/toolchain.md).
rustup show active-toolchain >/dev/null
installed_components=$(rustup component list --installed)
for component in rustfmt clippy rust-src; do
  grep -q "^$component" <<<"$installed_components" || rustup component add "$component"
done
rustup target list --installed | grep -qx wasm32-unknown-unknown \
  || rustup target add wasm32-unknown-unknown

# Debian packages, by the command each provides.
# chromium: the explorer's tests run the page in it (clients/ts/tests).
declare -A debian=([wasm-opt]=binaryen [chromium]=chromium)
missing=()
for command in "${!debian[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${debian[$command]}")
done
# The peer's corpus (packages/peer/src/corpus.rs): Debian's fortunes.
[ -f /usr/share/games/fortunes/fortunes ] || missing+=(fortunes-min)
[ -f /usr/share/games/fortunes/computers ] || missing+=(fortunes)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo)
  else
    say "missing Debian packages: run 'sudo apt-get install -y ${missing[*]}', then run this again"
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    say "missing ${missing[*]} and no apt-get here: install them with your system's package manager"
    exit 1
  fi
  say "installing ${missing[*]} from Debian"
  "${sudo[@]}" apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${missing[@]}" >/dev/null
fi

# The TypeScript client's and the explorer's packages, exactly as
# clients/ts/package-lock.json pins them (npm ci), again only when the
# lock file changed.
if ! command -v npm >/dev/null 2>&1; then
  say "npm not found: install Node.js 20 or newer (https://nodejs.org), then run this again"
  exit 1
fi
lock=clients/ts/package-lock.json
installed=clients/ts/node_modules/.agora-lock
if ! cmp -s "$lock" "$installed"; then
  say "installing clients/ts's npm packages (npm ci)"
  (cd clients/ts && npm ci --no-audit --no-fund --loglevel=error)
  cp "$lock" "$installed"
fi
