#!/usr/bin/env bash
# One command on a CUDA machine: builds cigl against that machine's PyTorch,
# runs the CUDA tests (ctest -L cuda), then measures training throughput
# of ResNet-50 (CIFAR) and WRN-22-2 at batch 128, dense, RigL and CigL, in
# float32 and bfloat16, with cigl and with a plain PyTorch eager loop
# (bench/gpu_eager.py), and prints the ratios.
#
#   bench/gpu.sh [build] [test] [bench]     (default: all three, in order)
#
# Each phase can run on its own (the build folder is kept), e.g. in two
# calls of at most 10 minutes each: `bench/gpu.sh build`, then
# `bench/gpu.sh test bench`.
#
# Needs on that machine: python3 with a CUDA torch, nvcc, CMake, ninja, a
# C++17 compiler and libsqlite3; nothing from the network. The header-only
# dependencies and GoogleTest's sources come in CIGL_GPU_DEPS, made beforehand
# on a machine with cigl's packages by bench/gpu-deps.sh. Environment:
#   CIGL_GPU_DEPS    the dependencies folder (default .cache/gpu-deps)
#   CIGL_GPU_BUILD   build folder (default build-gpu)
#   CIGL_GPU_STEPS   timed steps per run (default 100 after 10 warm-up: the
#                    window holds one topology update, step 100, as RigL and
#                    CigL do every 100 steps)
set -euo pipefail
cd "$(dirname "$0")/.."
phases=("$@")
((${#phases[@]})) || phases=(build test bench)
for phase in "${phases[@]}"; do
  case "$phase" in build | test | bench) ;; *)
    echo "gpu.sh: unknown phase '$phase' (build, test, bench)" >&2; exit 2 ;;
  esac
done
wants() { [[ " ${phases[*]} " == *" $1 "* ]]; }
deps=$(realpath "${CIGL_GPU_DEPS:-.cache/gpu-deps}")
build=${CIGL_GPU_BUILD:-build-gpu}
steps=${CIGL_GPU_STEPS:-100}
python=${PYTHON:-python3}
log=$build/gpu-logs
started=$SECONDS

[ -d "$deps/include/boost/dll" ] && [ -f "$deps/googletest/CMakeLists.txt" ] || {
  echo "gpu.sh: $deps does not hold the dependencies; make it with bench/gpu-deps.sh" >&2
  exit 2
}
torch_prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
"$python" - <<'PY'
import torch
print("torch", torch.__version__, "CUDA", torch.version.cuda)
if not torch.cuda.is_available():
    raise SystemExit("gpu.sh: torch sees no CUDA device")
for i in range(torch.cuda.device_count()):
    print(f"cuda:{i}", torch.cuda.get_device_name(i))
PY

mkdir -p "$log"
if wants build; then
  # libsqlite3 without its package: the one Python's sqlite3 module uses.
  sqlite_lib=$("$python" -c 'import _sqlite3; print(_sqlite3.__file__)' 2>/dev/null |
    xargs -r ldd 2>/dev/null | awk '/libsqlite3/ {print $3; exit}')
  for candidate in "$sqlite_lib" /usr/lib/x86_64-linux-gnu/libsqlite3.so.0 /usr/lib64/libsqlite3.so.0; do
    if [ -n "$candidate" ] && [ -f "$candidate" ]; then sqlite_lib=$candidate; break; fi
  done
  [ -f "$sqlite_lib" ] || { echo "gpu.sh: no libsqlite3.so.0 found" >&2; exit 2; }

  nvcc_args=()
  if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
    nvcc_args=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
  fi
  echo "== configure ($build)"
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$torch_prefix" -DCIGL_TORCH_PYTHON="$(command -v "$python")" \
    -DCIGL_BUILD_APPS=OFF -DCIGL_HEADER_DEPS_DIR="$deps" \
    -DCIGL_GTEST_SOURCE_DIR="$deps/googletest" \
    -DSQLite3_INCLUDE_DIR="$deps/include" -DSQLite3_LIBRARY="$sqlite_lib" \
    ${nvcc_args[@]+"${nvcc_args[@]}"} >"$log/configure.txt" 2>&1 || {
    tail -40 "$log/configure.txt"
    exit 1
  }
  echo "== build ($(nproc) jobs)"
  cmake --build "$build" -j "$(nproc)" --target cigl_plugins cigl-bench-gpu \
    test_cuda test_random test_device >"$log/build.txt" 2>&1 || {
    grep -m 20 -A 5 'error' "$log/build.txt" || tail -40 "$log/build.txt"
    exit 1
  }
  echo "   built in $((SECONDS - started)) s"
fi

status=0
if wants test; then
  echo "== ctest -L cuda (and the sampler and device unit tests)"
  (cd "$build" && ctest -L cuda --output-on-failure && ctest -R 'BernoulliSampler|MakeGenerator|Device|Precision|ChannelsLast' --output-on-failure) || status=1
fi
wants bench || { echo "total $((SECONDS - started)) s"; exit $status; }

results=$log/results.txt
: >"$results"
for model in cifar_resnet wide_resnet; do
  echo "== $model: cigl"
  "$build/bin/cigl-bench-gpu" --model "$model" --steps "$steps" | tee -a "$results" |
    grep -v '^RESULT' || status=1
  echo "== $model: PyTorch eager loop"
  "$python" bench/gpu_eager.py --model "$model" --steps "$steps" | tee -a "$results" ||
    status=1
done

echo
echo "== images/s and step time ratios (batch 128)"
awk '$1 == "RESULT" { ms[$2, $3, $4, $5] = $7; ips[$2, $3, $4, $5] = $6
                      key = $3 " " $4; if (!(key in seen)) { seen[key] = 1; order[n++] = key }
                      if (!($5 in m)) { m[$5] = 1; methods[k++] = $5 } }
  END {
    printf "%-13s %-5s %-6s %11s %11s %14s %14s %15s\n", "model", "prec", "method",
      "cigl img/s", "eager img/s", "cigl vs dense", "eager vs dense", "cigl vs eager"
    for (i = 0; i < n; i++) {
      split(order[i], p, " ")
      for (j = 0; j < k; j++) {
        me = methods[j]; c = ms["cigl", p[1], p[2], me]; e = ms["eager", p[1], p[2], me]
        cd = ms["cigl", p[1], p[2], "dense"]; ed = ms["eager", p[1], p[2], "dense"]
        printf "%-13s %-5s %-6s %11s %11s %13s %14s %14s\n", p[1], p[2], me,
          ips["cigl", p[1], p[2], me], ips["eager", p[1], p[2], me],
          (c && cd) ? sprintf("%.3fx", c / cd) : "-", (e && ed) ? sprintf("%.3fx", e / ed) : "-",
          (c && e) ? sprintf("%.3fx", c / e) : "-"
      }
    }
  }' "$results"
echo "(time ratios: below 1 is faster; 'cigl vs eager' is cigl's step time over PyTorch's)"
echo "total $((SECONDS - started)) s; logs in $log"
exit $status
