#!/usr/bin/env bash
# Load test of `codegenie hub` on loopback: 200 simulated users generating
# at the same time against a model server that answers after 100 ms, first
# straight to the model server, then through the hub; prints the latency
# percentiles of both, the hub's added latency (p50/p95/p99, and for the
# first round alone), the errors and the hub's resident memory every second.
# Exits non-zero on any error.
#
#   bash tests/bench/hub-load.sh [--debug] [--users N] [--rounds N] [--latency-ms N] [--ramp-ms N] [--mongodb URI]
#
#   --debug     measure the debug build (quick to build; slower than what ships)
#   --ramp-ms   users join over this long, evenly spaced (default 1000);
#               0 starts all of them at the same instant
#
# Bounded: users x rounds requests, each with a 30 s timeout; loopback only.
# The release build takes a while the first time (thin LTO).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/codegenie-target}
profile=release
args=()
while (($#)); do
  case $1 in
    --debug) profile=debug ;;
    *) args+=("$1") ;;
  esac
  shift
done
flag=()
[[ $profile == release ]] && flag=(--release)
cargo build "${flag[@]}" --locked -p codegenie --bin codegenie --example hub_load
# Many connections at once.
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"
"$CARGO_TARGET_DIR/$profile/examples/hub_load" --bin "$CARGO_TARGET_DIR/$profile/codegenie" "${args[@]}"
