# shellcheck shell=bash disable=SC2034
# Sourced by the shell peers: named namespaces bench-<random>-<node> made
# with `ns NAME`, and removed, with any process left in them, on exit, on
# failure and on SIGINT/SIGTERM. A peer that has more to undo defines
# extra_cleanup after sourcing this.

suffix=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
made=()        # namespaces this run created, and only those
pending=       # the one `ip netns add` is making

extra_cleanup() { :; }

cleanup() {
  trap '' INT TERM   # a second signal must not cut the cleanup short
  set +e
  extra_cleanup
  for ns in "${made[@]}" ${pending:-}; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A fresh namespace with loopback up. `ip netns add` fails on a name that
# exists (another run's), and then the name is not ours to delete; but a
# signal that ends it halfway leaves its file, so the name it was making is
# deleted on exit too.
ns() {
  pending=$1
  ip netns add "$1" || { local rc=$?; [ "$rc" -gt 128 ] || pending=; return "$rc"; }
  made+=("$1"); pending=
  ip -n "$1" link set lo up
}
