# shellcheck shell=bash disable=SC2034
# Sourced by the benchmarks: `timing_setup DEFAULT_PEER [N] [PEER]` sets n
# (runs, default 5), peer and bin (SCENARIO_BIN, or a release build made
# here), from the repository root; now and median time and summarize.

timing_setup() {
  local default_peer=$1
  n=${2:-5}
  peer=${3:-}
  [ -z "$peer" ] || peer=$(realpath -e "$peer")
  bin=${SCENARIO_BIN:-}
  [ -z "$bin" ] || bin=$(realpath -e "$bin")
  cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
  peer=${peer:-$default_peer}
  if [ -z "$bin" ]; then
    cargo build --release -q
    bin=target/release/scenario
  fi
}

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
