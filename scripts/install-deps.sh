#!/usr/bin/env bash
# Installs the Debian packages cigl builds and runs with, only if missing.
#   scripts/install-deps.sh [--tests]
# --tests adds what the test suite needs beyond that: Python's torch, to
# check that a run's model.pt loads in plain PyTorch.
set -euo pipefail
packages=(
  g++ cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-pthread libgloo-dev
  libboost-dev libboost-program-options-dev
  libtomlplusplus-dev nlohmann-json3-dev libgtest-dev zlib1g-dev libsqlite3-dev
  dataset-fashion-mnist
)
if [ "${1:-}" = "--tests" ]; then
  packages+=(python3-torch)
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
