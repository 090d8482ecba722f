#!/usr/bin/env bash
# The unit tests and the fuzz corpora under AddressSanitizer and UBSan:
# configures build-asan/ with clang-14 once (the whole tree: core, plugins,
# fixtures, tests and fuzz targets; the plugin fingerprint names the
# compiler), builds it and runs `ctest -L 'unit|fuzz'`. LibTorch itself is
# not instrumented. Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --sanitize
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
if [ ! -f build-asan/CMakeCache.txt ]; then
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_COMPILER=clang++-14 -DCIGL_SANITIZE=ON -DCIGL_FUZZ=ON \
    -DCIGL_BUILD_BENCH=OFF
fi
start=$SECONDS
cmake --build build-asan
echo "sanitize: build took $((SECONDS - start)) s"
source scripts/sanitizer-env.sh
start=$SECONDS
(cd build-asan && ctest -L 'unit|fuzz' --output-on-failure -j2 "$@")
echo "sanitize: tests took $((SECONDS - start)) s"
