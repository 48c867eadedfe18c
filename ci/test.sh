#!/usr/bin/env bash
# The whole test suite, as root: a privileged container or a root CI machine.
# .ci/run, the GitHub workflow and the GitLab job all call this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-packages.sh
cargo test
