#!/usr/bin/env bash
# Installs the Debian packages cigl builds and runs with, only if missing.
#   scripts/install-deps.sh            what build/ needs
#   scripts/install-deps.sh sanitize   also clang-14, its sanitizer and
#                                      libFuzzer runtimes and llvm-symbolizer
set -euo pipefail
packages=(
  g++ cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-pthread
  libboost-dev libboost-program-options-dev
  libtomlplusplus-dev nlohmann-json3-dev libgtest-dev zlib1g-dev libsqlite3-dev
  dataset-fashion-mnist
)
if [ "${1:-}" = sanitize ]; then
  packages+=(clang-14 libclang-rt-14-dev llvm-14)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
