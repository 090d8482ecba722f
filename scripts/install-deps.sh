#!/usr/bin/env bash
# Installs the Debian packages cigl builds and runs with, only if missing.
#   scripts/install-deps.sh [--tests] [--sanitize]
# --tests adds what the test suite needs beyond that: Python's torch, to
# check that a run's model.pt loads in plain PyTorch. --sanitize adds
# clang-14, its sanitizer and libFuzzer runtimes and llvm-symbolizer.
set -euo pipefail
packages=(
  g++ cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-pthread
  libboost-dev libboost-program-options-dev
  libtomlplusplus-dev nlohmann-json3-dev libgtest-dev zlib1g-dev libsqlite3-dev
  dataset-fashion-mnist
)
for option in "$@"; do
  case "$option" in
    --tests) packages+=(python3-torch) ;;
    --sanitize) packages+=(clang-14 libclang-rt-14-dev llvm-14) ;;
    *) echo "install-deps.sh: unknown option $option" >&2; exit 2 ;;
  esac
done
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
