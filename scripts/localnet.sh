#!/usr/bin/env bash
# A one-validator wasmd chain on loopback, for deploying and testing the
# market on a real node (docs/deploy.md).
#
#   scripts/localnet.sh build    build wasmd (localnet/go.mod pins it) once
#   scripts/localnet.sh start    a fresh chain; prints KEY=VALUE lines:
#                                RPC REST GRPC CHAIN_ID DENOM WASMD HOME
#   scripts/localnet.sh stop     stop the chain this script started
#   scripts/localnet.sh status   say whether it runs (exit 0 if it does)
#   scripts/localnet.sh env      the KEY=VALUE lines of the running chain
#
# The binary is cached in $AGORA_CACHE (default ~/.cache/agora) and rebuilt
# only when localnet/go.mod or go.sum change. Ports: RPC 26657, P2P 26656,
# REST 1317, gRPC 9090. A second chain beside the first (the test command's,
# the gas table's) is named by AGORA_LOCALNET_INSTANCE, which keeps its pid
# apart, and AGORA_LOCALNET_PORT_BASE=N puts its ports at N+657 (RPC), N+656
# (P2P), N+317 (REST) and N+90 (gRPC). The funded test keys are in
# localnet/test-keys.txt (public mnemonics: test only).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${AGORA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agora}/localnet
bin_dir=$cache/bin
wasmd=$bin_dir/wasmd
# The running chain's pid and env.
run_dir=$cache/run${AGORA_LOCALNET_INSTANCE:+-$AGORA_LOCALNET_INSTANCE}
chain_id=agora-localnet
denom=uagora
if [ -n "${AGORA_LOCALNET_PORT_BASE:-}" ]; then
  base=$AGORA_LOCALNET_PORT_BASE
  rpc_port=$((base + 657)) p2p_port=$((base + 656)) rest_port=$((base + 317)) grpc_port=$((base + 90))
else
  rpc_port=26657 p2p_port=26656 rest_port=1317 grpc_port=9090
fi
# Each test key gets this much (and a second denom, to test refusing it);
# the validator bonds part of its own.
account_funds=1000000000000000$denom,1000000000uother
validator_funds=10000000000000$denom
validator_bond=1000000000$denom

say() { echo "localnet: $*" >&2; }

stamp() { cat "$root/localnet/go.mod" "$root/localnet/go.sum" | sha256sum | cut -d' ' -f1; }

build() {
  if [ -x "$wasmd" ] && [ "$(cat "$bin_dir/stamp" 2>/dev/null)" = "$(stamp)" ]; then
    return 0
  fi
  if ! command -v go >/dev/null 2>&1; then
    say "Go is not installed: install Go 1.24 or newer (https://go.dev/dl) to build wasmd"
    return 3
  fi
  say "building wasmd (localnet/go.mod) into $bin_dir; the first build takes about 5 minutes"
  mkdir -p "$bin_dir"
  local version
  version=$(cd "$root/localnet" && go list -m -f '{{.Version}}' github.com/CosmWasm/wasmd)
  # rpath $ORIGIN: the binary loads libwasmvm from beside itself, so it keeps
  # working if the Go module cache is cleaned.
  (cd "$root/localnet" && CGO_ENABLED=1 go build -o "$wasmd.new" \
    -ldflags "-X github.com/cosmos/cosmos-sdk/version.Name=wasm -X github.com/cosmos/cosmos-sdk/version.AppName=wasmd -X github.com/cosmos/cosmos-sdk/version.Version=$version -extldflags '-Wl,-rpath,\$ORIGIN'" \
    github.com/CosmWasm/wasmd/cmd/wasmd)
  local vm_dir
  vm_dir=$(cd "$root/localnet" && go list -m -f '{{.Dir}}' github.com/CosmWasm/wasmvm/v3)
  cp "$vm_dir/internal/api/libwasmvm.$(uname -m).so" "$bin_dir/"
  mv "$wasmd.new" "$wasmd"
  stamp >"$bin_dir/stamp"
  say "built $("$wasmd" version)"
}

running() {
  [ -f "$run_dir/pid" ] && kill -0 "$(cat "$run_dir/pid")" 2>/dev/null
}

# Sets key $3 under section $2 ("" for the top level) of TOML file $1.
set_toml() {
  local file=$1 section=$2 key=$3 value=$4
  awk -v section="$section" -v key="$key" -v value="$value" '
    /^\[[^]]+\][[:space:]]*$/ { current = substr($0, 2, index($0, "]") - 2) }
    !done && current == section && index($0, key " =") == 1 { print key " = " value; done = 1; next }
    { print }
    END { if (!done) { print "no " key " under [" section "]" > "/dev/stderr"; exit 1 } }
  ' "$file" >"$file.new"
  mv "$file.new" "$file"
}

start() {
  if running; then
    say "already running (pid $(cat "$run_dir/pid")); stop it first"
    cat "$run_dir/env"
    return 0
  fi
  build
  mkdir -p "$run_dir"
  local home
  home=$(mktemp -d "${TMPDIR:-/tmp}/agora-localnet.XXXXXX")
  local node=("$wasmd" --home "$home")
  "${node[@]}" init agora-localnet --chain-id "$chain_id" --default-denom "$denom" >/dev/null 2>&1
  "${node[@]}" keys add validator --keyring-backend test >/dev/null 2>&1
  "${node[@]}" genesis add-genesis-account validator "$validator_funds" --keyring-backend test
  while read -r name mnemonic; do
    case "$name" in '' | '#'*) continue ;; esac
    echo "$mnemonic" | "${node[@]}" keys add "$name" --recover --keyring-backend test >/dev/null 2>&1
    "${node[@]}" genesis add-genesis-account "$name" "$account_funds" --keyring-backend test
  done <"$root/localnet/test-keys.txt"
  "${node[@]}" genesis gentx validator "$validator_bond" --chain-id "$chain_id" \
    --keyring-backend test >/dev/null 2>&1
  "${node[@]}" genesis collect-gentxs >/dev/null 2>&1

  local config=$home/config/config.toml app=$home/config/app.toml
  set_toml "$config" "" moniker '"agora-localnet"'
  set_toml "$config" rpc laddr "\"tcp://127.0.0.1:$rpc_port\""
  set_toml "$config" p2p laddr "\"tcp://127.0.0.1:$p2p_port\""
  set_toml "$config" rpc pprof_laddr '""'
  # A web page (the explorer, a dApp) reads the chain from the browser.
  set_toml "$config" rpc cors_allowed_origins '["*"]'
  set_toml "$config" consensus timeout_commit '"300ms"'
  set_toml "$config" consensus timeout_propose '"1s"'
  set_toml "$app" "" minimum-gas-prices "\"0.01$denom\""
  set_toml "$app" api enable true
  set_toml "$app" api address "\"tcp://127.0.0.1:$rest_port\""
  set_toml "$app" grpc address "\"127.0.0.1:$grpc_port\""

  "${node[@]}" start >"$home/node.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$run_dir/pid"
  cat >"$run_dir/env" <<EOF
RPC=http://127.0.0.1:$rpc_port
REST=http://127.0.0.1:$rest_port
GRPC=http://127.0.0.1:$grpc_port
CHAIN_ID=$chain_id
DENOM=$denom
WASMD=$wasmd
HOME=$home
EOF
  # Ready once the node has made block 2 (block 1 holds the gentx).
  local waited=0
  local height=0
  until height=$("$wasmd" status --node "tcp://127.0.0.1:$rpc_port" 2>/dev/null \
    | grep -o '"latest_block_height":"[0-9]*"' | grep -o '[0-9]\+') \
    && [ "${height:-0}" -ge 2 ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      say "wasmd exited; its log ($home/node.log) ends:"
      tail -20 "$home/node.log" >&2
      rm -f "$run_dir/pid"
      return 1
    fi
    waited=$((waited + 1))
    if [ "$waited" -gt 600 ]; then
      say "no block after 60 s; see $home/node.log"
      stop
      return 1
    fi
    sleep 0.1
  done
  say "running (pid $pid), block $height"
  cat "$run_dir/env"
}

stop() {
  if ! running; then
    say "not running"
    rm -f "$run_dir/pid"
    return 0
  fi
  local pid
  pid=$(cat "$run_dir/pid")
  kill "$pid"
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$run_dir/pid"
  # The node's home is a temp dir of its own: nothing in it outlives it.
  local home
  home=$(sed -n 's/^HOME=//p' "$run_dir/env" 2>/dev/null)
  case "$home" in */agora-localnet.*) rm -rf "$home" ;; esac
  say "stopped (pid $pid)"
}

case "${1:-}" in
  build) build ;;
  start) start ;;
  stop) stop ;;
  status)
    if running; then
      say "running (pid $(cat "$run_dir/pid"))"
    else
      say "not running"
      exit 1
    fi
    ;;
  env)
    running || { say "not running"; exit 1; }
    cat "$run_dir/env"
    ;;
  *)
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
