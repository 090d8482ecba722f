#!/usr/bin/env bash
# Runs each fuzz target for a bounded time (FUZZ_SECONDS, default 60) in
# build-asan/ (scripts/sanitize.sh builds it), seeded from
# fuzz/corpus/<target>/ and, for the config reader, every config in
# configs/. Fails on any crash, leak, timeout or memory blow-up; the
# offending input is kept in build-asan/fuzz/findings/<target>/. Add it to
# fuzz/corpus/<target>/ once fixed: the corpus runs as a ctest test.
#   scripts/fuzz.sh [target ...]     (default: every target)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_config fuzz_idx fuzz_cifar)
source scripts/sanitizer-env.sh
# libFuzzer reports leaks itself, per input.
export ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=1"
failed=()
for target in "${targets[@]}"; do
  work="build-asan/fuzz/work/$target"
  findings="build-asan/fuzz/findings/$target"
  mkdir -p "$work" "$findings"
  seeds=("fuzz/corpus/$target")
  [ "$target" = fuzz_config ] && seeds+=(configs)
  echo "== $target: ${seconds} s"
  if ! CIGL_PLUGIN_PATH= "build-asan/fuzz/$target" "$work" "${seeds[@]}" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=16384 -print_final_stats=1 \
      -artifact_prefix="$findings/" 2>"build-asan/fuzz/$target.log"; then
    tail -n 40 "build-asan/fuzz/$target.log"
    failed+=("$target")
  fi
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|Done)" \
    "build-asan/fuzz/$target.log" || true
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in build-asan/fuzz/findings/)"
  exit 1
fi
echo "fuzz: ${targets[*]} ran ${seconds} s each without a finding"
