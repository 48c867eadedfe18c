#!/usr/bin/env bash
# The article's checklist by hand: the lab and the seven checks of
# bench/article-checklist.rhai, written the way a user scripts them with
# ip, iptables, ping and nc. The shell peer that bench/article.sh times the
# runner against.
#   bench/article-checklist.sh
# The lab, with the scenarios' addresses (the article's in brackets):
#   isp   up1 198.51.100.1/24; the "internet" 203.0.113.114 on its loopback
#         [114.114.114.114]
#   host  up0 198.51.100.5/24, default via 198.51.100.1, forwarding on;
#         bridge testbridge 172.29.0.1/24 [162.16.0.1/24]
#   c1    eth0 172.29.0.2/24 on testbridge, default via 172.29.0.1 [162.16.0.2]
#   c2    eth0 172.29.0.3/24 on testbridge, default via 172.29.0.1 [162.16.0.3]
# Every node is a named network namespace bench-<random>-<node>, so two
# runs never collide; they, and any process left in them, are removed on
# exit, on failure and on SIGINT/SIGTERM. The machine's own network namespace
# is never touched: links are made from inside the namespaces (ip -n) and
# sysctls set through `ip netns exec`.
# (As with any `ip netns add`, the first one on a machine leaves /run/netns
# behind, bind-mounted on itself.)
# SIGKILL runs no trap: after one, `ip netns del` what `ip netns list` shows
# as bench-<random>-*.
# Needs root, iproute2, iptables, iputils-ping and netcat-openbsd.
# Prints one line per check and "N passed, N failed"; exit 0 when all pass.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib/netns.sh"
H=bench-$suffix-host; W=bench-$suffix-isp
C1=bench-$suffix-c1; C2=bench-$suffix-c2

listener=      # PID of the nc listener running, if any
tmp=$(mktemp -d)
extra_cleanup() {
  [ -n "$listener" ] && kill "$listener" 2>/dev/null
  rm -rf "$tmp"
}

pass=0; fail=0
# check yes|no WHAT COMMAND...: a check that passes when COMMAND succeeds
# (yes) or fails (no).
check() {
  local want=$1 what=$2 got=no; shift 2
  "$@" && got=yes
  if [ "$got" = "$want" ]; then pass=$((pass+1)); echo "ok    $what"
  else fail=$((fail+1)); echo "FAIL  $what"; fi
}
# ping_within SECONDS NODE ADDR: a reply within SECONDS, one echo request
# every 0.2 s until then. 2 s for a reply that must come, 1 s of silence for
# one that must not.
ping_within() { ip netns exec "$2" ping -q -n -c1 -i0.2 -w"$1" "$3" >/dev/null 2>&1; }
# tcp_token CLIENT ADDR PORT SERVER: CLIENT sends a token to ADDR:PORT while
# nc listens on PORT in SERVER; true when the token reached that listener.
tcp_token() {
  local client=$1 addr=$2 port=$3 server=$4 token=token-$RANDOM$RANDOM i
  ip netns exec "$server" timeout 3 nc -l -p "$port" >"$tmp/got" 2>/dev/null &
  listener=$!
  for i in $(seq 100); do   # until it listens, 1 s at most
    ip netns exec "$server" ss -Hltn "sport = :$port" | grep -q . && break
    sleep 0.01
  done
  if echo "$token" | ip netns exec "$client" nc -N -w1 "$addr" "$port" >/dev/null 2>&1; then
    wait "$listener" 2>/dev/null || true   # it ends when the client has closed
  else                                     # refused or timed out: nothing can arrive
    kill "$listener" 2>/dev/null || true
    wait "$listener" 2>/dev/null || true
  fi
  listener=
  grep -q "$token" "$tmp/got"
}

for n in "$H" "$W" "$C1" "$C2"; do ns "$n"; done
# host <-> isp, and the internet behind the isp
ip -n "$H" link add up0 type veth peer name up1 netns "$W"
ip -n "$H" addr add 198.51.100.5/24 dev up0
ip -n "$H" link set up0 up
ip -n "$W" addr add 198.51.100.1/24 dev up1
ip -n "$W" link set up1 up
ip -n "$W" addr add 203.0.113.114/32 dev lo
ip -n "$H" route add default via 198.51.100.1
ip netns exec "$H" sysctl -qw net.ipv4.ip_forward=1
# the container bridge and the two containers
ip -n "$H" link add testbridge type bridge
ip -n "$H" addr add 172.29.0.1/24 dev testbridge
ip -n "$H" link set testbridge up
i=2
for c in "$C1" "$C2"; do
  v=v-${c##*-}
  ip -n "$H" link add "$v" type veth peer name eth0 netns "$c"
  ip -n "$H" link set "$v" master testbridge
  ip -n "$H" link set "$v" up
  ip -n "$c" addr add 172.29.0.$i/24 dev eth0
  ip -n "$c" link set eth0 up
  ip -n "$c" route add default via 172.29.0.1
  i=$((i+1))
done

check yes "c1 reaches the host (172.29.0.1)" ping_within 2 "$C1" 172.29.0.1
check no "c1 does not reach the internet before MASQUERADE" ping_within 1 "$C1" 203.0.113.114
ip netns exec "$H" iptables -w -t nat -A POSTROUTING -s 172.29.0.0/24 -j MASQUERADE
check yes "c1 reaches the internet (203.0.113.114)" ping_within 2 "$C1" 203.0.113.114
check yes "c2 reaches c1" ping_within 2 "$C2" 172.29.0.2
check yes "c1 reaches c2" ping_within 2 "$C1" 172.29.0.3
check no "host port 95 is not published before DNAT" tcp_token "$W" 198.51.100.5 95 "$C1"
ip netns exec "$H" iptables -w -t nat -A PREROUTING -p tcp -m tcp --dport 95 -j DNAT --to-destination 172.29.0.2:95
check yes "host port 95 reaches c1 after DNAT" tcp_token "$W" 198.51.100.5 95 "$C1"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
