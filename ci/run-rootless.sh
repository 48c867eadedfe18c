#!/usr/bin/env bash
# The shipped scenarios as an ordinary user: the runner enters a user
# namespace of its own. Install the packages first (install-packages.sh);
# needs unprivileged user namespaces (see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
  echo "run-rootless.sh: run this as an ordinary user" >&2
  exit 2
fi
cargo build --release
./target/release/scenario run "$@" scenarios/
