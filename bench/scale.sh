#!/usr/bin/env bash
# Speed at scale, on this machine: scenarios/scale/100-containers.rhai beside
# ../shared/baseline/scale-shell.sh 100 (the same work as iproute2
# commands), alternating, median of N (default 5), and the ratio; then
# bench/scale-1000.rhai (1000 containers built, probed, torn down) and the
# runner's peak memory for 100 containers.
#   bench/scale.sh [N] [BASELINE]
# Needs root, a release build (built here), iputils-ping for the baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5}
baseline=${2:-../shared/baseline/scale-shell.sh}
cargo build --release -q
bin=target/release/scenario

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# The kernel frees namespaces in the background; let one run's teardown
# finish before the next run starts, for either side.
settle() { sleep 1; }

ours=(); shell=(); big=()
for i in $(seq "$n"); do
  settle; t0=$(now); "$bin" run -q scenarios/scale/100-containers.rhai >/dev/null 2>&1 || { echo "scenario run failed" >&2; exit 1; }
  t1=$(now); ours+=("$(echo "$t1 - $t0" | bc -l)")
  settle; t0=$(now); bash "$baseline" 100 >/dev/null 2>&1 || { echo "baseline failed" >&2; exit 1; }
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
printf '%-40s median %.3f s\n' "$(basename "$baseline") 100" "$ms"
printf '%-40s %.2f\n' "ratio scenario / shell" "$(echo "$mo / $ms" | bc -l)"
printf '%-40s median %.3f s\n' "scenario: 1000 containers" "$mb"
printf '%-40s %.1f MiB\n' "peak memory, 100 containers" "$(echo "$mem / 1024" | bc -l)"
