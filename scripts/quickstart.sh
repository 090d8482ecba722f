#!/usr/bin/env bash
# README command one: install what is missing, build cigl-run and the
# bundled plugins, train configs/quickstart.toml (results in runs/quickstart).
# CIGL_TORCH=debian|pip chooses the LibTorch (install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh --target cigl-run cigl_plugins
# --overwrite: running the quick start again trains it again.
"${CIGL_BUILD_DIR:-build}"/bin/cigl-run --config configs/quickstart.toml --overwrite "$@"
