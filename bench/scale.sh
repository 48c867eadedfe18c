#!/usr/bin/env bash
# Speed at scale, on this machine: scenarios/scale/100-containers.rhai beside
# its shell peer bench/scale-shell.sh 100 (the same lab built with one ip
# command at a time), alternating, median of N (default 5), and the ratio;
# bench/scale-1000.rhai (1000 containers built, probed, torn down), median
# of N; the runner's peak memory for 100 and 1000 containers; then the same
# lab with 2000 and 4000 containers (median of N, at most 3), to show how
# the cost grows. Those need more open files than the common soft limit
# (the runner counts about 4 per container): the hard limit is raised here (as
# root, where it may be) for those runs only, as the runner's message says.
#   bench/scale.sh [N] [PEER]
# SCENARIO_BIN names the scenario binary to time (a release build); without
# it, one is built here (cargo build --release). Needs root, and
# iputils-ping for the shell peer.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib/timing.sh"
timing_setup bench/scale-shell.sh "$@"
# The kernel frees namespaces in the background (and the runner's
# watchdog ends a lab after the run): let one run's teardown finish before
# the next run starts, for either side. Finished: the CPUs idle (busy less
# than a tenth of a 0.3 s window), after at least 1 s and at most 10 s.
busy_ticks() { awk '/^cpu / { print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8 }' /proc/stat; }
settle() {
  sleep 1
  local waited=0 a b
  while [ "$waited" -lt 33 ]; do
    a=$(busy_ticks); sleep 0.3; b=$(busy_ticks)
    echo "$a $b" | awk '{ exit !(($3 - $1) * 10 < ($4 - $2)) }' && return 0
    waited=$((waited + 1))
  done
}
big_dir=$(mktemp -d)
trap 'rm -rf "$big_dir"' EXIT

# The 1000-container lab with another count.
lab_of() {
  sed "s/^let n = 1000;/let n = $1;/" bench/scale-1000.rhai >"$big_dir/scale-$1.rhai"
  echo "$big_dir/scale-$1.rhai"
}

# One timed run of the runner on a scenario, in a shell whose hard
# open-file limit is raised to fit the largest lab.
timed() {
  local t0 t1
  t0=$(now)
  ( ulimit -Hn 65536 2>/dev/null || true; "$bin" run -q "$1" >/dev/null 2>&1 ) || { echo "scenario run $1 failed" >&2; exit 1; }
  t1=$(now)
  echo "$t1 - $t0" | bc -l
}

ours=(); shell=(); big=()
for _ in $(seq "$n"); do
  settle; t=$(timed scenarios/scale/100-containers.rhai); ours+=("$t")
  settle; t0=$(now); bash "$peer" 100 >/dev/null 2>&1 || { echo "$peer failed" >&2; exit 1; }
  t1=$(now); shell+=("$(echo "$t1 - $t0" | bc -l)")
  settle; t=$(timed bench/scale-1000.rhai); big+=("$t")
done
mo=$(printf '%s\n' "${ours[@]}" | median)
ms=$(printf '%s\n' "${shell[@]}" | median)
mb=$(printf '%s\n' "${big[@]}" | median)
peak() {
  settle
  { ( ulimit -Hn 65536 2>/dev/null || true; /usr/bin/time -f "%M" "$bin" run -q "$1" >/dev/null ); } 2>&1 | tail -1
}
mem=$(peak scenarios/scale/100-containers.rhai)
mem_big=$(peak bench/scale-1000.rhai)
printf '%-40s median %.3f s\n' "scenario: 100 containers" "$mo"
printf '%-40s median %.3f s\n' "$(basename "$peer") 100" "$ms"
printf '%-40s %.3f\n' "ratio scenario / shell" "$(echo "$mo / $ms" | bc -l)"
printf '%-40s median %.3f s\n' "scenario: 1000 containers" "$mb"
printf '%-40s %.1f MiB\n' "peak memory, 100 containers" "$(echo "$mem / 1024" | bc -l)"
printf '%-40s %.1f MiB\n' "peak memory, 1000 containers" "$(echo "$mem_big / 1024" | bc -l)"
# SCALE_COUNTS overrides the larger labs' sizes. A lab the open-file
# limit cannot hold (the hard limit could not be raised here) is reported
# with the runner's own message instead of a time.
for count in ${SCALE_COUNTS:-2000 4000}; do
  lab_of "$count" >/dev/null; file=$big_dir/scale-$count.rhai
  why=$( ( ulimit -Hn 65536 2>/dev/null || true; "$bin" run -q "$file" 2>&1 ) | grep -o 'need about [0-9]* open files.*(hard limit [0-9]*)' || true)
  if [ -n "$why" ]; then
    printf '%-40s not run: %s\n' "scenario: $count containers" "$why"
    continue
  fi
  runs=()
  for _ in $(seq "$(( n < 3 ? n : 3 ))"); do
    settle; settle; t=$(timed "$file"); runs+=("$t")
  done
  printf '%-40s median %.3f s\n' "scenario: $count containers" "$(printf '%s\n' "${runs[@]}" | median)"
done
