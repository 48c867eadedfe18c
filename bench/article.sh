#!/usr/bin/env bash
# Wall time of `scenario run scenarios/article/` beside bench/article-checklist.sh,
# the shell peer that does the article's checks with ip, iptables, ping and
# nc, on the same machine; and of bench/article-checklist.rhai, the shell
# peer's own lab and checks as a scenario. Alternating runs, median of N
# (default 5) each, and the ratios.
#   bench/article.sh [N] [PEER]
# SCENARIO_BIN names the scenario binary to time (a release build); without
# it, one is built here (cargo build --release). Needs root, and for the
# shell peer the packages iputils-ping and netcat-openbsd.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib/timing.sh"
timing_setup bench/article-checklist.sh "$@"

suite=(); same=(); shell=()
for i in $(seq "$n"); do
  t0=$(now); "$bin" run scenarios/article/ >/dev/null 2>&1 || { echo "scenario run scenarios/article/ failed" >&2; exit 1; }
  t1=$(now); "$bin" run bench/article-checklist.rhai >/dev/null 2>&1 || { echo "bench/article-checklist.rhai failed" >&2; exit 1; }
  t2=$(now); bash "$peer" >/dev/null 2>&1 || { echo "$peer failed" >&2; exit 1; }
  t3=$(now)
  suite+=("$(echo "$t1 - $t0" | bc -l)"); same+=("$(echo "$t2 - $t1" | bc -l)"); shell+=("$(echo "$t3 - $t2" | bc -l)")
done
ms=$(printf '%s\n' "${suite[@]}" | median)
mc=$(printf '%s\n' "${same[@]}" | median)
mb=$(printf '%s\n' "${shell[@]}" | median)
printf '%-36s median %.3f s\n' "scenario run scenarios/article/" "$ms"
printf '%-36s median %.3f s\n' "scenario run bench/article-checklist" "$mc"
printf '%-36s median %.3f s\n' "$(basename "$peer")" "$mb"
printf 'ratio suite / shell            %.2f\n' "$(echo "$ms / $mb" | bc -l)"
printf 'ratio same checks / shell      %.2f\n' "$(echo "$mc / $mb" | bc -l)"
