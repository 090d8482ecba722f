#!/usr/bin/env bash
# Configures (once) and builds cigl; extra arguments are passed to
# `cmake --build` (e.g. --target cigl-run).
#   CIGL_TORCH=debian|pip   the LibTorch to build against (as install-deps.sh)
#   CIGL_BUILD_DIR          the build folder (default build)
#   CIGL_VENV               the pip source's virtual environment (default .venv)
# A build folder configured for the other LibTorch is configured afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${CIGL_BUILD_DIR:-build}
torch_source=${CIGL_TORCH:-debian}
# ccache must tolerate the precompiled header's defines and timestamps.
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}

args=(-G Ninja -DCMAKE_BUILD_TYPE=Release)
case "$torch_source" in
  debian) prefix="" ;;
  pip)
    venv=${CIGL_VENV:-.venv}
    [ -x "$venv/bin/python" ] || {
      echo "build.sh: no $venv/bin/python; run CIGL_TORCH=pip scripts/install-deps.sh first" >&2
      exit 2
    }
    prefix=$("$venv/bin/python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
    args+=(-DCMAKE_PREFIX_PATH="$prefix")
    ;;
  *) echo "build.sh: CIGL_TORCH is '$torch_source'; use debian or pip" >&2; exit 2 ;;
esac

if [ -f "$build/CMakeCache.txt" ]; then
  configured=$(sed -n 's/^CIGL_TORCH_PREFIX_PATH:STRING=//p' "$build/CMakeCache.txt")
  if [ "$configured" != "$prefix" ]; then
    echo "build.sh: $build was configured for another LibTorch (${configured:-debian}); configuring afresh"
    rm -rf "$build/CMakeCache.txt" "$build/CMakeFiles"
  fi
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" "${args[@]}" -DCIGL_TORCH_PREFIX_PATH="$prefix"
fi
cmake --build "$build" "$@"
