#!/usr/bin/env bash
# Installs what cigl builds and runs with, only what is missing.
#   scripts/install-deps.sh [--tests] [--sanitize] [--torch debian|pip]
# LibTorch comes from one of two sources (--torch, or CIGL_TORCH):
#   debian  Debian's libtorch-dev (LibTorch 1.13, CPU), system-wide;
#   pip     the latest `torch` wheel from PyPI (LibTorch 2.x, CUDA-enabled,
#           runs on the CPU without a GPU) in the virtual environment
#           CIGL_VENV (default .venv in the repository, ignored by git).
# --tests adds what the test suite needs beyond that: a Python torch of the
# same source, to check that a run's model.pt loads in plain PyTorch.
# --sanitize adds clang-14, its sanitizer and libFuzzer runtimes and
# llvm-symbolizer (scripts/sanitize.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
tests=0
sanitize=0
torch_source=${CIGL_TORCH:-debian}
while (($#)); do
  case "$1" in
    --tests) tests=1 ;;
    --sanitize) sanitize=1 ;;
    --torch) torch_source=${2:?--torch needs debian or pip}; shift ;;
    --torch=*) torch_source=${1#--torch=} ;;
    *) echo "install-deps.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
case "$torch_source" in
  debian | pip) ;;
  *) echo "install-deps.sh: CIGL_TORCH/--torch is '$torch_source'; use debian or pip" >&2
     exit 2 ;;
esac

packages=(
  g++ cmake ninja-build ccache pkg-config
  libboost-dev libboost-program-options-dev
  libtomlplusplus-dev nlohmann-json3-dev libgtest-dev zlib1g-dev libsqlite3-dev
  dataset-fashion-mnist
)
((sanitize)) && packages+=(clang-14 libclang-rt-14-dev llvm-14)
if [ "$torch_source" = debian ]; then
  packages+=(libtorch-dev libopenblas0-pthread libgloo-dev)
  ((tests)) && packages+=(python3-torch)
else
  python=${CIGL_PYTHON:-python3}
  # Debian's python3 makes virtual environments only with python3-venv.
  if ! command -v "$python" >/dev/null || ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
    packages+=(python3 python3-venv)
  fi
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

if [ "$torch_source" = pip ]; then
  venv=${CIGL_VENV:-.venv}
  if [ ! -x "$venv/bin/python" ]; then
    echo "creating the virtual environment $venv"
    "${CIGL_PYTHON:-python3}" -m venv "$venv"
  fi
  if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
    # About 3.5 GB with the CUDA libraries it depends on (docs/torch.md).
    echo "installing the torch wheel into $venv (a few minutes)"
    "$venv/bin/pip" install -q --disable-pip-version-check "torch${CIGL_TORCH_VERSION:+==$CIGL_TORCH_VERSION}"
  fi
  "$venv/bin/python" -c 'import torch; print("torch", torch.__version__, "in", torch.utils.cmake_prefix_path)'
fi
