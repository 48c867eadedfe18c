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
cargo test
