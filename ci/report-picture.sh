#!/usr/bin/env bash
# Remakes docs/src/report-page.png, the picture of `scenario run --report`
# in the README and the guide, whenever the page changes: a shipped fault
# run without its expect_failure line (so that it fails as a network with
# that fault would), and its report as headless Chromium shows it at
# laptop width.
# Needs what any run needs (root or user namespaces) and chromium.
#   bash ci/report-picture.sh [scenarios/faults/NN-name.rhai]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
fault=${1:-scenarios/faults/06-dnat-other-container.rhai}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Beside the shipped libraries, as the fault imports them.
mkdir -p "$work/scenarios/faults"
ln -s "$root/scenarios/lib" "$work/scenarios/lib"
grep -v '^expect_failure(' "$fault" >"$work/scenarios/faults/$(basename "$fault")"
cargo build --release -q
bin="${CARGO_TARGET_DIR:-$root/target}/release/scenario"
status=0
(cd "$work" && "$bin" run -q --report report scenarios/faults) || status=$?
if [ "$status" != 1 ] || [ ! -f "$work/report/index.html" ]; then
    echo "report-picture.sh: $fault did not fail as expected (exit $status)" >&2
    exit 1
fi
# A profile of its own, and a time limit: nothing of the machine's browser
# is touched, and a hung browser does not hang the script.
timeout 60 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$work/profile" --window-size=1280,1800 \
    --screenshot="$root/docs/src/report-page.png" "file://$work/report/index.html" 2>/dev/null
echo "wrote docs/src/report-page.png"
