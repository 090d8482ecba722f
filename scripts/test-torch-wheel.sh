#!/usr/bin/env bash
# CI's second LibTorch: the latest `torch` wheel from PyPI (LibTorch 2.x,
# CUDA-enabled; no GPU needed) in .venv, cigl built against it in
# build-pip, and the tests of what depends on the LibTorch version: the
# FLOPs observer, serialization (checkpoints, model.pt read by the wheel's
# own Python torch), plugin loading and its fingerprint, the installed SDK
# with the out-of-tree template, every method, CigL's random mask, the
# trainer's devices and precisions, and the CUDA tests (compiled and linked against the CUDA
# build; they skip without a GPU). The full suite runs against the default
# LibTorch (scripts/test.sh).
#   scripts/test-torch-wheel.sh            the subset
#   CIGL_WHEEL_TESTS=all scripts/test-torch-wheel.sh   every test
# Prints the time of each step.
set -euo pipefail
cd "$(dirname "$0")/.."
export CIGL_TORCH=pip CIGL_BUILD_DIR=${CIGL_BUILD_DIR:-build-pip}
tests=(test_costs test_checkpoint test_model_file test_registry test_methods
  test_cigl test_random test_device test_cuda)
t0=$SECONDS
scripts/install-deps.sh --tests
t1=$SECONDS
scripts/build.sh --target cigl-run cigl-report cigl_plugins cigl_fixtures
t2=$SECONDS
if [ "${CIGL_WHEEL_TESTS:-}" = all ]; then
  scripts/build.sh
else
  scripts/build.sh --target "${tests[@]}"
fi
t3=$SECONDS
cd "$CIGL_BUILD_DIR"
if [ "${CIGL_WHEEL_TESTS:-}" = all ]; then
  ctest --output-on-failure -j2
else
  # A unit test is named after its file, and is registered whether or not
  # it was built: select the built ones by name. The other files run one
  # ctest test per GoogleTest case, registered only when built (the CUDA
  # tests, every method's, model.pt's).
  built=$(IFS='|'; echo "${tests[*]}")
  ctest --output-on-failure -j2 -L unit -R "^($built)\$"
  ctest --output-on-failure -j2 -L 'cuda|e2e|sdk' \
    -R '^Cuda\.|^Methods/|^NeedsDenseGradient|^Snip\.|^Gmp\.|^ModelFile|sdk_template_out_of_tree'
fi
t4=$SECONDS
echo "torch wheel: deps and venv $((t1 - t0)) s, core, apps and plugins" \
  "$((t2 - t1)) s, tests built $((t3 - t2)) s, tests run $((t4 - t3)) s," \
  "total $((t4 - t0)) s"
