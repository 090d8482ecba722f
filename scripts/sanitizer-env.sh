# Sourced by scripts/sanitize.sh and scripts/fuzz.sh: how the sanitizers
# run against an uninstrumented LibTorch (docs/testing.md).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# detect_container_overflow=0: std::vector annotations are only kept by
# instrumented code; LibTorch (not instrumented) resizing a vector our
# code also touches would be reported falsely.
# allocator_may_return_null=1: an impossible allocation fails as it does
# without ASan (LibTorch then throws, which the tests expect), instead of
# ASan aborting the process.
export ASAN_OPTIONS="detect_leaks=1:detect_container_overflow=0:allocator_may_return_null=1:abort_on_error=1:halt_on_error=1:strict_string_checks=1"
# LibTorch's and OpenMP's own allocations that live until exit.
export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
if command -v llvm-symbolizer-14 >/dev/null; then
  export ASAN_SYMBOLIZER_PATH="$(command -v llvm-symbolizer-14)"
fi
