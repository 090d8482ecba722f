#!/usr/bin/env bash
# README command two: install what is missing, build everything, run the
# whole test suite. Arguments go to ctest, e.g. the quick development
# subset:   scripts/test.sh -L unit
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --tests
scripts/build.sh
cd build && ctest --output-on-failure -j2 "$@"
