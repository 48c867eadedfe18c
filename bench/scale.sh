#!/usr/bin/env bash
# Speed at scale, on this machine: scenarios/scale/100-containers.rhai beside
# its shell peer bench/scale-shell.sh 100 (the same lab built with one ip
# command at a time), alternating, median of N (default 5), and the ratio;
# then bench/scale-1000.rhai (1000 containers built, probed, torn down) and
# the runner's peak memory for 100 containers.
#   bench/scale.sh [N] [PEER]
# SCENARIO_BIN names the scenario binary to time (a release build); without
# it, one is built here (cargo build --release). Needs root, and
# iputils-ping for the shell peer.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib/timing.sh"
timing_setup bench/scale-shell.sh "$@"
# The kernel frees namespaces in the background; let one run's teardown
# finish before the next run starts, for either side.
settle() { sleep 1; }

ours=(); shell=(); big=()
for i in $(seq "$n"); do
  settle; t0=$(now); "$bin" run -q scenarios/scale/100-containers.rhai >/dev/null 2>&1 || { echo "scenario run failed" >&2; exit 1; }
  t1=$(now); ours+=("$(echo "$t1 - $t0" | bc -l)")
  settle; t0=$(now); bash "$peer" 100 >/dev/null 2>&1 || { echo "$peer failed" >&2; exit 1; }
  t1=$(now); shell+=("$(echo "$t1 - $t0" | bc -l)")
  settle; t0=$(now); "$bin" run -q bench/scale-1000.rhai >/dev/null 2>&1 || { echo "1000 containers failed" >&2; exit 1; }
  t1=$(now); big+=("$(echo "$t1 - $t0" | bc -l)")
done
mo=$(printf '%s\n' "${ours[@]}" | median)
ms=$(printf '%s\n' "${shell[@]}" | median)
mb=$(printf '%s\n' "${big[@]}" | median)
settle
mem=$( { /usr/bin/time -f "%M" "$bin" run -q scenarios/scale/100-containers.rhai >/dev/null; } 2>&1 | tail -1)
printf '%-40s median %.3f s\n' "scenario: 100 containers" "$mo"
printf '%-40s median %.3f s\n' "$(basename "$peer") 100" "$ms"
printf '%-40s %.2f\n' "ratio scenario / shell" "$(echo "$mo / $ms" | bc -l)"
printf '%-40s median %.3f s\n' "scenario: 1000 containers" "$mb"
printf '%-40s %.1f MiB\n' "peak memory, 100 containers" "$(echo "$mem / 1024" | bc -l)"
