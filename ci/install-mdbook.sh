#!/usr/bin/env bash
# Installs mdBook, the tool that builds the guide in docs/, into .tools/bin
# (ignored by git), unless the pinned version is already there or in PATH.
# mdBook is not packaged in Debian bookworm, so it comes from crates.io with
# cargo, built once (a few minutes) and reused after that. Prints the path of
# the mdbook to use on its last line; prints nothing on stdout and says why
# on stderr when cargo itself is missing (the book steps are then skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
version=0.5.4
have() { [ -x "$1" ] && "$1" --version 2>/dev/null | grep -qx "mdbook v$version"; }
for candidate in .tools/bin/mdbook "$(command -v mdbook || true)" "$HOME/.cargo/bin/mdbook"; do
    if [ -n "$candidate" ] && have "$candidate"; then
        echo "$candidate"
        exit 0
    fi
done
if ! command -v cargo >/dev/null; then
    echo "note: cargo is missing, so mdbook $version cannot be installed: the book in docs/ is not built or checked" >&2
    exit 0
fi
echo "installing mdbook $version into .tools/ (once; it is reused after that)" >&2
# Only the HTML renderer with search: serve and watch are for writing, not CI.
cargo install mdbook --version "$version" --locked --root .tools \
    --no-default-features --features search >&2
echo .tools/bin/mdbook
