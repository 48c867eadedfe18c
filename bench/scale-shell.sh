#!/usr/bin/env bash
# N containers (default 100) on one bridge, each pinging its gateway, built
# the way a user scripts it: one ip command at a time, then one ping per
# container. The shell peer of scenarios/scale/100-containers.rhai that
# bench/scale.sh times the runner against.
#   bench/scale-shell.sh [N]
# The lab, as in the scenario: a host with bridge br0 10.77.0.1/16, and
# containers c1..cN, container k with eth0 10.77.<k/250>.<k%250+2>/16 on br0
# (its peer v-ck in the host), default via 10.77.0.1.
# Every node is a named network namespace bench-<random>-<node>, so two
# runs never collide; they are removed on exit, on failure and on SIGINT or
# SIGTERM. The machine's own network namespace is never touched: links are
# made from inside the namespaces (ip -n).
# (As with any `ip netns add`, the first one on a machine leaves /run/netns
# behind, bind-mounted on itself.)
# SIGKILL runs no trap: after one, `ip netns del` what `ip netns list` shows
# as bench-<random>-*.
# Needs root, iproute2 and iputils-ping.
# Prints "N passed, N failed" (containers that got a reply); exit 0 when all did.
set -euo pipefail

n=${1:-100}
case $n in ''|*[!0-9]*) echo "usage: $0 [N], N a number of containers" >&2; exit 2;; esac
if [ "$n" -lt 1 ] || [ "$n" -gt 60000 ]; then echo "N must be 1 to 60000" >&2; exit 2; fi

# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib/netns.sh"
H=bench-$suffix-host

ns "$H"
ip -n "$H" link add br0 type bridge
ip -n "$H" addr add 10.77.0.1/16 dev br0
ip -n "$H" link set br0 up
for k in $(seq "$n"); do
  c=bench-$suffix-c$k
  ns "$c"
  ip -n "$H" link add "v-c$k" type veth peer name eth0 netns "$c"
  ip -n "$H" link set "v-c$k" master br0
  ip -n "$H" link set "v-c$k" up
  ip -n "$c" addr add 10.77.$((k / 250)).$((k % 250 + 2))/16 dev eth0
  ip -n "$c" link set eth0 up
  ip -n "$c" route add default via 10.77.0.1
done

fail=0
for k in $(seq "$n"); do
  # a reply within 2 s (one echo request every 0.2 s until then)
  ip netns exec "bench-$suffix-c$k" ping -q -n -c1 -i0.2 -w2 10.77.0.1 >/dev/null 2>&1 \
    || { fail=$((fail+1)); echo "FAIL  c$k gets no reply from 10.77.0.1"; }
done
echo "$((n - fail)) passed, $fail failed"
[ "$fail" = 0 ]
