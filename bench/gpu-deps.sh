#!/usr/bin/env bash
# Prepares, on a machine with cigl's Debian packages installed, the folder
# bench/gpu.sh builds with on a GPU machine that has PyTorch, nvcc, CMake
# and ninja but neither the packages nor a network:
#   <dir>/include/     Boost.DLL's headers (only those it includes), TOML++
#                      (used header-only), nlohmann-json, sqlite3.h
#   <dir>/googletest/  GoogleTest's sources (Debian's googletest package)
# Boost.program_options is compiled and not carried: bench/gpu.sh builds
# without cigl-run and cigl-report (CIGL_BUILD_APPS=OFF).
#   bench/gpu-deps.sh [DIR]      (default .cache/gpu-deps, ignored by git)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.cache/gpu-deps}
for f in /usr/include/boost/dll.hpp /usr/include/toml++/toml.h \
  /usr/include/nlohmann/json.hpp /usr/include/sqlite3.h /usr/src/googletest/CMakeLists.txt; do
  [ -e "$f" ] || {
    echo "gpu-deps.sh: $f is missing; run scripts/install-deps.sh first" >&2
    exit 2
  }
done
rm -rf "$out"
mkdir -p "$out/include"

# Every Boost header the core's Boost.DLL includes pull in, as the compiler
# sees them (the whole of Boost is 180 MB; this is a few MB).
probe=$(mktemp --suffix=.cpp)
trap 'rm -f "$probe"' EXIT
printf '#include <boost/dll/runtime_symbol_info.hpp>\n#include <boost/dll/shared_library.hpp>\n' >"$probe"
g++ -std=c++17 -DBOOST_DLL_USE_STD_FS -M "$probe" |
  tr ' \\' '\n\n' | grep '^/usr/include/boost/' | sort -u |
  while read -r header; do
    mkdir -p "$out/include/$(dirname "${header#/usr/include/}")"
    cp "$header" "$out/include/${header#/usr/include/}"
  done
cp -r /usr/include/toml++ /usr/include/nlohmann "$out/include/"
cp /usr/include/sqlite3.h /usr/include/sqlite3ext.h "$out/include/"
cp -r /usr/src/googletest "$out/googletest"
echo "$out: $(du -sh "$out" | cut -f1) ($(find "$out" -type f | wc -l) files)"
