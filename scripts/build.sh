#!/usr/bin/env bash
# Configures (once) and builds cigl in build/; extra arguments are passed to
# `cmake --build` (e.g. --target cigl-run).
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache must tolerate the precompiled header's defines and timestamps.
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build build "$@"
