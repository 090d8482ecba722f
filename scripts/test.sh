#!/usr/bin/env bash
# README command two: install what is missing, build everything, run the
# whole test suite. CIGL_TORCH=debian|pip chooses the LibTorch
# (install-deps.sh), CIGL_BUILD_DIR the build folder (default build).
# Arguments go to ctest, e.g. the quick development subset:
#   scripts/test.sh -L unit
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --tests
scripts/build.sh
cd "${CIGL_BUILD_DIR:-build}" && ctest --output-on-failure -j2 "$@"
