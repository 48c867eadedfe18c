#!/usr/bin/env bash
# netavark 2.1.0 (nftables only, what podman 5 runs) for scenarios/netavark2,
# built from crates.io into the project's .cache, not the machine's PATH.
# Debian ships 1.4; the peer suite's 250-bridge-nftables.bats is 2.1's.
# A build already there is reused (cargo install answers "already
# installed" without compiling), so CI pays the ~6 minutes once per cache.
# Needs cargo and protoc (protobuf-compiler, ci/install-packages.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
version=2.1.0
# NETAVARK2_ROOT: where to build instead (ci/test.sh picks one outside
# /tmp for a project that lies there).
root="${NETAVARK2_ROOT:-$PWD/.cache/netavark-$version}"
bin="$root/bin/netavark"
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -qx "netavark $version"; then
    echo "build-netavark2: reusing $bin"
    exit 0
fi
# Its own target directory under .cache: a shared CARGO_TARGET_DIR would
# mix netavark's dependencies with the runner's, and cargo install removes
# a temporary one at the end anyway.
CARGO_TARGET_DIR="$root/build" cargo install --locked --quiet \
    netavark --version "$version" --root "$root"
rm -rf "$root/build"
"$bin" --version
