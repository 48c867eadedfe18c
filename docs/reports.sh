#!/usr/bin/env bash
# Writes the failure reports the book and the README show, from real runs:
# each fault example runs with its expect_failure(…) statement blanked out
# (same file, same line numbers; restored afterwards), and what
# `scenario run` prints goes to docs/reports/NAME.txt. Needs what
# `scenario run` needs (root, or user namespaces). The reports hold MAC
# addresses and timings, so they are refreshed by hand, not checked by a
# test; the examples themselves are (their expect_failure names the
# diagnosis), by `cargo test`.
#
#   docs/reports.sh     SCENARIO names the binary (default: a debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SCENARIO:-}" ]; then
    cargo build --quiet
    SCENARIO="${CARGO_TARGET_DIR:-target}/debug/scenario"
fi
mkdir -p docs/reports
for example in docs/examples/tutorial/fault.rhai docs/examples/forward-out-only.rhai; do
    name=$(basename "$example" .rhai)
    backup=$(mktemp)
    cp "$example" "$backup"
    trap 'cp "$backup" "$example"; rm -f "$backup"' EXIT
    # Blank the lines from `expect_failure(` to the line that closes it.
    awk '/^expect_failure\(/ { skip = 1 } { if (skip) { print ""; if ($0 ~ /\);[[:space:]]*$/) skip = 0 } else print }' \
        "$backup" > "$example"
    NO_COLOR=1 "$SCENARIO" run "$example" > "docs/reports/$name.txt" 2>/dev/null || true
    cp "$backup" "$example"
    rm -f "$backup"
    trap - EXIT
    grep -q '^FAIL ' "docs/reports/$name.txt" || {
        echo "error: $example did not fail without its expect_failure" >&2
        exit 1
    }
    echo "wrote docs/reports/$name.txt"
done
