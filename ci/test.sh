#!/usr/bin/env bash
# The whole test suite, as root: a privileged container or a root CI machine.
# .ci/run, the GitHub workflow and the GitLab job all call this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-packages.sh
# The guide in docs/: mdBook (installed once into .tools/bin), the book
# built, then checked by runner/tests/book.rs with the rest of the tests.
mdbook=$(bash ci/install-mdbook.sh)
if [ -n "$mdbook" ]; then
    "$mdbook" build docs
    MDBOOK=$(realpath "$mdbook")
    export MDBOOK
else
    echo "note: the book is not built: see above" >&2
fi
# netavark 2.1 for scenarios/netavark2 (about 6 minutes once, then reused).
# A lab node has a /tmp of its own, which hides a build under the
# machine's /tmp from the commands a scenario runs there: a project that
# lies under /tmp (a CI clone) builds it in the user's cache instead.
NETAVARK2_ROOT="$PWD/.cache/netavark-2.1.0"
case "$PWD" in
/tmp/* | /run/*) NETAVARK2_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/scenario/netavark-2.1.0" ;;
esac
export NETAVARK2_ROOT
bash ci/build-netavark2.sh
# Named, so that the tests' copies of scenarios, run outside the project,
# find it too.
export SCENARIO_NETAVARK2="$NETAVARK2_ROOT/bin/netavark"
cargo test
