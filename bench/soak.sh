#!/usr/bin/env bash
# Soak: the shipped suite (scenarios/, the fault scenarios included) ROUNDS
# times (default 10) while every CPU is kept busy by loops this script
# starts and stops itself, then the count of false results:
#   false pass     a fault scenario whose broken network let every
#                  assertion pass (the runner says "the fault went
#                  unnoticed");
#   false failure  any other failure: a correct network reported broken,
#                  or a fault found for another reason than the one it
#                  names.
# Each failing report is printed. Exit 0 when there is no false result.
#   bench/soak.sh [ROUNDS] [PATH...]     (PATH: default scenarios/)
# SCENARIO_BIN names the scenario binary (a release build); without it,
# one is built here. Needs root (or user namespaces).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib/timing.sh"
timing_setup "" "${1:-10}"
rounds=$n
shift || true
paths=("$@")
[ "${#paths[@]}" -gt 0 ] || paths=(scenarios/)

busy=()
reports=$(mktemp -d)
stop_busy() {
  # Only the loops started here, by PID.
  if [ "${#busy[@]}" -gt 0 ]; then
    kill "${busy[@]}" 2>/dev/null || true
    wait "${busy[@]}" 2>/dev/null || true
  fi
  busy=()
}
cleanup() { stop_busy; rm -rf "$reports"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cpus=$(nproc)
for _ in $(seq "$cpus"); do
  ( while :; do :; done ) &
  busy+=("$!")
done

false_pass=0; false_fail=0; runs=0
start=$(now)
for round in $(seq "$rounds"); do
  out="$reports/round-$round"
  code=0
  "$bin" run -q "${paths[@]}" >"$out" 2>&1 || code=$?
  if [ "$code" -ne 0 ] && [ "$code" -ne 1 ]; then
    echo "round $round: scenario run exited $code" >&2
    cat "$out" >&2
    exit 2
  fi
  count=$(awk '/ passed, / {print $1 + $3}' "$out" | tail -1)
  runs=$((runs + ${count:-0}))
  # One report per FAIL line, up to the next FAIL or the closing line.
  while IFS= read -r scenario; do
    report=$(awk -v s="$scenario" '
      $0 == s { on = 1; print; next }
      on && (/^FAIL  / || / passed, /) { exit }
      on { print }' "$out")
    if grep -q "the fault went unnoticed" <<<"$report"; then
      false_pass=$((false_pass + 1)); kind="false pass"
    else
      false_fail=$((false_fail + 1)); kind="false failure"
    fi
    printf '\nround %s, %s:\n%s\n' "$round" "$kind" "$report"
  done < <(grep '^FAIL  ' "$out" || true)
  printf 'round %s of %s: %s false passes, %s false failures so far\n' \
    "$round" "$rounds" "$false_pass" "$false_fail" >&2
done
stop_busy
elapsed=$(echo "$(now) - $start" | bc -l)

printf '\n%s rounds, %s scenario runs, %s busy loops, %.0f s\n' "$rounds" "$runs" "$cpus" "$elapsed"
printf 'false passes:   %s\n' "$false_pass"
printf 'false failures: %s\n' "$false_fail"
[ "$false_pass" -eq 0 ] && [ "$false_fail" -eq 0 ]
